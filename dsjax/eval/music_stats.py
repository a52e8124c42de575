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
* :func:`melody_line`: the highest sounding key of each frame (-1 for a silent frame);
  :func:`melody_interval_histogram` bins its frame-to-frame moves (:data:`MELODY_BINS`),
  :func:`melody_hold_rate` / :func:`melody_step_rate` say how often it holds or moves by step, and
  :func:`melody_js` is the JS divergence of two sets of rolls' interval histograms.
"""

from __future__ import annotations

import numpy as np

# The bins of :func:`melody_interval_histogram`: the move of the melody line from frame t to t + 1,
# in semitones, signed (up is +). A held or repeated top note is 'hold' (a roll without onsets
# cannot tell them apart); 'step' is 1 or 2 semitones, 'third' 3 or 4, 'fourth-fifth' 5 to 7,
# 'sixth-octave' 8 to 12, 'beyond-octave' 13 or more; 'exit' is a sounding frame followed by a
# silent one, 'entry' the reverse, 'rest' two silent frames.
MELODY_BINS = ('hold', 'step down', 'step up', 'third down', 'third up', 'fourth-fifth down',
               'fourth-fifth up', 'sixth-octave down', 'sixth-octave up', 'beyond-octave down',
               'beyond-octave up', 'exit', 'entry', 'rest')
# Upper bounds of |interval| of the sized bins (hold, step, third, fourth-fifth, sixth-octave);
# larger intervals are 'beyond-octave'.
_MELODY_SIZES = (0, 2, 4, 7, 12)


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


def melody_line(rolls) -> np.ndarray:
  """The melody line: the column of the highest sounding key of each frame, -1 for a silent frame.

  ``rolls [batch, time, pitch]`` -> int ``[batch, time]`` (``[time, pitch]`` -> ``[time]``).
  Add the roll's lowest pitch (21 for 88-key rolls) for MIDI pitches; intervals do not need it.
  """
  r = np.asarray(rolls) > 0.5
  if r.ndim not in (2, 3):
    raise ValueError(f'rolls: expected [batch, time, pitch] or [time, pitch], got shape {r.shape}')
  top = r.shape[-1] - 1 - np.argmax(r[..., ::-1], axis=-1)
  return np.where(r.any(-1), top, -1).astype(np.int64)


def melody_interval_counts(rolls) -> np.ndarray:
  """Counts ``[len(MELODY_BINS)]`` of the melody line's moves over every pair of consecutive
  frames ``(t, t + 1)`` of every roll ``[batch, time, pitch]`` (see :data:`MELODY_BINS`)."""
  a, b = _line_pairs(rolls)
  d = (b - a)[(a >= 0) & (b >= 0)]
  size = np.searchsorted(np.asarray(_MELODY_SIZES), np.abs(d))   # 0 hold, 1 step, ..., 5 beyond
  sized = np.where(size == 0, 0, 2 * size - 1 + (d > 0))
  counts = np.bincount(sized, minlength=len(MELODY_BINS)).astype(np.float64)
  counts[MELODY_BINS.index('exit')] = np.sum((a >= 0) & (b < 0))
  counts[MELODY_BINS.index('entry')] = np.sum((a < 0) & (b >= 0))
  counts[MELODY_BINS.index('rest')] = np.sum((a < 0) & (b < 0))
  return counts


def melody_interval_histogram(rolls) -> np.ndarray:
  """The normalised :func:`melody_interval_counts` of ``rolls [batch, time, pitch]`` (time >= 2)."""
  counts = melody_interval_counts(rolls)
  if counts.sum() <= 0:
    raise ValueError('melody_interval_histogram: rolls need at least 2 frames')
  return counts / counts.sum()


def _line_pairs(rolls) -> tuple[np.ndarray, np.ndarray]:
  """The melody line at frames t and t + 1, over every consecutive pair of every roll."""
  line = melody_line(_as_rolls(rolls))
  return line[:, :-1].ravel(), line[:, 1:].ravel()


def _sounding_moves(rolls) -> np.ndarray:
  """Semitone moves of the melody line between consecutive frames that both sound."""
  a, b = _line_pairs(rolls)
  return (b - a)[(a >= 0) & (b >= 0)]


def melody_hold_rate(rolls) -> float:
  """Fraction of consecutive sounding frame pairs whose top key is the same (held or repeated);
  0.0 when no two consecutive frames sound."""
  d = _sounding_moves(rolls)
  return float(np.mean(d == 0)) if d.size else 0.0


def melody_step_rate(rolls) -> float:
  """Fraction of consecutive sounding frame pairs whose top key moves by 1 or 2 semitones;
  0.0 when no two consecutive frames sound."""
  d = _sounding_moves(rolls)
  return float(np.mean((np.abs(d) >= 1) & (np.abs(d) <= 2))) if d.size else 0.0


def melody_js(rolls, reference) -> float:
  """JS divergence (nats) between the melody-interval histogram of ``rolls [batch, time, pitch]``
  and ``reference``: rolls of the same kind, or their :func:`melody_interval_histogram`
  (``[len(MELODY_BINS)]``)."""
  ref = np.asarray(reference)
  if ref.shape != (len(MELODY_BINS),):
    ref = melody_interval_histogram(ref)
  return js_divergence(melody_interval_histogram(rolls), ref)
