"""Does WGAN-GP collapse less? ``iwgan_lstm`` vs ``iwgan_lstm_cnn`` vs ``gan_lstm_cnn`` (log 11/12).

``python -m launch.ablate --table=gans [--seeds=3] [--steps=N] [--quick]``

The three GANs of the comparison are trained on the same data (bundled Nottingham windows of 64
eighth-note frames) for the same number of generator steps, at the budget of their ``cpu`` variant
(``configs/gan_base.py``'s ``cpu_comparison``: the same widths, batch, optimiser, fake pool and 800 train
steps, plus the configs' ``against_collapse`` settings: step noise held 4 steps and
straight-through binarized fakes; only the loss and the critic differ; about 17 minutes for the
three on one CPU core). After training, each run's evaluation samples 32 pieces (one code each)
and measures:

* diversity: mean pairwise distance between samples of different codes (the log's mode-collapse
  worry; real windows give the ``real`` row);
* frame changes: the fraction of consecutive frames that differ (0 for a chord held for the whole
  window, the within-sample collapse diversity does not see);
* note density (sounding keys per frame), polyphony, silent frames;
* pitch-class JS divergence (nats) of the samples against the real data's histogram.

Every run is a normal workdir (``OUT/NAME/seed_S``: TensorBoard, checkpoints, MIDI and piano-roll
pictures of samples), so a row can be listened to and looked at.
"""

from __future__ import annotations

import json
import os

import numpy as np

from configs import load_config
from dsjax.tables import mean_std

NAMES = ('iwgan_lstm', 'iwgan_lstm_cnn', 'gan_lstm_cnn')
LABELS = {'iwgan_lstm': 'iwgan_lstm (WGAN-GP, LSTM critic)',
          'iwgan_lstm_cnn': 'iwgan_lstm_cnn (WGAN-GP, CNN critic)',
          'gan_lstm_cnn': 'gan_lstm_cnn (standard loss, CNN critic)'}
COLUMNS = ('diversity', 'frame_changes', 'note_density', 'polyphony', 'silent_frames',
           'pitch_class_js')
REAL_COLUMNS = ('diversity', 'frame_changes', 'note_density', 'polyphony', 'pitch_class_js')


def _train_seconds(workdir: str) -> float:
  """The training loop's wall time, from its logged rates: the sum over train records of the
  steps since the previous record over ``steps_per_s``. Read from the run's own log, so it is the
  same for a run trained here, resumed, or trained by ``launch.train`` (in parallel) before."""
  total, last = 0.0, 0
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    for line in f:
      r = json.loads(line)
      if r.get('split') == 'train' and r.get('steps_per_s'):
        total += (int(r['step']) - last) / float(r['steps_per_s'])
        last = int(r['step'])
  return total


def _last_eval(workdir: str) -> dict:
  rec = {}
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    for line in f:
      r = json.loads(line)
      if r.get('split') == 'eval':
        rec = r
  if not rec:
    raise RuntimeError(f'{workdir}: no evaluation record in metrics.jsonl')
  return rec


def describe(c, budget: str = 'cpu') -> str:
  """The table's caption: the shared settings of the runs, read from a run's config."""
  g, gan = c.model.generator, c.gan
  return (
      f'Bundled {c.data.source} windows of {c.data.window} frames ({c.data.roll.step} beats); '
      f'the `{budget}` budget of each config: LSTM generator '
      f'{tuple(g.hidden)}, code {g.code_dim} + step noise {g.step_noise} (each draw held '
      f'{g.step_noise_hold} steps), '
      f'critic batch {c.data.batch_size // (gan.n_critic if gan.critic_batches == "split" else 1)}'
      f', pool {gan.pool_size}, Adam {c.optim.learning_rate:g} ({c.optim.b1}, {c.optim.b2}), '
      f'fakes seen by the critic: {gan.binarize}; {c.sample.num} samples per run, '
      f'threshold {c.sample.threshold}. Diversity: mean pairwise distance between samples of '
      'different codes. Frame changes: fraction of consecutive frames that differ. JS: '
      'pitch-class JS divergence in nats against the real data (the `real` row: a real sample of '
      'the same size). Train s: wall time of the training loop per run, from its logged steps/s.')


def run(out_dir: str, *, seeds: int = 3, quick: bool = False, steps: int | None = None,
        names: tuple[str, ...] = NAMES) -> str:
  """Trains ``names`` x ``seeds`` (resuming finished or interrupted runs), writes the table."""
  from dsjax.train.loop import train_and_evaluate
  os.makedirs(out_dir, exist_ok=True)
  raw, times, real = {}, {}, {}
  for name in names:
    raw[name] = {c: [] for c in COLUMNS}
    times[name] = []
    for seed in range(int(seeds)):
      c = load_config(f"{name}:{'tiny' if quick else 'cpu'}")
      c.seed = seed
      if steps is not None:
        c.train.num_steps = int(steps)
      c.train.eval_every = int(c.train.num_steps)   # one evaluation, at the end
      c.train.quiet = True
      workdir = os.path.join(out_dir, name, f'seed_{seed}')
      train_and_evaluate(c, workdir)
      times[name].append(_train_seconds(workdir))
      ev = _last_eval(workdir)
      for col in COLUMNS:
        raw[name][col].append(float(ev.get(f'eval/{col}', ev.get(col, np.nan))))
      for col in REAL_COLUMNS:
        key = f'real_{col}'
        real.setdefault(col, []).append(float(ev.get(f'eval/{key}', ev.get(key, np.nan))))
  g_steps = int(c.train.num_steps)
  lines = [f'# GAN comparison (log 11/12), {seeds} seed(s), {g_steps} train steps each, mean ± std',
           '',
           describe(c, 'tiny' if quick else 'cpu'),
           '',
           '| GAN | ' + ' | '.join(COLUMNS) + ' | train s |',
           '|---|' + '---|' * (len(COLUMNS) + 1)]
  for name in names:
    cells = [mean_std(raw[name][col], 4) for col in COLUMNS]
    lines.append(f'| {LABELS[name]} | ' + ' | '.join(cells) + f' | {np.mean(times[name]):.0f} |')
  real_cells = [mean_std(real[c][:1], 4) if c in real else '—' for c in COLUMNS]
  lines.append('| real data | ' + ' | '.join(real_cells) + ' | |')
  table = '\n'.join(lines) + '\n'
  with open(os.path.join(out_dir, 'table.md'), 'w') as f:
    f.write(table)
  with open(os.path.join(out_dir, 'raw.json'), 'w') as f:
    json.dump({'results': raw, 'real': real, 'train_s': times, 'seeds': int(seeds),
               'steps': g_steps, 'names': list(names)}, f, indent=1)
  return table
