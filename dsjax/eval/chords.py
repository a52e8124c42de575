"""Named chord templates over the 12 pitch classes, and the nearest named chord of a 12-key filter.

A chord type is a set of pitch classes above its root (major ``{0, 4, 7}``, minor ``{0, 3, 7}``,
...; :data:`CHORD_TYPES`); rolled over the 12 roots it gives 12 binary templates ``[12]``. A
12-key filter (the chord reconstruction model's 1-D kernel, one weight per key of the window,
:mod:`dsjax.models.chord_reconstruction`) is scored against every template by the cosine of the
two mean-removed vectors (their correlation: a constant added to or a positive factor on the
weights leaves it unchanged; 1 = the weights rise and fall exactly with the template)::

  from dsjax.eval import chords
  match = chords.nearest_chord(weights)          # weights [12]: window offsets 0..11
  match.name, match.score                        # 'D minor', 0.93
  [m.name for m in chords.nearest_chords(kernel)]   # kernel [12, filters]: one match a column

The window's offsets are named as pitch classes from C (offset 0 = C, offset 2 = D, ...), as the
log's filter figure labels them; the filter scans every key, so the root is relative to the
window ("D minor" is the minor-triad filter whose root sits two keys above the window's start).
Ties go to the first chord type of :data:`CHORD_TYPES`, then the lowest root: an augmented triad
(which maps onto itself when moved by a major third) gets the lowest of its three roots, and the
template of C sus2 (= G sus4) is named sus2.
"""

from __future__ import annotations

import dataclasses

import numpy as np

PITCH_CLASSES = ('C', 'C#', 'D', 'D#', 'E', 'F', 'F#', 'G', 'G#', 'A', 'A#', 'B')

# Chord type -> pitch classes above the root. The order decides ties (see the module docstring).
CHORD_TYPES = {
    'major': (0, 4, 7),
    'minor': (0, 3, 7),
    'diminished': (0, 3, 6),
    'augmented': (0, 4, 8),
    'sus2': (0, 2, 7),
    'sus4': (0, 5, 7),
    'dominant 7th': (0, 4, 7, 10),
    'major 7th': (0, 4, 7, 11),
    'minor 7th': (0, 3, 7, 10),
}
TIE_TOLERANCE = 1e-6


@dataclasses.dataclass(frozen=True)
class ChordMatch:
  """A filter's nearest named chord: its type (a key of :data:`CHORD_TYPES`), root (0..11,
  window offset), and score (correlation in [-1, 1]; 0 for a constant filter)."""
  kind: str
  root: int
  score: float

  @property
  def name(self) -> str:
    """``'D minor'``, ``'G dominant 7th'``."""
    return f'{PITCH_CLASSES[self.root]} {self.kind}'

  @property
  def short_name(self) -> str:
    """A label for a figure's axis: ``'Dm'``, ``'C'``, ``'Bdim'``, ``'G7'``, ``'Csus2'``."""
    suffix = {'major': '', 'minor': 'm', 'diminished': 'dim', 'augmented': 'aug',
              'sus2': 'sus2', 'sus4': 'sus4', 'dominant 7th': '7', 'major 7th': 'maj7',
              'minor 7th': 'm7'}[self.kind]
    return PITCH_CLASSES[self.root] + suffix


def template(kind: str, root: int) -> np.ndarray:
  """The binary template ``float32 [12]`` of chord ``kind`` on ``root`` (0 = C)."""
  if kind not in CHORD_TYPES:
    raise ValueError(f'chord kind {kind!r}: expected one of {list(CHORD_TYPES)}')
  out = np.zeros(12, np.float32)
  out[[(int(root) + i) % 12 for i in CHORD_TYPES[kind]]] = 1.0
  return out


def templates() -> tuple[list[tuple[str, int]], np.ndarray]:
  """``([(kind, root), ...], float32 [len(CHORD_TYPES) * 12, 12])``: every chord type on every
  root, in :data:`CHORD_TYPES` order then root order."""
  names = [(kind, root) for kind in CHORD_TYPES for root in range(12)]
  return names, np.stack([template(k, r) for k, r in names])


def _centred_unit(v: np.ndarray) -> np.ndarray:
  v = v - v.mean(-1, keepdims=True)
  norm = np.linalg.norm(v, axis=-1, keepdims=True)
  return np.where(norm > 0, v / np.where(norm > 0, norm, 1.0), 0.0)


def match_scores(weights) -> np.ndarray:
  """Correlation of each filter with each template: ``weights [..., 12]`` -> ``[..., T]`` in the
  order of :func:`templates` (``T = 12 * len(CHORD_TYPES)``)."""
  w = np.asarray(weights, np.float64)
  if w.ndim < 1 or w.shape[-1] != 12:
    raise ValueError(f'weights: expected [..., 12] (one weight per key of a 12-key window), '
                     f'got shape {w.shape}')
  _, t = templates()
  return _centred_unit(w) @ _centred_unit(t.astype(np.float64)).T


def nearest_chord(weights) -> ChordMatch:
  """The named chord whose template correlates best with ``weights [12]``."""
  w = np.asarray(weights)
  if w.shape != (12,):
    raise ValueError(f'weights: expected shape (12,), got {w.shape}')
  scores = match_scores(w)
  names, _ = templates()
  best = int(np.flatnonzero(scores >= scores.max() - TIE_TOLERANCE)[0])
  kind, root = names[best]
  return ChordMatch(kind, root, float(scores[best]))


def nearest_chords(kernel) -> list[ChordMatch]:
  """One :class:`ChordMatch` per column of ``kernel [12, filters]`` (the model's filter bank)."""
  k = np.asarray(kernel)
  if k.ndim != 2 or k.shape[0] != 12:
    raise ValueError(f'kernel: expected [12, filters], got shape {k.shape}')
  return [nearest_chord(k[:, i]) for i in range(k.shape[1])]
