"""Random training windows of a :class:`~dsjax.data.notes.SequenceSet`: the :class:`WindowSampler`.

The sampler reads ``values [total, *feature]`` plus ``offsets``: event ids (``feature = ()``) or
piano rolls (``feature = (keys,)``), and yields fixed-shape batches of windows, optionally
augmented on the fly (:mod:`dsjax.data.augment`). Tasks build one per process through
:func:`dsjax.tasks.datasets.train_stream`; ``next(sampler)`` gives the next batch, and
``state()`` / ``restore(state)`` go into and out of checkpoints.

Training follows the log's trainers (original §2.5): pick a piece, then a start, draw with
replacement, no epochs. Batch ``i`` is a pure function of ``(seed, i)``, so the sampler's whole
state is ``{'step': i, 'seed': seed}`` and a resumed run sees exactly the batches of an
uninterrupted one. Every process draws the choices of the *global* batch (a few integers) and keeps
its own rows, so the local batches of all processes, concatenated by process index, are the global
batch of a single-process run.

The window gathering and argument checks here are shared with evaluation batching
(:mod:`dsjax.data.eval_batches`).

Fixes against the original: starts are uniform over all ``len - L`` valid positions (the
original drew from ``[0, len - L - 1)``, never using the last window); pieces shorter than a window
are padded and masked (or skipped) instead of failing.
"""

from __future__ import annotations

import queue
import threading
import weakref
from typing import Iterator

import numpy as np

from dsjax.data.augment import Augment
from dsjax.data.notes import SequenceSet

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
  valid [B, width]) -> values`` (the built-ins :class:`~dsjax.data.augment.EventTransposition` and
  :class:`~dsjax.data.augment.RollTransposition`) is called once per batch instead, with ``u``
  uniform in [0, 1), one per example, drawn from ``(seed, step)`` in global-batch order (also
  layout independent). Padded positions are reset to ``pad_value`` afterwards.

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
