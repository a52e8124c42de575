"""A small registry of the log's encodings behind one interface, for caches and trainers.

``get_encoding(name, **options)`` returns an object with

* ``encode(piece) -> np.ndarray`` of shape ``[T, *feature_shape]`` and dtype ``dtype``;
* ``decode(array, **kw) -> Piece`` (keyword options go to the module's decoder);
* ``cache_key() -> str``: changes whenever the encoded arrays would;
* ``feature_shape``, ``dtype``, and ``vocab_size`` (``None`` for multi-hot rolls).

Names and options:

* ``'events'`` (:mod:`dsjax.data.events`): ``shift_ms``, ``max_shift_steps``, ``velocity_bins``;
  ``int32 [T]`` ids.
* ``'pianoroll'`` (:mod:`dsjax.data.pianoroll`): ``grid``, ``step``, ``keys``, ``velocity_plane``,
  ``onset_plane``, ``include_drums``; ``uint8 [T, keys]`` (or ``[T, keys, planes]``).
* ``'aligned'`` (:mod:`dsjax.data.aligned`): ``grid``, ``step``, ``keys``, ``include_drums``;
  ``uint8 [T, keys]`` onset multi-hot per step.
* ``'note_duration'`` (:mod:`dsjax.data.aligned`): ``resolution``, ``max_duration``, ``grid``,
  ``include_drums``; ``int32 [T, 2]`` (note token, duration token).
* ``'voice_rolls'`` (log 10/21, multi-voice LSTM): ``voices``, ``grid``, ``step``, ``keys``,
  ``include_drums``; ``uint8 [T, voices, keys]``, one multi-hot roll per ``part`` of the piece.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import numpy as np

from dsjax.data import aligned, events, pianoroll
from dsjax.data.notes import NOTE_DTYPE, Piece, sort_notes


class Encoding:
  """Interface of every registered encoding."""
  name: str = ''
  vocab_size: int | None = None

  @property
  def feature_shape(self) -> tuple[int, ...]:
    raise NotImplementedError

  @property
  def dtype(self) -> np.dtype:
    raise NotImplementedError

  def encode(self, piece: Piece) -> np.ndarray:
    raise NotImplementedError

  def decode(self, array: np.ndarray, **kw) -> Piece:
    raise NotImplementedError

  def cache_key(self) -> str:
    raise NotImplementedError

  def options(self) -> dict[str, Any]:
    """The options that built it (``get_encoding(e.name, **e.options())`` rebuilds it)."""
    raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class EventEncoding(Encoding):
  """Performance-RNN style events (log's baseline): ``int32 [T]`` ids below ``vocab.size``."""
  vocab: events.EventVocab = events.EventVocab()
  name = 'events'

  @property
  def vocab_size(self) -> int:
    return self.vocab.size

  @property
  def feature_shape(self) -> tuple[int, ...]:
    return ()

  @property
  def dtype(self) -> np.dtype:
    return np.dtype(np.int32)

  def encode(self, piece: Piece) -> np.ndarray:
    return np.asarray(events.encode_events(piece, self.vocab), np.int32)

  def decode(self, array: np.ndarray, **kw) -> Piece:
    return events.decode_events_to_piece(array, self.vocab, **kw)

  def cache_key(self) -> str:
    return self.vocab.cache_key()

  def options(self) -> dict[str, Any]:
    return dataclasses.asdict(self.vocab)


@dataclasses.dataclass(frozen=True)
class PianorollEncoding(Encoding):
  """Multi-hot piano roll ``[T, keys]`` (``[T, keys, planes]`` with extra planes)."""
  cfg: pianoroll.RollConfig = pianoroll.RollConfig()
  name = 'pianoroll'

  @property
  def feature_shape(self) -> tuple[int, ...]:
    return self.cfg.frame_shape

  @property
  def dtype(self) -> np.dtype:
    return self.cfg.dtype

  def encode(self, piece: Piece) -> np.ndarray:
    return pianoroll.encode_pianoroll(piece, self.cfg)

  def decode(self, array: np.ndarray, **kw) -> Piece:
    return pianoroll.decode_pianoroll_to_piece(array, self.cfg, **kw)

  def cache_key(self) -> str:
    return self.cfg.cache_key()

  def options(self) -> dict[str, Any]:
    return dataclasses.asdict(self.cfg)


@dataclasses.dataclass(frozen=True)
class AlignedEncoding(Encoding):
  """Aligned chord steps (log 10/26): ``uint8 [T, keys]``, the notes starting in each step."""
  cfg: pianoroll.RollConfig = pianoroll.RollConfig()
  name = 'aligned'

  def __post_init__(self):
    aligned.aligned_cache_key(self.cfg)  # Rejects extra planes.

  @property
  def feature_shape(self) -> tuple[int, ...]:
    return (self.cfg.keys,)

  @property
  def dtype(self) -> np.dtype:
    return np.dtype(np.uint8)

  def encode(self, piece: Piece) -> np.ndarray:
    return aligned.encode_aligned(piece, self.cfg)

  def decode(self, array: np.ndarray, *, name: str = 'decoded', qpm: float = 120.0,
             **kw) -> Piece:
    notes = aligned.decode_aligned(array, self.cfg, qpm=qpm, **kw)
    return Piece(name, notes, np.zeros(1), np.full(1, float(qpm)))

  def cache_key(self) -> str:
    return aligned.aligned_cache_key(self.cfg)

  def options(self) -> dict[str, Any]:
    return {k: v for k, v in dataclasses.asdict(self.cfg).items()
            if k not in ('velocity_plane', 'onset_plane')}


@dataclasses.dataclass(frozen=True)
class NoteDurationEncoding(Encoding):
  """The original's note + duration streams: ``int32 [T, 2]`` = (note token 0..128, duration
  token 1..max_duration). ``vocab_size`` is the note stream's (129); durations have
  ``duration_vocab_size`` = max_duration + 1 ids."""
  resolution: float = 0.25
  max_duration: int = 16
  grid: str = 'beats'
  include_drums: bool = False
  name = 'note_duration'
  vocab_size = aligned.NOTE_DURATION_VOCAB

  @property
  def duration_vocab_size(self) -> int:
    return self.max_duration + 1

  @property
  def feature_shape(self) -> tuple[int, ...]:
    return (2,)

  @property
  def dtype(self) -> np.dtype:
    return np.dtype(np.int32)

  def encode(self, piece: Piece) -> np.ndarray:
    tokens, durations = aligned.encode_note_duration(
        piece, self.resolution, self.max_duration, grid=self.grid,
        include_drums=self.include_drums)
    return np.stack([tokens, durations], axis=-1).astype(np.int32)

  def decode(self, array: np.ndarray, *, name: str = 'decoded', qpm: float = 120.0,
             **kw) -> Piece:
    array = np.asarray(array)
    notes = aligned.decode_note_duration(array[:, 0], array[:, 1], self.resolution,
                                         self.max_duration, grid=self.grid, qpm=qpm, **kw)
    return Piece(name, notes, np.zeros(1), np.full(1, float(qpm)))

  def cache_key(self) -> str:
    drums = '-drums' if self.include_drums else ''
    return f'notedur-{self.grid}{self.resolution:g}-max{self.max_duration}{drums}'

  def options(self) -> dict[str, Any]:
    return dict(resolution=self.resolution, max_duration=self.max_duration, grid=self.grid,
                include_drums=self.include_drums)


@dataclasses.dataclass(frozen=True)
class VoiceRollEncoding(Encoding):
  """One multi-hot roll per voice (log 10/21): ``uint8 [T, voices, keys]``.

  Voice ``v`` is the ``v``-th distinct ``part`` of the piece in increasing order (for the music21
  Bach chorales: soprano, alto, tenor, bass). A piece whose number of parts is not ``voices`` is
  rejected (``ValueError``; the cache then skips it with that reason). Every voice is encoded with
  :func:`pianoroll.encode_pianoroll` on one common length (the last note end over all voices).
  Decoding gives voice ``v`` the part number ``v``; within a voice, held frames merge into one
  note, so ``encode(decode(roll)) == roll`` for any binary roll.
  """
  cfg: pianoroll.RollConfig = pianoroll.RollConfig()
  voices: int = 4
  name = 'voice_rolls'

  def __post_init__(self):
    if int(self.voices) != self.voices or self.voices < 1:
      raise ValueError(f'voice_rolls: voices must be an integer >= 1, got {self.voices!r}')
    if self.cfg.num_planes != 1:
      raise ValueError(f'voice_rolls: extra planes are not supported, got {self.cfg.planes}')

  @property
  def feature_shape(self) -> tuple[int, ...]:
    return (int(self.voices), self.cfg.keys)

  @property
  def dtype(self) -> np.dtype:
    return np.dtype(np.uint8)

  def encode(self, piece: Piece) -> np.ndarray:
    notes = piece.notes if self.cfg.include_drums else piece.notes[~piece.notes['is_drum']]
    parts = np.unique(notes['part'])
    if len(parts) != self.voices:
      raise ValueError(f'{piece.name}: {len(parts)} parts {parts.tolist()}, voice_rolls needs '
                       f'exactly voices={self.voices}')
    _, _, end = pianoroll.note_frames(piece.with_notes(notes), self.cfg.grid, self.cfg.step,
                                      self.cfg.include_drums)
    num_frames = int(end.max()) if len(end) else 0
    return np.stack([pianoroll.encode_pianoroll(piece.with_notes(notes[notes['part'] == p]),
                                                self.cfg, num_frames=num_frames)
                     for p in parts], axis=1)

  def decode(self, array: np.ndarray, *, name: str = 'decoded', qpm: float = 120.0,
             **kw) -> Piece:
    """``[T, voices, keys]`` (binary or probabilities; ``threshold`` etc. as
    :func:`pianoroll.decode_pianoroll`) -> a piece whose voice ``v`` is ``part == v``."""
    array = np.asarray(array)
    if array.ndim != 3 or array.shape[1:] != self.feature_shape:
      raise ValueError(f'voice_rolls: expected [T, {self.voices}, {self.cfg.keys}], '
                       f'got shape {array.shape}')
    per_voice = []
    for v in range(array.shape[1]):
      notes = pianoroll.decode_pianoroll(array[:, v], self.cfg, qpm=qpm, **kw)
      notes['part'] = v
      per_voice.append(notes)
    notes = np.concatenate(per_voice) if per_voice else np.zeros(0, NOTE_DTYPE)
    return Piece(name, sort_notes(notes), np.zeros(1), np.full(1, float(qpm)))

  def cache_key(self) -> str:
    return f'voices{int(self.voices)}-{self.cfg.cache_key()}'

  def options(self) -> dict[str, Any]:
    return dict(voices=int(self.voices), grid=self.cfg.grid, step=self.cfg.step,
                keys=self.cfg.keys, include_drums=self.cfg.include_drums)


def _roll_config(grid='beats', step=0.25, keys=128, velocity_plane=False, onset_plane=False,
                 include_drums=False) -> pianoroll.RollConfig:
  return pianoroll.RollConfig(grid=grid, step=float(step), keys=int(keys),
                              velocity_plane=bool(velocity_plane), onset_plane=bool(onset_plane),
                              include_drums=bool(include_drums))


def _events(shift_ms=10, max_shift_steps=100, velocity_bins='log2') -> EventEncoding:
  return EventEncoding(events.EventVocab(shift_ms=shift_ms, max_shift_steps=int(max_shift_steps),
                                         velocity_bins=velocity_bins))


def _pianoroll(**options) -> PianorollEncoding:
  return PianorollEncoding(_roll_config(**options))


def _aligned(grid='beats', step=0.25, keys=128, include_drums=False) -> AlignedEncoding:
  return AlignedEncoding(_roll_config(grid, step, keys, include_drums=include_drums))


def _note_duration(resolution=0.25, max_duration=16, grid='beats',
                   include_drums=False) -> NoteDurationEncoding:
  return NoteDurationEncoding(float(resolution), int(max_duration), grid, bool(include_drums))


def _voice_rolls(voices=4, grid='beats', step=0.25, keys=128,
                 include_drums=False) -> VoiceRollEncoding:
  return VoiceRollEncoding(_roll_config(grid, step, keys, include_drums=include_drums), int(voices))


ENCODINGS: dict[str, Callable[..., Encoding]] = {
    'events': _events,
    'pianoroll': _pianoroll,
    'aligned': _aligned,
    'note_duration': _note_duration,
    'voice_rolls': _voice_rolls,
}


def get_encoding(name: str | Encoding, **options) -> Encoding:
  """Builds a registered encoding; unknown names or options are a clear error."""
  if isinstance(name, Encoding):
    if options:
      raise TypeError(f'options {sorted(options)} given with an Encoding instance')
    return name
  if name not in ENCODINGS:
    raise ValueError(f'unknown encoding {name!r}; choose one of {tuple(ENCODINGS)}')
  try:
    return ENCODINGS[name](**options)
  except TypeError as e:
    raise TypeError(f'bad options {sorted(options)} for encoding {name!r}: {e}') from e
