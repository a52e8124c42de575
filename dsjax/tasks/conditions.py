"""Conditions of the event LM (the Hist-RNN family, log 10/16), one definition for training and
sampling alike.

``Condition(kind, tau, vocab)`` with ``kind`` one of :data:`CONDITIONS`:

* ``'none'``: the baseline.
* ``'hist'``: Hist-RNN. The 12-bin pitch-class histogram of the whole piece (note-ons) joined to
  every input step; the data pipeline gives it as ``batch['condition'] [B, 12]``
  (:func:`piece_histograms`).
* ``'patch_hist'``: Patch-Hist RNN. The histogram of the training window itself (the events the
  loss is taken over, plus the first input), computed from the batch's ids inside the step.
* ``'window_stats'``: the conditional stacked LSTM's per-step condition (original §3.5): for each
  target, over a 50-event window centred on it (shifted to stay inside the valid events), a one-hot
  mean-pitch bin [10], a one-hot note-density bin [10] and the pitch-class histogram [12].

Histograms are optionally sharpened as ``softmax(h / tau)`` with ``tau > 0`` (the log's
e^{h/0.03}; 0 = the normalised histogram as is). Only note-ons are counted (the original counted
note-ons and note-offs, which pair up). At sampling time the condition is a fixed vector per
sample (:meth:`Condition.of_events`, :meth:`Condition.of_key`): the statistics of a piece, a MIDI
file or a named key, turned into model inputs by :meth:`Condition.features` as in training.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from dsjax.data import events as events_lib
from dsjax.data import keys as keys_lib

CONDITIONS = ('none', 'hist', 'patch_hist', 'window_stats')
CONDITION_DIMS = {'none': 0, 'hist': 12, 'patch_hist': 12, 'window_stats': 32}
STATS_SPAN = 50          # events per window of the 'window_stats' condition (original §3.5)
PITCH_BINS = 10
DENSITY_BINS = 10


# ---------------------------------------------------------------------------------------------
# Statistics of event ids (jittable).


def _note_on_pitch(ids, note_on_offset: int):
  """``(is_note_on, pitch)`` of ids ``[...]`` (pitch 0 where not a note-on)."""
  pitch = ids.astype(jnp.int32) - note_on_offset
  on = (pitch >= 0) & (pitch < 128)
  return on, jnp.where(on, pitch, 0)


def pitch_class_counts(ids, valid, note_on_offset: int = 0):
  """Note-on counts per pitch class: ``ids [..., T]``, ``valid [..., T]`` -> ``float32 [..., 12]``."""
  on, pitch = _note_on_pitch(ids, note_on_offset)
  on = on & (valid > 0)
  return (jax.nn.one_hot(pitch % 12, 12) * on[..., None]).sum(-2)


def normalise(counts):
  """Counts ``[..., k]`` -> distributions; all zeros stay zeros (like ``keys.py``'s default)."""
  total = counts.sum(-1, keepdims=True)
  return jnp.where(total > 0, counts / jnp.where(total > 0, total, 1.0), 0.0)


def sharpen(hist, tau: float):
  """``softmax(hist / tau)`` over the last axis (``tau <= 0``: ``hist`` unchanged)."""
  if tau <= 0:
    return hist
  return jax.nn.softmax(hist / tau, axis=-1)


def window_ids(batch):
  """The training window ``[B, T + 1]`` of a shifted batch and its validity ``[B, T + 1]``.

  Item 0 (the first input) counts when its target does; the others when they are predicted.
  """
  mask = batch['mask'].astype(jnp.float32)
  ids = jnp.concatenate([batch['inputs'][:, :1], batch['targets']], axis=1)
  valid = jnp.concatenate([mask[:, :1], mask], axis=1)
  return ids, valid


def window_stats(ids, valid, note_on_offset: int = 0, span: int = STATS_SPAN):
  """The original's per-position condition ``[B, T, 32]`` of event ids ``[B, T]``.

  For position ``t`` the window holds ``span`` valid items centred on ``t`` (shifted to stay inside
  the row's valid prefix, or all of it when shorter). Columns: one-hot mean-pitch bin
  ``round((clip(mean / 10, 5, 9) - 5) / 4 * 9)`` (all zero without notes), one-hot density bin
  ``round((clip(10 * ons / span, 1, 2) - 1) * 9)``, normalised pitch-class histogram.
  """
  on, pitch = _note_on_pitch(ids, note_on_offset)
  on = (on & (valid > 0)).astype(jnp.float32)
  n = valid.sum(-1, keepdims=True).astype(jnp.int32)                      # [B, 1]
  pc = jax.nn.one_hot(pitch % 12, 12) * on[..., None]                     # [B, T, 12]
  per_item = jnp.concatenate([on[..., None], (pitch * on)[..., None], pc], -1)  # [B, T, 14]
  cum = jnp.concatenate([jnp.zeros_like(per_item[:, :1]), jnp.cumsum(per_item, 1)], 1)
  pos = jnp.arange(ids.shape[1])[None]
  start = jnp.clip(pos - span // 2, 0, jnp.maximum(n - span, 0))
  end = jnp.minimum(start + span, n)
  take = lambda i: jnp.take_along_axis(cum, i[..., None], axis=1)
  sums = take(end) - take(start)                                          # [B, T, 14]
  count, pitch_sum, hist = sums[..., 0], sums[..., 1], sums[..., 2:]
  mean = pitch_sum / jnp.maximum(count, 1.0)
  pitch_bin = jnp.round((jnp.clip(mean / 10.0, 5.0, 9.0) - 5.0) / 4.0 * (PITCH_BINS - 1))
  pitch_1h = jax.nn.one_hot(pitch_bin.astype(jnp.int32), PITCH_BINS) * (count > 0)[..., None]
  density = jnp.clip(count / span * 10.0, 1.0, 2.0)
  density_bin = jnp.round((density - 1.0) * (DENSITY_BINS - 1)).astype(jnp.int32)
  density_1h = jax.nn.one_hot(density_bin, DENSITY_BINS)
  return jnp.concatenate([pitch_1h, density_1h, normalise(hist)], -1)


# ---------------------------------------------------------------------------------------------
# Statistics of whole pieces and keys (host numpy).


def piece_histograms(seqs, vocab) -> np.ndarray:
  """Note-on pitch-class histogram of every whole sequence: ``float32 [len(seqs), 12]``
  (:func:`dsjax.data.keys.event_pitch_class_histogram` of each)."""
  if not len(seqs):
    return np.zeros((0, 12), np.float32)
  return np.stack([keys_lib.event_pitch_class_histogram(seqs[i], vocab)
                   for i in range(len(seqs))]).astype(np.float32)


def key_histogram(name: str) -> np.ndarray:
  """A histogram ``float32 [12]`` for a named key (``'C major'``, ``'d minor'``, ``'F#'``): the
  scale's pitch classes (keys.py ``SCALES``; natural minor), tonic weighted 2, normalised (the
  original's C-major prior ``norm([2,0,1,0,1,1,0,1,0,1,0,1])``)."""
  key = keys_lib.Key.from_name(name)
  hist = np.zeros(12)
  hist[keys_lib.scale_pitch_classes(key)] = 1.0
  hist[key.tonic] = 2.0
  return (hist / hist.sum()).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class Condition:
  """One condition kind with its sharpening ``tau`` over the events of ``vocab``."""
  kind: str = 'none'
  tau: float = 0.0
  vocab: events_lib.EventVocab = events_lib.EventVocab()

  def __post_init__(self):
    if self.kind not in CONDITIONS:
      raise ValueError(f'config.model.condition={self.kind!r}: expected one of {CONDITIONS}')

  @property
  def dim(self) -> int:
    return CONDITION_DIMS[self.kind]

  @property
  def note_on_offset(self) -> int:
    return self.vocab.note_on_offset

  def require(self, what: str) -> None:
    if self.kind == 'none':
      raise ValueError(f'{what}: this run has no condition (config.model.condition=\'none\'); '
                       f"train with condition 'hist', 'patch_hist' or 'window_stats'")

  def features(self, stats):
    """Raw statistics ``[..., C]`` -> model inputs (histograms sharpened by tau)."""
    stats = jnp.asarray(stats, jnp.float32)
    if self.kind in ('hist', 'patch_hist'):
      return sharpen(stats, self.tau)
    if self.kind == 'window_stats':
      return jnp.concatenate([stats[..., :20], sharpen(stats[..., 20:], self.tau)], -1)
    return stats

  def of_batch(self, batch):
    """The per-step model input ``[B, T, C]`` of a training or eval batch; None for 'none'."""
    if self.kind == 'none':
      return None
    b, t = batch['inputs'].shape[:2]
    if self.kind == 'hist':
      if 'condition' not in batch:
        raise KeyError("condition='hist' needs batch['condition'] [batch, 12] (piece histograms)")
      hist = batch['condition']
    elif self.kind == 'patch_hist':
      ids, valid = window_ids(batch)
      hist = normalise(pitch_class_counts(ids, valid, self.note_on_offset))
    else:
      ids, valid = window_ids(batch)
      return self.features(window_stats(ids, valid, self.note_on_offset)[:, 1:])
    return jnp.broadcast_to(self.features(hist)[:, None], (b, t, self.dim))

  def of_events(self, ids) -> np.ndarray:
    """Raw statistics ``[C]`` of one whole event-id sequence (as :func:`piece_histograms` for
    the histograms; one window over all of it for 'window_stats')."""
    self.require('condition_from_events')
    ids = np.asarray(ids).reshape(1, -1)
    if self.kind in ('hist', 'patch_hist'):
      return piece_histograms([ids[0]], self.vocab)[0]
    n = ids.shape[1]
    stats = window_stats(jnp.asarray(ids), jnp.ones((1, n)), self.note_on_offset, span=n)
    return np.asarray(stats[0, 0])

  def of_key(self, name: str) -> np.ndarray:
    """Raw statistics ``[C]`` for a named key (see :func:`key_histogram`); for 'window_stats'
    with the original generator's default bins (mean pitch 0, density 5)."""
    self.require(f'condition from key {name!r}')
    hist = key_histogram(name)
    if self.kind == 'window_stats':
      return np.concatenate([np.eye(PITCH_BINS)[0], np.eye(DENSITY_BINS)[5], hist]).astype(
          np.float32)
    return hist
