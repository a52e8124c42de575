"""Real-vs-fake statistics of piano rolls: what the log watched for GANs (mode collapse, density).

Every function takes binary rolls ``[batch, time, pitch]`` (or one roll ``[time, pitch]``), values
in {0, 1} (anything > 0.5 counts as sounding), and returns plain Python floats or numpy arrays.

* :func:`note_density`: sounding keys per frame, silent frames included.
* :func:`polyphony`: sounding keys per non-silent frame (how thick the chords are).
* :func:`silent_fraction`: fraction of frames with no key sounding.
* :func:`pitch_class_histogram_of_rolls`: the 12-bin pitch-class distribution of sounding cells.
* :func:`js_divergence`: the Jensen-Shannon divergence of two histograms, in nats (at most ln 2).
  The original code's "JS_divergence" was the symmetric KL 0.5 KL(P||Q) + 0.5 KL(Q||P), which is
  infinite whenever one histogram has an empty bin the other does not; this is the true JS.
* :func:`mean_pairwise_distance`: the diversity figure; 0 when every sample is the same roll
  (complete mode collapse).
* :func:`frame_change_rate`: how often a frame differs from the one before (0 for a held chord).
"""

from __future__ import annotations

import numpy as np


def _as_rolls(rolls) -> np.ndarray:
  """``[time, pitch]`` or ``[batch, time, pitch]`` -> bool ``[batch, time, pitch]``."""
  r = np.asarray(rolls)
  if r.ndim == 2:
    r = r[None]
  if r.ndim != 3:
    raise ValueError(f'rolls: expected [batch, time, pitch] or [time, pitch], got shape {r.shape}')
  return r > 0.5


def note_density(rolls) -> float:
  """Mean number of sounding keys per frame over all frames of ``rolls [batch, time, pitch]``."""
  r = _as_rolls(rolls)
  if r.shape[0] * r.shape[1] == 0:
    return 0.0
  return float(r.sum(-1).mean())


def polyphony(rolls) -> float:
  """Mean number of sounding keys per non-silent frame; 0.0 when every frame is silent."""
  counts = _as_rolls(rolls).sum(-1)
  sounding = counts > 0
  if not sounding.any():
    return 0.0
  return float(counts[sounding].mean())


def silent_fraction(rolls) -> float:
  """Fraction of frames in which no key sounds."""
  counts = _as_rolls(rolls).sum(-1)
  return float((counts == 0).mean()) if counts.size else 0.0


def pitch_class_histogram_of_rolls(rolls, lowest_pitch: int = 0) -> np.ndarray:
  """Normalised pitch-class histogram ``[12]`` (C = 0, C# = 1, ..., B = 11) of sounding cells.

  Column ``k`` of a roll is MIDI pitch ``lowest_pitch + k`` (21 for 88-key rolls). Every sounding
  cell (key x frame) counts once, so long notes weigh more, as they do to the ear. Rolls with no
  sounding cell give the uniform histogram (no pitch-class information).
  """
  r = _as_rolls(rolls)
  per_key = r.sum(axis=(0, 1)).astype(np.float64)                      # [pitch]
  classes = (int(lowest_pitch) + np.arange(r.shape[-1])) % 12
  hist = np.bincount(classes, weights=per_key, minlength=12)
  total = hist.sum()
  if total <= 0:
    return np.full(12, 1.0 / 12.0)
  return hist / total


def js_divergence(p, q, base: float | None = None) -> float:
  """Jensen-Shannon divergence ``0.5 KL(p || m) + 0.5 KL(q || m)``, ``m = (p + q) / 2``.

  ``p`` and ``q`` are non-negative weights of the same shape (normalised here). In nats by default
  (0 for identical histograms, ln 2 for disjoint supports); ``base=2`` gives bits (at most 1).
  Symmetric and always finite, unlike the symmetric KL the original code called "JS".
  """
  p = np.asarray(p, np.float64).ravel()
  q = np.asarray(q, np.float64).ravel()
  if p.shape != q.shape:
    raise ValueError(f'js_divergence: p and q differ in shape, {p.shape} vs {q.shape}')
  if (p < 0).any() or (q < 0).any() or p.sum() <= 0 or q.sum() <= 0:
    raise ValueError('js_divergence: p and q must be non-negative with a positive sum')
  p, q = p / p.sum(), q / q.sum()
  m = 0.5 * (p + q)

  def kl(a):
    nz = a > 0
    return float(np.sum(a[nz] * np.log(a[nz] / m[nz])))

  js = 0.5 * kl(p) + 0.5 * kl(q)
  js = max(js, 0.0)   # clip rounding below zero
  return js / np.log(base) if base else js


def mean_pairwise_distance(rolls) -> float:
  """Mean over pairs ``i < j`` of the fraction of cells where rolls ``i`` and ``j`` differ.

  ``rolls [batch, time, pitch]``. This is the normalised Hamming distance, averaged over all
  ``batch * (batch - 1) / 2`` pairs: 0 when every sample is the same roll (mode collapse). Sparse
  music gives small values, so compare with the same figure on real windows. Needs batch >= 2.
  """
  r = _as_rolls(rolls)
  r = r.reshape(r.shape[0], -1)
  n = r.shape[0]
  if n < 2:
    raise ValueError(f'mean_pairwise_distance: needs at least 2 rolls, got {n}')
  x = r.astype(np.float64)
  ones = x.sum(1)                                       # [n]
  common = x @ x.T                                      # cells on in both
  differ = ones[:, None] + ones[None, :] - 2.0 * common  # Hamming distances [n, n]
  iu = np.triu_indices(n, k=1)
  return float(differ[iu].mean() / x.shape[1])


def frame_change_rate(rolls) -> float:
  """Fraction of consecutive frame pairs ``(t, t + 1)`` that differ in any key, over all rolls
  ``[batch, time, pitch]`` (values > 0.5 are on): 0 for a chord (or silence) held for the whole
  window, which diversity across samples does not see."""
  r = np.asarray(rolls) > 0.5
  if r.ndim != 3:
    raise ValueError(f'rolls: expected [batch, time, pitch], got shape {r.shape}')
  if r.shape[1] < 2:
    return 0.0
  return float(np.any(r[:, 1:] != r[:, :-1], axis=-1).mean())
