"""Chord sequence reconstruction with octave-invariant 12-key filters (log 04/04/2018).

Data (``config.data.encoding``): piano-roll frames (``'pianoroll'``, default: the JSB chorales
benchmark, one frame a quarter note) or aligned chord steps (``'aligned'``: the notes starting at
each grid step), ``uint8 [T, 88]``. A training row is a random window of ``config.data.window``
frames (shorter pieces padded and masked); ``config.data.transpose`` > 0 moves each window by up
to that many keys. The model (:mod:`dsjax.models.chord_reconstruction`) reads the frames through
the 12-key filters and an LSTM and reconstructs each frame ``t`` (from frames ``<= t``); the loss
is the Bernoulli NLL of the frame, summed over the keys (nats per frame), averaged over frames.

Evaluation (``config.data.eval_splits``, whole pieces): ``frame_nll`` (nats per frame),
``marginal_nll`` (the same figure for each key's training frequency, the baseline that knows no
input), and the greedy reconstruction (a key on where p > 0.5) against the input:
``key_acc`` (cells right), ``frame_acc`` (whole frames right), ``precision`` / ``recall`` /
``f1`` (of the sounding cells), and ``filter_peak`` (mean over positions whose window holds a
note of the largest activation's share of the filters' activations: 1 = one filter alone fires).

Figures (:meth:`ChordReconstructionTask.eval_figures`, at every evaluation): ``filters``, the
``[12, filters]`` kernel as a picture (offsets named C..B from the window's start, each column
labelled with its nearest named chord and score, :mod:`dsjax.eval.chords`); each filter's match
and its share of the wins (positions of held-out windows holding a note where it is the strongest
filter) go to the log (absl, at WARNING: ``launch.train`` hides INFO).

Generation (:class:`ReconstructionSampler`, ``sample.num > 0``): reconstructions of real windows
of ``sample.split`` (the inputs are the "real" column of the loop's picture), with
``sample.chop`` the log's random chopping of rhythms: every chord of the window (a run of equal
frames) gets a new length uniform in ``[chop_min, chop_max]`` frames, so the input is no longer a
piece the LSTM can have memorised (``--config.sample.chop=True``; ``launch.generate`` passes
``--mode`` and ``--threshold``). ::

  python -m launch.train --config=configs/chord_reconstruction.py:softmax --workdir=runs/chords
  python -m launch.generate --workdir=runs/chords --num=4 --length=64
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from dsjax import losses, sampling
from dsjax.data import aligned as aligned_lib
from dsjax.data import pianoroll as roll_lib
from dsjax.data.notes import Piece
from dsjax.eval import chords as chords_lib
from dsjax.eval import music_stats
from dsjax.models import chord_reconstruction as cr
from dsjax.optim import init_train_state, make_optimizer, update_train_state
from dsjax.tasks import base, datasets

ENCODINGS = ('pianoroll', 'aligned')
MODES = ('threshold', 'bernoulli')
FIGURE_ROWS = 16            # held-out windows whose filter wins the log reports
TANH_BIAS_LIMIT = 0.95      # output bias start: atanh of log-odds / scale, within this


def check_config(config) -> None:
  """Refuses, naming the key, a setting the task cannot use."""
  m, d, s = config.model, config.data, config.sample
  if str(d.encoding) not in ENCODINGS:
    raise ValueError(f'config.data.encoding={d.encoding!r}: expected one of {ENCODINGS}')
  if str(m.activation) not in cr.ACTIVATIONS:
    raise ValueError(f'config.model.activation={m.activation!r}: expected one of '
                     f'{cr.ACTIVATIONS}')
  if str(m.output) not in cr.OUTPUTS:
    raise ValueError(f'config.model.output={m.output!r}: expected one of {cr.OUTPUTS}')
  if int(m.filters) < 1:
    raise ValueError(f'config.model.filters={m.filters!r}: must be >= 1')
  if not (float(m.output_scale) > 0 and np.isfinite(float(m.output_scale))):
    raise ValueError(f'config.model.output_scale={m.output_scale!r}: must be a finite number > 0')
  for key in ('hidden', 'decoder_hidden'):
    if any(int(h) < 1 for h in m[key]):
      raise ValueError(f'config.model.{key}={tuple(m[key])!r}: every width must be >= 1')
  if not 0.0 <= float(m.dropout_rate) < 1.0:
    raise ValueError(f'config.model.dropout_rate={m.dropout_rate!r}: must be in [0, 1)')
  splits = ('train',) + tuple(d.eval_splits)
  if str(s.split) not in splits:
    raise ValueError(f'config.sample.split={s.split!r}: expected one of {splits}')
  check_chop(int(s.chop_min), int(s.chop_max), 'config.sample.')
  if str(s.mode) not in MODES:
    raise ValueError(f'config.sample.mode={s.mode!r}: expected one of {MODES}')


def check_chop(chop_min: int, chop_max: int, prefix: str = '') -> None:
  if not 1 <= chop_min <= chop_max:
    raise ValueError(f'{prefix}chop_min={chop_min}, {prefix}chop_max={chop_max}: need '
                     '1 <= chop_min <= chop_max (frames per chord)')


def chord_runs(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """The chords of ``frames [T, keys]``: ``(first frame of each run of equal frames [R],
  run lengths [R])``."""
  frames = np.asarray(frames)
  if len(frames) == 0:
    return np.zeros(0, np.int64), np.zeros(0, np.int64)
  change = np.concatenate([[True], np.any(frames[1:] != frames[:-1], axis=-1)])
  starts = np.flatnonzero(change)
  return starts, np.diff(np.concatenate([starts, [len(frames)]]))


def chop_rhythm(frames: np.ndarray, rng: np.random.Generator, length: int, chop_min: int,
                chop_max: int) -> np.ndarray:
  """The log's random chopping of rhythms: ``frames [T, keys]`` -> ``[length, keys]`` with the
  same chords in the same order, each held for a new number of frames uniform in
  ``[chop_min, chop_max]``; cut at ``length`` (silence after the last chord if they end first)."""
  check_chop(chop_min, chop_max)
  starts, _ = chord_runs(frames)
  durations = rng.integers(chop_min, chop_max + 1, size=len(starts))
  out = np.repeat(np.asarray(frames)[starts], durations, axis=0)[:length]
  pad = length - len(out)
  return np.concatenate([out, np.zeros((pad,) + out.shape[1:], out.dtype)]) if pad else out


def reconstruction_counts(probs: jax.Array, x: jax.Array, mask: jax.Array) -> dict:
  """Sums for the greedy reconstruction ``probs > 0.5`` of ``x [B, T, keys]`` (``mask [B, T]``):
  cells right, frames right, notes hit, notes drawn, real notes."""
  pred = (probs > 0.5).astype(jnp.float32)
  m = mask[..., None]
  return {'key_right': ((pred == x) * m).sum() / x.shape[-1],
          'frame_right': ((pred == x).all(-1) * mask).sum(),
          'notes_hit': (pred * x * m).sum(), 'notes_drawn': (pred * m).sum(),
          'notes_real': (x * m).sum()}


class ChordReconstructionTask(base.Task):
  """12-key filters + LSTM reconstructing chord sequences (see the module docstring)."""

  def __init__(self, config):
    super().__init__(config)
    check_config(config)
    self.encoding = str(config.data.encoding)
    self.roll_cfg = datasets.roll_config(config)
    self.keys = self.roll_cfg.keys
    self.train_set = datasets.load_split(config, self.encoding, 'train')
    self.eval_sets = datasets.load_eval_splits(config, self.encoding)
    m = config.model
    self.activation = str(m.activation)
    self.model = cr.ChordReconstructor(
        keys=self.keys, filters=int(m.filters), activation=self.activation,
        hidden=tuple(int(h) for h in m.hidden),
        decoder_hidden=tuple(int(h) for h in m.decoder_hidden), output=str(m.output),
        output_scale=float(m.output_scale), dropout_rate=float(m.dropout_rate))
    self.output, self.output_scale = str(m.output), float(m.output_scale)
    self.transpose = int(config.data.transpose)
    self.key_log_odds = roll_lib.key_log_odds(self.train_set.values, (self.keys,), self.transpose)
    self.tx, self.schedule = make_optimizer(config.optim, int(config.train.num_steps))
    self.figure_rows = self._figure_rows()

  # -- data ---------------------------------------------------------------------------------
  def train_data(self, process_index, process_count, seed=None):
    return datasets.train_stream(self.config, self.train_set, process_index, process_count,
                                 shifted=False, transposition=datasets.roll_transposition(
                                     self.config), seed=seed)

  def eval_batches(self):
    return datasets.eval_stream(self.config, self.eval_sets, shifted=False)

  def _figure_rows(self) -> np.ndarray:
    """Up to :data:`FIGURE_ROWS` windows of the first eval split (training set if none),
    ``[N, window, keys]``: where the figures count each filter's wins."""
    seqs = next((s for s in self.eval_sets.values() if len(s)), self.train_set)
    window = int(self.config.data.window)
    rows = [seqs[i][:window] for i in range(min(FIGURE_ROWS, len(seqs)))]
    return np.stack([np.pad(r, ((0, window - len(r)), (0, 0))) for r in rows])

  # -- steps --------------------------------------------------------------------------------
  def init(self, rng):
    """Fresh parameters, the output bias at each key's training log-odds (through the tanh
    regulariser: ``atanh(log_odds / scale)``, kept within +-atanh(0.95))."""
    x = jnp.zeros((1, 2, self.keys), jnp.float32)
    params = self.model.init({'params': rng}, x)['params']
    bias = jnp.asarray(self.key_log_odds)
    if self.output == 'tanh':
      bias = jnp.arctanh(jnp.clip(bias / self.output_scale, -TANH_BIAS_LIMIT, TANH_BIAS_LIMIT))
    params = {**params, 'output': {**params['output'], 'bias': bias}}
    return init_train_state(params, self.tx)

  def logits(self, params, x, mask=None, rng=None):
    """Reconstruction logits ``[B, T, keys]`` of ``x [B, T, keys]`` (dropout when ``rng``)."""
    return self.model.apply({'params': params}, x.astype(jnp.float32), mask=mask,
                            deterministic=rng is None,
                            rngs={'dropout': rng} if rng is not None else {})

  def train_step(self, state, batch, rng):
    x, mask = batch['inputs'].astype(jnp.float32), batch['mask']

    def loss_fn(params):
      return losses.masked_mean(losses.frame_nll(self.logits(params, x, mask, rng), x), mask)

    loss, grads = jax.value_and_grad(loss_fn)(state['params'])
    state, grad_norm = update_train_state(state, grads, self.tx)
    return state, {'loss': loss, 'grad_norm': grad_norm}

  def eval_step(self, state, batch):
    params = self.eval_params(state)
    x, mask = batch['inputs'].astype(jnp.float32), batch['mask']
    logits = self.logits(params, x, mask)
    marginal = jnp.broadcast_to(jnp.asarray(self.key_log_odds), x.shape)
    out = {'nll_sum': (losses.frame_nll(logits, x) * mask).sum(),
           'marginal_nll_sum': (losses.frame_nll(marginal, x) * mask).sum(),
           'frames': mask.sum()}
    out.update(reconstruction_counts(jax.nn.sigmoid(logits), x, mask))
    # how alone the strongest filter is, where the window holds a note
    acts = jnp.abs(self.model.apply({'params': params}, x,
                                    method=cr.ChordReconstructor.filter_activations))
    share = acts.max(-1) / jnp.maximum(acts.sum(-1), 1e-12)              # [B, T, P]
    held = (cr.pitch_windows(x).sum(-1) > 0) * mask[..., None]
    out.update(peak_sum=(share * held).sum(), held=held.sum())
    return out

  def eval_summary(self, sums):
    n = max(sums['frames'], 1.0)
    precision = sums['notes_hit'] / max(sums['notes_drawn'], 1.0)
    recall = sums['notes_hit'] / max(sums['notes_real'], 1.0)
    return {'frame_nll': sums['nll_sum'] / n, 'marginal_nll': sums['marginal_nll_sum'] / n,
            'key_acc': sums['key_right'] / n, 'frame_acc': sums['frame_right'] / n,
            'precision': precision, 'recall': recall,
            'f1': 2 * precision * recall / max(precision + recall, 1e-12),
            'filter_peak': sums['peak_sum'] / max(sums['held'], 1.0), 'frames': sums['frames']}

  def learning_rates(self, step):
    return {'lr': float(self.schedule(step))}

  # -- figures ------------------------------------------------------------------------------
  def filter_report(self, params) -> tuple[np.ndarray, list[chords_lib.ChordMatch], np.ndarray]:
    """``(kernel [12, F], each filter's nearest named chord, each filter's share of the wins
    [F])``: the wins are the positions of :attr:`figure_rows` whose window holds a note where the
    filter's pre-activation is the largest (the filter the softmax lets fire)."""
    kernel = np.asarray(jax.device_get(params['filter_kernel']), np.float64)
    bias = np.asarray(jax.device_get(params['filter_bias']), np.float64)
    windows = np.asarray(cr.pitch_windows(jnp.asarray(self.figure_rows, jnp.float32)))
    held = windows.sum(-1) > 0                                              # [N, T, P]
    winner = np.argmax(windows.astype(np.float64) @ kernel + bias, axis=-1)[held]
    wins = np.bincount(winner, minlength=kernel.shape[1]) / max(len(winner), 1)
    return kernel, chords_lib.nearest_chords(kernel), wins

  def eval_figures(self, state):
    kernel, matches, wins = self.filter_report(self.eval_params(state))
    # one block at WARNING: launch.train keeps absl at WARNING (orbax logs every save at INFO)
    logging.warning('%s filters: nearest named chord, correlation, share of wins\n%s',
                    self.activation, '\n'.join(
                        f'  filter {i:2d}: {m.name:16s} {m.score:.3f} {100 * w:5.1f}%'
                        for i, (m, w) in enumerate(zip(matches, wins))))
    return {'filters': filter_figure(kernel, matches, wins,
                                     title=f'{self.activation} filters')}

  def hparams(self):
    return {'positions': self.keys + cr.KERNEL - 1}

  # -- sampling -----------------------------------------------------------------------------
  def make_sampler(self):
    return ReconstructionSampler(self)


def filter_figure(kernel: np.ndarray, matches, wins: np.ndarray | None = None,
                  title: str = 'filters') -> np.ndarray:
  """The filter bank as one RGB uint8 image: ``kernel [12, F]`` drawn 12 rows (window offsets,
  named C..B from the bottom) by F columns, each column scaled to its largest absolute weight
  (red +, blue -), labelled with its index, nearest named chord and score (and share of wins)."""
  from matplotlib.backends.backend_agg import FigureCanvasAgg
  from matplotlib.figure import Figure
  from dsjax import viz
  kernel = np.asarray(kernel, np.float64)
  filters = kernel.shape[1]
  scale = np.abs(kernel).max(0, keepdims=True)
  shown = kernel / np.where(scale > 0, scale, 1.0)
  width, height = 0.34 * filters + 2.4, 5.0                # inches
  fig = Figure(figsize=(width, height), dpi=100)
  FigureCanvasAgg(fig)
  left, right, bottom, top = 1.0 / width, 1.0 / width, 1.5 / height, 0.6 / height
  ax = fig.add_axes((left, bottom, 1.0 - left - right, 1.0 - bottom - top))
  image = ax.imshow(shown, origin='lower', cmap='RdBu_r', vmin=-1, vmax=1, aspect='auto',
                    interpolation='nearest')
  ax.set_yticks(range(12), chords_lib.PITCH_CLASSES)
  labels = []
  for i, match in enumerate(matches):
    label = f'{i} {match.short_name} {match.score:.2f}'
    if wins is not None:
      label += f' {100 * wins[i]:.0f}%'
    labels.append(label)
  ax.set_xticks(range(filters), labels, rotation=90, fontsize=7, family='monospace')
  ax.set_ylabel('window offset (from C)')
  ax.set_title(f'{title}: 12 keys x {filters}, each column scaled to its largest |weight|\n'
               'label: filter, nearest named chord, correlation'
               + (', share of wins' if wins is not None else ''), fontsize=9)
  cax = fig.add_axes((1.0 - right + 0.15 / width, bottom, 0.15 / width, 1.0 - bottom - top))
  fig.colorbar(image, cax=cax)
  return viz.figure_image(fig)


class ReconstructionSampler(base.Sampler):
  """Reconstructions of real windows (see the module docstring): ``sample`` draws ``num``
  windows of ``length`` frames from ``split`` (pieces at least that long when there are any; a
  random start), optionally chops their rhythm, and returns the model's greedy (``threshold``) or
  Bernoulli reconstruction, ``uint8 [num, length, keys]``. The inputs of the last call are
  :meth:`real_rolls` (the right column of the loop's picture) and :attr:`last_inputs`."""

  def __init__(self, task: ChordReconstructionTask):
    super().__init__(task)
    self.defaults = task.config.sample
    self.sets = {'train': task.train_set, **task.eval_sets}
    self.roll_cfg, self.keys, self.encoding = task.roll_cfg, task.keys, task.encoding
    self.last_inputs: np.ndarray | None = None
    self._probs = jax.jit(lambda p, x: jax.nn.sigmoid(task.logits(p, x)))
    self._draw = jax.jit(functools.partial(sampling.sample_frame), static_argnames=('mode',))

  def windows(self, rng, num: int, length: int, split: str, chop: bool, chop_min: int,
              chop_max: int) -> np.ndarray:
    """``uint8 [num, length, keys]``: random windows of ``split`` (rhythm chopped with
    ``chop``), from a numpy generator seeded by the jax key ``rng``."""
    if split not in self.sets:
      raise ValueError(f'split={split!r} (config.sample.split): expected one of '
                       f'{tuple(self.sets)}')
    seqs = self.sets[split]
    g = np.random.default_rng(np.asarray(jax.random.key_data(rng)).ravel().tolist())
    long_enough = np.flatnonzero(seqs.lengths >= length)
    candidates = long_enough if len(long_enough) else np.arange(len(seqs))
    out = np.zeros((num, length, self.keys), np.uint8)
    for row, i in enumerate(g.choice(candidates, size=num)):
      piece = np.asarray(seqs[int(i)])
      start = int(g.integers(0, max(len(piece) - length, 0) + 1))
      if chop:
        out[row] = chop_rhythm(piece[start:], g, length, chop_min, chop_max)
      else:
        part = piece[start:start + length]
        out[row, :len(part)] = part
    return out

  def sample(self, state, rng, num, length, split=None, chop=None, chop_min=None, chop_max=None,
             mode=None, threshold=None):
    s = self.defaults
    split = str(s.split if split is None else split)
    chop = bool(s.chop if chop is None else chop)
    chop_min = int(s.chop_min if chop_min is None else chop_min)
    chop_max = int(s.chop_max if chop_max is None else chop_max)
    check_chop(chop_min, chop_max, '--')
    mode = str(s.mode if mode is None else mode)
    if mode not in MODES:
      raise ValueError(f'mode={mode!r} (config.sample.mode): expected one of {MODES}')
    threshold = float(s.threshold if threshold is None else threshold)
    k_windows, k_draw = jax.random.split(rng)
    inputs = self.windows(k_windows, int(num), int(length), split, chop, chop_min, chop_max)
    probs = self._probs(self.eval_params(state), jnp.asarray(inputs, jnp.float32))
    frames = self._draw(k_draw, probs, mode=mode, threshold=jnp.float32(threshold))
    self.last_inputs = inputs
    return np.asarray(frames).astype(np.uint8)

  def to_pieces(self, samples):
    if self.encoding == 'aligned':
      return [Piece(f'sample_{i}', aligned_lib.decode_aligned(s, self.roll_cfg))
              for i, s in enumerate(samples)]
    return [roll_lib.decode_pianoroll_to_piece(s, self.roll_cfg, name=f'sample_{i}')
            for i, s in enumerate(samples)]

  def to_rolls(self, samples):
    return [np.asarray(s) for s in samples]

  def real_rolls(self, num, length):
    """The inputs of the last :meth:`sample` call (what was reconstructed), else none."""
    if self.last_inputs is None:
      return []
    return [r[:length] for r in self.last_inputs[:num]]

  def statistics(self, samples):
    samples = np.asarray(samples, np.float32)
    out = {'note_density': music_stats.note_density(samples)}
    if self.last_inputs is not None and self.last_inputs.shape == samples.shape:
      real = self.last_inputs.astype(np.float32)
      hit = float((samples * real).sum())
      p, r = hit / max(float(samples.sum()), 1.0), hit / max(float(real.sum()), 1.0)
      out.update(real_note_density=music_stats.note_density(real),
                 f1=2 * p * r / max(p + r, 1e-12),
                 frame_acc=float((samples == real).all(-1).mean()))
    return out
