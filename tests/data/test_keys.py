"""Tests for dsjax.data.keys: histograms, key estimation, the 11/01 scale table, transposition."""

from __future__ import annotations

import types

import numpy as np
import pytest

from dsjax.data import keys as K
from dsjax.data.keys import Key
from dsjax.data.notes import Piece, make_notes


def melody(pitches, durations=None, name='m'):
  """Consecutive notes at 120 qpm, durations in beats (default 1 each)."""
  d = np.ones(len(pitches)) if durations is None else np.asarray(durations, np.float64)
  start = np.concatenate([[0.0], np.cumsum(d)[:-1]]) * 0.5
  return Piece(name, make_notes(pitches, start, start + d * 0.5))


C_MAJOR = [60, 62, 64, 65, 67, 69, 71, 72]
G_MAJOR = [67, 69, 71, 72, 74, 76, 78, 79]
A_HARMONIC_MINOR = [57, 59, 60, 62, 64, 65, 68, 69]
E_MAJOR = [64, 66, 68, 69, 71, 73, 75, 76]
# An F# minor tune: tonic-dominant outline with the leading tone E#.
F_SHARP_MINOR_TUNE = ([66, 69, 73, 71, 69, 68, 66, 65, 66, 73, 69, 66],
                      [2, 1, 1, 1, 1, 1, 2, 1, 3, 1, 1, 4])


# ------------------------------------------------------------------------------------------------
# Histograms.


def test_pitch_class_histogram_exact():
  # C4 (1 s), E4 (0.5 s), C5 (0.5 s), plus a drum that must not count.
  notes = make_notes([60, 64, 72, 38], [0, 1, 1.5, 0], [1, 1.5, 2, 2], is_drum=[0, 0, 0, 1])
  expected = np.zeros(12)
  expected[[0, 4]] = [2 / 3, 1 / 3]
  np.testing.assert_array_equal(K.pitch_class_histogram(notes), expected)
  expected[[0, 4]] = [0.75, 0.25]
  np.testing.assert_array_equal(K.pitch_class_histogram(Piece('p', notes), 'duration'), expected)
  assert K.pitch_class_histogram(notes, include_drums=True)[2] == 0.25
  empty = make_notes([], [], [])
  np.testing.assert_array_equal(K.pitch_class_histogram(empty), np.zeros(12))
  np.testing.assert_array_equal(K.pitch_class_histogram(empty, empty='uniform'),
                                np.full(12, 1 / 12))
  with pytest.raises(ValueError, match='weight'):
    K.pitch_class_histogram(notes, 'loudness')


def test_windowed_histograms_exact():
  # C4 [0, 1), D4 [1, 2), E4 [1.5, 3.5) seconds.
  notes = make_notes([60, 62, 64], [0, 1, 1.5], [1, 2, 3.5])
  h = K.windowed_pitch_class_histograms(notes, window=2.0)
  assert h.shape == (2, 12)
  np.testing.assert_array_equal(h[0, [0, 2, 4]], [1 / 3, 1 / 3, 1 / 3])
  np.testing.assert_array_equal(h[1], np.zeros(12))  # no onset in [2, 4)
  hd = K.windowed_pitch_class_histograms(notes, window=2.0, weight='duration', empty='uniform')
  np.testing.assert_array_equal(hd[0, [0, 2, 4]], [0.4, 0.4, 0.2])  # 1, 1, 0.5 s of 2.5
  np.testing.assert_array_equal(hd[1, 4], 1.0)
  # Overlapping windows of 2 s every 1 s: [0,2) [1,3) [2,4) [3,5).
  ho = K.windowed_pitch_class_histograms(notes, window=2.0, hop=1.0, weight='duration')
  assert ho.shape == (4, 12)
  np.testing.assert_array_equal(ho[1, [0, 2, 4]], [0, 0.4, 0.6])  # D4 1 s, E4 1.5 s in [1, 3)
  np.testing.assert_array_equal(ho[3, 4], 1.0)
  # Windows of 2 notes every note: {C, D}, {D, E}, {E}.
  hn = K.windowed_pitch_class_histograms(notes, window=2, hop=1, unit='notes')
  np.testing.assert_array_equal(hn[:, [0, 2, 4]], [[0.5, 0.5, 0], [0, 0.5, 0.5], [0, 0, 1]])
  # Beats through the tempo map: 120 qpm, so 2 beats = 1 s.
  hb = K.windowed_pitch_class_histograms(Piece('p', notes), window=2.0, unit='beats')
  np.testing.assert_array_equal(hb[:, [0, 2, 4]], [[1, 0, 0], [0, 0.5, 0.5], [0] * 3, [0] * 3])
  assert K.windowed_pitch_class_histograms(make_notes([], [], []), 1.0).shape == (0, 12)
  with pytest.raises(ValueError, match='whole numbers'):
    K.windowed_pitch_class_histograms(notes, window=2.5, unit='notes')


def test_event_pitch_class_histogram_any_vocab():
  vocab = types.SimpleNamespace(note_on_offset=3)
  # Note-ons of C4, E4 and G9 (id 130 = 3 + 127); 300 and 2 are not note-ons.
  ids = np.array([3 + 60, 3 + 64, 3 + 127, 300, 2])
  h = K.event_pitch_class_histogram(ids, vocab)
  np.testing.assert_array_equal(h[[0, 4, 7]], [1 / 3, 1 / 3, 1 / 3])
  assert h.sum() == 1.0
  batch = K.event_pitch_class_histogram(np.stack([ids, np.full(5, 300)]), vocab)
  assert batch.shape == (2, 12) and batch[1].sum() == 0


def test_event_pitch_class_histogram_default_vocab():
  events = pytest.importorskip('dsjax.data.events')
  vocab = events.EventVocab()
  ids = np.array([vocab.note_on_offset + 62, vocab.note_off_offset + 62, vocab.shift_offset,
                  vocab.note_on_offset + 66, vocab.note_off_offset + 60])
  expected = np.zeros(12)
  expected[[2, 6]] = 0.5
  np.testing.assert_array_equal(K.event_pitch_class_histogram(ids), expected)


def test_sharpen_histogram():
  h = np.zeros(12)
  h[[0, 7]] = [0.6, 0.4]
  s = K.sharpen_histogram(h, 0.1)
  np.testing.assert_allclose(s[0] / s[7], np.exp(2.0))
  np.testing.assert_allclose(s.sum(), 1.0)


# ------------------------------------------------------------------------------------------------
# Key estimation.


# Krumhansl & Kessler (1982) probe-tone ratings as printed in Krumhansl (1990), Table 2.1.
LITERATURE_MAJOR = [6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88]
LITERATURE_MINOR = [6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17]


def test_key_correlations_match_numpy_corrcoef():
  h = np.random.default_rng(0).random(12)
  r = K.key_correlations(h)
  for tonic in range(12):
    # Key with this tonic weights pitch class (tonic + d) % 12 by profile[d].
    major = np.array(LITERATURE_MAJOR)[(np.arange(12) - tonic) % 12]
    minor = np.array(LITERATURE_MINOR)[(np.arange(12) - tonic) % 12]
    np.testing.assert_allclose(r[tonic], np.corrcoef(h, major)[0, 1], rtol=1e-12)
    np.testing.assert_allclose(r[12 + tonic], np.corrcoef(h, minor)[0, 1], rtol=1e-12)


def test_key_correlations_of_the_profiles_themselves():
  r = K.key_correlations(np.roll(K.KK_MINOR, 6))  # the f# minor profile
  np.testing.assert_allclose(r[Key(6, 'minor').index], 1.0)
  assert int(np.argmax(r)) == 18
  batch = K.key_correlations(np.stack([K.KK_MAJOR, np.roll(K.KK_MAJOR, 7)]))
  assert batch.shape == (2, 24) and np.argmax(batch, -1).tolist() == [0, 7]


@pytest.mark.parametrize('pitches, durations, expected', [
    (C_MAJOR, None, 'C major'),
    (G_MAJOR, None, 'G major'),
    (A_HARMONIC_MINOR, None, 'a minor'),
    (F_SHARP_MINOR_TUNE[0], F_SHARP_MINOR_TUNE[1], 'f# minor'),
])
def test_estimate_key_of_scales(pitches, durations, expected):
  piece = melody(pitches, durations)
  assert K.estimate_key(piece).name == expected
  assert K.estimate_key(piece.notes, 'count').name == expected
  assert K.estimate_key(K.pitch_class_histogram(piece)).name == expected


def test_estimate_key_errors():
  with pytest.raises(ValueError, match='constant'):
    K.estimate_key(make_notes([], [], []))
  with pytest.raises(ValueError, match='12'):
    K.estimate_key(np.ones(7))


def test_estimate_key_of_a_bach_chorale():
  music21 = pytest.importorskip('music21')
  score = music21.corpus.parse('bach/bwv66.6')
  pitch, start, end, part = [], [], [], []
  for i, p in enumerate(score.parts):
    for n in p.recurse().notes:
      t = float(n.getOffsetInHierarchy(p)) * 0.5  # quarters -> seconds at 120 qpm
      for q in n.pitches:
        pitch.append(q.midi), start.append(t), part.append(i)
        end.append(t + float(n.quarterLength) * 0.5)
  piece = Piece('bach/bwv66.6', make_notes(pitch, start, end, part=part))
  assert len(piece.notes) == 165
  assert K.estimate_key(piece) == Key(6, 'minor')  # "Christ unser Herr", F# minor
  moved, shift = K.transpose_to_c(piece)
  assert shift == 3 and K.estimate_key(moved).name == 'a minor'


def test_key_names():
  assert Key(0).name == 'C major' and Key(9, 'minor').name == 'a minor'
  assert Key(6, 'minor').name == 'f# minor' and Key(3).name == 'Eb major'
  for k in K.ALL_KEYS:
    assert Key.from_name(k.name) == k and K.ALL_KEYS[k.index] == k
  assert Key.from_name('Gb major') == Key(6) and Key.from_name('bb') == Key(10, 'minor')
  assert Key.from_name('B-') == Key(10)
  for bad in ('H major', 'C dorian', ''):
    with pytest.raises(ValueError):
      Key.from_name(bad)
  with pytest.raises(ValueError, match='tonic'):
    Key(12)
  with pytest.raises(ValueError, match='mode'):
    Key(0, 'dorian')


# ------------------------------------------------------------------------------------------------
# The 11/01 scale table.


def test_scale_table_is_chromatic_from_each_tonic():
  assert list(K.SCALES) == list(K.KEY_NAMES)
  for tonic, (name, row) in enumerate(K.SCALES.items()):
    assert row[0] == name.lower()
    assert [K.note_name_to_pitch_class(n) for n in row] == [(tonic + d) % 12 for d in range(12)]


def test_scale_table_spot_checks():
  assert K.SCALES['Eb'][K.SCALE_DEGREES.index('4#')] == 'a'
  assert K.SCALES['Eb'][K.SCALE_DEGREES.index('3')] == 'g'
  assert K.SCALES['G#'][K.SCALE_DEGREES.index('7b')] == 'gb'
  assert K.SCALES['Bb'][K.SCALE_DEGREES.index('5')] == 'f'
  assert K.scale_pitch_classes('C major').tolist() == [0, 2, 4, 5, 7, 9, 11]
  assert K.scale_pitch_classes('E major').tolist() == [4, 6, 8, 9, 11, 1, 3]
  assert K.scale_pitch_classes('a minor').tolist() == [9, 11, 0, 2, 4, 5, 7]
  assert Key(9, 'minor').pitch_classes(K.HARMONIC_MINOR_DEGREES).tolist() == [9, 11, 0, 2, 4, 5, 8]
  assert K.scale_note_names('Bb major') == ('bb', 'c', 'd', 'eb', 'f', 'g', 'a')
  assert K.scale_note_names(Key(2), ('1', '5#')) == ('d', 'bb')
  with pytest.raises(ValueError, match='degrees'):
    K.scale_pitch_classes('C major', ('1', '9'))


# ------------------------------------------------------------------------------------------------
# Transposition.


def test_transpose_to_c_nearest():
  moved, shift = K.transpose_to_c(melody(E_MAJOR))
  assert shift == -4
  assert moved.notes['pitch'].tolist() == C_MAJOR
  assert K.estimate_key(moved) == Key(0)
  moved, shift = K.transpose_to_c(melody(*F_SHARP_MINOR_TUNE))
  assert shift == 3 and K.estimate_key(moved).name == 'a minor'
  moved, shift = K.transpose_to_c(melody(*F_SHARP_MINOR_TUNE), minor_to='c')
  assert shift == -6 and K.estimate_key(moved).name == 'c minor'
  assert K.transpose_to_c(melody(C_MAJOR))[1] == 0
  # G major up a fourth would pass 127: it goes down a fifth instead.
  high_g = melody([p + 48 for p in G_MAJOR][:5])  # 115..122
  assert K.transpose_to_c(high_g, key=Key(7))[1] == 5
  higher = melody([115, 119, 122, 124, 126])
  assert K.transpose_to_c(higher, key=Key(7))[1] == -7


def test_transpose_to_c_upward_quirk():
  assert K.transpose_to_c(melody(E_MAJOR), mode='upward')[1] == 8
  assert K.transpose_to_c(melody(C_MAJOR), mode='upward')[1] == 12
  assert K.transpose_to_c(melody(*F_SHARP_MINOR_TUNE), mode='upward', minor_to='c')[1] == 6
  with pytest.raises(ValueError, match='no shift'):
    K.transpose_to_c(melody([120, 124, 127]), key=Key(0), mode='upward')
  with pytest.raises(ValueError, match='mode'):
    K.transpose_to_c(melody(C_MAJOR), mode='down')


def test_transpose_piece_keeps_drums_and_checks_range():
  notes = make_notes([60, 36], [0, 0], [1, 1], is_drum=[False, True])
  moved = K.transpose(Piece('p', notes), 5)
  assert sorted(moved.notes['pitch'].tolist()) == [36, 65]
  with pytest.raises(ValueError, match='p: transposing by \\+3'):
    K.transpose(Piece('p', make_notes([126], [0], [1])), 3)
