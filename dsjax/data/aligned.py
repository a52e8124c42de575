"""Aligned codings: equal-length chord steps (log 10/26); the original note + duration streams.

**Aligned chord steps** (log 10/26: "align all the notes and breaks to the same length, so we can
focus on the combination of chords and ignore the dynamic"). A piece becomes ``uint8 [T, keys]`` on
the grid of a :class:`RollConfig` (grid, step and keys; no extra planes): step ``t`` is the
multi-hot of the notes that *start* in frame ``t`` (same frames as the piano roll), so a break is an
empty step of the same length as a chord. Durations are dropped; consecutive identical steps are
kept (a chord struck twice is two steps). :func:`decode_aligned` gives every note a fixed duration.

For a language model over chords, :class:`ChordVocab` numbers distinct chords: id 0 = ``<rest>``
(the empty step), id 1 = ``<unk>`` (a chord outside the vocabulary), then chords by decreasing
corpus count (ties: by their packed-bit bytes, so the vocabulary is deterministic).

**Note + duration streams** (original §2.3 ``NoteDurationCoder``). Notes on a grid of
``resolution`` beats become two parallel ``int32[n]`` streams sorted by (start, pitch): note tokens
(0..127 a pitch, ``SKIP = 128`` a time advance) and duration tokens (a note's length in steps, or a
SKIP's advance, 1..``max_duration``). A note token does not advance time, so notes between SKIPs
form a chord. Gaps longer than ``max_duration`` become several SKIPs (the original capped them);
note durations are capped at ``max_duration``, as in the original.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from dsjax.data.notes import NOTE_DTYPE, Piece, sort_notes
from dsjax.data.pianoroll import RollConfig, frames_to_seconds, note_frames

REST_ID = 0
UNK_ID = 1
SKIP = 128
NOTE_DURATION_VOCAB = 129  # note tokens 0..127 and SKIP.


def _check_aligned_config(cfg: RollConfig) -> None:
  if cfg.onset_plane or cfg.velocity_plane:
    raise ValueError(f'the aligned coding uses grid, step and keys only; got extra planes in {cfg}')


def aligned_cache_key(cfg: RollConfig) -> str:
  _check_aligned_config(cfg)
  return 'aligned' + cfg.cache_key()[len('roll'):]


def encode_aligned(piece: Piece | np.ndarray, cfg: RollConfig = RollConfig(), *,
                   num_frames: int | None = None, return_dropped: bool = False):
  """Onset multi-hot per grid step: ``uint8 [T, keys]``, ``T`` = last onset frame + 1.

  Notes outside ``cfg``'s key range are dropped (their number returned with ``return_dropped``).
  """
  _check_aligned_config(cfg)
  notes, s, _ = note_frames(piece, cfg.grid, cfg.step, cfg.include_drums)
  key = notes['pitch'].astype(np.int64) - cfg.lowest_pitch
  inside = (key >= 0) & (key < cfg.keys)
  s, key = s[inside], key[inside]
  T = int(s.max()) + 1 if len(s) else 0
  if num_frames is not None:
    T = int(num_frames)
    s, key = s[s < T], key[s < T]
  roll = np.zeros((T, cfg.keys), np.uint8)
  roll[s, key] = 1
  return (roll, int((~inside).sum())) if return_dropped else roll


def decode_aligned(steps: np.ndarray, cfg: RollConfig = RollConfig(), *, duration_steps: int = 1,
                   threshold: float = 0.5, qpm: float = 120.0, tempo: Piece | None = None,
                   velocity: int = 80) -> np.ndarray:
  """Notes from aligned steps ``[T, keys]``: a note per on cell, lasting ``duration_steps`` steps.

  Cells are on where ``value > threshold``. Returns ``NOTE_DTYPE[n]`` sorted by (start, pitch).
  """
  _check_aligned_config(cfg)
  steps = np.asarray(steps)
  if steps.ndim != 2 or steps.shape[1] != cfg.keys:
    raise ValueError(f'aligned steps of shape {steps.shape} do not match {cfg.keys} keys')
  if duration_steps < 1:
    raise ValueError(f'duration_steps must be >= 1, got {duration_steps}')
  if not np.all(np.isfinite(threshold)):
    raise ValueError(f'threshold={threshold}: must be a finite number')
  t, key = np.nonzero(steps > threshold)
  notes = np.zeros(len(t), NOTE_DTYPE)
  notes['pitch'] = key + cfg.lowest_pitch
  notes['start'] = frames_to_seconds(t, cfg.grid, cfg.step, qpm, tempo)
  notes['end'] = frames_to_seconds(t + duration_steps, cfg.grid, cfg.step, qpm, tempo)
  notes['velocity'] = velocity
  return sort_notes(notes)


def _pack(steps: np.ndarray) -> np.ndarray:
  """``[T, keys]`` multi-hot -> ``uint8 [T, ceil(keys / 8)]`` packed bits."""
  return np.packbits(np.asarray(steps) > 0, axis=-1)


@dataclasses.dataclass
class ChordVocab:
  """Distinct chords numbered for a language model.

  Attributes:
    chords: ``uint8 [size, keys]``; rows 0 (``<rest>``) and 1 (``<unk>``) are all zeros.
    counts: ``int64 [size]`` corpus counts (``<rest>``: empty steps; ``<unk>``: steps of chords left
      out by ``max_size`` or ``min_count``).
  """
  chords: np.ndarray
  counts: np.ndarray

  def __post_init__(self):
    self.chords = np.asarray(self.chords, np.uint8)
    self.counts = np.asarray(self.counts, np.int64)
    if self.chords.ndim != 2 or len(self.chords) < 2 or len(self.counts) != len(self.chords):
      raise ValueError(f'bad chord vocabulary: chords {self.chords.shape}, counts '
                       f'{self.counts.shape}')
    self._index = {row.tobytes(): i for i, row in enumerate(_pack(self.chords[2:]), start=2)}
    if len(self._index) != len(self.chords) - 2:
      raise ValueError('chord vocabulary has repeated chords')

  @property
  def size(self) -> int:
    return len(self.chords)

  @property
  def keys(self) -> int:
    return self.chords.shape[1]

  def encode(self, steps: np.ndarray) -> np.ndarray:
    """``[T, keys]`` aligned steps -> ``int32 [T]`` chord ids."""
    steps = np.asarray(steps)
    if steps.ndim != 2 or steps.shape[1] != self.keys:
      raise ValueError(f'steps of shape {steps.shape} do not match a {self.keys}-key vocabulary')
    if not len(steps):
      return np.zeros(0, np.int32)
    uniq, inverse = np.unique(_pack(steps), axis=0, return_inverse=True)
    ids = np.array([REST_ID if not row.any() else self._index.get(row.tobytes(), UNK_ID)
                    for row in uniq], np.int32)
    return ids[inverse.reshape(-1)]

  def decode(self, ids: np.ndarray) -> np.ndarray:
    """``int [..., T]`` chord ids -> ``uint8 [..., T, keys]`` (``<rest>`` and ``<unk>``: empty)."""
    ids = np.asarray(ids)
    if ids.size and (ids.min() < 0 or ids.max() >= self.size):
      bad = ids[(ids < 0) | (ids >= self.size)].reshape(-1)[0]
      raise ValueError(f'chord id {bad} outside the vocabulary of size {self.size}')
    return self.chords[ids]

  def to_arrays(self) -> dict[str, np.ndarray]:
    return {'chords': self.chords, 'counts': self.counts}

  @classmethod
  def from_arrays(cls, arrays) -> 'ChordVocab':
    return cls(arrays['chords'], arrays['counts'])


def build_chord_vocab(sequences, max_size: int | None = None, min_count: int = 1) -> ChordVocab:
  """Counts the chords of aligned ``[T, keys]`` sequences and keeps the most frequent.

  ``max_size`` counts the two special ids; chords seen fewer than ``min_count`` times are left out.
  """
  sequences = [np.asarray(s) for s in sequences]
  if not sequences:
    raise ValueError('build_chord_vocab needs at least one sequence')
  keys = sequences[0].shape[-1]
  if any(s.ndim != 2 or s.shape[1] != keys for s in sequences):
    raise ValueError(f'all sequences must be [T, {keys}]: got {[s.shape for s in sequences]}')
  if max_size is not None and max_size < 2:
    raise ValueError(f'max_size must be >= 2 (<rest> and <unk>), got {max_size}')
  allsteps = np.concatenate(sequences, axis=0)
  nonempty = allsteps.any(axis=1)
  num_rest = int((~nonempty).sum())
  packed = _pack(allsteps[nonempty])
  uniq, counts = np.unique(packed, axis=0, return_counts=True)
  # np.unique sorts rows lexicographically; a stable sort by count keeps that order among ties.
  order = np.argsort(-counts, kind='stable')
  keep = order[counts[order] >= min_count]
  if max_size is not None:
    keep = keep[:max_size - 2]
  chords = np.unpackbits(uniq[keep], axis=1, count=keys)
  unk = int(counts.sum() - counts[keep].sum())
  return ChordVocab(np.concatenate([np.zeros((2, keys), np.uint8), chords], axis=0),
                    np.concatenate([[num_rest, unk], counts[keep]]))


# ------------------------------------------------------------------------------------------------
# Note + duration streams (NoteDurationCoder).


def encode_note_duration(piece: Piece | np.ndarray, resolution: float = 0.25,
                         max_duration: int = 16, *, grid: str = 'beats',
                         include_drums: bool = False) -> tuple[np.ndarray, np.ndarray]:
  """Notes -> ``(note_tokens int32[n], duration_tokens int32[n])``.

  Onsets and ends go to the grid of ``resolution`` (beats, or seconds with ``grid='seconds'``) as
  in the piano roll; a note lasts at least one step and at most ``max_duration`` (capped).
  """
  if max_duration < 1:
    raise ValueError(f'max_duration must be >= 1, got {max_duration}')
  notes, s, e = note_frames(piece, grid, resolution, include_drums)
  order = np.lexsort((notes['pitch'], s))
  s, pitch, dur = s[order], notes['pitch'][order].astype(np.int64), (e - s)[order]
  if len(s) and s[0] < 0:
    raise ValueError(f'note starts before time 0 (step {s[0]})')
  gaps = np.diff(np.concatenate([[0], s]))
  nskip = -(-gaps // max_duration)  # ceil
  n = len(s) + int(nskip.sum())
  note_pos = np.cumsum(nskip + 1) - 1
  tokens = np.full(n, SKIP, np.int32)
  durations = np.full(n, max_duration, np.int32)
  tokens[note_pos] = pitch
  durations[note_pos] = np.minimum(dur, max_duration)
  # The last SKIP before each note carries the remainder of the gap.
  has_skip = nskip > 0
  durations[note_pos[has_skip] - 1] = gaps[has_skip] - (nskip[has_skip] - 1) * max_duration
  return tokens, durations


def decode_note_duration(note_tokens: np.ndarray, duration_tokens: np.ndarray,
                         resolution: float = 0.25, max_duration: int | None = None, *,
                         grid: str = 'beats', note_duration: int | None = None,
                         qpm: float = 120.0, tempo: Piece | None = None,
                         velocity: int = 80) -> np.ndarray:
  """Two token streams -> ``NOTE_DTYPE[n]``.

  ``note_duration`` gives every note that many steps (the original scripts used 2 or 4) instead of
  its duration token. Tokens outside 0..128 or durations below 1 (or above ``max_duration`` when
  given) are a ``ValueError`` naming the position.
  """
  tok = np.asarray(note_tokens).reshape(-1)
  dur = np.asarray(duration_tokens).reshape(-1)
  if tok.shape != dur.shape:
    raise ValueError(f'{len(tok)} note tokens but {len(dur)} duration tokens')
  bad = np.flatnonzero((tok < 0) | (tok > SKIP))
  if len(bad):
    raise ValueError(f'note token {tok[bad[0]]} at position {bad[0]} outside 0..{SKIP}')
  hi = np.inf if max_duration is None else max_duration
  bad = np.flatnonzero((dur < 1) | (dur > hi))
  if len(bad):
    raise ValueError(f'duration token {dur[bad[0]]} at position {bad[0]} outside 1..{hi}')
  is_skip = tok == SKIP
  advance = np.where(is_skip, dur, 0).astype(np.int64)
  t = np.cumsum(advance) - advance  # time before each token
  t, p, d = t[~is_skip], tok[~is_skip], dur[~is_skip].astype(np.int64)
  if note_duration is not None:
    d = np.full_like(d, note_duration)
  notes = np.zeros(len(t), NOTE_DTYPE)
  notes['pitch'] = p
  notes['start'] = frames_to_seconds(t, grid, resolution, qpm, tempo)
  notes['end'] = frames_to_seconds(t + d, grid, resolution, qpm, tempo)
  notes['velocity'] = velocity
  return sort_notes(notes)
