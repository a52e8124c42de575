"""Evaluation batches: every sequence of a :class:`~dsjax.data.notes.SequenceSet`, padded, masked.

:func:`eval_batches` walks every sequence, padded and masked, so that every predicted item of
every sequence is counted exactly once; a sequence longer than ``max_len`` is cut into consecutive
chunks (:func:`eval_rows` lists the rows). Rows come in sequence order with one shape for all
batches, or with ``by_length`` longest first, each batch padded only to its own longest row
(rounded up to a few sizes, :func:`bucket_length`, so a jitted eval step compiles a handful of
shapes): the same rows, far less padding where lengths vary. Tasks build the batches of each
evaluation split through :func:`dsjax.tasks.datasets.eval_stream` and feed them whole to their eval
step, summing the masked losses.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from dsjax.data.notes import SequenceSet
from dsjax.data.windows import _check_hosts, _check_pad_value, _gather, _split_window


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


def bucket_length(n: int) -> int:
  """The smallest of 1..8, 10, 12, 14, 16, 20, 24, 28, 32, 40, ... (four sizes an octave) that
  is ``>= n``: a batch's time padded to it wastes under a quarter of its rows."""
  n = int(n)
  if n <= 8:
    return max(n, 0)
  unit = 1 << (n.bit_length() - 3)
  return -(-n // unit) * unit


def eval_batches(seqset: SequenceSet, batch_size: int, max_len: int | None = None, *,
                 long: str = 'chunk', shifted: bool = True, by_length: bool = False, pad_value=0,
                 process_index: int = 0, process_count: int = 1
                 ) -> Iterator[dict[str, np.ndarray]]:
  """Whole sequences, padded and masked.

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

  Rows come in sequence order, every batch ``time`` long. With ``by_length`` they come longest
  first (ties in sequence order), and a batch is ``bucket_length`` of its longest row long (at most
  ``time``): the same rows and masked-in items, so the summed losses are the same up to the order
  of float summation, with padding kept small when lengths vary.

  Yields ``dict(inputs [B, T, *feature], targets [B, T, *feature], mask [B, T] float32,
  seq_ids [B] int64, starts [B] int64)`` with ``B = batch_size // process_count`` (this process's
  rows of each global batch). ``targets[b, t]`` is item ``starts[b] + t + 1`` of sequence
  ``seq_ids[b]`` (``+ 0`` unshifted). The last global batch is filled with empty rows
  (``seq_ids = -1``, ``mask = 0``), so every batch has ``batch_size`` rows. The sum of all masks is
  the number of predicted items.
  """
  if not isinstance(seqset, SequenceSet):
    raise TypeError(f'eval_batches needs a SequenceSet, got {type(seqset).__name__}')
  local = _check_hosts(batch_size, process_index, process_count)
  pad = _check_pad_value(pad_value, seqset.values.dtype)
  seq_ids, starts, predicted, time = eval_rows(seqset, max_len, long=long, shifted=shifted)
  if not len(seq_ids):
    raise ValueError(f'nothing to evaluate: {len(seqset)} sequences, none with an item to predict')
  if by_length:
    order = np.argsort(-predicted, kind='stable')
    seq_ids, starts, predicted = seq_ids[order], starts[order], predicted[order]
  num_batches = -(-len(seq_ids) // batch_size)
  extra = num_batches * batch_size - len(seq_ids)
  seq_ids = np.concatenate([seq_ids, np.full(extra, -1, np.int64)])
  starts = np.concatenate([starts, np.zeros(extra, np.int64)])
  predicted = np.concatenate([predicted, np.zeros(extra, np.int64)])
  if by_length:
    longest = predicted.reshape(num_batches, batch_size).max(axis=1)
    times = [min(bucket_length(n), time) for n in longest]
  else:
    times = [time] * num_batches
  n_valid = np.where(seq_ids >= 0, predicted + (1 if shifted else 0), 0)
  first = np.where(seq_ids >= 0, seqset.offsets[np.maximum(seq_ids, 0)] + starts, 0)

  def batches():
    for i in range(num_batches):
      first_row = i * batch_size + process_index * local
      rows = slice(first_row, first_row + local)
      width = times[i] + 1 if shifted else times[i]
      windows, valid = _gather(seqset.values, first[rows], n_valid[rows], width, pad)
      batch = _split_window(windows, valid, shifted)
      batch.update(seq_ids=seq_ids[rows], starts=starts[rows])
      yield batch

  return batches()  # arguments are checked now, batches built as they are consumed
