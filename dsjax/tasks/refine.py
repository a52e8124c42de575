"""Refiners (log 11/03 "Refine Net: refine the duration from a quantized song"; 11/17 "Velocity
Finetune: finetune a generated song"): a model that takes a piece and predicts one attribute of
each of its notes, so that a quantised or velocity-less dsjax output can be made playable.

``config.refine.attribute``:

* ``'duration'``: from a quantised note sequence (onsets on the grid of ``refine.grid_step``
  beats, every note one step long), each note's duration, a categorical over ``1 ..
  refine.max_steps`` steps (:mod:`dsjax.models.refine` says why), decoded as its median. Trained
  on any corpus whose durations are real (the music21 Bach chorales by default).
* ``'velocity'``: from notes without dynamics (onsets, pitches, durations), each note's velocity,
  a regression (Huber loss of ``refine.huber_delta`` velocity units). No bundled corpus carries
  performed velocities: ``data.source = 'synthetic'`` trains on pieces whose velocities follow a
  known rule (:mod:`dsjax.data.synthetic_velocity`); ``data.source = FOLDER`` on a folder of
  performed MIDI files of the user's.

Notes are read in onset order (chord notes low to high; drums left out and left alone). Each
note is a row of :data:`COLUMNS` (:func:`note_rows`): its pitch, its onset's position in the bar
(``refine.bar_steps`` steps a bar, the piece's first beat on a bar line), the gaps (in steps) to
the next and from the previous onset, to the next onset of the same pitch and of a pitch within
:data:`NEAR` semitones, the chord at its onset (size, the note's distance below its top and above
its bottom, pitch classes), its own duration (velocity only), and what is predicted and measured
(its true duration and velocity, its piece's median duration and mean velocity). A duration never
reaches past the next onset of the same pitch: those classes are masked out, and a longer true
duration is cut there. The training target ``duration`` is also cut at ``max_steps`` (its
classes); the errors are measured against ``true_duration``, which is not, so a note longer than
``max_steps`` counts in full against every prediction.

Training rows: ``data.window`` consecutive notes of a training piece (the features were computed
on the whole piece). Evaluation (``data.eval_splits``, ``('train', 'valid')``: the log's duration
refiner overfitted, so both are measured; the train split's first ``refine.train_eval_pieces``
pieces): whole pieces (``data.eval_max_len`` > 0: chunks of that many notes, each read without
the notes around it; one shape to compile). Durations: ``mae`` (quarter-note beats), ``iou`` (per
note, the overlap of the refined and the true sounding time, ``min / max`` of the two durations
from the same onset), ``accuracy`` (the exact grid duration), ``nll``; and the same ``mae`` /
``iou`` of the baselines ``one_step`` (every note one grid step), ``piece_median`` (every note the
piece's median true duration: an oracle) and ``legato`` (until the next onset). Velocities:
``mae`` (velocity units) and ``mae_piece_mean`` (every note its piece's mean velocity: an
oracle).

The trained refiner, for ``launch.refine`` and ``launch.generate --refine=DIR``::

  refiner = load_refiner(workdir, best=False)      # -> Refiner
  refined = refiner.refine(pieces)                 # list[Piece] -> list[Piece]

Every note keeps its onset and pitch (and everything else but the refined attribute).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from dsjax.data import encodings
from dsjax.data.eval_batches import bucket_length, eval_batches
from dsjax.data.notes import Piece, SequenceSet
from dsjax.models import refine as refine_lib
from dsjax.models.refine import NoteRefiner
from dsjax.optim import init_train_state, make_optimizer, update_train_state
from dsjax.tasks import base, datasets

ATTRIBUTES = ('duration', 'velocity')
PLURAL = {'duration': 'durations', 'velocity': 'velocities'}
NEAR = 4            # semitones: 'next_near' is the next onset of a pitch this close
GAPS = ('next_onset', 'prev_onset', 'next_same', 'next_near')
COLUMNS = ('pitch', 'bar_pos', 'onset', *GAPS, 'chord_size', 'below_top', 'above_bottom',
           'in_duration', *(f'pc{i}' for i in range(12)),
           'duration', 'velocity', 'piece_median_duration', 'piece_mean_velocity',
           'true_duration')
COL = {name: i for i, name in enumerate(COLUMNS)}
SYNTHETIC = 'synthetic'


def gap_cap(bar_steps: int) -> int:
  """Gaps are capped at four bars (a gap to nothing, e.g. after the last onset, is the cap)."""
  return 4 * int(bar_steps)


def _next_later(onsets_sorted: np.ndarray, onsets: np.ndarray, cap: int) -> np.ndarray:
  """Steps from each of ``onsets`` to the first of ``onsets_sorted`` strictly after it (``cap``
  if none, and at most ``cap``)."""
  if not len(onsets_sorted):
    return np.full(len(onsets), cap, np.int64)
  j = np.searchsorted(onsets_sorted, onsets, side='right')
  nxt = onsets_sorted[np.minimum(j, len(onsets_sorted) - 1)]
  return np.where(j < len(onsets_sorted), np.minimum(nxt - onsets, cap), cap)


def note_rows(piece: Piece, grid_step: float, bar_steps: int, max_steps: int
              ) -> tuple[np.ndarray, np.ndarray]:
  """``(rows float32 [N, len(COLUMNS)], index int64 [N])``: the rows of the piece's non-drum notes
  in onset order (see the module docstring); ``index[i]`` is row ``i``'s note in ``piece.notes``.

  Onsets and ends go to the grid of ``grid_step`` beats (through the piece's tempo map); a true
  duration (``true_duration``) is at least one step and at most the gap to the next onset of the
  same pitch; the training target ``duration`` is also at most ``max_steps``.
  """
  notes = piece.notes
  keep = np.flatnonzero(~notes['is_drum'])
  cap = gap_cap(bar_steps)
  start_b = piece.seconds_to_beats(notes['start'][keep])
  end_b = piece.seconds_to_beats(notes['end'][keep])
  onset = np.round(start_b / grid_step).astype(np.int64)
  end = np.round(end_b / grid_step).astype(np.int64)
  pitch = notes['pitch'][keep].astype(np.int64)
  order = np.lexsort((pitch, onset))
  index, onset, end, pitch = keep[order], onset[order], end[order], pitch[order]
  in_duration = ((end_b - start_b)[order] / grid_step)
  velocity = notes['velocity'][index].astype(np.float64)
  n = len(index)
  rows = np.zeros((n, len(COLUMNS)), np.float32)
  if n == 0:
    return rows, index
  uniq, first, inv = np.unique(onset, return_index=True, return_inverse=True)
  inv = inv.reshape(-1)
  next_onset = np.where(inv + 1 < len(uniq), uniq[np.minimum(inv + 1, len(uniq) - 1)] - onset, cap)
  prev_onset = np.where(inv > 0, onset - uniq[np.maximum(inv - 1, 0)], cap)
  by_pitch = {int(p): np.sort(onset[pitch == p]) for p in np.unique(pitch)}
  next_same = np.full(n, cap, np.int64)
  next_near = np.full(n, cap, np.int64)
  for p, ons in by_pitch.items():
    sel = pitch == p
    next_same[sel] = _next_later(ons, onset[sel], cap)
    for d in range(-NEAR, NEAR + 1):
      if p + d in by_pitch:
        next_near[sel] = np.minimum(next_near[sel], _next_later(by_pitch[p + d], onset[sel], cap))
  counts = np.diff(np.append(first, n))
  top = np.maximum.reduceat(pitch, first)[inv]
  bottom = np.minimum.reduceat(pitch, first)[inv]
  pcs = np.zeros((len(uniq), 12), np.float32)
  pcs[inv, pitch % 12] = 1.0
  # what the model learns (a class of at most max_steps) and what it is scored against (uncut)
  true_duration = np.clip(end - onset, 1, np.maximum(next_same, 1))
  duration = np.minimum(true_duration, max_steps)
  cols = dict(pitch=pitch, bar_pos=onset % bar_steps, onset=onset, next_onset=next_onset,
              prev_onset=prev_onset, next_same=next_same, next_near=next_near,
              chord_size=counts[inv], below_top=top - pitch, above_bottom=pitch - bottom,
              in_duration=np.minimum(in_duration, cap), duration=duration, velocity=velocity,
              piece_median_duration=np.full(n, np.median(true_duration)),
              piece_mean_velocity=np.full(n, velocity.mean()), true_duration=true_duration)
  for name, values in cols.items():
    rows[:, COL[name]] = values
  rows[:, COL['pc0']:COL['pc0'] + 12] = pcs[inv]
  return rows, index


@dataclasses.dataclass(frozen=True)
class NoteRowEncoding(encodings.Encoding):
  """:func:`note_rows` as an encoding the preprocessing cache stores: ``float32 [N, C]``."""
  grid_step: float = 0.25
  bar_steps: int = 16
  max_steps: int = 16
  name = 'refine_rows'

  @property
  def feature_shape(self) -> tuple[int, ...]:
    return (len(COLUMNS),)

  @property
  def dtype(self) -> np.dtype:
    return np.dtype(np.float32)

  def encode(self, piece: Piece) -> np.ndarray:
    return note_rows(piece, self.grid_step, self.bar_steps, self.max_steps)[0]

  def cache_key(self) -> str:
    return f'refine-rows2-g{self.grid_step:g}-bar{self.bar_steps}-max{self.max_steps}'

  def options(self) -> dict:
    return dict(grid_step=self.grid_step, bar_steps=self.bar_steps, max_steps=self.max_steps)


def model_inputs(rows: jax.Array, attribute: str, bar_steps: int):
  """``rows [..., C]`` -> the network's ``(pitch int, bar_pos int, numeric float [..., F])``. The
  velocity refiner also reads each note's own duration; the duration refiner never does."""
  cap = float(gap_cap(bar_steps))
  gaps = jnp.log1p(jnp.stack([rows[..., COL[g]] for g in GAPS], -1)) / np.log1p(cap)
  numeric = [gaps, rows[..., COL['chord_size'], None] / 4.0,
             rows[..., COL['below_top'], None] / 24.0, rows[..., COL['above_bottom'], None] / 24.0,
             rows[..., COL['pitch'], None] / 127.0, rows[..., COL['pc0']:COL['pc0'] + 12]]
  if attribute == 'velocity':
    numeric.append(jnp.log1p(rows[..., COL['in_duration'], None]) / np.log1p(cap))
  return (rows[..., COL['pitch']].astype(jnp.int32), rows[..., COL['bar_pos']].astype(jnp.int32),
          jnp.concatenate(numeric, -1))


def allowed_steps(rows: jax.Array, max_steps: int) -> jax.Array:
  """The longest duration each note may have (steps): to the next onset of its pitch, capped."""
  return jnp.minimum(rows[..., COL['next_same']], max_steps)


def check_config(config) -> None:
  """Refuses, naming the key, a setting the task cannot use."""
  r, d = config.refine, config.data
  if str(r.attribute) not in ATTRIBUTES:
    raise ValueError(f'config.refine.attribute={r.attribute!r}: expected one of {ATTRIBUTES}')
  if not (float(r.grid_step) > 0 and np.isfinite(float(r.grid_step))):
    raise ValueError(f'config.refine.grid_step={r.grid_step!r}: must be a number of beats > 0')
  for key in ('bar_steps', 'max_steps', 'synthetic_pieces'):
    if int(r[key]) < 1:
      raise ValueError(f'config.refine.{key}={r[key]!r}: must be >= 1')
  if int(r.train_eval_pieces) < 0:
    raise ValueError(f'config.refine.train_eval_pieces={r.train_eval_pieces!r}: must be >= 0 '
                     '(0 = all)')
  if not float(r.huber_delta) > 0:
    raise ValueError(f'config.refine.huber_delta={r.huber_delta!r}: must be > 0')
  if int(d.transpose):
    raise ValueError(f'config.data.transpose={int(d.transpose)}: the refiners do not transpose '
                     '(pitch is one of their inputs); set it to 0')
  if bool(d.transpose_to_c):
    raise ValueError('config.data.transpose_to_c=True: the refiners read pieces as they are; set '
                     'it to False')
  if not len(d.eval_splits):
    raise ValueError('config.data.eval_splits=(): give at least one split (train, valid, test)')
  for split in d.eval_splits:
    if split not in ('train', 'valid', 'test'):
      raise ValueError(f'config.data.eval_splits: unknown split {split!r} (train, valid, test)')


def _check_folder(source: str) -> None:
  from dsjax.data import corpora
  path = os.path.expanduser(source)
  if not os.path.isdir(path):
    raise ValueError(f'config.data.source={source!r}: the velocity refiner trains on a folder of '
                     f'performed MIDI files (or {SYNTHETIC!r}), and this is not a folder')
  if not corpora.midi_files(path):
    raise ValueError(f'config.data.source={source!r}: no .mid / .midi files in this folder')


def load_row_splits(config, encoding: NoteRowEncoding, splits: Sequence[str]
                    ) -> dict[str, SequenceSet]:
  """``{split: rows}`` of ``config.data.source``: ``'synthetic'`` (:mod:`dsjax.data.
  synthetic_velocity`, built here), a corpus name or benchmark file (durations), or a folder of
  MIDI files (both), through the preprocessing cache. A source the attribute cannot learn from is
  a one-line ``ValueError`` naming ``config.data.source``."""
  from dsjax.data import corpora
  r, source = config.refine, str(config.data.source)
  attribute = str(r.attribute)
  if source == SYNTHETIC:
    from dsjax.data import split as split_lib
    from dsjax.data import synthetic_velocity
    pieces = synthetic_velocity.make_pieces(int(r.synthetic_pieces), int(r.synthetic_seed),
                                            float(r.synthetic_noise))
    assigned = split_lib.assign_splits(pieces)
    return {s: SequenceSet.from_list([encoding.encode(p) for p, a in zip(pieces, assigned)
                                      if a == s],
                                     [p.name for p, a in zip(pieces, assigned) if a == s],
                                     dtype=np.float32, feature_shape=encoding.feature_shape)
            for s in splits}
  if attribute == 'velocity':
    if source in corpora.SOURCE_NAMES:
      raise ValueError(f'config.data.source={source!r}: its notes carry no performed velocities; '
                       f'give a folder of performed MIDI files, or {SYNTHETIC!r}')
    _check_folder(source)
  from dsjax.data import cache
  d = config.data
  out = {s: cache.load_dataset(source, encoding, s, cache_dir=d.cache_dir or None,
                               **datasets.source_options(config)) for s in splits}
  if 'train' in out and not len(out['train']):
    raise ValueError(f'config.data.source={source!r}: no readable piece in its train split')
  if attribute == 'velocity' and 'train' in out:
    vel = out['train'].values[:, COL['velocity']]
    if vel.min() == vel.max():
      raise ValueError(f'config.data.source={source!r}: every note has velocity {vel[0]:g}, '
                       'nothing to learn (the velocity refiner needs performed MIDI)')
  return out


class RefineTask(base.Task):
  """A duration or velocity refiner (see the module docstring). Its data load when first asked
  for (restoring a run for :func:`load_refiner` needs none)."""

  def __init__(self, config):
    super().__init__(config)
    check_config(config)
    r, m = config.refine, config.model
    self.attribute = str(r.attribute)
    self.grid_step = float(r.grid_step)
    self.bar_steps = int(r.bar_steps)
    self.max_steps = int(r.max_steps)
    self.huber_delta = float(r.huber_delta)
    self.encoding = NoteRowEncoding(self.grid_step, self.bar_steps, self.max_steps)
    self.model = NoteRefiner(outputs=self.max_steps if self.attribute == 'duration' else 1,
                             hidden=tuple(int(h) for h in m.hidden), bar_steps=self.bar_steps,
                             pitch_embed=int(m.pitch_embed), dropout_rate=float(m.dropout_rate))
    self.tx, self.schedule = make_optimizer(config.optim, int(config.train.num_steps))
    self._sets = None

  # -- data ---------------------------------------------------------------------------------
  @property
  def sets(self) -> dict[str, SequenceSet]:
    """``{split: rows}`` for training and every eval split (the train split's eval cut to its
    first ``refine.train_eval_pieces`` pieces under the name ``train_eval``)."""
    if self._sets is None:
      splits = sorted({'train', *self.config.data.eval_splits})
      sets = load_row_splits(self.config, self.encoding, splits)
      n = int(self.config.refine.train_eval_pieces)
      sets['train_eval'] = (sets['train'].subset(range(min(n, len(sets['train']))))
                            if n else sets['train'])
      self._sets = sets
    return self._sets

  def train_data(self, process_index, process_count, seed=None):
    return datasets.train_stream(self.config, self.sets['train'], process_index, process_count,
                                 shifted=False, short='pad', seed=seed)

  def eval_batches(self):
    out = {}
    for split in self.config.data.eval_splits:
      rows = self.sets['train_eval' if split == 'train' else split]
      if len(rows):
        max_len = int(self.config.data.eval_max_len) or None
        out[split] = [{'inputs': b['inputs'], 'mask': b['mask']} for b in eval_batches(
            rows, int(self.config.data.eval_batch_size), max_len, shifted=False,
            by_length=max_len is None)]
    return out

  # -- the network --------------------------------------------------------------------------
  def init(self, rng):
    rows = jnp.zeros((1, 4, len(COLUMNS)), jnp.float32)
    params = self.model.init({'params': rng}, *model_inputs(rows, self.attribute, self.bar_steps),
                             jnp.ones((1, 4)))['params']
    return init_train_state(params, self.tx)

  def outputs(self, params, rows, mask, rng=None):
    """The network's outputs ``[batch, notes, K]`` for ``rows [batch, notes, C]`` (dropout when
    ``rng`` is given); duration logits come masked (:func:`~dsjax.models.refine.masked_logits`)."""
    out = self.model.apply({'params': params}, *model_inputs(rows, self.attribute, self.bar_steps),
                           mask, deterministic=rng is None,
                           rngs=None if rng is None else {'dropout': rng})
    if self.attribute == 'duration':
      out = refine_lib.masked_logits(out, allowed_steps(rows, self.max_steps))
    return out

  def predict(self, params, rows, mask):
    """Per-note predictions ``[batch, notes]``: durations in steps (int) or velocities (float)."""
    out = self.outputs(params, rows, mask)
    if self.attribute == 'duration':
      return refine_lib.categorical_median(out)
    return refine_lib.velocity_from_output(out)

  def losses(self, out, rows):
    """Per-note training loss ``[batch, notes]``: the duration's NLL (nats) or the velocity's
    Huber loss (in units of the regression target)."""
    if self.attribute == 'duration':
      target = rows[..., COL['duration']].astype(jnp.int32) - 1
      logp = jax.nn.log_softmax(out, -1)
      return -jnp.take_along_axis(logp, target[..., None], -1)[..., 0]
    target = refine_lib.velocity_to_target(rows[..., COL['velocity']])
    delta = self.huber_delta / refine_lib.VELOCITY_SCALE
    return optax.huber_loss(out[..., 0], target, delta=delta) / delta

  # -- steps --------------------------------------------------------------------------------
  def train_step(self, state, batch, rng):
    rows, mask = batch['inputs'], batch['mask']
    count = jnp.maximum(mask.sum(), 1.0)

    def loss_fn(params):
      out = self.outputs(params, rows, mask, rng)
      return (self.losses(out, rows) * mask).sum() / count, out

    (loss, out), grads = jax.value_and_grad(loss_fn, has_aux=True)(state['params'])
    state, grad_norm = update_train_state(state, grads, self.tx)
    pred = (refine_lib.categorical_median(out) if self.attribute == 'duration'
            else refine_lib.velocity_from_output(out))
    err = jnp.abs(pred - rows[..., COL[self.attribute]]) * (
        self.grid_step if self.attribute == 'duration' else 1.0)
    return state, {'loss': loss, 'mae': (err * mask).sum() / count, 'grad_norm': grad_norm}

  def eval_step(self, state, batch):
    rows, mask = batch['inputs'], batch['mask']
    out = self.outputs(self.eval_params(state), rows, mask)
    sums = {'notes': mask.sum(), 'loss_sum': (self.losses(out, rows) * mask).sum()}
    if self.attribute == 'velocity':
      true = rows[..., COL['velocity']]
      pred = refine_lib.velocity_from_output(out)
      sums['err_sum'] = (jnp.abs(pred - true) * mask).sum()
      sums['err_piece_mean_sum'] = (jnp.abs(rows[..., COL['piece_mean_velocity']] - true)
                                    * mask).sum()
      return sums
    true = rows[..., COL['true_duration']]   # not cut at max_steps: long notes count in full
    legato = jnp.clip(rows[..., COL['next_onset']], 1, allowed_steps(rows, self.max_steps))
    guesses = {'': refine_lib.categorical_median(out).astype(jnp.float32),
               '_one_step': jnp.ones_like(true), '_piece_median':
               rows[..., COL['piece_median_duration']], '_legato': legato}
    for name, pred in guesses.items():
      sums[f'err{name}_sum'] = (jnp.abs(pred - true) * mask).sum()
      overlap = jnp.minimum(pred, true) / jnp.maximum(jnp.maximum(pred, true), 1e-6)
      sums[f'iou{name}_sum'] = (overlap * mask).sum()
    sums['right_sum'] = ((guesses[''] == true) * mask).sum()
    return sums

  def eval_summary(self, sums):
    n = max(sums['notes'], 1.0)
    if self.attribute == 'velocity':
      return {'loss': sums['loss_sum'] / n, 'mae': sums['err_sum'] / n,
              'mae_piece_mean': sums['err_piece_mean_sum'] / n, 'notes': sums['notes']}
    out = {'nll': sums['loss_sum'] / n, 'accuracy': sums['right_sum'] / n, 'notes': sums['notes']}
    for name in ('', '_one_step', '_piece_median', '_legato'):
      out[f'mae{name}'] = sums[f'err{name}_sum'] / n * self.grid_step     # beats
      out[f'iou{name}'] = sums[f'iou{name}_sum'] / n
    return out

  def eval_figures(self, state):
    """``refined``: the opening (8 bars) of the first held-out piece, as the refiner gets it,
    refined, and as it is."""
    split = next((s for s in ('valid', 'test', 'train_eval') if s in self.sets
                  and len(self.sets[s])), None)
    if split is None:
      return {}
    rows = np.asarray(self.sets[split][0])
    rows = rows[rows[:, COL['onset']] < rows[0, COL['onset']] + 8 * self.bar_steps]
    if not hasattr(self, '_predict_jit'):
      self._predict_jit = jax.jit(self.predict)
    pred = np.asarray(self._predict_jit(self.eval_params(state), jnp.asarray(rows[None]),
                                        jnp.ones((1, len(rows)))))[0]
    return {'refined': example_figure(rows, pred, self.attribute, self.grid_step,
                                      self.bar_steps, title=self.sets[split].names[0])}

  def learning_rates(self, step):
    return {'lr': float(self.schedule(step))}


# -- pictures -------------------------------------------------------------------------------


def rows_roll(rows: np.ndarray, durations, velocities=None) -> np.ndarray:
  """A ``float32 [steps, 128]`` roll of note rows from their first onset: each note sounds
  ``durations`` steps, at ``velocities / 127`` (1 without)."""
  onset = rows[:, COL['onset']].astype(np.int64)
  onset = onset - (onset.min() if len(onset) else 0)
  dur = np.maximum(np.asarray(durations, np.int64), 1)
  roll = np.zeros((int((onset + dur).max(initial=1)), 128), np.float32)
  level = np.ones(len(rows)) if velocities is None else np.asarray(velocities) / 127.0
  for o, d, p, v in zip(onset, dur, rows[:, COL['pitch']].astype(np.int64), level):
    roll[o:o + d, p] = np.maximum(roll[o:o + d, p], v)
  return roll


def example_figure(rows: np.ndarray, pred: np.ndarray, attribute: str, grid_step: float,
                   bar_steps: int, title: str = '') -> np.ndarray:
  """Three labelled rolls, top to bottom: the input (quantised: one step per note; or velocity 80),
  refined, true. Velocities are drawn as shades (darker = louder)."""
  from dsjax import viz
  dur = rows[:, COL['duration']]
  if attribute == 'duration':
    rolls = [rows_roll(rows, np.ones(len(rows))), rows_roll(rows, pred), rows_roll(rows, dur)]
  else:
    vel = rows[:, COL['velocity']]
    rolls = [rows_roll(rows, dur, np.full(len(rows), 80.0)), rows_roll(rows, dur, pred),
             rows_roll(rows, dur, vel)]
  return viz.pianoroll_figure(
      rolls, sample_titles=[f'input ({"one step a note" if attribute == "duration" else "80"})',
                            f'refined {PLURAL[attribute]}', f'true {PLURAL[attribute]}'],
      frames_per_beat=1.0 / grid_step, beats_per_bar=max(1, round(bar_steps * grid_step)),
      title=title or None)


# -- the trained refiner ------------------------------------------------------------------------


class Refiner:
  """A trained refiner (:func:`load_refiner`): ``refine(pieces) -> pieces`` with one attribute
  (``self.attribute``: ``'duration'`` or ``'velocity'``) predicted for every non-drum note; every
  onset, pitch and other field is kept as it is.

  Durations: a note ends ``d`` grid steps after its own onset (in beats through the piece's tempo
  map), never after the next onset of the same pitch. Velocities: rounded to 1..127.
  """

  def __init__(self, task: RefineTask, params, step: int, workdir: str):
    self.task, self.params, self.step, self.workdir = task, params, int(step), workdir
    self.attribute = task.attribute
    self.grid_step, self.bar_steps, self.max_steps = (task.grid_step, task.bar_steps,
                                                      task.max_steps)
    self._predict = jax.jit(task.predict)

  def predict_rows(self, rows: np.ndarray) -> np.ndarray:
    """Predictions ``[N]`` for one piece's rows ``[N, C]`` (padded to a few lengths, so a handful
    of shapes compile)."""
    n = len(rows)
    width = bucket_length(max(n, 1))
    padded = np.zeros((1, width, rows.shape[1]), np.float32)
    padded[0, :n] = rows
    mask = (np.arange(width) < n).astype(np.float32)[None]
    return np.asarray(self._predict(self.params, jnp.asarray(padded), jnp.asarray(mask)))[0, :n]

  def refined_notes(self, piece: Piece) -> np.ndarray:
    """``piece.notes`` (in their order, sorted or not) with the attribute predicted."""
    rows, index = note_rows(piece, self.grid_step, self.bar_steps, self.max_steps)
    notes = piece.notes.copy()
    if len(index):
      pred = self.predict_rows(rows)
      if self.attribute == 'velocity':
        notes['velocity'][index] = np.clip(np.round(pred), 1, 127).astype(np.int16)
      else:
        start = notes['start'][index]
        end = piece.beats_to_seconds(piece.seconds_to_beats(start) + pred * self.grid_step)
        notes['end'][index] = np.minimum(end, _next_same_start(notes[index]))
    return notes

  def refine(self, pieces: Sequence[Piece]) -> list[Piece]:
    """Each piece with its notes' durations or velocities predicted (see the class docstring)."""
    return [p.with_notes(self.refined_notes(p)) for p in pieces]

  def refine_midi(self, in_path: str, out_path: str) -> tuple[Piece, Piece]:
    """Refines a MIDI file into ``out_path``, editing only the refined attribute of its notes:
    the file's tempo map, resolution, instruments, controllers and every onset tick stay as they
    are. Returns the pieces ``(before, after)``. A bad file raises ``MidiLoadError``."""
    import warnings
    import pretty_midi
    from dsjax.data import midi_io
    from dsjax.data.notes import NOTE_DTYPE
    piece = midi_io.load_midi(in_path)           # checks the file; its tempo map
    with warnings.catch_warnings():
      warnings.simplefilter('ignore')
      pm = pretty_midi.PrettyMIDI(in_path)
    where = [(i, j) for i, inst in enumerate(pm.instruments) for j in range(len(inst.notes))]
    notes = np.zeros(len(where), NOTE_DTYPE)
    for k, (i, j) in enumerate(where):
      inst, n = pm.instruments[i], pm.instruments[i].notes[j]
      notes[k] = (n.pitch, n.start, n.end, n.velocity, inst.program, inst.is_drum, i)
    before = Piece(piece.name, notes, piece.tempo_times, piece.tempo_qpm)
    after = self.refined_notes(before)
    for k, (i, j) in enumerate(where):
      n = pm.instruments[i].notes[j]
      n.end, n.velocity = float(after['end'][k]), int(after['velocity'][k])
    pm.write(out_path)
    _copy_tempi(in_path, out_path)
    return before.with_notes(notes), before.with_notes(after)


def _tempo_events(mid) -> tuple[np.ndarray, np.ndarray]:
  """``(ticks, microseconds per beat)`` of a mido file's tempo events, in time order."""
  ticks, tempi = [], []
  for track in mid.tracks:
    t = 0
    for msg in track:
      t += msg.time
      if msg.type == 'set_tempo':
        ticks.append(t)
        tempi.append(msg.tempo)
  order = np.argsort(ticks, kind='stable')
  return np.asarray(ticks, np.int64)[order], np.asarray(tempi, np.int64)[order]


def _copy_tempi(in_path: str, out_path: str) -> None:
  """Sets every tempo event of ``out_path`` (written by pretty_midi from ``in_path``'s tempo map)
  to the tempo ``in_path`` has at its tick: pretty_midi writes ``int(6e7 / qpm)`` of a qpm it
  computed from the file's own tempo, which can come out one microsecond short, and every time
  after it would move."""
  import mido
  ticks, tempi = _tempo_events(mido.MidiFile(in_path))
  if not len(ticks):
    return
  out = mido.MidiFile(out_path)
  for track in out.tracks:
    t = 0
    for i, msg in enumerate(track):
      t += msg.time
      if msg.type == 'set_tempo':
        k = max(int(np.searchsorted(ticks, t, side='right')) - 1, 0)
        track[i] = msg.copy(tempo=int(tempi[k]))
  out.save(out_path)


def _next_same_start(notes: np.ndarray) -> np.ndarray:
  """For each note, the start (seconds) of the next note of its pitch that starts later (inf if
  none)."""
  out = np.full(len(notes), np.inf)
  for p in np.unique(notes['pitch']):
    sel = np.flatnonzero(notes['pitch'] == p)
    starts = np.sort(notes['start'][sel])
    j = np.searchsorted(starts, notes['start'][sel], side='right')
    out[sel] = np.where(j < len(starts), starts[np.minimum(j, len(starts) - 1)], np.inf)
  return out


def load_refiner(workdir: str, best: bool = False) -> Refiner:
  """The refiner trained in ``workdir`` (its latest checkpoint, or with ``best`` the best one).
  A workdir of another task is a one-line ``ValueError``; a missing one ``FileNotFoundError``."""
  from dsjax.train import loop
  config = loop.load_config(workdir)
  if config.task != 'refine':
    raise ValueError(f'{workdir}: a {config.task!r} run, not a refiner (train '
                     'configs/refine_duration.py or configs/refine_velocity.py)')
  _, trainer, state, step = loop.restore_for_inference(workdir, best=best)
  return Refiner(trainer.task, trainer.task.eval_params(state), step, workdir)


def piece_roll(piece: Piece, grid_step: float, bar_steps: int, velocity_shades: bool = False,
               bars: int = 0) -> np.ndarray:
  """A ``float32 [steps, 128]`` roll of a piece's non-drum notes on the grid of ``grid_step``
  beats (from its first onset; the first ``bars`` bars, 0 = all), for pictures; with
  ``velocity_shades`` each note at ``velocity / 127``."""
  rows, _ = note_rows(piece, grid_step, bar_steps, 1)
  if bars and len(rows):
    rows = rows[rows[:, COL['onset']] < rows[0, COL['onset']] + bars * bar_steps]
  dur = np.maximum(np.round(rows[:, COL['in_duration']]), 1)
  return rows_roll(rows, dur, rows[:, COL['velocity']] if velocity_shades else None)
