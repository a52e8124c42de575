"""Records what every config's tiny run does, to show that a refactor changed nothing.

  python bench/record_tiny.py --out=/tmp/rec_before            # train every run below, record it
  python bench/record_tiny.py --out=/tmp/rec_after --compare=/tmp/rec_before/record.json

Each run is ``python -m launch.train --config=configs/NAME.py:VARIANT`` in a fresh workdir under
``--out`` with ``train.log_every_step_to_json=True``, so every step's loss and gradient norm is
logged. ``record.json`` holds, per run, every record of ``metrics.jsonl`` except the wall-clock
rates (``steps_per_s``, ``examples_per_s``), ``best.json``, and the SHA-256 of every file the
evaluations wrote under ``samples/`` (MIDI and pictures). ``--compare`` lists every value that
differs from an earlier record (exit status 1 if any does). Runs are on one process and the default
device; numbers are comparable on the same machine with the same number of cores.

The skip-gram run is trained first and ``baseline_lstm_skipgram`` starts from its workdir.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (config file, variant); every config's tiny variant, plus the variants that take other branches.
RUNS = (
    ('skipgram', 'tiny'),
    ('baseline_lstm', 'tiny'),
    ('baseline_lstm_skipgram', 'tiny'),
    ('hist_rnn', 'tiny'),
    ('hist_rnn', 'tiny,patch_hist'),
    ('hist_rnn', 'tiny,window_stats,tau05'),
    ('pianoroll_lstm', 'tiny'),
    ('pianoroll_nade', 'tiny'),
    ('pianoroll_pitchrnn', 'tiny'),
    ('multivoice_lstm', 'tiny'),
    ('seqgan', 'tiny'),
    ('seqgan', 'tiny,lstm_d,mix'),
    ('iwgan_lstm', 'tiny'),
    ('iwgan_lstm', 'tiny,original'),
    ('iwgan_lstm', 'tiny,bilstm,tanh'),
    ('iwgan_lstm_cnn', 'tiny'),
    ('gan_lstm_cnn', 'tiny'),
    ('dcrnn', 'tiny'),
    ('dcrnn', 'tiny,song'),
    ('dcrnn', 'tiny,ab'),
    ('rnn_rnn_gan', 'tiny'),
    ('strip_deconv', 'tiny'),
)
TIMING = ('steps_per_s', 'examples_per_s')


def run_name(config: str, variant: str) -> str:
  return f'{config}-{variant.replace(",", "-")}'


def train(config: str, variant: str, workdir: str, extra: list[str]) -> None:
  cmd = [sys.executable, '-m', 'launch.train', f'--config=configs/{config}.py:{variant}',
         f'--workdir={workdir}', '--config.train.log_every_step_to_json=True',
         '--config.train.quiet=True', *extra]
  proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
  if proc.returncode:
    raise RuntimeError(f'{" ".join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}')


def record(workdir: str) -> dict:
  out = {'metrics': [], 'best': None, 'samples': {}}
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    for line in f:
      r = json.loads(line)
      out['metrics'].append({k: v for k, v in r.items() if k not in TIMING})
  best = os.path.join(workdir, 'best.json')
  if os.path.exists(best):
    with open(best) as f:
      out['best'] = json.load(f)
  samples = os.path.join(workdir, 'samples')
  for folder, _, files in sorted(os.walk(samples)):
    for name in sorted(files):
      path = os.path.join(folder, name)
      with open(path, 'rb') as f:
        out['samples'][os.path.relpath(path, samples)] = hashlib.sha256(f.read()).hexdigest()
  return out


def differences(old: dict, new: dict, prefix: str = '', new_keys: frozenset = frozenset()
                ) -> list[str]:
  """Every leaf that differs between two JSON values, as ``path: old -> new``. Keys named in
  ``new_keys`` that only the new value has are not differences (metrics a change adds)."""
  if isinstance(old, dict) and isinstance(new, dict):
    out = []
    for k in sorted(set(old) | set(new), key=str):
      if k not in old and k in new_keys:
        continue
      if k not in old:
        out.append(f'{prefix}{k}: (absent) -> {new[k]!r}')
      elif k not in new:
        out.append(f'{prefix}{k}: {old[k]!r} -> (absent)')
      else:
        out += differences(old[k], new[k], f'{prefix}{k}.', new_keys)
    return out
  if isinstance(old, list) and isinstance(new, list):
    if len(old) != len(new):
      return [f'{prefix[:-1]}: {len(old)} items -> {len(new)} items']
    return [d for i, (a, b) in enumerate(zip(old, new))
            for d in differences(a, b, f'{prefix}{i}.', new_keys)]
  return [] if old == new else [f'{prefix[:-1]}: {old!r} -> {new!r}']


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--out', required=True, help='folder for the workdirs and record.json')
  parser.add_argument('--compare', help='an earlier record.json to compare with')
  parser.add_argument('--only', default='', help='comma-separated run names (default: all)')
  parser.add_argument('--new_keys', default='',
                      help='comma-separated metric names the change adds (not differences when '
                      'only the new record has them), e.g. param_norm,update_norm')
  args = parser.parse_args()
  os.makedirs(args.out, exist_ok=True)
  only = {w for w in args.only.split(',') if w}
  result = {}
  skipgram_dir = os.path.join(os.path.abspath(args.out), run_name('skipgram', 'tiny'))
  for config, variant in RUNS:
    name = run_name(config, variant)
    if only and name not in only and not (config == 'skipgram' and any(
        n.startswith('baseline_lstm_skipgram') for n in only)):
      continue
    workdir = os.path.join(os.path.abspath(args.out), name)
    if os.path.exists(workdir):
      raise FileExistsError(f'{workdir} exists: give a fresh --out')
    extra = []
    if config == 'baseline_lstm_skipgram':
      extra = [f'--config.model.embedding_from={skipgram_dir}']
    t0 = time.time()
    train(config, variant, workdir, extra)
    result[name] = record(workdir)
    print(f'{name}: {len(result[name]["metrics"])} records, '
          f'{len(result[name]["samples"])} sample files, {time.time() - t0:.0f} s', flush=True)
  with open(os.path.join(args.out, 'record.json'), 'w') as f:
    json.dump(result, f, indent=1, sort_keys=True)
  if args.compare:
    with open(args.compare) as f:
      before = json.load(f)
    if only:
      before = {k: v for k, v in before.items() if k in result}
    diffs = differences(before, result, new_keys=frozenset(k for k in args.new_keys.split(',') if k))
    for d in diffs:
      print('DIFF', d)
    print(f'{len(diffs)} differences from {args.compare}')
    sys.exit(1 if diffs else 0)


if __name__ == '__main__':
  main()
