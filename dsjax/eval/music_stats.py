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

The statistics MusPy and C-RNN-GAN report, per piece (one roll ``[time, keys]``, key ``j`` =
MIDI pitch ``lowest_pitch + j``), and :func:`describe`, which gives them all averaged over pieces
(the one call for evaluation reports and tables):

* :func:`pitch_range`: semitones from the lowest to the highest sounding key (C-RNN-GAN's "tone
  span" is this same figure).
* :func:`pitch_classes_used`: how many of the 12 pitch classes sound at all.
* :func:`pitch_class_entropy`: entropy in bits of the note-onset pitch-class histogram.
* :func:`scale_consistency`: the largest share of note onsets inside one major scale.
* :func:`polyphony_rate`: share of sounding frames with 2 or more keys sounding.
* :func:`empty_beat_rate`: share of beats in which no key sounds.
* :func:`groove_consistency`: 1 - mean Hamming distance between consecutive bars' onset
  positions / bar length (Wu & Yang).
* :func:`repetition_rate`: share of bars (after the first) that repeat an earlier bar exactly.

Onsets: a ``[time, keys]`` roll that holds a key over two notes of the same pitch cannot tell them
apart. Functions that count notes take an optional onset roll (the roll's ``onset`` plane, see
:mod:`dsjax.data.pianoroll`); without one, onsets are derived as :func:`onsets_of` the roll (a key
that sounds in frame t and not in frame t - 1, or in frame 0), which merges re-struck notes.
Statistics of nothing (no notes, fewer than two bars) are NaN, as in MusPy; :func:`describe`
averages each over the pieces where it is defined.
"""

from __future__ import annotations

import functools
import math
from typing import Sequence

import numpy as np

from dsjax.data import keys as keys_lib

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


# ---------------------------------------------------------------------------------------------
# Per-piece statistics (MusPy's and C-RNN-GAN's set) and :func:`describe`.


def _piece(roll, name: str = 'roll') -> np.ndarray:
  """One roll ``[time, keys]`` -> bool (values > 0.5 sound); refuses other ranks and no frames."""
  r = np.asarray(roll)
  if r.ndim != 2:
    raise ValueError(f'{name}: expected one roll [time, keys], got shape {r.shape}')
  if r.shape[0] == 0:
    raise ValueError(f'{name}: a roll of no frames has no statistics')
  return r > 0.5


def onsets_of(roll) -> np.ndarray:
  """Note onsets bool ``[time, keys]`` of a roll ``[time, keys]``: key k starts at frame t when it
  sounds at t and not at t - 1 (every sounding key of frame 0 starts there). A key held across two
  notes of the same pitch shows one onset: pass the roll's onset plane where there is one."""
  r = _piece(roll)
  before = np.zeros_like(r)
  before[1:] = r[:-1]
  return r & ~before


def _onsets(roll: np.ndarray, onsets) -> np.ndarray:
  if onsets is None:
    return onsets_of(roll)
  o = _piece(onsets, 'onsets')
  if o.shape != roll.shape:
    raise ValueError(f'onsets: shape {o.shape} differs from the roll\'s {roll.shape}')
  return o


def _whole(value, name: str) -> int:
  """A positive whole number (``4``, ``np.int64(4)`` or ``4.0``) -> int, else ValueError."""
  try:
    v = float(value)
  except (TypeError, ValueError):
    v = float('nan')
  if not (math.isfinite(v) and v >= 1 and v == int(v)):
    raise ValueError(f'{name} must be a positive whole number, got {value!r}')
  return int(v)


def pitch_range(roll) -> float:
  """Semitones between the lowest and the highest key that sounds anywhere in ``roll [time, keys]``
  (0 for a piece of one pitch; NaN for a silent one). C-RNN-GAN calls this figure "tone span"."""
  used = np.flatnonzero(_piece(roll).any(0))
  return float(used[-1] - used[0]) if used.size else math.nan


def _pitch_class_of_keys(num_keys: int, lowest_pitch: int) -> np.ndarray:
  return (int(lowest_pitch) + np.arange(num_keys)) % 12


def pitch_classes_used(roll, *, lowest_pitch: int) -> int:
  """How many of the 12 pitch classes sound in ``roll [time, keys]`` (0 to 12; 0 when silent)."""
  r = _piece(roll)
  return int(np.unique(_pitch_class_of_keys(r.shape[1], lowest_pitch)[r.any(0)]).size)


def onset_pitch_class_counts(roll, *, lowest_pitch: int, onsets=None) -> np.ndarray:
  """Number of notes ``float64 [12]`` of each pitch class (C = 0, ..., B = 11): note onsets
  counted once each, whatever their length (``onsets`` ``[time, keys]``, or :func:`onsets_of`)."""
  r = _piece(roll)
  per_key = _onsets(r, onsets).sum(0).astype(np.float64)
  return np.bincount(_pitch_class_of_keys(r.shape[1], lowest_pitch), weights=per_key, minlength=12)


def pitch_class_entropy(roll, *, lowest_pitch: int, onsets=None) -> float:
  """Shannon entropy in bits of the note-onset pitch-class histogram
  (:func:`onset_pitch_class_counts`, normalised): 0 for one pitch class, log2(12) = 3.585 for all
  twelve equally often, log2(7) for the seven notes of a scale once each. NaN without notes."""
  counts = onset_pitch_class_counts(roll, lowest_pitch=lowest_pitch, onsets=onsets)
  if counts.sum() <= 0:
    return math.nan
  p = counts[counts > 0] / counts.sum()
  return float(max(0.0, -np.sum(p * np.log2(p))))


@functools.lru_cache(maxsize=2)
def _scale_masks(harmonic_minor: bool) -> np.ndarray:
  """bool ``[24, 12]``: the pitch classes of the 24 keys of :data:`dsjax.data.keys.ALL_KEYS`."""
  masks = np.zeros((len(keys_lib.ALL_KEYS), 12), bool)
  for i, key in enumerate(keys_lib.ALL_KEYS):
    degrees = keys_lib.HARMONIC_MINOR_DEGREES if harmonic_minor and key.mode == 'minor' else None
    masks[i, keys_lib.scale_pitch_classes(key, degrees)] = True
  return masks


def scale_consistency(roll, *, lowest_pitch: int, onsets=None,
                      harmonic_minor: bool = False) -> float:
  """The largest share of notes (note onsets, as :func:`onset_pitch_class_counts`) whose pitch
  class lies in one scale, over the 24 major and natural-minor scales; 1.0 when every note fits
  one scale. The natural minor scales have the pitch classes of their relative majors, so this is
  MusPy's and C-RNN-GAN's figure over the 12 major scales. ``harmonic_minor`` swaps in the 12
  harmonic minor scales (raised 7th; Bach's minor chorales). NaN without notes."""
  counts = onset_pitch_class_counts(roll, lowest_pitch=lowest_pitch, onsets=onsets)
  if counts.sum() <= 0:
    return math.nan
  return float((_scale_masks(bool(harmonic_minor)) @ counts).max() / counts.sum())


def polyphony_rate(rolls) -> float:
  """Share of sounding frames (one key or more) in which 2 or more keys sound, over all frames of
  ``rolls [batch, time, keys]`` or one roll ``[time, keys]``; 0.0 when no frame sounds (as
  :func:`polyphony`). MusPy's ``polyphony_rate`` differs: frames with more than 2 pitches over all
  frames, silent ones included."""
  counts = _as_rolls(rolls).sum(-1)
  sounding = counts > 0
  if not sounding.any():
    return 0.0
  return float(np.mean(counts[sounding] >= 2))


def empty_beat_rate(roll, *, frames_per_beat: int) -> float:
  """Share of beats of ``roll [time, keys]`` in which no key sounds. Beat b is frames
  ``[b * frames_per_beat, (b + 1) * frames_per_beat)``; a last, partial beat counts as a beat
  (MusPy's rounding up). 1.0 for a silent roll."""
  fpb = _whole(frames_per_beat, 'frames_per_beat')
  sounding = _piece(roll).any(1)
  beats = -(-sounding.size // fpb)
  sounding = np.pad(sounding, (0, beats * fpb - sounding.size))
  return float(np.mean(~sounding.reshape(beats, fpb).any(1)))


def _bars(x: np.ndarray, frames_per_bar: int) -> np.ndarray:
  """``[time, keys]`` -> ``[bars, frames_per_bar, keys]`` of the whole bars (a partial last bar
  is dropped)."""
  n = x.shape[0] // frames_per_bar
  return x[:n * frames_per_bar].reshape(n, frames_per_bar, x.shape[1])


def groove_consistency(roll, *, frames_per_bar: int, onsets=None) -> float:
  """Wu & Yang's groove consistency: ``1 - mean_i hamming(g_i, g_{i+1}) / frames_per_bar``, where
  ``g_i`` is bar i's groove pattern, the bool ``[frames_per_bar]`` of positions where any note
  starts (``onsets``, or :func:`onsets_of` the roll), over consecutive pairs of whole bars (a
  partial last bar is dropped). 1.0 when every bar has the same rhythm (silent ones included), 0.0
  when each bar starts notes exactly where the one before does not. NaN for fewer than 2 bars."""
  fpb = _whole(frames_per_bar, 'frames_per_bar')
  r = _piece(roll)
  grooves = _bars(_onsets(r, onsets), fpb).any(-1)                     # [bars, frames_per_bar]
  if len(grooves) < 2:
    return math.nan
  distance = np.sum(grooves[1:] != grooves[:-1], axis=1)
  return float(1.0 - distance.mean() / fpb)


def repetition_rate(roll, *, frames_per_bar: int, onsets=None) -> float:
  """Share of bars that repeat an earlier bar exactly: the number of whole bars ``i >= 1`` in
  which some key sounds and whose onsets and sounding keys (``[frames_per_bar, keys]`` each) equal
  those of some bar ``j < i``, over ``bars - 1``. 1.0 when one bar sounds throughout, 0.0 when no
  bar repeats (silent bars are never counted as repeats). NaN for fewer than 2 whole bars."""
  fpb = _whole(frames_per_bar, 'frames_per_bar')
  r = _piece(roll)
  sounding, starts = _bars(r, fpb), _bars(_onsets(r, onsets), fpb)
  if len(sounding) < 2:
    return math.nan
  seen, repeats = set(), 0
  for s, o in zip(sounding, starts):
    content = np.packbits(np.concatenate([s.ravel(), o.ravel()])).tobytes()
    repeats += bool(content in seen and s.any())
    seen.add(content)
  return repeats / (len(sounding) - 1)


# The statistics of :func:`describe`, in report order.
DESCRIBE_KEYS = ('note_density', 'polyphony', 'polyphony_rate', 'pitch_range',
                 'pitch_classes_used', 'pitch_class_entropy', 'scale_consistency',
                 'empty_beat_rate', 'groove_consistency', 'repetition_rate')


def _pieces(x, name: str) -> list[np.ndarray]:
  if isinstance(x, np.ndarray) and x.ndim == 2:
    return [x]
  if isinstance(x, np.ndarray) and x.ndim != 3:
    raise ValueError(f'{name}: expected [batch, time, keys], [time, keys] or a list of '
                     f'[time, keys], got shape {x.shape}')
  return [np.asarray(p) for p in x]


def describe(rolls, *, lowest_pitch: int, frames_per_beat: int, beats_per_bar: int,
             onsets=None) -> dict[str, float]:
  """Every statistic of :data:`DESCRIBE_KEYS`, each the mean over pieces of its per-piece value.

  Args:
    rolls: ``[batch, time, keys]``, one roll ``[time, keys]``, or a list of ``[time, keys]`` rolls
      of any lengths (values > 0.5 sound; pass the sounding plane of a roll with planes).
    lowest_pitch: the MIDI pitch of key 0 (``RollConfig.lowest_pitch``: 0, or 21 for 88 keys).
    frames_per_beat: frames of one beat (4 on the log's sixteenth-note grid of 0.25 beats).
    beats_per_bar: beats of one bar (4 for 4/4).
    onsets: onset rolls of the same shapes (a roll's onset plane), or None to derive them
      (:func:`onsets_of`; re-struck held notes merge).

  Returns:
    ``{name: float}``: ``note_density`` (:func:`note_density`, keys per frame), ``polyphony``
    (:func:`polyphony`, keys per sounding frame), ``polyphony_rate``, ``pitch_range``
    (semitones), ``pitch_classes_used``, ``pitch_class_entropy`` (bits), ``scale_consistency``,
    ``empty_beat_rate``, ``groove_consistency`` and ``repetition_rate``, as the functions of those
    names define them (bars of ``frames_per_beat * beats_per_bar`` frames). A statistic that is
    NaN for some pieces (no notes; fewer than two bars) is averaged over the others, NaN if
    undefined for all.
  """
  pieces = _pieces(rolls, 'rolls')
  if not pieces:
    raise ValueError('describe: no rolls')
  starts = [None] * len(pieces) if onsets is None else _pieces(onsets, 'onsets')
  if len(starts) != len(pieces):
    raise ValueError(f'describe: {len(starts)} onset rolls for {len(pieces)} rolls')
  fpb = _whole(frames_per_beat, 'frames_per_beat')
  bar = fpb * _whole(beats_per_bar, 'beats_per_bar')
  rows = []
  for roll, o in zip(pieces, starts):
    r = _piece(roll)
    rows.append((
        note_density(r), polyphony(r), polyphony_rate(r), pitch_range(r),
        pitch_classes_used(r, lowest_pitch=lowest_pitch),
        pitch_class_entropy(r, lowest_pitch=lowest_pitch, onsets=o),
        scale_consistency(r, lowest_pitch=lowest_pitch, onsets=o),
        empty_beat_rate(r, frames_per_beat=fpb),
        groove_consistency(r, frames_per_bar=bar, onsets=o),
        repetition_rate(r, frames_per_bar=bar, onsets=o)))
  values = np.asarray(rows, np.float64)                                   # [pieces, stats]
  defined = ~np.isnan(values)
  sums = np.where(defined, values, 0.0).sum(0)
  counts = defined.sum(0)
  means = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
  return {k: float(v) for k, v in zip(DESCRIBE_KEYS, means)}
