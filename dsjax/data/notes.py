"""The note list every encoding starts from, and the ragged array store every cache uses.

A piece of music is a :class:`Piece`: a name, a structured numpy array of notes sorted by
``(start, pitch)``, and the tempo map needed to put the notes on a beat grid.

A corpus after encoding is a :class:`SequenceSet`: all sequences concatenated along their first
axis plus offsets, so that a whole corpus is two arrays (fast to save, load and slice, no pickle).
"""

from __future__ import annotations

import dataclasses
from typing import Iterable, Sequence

import numpy as np

NOTE_DTYPE = np.dtype([
    ('pitch', np.int16),      # MIDI pitch 0..127
    ('start', np.float64),    # seconds
    ('end', np.float64),      # seconds, > start
    ('velocity', np.int16),   # 1..127
    ('program', np.int16),    # General MIDI program 0..127
    ('is_drum', np.bool_),
    ('part', np.int16),       # instrument / voice index inside the piece
])


def make_notes(pitch, start, end, velocity=80, program=0, is_drum=False, part=0) -> np.ndarray:
  """Builds a sorted note array from columns (scalars broadcast). Returns ``NOTE_DTYPE[n]``."""
  pitch = np.atleast_1d(np.asarray(pitch))
  n = pitch.shape[0]
  notes = np.zeros(n, NOTE_DTYPE)
  notes['pitch'] = pitch
  notes['start'] = np.broadcast_to(start, (n,))
  notes['end'] = np.broadcast_to(end, (n,))
  notes['velocity'] = np.broadcast_to(velocity, (n,))
  notes['program'] = np.broadcast_to(program, (n,))
  notes['is_drum'] = np.broadcast_to(is_drum, (n,))
  notes['part'] = np.broadcast_to(part, (n,))
  return sort_notes(notes)


def check_qpm(qpm, name: str = 'qpm') -> float:
  """``qpm`` (quarter notes per minute) as a float; a one-line ValueError naming the value unless
  it is a finite number > 0."""
  try:
    value = float(qpm)
  except (TypeError, ValueError):
    raise ValueError(f'{name} must be a finite number > 0, got {qpm!r}') from None
  if not (np.isfinite(value) and value > 0):
    raise ValueError(f'{name} must be a finite number > 0, got {value!r}')
  return value


def sort_notes(notes: np.ndarray) -> np.ndarray:
  """Sorts notes by start, then pitch, then end (stable)."""
  order = np.lexsort((notes['end'], notes['pitch'], notes['start']))
  return notes[order]


@dataclasses.dataclass
class Piece:
  """One piece of music.

  Attributes:
    name: a stable identifier (``"<dataset>:<name>"`` for corpora); used for splits.
    notes: ``NOTE_DTYPE[n]``, sorted by ``(start, pitch)``.
    tempo_times: seconds at which each tempo starts; ``tempo_times[0] == 0``.
    tempo_qpm: quarter notes per minute for each segment (finite and > 0, else ValueError).
    group: pieces of one group (variants of one chorale) go to the same split.
  """
  name: str
  notes: np.ndarray
  tempo_times: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(1))
  tempo_qpm: np.ndarray = dataclasses.field(default_factory=lambda: np.full(1, 120.0))
  group: str | None = None

  def __post_init__(self):
    self.notes = np.asarray(self.notes, NOTE_DTYPE)
    self.tempo_times = np.asarray(self.tempo_times, np.float64).reshape(-1)
    self.tempo_qpm = np.asarray(self.tempo_qpm, np.float64).reshape(-1)
    bad = np.flatnonzero(~(np.isfinite(self.tempo_qpm) & (self.tempo_qpm > 0)))
    if len(bad):
      raise ValueError(f'piece {self.name!r}: tempo_qpm must be finite and > 0, got '
                       f'{self.tempo_qpm[bad[0]]} at segment {bad[0]}')
    if self.group is None:
      self.group = self.name

  @property
  def end_time(self) -> float:
    return float(self.notes['end'].max()) if len(self.notes) else 0.0

  def seconds_to_beats(self, seconds: np.ndarray) -> np.ndarray:
    """Converts times in seconds to quarter-note beats through the tempo map."""
    seconds = np.asarray(seconds, np.float64)
    seg_beats = np.concatenate(
        [[0.0], np.cumsum(np.diff(self.tempo_times) * self.tempo_qpm[:-1] / 60.0)])
    idx = np.clip(np.searchsorted(self.tempo_times, seconds, side='right') - 1, 0, None)
    return seg_beats[idx] + (seconds - self.tempo_times[idx]) * self.tempo_qpm[idx] / 60.0

  def beats_to_seconds(self, beats: np.ndarray) -> np.ndarray:
    """Inverse of :meth:`seconds_to_beats`."""
    beats = np.asarray(beats, np.float64)
    seg_beats = np.concatenate(
        [[0.0], np.cumsum(np.diff(self.tempo_times) * self.tempo_qpm[:-1] / 60.0)])
    idx = np.clip(np.searchsorted(seg_beats, beats, side='right') - 1, 0, None)
    return self.tempo_times[idx] + (beats - seg_beats[idx]) * 60.0 / self.tempo_qpm[idx]

  def with_notes(self, notes: np.ndarray, name: str | None = None) -> 'Piece':
    return dataclasses.replace(self, notes=sort_notes(np.asarray(notes, NOTE_DTYPE)),
                               name=self.name if name is None else name)


@dataclasses.dataclass
class SequenceSet:
  """Ragged sequences stored as one concatenated array plus offsets.

  ``values[offsets[i]:offsets[i + 1]]`` is sequence ``i``; ``names[i]`` its piece name.
  ``values`` has shape ``[total, *feature_shape]`` (events: ``[total]`` int; rolls: ``[total, keys]``).
  """
  values: np.ndarray
  offsets: np.ndarray
  names: np.ndarray

  def __post_init__(self):
    self.offsets = np.asarray(self.offsets, np.int64)
    self.names = np.asarray(self.names, dtype=np.str_)
    if self.offsets.ndim != 1 or self.offsets[0] != 0 or self.offsets[-1] != len(self.values):
      raise ValueError(f'bad offsets for {len(self.values)} values: {self.offsets[:3]}...')
    if len(self.names) != len(self.offsets) - 1:
      raise ValueError(f'{len(self.names)} names for {len(self.offsets) - 1} sequences')

  @classmethod
  def from_list(cls, seqs: Sequence[np.ndarray], names: Iterable[str], dtype=None,
                feature_shape: tuple[int, ...] = ()) -> 'SequenceSet':
    seqs = list(seqs)
    lengths = np.array([len(s) for s in seqs], np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    if seqs:
      values = np.concatenate([np.asarray(s, dtype) for s in seqs], axis=0)
    else:
      values = np.zeros((0, *feature_shape), dtype or np.int32)
    return cls(values, offsets, np.array(list(names), np.str_))

  def __len__(self) -> int:
    return len(self.offsets) - 1

  def __getitem__(self, i: int) -> np.ndarray:
    return self.values[self.offsets[i]:self.offsets[i + 1]]

  @property
  def lengths(self) -> np.ndarray:
    return np.diff(self.offsets)

  def subset(self, indices: Sequence[int]) -> 'SequenceSet':
    indices = list(indices)
    return SequenceSet.from_list([self[i] for i in indices], self.names[indices] if indices else [],
                                 dtype=self.values.dtype, feature_shape=self.values.shape[1:])

  def save(self, path: str) -> None:
    """Writes ``.npz`` (no pickle)."""
    np.savez(path, values=self.values, offsets=self.offsets, names=self.names)

  @classmethod
  def load(cls, path: str) -> 'SequenceSet':
    with np.load(path, allow_pickle=False) as z:
      return cls(z['values'], z['offsets'], z['names'])


def notes_to_arrays(pieces: Sequence[Piece]) -> dict[str, np.ndarray]:
  """Packs pieces into flat arrays (for the note cache): notes, offsets, names, groups, tempi."""
  notes = [p.notes for p in pieces]
  tempo_counts = np.array([len(p.tempo_times) for p in pieces], np.int64)
  return dict(
      notes=np.concatenate(notes) if notes else np.zeros(0, NOTE_DTYPE),
      note_offsets=np.concatenate([[0], np.cumsum([len(n) for n in notes])]).astype(np.int64),
      names=np.array([p.name for p in pieces], np.str_),
      groups=np.array([p.group for p in pieces], np.str_),
      tempo_times=(np.concatenate([p.tempo_times for p in pieces]) if pieces else np.zeros(0)),
      tempo_qpm=(np.concatenate([p.tempo_qpm for p in pieces]) if pieces else np.zeros(0)),
      tempo_offsets=np.concatenate([[0], np.cumsum(tempo_counts)]).astype(np.int64),
  )


def arrays_to_notes(arrays: dict[str, np.ndarray]) -> list[Piece]:
  """Inverse of :func:`notes_to_arrays`."""
  out = []
  no, to = arrays['note_offsets'], arrays['tempo_offsets']
  for i, name in enumerate(arrays['names']):
    out.append(Piece(
        name=str(name), notes=arrays['notes'][no[i]:no[i + 1]],
        tempo_times=arrays['tempo_times'][to[i]:to[i + 1]],
        tempo_qpm=arrays['tempo_qpm'][to[i]:to[i + 1]], group=str(arrays['groups'][i])))
  return out
