"""Frame-level test NLL of each multi-hot output head on JSB Chorales and Nottingham.

  python -m launch.ablate --table=polyphonic [--seeds=3] [--steps=N] [--quick]

One row per head (``config.model.head``): the factorised sigmoid head
(``configs/pianoroll_lstm.py``), RNN-NADE (``configs/pianoroll_nade.py``) and the pitch RNN
(``configs/pianoroll_pitchrnn.py``), each trained with its dataset's default variant for every
seed; the test NLL is read at the best
validation NLL (``train.select_by``), in nats per predicted frame as ``shared/data/README.md``
defines it, next to the published figures of the same benchmark.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import numpy as np

from configs import load_config
from dsjax.tables import mean_std

# head -> (config file, label)
HEADS = {
    'sigmoid': ('pianoroll_lstm', 'LSTM + independent sigmoids'),
    'nade': ('pianoroll_nade', 'LSTM + NADE head (RNN-NADE)'),
    'pitch_rnn': ('pianoroll_pitchrnn', 'LSTM + GRU across pitch'),
}
DATASETS = {'jsb': 'JSB Chorales', 'nottingham': 'Nottingham'}
RUN_ORDER = (('jsb', 'pitch_rnn'), ('jsb', 'sigmoid'), ('nottingham', 'pitch_rnn'), ('jsb', 'nade'),
             ('nottingham', 'nade'), ('nottingham', 'sigmoid'))

# shared/data/README.md: published test frame NLL (nats per frame)
PUBLISHED = [
    ('RNN-RBM', 6.27, 2.39, 'Boulanger-Lewandowski et al. 2012, Table 1'),
    ('RNN-NADE', 5.56, 2.31, 'Boulanger-Lewandowski et al. 2012, Table 1'),
    ('LSTM (sigmoid outputs)', 8.45, 3.29, 'Bai, Kolter, Koltun 2018, Table 1'),
    ('GRU', 8.43, 3.46, 'Bai, Kolter, Koltun 2018, Table 1'),
    ('TCN', 8.10, 3.07, 'Bai, Kolter, Koltun 2018, Table 1'),
]


def _summary(values: list[float]) -> str:
  return mean_std(values, digits=2) if values else '-'


def format_table(runs: list[dict[str, Any]], seeds: int) -> str:
  """Markdown from the per-seed records (``head``, ``dataset``, ``test_nll``, ``seconds``)."""
  lines = [
      f'Frame-level test NLL (nats per predicted frame; lower is better), mean ± std over {seeds} '
      'seed(s), test NLL at the best validation NLL. Training time: mean wall-clock seconds per '
      'run.',
      '',
      '| model | JSB Chorales | Nottingham | train time JSB / Nottingham (s) | source |',
      '|---|---|---|---|---|',
  ]
  for head, (config, label) in HEADS.items():
    cells, times = [], []
    for dataset in DATASETS:
      rs = [r for r in runs if r['head'] == head and r['dataset'] == dataset]
      cell = _summary([r['test_nll'] for r in rs])
      if rs and len(rs) != seeds:
        cell += f' ({len(rs)} seed{"s" if len(rs) > 1 else ""})'
      cells.append(cell)
      times.append(f"{np.mean([r['seconds'] for r in rs]):.0f}" if rs else '-')
    lines.append(f'| {label} | {cells[0]} | {cells[1]} | {" / ".join(times)} | '
                 f'dsjax, configs/{config}.py |')
  for name, jsb, nott, source in PUBLISHED:
    lines.append(f'| {name} | {jsb:.2f} | {nott:.2f} | | {source} |')
  return '\n'.join(lines) + '\n'


def run(out_dir: str, *, seeds: int = 3, quick: bool = False, steps: int | None = None,
        heads: tuple[str, ...] = tuple(HEADS), datasets: tuple[str, ...] = tuple(DATASETS)) -> str:
  """Trains every (head, dataset, seed), writes ``table.md`` and ``raw.json``, returns the table.

  Each finished run leaves ``table_record.json`` in its folder and is read back, not retrained, so
  an interrupted table resumes where it stopped (an unfinished run resumes from its checkpoint).
  Finished runs of heads or datasets left out of this call (``heads``, ``datasets``) stay in the
  table, so a table can be extended one dataset at a time; a cell with fewer seeds than ``seeds``
  says how many it has.
  """
  from dsjax.train.loop import train_and_evaluate
  unknown = (set(heads) - set(HEADS)) | (set(datasets) - set(DATASETS))
  if unknown:
    raise ValueError(f'table polyphonic: unknown head or dataset {sorted(unknown)}')
  os.makedirs(out_dir, exist_ok=True)
  finished = {(r['head'], r['dataset'], r['seed']): r for r in _finished(out_dir, seeds)}
  runs = [r for r in finished.values() if r['head'] not in heads or r['dataset'] not in datasets]
  # seed-major, so that a table with one seed of everything exists first; in RUN_ORDER (the best
  # head and the factorised baseline first)
  order = [dh for dh in RUN_ORDER if dh[0] in datasets and dh[1] in heads]
  for seed in range(seeds):
    for dataset, head in order:
      if (head, dataset, seed) in finished:  # read back, not retrained
        runs.append(finished[head, dataset, seed])
        _write(out_dir, runs, seeds, quick)
        continue
      config = load_config(f"{HEADS[head][0]}:{dataset + ',tiny' if quick else dataset}")
      config.seed = seed
      config.sample.num = 0
      config.train.quiet = True
      if steps is not None:
        config.train.num_steps = int(steps)
        config.train.eval_every = min(int(config.train.eval_every), int(steps))
      if str(config.model.head) != head:
        raise ValueError(f'configs/{HEADS[head][0]}.py: model.head is '
                         f'{config.model.head!r}, expected {head!r}')
      workdir = os.path.join(out_dir, f'{head}-{dataset}-seed{seed}')
      t0 = time.time()
      final = train_and_evaluate(config, workdir)
      seconds = time.time() - t0
      record = {'head': head, 'dataset': dataset, 'seed': seed,
                'test_nll': float(final['best/test/frame_nll']),
                'valid_nll': float(final['best/valid/frame_nll']),
                'best_step': int(final['best/step']), 'steps': int(config.train.num_steps),
                'seconds': seconds, 'seconds_per_step': seconds / int(config.train.num_steps),
                'last_test_nll': float(final.get('test/frame_nll', float('nan'))),
                'workdir': workdir, 'config': config.to_dict()}
      runs.append(record)
      with open(os.path.join(workdir, 'table_record.json'), 'w') as f:
        json.dump(record, f, indent=1, default=str)
      print(f"{head} {dataset} seed {seed}: test NLL {record['test_nll']:.3f} "
            f"(step {record['best_step']}), {seconds:.0f} s", flush=True)
      _write(out_dir, runs, seeds, quick)
  return _write(out_dir, runs, seeds, quick)


def _finished(out_dir: str, seeds: int) -> list[dict]:
  """The records of the finished runs in ``out_dir`` (seeds below ``seeds``), in RUN_ORDER."""
  found = []
  for seed in range(seeds):
    for dataset, head in RUN_ORDER:
      path = os.path.join(out_dir, f'{head}-{dataset}-seed{seed}', 'table_record.json')
      if os.path.exists(path):
        with open(path) as f:
          found.append(json.load(f))
  return found


def _write(out_dir: str, runs: list[dict], seeds: int, quick: bool) -> str:
  """``raw.json`` and ``table.md`` of the runs so far (an interrupted table keeps its rows)."""
  with open(os.path.join(out_dir, 'raw.json'), 'w') as f:
    json.dump({'seeds': seeds, 'quick': quick, 'runs': runs}, f, indent=1, default=str)
  table = format_table(runs, seeds)
  with open(os.path.join(out_dir, 'table.md'), 'w') as f:
    f.write(table)
  return table
