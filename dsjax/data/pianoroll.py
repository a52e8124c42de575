"""Multi-hot piano rolls on a beat or seconds grid (the log's 09/16 baseline input; original §2.2).

A roll is ``[time, keys]`` with one row per grid frame and one column per key. Key ``j`` is MIDI
pitch ``cfg.lowest_pitch + j`` (0 for 128 keys, 21 = A0 for 88 keys).

Without extra planes a roll is ``uint8 [T, keys]`` (1 = sounding). With extra planes it is
``[T, keys, planes]``; the planes come in this fixed order, each only when enabled:

  * ``sounding`` (always plane 0): 1 while a note is held;
  * ``onset`` (``cfg.onset_plane``): 1 on the first frame of each note, so repeated notes of one
    pitch stay apart;
  * ``velocity`` (``cfg.velocity_plane``): velocity / 127 on every frame the note covers (where
    notes of one pitch overlap, the latest-started note's velocity).

``cfg.plane_index('onset')`` gives the index. Rolls with a velocity plane are float32, others uint8.

Frames: a note covers frames ``[round(start / step), round(end / step))``, at least one frame, with
times in beats (through the piece's tempo map) or seconds; rounding is half-up.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np

from dsjax.data.notes import NOTE_DTYPE, Piece, check_qpm, sort_notes

KEYS_88_LOWEST = 21  # A0; the 88 keys are MIDI 21..108.
PLANE_NAMES = ('sounding', 'onset', 'velocity')


@dataclasses.dataclass(frozen=True)
class RollConfig:
  """Grid and layout of a piano roll.

  Attributes:
    grid: 'beats' (quarter notes, through the tempo map) or 'seconds'.
    step: frame length in grid units; 0.25 beats is the log's sixteenth-note grid.
    keys: 128 (MIDI 0..127) or 88 (MIDI 21..108).
    velocity_plane: add a velocity / 127 plane (makes the roll float32).
    onset_plane: add an onset plane (separates repeated notes).
    include_drums: keep drum notes (dropped by default: their pitches are not pitches).
  """
  grid: Literal['beats', 'seconds'] = 'beats'
  step: float = 0.25
  keys: int = 128
  velocity_plane: bool = False
  onset_plane: bool = False
  include_drums: bool = False

  def __post_init__(self):
    if self.grid not in ('beats', 'seconds'):
      raise ValueError(f"RollConfig.grid must be 'beats' or 'seconds', got {self.grid!r}")
    if not (isinstance(self.step, (int, float)) and self.step > 0 and np.isfinite(self.step)):
      raise ValueError(f'RollConfig.step must be a positive number, got {self.step!r}')
    if self.keys not in (88, 128):
      raise ValueError(f'RollConfig.keys must be 88 or 128, got {self.keys!r}')

  @property
  def lowest_pitch(self) -> int:
    """MIDI pitch of key 0."""
    return 0 if self.keys == 128 else KEYS_88_LOWEST

  @property
  def highest_pitch(self) -> int:
    return self.lowest_pitch + self.keys - 1

  @property
  def planes(self) -> tuple[str, ...]:
    """Plane names in order; ``('sounding',)`` means a plain ``[T, keys]`` roll."""
    return tuple(n for n, on in zip(PLANE_NAMES, (True, self.onset_plane, self.velocity_plane))
                 if on)

  @property
  def num_planes(self) -> int:
    return len(self.planes)

  def plane_index(self, name: str) -> int:
    if name not in self.planes:
      raise ValueError(f'plane {name!r} is not enabled in {self}; planes are {self.planes}')
    return self.planes.index(name)

  @property
  def dtype(self) -> np.dtype:
    return np.dtype(np.float32 if self.velocity_plane else np.uint8)

  @property
  def frame_shape(self) -> tuple[int, ...]:
    """Shape of one frame: ``(keys,)`` or ``(keys, planes)``."""
    return (self.keys,) if self.num_planes == 1 else (self.keys, self.num_planes)

  def cache_key(self) -> str:
    """A short string naming every option, for cache paths: e.g. ``roll-beats0.25-k128-on``."""
    parts = [f'roll-{self.grid}{self.step:g}', f'k{self.keys}']
    if self.onset_plane:
      parts.append('on')
    if self.velocity_plane:
      parts.append('vel')
    if self.include_drums:
      parts.append('drums')
    return '-'.join(parts)


def _round_half_up(x: np.ndarray) -> np.ndarray:
  return np.floor(np.asarray(x, np.float64) + 0.5).astype(np.int64)


def _notes_of(piece_or_notes) -> tuple[np.ndarray, Piece | None]:
  if isinstance(piece_or_notes, Piece):
    return piece_or_notes.notes, piece_or_notes
  notes = np.asarray(piece_or_notes)
  if notes.dtype != NOTE_DTYPE:
    raise TypeError(f'expected a Piece or a NOTE_DTYPE array, got dtype {notes.dtype}')
  return notes, None


def note_frames(piece: Piece | np.ndarray, grid: str, step: float,
                include_drums: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Grid frames of each note.

  Returns ``(notes, start_frame, end_frame)``: the kept notes ``NOTE_DTYPE[n]`` and ``int64[n]``
  frames with ``end_frame >= start_frame + 1``. ``grid='beats'`` needs a :class:`Piece` (its tempo
  map); a bare note array is read at 120 qpm.
  """
  notes, p = _notes_of(piece)
  if not include_drums:
    notes = notes[~notes['is_drum']]
  if grid == 'beats':
    p = p if p is not None else Piece('notes', notes[:0])
    start, end = p.seconds_to_beats(notes['start']), p.seconds_to_beats(notes['end'])
  elif grid == 'seconds':
    start, end = notes['start'], notes['end']
  else:
    raise ValueError(f"grid must be 'beats' or 'seconds', got {grid!r}")
  s = _round_half_up(start / step)
  e = np.maximum(_round_half_up(end / step), s + 1)
  return notes, s, e


def _expand_ranges(start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """All integers of ``[start_i, end_i)`` and the index ``i`` each belongs to."""
  lengths = end - start
  owner = np.repeat(np.arange(len(start)), lengths)
  first = np.concatenate([[0], np.cumsum(lengths)[:-1]]) if len(start) else np.zeros(0, np.int64)
  frames = np.arange(lengths.sum()) - np.repeat(first, lengths) + np.repeat(start, lengths)
  return frames.astype(np.int64), owner


def encode_pianoroll(piece: Piece | np.ndarray, cfg: RollConfig = RollConfig(), *,
                     num_frames: int | None = None, return_dropped: bool = False):
  """Encodes a piece as a piano roll.

  Args:
    piece: a :class:`Piece` (or a ``NOTE_DTYPE`` array, read at 120 qpm for a beat grid).
    cfg: grid and layout.
    num_frames: pad with silence or cut to this many frames (default: up to the last note end).
    return_dropped: also return how many notes fell outside the key range (they are dropped).

  Returns:
    ``uint8 [T, keys]`` if ``cfg.num_planes == 1``, else ``[T, keys, planes]`` (``cfg.dtype``);
    with ``return_dropped``, the pair ``(roll, num_dropped)``.
  """
  notes, s, e = note_frames(piece, cfg.grid, cfg.step, cfg.include_drums)
  key = notes['pitch'].astype(np.int64) - cfg.lowest_pitch
  inside = (key >= 0) & (key < cfg.keys)
  dropped = int((~inside).sum())
  notes, s, e, key = notes[inside], s[inside], e[inside], key[inside]
  T = int(e.max()) if len(e) else 0
  if num_frames is not None:
    T = int(num_frames)
    keep = s < T
    notes, s, e, key = notes[keep], s[keep], np.minimum(e[keep], T), key[keep]

  roll = np.zeros((T, cfg.keys, cfg.num_planes), cfg.dtype)
  frames, owner = _expand_ranges(s, e)
  roll[frames, key[owner], 0] = 1
  if cfg.onset_plane:
    roll[s, key, cfg.plane_index('onset')] = 1
  if cfg.velocity_plane:
    # Per cell, the covering note with the latest start (then the last in input order) wins.
    cell = frames * cfg.keys + key[owner]
    order = np.lexsort((np.arange(len(cell)), s[owner], cell))
    cell_sorted = cell[order]
    last = np.ones(len(cell_sorted), bool)
    last[:-1] = cell_sorted[1:] != cell_sorted[:-1]
    win = owner[order[last]]
    roll[frames[order[last]], key[win], cfg.plane_index('velocity')] = (
        notes['velocity'][win].astype(np.float32) / 127.0)
  if cfg.num_planes == 1:
    roll = roll[..., 0]
  return (roll, dropped) if return_dropped else roll


def _split_planes(roll: np.ndarray, cfg: RollConfig, onset, velocity):
  roll = np.asarray(roll)
  if roll.ndim == 3:
    if roll.shape[1:] != (cfg.keys, cfg.num_planes):
      raise ValueError(f'roll of shape {roll.shape} does not match {cfg} '
                       f'(expected [T, {cfg.keys}, {cfg.num_planes}])')
    if onset is None and cfg.onset_plane:
      onset = roll[..., cfg.plane_index('onset')]
    if velocity is None and cfg.velocity_plane:
      velocity = roll[..., cfg.plane_index('velocity')]
    roll = roll[..., 0]
  elif roll.ndim != 2 or roll.shape[1] != cfg.keys:
    raise ValueError(f'roll of shape {roll.shape} does not match {cfg} (expected [T, {cfg.keys}])')
  for name, plane in (('onset', onset), ('velocity', velocity)):
    if plane is not None and np.shape(plane) != roll.shape:
      raise ValueError(f'{name} plane of shape {np.shape(plane)} does not match roll {roll.shape}')
  return roll, onset, velocity


def decode_pianoroll_frames(active: np.ndarray, onset: np.ndarray | None = None,
                            max_sustain_frames: int | None = None):
  """Segments a boolean ``[T, keys]`` roll into notes.

  A note starts on an active frame whose previous frame is inactive, or where ``onset`` is set
  (onsets on inactive frames are ignored), and lasts until the next start or inactive frame. With
  ``max_sustain_frames = M`` a note held longer than ``M`` frames ends after ``M`` frames and is
  struck again while the key stays down (chunks of ``M`` frames).

  Returns ``(key, start_frame, end_frame)``, ``int64[n]`` each, sorted by key then start.
  """
  active = np.asarray(active, bool)
  T, K = active.shape
  # Key-major flat layout with one inactive pad frame per key, so runs never cross keys.
  act = np.zeros((K, T + 1), bool)
  act[:, :T] = active.T
  prev = np.zeros_like(act)
  prev[:, 1:] = act[:, :-1]
  starts = act & ~prev
  if onset is not None:
    ons = np.zeros_like(act)
    ons[:, :T] = np.asarray(onset, bool).T
    starts |= act & ons
  if max_sustain_frames is not None:
    M = int(max_sustain_frames)
    if M < 1:
      raise ValueError(f'max_sustain_frames must be >= 1, got {max_sustain_frames}')
    flat_s = starts.reshape(-1)
    idx = np.arange(flat_s.size)
    last_start = np.maximum.accumulate(np.where(flat_s, idx, 0))
    pos = idx - last_start
    starts = starts | (act & (pos % M == 0).reshape(act.shape))
  flat_start = np.flatnonzero(starts)
  boundary = np.flatnonzero((starts | ~act).reshape(-1))
  flat_end = boundary[np.searchsorted(boundary, flat_start, side='right')]
  key, start = np.divmod(flat_start, T + 1)
  return key, start, start + (flat_end - flat_start)


def frames_to_seconds(frames: np.ndarray, grid: str, step: float, qpm: float = 120.0,
                      tempo: Piece | None = None) -> np.ndarray:
  """Grid frames -> seconds (beats through ``tempo``'s map if given, else at ``qpm``).

  Raises ValueError for a ``qpm`` that is not a finite number > 0.
  """
  qpm = check_qpm(qpm)
  t = frames.astype(np.float64) * step
  if grid == 'seconds':
    return t
  if tempo is not None:
    return tempo.beats_to_seconds(t)
  return t * 60.0 / qpm


def decode_pianoroll(roll: np.ndarray, cfg: RollConfig = RollConfig(), *, threshold: float = 0.5,
                     max_sustain_frames: int | None = None, onset: np.ndarray | None = None,
                     velocity: np.ndarray | None = None, qpm: float = 120.0,
                     tempo: Piece | None = None, default_velocity: int = 80) -> np.ndarray:
  """Decodes a roll into notes; held frames merge into one note.

  Args:
    roll: ``[T, keys]`` (binary, probabilities, or {-1, +1} from a tanh: use ``threshold=0.0``) or
      ``[T, keys, planes]`` laid out as ``cfg`` says (onset and velocity planes are then used).
    cfg: the roll's grid and layout.
    threshold: a cell is on where ``value > threshold`` (sounding and onset planes alike).
    max_sustain_frames: end notes held longer than this and strike them again (log 09/16: "add
      limitation on sustain time").
    onset: ``[T, keys]`` onset plane (overrides the roll's own); an onset splits a held note.
    velocity: ``[T, keys]`` velocity / 127 plane; a note takes the value at its first frame, and
      ``default_velocity`` where that is <= 0.
    qpm: tempo for a beat grid (quarter notes per minute).
    tempo: a :class:`Piece` whose tempo map converts beats to seconds (overrides ``qpm``).
    default_velocity: velocity of every note without a velocity plane.

  Returns:
    ``NOTE_DTYPE[n]`` sorted by ``(start, pitch)``, program 0, part 0.
  Raises:
    ValueError: a non-finite ``threshold``, a ``qpm`` that is not a finite number > 0, or a roll
      or plane whose shape does not match ``cfg``.
  """
  if not np.all(np.isfinite(threshold)):
    raise ValueError(f'threshold must be a finite number, got {threshold!r}')
  check_qpm(qpm)
  sounding, onset, velocity = _split_planes(roll, cfg, onset, velocity)
  active = sounding > threshold
  onset_b = None if onset is None else np.asarray(onset) > threshold
  key, s, e = decode_pianoroll_frames(active, onset_b, max_sustain_frames)
  notes = np.zeros(len(key), NOTE_DTYPE)
  notes['pitch'] = key + cfg.lowest_pitch
  notes['start'] = frames_to_seconds(s, cfg.grid, cfg.step, qpm, tempo)
  notes['end'] = frames_to_seconds(e, cfg.grid, cfg.step, qpm, tempo)
  if velocity is not None:
    v = np.rint(np.asarray(velocity, np.float64)[s, key] * 127.0)
    notes['velocity'] = np.where(v > 0, np.clip(v, 1, 127), default_velocity)
  else:
    notes['velocity'] = default_velocity
  return sort_notes(notes)


def decode_pianoroll_to_piece(roll: np.ndarray, cfg: RollConfig = RollConfig(), *,
                              name: str = 'decoded', qpm: float = 120.0, **kwargs) -> Piece:
  """:func:`decode_pianoroll` wrapped in a :class:`Piece` at a constant ``qpm``."""
  tempo = kwargs.get('tempo')
  notes = decode_pianoroll(roll, cfg, qpm=qpm, **kwargs)
  if tempo is not None:
    return Piece(name, notes, tempo.tempo_times.copy(), tempo.tempo_qpm.copy())
  return Piece(name, notes, np.zeros(1), np.full(1, float(qpm)))


def spread_over_transpositions(freq: np.ndarray, transpose: int) -> np.ndarray:
  """Each key's mass ``freq [..., keys]`` spread evenly over its ``2 * transpose + 1``
  neighbours (the marginal under random transposition by up to ``transpose`` keys)."""
  freq = np.asarray(freq, np.float64)
  box = np.ones(2 * transpose + 1) / (2 * transpose + 1)
  rows = freq.reshape(-1, freq.shape[-1])
  return np.stack([np.convolve(np.pad(f, transpose), box, mode='valid') for f in rows]
                  ).reshape(freq.shape)


def key_log_odds(values: np.ndarray, feature_shape: tuple[int, ...], transpose: int = 0,
                 clip: float = 1e-4) -> np.ndarray:
  """Log-odds of each key's frequency over the frames ``values [N * prod(feature_shape)]`` (a
  SequenceSet's values): ``float32 feature_shape``, keys on the last axis.

  With ``transpose`` > 0 (training transposes by up to that many keys) each key's mass is spread
  evenly over its ``2 * transpose + 1`` neighbours. Frequencies are clipped to
  ``[clip, 1 - clip]``. A model's output bias set to this starts at the marginal distribution.
  """
  freq = np.asarray(values, np.float64).reshape(-1, *feature_shape).mean(0)
  if transpose > 0:
    freq = spread_over_transpositions(freq, transpose)
  freq = np.clip(freq, clip, 1 - clip)
  return (np.log(freq) - np.log1p(-freq)).astype(np.float32)
