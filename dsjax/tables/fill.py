"""The fill table (log 04/26/2018): the finish-me-with-beats model against its baselines.

  python -m launch.ablate --table=fill [--seeds=3] [--steps=N] [--quick]

Two runs, each with its seeds side by side in one vmapped program (``config.train.seeds``), in
``OUT/fill/seed_S`` and ``OUT/lm/seed_S``: ``configs/fill.py`` (the fill model) and
``configs/fill.py:lm`` (the baseline language model), both at ``train.num_steps`` (``--steps``),
or their ``tiny`` variants with ``--quick``. A finished run leaves ``OUT/RUN/table_record.json``
and is read back, not retrained.

Every row is measured on the same held-out gaps (``valid``: ``data.eval_gaps_per_piece`` fixed
random gaps of each held-out piece, :func:`dsjax.tasks.fill.eval_gaps`), at the runs' last
evaluation, mean ± std over seeds:

* **fill, rhythm kept**: the fill model; greedy pitches at the gap's attack steps, the rhythm
  forced (so ``rhythm kept`` is 1 by construction);
* **fill, free**: the same model choosing any token at every step (the rhythm only conditions it);
* **repeat previous span**: the gap's length of melody before the gap, played again;
* **LM continuation**: an LSTM language model over the same melody tokens (same data, steps and
  batch; trained on next-token prediction over whole windows), continuing the context greedily
  without knowing the gap's rhythm;
* **LM, rhythm kept**: the same LM's greedy pitch at each of the gap's attack steps, its silences
  and held notes forced.

Columns: NLL (teacher-forced cross entropy of the gap's tokens, nats per step: the fill model
knows the rhythm, the LM does not), pitch accuracy (the original's attack steps whose sounding
pitch is the original's), note precision / recall / F1 (notes matched on onset step and pitch),
and the rhythm asked for kept (attack steps where a note starts, silent steps that stay silent).
"""

from __future__ import annotations

import json
import os
import time

import numpy as np

from configs import load_config
from dsjax.tables import mean_std

QUICK_STEPS = 8
RUNS = ('fill', 'lm')
METRICS = ('nll', 'gaps', 'attacks')
SHARES = ('pitch_acc', 'note_precision', 'note_recall', 'note_f1', 'attack_kept',
          'silence_kept', 'rhythm_kept')
# (row name, run, metric prefix, what the row's method sees of the gap)
ROWS = (('fill, rhythm kept', 'fill', '', 'rhythm (forced)'),
        ('fill, free', 'fill', 'free_', 'rhythm (as input)'),
        ('repeat previous span', 'fill', 'repeat_', 'its length'),
        ('LM continuation', 'lm', 'free_', 'nothing'),
        ('LM, rhythm kept', 'lm', '', 'rhythm (forced)'))


def run_config(name: str, seeds: int, quick: bool, steps: int | None):
  spec = 'fill' + (':lm' if name == 'lm' else '')
  if quick:
    spec += (',' if name == 'lm' else ':') + 'tiny'
  c = load_config(spec)
  c.seed = 0
  c.train.seeds = int(seeds)
  if steps is not None:
    c.train.num_steps = int(steps)
  elif quick:
    c.train.num_steps = QUICK_STEPS
  n = int(c.train.num_steps)
  c.train.eval_every = n
  c.train.checkpoint_every = n
  c.train.select_by = ''
  c.train.quiet = True
  return c


def _last_eval(workdir: str) -> dict:
  last = None
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    for line in f:
      r = json.loads(line)
      if r.get('split') == 'eval':
        last = r
  if last is None:
    raise RuntimeError(f'{workdir}: no evaluation record in metrics.jsonl')
  return last


def train_run(out_dir: str, name: str, seeds: int, quick: bool, steps: int | None) -> dict:
  """Trains (or reads back) one run's seeds; returns its record (every seed's last evaluation on
  ``valid``, the settings, the wall time)."""
  from dsjax.train.loop import train_and_evaluate
  config = run_config(name, seeds, quick, steps)
  workdir = os.path.join(out_dir, name)
  path = os.path.join(workdir, 'table_record.json')
  now = json.loads(json.dumps(config.to_dict(), default=str))
  if os.path.exists(path):
    with open(path) as f:
      record = json.load(f)
    if record.get('config') != now:
      changed = sorted(k for k in set(now) | set(record.get('config') or {})
                       if now.get(k) != (record.get('config') or {}).get(k))
      raise ValueError(f'{workdir}: finished with other settings (config sections that differ: '
                       f'{", ".join(changed)}); give another --out for this table')
    return record
  t0 = time.time()
  train_and_evaluate(config, workdir)
  keys = list(METRICS) + [p + k for p in ('', 'free_', 'repeat_') for k in SHARES]
  record = {'name': name, 'seeds': int(seeds), 'steps': int(config.train.num_steps),
            'seconds': time.time() - t0, 'metrics': {k: [] for k in keys}, 'config': now}
  for s in range(int(seeds)):
    ev = _last_eval(os.path.join(workdir, f'seed_{s}'))
    for k in keys:
      record['metrics'][k].append(float(ev[f'valid/{k}']))
  with open(path, 'w') as f:
    json.dump(record, f, indent=1)
  return record


def format_table(records: dict, seeds: int, quick: bool) -> str:
  c = records['fill']['config']
  d, m = c['data'], c['model']
  gaps = records['fill']['metrics']['gaps'][0]
  attacks = records['fill']['metrics']['attacks'][0]
  lines = [
      f'# Finish me with beats (log 04/26/18): fill vs baselines, {seeds} seed(s), '
      f'{records["fill"]["steps"]} steps{" (quick: tiny shapes)" if quick else ""}, '
      'mean ± std over seeds',
      '',
      f'{d["source"]} melodies (max {d["max_pieces"]} pieces) on a {d["roll"]["step"]:g}-beat '
      f'grid; context {d["context_beats"]:g} beats, gaps {d["gap_beats"][0]:g}-'
      f'{d["gap_beats"][1]:g} beats; {int(gaps)} held-out gaps (`valid`, '
      f'{d["eval_gaps_per_piece"]} per piece) with {int(attacks)} attack steps. Fill model: '
      f'context LSTM {tuple(m["context_hidden"])} -> {m["context_dim"]}-d context vector, '
      f'bidirectional rhythm LSTM {m["structure_hidden"]} -> {m["structure_dim"]}-d structure '
      f'vector, LSTM decoder {tuple(m["decoder_hidden"])}; the LM: an LSTM '
      f'{tuple(m["decoder_hidden"])} over the same tokens, same data, steps and batch '
      f'({d["batch_size"]}). Greedy decoding everywhere.',
      '',
      '| method | sees of the gap | NLL | pitch acc | note P | note R | note F1 | attacks kept '
      '| silences kept | rhythm kept |',
      '|---|---|---|---|---|---|---|---|---|---|',
  ]
  for row, run, prefix, sees in ROWS:
    r = records.get(run)
    if r is None:
      continue
    mm = r['metrics']
    nll = mean_std(mm['nll']) if prefix != 'repeat_' else '-'
    cells = [mean_std(mm[prefix + k]) for k in SHARES]
    lines.append(f'| {row} | {sees} | {nll} | ' + ' | '.join(cells) + ' |')
  lines += ['', 'Train seconds: ' + ', '.join(f'{k} {r["seconds"]:.0f}'
                                              for k, r in records.items())]
  return '\n'.join(lines) + '\n'


def run(out_dir: str, *, seeds: int = 3, quick: bool = False, steps: int | None = None) -> str:
  """Trains the fill model and the LM (all seeds in one program each), writes ``table.md`` and
  ``raw.json``, returns the table."""
  if int(seeds) < 1:
    raise ValueError(f'seeds={seeds}: need at least one')
  os.makedirs(out_dir, exist_ok=True)
  records = {}
  for name in RUNS:
    records[name] = train_run(out_dir, name, seeds, quick, steps)
  with open(os.path.join(out_dir, 'raw.json'), 'w') as f:
    json.dump({'seeds': seeds, 'quick': quick, 'runs': records}, f, indent=1)
  table = format_table(records, seeds, quick)
  with open(os.path.join(out_dir, 'table.md'), 'w') as f:
    f.write(table)
  return table
