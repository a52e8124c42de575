"""The batch pipeline: random training windows, padded evaluation batches, augmentation on the fly.

Everything reads a :class:`~dsjax.data.notes.SequenceSet` (``values [total, *feature]`` plus
``offsets``): event ids (``feature = ()``) or piano rolls (``feature = (keys,)``).

Training (:class:`WindowSampler`) follows the log's trainers (original §2.5): pick a piece, then a
start, draw with replacement, no epochs. Batch ``i`` is a pure function of ``(seed, i)``, so the
sampler's whole state is ``{'step': i, 'seed': seed}`` and a resumed run sees exactly the batches of
an uninterrupted one. Every process draws the choices of the *global* batch (a few integers) and
keeps its own rows, so the local batches of all processes, concatenated by process index, are the
global batch of a single-process run.

Evaluation (:func:`eval_batches`) walks whole sequences in order, padded and masked, with fixed
shapes, so that every predicted item of every sequence is counted exactly once.

Fixes against the original: starts are uniform over all ``len - L`` valid positions (the
original drew from ``[0, len - L - 1)``, never using the last window); pieces shorter than a window
are padded and masked (or skipped) instead of failing.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import weakref
from typing import Callable, Iterator

import numpy as np

from dsjax.data.notes import SequenceSet

# augment(rng, values [n, time, *feature], piece_ids [n]) -> values of the same shape and dtype.
Augment = Callable[[np.random.Generator, np.ndarray, np.ndarray], np.ndarray]

_STREAM_WINDOWS = 0
_STREAM_AUGMENT = 1  # per example: index = position in the global batch
_STREAM_AUGMENT_BATCH = 2


def _rng(seed: int, step: int, stream: int, index: int = 0) -> np.random.Generator:
  """Independent generator for ``(seed, step, stream, index)`` (SeedSequence spawn keys)."""
  return np.random.Generator(np.random.PCG64(
      np.random.SeedSequence(seed, spawn_key=(step, stream, index))))


def _check_pad_value(pad_value, dtype: np.dtype):
  cast = np.asarray(pad_value).astype(dtype)
  if cast != pad_value:
    raise ValueError(f'pad_value={pad_value!r} does not fit the values dtype {dtype}')
  return cast


def _check_hosts(batch_size: int, process_index: int, process_count: int) -> int:
  if process_count < 1 or not 0 <= process_index < process_count:
    raise ValueError(f'process_index={process_index} outside [0, process_count={process_count})')
  if batch_size < 1 or batch_size % process_count:
    raise ValueError(f'global batch size {batch_size} must be a positive multiple of '
                     f'process_count={process_count}')
  return batch_size // process_count


def _gather(values: np.ndarray, first: np.ndarray, n_valid: np.ndarray, width: int,
            pad_value) -> tuple[np.ndarray, np.ndarray]:
  """One fancy index into ``values``: rows ``values[first[b] : first[b] + width]``.

  Positions ``>= n_valid[b]`` are set to ``pad_value``. Returns ``(windows [n, width, *feature],
  valid [n, width] bool)``.
  """
  pos = np.arange(width, dtype=np.int64)
  valid = pos[None, :] < n_valid[:, None]
  idx = first[:, None] + pos[None, :]
  padded = not valid.all()
  if padded:
    idx = np.where(valid, idx, 0)
  windows = values[idx]
  if padded:
    windows[~valid] = pad_value
  return windows, valid


def _split_window(windows: np.ndarray, valid: np.ndarray, shifted: bool) -> dict[str, np.ndarray]:
  if shifted:
    inputs = np.ascontiguousarray(windows[:, :-1])
    targets = np.ascontiguousarray(windows[:, 1:])
    mask = valid[:, 1:]
  else:
    inputs = targets = windows
    mask = valid
  return dict(inputs=inputs, targets=targets, mask=mask.astype(np.float32))


# ------------------------------------------------------------------------------------------------
# Augmentation: transposition of event ids and of piano rolls.


def shifts_from_uniform(u: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
  """Maps ``u [n]`` uniform in ``[0, 1)`` to integers uniform over ``[lo, hi]`` (per example)."""
  lo, hi = np.asarray(lo, np.int64), np.asarray(hi, np.int64)
  return np.minimum(lo + np.floor(np.asarray(u) * (hi - lo + 1)).astype(np.int64), hi)


def _event_pitches(ids: np.ndarray, note_on_offset: int, note_off_offset: int, num_pitches: int):
  """Returns ``(is_note, pitch)`` for event ids of any shape (pitch is -1 off notes)."""
  is_on = (ids >= note_on_offset) & (ids < note_on_offset + num_pitches)
  is_off = (ids >= note_off_offset) & (ids < note_off_offset + num_pitches)
  pitch = np.where(is_on, ids - note_on_offset, np.where(is_off, ids - note_off_offset, -1))
  return is_on | is_off, pitch


def event_shift_bounds(ids: np.ndarray, max_shift: int, *, valid: np.ndarray | None = None,
                       note_on_offset: int = 0, note_off_offset: int = 128,
                       num_pitches: int = 128) -> tuple[np.ndarray, np.ndarray]:
  """Per example, the shifts in ``[-max_shift, max_shift]`` that keep every note on the keyboard.

  Args:
    ids: event ids ``[n, time]``.
    valid: ``[n, time]`` bool, positions to consider (default: all).
  Returns:
    ``(lo [n], hi [n])``, ``lo <= 0 <= hi``; a window without notes gets
    ``(-max_shift, max_shift)``.
  """
  ids = np.asarray(ids).reshape(len(ids), -1)
  is_note, pitch = _event_pitches(ids, note_on_offset, note_off_offset, num_pitches)
  if valid is not None:
    is_note &= np.asarray(valid).reshape(ids.shape)
  low = np.where(is_note, pitch, num_pitches).min(axis=1, initial=num_pitches)
  high = np.where(is_note, pitch, -1).max(axis=1, initial=-1)
  lo = np.where(high < 0, -max_shift, np.maximum(-max_shift, -low))
  hi = np.where(high < 0, max_shift, np.minimum(max_shift, num_pitches - 1 - high))
  return lo.astype(np.int64), hi.astype(np.int64)


def transpose_event_ids(ids: np.ndarray, shifts, *, valid: np.ndarray | None = None,
                        note_on_offset: int = 0, note_off_offset: int = 128,
                        num_pitches: int = 128) -> np.ndarray:
  """Transposes note-on and note-off ids by ``shifts`` semitones; other ids are left alone.

  Args:
    ids: event ids ``[n, time]`` (or ``[time]`` with a scalar shift).
    shifts: ``[n]`` or a scalar, semitones.
    valid: ``[n, time]`` bool, positions to transpose (default: all); others are left alone.
  Returns:
    ids of the same shape and dtype; raises ``ValueError`` if a note would leave the keyboard.
  """
  ids = np.asarray(ids)
  shifts = np.asarray(shifts, np.int64)
  if ids.ndim and shifts.ndim:
    shifts = shifts.reshape(shifts.shape + (1,) * (ids.ndim - shifts.ndim))
  is_note, pitch = _event_pitches(ids, note_on_offset, note_off_offset, num_pitches)
  if valid is not None:
    is_note &= np.asarray(valid)
  moved = pitch + shifts
  if np.any(is_note & ((moved < 0) | (moved >= num_pitches))):
    raise ValueError(f'transposition by {shifts.ravel().tolist()} moves a note off the '
                     f'{num_pitches}-key range')
  return np.where(is_note, ids + shifts, ids).astype(ids.dtype)


def _keys_sounding(rolls: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
  """``rolls [n, time, ..., keys]`` (keys last) -> ``[n, keys]`` bool: sounds at a valid step."""
  n, t, keys = len(rolls), rolls.shape[1], rolls.shape[-1]
  nonzero = rolls.reshape(n, t, -1, keys) != 0
  if valid is not None:
    nonzero &= np.asarray(valid).reshape(n, t, 1, 1)
  return nonzero.any(axis=(1, 2))


def roll_shift_bounds(rolls: np.ndarray, max_shift: int, pitch_axis: int = -1, *,
                      valid: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
  """Per example, the shifts in ``[-max_shift, max_shift]`` that keep every sounding key on
  the roll.

  Args:
    rolls: ``[n, time, ..., keys, ...]``; a key sounds where any value along it is nonzero.
    valid: ``[n, time]`` bool, time steps to consider (default: all).
  Returns:
    ``(lo [n], hi [n])``; an empty window gets ``(-max_shift, max_shift)``.
  """
  rolls = np.moveaxis(np.asarray(rolls), pitch_axis, -1)
  keys = rolls.shape[-1]
  sounding = _keys_sounding(rolls, valid)
  any_note = sounding.any(axis=1)
  low = np.argmax(sounding, axis=1)
  high = keys - 1 - np.argmax(sounding[:, ::-1], axis=1)
  lo = np.where(any_note, np.maximum(-max_shift, -low), -max_shift)
  hi = np.where(any_note, np.minimum(max_shift, keys - 1 - high), max_shift)
  return lo.astype(np.int64), hi.astype(np.int64)


def transpose_roll(rolls: np.ndarray, shifts, pitch_axis: int = -1, *,
                   valid: np.ndarray | None = None) -> np.ndarray:
  """Moves each example's roll ``shifts[b]`` keys up (negative: down); vacated keys become 0.

  Args:
    rolls: ``[n, time, ..., keys, ...]``.
    shifts: ``[n]`` semitones.
    valid: ``[n, time]`` bool, the steps whose sounding keys must stay on the roll (default: all);
      the others move too but may lose keys.
  Returns:
    rolls of the same shape and dtype; raises ``ValueError`` if a sounding key would fall off.
  """
  rolls = np.asarray(rolls)
  shifts = np.broadcast_to(np.asarray(shifts, np.int64), (len(rolls),))
  moved = np.moveaxis(rolls, pitch_axis, -1)
  keys = moved.shape[-1]
  flat = moved.reshape(len(rolls), -1, keys)
  sounding = _keys_sounding(moved, valid)
  src = np.arange(keys)[None, :] - shifts[:, None]  # [n, keys]: output key k reads key k - s
  inside = (src >= 0) & (src < keys)
  src = np.clip(src, 0, keys - 1)
  kept = np.take_along_axis(sounding, src, axis=1) & inside
  if np.any(kept.sum(axis=1) != sounding.sum(axis=1)):
    raise ValueError(f'transposition by {shifts.tolist()} moves a sounding key off the '
                     f'{keys}-key roll')
  out = np.zeros_like(flat)
  for shift in np.unique(shifts):  # at most 2 * max_shift + 1 slice copies
    sel = shifts == shift
    if shift >= 0:
      out[sel, :, shift:] = flat[sel, :, :keys - shift]
    else:
      out[sel, :, :shift] = flat[sel, :, -shift:]
  return np.moveaxis(out.reshape(moved.shape), -1, pitch_axis)


@dataclasses.dataclass(frozen=True)
class EventTransposition:
  """Augmentation: transpose each window by a shift uniform over ``[-max_shift, max_shift]``,
  restricted to the shifts that keep its notes in ``[0, num_pitches)``.

  Only note-on ids ``[note_on_offset, +num_pitches)`` and note-off ids ``[note_off_offset,
  +num_pitches)`` move, each within its own range; time shifts and velocities are untouched.
  The defaults are the log's layout (note-on 0..127, note-off 128..255).
  """
  max_shift: int = 6
  note_on_offset: int = 0
  note_off_offset: int = 128
  num_pitches: int = 128

  def __post_init__(self):
    if self.max_shift < 0 or self.num_pitches < 1:
      raise ValueError(f'bad EventTransposition({self})')
    if abs(self.note_on_offset - self.note_off_offset) < self.num_pitches:
      raise ValueError(f'note-on ids [{self.note_on_offset}, +{self.num_pitches}) and note-off ids '
                       f'[{self.note_off_offset}, +{self.num_pitches}) overlap')

  def _layout(self):
    return dict(note_on_offset=self.note_on_offset, note_off_offset=self.note_off_offset,
                num_pitches=self.num_pitches)

  def __call__(self, rng: np.random.Generator, values: np.ndarray,
               piece_ids: np.ndarray) -> np.ndarray:
    """``values [n, time]`` event ids -> transposed ids, one random shift per example."""
    del piece_ids
    return self.apply_batch(rng.random(len(values)), values)

  def apply_batch(self, u: np.ndarray, values: np.ndarray,
                  valid: np.ndarray | None = None) -> np.ndarray:
    """Vectorised form: ``u [n]`` uniform in [0, 1) picks each shift; ``valid [n, time]``."""
    lo, hi = event_shift_bounds(values, self.max_shift, valid=valid, **self._layout())
    return transpose_event_ids(values, shifts_from_uniform(u, lo, hi), valid=valid,
                               **self._layout())


@dataclasses.dataclass(frozen=True)
class RollTransposition:
  """Augmentation: move each piano-roll window along its pitch axis by a shift uniform over
  ``[-max_shift, max_shift]``, restricted to the shifts that keep every sounding key on the roll.

  ``pitch_axis`` indexes ``values [n, time, *feature]`` (default: the last axis).
  """
  max_shift: int = 6
  pitch_axis: int = -1

  def __post_init__(self):
    if self.max_shift < 0:
      raise ValueError(f'bad RollTransposition({self})')
    if 0 <= self.pitch_axis < 2:
      raise ValueError(f'pitch_axis={self.pitch_axis} is the batch or time axis')

  def __call__(self, rng: np.random.Generator, values: np.ndarray,
               piece_ids: np.ndarray) -> np.ndarray:
    """``values [n, time, ..., keys]`` -> transposed rolls, one random shift per example."""
    del piece_ids
    return self.apply_batch(rng.random(len(values)), values)

  def apply_batch(self, u: np.ndarray, values: np.ndarray,
                  valid: np.ndarray | None = None) -> np.ndarray:
    """Vectorised form: ``u [n]`` uniform in [0, 1) picks each shift; ``valid [n, time]`` marks
    the steps whose notes must stay on the keys (padding may be moved: the sampler refills it)."""
    lo, hi = roll_shift_bounds(values, self.max_shift, self.pitch_axis, valid=valid)
    return transpose_roll(values, shifts_from_uniform(u, lo, hi), self.pitch_axis, valid=valid)


# ------------------------------------------------------------------------------------------------
# Training windows.


class WindowSampler:
  """Fixed-length random windows, drawn with replacement; batch ``i`` = f(seed, i).

  Each example: a piece (uniformly, or with probability proportional to its length), then a start
  uniform over the valid positions. With ``shifted=True`` (language models) a window holds
  ``window_len + 1`` items, ``inputs = window[:-1]`` and ``targets = window[1:]``; with
  ``shifted=False`` (autoencoders, GANs) a window holds ``window_len`` items and ``inputs`` and
  ``targets`` are the same array.

  Pieces shorter than a window are padded with ``pad_value`` and masked (``short='pad'``) or never
  drawn (``short='skip'``); pieces with nothing to predict (fewer than 2 items when shifted, empty
  otherwise) are never drawn.

  A batch is ``dict(inputs [B, L, *feature], targets [B, L, *feature], mask [B, L] float32)``
  (``B`` the local batch), plus ``piece_ids [B] int64`` and ``starts [B] int64`` (index of
  ``window[0]`` in its piece) with ``with_info=True``.

  Augmentation: ``augment(rng, values [1, n, *feature], piece_ids [1]) -> values`` is called once
  per example on its unpadded window (``n`` valid items), with a generator that depends only on
  ``(seed, step, index of the example in the global batch)``: results do not depend on the process
  layout. An augmentation that also has ``apply_batch(u [B], values [B, width, *feature],
  valid [B, width]) -> values`` (the built-ins :class:`EventTransposition` and
  :class:`RollTransposition`) is called once per batch instead, with ``u`` uniform in [0, 1), one
  per example, drawn from ``(seed, step)`` in global-batch order (also layout independent). Padded
  positions are reset to ``pad_value`` afterwards.

  State: ``state() -> {'step', 'seed'}``, ``restore(state)``. ``prefetch > 0`` computes the next
  batches in a background thread; results and state are the same as without it.
  """

  def __init__(self, seqset: SequenceSet, window_len: int, batch_size: int, *, seed: int = 0,
               shifted: bool = True, piece_weighting: str = 'uniform', short: str = 'pad',
               pad_value=0, augment: Augment | None = None, process_index: int = 0,
               process_count: int = 1, prefetch: int = 0, with_info: bool = False):
    if not isinstance(seqset, SequenceSet):
      raise TypeError(f'WindowSampler needs a SequenceSet, got {type(seqset).__name__}')
    if window_len < 1:
      raise ValueError(f'window_len={window_len} must be >= 1')
    if piece_weighting not in ('uniform', 'length'):
      raise ValueError(f"piece_weighting={piece_weighting!r}: use 'uniform' or 'length'")
    if short not in ('pad', 'skip'):
      raise ValueError(f"short={short!r}: use 'pad' or 'skip'")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
      raise ValueError(f'seed={seed!r} must be a non-negative integer')
    self.seqset = seqset
    self.window_len = int(window_len)
    self.batch_size = int(batch_size)
    self.local_batch_size = _check_hosts(self.batch_size, process_index, process_count)
    self.seed = int(seed)
    self.shifted = bool(shifted)
    self.piece_weighting = piece_weighting
    self.short = short
    self.pad_value = _check_pad_value(pad_value, seqset.values.dtype)
    self.augment = augment
    self.process_index = int(process_index)
    self.process_count = int(process_count)
    self.prefetch = int(prefetch)
    self.with_info = bool(with_info)
    self.width = self.window_len + 1 if self.shifted else self.window_len  # items per window

    lengths = seqset.lengths
    min_len = self.width if short == 'skip' else (2 if self.shifted else 1)
    self.pieces = np.flatnonzero(lengths >= min_len).astype(np.int64)  # drawable piece ids
    if not len(self.pieces):
      raise ValueError(
          f'no piece of the {len(seqset)} sequences (longest: '
          f'{int(lengths.max(initial=0))} items) has the {min_len} items needed for '
          f'window_len={window_len}, shifted={shifted}, short={short!r}')
    self._lengths = lengths[self.pieces]
    self._num_starts = np.maximum(self._lengths - self.width, 0) + 1
    self._cdf = np.cumsum(self._lengths / self._lengths.sum())

    self.step = 0
    self._thread: threading.Thread | None = None
    self._queue: queue.Queue | None = None
    self._stop: threading.Event | None = None

  # -- the pure part -------------------------------------------------------------------------

  def draw(self, step: int) -> tuple[np.ndarray, np.ndarray]:
    """Piece ids ``[B]`` and starts ``[B]`` of this process's rows of global batch ``step``."""
    rng = _rng(self.seed, int(step), _STREAM_WINDOWS)
    if self.piece_weighting == 'uniform':
      choice = rng.integers(0, len(self.pieces), size=self.batch_size)
    else:
      choice = np.searchsorted(self._cdf, rng.random(self.batch_size), side='right')
      choice = np.minimum(choice, len(self.pieces) - 1)
    starts = rng.integers(0, self._num_starts[choice])
    rows = slice(self.process_index * self.local_batch_size,
                 (self.process_index + 1) * self.local_batch_size)
    return self.pieces[choice[rows]], starts[rows].astype(np.int64)

  def batch(self, step: int) -> dict[str, np.ndarray]:
    """Local batch ``step`` (a pure function of ``seed``, ``step`` and the process slice)."""
    piece_ids, starts = self.draw(step)
    lengths = self.seqset.lengths[piece_ids]
    n_valid = np.minimum(lengths - starts, self.width)
    windows, valid = _gather(self.seqset.values, self.seqset.offsets[piece_ids] + starts, n_valid,
                             self.width, self.pad_value)
    first = self.process_index * self.local_batch_size
    if hasattr(self.augment, 'apply_batch'):
      u = _rng(self.seed, int(step), _STREAM_AUGMENT_BATCH).random(self.batch_size)
      out = np.asarray(self.augment.apply_batch(u[first:first + len(windows)], windows, valid))
      if out.shape != windows.shape:
        raise ValueError(f'augment.apply_batch returned shape {out.shape} for {windows.shape}')
      windows = out.astype(windows.dtype, copy=not out.flags.writeable)
      if not valid.all():
        windows[~valid] = self.pad_value
    elif self.augment is not None:
      for b in range(len(windows)):
        n = int(n_valid[b])
        rng = _rng(self.seed, int(step), _STREAM_AUGMENT, first + b)
        out = np.asarray(self.augment(rng, windows[b:b + 1, :n], piece_ids[b:b + 1]))
        if out.shape != (1, n) + windows.shape[2:]:
          raise ValueError(f'augment returned shape {out.shape} for a window of shape '
                           f'{(1, n) + windows.shape[2:]}')
        windows[b, :n] = out[0]
    batch = _split_window(windows, valid, self.shifted)
    if self.with_info:
      batch.update(piece_ids=piece_ids, starts=starts)
    return batch

  # -- iteration and state -------------------------------------------------------------------

  def state(self) -> dict[str, int]:
    """What a checkpoint needs: the step of the next batch and the seed."""
    return {'step': int(self.step), 'seed': self.seed}

  def restore(self, state: dict) -> None:
    """Continues from ``state`` (from :meth:`state`); the next batch is batch ``state['step']``."""
    if 'step' not in state:
      raise KeyError(f"sampler state {state!r} has no 'step'")
    if 'seed' in state and int(state['seed']) != self.seed:
      raise ValueError(f"sampler state has seed {int(state['seed'])}, this sampler {self.seed}")
    self._stop_prefetch()
    self.step = int(state['step'])

  def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
    return self

  def __next__(self) -> dict[str, np.ndarray]:
    if self.prefetch > 0:
      if self._thread is None:
        self._start_prefetch()
      item = self._queue.get()
      if isinstance(item, BaseException):
        self._stop_prefetch()
        raise item
      step, batch = item
      assert step == self.step, (step, self.step)
    else:
      batch = self.batch(self.step)
    self.step += 1
    return batch

  def close(self) -> None:
    """Stops the prefetch thread (if any)."""
    self._stop_prefetch()

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()

  def __del__(self):
    try:
      self._stop_prefetch()
    except Exception:  # pylint: disable=broad-except
      pass

  def _start_prefetch(self):
    self._queue = queue.Queue(maxsize=self.prefetch)
    self._stop = threading.Event()
    # The thread holds the sampler weakly, so that dropping the sampler stops it.
    self._thread = threading.Thread(
        target=_produce, args=(weakref.ref(self), self.step, self._queue, self._stop),
        name='WindowSampler.prefetch', daemon=True)
    self._thread.start()

  def _stop_prefetch(self):
    if self._thread is not None:
      self._stop.set()
      if self._thread is not threading.current_thread():
        self._thread.join()
      self._thread = self._queue = self._stop = None


def _produce(sampler_ref, step: int, q: queue.Queue, stop: threading.Event):
  """Prefetch thread: puts ``(step, batch)`` for ``step, step + 1, ...`` (or an error) in ``q``."""
  while not stop.is_set():
    sampler = sampler_ref()
    if sampler is None:
      return
    try:
      item = (step, sampler.batch(step))
    except BaseException as e:  # pylint: disable=broad-except
      item = e
    del sampler
    while not stop.is_set():
      try:
        q.put(item, timeout=0.05)
        break
      except queue.Full:
        continue
    if isinstance(item, BaseException):
      return
    step += 1


# ------------------------------------------------------------------------------------------------
# Evaluation batches.


def eval_rows(seqset: SequenceSet, max_len: int | None = None, *, long: str = 'chunk',
              shifted: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
  """The rows :func:`eval_batches` yields, in order.

  Returns:
    ``(seq_ids [rows], starts [rows], predicted [rows], time)``: row ``r`` holds sequence
    ``seq_ids[r]`` from item ``starts[r]``, with ``predicted[r]`` masked-in time steps of ``time``.
  """
  if long not in ('chunk', 'truncate'):
    raise ValueError(f"long={long!r}: use 'chunk' or 'truncate'")
  lengths = seqset.lengths
  to_predict = np.maximum(lengths - 1, 0) if shifted else lengths
  if max_len is None:
    time = int(to_predict.max(initial=0))
    chunks = (to_predict > 0).astype(np.int64)
  else:
    if max_len < 1:
      raise ValueError(f'max_len={max_len} must be >= 1')
    time = int(max_len)
    chunks = -(-to_predict // time)
    if long == 'truncate':
      chunks = np.minimum(chunks, 1)
  seq_ids = np.repeat(np.arange(len(seqset), dtype=np.int64), chunks)
  first_row = np.concatenate([[0], np.cumsum(chunks)[:-1]]).astype(np.int64)
  chunk_index = np.arange(len(seq_ids), dtype=np.int64) - first_row[seq_ids]
  starts = chunk_index * time
  predicted = np.minimum(to_predict[seq_ids] - starts, time)
  return seq_ids, starts, predicted, time


def eval_batches(seqset: SequenceSet, batch_size: int, max_len: int | None = None, *,
                 long: str = 'chunk', shifted: bool = True, pad_value=0, process_index: int = 0,
                 process_count: int = 1) -> Iterator[dict[str, np.ndarray]]:
  """Whole sequences in order, padded and masked, with fixed shapes.

  With ``shifted=True`` a sequence of ``n`` items gives ``n - 1`` predictions (item ``t`` from items
  ``< t``, ``t = 1..n-1``): ``inputs = seq[:-1]``, ``targets = seq[1:]``. With ``shifted=False``
  ``inputs`` and ``targets`` are the sequence itself (``n`` masked-in steps).

  ``time`` is ``max_len`` if given, else the longest sequence's number of predictions. A longer
  sequence is either cut after its first ``max_len`` predictions (``long='truncate'``) or split
  into consecutive chunks (``long='chunk'``) that together predict every item exactly once. Each
  chunk is predicted independently, from its own first item, with no state carried over from the
  previous chunk: the model loses the earlier context at each chunk boundary, so a chunked NLL is
  slightly pessimistic compared with running the whole sequence (use ``max_len=None`` for the
  exact figure).

  Yields ``dict(inputs [B, time, *feature], targets [B, time, *feature], mask [B, time] float32,
  seq_ids [B] int64, starts [B] int64)`` with ``B = batch_size // process_count`` (this process's
  rows of each global batch). ``targets[b, t]`` is item ``starts[b] + t + 1`` of sequence
  ``seq_ids[b]`` (``+ 0`` unshifted). The last global batch is filled with empty rows
  (``seq_ids = -1``, ``mask = 0``), so every batch has the same shape. The sum of all masks is the
  number of predicted items.
  """
  if not isinstance(seqset, SequenceSet):
    raise TypeError(f'eval_batches needs a SequenceSet, got {type(seqset).__name__}')
  local = _check_hosts(batch_size, process_index, process_count)
  pad = _check_pad_value(pad_value, seqset.values.dtype)
  seq_ids, starts, predicted, time = eval_rows(seqset, max_len, long=long, shifted=shifted)
  if not len(seq_ids):
    raise ValueError(f'nothing to evaluate: {len(seqset)} sequences, none with an item to predict')
  num_batches = -(-len(seq_ids) // batch_size)
  extra = num_batches * batch_size - len(seq_ids)
  seq_ids = np.concatenate([seq_ids, np.full(extra, -1, np.int64)])
  starts = np.concatenate([starts, np.zeros(extra, np.int64)])
  predicted = np.concatenate([predicted, np.zeros(extra, np.int64)])
  width = time + 1 if shifted else time
  n_valid = np.where(seq_ids >= 0, predicted + (1 if shifted else 0), 0)
  first = np.where(seq_ids >= 0, seqset.offsets[np.maximum(seq_ids, 0)] + starts, 0)

  def batches():
    for i in range(num_batches):
      first_row = i * batch_size + process_index * local
      rows = slice(first_row, first_row + local)
      windows, valid = _gather(seqset.values, first[rows], n_valid[rows], width, pad)
      batch = _split_window(windows, valid, shifted)
      batch.update(seq_ids=seq_ids[rows], starts=starts[rows])
      yield batch

  return batches()  # arguments are checked now, batches built as they are consumed
