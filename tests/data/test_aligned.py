"""Tests for dsjax.data.aligned: chord steps, the chord vocabulary, note + duration streams."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from dsjax.data.aligned import (SKIP, UNK_ID, REST_ID, ChordVocab, aligned_cache_key,
                                build_chord_vocab, decode_aligned, decode_note_duration,
                                encode_aligned, encode_note_duration)
from dsjax.data.notes import Piece, make_notes
from dsjax.data.pianoroll import RollConfig

FRAME = 0.125  # seconds per sixteenth note at 120 qpm


def piece_of(pitch, start_frame, end_frame, velocity=80):
  f = lambda x: np.asarray(x, np.float64) * FRAME
  return Piece('test', make_notes(pitch, f(start_frame), f(end_frame), velocity))


def fields(notes):
  return [(int(n['pitch']), float(n['start']), float(n['end'])) for n in notes]


# ------------------------------------------------------------------------------------------------
# Aligned chord steps.


def test_encode_aligned_hand_built():
  # C major triad at frame 0 held 8 frames, D4 at frame 1, nothing new at 2, triad again at 3.
  piece = piece_of([60, 64, 67, 62, 60, 64, 67], [0, 0, 0, 1, 3, 3, 3], [8, 8, 8, 2, 4, 4, 4])
  steps = encode_aligned(piece)
  expected = np.zeros((4, 128), np.uint8)
  expected[0, [60, 64, 67]] = 1
  expected[1, 62] = 1
  expected[3, [60, 64, 67]] = 1
  np.testing.assert_array_equal(steps, expected)
  assert steps.dtype == np.uint8


def test_decode_aligned_fixed_duration():
  steps = np.zeros((3, 128), np.uint8)
  steps[0, [60, 64]] = 1
  steps[2, 62] = 1
  assert fields(decode_aligned(steps, duration_steps=2)) == [
      (60, 0.0, 0.25), (64, 0.0, 0.25), (62, 0.25, 0.5)]
  assert fields(decode_aligned(steps, RollConfig(grid='seconds', step=0.1))) == [
      (60, 0.0, 0.1), (64, 0.0, 0.1), (62, 0.2, 3 * 0.1)]


def test_decode_aligned_refuses_a_threshold_that_is_not_a_number():
  steps = np.ones((2, 128), np.float32)
  for bad in (np.nan, np.inf):
    with pytest.raises(ValueError, match='threshold=.*: must be a finite number'):
      decode_aligned(steps, threshold=bad)


def test_aligned_config_errors_and_cache_key():
  with pytest.raises(ValueError, match='planes'):
    encode_aligned(piece_of([60], [0], [1]), RollConfig(onset_plane=True))
  with pytest.raises(ValueError, match='88 keys'):
    decode_aligned(np.zeros((2, 128)), RollConfig(keys=88))
  assert aligned_cache_key(RollConfig(keys=88)) == 'aligned-beats0.25-k88'


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(21, 108), st.integers(0, 30)), max_size=30),
       st.integers(1, 4))
def test_aligned_round_trip(raw, duration):
  onsets = sorted(set(raw))
  p = np.array([o[0] for o in onsets], int)
  s = np.array([o[1] for o in onsets], int)
  piece = piece_of(p, s, s + duration)
  for cfg in (RollConfig(), RollConfig(keys=88)):
    assert fields(decode_aligned(encode_aligned(piece, cfg), cfg, duration_steps=duration)) == (
        fields(piece.notes))


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 24))
def test_encode_of_decode_is_identity_on_any_binary_steps(seed, T):
  steps = (np.random.default_rng(seed).random((T, 128)) < 0.05).astype(np.uint8)
  again = encode_aligned(Piece('s', decode_aligned(steps, duration_steps=3)), num_frames=T)
  np.testing.assert_array_equal(again, steps)


def chord(*pitches, keys=128):
  row = np.zeros(keys, np.uint8)
  row[list(pitches)] = 1
  return row


def test_chord_vocab_counts_ids_and_unk():
  c, g, f, d = chord(60, 64, 67), chord(55, 59, 62), chord(53, 57, 60), chord(62)
  rest = chord()
  seq_a = np.stack([c, rest, g, c, c, f])
  seq_b = np.stack([g, c, d, rest])
  vocab = build_chord_vocab([seq_a, seq_b])
  # c x4, g x2, then f and d once each (ties in packed-bit order: d's bits < f's bits).
  assert vocab.size == 6
  np.testing.assert_array_equal(vocab.chords[2], c)
  np.testing.assert_array_equal(vocab.chords[3], g)
  assert vocab.counts.tolist() == [2, 0, 4, 2, 1, 1]
  ids_a = vocab.encode(seq_a)
  assert ids_a.dtype == np.int32
  np.testing.assert_array_equal(vocab.chords[4:], np.stack([d, f]))
  assert ids_a.tolist() == [2, REST_ID, 3, 2, 2, 5]
  np.testing.assert_array_equal(vocab.decode(ids_a), seq_a)

  small = build_chord_vocab([seq_a, seq_b], max_size=4)
  assert small.size == 4 and small.counts.tolist() == [2, 2, 4, 2]
  assert small.encode(seq_b).tolist() == [3, 2, UNK_ID, REST_ID]
  np.testing.assert_array_equal(small.decode([UNK_ID, REST_ID]), np.zeros((2, 128)))
  assert build_chord_vocab([seq_a, seq_b], min_count=2).size == 4

  again = ChordVocab.from_arrays(small.to_arrays())
  assert again.encode(seq_a).tolist() == small.encode(seq_a).tolist()
  assert vocab.encode(np.zeros((0, 128))).shape == (0,)


def test_chord_vocab_errors():
  vocab = build_chord_vocab([np.stack([chord(60)])])
  with pytest.raises(ValueError, match='chord id 7'):
    vocab.decode([0, 7])
  with pytest.raises(ValueError, match='88'):
    vocab.encode(np.zeros((2, 88)))
  with pytest.raises(ValueError, match='max_size'):
    build_chord_vocab([np.stack([chord(60)])], max_size=1)
  with pytest.raises(ValueError, match='repeated'):
    ChordVocab(np.stack([chord(), chord(), chord(60), chord(60)]), np.ones(4))


# ------------------------------------------------------------------------------------------------
# Note + duration streams.


def test_note_duration_hand_built():
  # C-E chord at step 0 (4 and 2 steps), G at step 4 (1 step), then C5 after a 37-step gap.
  piece = piece_of([64, 60, 67, 72], [0, 0, 4, 41], [2, 4, 5, 61])
  notes, durs = encode_note_duration(piece)
  assert notes.tolist() == [60, 64, SKIP, 67, SKIP, SKIP, SKIP, 72]
  assert durs.tolist() == [4, 2, 4, 1, 16, 16, 5, 16]  # C5's 20 steps capped at 16
  assert notes.dtype == np.int32 and durs.dtype == np.int32
  decoded = decode_note_duration(notes, durs)
  assert fields(decoded) == [(60, 0.0, 0.5), (64, 0.0, 0.25), (67, 0.5, 0.625),
                             (72, 5.125, 7.125)]
  fixed = decode_note_duration(notes, durs, note_duration=2)
  assert (fixed['end'] - fixed['start']).tolist() == [0.25] * 4
  notes8, durs8 = encode_note_duration(piece, max_duration=8)
  assert notes8.tolist() == [60, 64, SKIP, 67, SKIP, SKIP, SKIP, SKIP, SKIP, 72]
  assert durs8.tolist() == [4, 2, 4, 1, 8, 8, 8, 8, 5, 8]


def test_note_duration_leading_gap_and_seconds_grid():
  piece = Piece('t', make_notes([50], [0.3], [0.5]))
  notes, durs = encode_note_duration(piece, resolution=0.1, grid='seconds')
  assert notes.tolist() == [SKIP, 50] and durs.tolist() == [3, 2]
  assert encode_note_duration(Piece('e', make_notes([], [], []))) [0].shape == (0,)


def test_note_duration_decode_errors():
  with pytest.raises(ValueError, match='note token 129 at position 1'):
    decode_note_duration([60, 129], [1, 1])
  with pytest.raises(ValueError, match='duration token 0 at position 0'):
    decode_note_duration([60], [0])
  with pytest.raises(ValueError, match='duration token 17'):
    decode_note_duration([SKIP], [17], max_duration=16)
  with pytest.raises(ValueError, match='2 note tokens but 1'):
    decode_note_duration([60, 61], [1])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 127), st.integers(0, 80), st.integers(1, 16)),
                max_size=30), st.sampled_from([4, 16]))
def test_note_duration_round_trip(raw, max_duration):
  raw = [(p, s, min(d, max_duration)) for p, s, d in raw]
  piece = piece_of([r[0] for r in raw], [r[1] for r in raw], [r[1] + r[2] for r in raw])
  notes, durs = encode_note_duration(piece, max_duration=max_duration)
  assert durs.min(initial=1) >= 1 and durs.max(initial=1) <= max_duration
  assert fields(decode_note_duration(notes, durs, max_duration=max_duration)) == fields(piece.notes)
