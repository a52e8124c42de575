"""Keys and scales: pitch-class histograms (log 10/16), key estimation, transposition.

* Pitch-class histograms: ``float64 [12]`` over C, C#, ..., B, normalised to sum 1, for a whole
  piece, per window, or per event-id sequence (the Hist-RNN's conditioning, log 10/16). A histogram
  of no notes is all zeros by default (``empty='uniform'`` gives 1/12 each).
* Key estimation: Krumhansl-Schmuckler, correlating the histogram with the 24 rotations of the
  Krumhansl-Kessler major and minor profiles.
* Transposition of pieces, and to C major / A minor (nearest shift, or the original's always-upward
  quirk) for ``transpose_to_c`` corpora. Training-time transposition of event ids and rolls is in
  :mod:`dsjax.data.augment`.
* :data:`SCALES`: the 12-key scale table of log 11/01.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np

from dsjax.data.notes import NOTE_DTYPE, Piece

PITCH_CLASS_NAMES = ('C', 'C#', 'D', 'D#', 'E', 'F', 'F#', 'G', 'G#', 'A', 'A#', 'B')
# Key names as the 11/01 table spells them; minor keys are written in lower case ('a minor').
KEY_NAMES = ('C', 'C#', 'D', 'Eb', 'E', 'F', 'F#', 'G', 'G#', 'A', 'Bb', 'B')

# Krumhansl & Kessler (1982) probe-tone profiles, index 0 = tonic.
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])

# ---------------------------------------------------------------------------------------------
# The scale table of log 11/01: for each key, the note names of the 12 chromatic scale degrees.

SCALE_DEGREES = ('1', '1#', '2', '3b', '3', '4', '4#', '5', '5#', '6', '7b', '7')
SCALES: dict[str, tuple[str, ...]] = {
    'C': ('c', 'c#', 'd', 'eb', 'e', 'f', 'f#', 'g', 'g#', 'a', 'bb', 'b'),
    'C#': ('c#', 'd', 'd#', 'e', 'f', 'f#', 'g', 'g#', 'a', 'a#', 'b', 'c'),
    'D': ('d', 'd#', 'e', 'f', 'f#', 'g', 'g#', 'a', 'bb', 'b', 'c', 'c#'),
    'Eb': ('eb', 'e', 'f', 'gb', 'g', 'ab', 'a', 'bb', 'b', 'c', 'db', 'd'),
    'E': ('e', 'f', 'f#', 'g', 'g#', 'a', 'a#', 'b', 'c', 'c#', 'd', 'd#'),
    'F': ('f', 'f#', 'g', 'ab', 'a', 'bb', 'b', 'c', 'c#', 'd', 'eb', 'e'),
    'F#': ('f#', 'g', 'g#', 'a', 'a#', 'b', 'c', 'c#', 'd', 'd#', 'e', 'f'),
    'G': ('g', 'g#', 'a', 'bb', 'b', 'c', 'c#', 'd', 'd#', 'e', 'f', 'f#'),
    'G#': ('g#', 'a', 'a#', 'b', 'c', 'c#', 'd', 'd#', 'e', 'f', 'gb', 'g'),
    'A': ('a', 'bb', 'b', 'c', 'c#', 'd', 'd#', 'e', 'f', 'f#', 'g', 'g#'),
    'Bb': ('bb', 'b', 'c', 'c#', 'd', 'eb', 'e', 'f', 'f#', 'g', 'ab', 'a'),
    'B': ('b', 'c', 'c#', 'd', 'd#', 'e', 'f', 'f#', 'g', 'g#', 'a', 'a#'),
}
MAJOR_DEGREES = ('1', '2', '3', '4', '5', '6', '7')
NATURAL_MINOR_DEGREES = ('1', '2', '3b', '4', '5', '5#', '7b')  # 5# = b6 in the table's labels.
HARMONIC_MINOR_DEGREES = ('1', '2', '3b', '4', '5', '5#', '7')


def note_name_to_pitch_class(name: str) -> int:
  """``'c#'``, ``'Eb'``, ``'bb'``, ``'B-'`` (music21 flat) -> pitch class 0..11."""
  if not name or name[0].lower() not in 'cdefgab':
    raise ValueError(f'not a note name: {name!r}')
  pc = {'c': 0, 'd': 2, 'e': 4, 'f': 5, 'g': 7, 'a': 9, 'b': 11}[name[0].lower()]
  for ch in name[1:]:
    if ch == '#':
      pc += 1
    elif ch in 'b-':
      pc -= 1
    else:
      raise ValueError(f'not a note name: {name!r}')
  return pc % 12


@dataclasses.dataclass(frozen=True)
class Key:
  """A key: ``tonic`` pitch class 0..11 (C = 0) and ``mode``."""
  tonic: int
  mode: Literal['major', 'minor'] = 'major'

  def __post_init__(self):
    if not (isinstance(self.tonic, (int, np.integer)) and 0 <= self.tonic < 12):
      raise ValueError(f'Key tonic must be an int 0..11, got {self.tonic!r}')
    if self.mode not in ('major', 'minor'):
      raise ValueError(f"Key mode must be 'major' or 'minor', got {self.mode!r}")
    object.__setattr__(self, 'tonic', int(self.tonic))

  @property
  def name(self) -> str:
    """``'C major'``, ``'a minor'``, ``'f# minor'``."""
    tonic = KEY_NAMES[self.tonic]
    return f'{tonic} major' if self.mode == 'major' else f'{tonic.lower()} minor'

  def __str__(self) -> str:
    return self.name

  @property
  def index(self) -> int:
    """Position in :data:`ALL_KEYS` (majors 0..11, minors 12..23)."""
    return self.tonic + (12 if self.mode == 'minor' else 0)

  @classmethod
  def from_name(cls, name: str) -> 'Key':
    """``'F# minor'``, ``'Gb major'``, or a bare tonic (upper case major, lower case minor)."""
    parts = name.strip().split()
    if len(parts) == 2 and parts[1].lower() in ('major', 'minor'):
      return cls(note_name_to_pitch_class(parts[0]), parts[1].lower())
    if len(parts) == 1:
      return cls(note_name_to_pitch_class(parts[0]), 'major' if parts[0][0].isupper() else 'minor')
    raise ValueError(f'not a key name: {name!r}')

  def pitch_classes(self, degrees: tuple[str, ...] | None = None) -> np.ndarray:
    """See :func:`scale_pitch_classes`."""
    return scale_pitch_classes(self, degrees)


ALL_KEYS = tuple(Key(t, 'major') for t in range(12)) + tuple(Key(t, 'minor') for t in range(12))


def _as_key(key: Key | str) -> Key:
  return key if isinstance(key, Key) else Key.from_name(key)


def scale_note_names(key: Key | str, degrees: tuple[str, ...] | None = None) -> tuple[str, ...]:
  """Note names of ``degrees`` of ``key`` as the 11/01 table spells them.

  ``degrees`` default to the major scale, or the natural minor scale for a minor key.
  """
  key = _as_key(key)
  if degrees is None:
    degrees = MAJOR_DEGREES if key.mode == 'major' else NATURAL_MINOR_DEGREES
  row = SCALES[KEY_NAMES[key.tonic]]
  try:
    return tuple(row[SCALE_DEGREES.index(d)] for d in degrees)
  except ValueError:
    raise ValueError(f'scale degrees {degrees} not all in {SCALE_DEGREES}') from None


def scale_pitch_classes(key: Key | str, degrees: tuple[str, ...] | None = None) -> np.ndarray:
  """Pitch classes ``int64 [len(degrees)]`` of a key's scale degrees, read from :data:`SCALES`."""
  return np.array([note_name_to_pitch_class(n) for n in scale_note_names(key, degrees)], np.int64)


# ---------------------------------------------------------------------------------------------
# Pitch-class histograms.


def _notes_of(x, include_drums: bool = False) -> np.ndarray:
  notes = x.notes if isinstance(x, Piece) else np.asarray(x)
  if notes.dtype != NOTE_DTYPE:
    raise TypeError(f'expected a Piece or a NOTE_DTYPE array, got dtype {notes.dtype}')
  return notes if include_drums else notes[~notes['is_drum']]


def _normalise(hist: np.ndarray, empty: str) -> np.ndarray:
  if empty not in ('zeros', 'uniform'):
    raise ValueError(f"empty must be 'zeros' or 'uniform', got {empty!r}")
  total = hist.sum(axis=-1, keepdims=True)
  fill = 0.0 if empty == 'zeros' else 1.0 / 12
  return np.where(total > 0, hist / np.where(total > 0, total, 1.0), fill)


def _weights(notes: np.ndarray, weight: str) -> np.ndarray:
  if weight == 'count':
    return np.ones(len(notes))
  if weight == 'duration':
    return notes['end'] - notes['start']
  raise ValueError(f"weight must be 'count' or 'duration', got {weight!r}")


def pitch_class_histogram(piece_or_notes, weight: Literal['count', 'duration'] = 'count', *,
                          empty: Literal['zeros', 'uniform'] = 'zeros',
                          include_drums: bool = False) -> np.ndarray:
  """Normalised pitch-class histogram ``float64 [12]`` (notes counted, or weighted by seconds).

  With no notes it is all zeros (``empty='zeros'``) or 1/12 each (``empty='uniform'``).
  """
  notes = _notes_of(piece_or_notes, include_drums)
  hist = np.bincount(notes['pitch'] % 12, weights=_weights(notes, weight), minlength=12)
  return _normalise(hist.astype(np.float64), empty)


def windowed_pitch_class_histograms(
    piece_or_notes, window: float, hop: float | None = None, *,
    unit: Literal['seconds', 'beats', 'notes'] = 'seconds',
    weight: Literal['count', 'duration'] = 'count', empty: Literal['zeros', 'uniform'] = 'zeros',
    qpm: float = 120.0, include_drums: bool = False) -> np.ndarray:
  """Pitch-class histograms of windows: ``float64 [num_windows, 12]`` (patch histograms, 10/16).

  Window ``i`` covers ``[i * hop, i * hop + window)`` (``hop`` defaults to ``window``), in seconds,
  beats (through the piece's tempo map; a bare note array is read at ``qpm``), or notes (the notes
  sorted by onset, ``window`` notes per window). Windows start while ``i * hop`` is before the
  last note end (time units) or below the note count (notes); no notes give ``[0, 12]``.
  ``weight='count'`` counts the notes whose onset lies in the window; ``'duration'`` adds the part
  of each note inside the window (in the window's unit; for note windows, the note's seconds).
  """
  hop = window if hop is None else hop
  if not window > 0 or not hop > 0:
    raise ValueError(f'window and hop must be positive, got window={window}, hop={hop}')
  if unit not in ('seconds', 'beats', 'notes'):
    raise ValueError(f"unit must be 'seconds', 'beats' or 'notes', got {unit!r}")
  if weight not in ('count', 'duration'):
    raise ValueError(f"weight must be 'count' or 'duration', got {weight!r}")
  notes = _notes_of(piece_or_notes, include_drums)
  pc = (notes['pitch'] % 12).astype(np.int64)
  if unit == 'notes':
    if int(window) != window or int(hop) != hop:
      raise ValueError(f'note windows need whole numbers of notes, got window={window}, hop={hop}')
    window, hop = int(window), int(hop)
    order = np.argsort(notes['start'], kind='stable')
    pc, w = pc[order], _weights(notes[order], weight)
    num = -(-len(notes) // hop)
    start = np.arange(len(notes))
    # Note j lies in windows i with i * hop <= j < i * hop + window.
    lo = np.maximum(0, (start - window) // hop + 1)
    hi = np.minimum(num - 1, start // hop)
    owner = np.repeat(np.arange(len(notes)), np.maximum(hi - lo + 1, 0))
    win = _ranges(lo, hi + 1)
    hist = np.zeros((num, 12))
    np.add.at(hist, (win, pc[owner]), w[owner])
    return _normalise(hist, empty)

  s, e = notes['start'], notes['end']
  if unit == 'beats':
    piece = piece_or_notes if isinstance(piece_or_notes, Piece) else Piece(
        'notes', notes[:0], tempo_qpm=np.array([qpm]))
    s, e = piece.seconds_to_beats(s), piece.seconds_to_beats(e)
  end = float(e.max()) if len(e) else 0.0
  num = int(np.ceil(end / hop)) if len(e) else 0
  if weight == 'count':
    # Onset t lies in windows i with i * hop <= t < i * hop + window.
    lo = np.maximum(0, np.floor((s - window) / hop).astype(np.int64) + 1)
    hi = np.minimum(num - 1, np.floor(s / hop).astype(np.int64))
  else:
    # [s, e) meets window i where i * hop < e and i * hop + window > s.
    lo = np.maximum(0, np.floor((s - window) / hop).astype(np.int64) + 1)
    hi = np.minimum(num - 1, np.ceil(e / hop).astype(np.int64) - 1)
  owner = np.repeat(np.arange(len(s)), np.maximum(hi - lo + 1, 0))
  win = _ranges(lo, np.maximum(hi + 1, lo))
  if weight == 'count':
    w = np.ones(len(owner))
  else:
    w0 = win * hop
    w = np.clip(np.minimum(e[owner], w0 + window) - np.maximum(s[owner], w0), 0.0, None)
  hist = np.zeros((num, 12))
  np.add.at(hist, (win, pc[owner]), w)
  return _normalise(hist, empty)


def _ranges(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
  """Concatenation of ``arange(lo_i, hi_i)`` for all ``i`` (``hi_i >= lo_i``)."""
  n = np.maximum(hi - lo, 0)
  first = np.cumsum(n) - n
  return (np.arange(n.sum()) - np.repeat(first, n) + np.repeat(lo, n)).astype(np.int64)


def _default_event_vocab():
  from dsjax.data.events import EventVocab  # Lazy: events.py is a sibling module.
  return EventVocab()


def event_pitch_class_histogram(ids: np.ndarray, vocab=None, *,
                                empty: Literal['zeros', 'uniform'] = 'zeros') -> np.ndarray:
  """Histogram of the note-on ids of event sequences: ``int [..., T]`` -> ``float64 [..., 12]``.

  ``vocab`` is any object with ``note_on_offset`` (note-on ids are ``note_on_offset + pitch``);
  the default is ``dsjax.data.events.EventVocab()``. Other ids (note-offs, shifts, velocities,
  padding) are not counted.
  """
  vocab = _default_event_vocab() if vocab is None else vocab
  ids = np.asarray(ids)
  pitch = ids.astype(np.int64) - int(vocab.note_on_offset)
  on = (pitch >= 0) & (pitch < 128)
  hist = (np.where(on, pitch % 12, -1)[..., None] == np.arange(12)).sum(axis=-2)
  return _normalise(hist.astype(np.float64), empty)


def sharpen_histogram(hist: np.ndarray, temperature: float = 0.03) -> np.ndarray:
  """``softmax(hist / temperature)`` over the last axis (log 10/16: e^{h/0.03})."""
  z = np.asarray(hist, np.float64) / temperature
  z = np.exp(z - z.max(axis=-1, keepdims=True))
  return z / z.sum(axis=-1, keepdims=True)


# ---------------------------------------------------------------------------------------------
# Key estimation.


def key_correlations(hist: np.ndarray) -> np.ndarray:
  """Pearson correlations of ``[..., 12]`` histograms with the 24 key profiles: ``[..., 24]``.

  Column ``k`` is :data:`ALL_KEYS` ``[k]`` (majors C..B, then minors c..b). A constant histogram
  gives NaN.
  """
  hist = np.asarray(hist, np.float64)
  if hist.shape[-1] != 12:
    raise ValueError(f'pitch-class histograms must have 12 bins, got shape {hist.shape}')
  # profiles[k, pc]: weight of pitch class pc in key k.
  profiles = np.stack([np.roll(KK_MAJOR, t) for t in range(12)] +
                      [np.roll(KK_MINOR, t) for t in range(12)])
  p = profiles - profiles.mean(-1, keepdims=True)
  h = hist - hist.mean(-1, keepdims=True)
  with np.errstate(invalid='ignore', divide='ignore'):
    return (h @ p.T) / (np.linalg.norm(h, axis=-1, keepdims=True) * np.linalg.norm(p, axis=-1))


def estimate_key(x, weight: Literal['count', 'duration'] = 'duration') -> Key:
  """Krumhansl-Schmuckler key of a ``[12]`` histogram, a ``NOTE_DTYPE`` array or a Piece.

  Notes are weighted by ``weight`` (duration, as Krumhansl-Schmuckler do, by default). Ties go to
  the first of :data:`ALL_KEYS`. A piece without notes, or a flat histogram, is a ``ValueError``.
  """
  if isinstance(x, Piece) or (isinstance(x, np.ndarray) and x.dtype == NOTE_DTYPE):
    hist = pitch_class_histogram(x, weight)
  else:
    hist = np.asarray(x, np.float64)
    if hist.shape != (12,):
      raise ValueError(f'expected a [12] histogram, a note array or a Piece, '
                       f'got shape {hist.shape}')
  r = key_correlations(hist)
  if not np.all(np.isfinite(r)):
    raise ValueError(f'no key in a constant pitch-class histogram {hist}')
  return ALL_KEYS[int(np.argmax(r))]


# ---------------------------------------------------------------------------------------------
# Transposition.

def transpose(piece: Piece, k: int, low: int = 0, high: int = 127) -> Piece:
  """Moves every non-drum note by ``k`` semitones; a note leaving ``low..high`` is a ValueError."""
  notes = piece.notes.copy()
  pitched = ~notes['is_drum']
  new = notes['pitch'][pitched].astype(np.int64) + int(k)
  if len(new) and (new.min() < low or new.max() > high):
    raise ValueError(f'{piece.name}: transposing by {k:+d} moves pitches {new.min()}..{new.max()} '
                     f'outside {low}..{high}')
  notes['pitch'][pitched] = new
  return dataclasses.replace(piece, notes=notes)


def transpose_to_c(piece: Piece, *, mode: Literal['nearest', 'upward'] = 'nearest',
                   minor_to: Literal['a', 'c'] = 'a', key: Key | None = None,
                   low: int = 0, high: int = 127) -> tuple[Piece, int]:
  """Transposes a piece to C major, or a minor key to A minor (``minor_to='c'``: C minor).

  ``mode='nearest'``: the shift in [-6, +5] semitones, or the same shift an octave the other way
  when the first would leave ``low..high``. ``mode='upward'``: the original's quirk (tonic in
  octave 4 -> C5), always +1..+12, so a C piece moves up an octave; the faithful original is
  ``mode='upward', minor_to='c'``. The key is estimated unless given. Returns
  ``(piece, semitones)``; a ValueError if no allowed shift keeps the notes on the keyboard.
  """
  key = estimate_key(piece) if key is None else key
  if minor_to not in ('a', 'c'):
    raise ValueError(f"minor_to must be 'a' or 'c', got {minor_to!r}")
  target = 0 if key.mode == 'major' or minor_to == 'c' else 9
  base = (target - key.tonic) % 12
  if mode == 'nearest':
    first = base if base <= 5 else base - 12
    candidates = [first, first - 12 if first > 0 else first + 12]
  elif mode == 'upward':
    candidates = [base if base > 0 else 12]
  else:
    raise ValueError(f"mode must be 'nearest' or 'upward', got {mode!r}")
  pitches = piece.notes['pitch'][~piece.notes['is_drum']].astype(np.int64)
  for s in candidates:
    if not len(pitches) or (pitches.min() + s >= low and pitches.max() + s <= high):
      return transpose(piece, s, low, high), s
  target_name = 'C major' if key.mode == 'major' else f'{minor_to} minor'
  raise ValueError(f'{piece.name}: no shift {candidates} moves {key.name} to {target_name} '
                   f'inside {low}..{high}')
