"""The research log's baseline event encoding (performance-RNN style), fixed and vectorised.

Vocabulary layout (``EventVocab()`` defaults give the original's 363 classes)::

  [0, 128)                      note-on, pitch = id
  [128, 256)                    note-off, pitch = id - 128
  [256, 256 + max_shift_steps)  time shift of k * shift_ms, k = id - 256 + 1 (1..max_shift_steps)
  [shift end, size)             velocity bin

Differences from the 2017 code (deepsymphony_original.md §2.1), on purpose:
- There is no zero shift: shift ids mean 1..max_shift_steps steps. Gaps longer than the largest
  shift become several shifts (the original emitted id 255, i.e. note-off of pitch 127).
- The largest shift is its own id and never collides with the first velocity id (the original's
  ``ExampleCoder`` clipped to S and produced id 356 = velocity bin 0).
- Notes held by the sustain pedal are extended at load time (see ``midi_io.load_midi``), not dropped.

Velocity bins (``velocity_bins``):
- ``'log2'``: the log's ``int(log2(v))`` for v in 1..127, i.e. 7 bins (0..6). A bin decodes to
  its lower bound ``2**b`` (1, 2, 4, ..., 64), as the original did and as the log names them
  (``<velocity 64>``), so decoded velocities are at most 64.
- ``'linear32'``: Performance RNN's 32 bins of width 4: ``b = (v - 1) // 4``, decoded to
  ``1 + 4 * b`` (Magenta's ``bin_to_velocity``).
- ``'none'``: no velocity events; decoding uses ``default_velocity``.
Each representative lies inside its bin, so encode(decode(encode(x))) == encode(x).

Note names follow the "C4 = MIDI 60" convention (scientific pitch notation; pitch 0 is C-1).
The log's own names used ``octave = pitch // 12`` (C5 = 60); ours are one octave lower.
"""

from __future__ import annotations

import dataclasses
from typing import Union

import numpy as np

from dsjax.data.notes import NOTE_DTYPE, Piece, check_qpm, sort_notes

NOTE_NAMES = ('C', 'C#', 'D', 'D#', 'E', 'F', 'F#', 'G', 'G#', 'A', 'A#', 'B')
VELOCITY_BINS = ('log2', 'linear32', 'none')

NotesLike = Union[Piece, np.ndarray]


def pitch_name(pitch: int) -> str:
  """'C4' for 60 (C4 = MIDI 60 convention), 'C-1' for 0, 'G9' for 127."""
  return f'{NOTE_NAMES[int(pitch) % 12]}{int(pitch) // 12 - 1}'


@dataclasses.dataclass(frozen=True)
class EventVocab:
  """Event vocabulary: note-on x128, note-off x128, shifts x max_shift_steps, velocity bins.

  Attributes:
    shift_ms: the time quantum in milliseconds; all times are rounded to it.
    max_shift_steps: the largest shift, in quanta (100 x 10 ms = 1 s).
    velocity_bins: 'log2' (7 bins), 'linear32' (32 bins) or 'none'.
  """
  shift_ms: float = 10
  max_shift_steps: int = 100
  velocity_bins: str = 'log2'

  def __post_init__(self):
    if not (np.isfinite(self.shift_ms) and self.shift_ms > 0):
      raise ValueError(f'EventVocab.shift_ms must be > 0, got {self.shift_ms!r}')
    if int(self.max_shift_steps) != self.max_shift_steps or self.max_shift_steps < 1:
      raise ValueError(f'EventVocab.max_shift_steps must be an integer >= 1, '
                       f'got {self.max_shift_steps!r}')
    if self.velocity_bins not in VELOCITY_BINS:
      raise ValueError(f'EventVocab.velocity_bins must be one of {VELOCITY_BINS}, '
                       f'got {self.velocity_bins!r}')

  # Layout.
  @property
  def note_on_offset(self) -> int:
    return 0

  @property
  def note_off_offset(self) -> int:
    return 128

  @property
  def shift_offset(self) -> int:
    return 256

  @property
  def velocity_offset(self) -> int:
    return 256 + int(self.max_shift_steps)

  @property
  def num_velocity_bins(self) -> int:
    return {'log2': 7, 'linear32': 32, 'none': 0}[self.velocity_bins]

  @property
  def size(self) -> int:
    return self.velocity_offset + self.num_velocity_bins

  @property
  def steps_per_second(self) -> float:
    return 1000.0 / self.shift_ms

  def cache_key(self) -> str:
    """A short string that changes whenever the encoding changes (for preprocessing caches)."""
    return f'events-shift{self.shift_ms:g}ms-max{self.max_shift_steps}-vel{self.velocity_bins}'

  # Velocity bins.
  def velocity_to_bin(self, velocity) -> np.ndarray:
    """MIDI velocities (clipped to 1..127) -> bin indices ``[...]`` int (0 for 'none')."""
    v = np.clip(np.asarray(velocity, np.int64), 1, 127)
    if self.velocity_bins == 'log2':
      return _LOG2_BIN[v]
    if self.velocity_bins == 'linear32':
      return (v - 1) // 4
    return np.zeros_like(v)

  def bin_to_velocity(self, bins) -> np.ndarray:
    """Bin indices -> representative MIDI velocity (the bin's lower bound)."""
    b = np.asarray(bins, np.int64)
    if self.velocity_bins == 'log2':
      return np.left_shift(1, b)
    if self.velocity_bins == 'linear32':
      return 1 + 4 * b
    raise ValueError("velocity_bins='none' has no bins")

  # Names.
  def event_name(self, event_id: int) -> str:
    """'<C4 on>', '<C4 off>', '<shift 30ms>', '<velocity 64>' (velocity = decoded value)."""
    i = int(event_id)
    if not 0 <= i < self.size:
      raise ValueError(f'event id {i} outside the vocabulary [0, {self.size})')
    if i < self.note_off_offset:
      return f'<{pitch_name(i)} on>'
    if i < self.shift_offset:
      return f'<{pitch_name(i - self.note_off_offset)} off>'
    if i < self.velocity_offset:
      return f'<shift {(i - self.shift_offset + 1) * self.shift_ms:g}ms>'
    return f'<velocity {int(self.bin_to_velocity(i - self.velocity_offset))}>'


_LOG2_BIN = np.array([0] + [v.bit_length() - 1 for v in range(1, 128)], np.int64)


def _note_columns(piece_or_notes: NotesLike) -> np.ndarray:
  notes = piece_or_notes.notes if isinstance(piece_or_notes, Piece) else piece_or_notes
  notes = np.asarray(notes)
  if notes.dtype.names is None or not {'pitch', 'start', 'end', 'velocity'} <= set(
      notes.dtype.names):
    raise ValueError(f'expected a Piece or a NOTE_DTYPE array, got dtype {notes.dtype}')
  return notes.reshape(-1)


def _quantized(piece_or_notes: NotesLike, vocab: EventVocab):
  """Canonical notes on the shift grid, as columns (pitch, start_step, end_step, velocity).

  Rules (the exact semantics of the encoding):
  - times are rounded to the nearest quantum; a note shorter than one quantum lasts one quantum;
  - notes of one pitch that start on the same step merge (latest end, loudest velocity);
  - a note ends no later than the next onset of its pitch (a re-strike closes the sounding note).
  Returns arrays sorted by (pitch, start_step).
  """
  notes = _note_columns(piece_or_notes)
  pitch = notes['pitch'].astype(np.int64)
  start = notes['start'].astype(np.float64)
  end = notes['end'].astype(np.float64)
  bad = (pitch < 0) | (pitch > 127)
  if bad.any():
    i = int(np.flatnonzero(bad)[0])
    raise ValueError(f'note {i}: pitch {pitch[i]} outside 0..127')
  bad = ~np.isfinite(start) | ~np.isfinite(end) | (start < 0) | (end < start)
  if bad.any():
    i = int(np.flatnonzero(bad)[0])
    raise ValueError(f'note {i}: bad times start={start[i]} end={end[i]} '
                     '(need finite 0 <= start <= end)')
  if len(notes) == 0:
    z = np.zeros(0, np.int64)
    return z, z, z, z
  scale = vocab.steps_per_second
  qs = np.rint(start * scale).astype(np.int64)
  qe = np.maximum(np.rint(end * scale).astype(np.int64), qs + 1)
  vel = np.clip(notes['velocity'].astype(np.int64), 1, 127)
  order = np.lexsort((qs, pitch))
  pitch, qs, qe, vel = pitch[order], qs[order], qe[order], vel[order]
  first = np.ones(len(pitch), bool)
  first[1:] = (pitch[1:] != pitch[:-1]) | (qs[1:] != qs[:-1])
  idx = np.flatnonzero(first)
  qe = np.maximum.reduceat(qe, idx)
  vel = np.maximum.reduceat(vel, idx)
  pitch, qs = pitch[idx], qs[idx]
  same = pitch[1:] == pitch[:-1]
  qe[:-1] = np.where(same, np.minimum(qe[:-1], qs[1:]), qe[:-1])
  return pitch, qs, qe, vel


def canonical_notes(piece_or_notes: NotesLike, vocab: EventVocab = EventVocab(), *,
                    default_velocity: int = 64) -> np.ndarray:
  """What ``decode_events(encode_events(x))`` returns: ``NOTE_DTYPE[n]``, sorted.

  Times on the shift grid (see ``_quantized`` for the rules), velocities replaced by their bin's
  representative (``default_velocity`` for ``velocity_bins='none'``), program/part/drum reset to 0.
  """
  pitch, qs, qe, vel = _quantized(piece_or_notes, vocab)
  return _make(pitch, qs, qe, _representative(vel, vocab, default_velocity), vocab)


def _representative(vel, vocab, default_velocity):
  if vocab.velocity_bins == 'none':
    return np.full(len(vel), default_velocity, np.int64)
  return vocab.bin_to_velocity(vocab.velocity_to_bin(vel))


def _make(pitch, qs, qe, vel, vocab) -> np.ndarray:
  out = np.zeros(len(pitch), NOTE_DTYPE)
  out['pitch'] = pitch
  out['start'] = qs * (vocab.shift_ms / 1000.0)
  out['end'] = qe * (vocab.shift_ms / 1000.0)
  out['velocity'] = vel
  return sort_notes(out)


def encode_events(piece_or_notes: NotesLike, vocab: EventVocab = EventVocab()) -> np.ndarray:
  """Notes -> event ids ``int32[n_events]``.

  All parts and drums are merged (the vocabulary has no instrument). Times start at 0 (leading
  silence is kept as shifts). At one time step: note-offs first, then note-ons, each sorted by
  pitch; a velocity event precedes a note-on only when its bin differs from the last one emitted
  (the first note-on always gets one). A note-on of a pitch that is still sounding is preceded by
  that pitch's note-off (a re-strike). Gaps longer than ``max_shift_steps`` become several shifts.
  """
  pitch, qs, qe, vel = _quantized(piece_or_notes, vocab)
  m = len(pitch)
  if m == 0:
    return np.zeros(0, np.int32)
  t = np.concatenate([qe, qs])
  is_on = np.concatenate([np.zeros(m, bool), np.ones(m, bool)])
  pit = np.concatenate([pitch, pitch])
  order = np.lexsort((pit, is_on, t))
  t, is_on, pit = t[order], is_on[order], pit[order]
  event_id = np.where(is_on, vocab.note_on_offset + pit, vocab.note_off_offset + pit)

  need_vel = np.zeros(2 * m, bool)
  if vocab.num_velocity_bins:
    on_pos = np.flatnonzero(is_on)
    on_bins = vocab.velocity_to_bin(vel[order[on_pos] - m])
    change = np.ones(len(on_pos), bool)
    change[1:] = on_bins[1:] != on_bins[:-1]
    need_vel[on_pos[change]] = True
    vel_ids = vocab.velocity_offset + on_bins[change]

  max_shift = int(vocab.max_shift_steps)
  gaps = np.diff(t, prepend=0)
  n_shift = -(-gaps // max_shift)
  counts = n_shift + need_vel + 1
  ends = np.cumsum(counts)
  out = np.empty(int(ends[-1]), np.int32)
  out[ends - 1] = event_id
  if vocab.num_velocity_bins:
    out[ends[need_vel] - 2] = vel_ids

  total_shift = int(n_shift.sum())
  if total_shift:
    shift_end = np.cumsum(n_shift)
    group_start = np.repeat(shift_end - n_shift, n_shift)
    within = np.arange(total_shift) - group_start
    steps = np.full(total_shift, max_shift, np.int64)
    has = n_shift > 0
    steps[shift_end[has] - 1] = gaps[has] - (n_shift[has] - 1) * max_shift
    out[np.repeat(ends - counts, n_shift) + within] = vocab.shift_offset + steps - 1
  return out


def _check_ids(ids, vocab: EventVocab) -> np.ndarray:
  arr = np.asarray(ids)
  if arr.ndim != 1:
    raise ValueError(f'event ids must be a 1-D sequence, got shape {arr.shape}')
  if arr.dtype.kind not in 'iu':
    if arr.dtype.kind == 'f' and arr.size:
      frac = np.flatnonzero(~np.isfinite(arr) | (arr != np.round(arr)))
      i = int(frac[0]) if len(frac) else 0
      raise ValueError(f'event ids must be integers: got {arr.dtype} value {arr[i].item()!r} '
                       f'at position {i}')
    if arr.size or arr.dtype.kind not in 'f':
      raise ValueError(f'event ids must be integers, got dtype {arr.dtype}')
    return np.zeros(0, np.int64)
  # Bounds are checked in the input's own dtype, so that a uint64 id above 2**63 - 1 is
  # reported as itself and not as its wrapped int64 value.
  bad = np.flatnonzero((arr < 0) | (arr >= vocab.size))
  if len(bad):
    i = int(bad[0])
    raise ValueError(f'event id {arr[i].item()} at position {i} outside the vocabulary '
                     f'[0, {vocab.size}) ({len(bad)} bad ids in all)')
  return arr.astype(np.int64)


def decode_events(ids, vocab: EventVocab = EventVocab(), *, max_sustain: float | None = None,
                  default_velocity: int = 64) -> np.ndarray:
  """Event ids ``[n_events]`` -> notes ``NOTE_DTYPE[n_notes]`` (program 0, part 0), sorted.

  Accepts any integer sequence in ``[0, vocab.size)``. One note of a pitch sounds at a time, as
  on a piano:
  - a note-off of a pitch that is not sounding is ignored;
  - a note-on of a sounding pitch (a re-strike) ends the sounding note there and starts a new one;
    a note re-struck on the step it started on is replaced by the new one (the last note-on of a
    pitch on one step is the one that sounds, with the velocity in force there);
  - notes still sounding after the last event end at the final time (after trailing shifts);
  - a note whose on and off fall on the same time step lasts one step (``shift_ms``);
  - ``max_sustain`` (seconds; rounded down to whole steps, at least one) cuts longer notes;
    ``None`` or ``inf`` is no limit;
  - velocity is the representative of the last velocity event, ``default_velocity`` before any.
  So the notes never overlap on one pitch, and a MIDI file written from them (at a tempo whose
  tick is shorter than ``shift_ms``) reads back as the same notes up to one tick.
  Raises ValueError for a 2-D or non-integer input or an id outside the vocabulary (naming the
  id and its position), or a ``max_sustain`` that is not > 0.
  """
  ids = _check_ids(ids, vocab)
  if not 1 <= int(default_velocity) <= 127:
    raise ValueError(f'default_velocity must be in 1..127, got {default_velocity}')
  n = len(ids)
  if n == 0:
    return np.zeros(0, NOTE_DTYPE)
  is_shift = (ids >= vocab.shift_offset) & (ids < vocab.velocity_offset)
  time = np.cumsum(np.where(is_shift, ids - vocab.shift_offset + 1, 0))
  t_final = time[-1]

  note_pos = np.flatnonzero(ids < vocab.shift_offset)
  pitch = ids[note_pos] % 128
  order = np.lexsort((note_pos, pitch))
  pos, pit = note_pos[order], pitch[order]
  same_next = np.zeros(len(pos), bool)
  same_next[:-1] = pit[1:] == pit[:-1]
  next_time = np.full(len(pos), t_final)
  next_time[:-1] = np.where(same_next[:-1], time[pos[1:]], t_final)
  on = ids[pos] < vocab.note_off_offset
  on_pos, on_pit = pos[on], pit[on]
  qs = time[on_pos]
  qe = np.maximum(next_time[on], qs + 1)
  # Of the note-ons of one pitch on one step only the last sounds: the earlier ones would last
  # zero steps (a MIDI reader drops such notes or stacks them on the new one).
  last = np.ones(len(on_pos), bool)
  last[:-1] = (on_pit[1:] != on_pit[:-1]) | (qs[1:] != qs[:-1])
  on_pos, on_pit, qs, qe = on_pos[last], on_pit[last], qs[last], qe[last]
  if max_sustain is not None:
    if not max_sustain > 0:
      raise ValueError(f'max_sustain must be > 0 seconds, got {max_sustain}')
    # Compared as floats first: a limit longer than the whole sequence (inf included) is none.
    max_steps = max(1.0, np.floor(float(max_sustain) * vocab.steps_per_second + 1e-9))
    if max_steps <= t_final:
      qe = np.minimum(qe, qs + int(max_steps))

  if vocab.num_velocity_bins:
    is_vel = ids >= vocab.velocity_offset
    last_vel = np.maximum.accumulate(np.where(is_vel, np.arange(n), -1))[on_pos]
    rep = vocab.bin_to_velocity(np.maximum(ids[np.maximum(last_vel, 0)] - vocab.velocity_offset,
                                           0))
    vel = np.where(last_vel >= 0, rep, int(default_velocity))
  else:
    vel = np.full(len(on_pos), int(default_velocity))
  return _make(on_pit, qs, qe, vel, vocab)


def decode_events_to_piece(ids, vocab: EventVocab = EventVocab(), *, name: str = 'decoded',
                           max_sustain: float | None = None, default_velocity: int = 64,
                           program: int = 0, qpm: float = 120.0) -> Piece:
  """``decode_events`` wrapped in a :class:`Piece` (one part, the given program and tempo).

  Raises ValueError for a ``qpm`` that is not a finite number > 0 (besides ``decode_events``'s).
  """
  qpm = check_qpm(qpm)
  notes = decode_events(ids, vocab, max_sustain=max_sustain, default_velocity=default_velocity)
  notes['program'] = program
  return Piece(name=name, notes=notes, tempo_qpm=np.array([qpm], np.float64))
