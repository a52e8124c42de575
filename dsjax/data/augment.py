"""Train-time augmentation: random transposition of event ids and of piano rolls.

An augmentation is a callable ``augment(rng, values [n, time, *feature], piece_ids [n]) -> values``
(:data:`Augment`) that the training window sampler (:class:`~dsjax.data.windows.WindowSampler`)
applies on the fly to every window it draws; evaluation batches are never augmented. The built-ins,
:class:`EventTransposition` (note-on / note-off ids) and :class:`RollTransposition` (the pitch axis
of a roll), move each window by a random number of semitones, chosen among the shifts that keep
every note on the keyboard. They also have a vectorised ``apply_batch(u, values, valid)``, which the
sampler calls once per batch instead of once per example. Tasks build them from
``config.data.transpose`` (:mod:`dsjax.tasks.datasets`) and pass them as
``WindowSampler(..., augment=EventTransposition(max_shift=6))``.

The pure functions underneath (:func:`event_shift_bounds`, :func:`transpose_event_ids`,
:func:`roll_shift_bounds`, :func:`transpose_roll`, :func:`shifts_from_uniform`) can be used on
their own.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

# augment(rng, values [n, time, *feature], piece_ids [n]) -> values of the same shape and dtype.
Augment = Callable[[np.random.Generator, np.ndarray, np.ndarray], np.ndarray]


def shifts_from_uniform(u: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
  """Maps ``u [n]`` uniform in ``[0, 1)`` to integers uniform over ``[lo, hi]`` (per example)."""
  lo, hi = np.asarray(lo, np.int64), np.asarray(hi, np.int64)
  return np.minimum(lo + np.floor(np.asarray(u) * (hi - lo + 1)).astype(np.int64), hi)


def _event_pitches(ids: np.ndarray, note_on_offset: int, note_off_offset: int, num_pitches: int):
  """Returns ``(is_note, pitch)`` for event ids of any shape (pitch is -1 off notes)."""
  is_on = (ids >= note_on_offset) & (ids < note_on_offset + num_pitches)
  is_off = (ids >= note_off_offset) & (ids < note_off_offset + num_pitches)
  pitch = np.where(is_on, ids - note_on_offset, np.where(is_off, ids - note_off_offset, -1))
  return is_on | is_off, pitch


def event_shift_bounds(ids: np.ndarray, max_shift: int, *, valid: np.ndarray | None = None,
                       note_on_offset: int = 0, note_off_offset: int = 128,
                       num_pitches: int = 128) -> tuple[np.ndarray, np.ndarray]:
  """Per example, the shifts in ``[-max_shift, max_shift]`` that keep every note on the keyboard.

  Args:
    ids: event ids ``[n, time]``.
    valid: ``[n, time]`` bool, positions to consider (default: all).
  Returns:
    ``(lo [n], hi [n])``, ``lo <= 0 <= hi``; a window without notes gets
    ``(-max_shift, max_shift)``.
  """
  ids = np.asarray(ids).reshape(len(ids), -1)
  is_note, pitch = _event_pitches(ids, note_on_offset, note_off_offset, num_pitches)
  if valid is not None:
    is_note &= np.asarray(valid).reshape(ids.shape)
  low = np.where(is_note, pitch, num_pitches).min(axis=1, initial=num_pitches)
  high = np.where(is_note, pitch, -1).max(axis=1, initial=-1)
  lo = np.where(high < 0, -max_shift, np.maximum(-max_shift, -low))
  hi = np.where(high < 0, max_shift, np.minimum(max_shift, num_pitches - 1 - high))
  return lo.astype(np.int64), hi.astype(np.int64)


def transpose_event_ids(ids: np.ndarray, shifts, *, valid: np.ndarray | None = None,
                        note_on_offset: int = 0, note_off_offset: int = 128,
                        num_pitches: int = 128) -> np.ndarray:
  """Transposes note-on and note-off ids by ``shifts`` semitones; other ids are left alone.

  Args:
    ids: event ids ``[n, time]`` (or ``[time]`` with a scalar shift).
    shifts: ``[n]`` or a scalar, semitones.
    valid: ``[n, time]`` bool, positions to transpose (default: all); others are left alone.
  Returns:
    ids of the same shape and dtype; raises ``ValueError`` if a note would leave the keyboard.
  """
  ids = np.asarray(ids)
  shifts = np.asarray(shifts, np.int64)
  if ids.ndim and shifts.ndim:
    shifts = shifts.reshape(shifts.shape + (1,) * (ids.ndim - shifts.ndim))
  is_note, pitch = _event_pitches(ids, note_on_offset, note_off_offset, num_pitches)
  if valid is not None:
    is_note &= np.asarray(valid)
  moved = pitch + shifts
  if np.any(is_note & ((moved < 0) | (moved >= num_pitches))):
    raise ValueError(f'transposition by {shifts.ravel().tolist()} moves a note off the '
                     f'{num_pitches}-key range')
  return np.where(is_note, ids + shifts, ids).astype(ids.dtype)


def _keys_sounding(rolls: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
  """``rolls [n, time, ..., keys]`` (keys last) -> ``[n, keys]`` bool: sounds at a valid step."""
  n, t, keys = len(rolls), rolls.shape[1], rolls.shape[-1]
  nonzero = rolls.reshape(n, t, -1, keys) != 0
  if valid is not None:
    nonzero &= np.asarray(valid).reshape(n, t, 1, 1)
  return nonzero.any(axis=(1, 2))


def roll_shift_bounds(rolls: np.ndarray, max_shift: int, pitch_axis: int = -1, *,
                      valid: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
  """Per example, the shifts in ``[-max_shift, max_shift]`` that keep every sounding key on
  the roll.

  Args:
    rolls: ``[n, time, ..., keys, ...]``; a key sounds where any value along it is nonzero.
    valid: ``[n, time]`` bool, time steps to consider (default: all).
  Returns:
    ``(lo [n], hi [n])``; an empty window gets ``(-max_shift, max_shift)``.
  """
  rolls = np.moveaxis(np.asarray(rolls), pitch_axis, -1)
  keys = rolls.shape[-1]
  sounding = _keys_sounding(rolls, valid)
  any_note = sounding.any(axis=1)
  low = np.argmax(sounding, axis=1)
  high = keys - 1 - np.argmax(sounding[:, ::-1], axis=1)
  lo = np.where(any_note, np.maximum(-max_shift, -low), -max_shift)
  hi = np.where(any_note, np.minimum(max_shift, keys - 1 - high), max_shift)
  return lo.astype(np.int64), hi.astype(np.int64)


def transpose_roll(rolls: np.ndarray, shifts, pitch_axis: int = -1, *,
                   valid: np.ndarray | None = None) -> np.ndarray:
  """Moves each example's roll ``shifts[b]`` keys up (negative: down); vacated keys become 0.

  Args:
    rolls: ``[n, time, ..., keys, ...]``.
    shifts: ``[n]`` semitones.
    valid: ``[n, time]`` bool, the steps whose sounding keys must stay on the roll (default: all);
      the others move too but may lose keys.
  Returns:
    rolls of the same shape and dtype; raises ``ValueError`` if a sounding key would fall off.
  """
  rolls = np.asarray(rolls)
  shifts = np.broadcast_to(np.asarray(shifts, np.int64), (len(rolls),))
  moved = np.moveaxis(rolls, pitch_axis, -1)
  keys = moved.shape[-1]
  flat = moved.reshape(len(rolls), -1, keys)
  sounding = _keys_sounding(moved, valid)
  src = np.arange(keys)[None, :] - shifts[:, None]  # [n, keys]: output key k reads key k - s
  inside = (src >= 0) & (src < keys)
  src = np.clip(src, 0, keys - 1)
  kept = np.take_along_axis(sounding, src, axis=1) & inside
  if np.any(kept.sum(axis=1) != sounding.sum(axis=1)):
    raise ValueError(f'transposition by {shifts.tolist()} moves a sounding key off the '
                     f'{keys}-key roll')
  out = np.zeros_like(flat)
  for shift in np.unique(shifts):  # at most 2 * max_shift + 1 slice copies
    sel = shifts == shift
    if shift >= 0:
      out[sel, :, shift:] = flat[sel, :, :keys - shift]
    else:
      out[sel, :, :shift] = flat[sel, :, -shift:]
  return np.moveaxis(out.reshape(moved.shape), -1, pitch_axis)


@dataclasses.dataclass(frozen=True)
class EventTransposition:
  """Augmentation: transpose each window by a shift uniform over ``[-max_shift, max_shift]``,
  restricted to the shifts that keep its notes in ``[0, num_pitches)``.

  Only note-on ids ``[note_on_offset, +num_pitches)`` and note-off ids ``[note_off_offset,
  +num_pitches)`` move, each within its own range; time shifts and velocities are untouched.
  The defaults are the log's layout (note-on 0..127, note-off 128..255).
  """
  max_shift: int = 6
  note_on_offset: int = 0
  note_off_offset: int = 128
  num_pitches: int = 128

  def __post_init__(self):
    if self.max_shift < 0 or self.num_pitches < 1:
      raise ValueError(f'bad EventTransposition({self})')
    if abs(self.note_on_offset - self.note_off_offset) < self.num_pitches:
      raise ValueError(f'note-on ids [{self.note_on_offset}, +{self.num_pitches}) and note-off ids '
                       f'[{self.note_off_offset}, +{self.num_pitches}) overlap')

  def _layout(self):
    return dict(note_on_offset=self.note_on_offset, note_off_offset=self.note_off_offset,
                num_pitches=self.num_pitches)

  def __call__(self, rng: np.random.Generator, values: np.ndarray,
               piece_ids: np.ndarray) -> np.ndarray:
    """``values [n, time]`` event ids -> transposed ids, one random shift per example."""
    del piece_ids
    return self.apply_batch(rng.random(len(values)), values)

  def apply_batch(self, u: np.ndarray, values: np.ndarray,
                  valid: np.ndarray | None = None) -> np.ndarray:
    """Vectorised form: ``u [n]`` uniform in [0, 1) picks each shift; ``valid [n, time]``."""
    lo, hi = event_shift_bounds(values, self.max_shift, valid=valid, **self._layout())
    return transpose_event_ids(values, shifts_from_uniform(u, lo, hi), valid=valid,
                               **self._layout())


@dataclasses.dataclass(frozen=True)
class RollTransposition:
  """Augmentation: move each piano-roll window along its pitch axis by a shift uniform over
  ``[-max_shift, max_shift]``, restricted to the shifts that keep every sounding key on the roll.

  ``pitch_axis`` indexes ``values [n, time, *feature]`` (default: the last axis).
  """
  max_shift: int = 6
  pitch_axis: int = -1

  def __post_init__(self):
    if self.max_shift < 0:
      raise ValueError(f'bad RollTransposition({self})')
    if 0 <= self.pitch_axis < 2:
      raise ValueError(f'pitch_axis={self.pitch_axis} is the batch or time axis')

  def __call__(self, rng: np.random.Generator, values: np.ndarray,
               piece_ids: np.ndarray) -> np.ndarray:
    """``values [n, time, ..., keys]`` -> transposed rolls, one random shift per example."""
    del piece_ids
    return self.apply_batch(rng.random(len(values)), values)

  def apply_batch(self, u: np.ndarray, values: np.ndarray,
                  valid: np.ndarray | None = None) -> np.ndarray:
    """Vectorised form: ``u [n]`` uniform in [0, 1) picks each shift; ``valid [n, time]`` marks
    the steps whose notes must stay on the keys (padding may be moved: the sampler refills it)."""
    lo, hi = roll_shift_bounds(values, self.max_shift, self.pitch_axis, valid=valid)
    return transpose_roll(values, shifts_from_uniform(u, lo, hi), self.pitch_axis, valid=valid)
