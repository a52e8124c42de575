"""Synthetic "performed" pieces whose velocities follow a known rule, for the velocity refiner.

No bundled corpus carries performed dynamics (the music21 and benchmark pieces all play at one
velocity), so the velocity refiner (log 11/17, ``dsjax.tasks.refine``) is built and tested on
pieces made here, where the right answer is known:

  velocity = 60 + metre + 0.5 * (pitch - 60) + 16 * sin(pi * phrase_position) + noise

* ``metre``: +12 on the first beat of a 4/4 bar, +6 on the third, 0 on the second and fourth,
  -8 off the beat (:data:`METRE_ACCENT`);
* ``phrase_position``: where the onset lies in its four-bar phrase, 0 at its start, 1 at its end
  (an arch: crescendo to the middle of the phrase, diminuendo after);
* ``noise``: Gaussian with standard deviation ``noise`` (2 by default), rounded; clipped to 1..127.

A piece is 3 to 6 phrases of a melody (a random walk on the C major scale from C4 to C6 in
quarters, eighths and halves) over a bass in half notes (C2 to G3). Each phrase ends with a half
note on the first beat of its fourth bar and two beats of silence in both voices, so the phrase
boundaries can be heard (and found by a model that reads the gaps between onsets). Tempo 90 to
130 quarter notes per minute, one per piece.

  pieces = synthetic_velocity.make_pieces(64, seed=0)      # list[Piece], deterministic
  synthetic_velocity.write_folder('runs/perf', 64)          # the same pieces as MIDI files
  synthetic_velocity.rule_velocity(beat_steps, pitch, phrase_position)   # the rule, noise-free
"""

from __future__ import annotations

import os

import numpy as np

from dsjax.data.notes import Piece, make_notes

BEATS_PER_BAR = 4
PHRASE_BARS = 4
# Accent by position in the bar, in sixteenths (0 = the downbeat); off-beat positions get OFF_BEAT.
METRE_ACCENT = {0: 12.0, 4: 0.0, 8: 6.0, 12: 0.0}
OFF_BEAT = -8.0
BASE = 60.0
PITCH_SLOPE = 0.5
PHRASE_ARCH = 16.0
_SCALE = np.array([0, 2, 4, 5, 7, 9, 11])
_MELODY_RHYTHMS = ((4,), (2, 2), (8,), (4,), (2, 2), (6, 2))   # sixteenths per beat-group


def rule_velocity(bar_position, pitch, phrase_position) -> np.ndarray:
  """The noise-free velocity of notes at ``bar_position`` (sixteenths after the bar line, 0..15),
  of ``pitch`` (MIDI), at ``phrase_position`` (0..1 through its phrase); float, not clipped."""
  bar_position = np.asarray(bar_position, np.int64) % (4 * BEATS_PER_BAR)
  metre = np.vectorize(lambda p: METRE_ACCENT.get(int(p), OFF_BEAT), otypes=[np.float64])(
      bar_position) if bar_position.size else np.zeros(bar_position.shape)
  return (BASE + metre + PITCH_SLOPE * (np.asarray(pitch, np.float64) - 60.0)
          + PHRASE_ARCH * np.sin(np.pi * np.asarray(phrase_position, np.float64)))


def _scale_pitch(degree: int, octave_base: int = 60) -> int:
  return octave_base + 12 * (degree // 7) + int(_SCALE[degree % 7])


def _phrase(rng: np.random.Generator, degree: int) -> tuple[list, int]:
  """One phrase's notes ``(pitch, start, length)`` in sixteenths from its start, and the melody's
  last scale degree."""
  steps = 4 * BEATS_PER_BAR
  notes = []
  t = 0
  end_melody = (PHRASE_BARS - 1) * steps                 # bar 4: a half note, then silence
  while t < end_melody:
    for length in _MELODY_RHYTHMS[rng.integers(len(_MELODY_RHYTHMS))]:
      if t + length > end_melody:
        length = end_melody - t
      degree = int(np.clip(degree + rng.choice([-2, -1, -1, 0, 1, 1, 2]), 0, 14))
      notes.append((_scale_pitch(degree), t, length))
      t += length
      if t >= end_melody:
        break
  degree = int(np.clip(degree + rng.choice([-1, 0, 1]), 0, 14))
  notes.append((_scale_pitch(degree), end_melody, 8))
  for bar in range(PHRASE_BARS):                         # bass: half notes, none after beat 3 of
    for half in range(2 if bar < PHRASE_BARS - 1 else 1):  # the last bar
      notes.append((int(rng.integers(36, 56)), bar * steps + half * 8, 8))
  return notes, degree


def make_piece(rng: np.random.Generator, name: str, noise: float = 2.0) -> Piece:
  """One synthetic piece (see the module docstring); velocities follow :func:`rule_velocity`."""
  qpm = float(rng.integers(90, 131))
  phrase_steps = PHRASE_BARS * 4 * BEATS_PER_BAR
  degree = int(rng.integers(5, 10))
  rows = []
  for k in range(int(rng.integers(3, 7))):
    notes, degree = _phrase(rng, degree)
    rows += [(p, k * phrase_steps + t, n, t / phrase_steps) for p, t, n in notes]
  pitch, start, length, phrase_pos = (np.array(c) for c in zip(*rows))
  velocity = rule_velocity(start, pitch, phrase_pos) + noise * rng.standard_normal(len(pitch))
  velocity = np.clip(np.round(velocity), 1, 127).astype(np.int64)
  seconds = 60.0 / qpm / 4.0                             # one sixteenth
  return Piece(name, make_notes(pitch, start * seconds, (start + length) * seconds, velocity,
                                part=(pitch < 56).astype(np.int64)),
               np.zeros(1), np.full(1, qpm))


def make_pieces(num: int, seed: int = 0, noise: float = 2.0) -> list[Piece]:
  """``num`` synthetic pieces named ``synthetic_velocity:NNNN``; the same for the same
  ``(num, seed, noise)`` (piece ``i`` depends only on ``seed`` and ``i``)."""
  if int(num) < 1:
    raise ValueError(f'num={num!r}: must be >= 1')
  return [make_piece(np.random.default_rng([int(seed), i]), f'synthetic_velocity:{i:04d}', noise)
          for i in range(int(num))]


def write_folder(out_dir: str, num: int, seed: int = 0, noise: float = 2.0) -> list[str]:
  """Writes :func:`make_pieces` as ``out_dir/NNNN.mid``; returns the paths."""
  from dsjax.data import midi_io
  os.makedirs(out_dir, exist_ok=True)
  paths = []
  for i, piece in enumerate(make_pieces(num, seed, noise)):
    path = os.path.join(out_dir, f'{i:04d}.mid')
    midi_io.write_midi(piece, path)
    paths.append(path)
  return paths
