"""Does WGAN-GP collapse less? ``iwgan_lstm`` vs ``iwgan_lstm_cnn`` vs ``gan_lstm_cnn`` (log 11/12).

``python -m launch.ablate --table=gans [--seeds=3] [--steps=N] [--quick]``

The three GANs of the comparison are trained on the same data (bundled Nottingham windows of 64
eighth-note frames) for the same number of generator steps, at the budget of their ``cpu`` variant
(``configs/gan_base.py``'s ``cpu_comparison``: the same widths, batch, optimiser, fake pool and 800 train
steps, plus the configs' ``against_collapse`` settings, step noise held 4 steps and
straight-through binarized fakes, and ``melody_lm``, the generator reading its own frames with a
melody head and an LM term in its loss); only the loss and the critic differ. One more row is
``iwgan_lstm`` in the log's setting (``iwgan_lstm:original``: code constant in time, soft fakes,
no LM term); ``run(names=...)`` may add others, e.g. ``iwgan_lstm:plain`` (the generator without
the LM term). A row may name any
``CONFIG:VARIANT`` (:func:`row_config`); runs of a row go to ``OUT/CONFIG_VARIANT/seed_S``. A
folder holding runs of another version of a config is refused when the table resumes it (its
checkpoints hold another model): move it away first. After training, each run's evaluation
samples 32 pieces (one code each) and measures:

* diversity: mean pairwise distance between samples of different codes (the log's mode-collapse
  worry);
* frame changes: the fraction of consecutive frames that differ (0 for a chord held for the whole
  window, the within-sample collapse diversity does not see);
* note density (sounding keys per frame), polyphony, silent frames;
* pitch-class JS divergence (nats) of the samples against the real data's histogram;
* melody JS: the JS divergence (nats) of the melody line's frame-to-frame interval histogram
  (:data:`dsjax.eval.music_stats.MELODY_BINS`) against real windows';
* reference NLL: the mean frame NLL (nats) of the samples under a reference density model trained
  on the same data (``configs/pianoroll_pitchrnn.py:reference``, trained once for all rows into
  ``OUT/reference``, about 4 minutes, or given as ``reference=WORKDIR``), which sees structure
  the histograms do not.

Two more rows go through the same statistics (:meth:`dsjax.tasks.gan.GANSampler.statistics`):
held-out real windows (the test split) and the reference model's own samples, as many and as long
as a GAN run's, drawn anew for every seed.

Every run is a normal workdir (``OUT/NAME/seed_S``: TensorBoard, checkpoints, MIDI and piano-roll
pictures of samples), so a row can be listened to and looked at.
"""

from __future__ import annotations

import json
import os

import numpy as np

from configs import load_config
from dsjax.tables import mean_std

NAMES = ('iwgan_lstm', 'iwgan_lstm_cnn', 'gan_lstm_cnn', 'iwgan_lstm:original')
LABELS = {'iwgan_lstm': 'iwgan_lstm (WGAN-GP, LSTM critic)',
          'iwgan_lstm:plain': 'iwgan_lstm:plain (no feedback, melody head or LM term; Adam 3e-4)',
          'iwgan_lstm_cnn': 'iwgan_lstm_cnn (WGAN-GP, CNN critic)',
          'gan_lstm_cnn': 'gan_lstm_cnn (standard loss, CNN critic)',
          'iwgan_lstm:original': "iwgan_lstm:original (the log's setting: code constant in time, "
                                 'soft fakes, no LM term; Adam 3e-4)'}


def row_config(name: str, quick: bool = False):
  """The config of a row: ``CONFIG`` or ``CONFIG:VARIANT`` at the table's budget (the ``cpu``
  variant, or ``tiny`` with ``quick``)."""
  base, _, variant = name.partition(':')
  return load_config(f"{base}:{','.join(v for v in (variant, 'tiny' if quick else 'cpu') if v)}")


def row_folder(name: str) -> str:
  """``OUT/<this>/seed_S``: the row's name with ``:`` and ``,`` as ``_``."""
  return name.replace(':', '_').replace(',', '_')
COLUMNS = ('diversity', 'frame_changes', 'note_density', 'polyphony', 'silent_frames',
           'pitch_class_js', 'melody_js', 'reference_nll')
RECORDED = COLUMNS + ('melody_hold', 'melody_step')    # into raw.json
REFERENCE_CONFIG = 'pianoroll_pitchrnn:reference'
HELD_OUT, DENSITY = 'held_out', 'reference_samples'
ROW_LABELS = {HELD_OUT: 'real windows (held-out test split)',
              DENSITY: 'reference model samples (pitch RNN)'}


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


def train_reference(out_dir: str, quick: bool = False) -> str:
  """Trains (or resumes, or finds finished) the reference density model in ``OUT/reference``:
  ``configs/pianoroll_pitchrnn.py:reference`` (with ``quick``: its tiny variant for 4 steps on the
  tiny GANs' 40 pieces of each split); returns the workdir."""
  from dsjax.train.loop import train_and_evaluate
  c = load_config(REFERENCE_CONFIG + (',tiny' if quick else ''))
  if quick:                        # seconds: 4 steps, one evaluation, no samples
    c.data.max_pieces = 40
    c.train.num_steps = c.train.eval_every = c.train.checkpoint_every = 4
    c.sample.num = 0
  c.train.quiet = True
  workdir = os.path.join(out_dir, 'reference')
  train_and_evaluate(c, workdir)
  return workdir


def describe_reference(workdir: str) -> str:
  """The reference run, from its ``config.json`` and ``best.json``: its model and its test NLL at
  its best validation NLL."""
  if not workdir:
    return 'none given'
  with open(os.path.join(workdir, 'config.json')) as f:
    m = json.load(f)['model']
  text = f"a {m['head']} roll LM, LSTM {tuple(m['hidden'])}"
  path = os.path.join(workdir, 'best.json')
  if os.path.exists(path):
    with open(path) as f:
      best = json.load(f)
    text += f", test NLL {best['test/frame_nll']:.3f} at step {best['step']}"
  return text


def extra_rows(c, seeds: int) -> dict[str, dict[str, list[float]]]:
  """``{row: {figure: [one per seed]}}`` of held-out real windows and of the reference model's
  samples (``c.gan.reference_model``), ``c.sample.num`` windows of ``c.sample.length`` frames per
  seed, through the GAN sampler's statistics (so against the same real reference as the GANs)."""
  import jax
  from dsjax.tasks.gan import GANTask
  sampler = GANTask(c).sampler()
  num, length = int(c.sample.num), int(c.sample.length)
  rows = {HELD_OUT: {}, DENSITY: {}}
  for seed in range(int(seeds)):
    windows = {HELD_OUT: sampler.held_out_windows(seed, num, length),
               DENSITY: sampler.reference.sample(jax.random.key(seed), num, length)}
    for row, rolls in windows.items():
      stats = sampler.statistics(rolls)
      for col in RECORDED:
        rows[row].setdefault(col, []).append(float(stats[col]))
  return rows


def describe(c, budget: str = 'cpu') -> str:
  """The table's caption: the shared settings of the runs, read from a run's config."""
  g, gan = c.model.generator, c.gan
  lm = (f'reading its own frames with a melody head ({g.accompaniment} accompaniment) and '
        f'{gan.mle_weight:g} x its teacher-forced NLL of real windows in its loss, '
        if g.feedback else '')
  return (
      f'Bundled {c.data.source} windows of {c.data.window} frames ({c.data.roll.step} beats); '
      f'the `{budget}` budget of each config, as the first row runs it (the rows named with a '
      f'variant differ as their label says): LSTM generator '
      f'{tuple(g.hidden)} {lm}code {g.code_dim} + step noise {g.step_noise} (each draw held '
      f'{g.step_noise_hold} steps), '
      f'critic batch {c.data.batch_size // (gan.n_critic if gan.critic_batches == "split" else 1)}'
      f', pool {gan.pool_size}, Adam ({c.optim.b1}, {c.optim.b2}) {c.optim.learning_rate:g} for '
      f'the generator and {c.critic_optim.learning_rate:g} for the critic, '
      f'fakes seen by the critic: {gan.binarize}; {c.sample.num} samples per run, '
      f'threshold {c.sample.threshold}. Diversity: mean pairwise distance between samples of '
      'different codes. Frame changes: fraction of consecutive frames that differ. JS: '
      'pitch-class JS divergence in nats against the real data. Melody JS: JS divergence (nats) '
      'of the interval histogram of the highest sounding note from frame to frame (hold, steps, '
      'thirds, fourths-fifths, sixths-octaves, beyond, up or down; to and from silence) against '
      'the real data. Reference NLL: mean frame NLL (nats) under the reference density model '
      f'({describe_reference(c.gan.reference_model)}), each window from its first frame. The '
      'held-out and reference-sample rows: as many windows of the same '
      'length as a run samples, through the same statistics. Train s: wall time of the training '
      'loop per run, from its logged steps/s.')


def run(out_dir: str, *, seeds: int = 3, quick: bool = False, steps: int | None = None,
        names: tuple[str, ...] = NAMES, reference: str | None = None) -> str:
  """Trains ``names`` x ``seeds`` (resuming finished or interrupted runs), writes the table.

  ``reference``: a trained reference density model's workdir (a piano-roll LM on the GANs' grid);
  by default one is trained in ``OUT/reference`` (:func:`train_reference`). ``steps`` sets the
  GANs' train steps, not the reference's.
  """
  from dsjax.train.loop import train_and_evaluate
  os.makedirs(out_dir, exist_ok=True)
  reference = os.path.abspath(reference or train_reference(out_dir, quick))
  raw, times, first = {}, {}, None
  for name in names:
    raw[name] = {c: [] for c in RECORDED}
    times[name] = []
    for seed in range(int(seeds)):
      c = row_config(name, quick)
      if first is None:           # the caption and the extra rows read the first row's config
        first = c
      c.seed = seed
      if steps is not None:
        c.train.num_steps = int(steps)
      c.train.eval_every = int(c.train.num_steps)   # one evaluation, at the end
      c.train.quiet = True
      c.gan.reference_model = reference
      workdir = os.path.join(out_dir, row_folder(name), f'seed_{seed}')
      train_and_evaluate(c, workdir)
      times[name].append(_train_seconds(workdir))
      ev = _last_eval(workdir)
      for col in RECORDED:
        raw[name][col].append(float(ev.get(f'eval/{col}', ev.get(col, np.nan))))
  c = first
  rows = extra_rows(c, seeds)
  g_steps = int(c.train.num_steps)
  lines = [f'# GAN comparison (log 11/12), {seeds} seed(s), {g_steps} train steps each, mean ± std',
           '',
           describe(c, 'tiny' if quick else 'cpu'),
           '',
           '| GAN | ' + ' | '.join(COLUMNS) + ' | train s |',
           '|---|' + '---|' * (len(COLUMNS) + 1)]
  for name in names:
    cells = [mean_std(raw[name][col], 4) for col in COLUMNS]
    lines.append(f'| {LABELS.get(name, name)} | ' + ' | '.join(cells) + f' | {np.mean(times[name]):.0f} |')
  for row, label in ROW_LABELS.items():
    cells = [mean_std(rows[row][col], 4) for col in COLUMNS]
    lines.append(f'| {label} | ' + ' | '.join(cells) + ' | |')
  table = '\n'.join(lines) + '\n'
  with open(os.path.join(out_dir, 'table.md'), 'w') as f:
    f.write(table)
  with open(os.path.join(out_dir, 'raw.json'), 'w') as f:
    json.dump({'results': raw, **rows, 'train_s': times, 'seeds': int(seeds),
               'steps': g_steps, 'names': list(names), 'reference': reference}, f, indent=1)
  return table
