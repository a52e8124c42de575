"""Tests for dsjax.data.pianoroll: exact rolls, planes, decoding options and round trips."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from dsjax.data.notes import Piece, make_notes
from dsjax.data.pianoroll import (RollConfig, decode_pianoroll, decode_pianoroll_frames,
                                  decode_pianoroll_to_piece, encode_pianoroll, frames_to_seconds)

# At 120 qpm one beat is 0.5 s, so a sixteenth-note frame (0.25 beat) is 0.125 s.
FRAME = 0.125


def piece_of(pitch, start_frame, end_frame, velocity=80, **kw):
  f = lambda x: np.asarray(x, np.float64) * FRAME
  return Piece('test', make_notes(pitch, f(start_frame), f(end_frame), velocity, **kw))


def fields(notes):
  return [(int(n['pitch']), float(n['start']), float(n['end']), int(n['velocity'])) for n in notes]


def test_config():
  assert RollConfig().lowest_pitch == 0 and RollConfig(keys=88).lowest_pitch == 21
  assert RollConfig(keys=88).highest_pitch == 108
  cfg = RollConfig(onset_plane=True, velocity_plane=True)
  assert cfg.planes == ('sounding', 'onset', 'velocity') and cfg.num_planes == 3
  assert RollConfig(velocity_plane=True).plane_index('velocity') == 1
  assert RollConfig().num_planes == 1 and RollConfig().dtype == np.uint8
  keys = {RollConfig().cache_key(), RollConfig(step=0.5).cache_key(),
          RollConfig(grid='seconds').cache_key(), RollConfig(keys=88).cache_key(),
          RollConfig(onset_plane=True).cache_key(), RollConfig(velocity_plane=True).cache_key(),
          RollConfig(include_drums=True).cache_key()}
  assert len(keys) == 7
  assert RollConfig().cache_key() == 'roll-beats0.25-k128'
  for bad in (dict(grid='ticks'), dict(step=0), dict(keys=61)):
    with pytest.raises(ValueError):
      RollConfig(**bad)
  with pytest.raises(ValueError, match='onset'):
    RollConfig().plane_index('onset')


def test_hand_built_roll():
  # C4 for a quarter (frames 0..3), E4 for one sixteenth at frame 2, G4 frames 4..7.
  piece = piece_of([60, 64, 67], [0, 2, 4], [4, 3, 8])
  roll = encode_pianoroll(piece)
  expected = np.zeros((8, 128), np.uint8)
  expected[0:4, 60] = 1
  expected[2, 64] = 1
  expected[4:8, 67] = 1
  assert roll.dtype == np.uint8
  np.testing.assert_array_equal(roll, expected)


def test_rounding_and_minimum_length():
  # start 0.4 frame -> 0; end 0.45 frame -> 0, widened to one frame; 2.5 -> 3 (half up, not even).
  piece = Piece('t', make_notes([60, 62], [0.4 * FRAME, 0.0], [0.45 * FRAME, 2.5 * FRAME]))
  roll = encode_pianoroll(piece)
  assert roll.shape == (3, 128)
  np.testing.assert_array_equal(roll[:, 60], [1, 0, 0])
  np.testing.assert_array_equal(roll[:, 62], [1, 1, 1])


def test_beat_grid_follows_tempo_map():
  # 120 qpm for the first second (2 beats), then 60 qpm: a note from 1 s to 2 s is beats 2..3.
  piece = Piece('t', make_notes([60], [1.0], [2.0]), tempo_times=[0.0, 1.0], tempo_qpm=[120, 60])
  roll = encode_pianoroll(piece)
  assert roll.shape == (12, 128)
  np.testing.assert_array_equal(np.flatnonzero(roll[:, 60]), np.arange(8, 12))
  notes = decode_pianoroll(roll, tempo=piece)
  assert fields(notes) == [(60, 1.0, 2.0, 80)]


def test_seconds_grid():
  piece = Piece('t', make_notes([70], [0.1], [0.25]))
  roll = encode_pianoroll(piece, RollConfig(grid='seconds', step=0.05))
  np.testing.assert_array_equal(np.flatnonzero(roll[:, 70]), [2, 3, 4])


def test_88_keys_drop_and_count_out_of_range():
  piece = piece_of([20, 21, 108, 109], [0, 0, 1, 1], [1, 1, 2, 2])
  roll, dropped = encode_pianoroll(piece, RollConfig(keys=88), return_dropped=True)
  assert dropped == 2 and roll.shape == (2, 88)
  assert roll[0, 0] == 1 and roll[1, 87] == 1 and roll.sum() == 2
  notes = decode_pianoroll(roll, RollConfig(keys=88))
  assert [int(p) for p in notes['pitch']] == [21, 108]


def test_drums_excluded_by_default():
  notes = np.concatenate([piece_of([60], [0], [1]).notes,
                          piece_of([36], [0], [2], is_drum=True).notes])
  piece = Piece('t', notes)
  assert encode_pianoroll(piece).sum() == 1
  assert encode_pianoroll(piece, RollConfig(include_drums=True)).sum() == 3


def test_num_frames_pads_and_cuts():
  piece = piece_of([60, 62], [0, 3], [2, 5])
  assert encode_pianoroll(piece, num_frames=8)[5:].sum() == 0
  cut = encode_pianoroll(piece, num_frames=4)
  assert cut.shape == (4, 128) and cut[:, 60].sum() == 2 and cut[:, 62].sum() == 1


def test_onset_and_velocity_planes():
  # Two touching C4 notes (frames 0..1 and 2..3) with velocities 100 and 40.
  cfg = RollConfig(onset_plane=True, velocity_plane=True)
  piece = piece_of([60, 60], [0, 2], [2, 4], velocity=[100, 40])
  roll = encode_pianoroll(piece, cfg)
  assert roll.shape == (4, 128, 3) and roll.dtype == np.float32
  np.testing.assert_array_equal(roll[:, 60, 0], [1, 1, 1, 1])
  np.testing.assert_array_equal(roll[:, 60, 1], [1, 0, 1, 0])
  np.testing.assert_array_equal(roll[:, 60, 2], np.float32([100, 100, 40, 40]) / np.float32(127))
  assert roll[:, :60].sum() == 0 and roll[:, 61:].sum() == 0
  # With the onset plane the two notes come back; without it they merge into one.
  assert fields(decode_pianoroll(roll, cfg)) == [(60, 0.0, 0.25, 100), (60, 0.25, 0.5, 40)]
  assert fields(decode_pianoroll(roll[..., 0], RollConfig())) == [(60, 0.0, 0.5, 80)]
  # Onset plane alone is uint8; an overlapping later note's velocity wins on shared frames.
  only_on = encode_pianoroll(piece, RollConfig(onset_plane=True))
  assert only_on.dtype == np.uint8 and only_on.shape == (4, 128, 2)
  overlap = encode_pianoroll(piece_of([60, 60], [0, 1], [3, 2], velocity=[100, 40]),
                             RollConfig(velocity_plane=True))
  np.testing.assert_array_equal(overlap[:, 60, 1] * 127, np.float32([100, 40, 100]))


def test_decode_thresholds():
  probs = np.zeros((5, 128), np.float32)
  probs[:, 60] = [0.2, 0.6, 0.9, 0.4, 0.7]
  assert fields(decode_pianoroll(probs)) == [(60, 0.125, 0.375, 80), (60, 0.5, 0.625, 80)]
  assert fields(decode_pianoroll(probs, threshold=0.3)) == [(60, 0.125, 0.625, 80)]
  tanh = np.where(probs > 0.5, 1.0, -1.0)
  assert fields(decode_pianoroll(tanh, threshold=0.0)) == fields(decode_pianoroll(probs))
  assert len(decode_pianoroll(-np.ones((4, 128)), threshold=0.0)) == 0


@pytest.mark.parametrize('threshold', [float('nan'), float('inf'), -float('inf')])
def test_decode_refuses_a_non_finite_threshold(threshold):
  probs = np.full((4, 128), 0.7, np.float32)
  with pytest.raises(ValueError, match=f'^threshold must be a finite number, got {threshold}$'):
    decode_pianoroll(probs, threshold=threshold)
  with pytest.raises(ValueError, match='threshold'):
    decode_pianoroll_to_piece(probs, threshold=threshold)


@pytest.mark.parametrize('qpm', [0.0, -120.0, float('nan'), float('inf')])
def test_decode_refuses_a_bad_tempo(qpm):
  roll = np.zeros((4, 128), np.uint8)
  roll[1:3, 72] = 1
  message = f'^qpm must be a finite number > 0, got {qpm}$'
  for cfg in (RollConfig(), RollConfig(grid='seconds', step=0.1)):
    with pytest.raises(ValueError, match=message):
      decode_pianoroll(roll, cfg, qpm=qpm)
    with pytest.raises(ValueError, match=message):
      decode_pianoroll_to_piece(roll, cfg, qpm=qpm)
  with pytest.raises(ValueError, match=message):
    frames_to_seconds(np.arange(3), 'beats', 0.25, qpm)


def test_max_sustain_ends_and_restrikes():
  roll = np.zeros((10, 128), np.uint8)
  roll[:, 48] = 1
  roll[2:5, 50] = 1
  key, s, e = decode_pianoroll_frames(roll.astype(bool), max_sustain_frames=4)
  assert list(zip(key, s, e)) == [(48, 0, 4), (48, 4, 8), (48, 8, 10), (50, 2, 5)]
  # Held notes of the onset plane restart the count.
  onset = np.zeros_like(roll)
  onset[3, 48] = 1
  key, s, e = decode_pianoroll_frames(roll.astype(bool), onset.astype(bool), max_sustain_frames=4)
  assert list(zip(key, s, e)) == [(48, 0, 3), (48, 3, 7), (48, 7, 10), (50, 2, 5)]
  with pytest.raises(ValueError, match='max_sustain_frames'):
    decode_pianoroll(roll, max_sustain_frames=0)


def test_decode_ignores_onsets_on_silent_frames_and_uses_default_velocity():
  cfg = RollConfig(onset_plane=True, velocity_plane=True)
  roll = np.zeros((3, 128, 3), np.float32)
  roll[1:, 60, 0] = 1
  roll[0, 60, 1] = 1  # onset without sound: ignored
  roll[1, 60, 2] = 0.0  # no velocity at the onset: default
  assert fields(decode_pianoroll(roll, cfg, default_velocity=64)) == [(60, 0.125, 0.375, 64)]


def test_decode_to_piece_and_shape_errors():
  roll = np.zeros((4, 128), np.uint8)
  roll[1:3, 72] = 1
  piece = decode_pianoroll_to_piece(roll, name='s', qpm=60.0)
  assert piece.name == 's' and piece.tempo_qpm.tolist() == [60.0]
  assert fields(piece.notes) == [(72, 0.25, 0.75, 80)]
  with pytest.raises(ValueError, match='88'):
    decode_pianoroll(roll, RollConfig(keys=88))
  with pytest.raises(ValueError, match='planes|\\[T, 128, 2\\]'):
    decode_pianoroll(np.zeros((4, 128, 3)), RollConfig(onset_plane=True))
  with pytest.raises(TypeError, match='NOTE_DTYPE'):
    encode_pianoroll(np.zeros(3))


# ------------------------------------------------------------------------------------------------
# Round trips.

note_lists = st.lists(
    st.tuples(st.integers(0, 127), st.integers(0, 30), st.integers(1, 6), st.integers(1, 127)),
    min_size=0, max_size=25)


def grid_piece(raw, min_gap):
  """Grid-aligned piece; a same-pitch note overlapping (or closer than min_gap to) a kept one is
  removed."""
  kept, last_end = [], {}
  for pitch, start, dur, vel in sorted(raw, key=lambda r: (r[1], r[0])):
    if start >= last_end.get(pitch, -100) + min_gap:
      kept.append((pitch, start, start + dur, vel))
      last_end[pitch] = start + dur
  if not kept:
    return piece_of(np.zeros(0, int), [], [])
  p, s, e, v = map(np.array, zip(*kept))
  return piece_of(p, s, e, velocity=v)


@settings(max_examples=60, deadline=None)
@given(note_lists)
def test_round_trip_plain_roll(raw):
  piece = grid_piece(raw, min_gap=1)  # touching same-pitch notes would merge without onsets
  notes = decode_pianoroll(encode_pianoroll(piece))
  expected = [(p, s, e, 80) for p, s, e, _ in fields(piece.notes)]
  assert fields(notes) == expected


@settings(max_examples=60, deadline=None)
@given(note_lists)
def test_round_trip_with_onset_and_velocity_planes(raw):
  piece = grid_piece(raw, min_gap=0)
  cfg = RollConfig(onset_plane=True, velocity_plane=True)
  assert fields(decode_pianoroll(encode_pianoroll(piece, cfg), cfg)) == fields(piece.notes)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 20), st.floats(0.05, 0.95))
def test_encode_decode_any_binary_roll(seed, T, density):
  rng = np.random.default_rng(seed)
  roll = np.zeros((T, 128), np.uint8)
  roll[:, 40:56] = rng.random((T, 16)) < density
  cfg = RollConfig(grid='seconds', step=0.05)
  again = encode_pianoroll(Piece('r', decode_pianoroll(roll, cfg)), cfg, num_frames=T)
  np.testing.assert_array_equal(again, roll)
  # Consistent onsets: every onset sounds, and every note start has an onset.
  cfg = RollConfig(onset_plane=True)
  sounding = roll.astype(bool)
  prev = np.vstack([np.zeros((1, 128), bool), sounding[:-1]])
  onset = sounding & ((rng.random((T, 128)) < 0.3) | ~prev)
  both = np.stack([sounding, onset], -1).astype(np.uint8)
  again = encode_pianoroll(Piece('r', decode_pianoroll(both, cfg)), cfg, num_frames=T)
  np.testing.assert_array_equal(again, both)


def test_88_key_round_trip_of_a_random_roll():
  rng = np.random.default_rng(0)
  cfg = RollConfig(keys=88)
  roll = (rng.random((16, 88)) < 0.3).astype(np.uint8)
  again = encode_pianoroll(Piece('r', decode_pianoroll(roll, cfg)), cfg, num_frames=16)
  np.testing.assert_array_equal(again, roll)
