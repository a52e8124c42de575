"""The refiners against their baselines, train and held-out (log 11/03 RefineNet, 11/17 velocity).

  python -m launch.ablate --table=refiners [--seeds=3] [--steps=N] [--quick]

Rows: the duration refiner (``configs/refine_duration.py``: the music21 Bach chorales, sixteenth
grid) and the velocity refiner (``configs/refine_velocity.py``: synthetic pieces whose velocities
follow a known rule, ``dsjax/data/synthetic_velocity.py``), each at :data:`STEPS` training steps
(``--steps``; ``--quick``: the tiny variants), its seeds side by side in one vmapped program
(``config.train.seeds``) in ``OUT/ATTRIBUTE/seed_S``. A finished row leaves
``OUT/ATTRIBUTE/table_record.json`` and is read back, not retrained.

Reported, mean ± std over seeds, at the last evaluation, on the train split (its first
``refine.train_eval_pieces`` pieces) and on the held-out one (``valid``), side by side, since the
log's duration RefineNet "overfitted severely": mean absolute error (durations in quarter-note
beats, velocities in MIDI units) of the refiner and of its baselines (durations: every note one
grid step; every note the piece's median duration, an oracle; every note held until the next
onset, "legato"; velocities: every note the piece's mean velocity, an oracle), and for durations
the time-IoU of each refined note with the true one (``min / max`` of the two durations from the
same onset) and the share of exact grid durations. ``OUT/example_ATTRIBUTE.png``: seed 0's picture
of a held-out opening (input, refined, true).
"""

from __future__ import annotations

import json
import os
import shutil
import time

from configs import load_config
from dsjax.tables import mean_std

ATTRIBUTES = ('duration', 'velocity')
STEPS = {'duration': 1000, 'velocity': 1000}
QUICK_STEPS = 4
BASELINES = {'duration': (('one_step', 'one step'), ('piece_median', 'piece median'),
                          ('legato', 'legato')),
             'velocity': (('piece_mean', 'piece mean'),)}
SPLITS = (('train', 'train'), ('valid', 'held-out'))


def row_config(attribute: str, seeds: int, quick: bool, steps: int | None):
  c = load_config(f'refine_{attribute}:tiny' if quick else f'refine_{attribute}')
  c.seed = 0
  c.train.seeds = int(seeds)
  c.train.num_steps = int(steps if steps is not None else
                          (QUICK_STEPS if quick else STEPS[attribute]))
  c.train.eval_every = max(1, c.train.num_steps // 4)
  c.train.checkpoint_every = max(1, c.train.num_steps // 4)
  c.train.quiet = True
  return c


def _metrics(attribute: str) -> list[str]:
  names = ['mae'] + [f'mae_{b}' for b, _ in BASELINES[attribute]]
  if attribute == 'duration':
    names += ['iou'] + [f'iou_{b}' for b, _ in BASELINES[attribute]] + ['accuracy']
  return [f'{s}/{m}' for s, _ in SPLITS for m in names] + [f'{s}/notes' for s, _ in SPLITS]


def train_row(out_dir: str, attribute: str, seeds: int, quick: bool, steps: int | None) -> dict:
  """Trains (or reads back) one refiner's seeds; returns its record."""
  from dsjax.train.loop import train_and_evaluate
  config = row_config(attribute, seeds, quick, steps)
  workdir = os.path.join(out_dir, attribute)
  record_path = os.path.join(workdir, 'table_record.json')
  settings = json.loads(config.to_json_best_effort())
  if os.path.exists(record_path):
    with open(record_path) as f:
      record = json.load(f)
    if record['config'] == settings:
      return record
    raise ValueError(f'{workdir}: finished with other settings than this table asks for; give '
                     'another --out or remove that folder')
  t0 = time.time()
  final = train_and_evaluate(config, workdir)
  names = _metrics(attribute)
  record = {'attribute': attribute, 'config': settings, 'seconds': time.time() - t0,
            'seeds': [{'seed': int(config.seed) + i, 'step': s['step'],
                       **{k: float(s[k]) for k in names}}
                      for i, s in enumerate(final['seeds'])]}
  with open(record_path, 'w') as f:
    json.dump(record, f, indent=1)
  return record


def _example(out_dir: str, attribute: str) -> str | None:
  """Copies seed 0's last eval picture to ``OUT/example_ATTRIBUTE.png``."""
  samples = os.path.join(out_dir, attribute, 'seed_0', 'samples')
  if not os.path.isdir(samples):
    return None
  steps = sorted(d for d in os.listdir(samples) if d.startswith('step_'))
  src = os.path.join(samples, steps[-1], 'refined.png') if steps else ''
  if not os.path.exists(src):
    return None
  dst = os.path.join(out_dir, f'example_{attribute}.png')
  shutil.copyfile(src, dst)
  return dst


def _cell(record: dict, key: str, digits: int) -> str:
  return mean_std([s[key] for s in record['seeds']], digits)


def markdown(records: dict) -> str:
  lines = []
  if 'duration' in records:
    r = records['duration']
    c = r['config']
    lines += [f'Duration refiner ({c["data"]["source"]}, grid {c["refine"]["grid_step"]} beats, '
              f'{r["seeds"][0]["step"]} steps, {len(r["seeds"])} seeds): mean absolute error in '
              'quarter-note beats (lower is better) and time-IoU with the true notes (higher is '
              'better)', '',
              '| split | notes | refiner MAE | one step | piece median | legato | refiner IoU | '
              'one step | piece median | legato | exact |',
              '|---|---|---|---|---|---|---|---|---|---|---|']
    for split, label in SPLITS:
      cells = [_cell(r, f'{split}/mae', 3)]
      cells += [_cell(r, f'{split}/mae_{b}', 3) for b, _ in BASELINES['duration']]
      cells += [_cell(r, f'{split}/iou', 3)]
      cells += [_cell(r, f'{split}/iou_{b}', 3) for b, _ in BASELINES['duration']]
      cells += [_cell(r, f'{split}/accuracy', 3)]
      lines.append(f'| {label} | {int(r["seeds"][0][f"{split}/notes"])} | ' + ' | '.join(cells)
                   + ' |')
    gap = [s['valid/mae'] - s['train/mae'] for s in r['seeds']]
    lines += ['', f'Held-out minus train MAE: {mean_std(gap, 3)} beats.', '']
  if 'velocity' in records:
    r = records['velocity']
    c = r['config']
    lines += [f'Velocity refiner ({c["data"]["source"]}, {r["seeds"][0]["step"]} steps, '
              f'{len(r["seeds"])} seeds): mean absolute error in MIDI velocity units', '',
              '| split | notes | refiner MAE | piece mean |', '|---|---|---|---|']
    for split, label in SPLITS:
      lines.append(f'| {label} | {int(r["seeds"][0][f"{split}/notes"])} | '
                   f'{_cell(r, f"{split}/mae", 2)} | {_cell(r, f"{split}/mae_piece_mean", 2)} |')
    if c['data']['source'] == 'synthetic':
      lines += ['', f'(The synthetic velocities carry Gaussian noise of standard deviation '
                f'{c["refine"]["synthetic_noise"]}: a perfect refiner scores about '
                f'{0.8 * float(c["refine"]["synthetic_noise"]):.1f}, the noise\'s own MAE.)']
  return '\n'.join(lines) + '\n'


def run(out_dir: str, *, seeds: int = 3, quick: bool = False, steps: int | None = None) -> str:
  os.makedirs(out_dir, exist_ok=True)
  records = {a: train_row(out_dir, a, seeds, quick, steps) for a in ATTRIBUTES}
  examples = {a: _example(out_dir, a) for a in ATTRIBUTES}
  table = markdown(records)
  with open(os.path.join(out_dir, 'table.md'), 'w') as f:
    f.write(table)
  with open(os.path.join(out_dir, 'raw.json'), 'w') as f:
    json.dump({'records': records, 'examples': examples}, f, indent=1)
  return table
