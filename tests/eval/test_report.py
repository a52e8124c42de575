"""Tests for dsjax.eval.report: the parts of an evaluation report on hand-built pieces."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dsjax.data.notes import Piece, SequenceSet, make_notes
from dsjax.data.pianoroll import RollConfig
from dsjax.eval import report as R

EIGHTHS = R.statistics_grid(RollConfig(grid='beats', step=0.5, keys=88))   # 2 frames per beat


def piece(pitches, starts, ends, name='p'):
  """Notes at 120 qpm: one beat is 0.5 s."""
  return Piece(name, make_notes(pitches, starts, ends))


def seqs(lengths, names=None):
  """Sequences ``[k * 100, k * 100 + 1, ...]`` of the given lengths."""
  return SequenceSet.from_list([np.arange(n) + 100 * k for k, n in enumerate(lengths)],
                               names or [f'piece{k}' for k in range(len(lengths))], np.int32)


def test_windows_of_take_the_same_place_of_distinct_pieces():
  s = seqs([3, 10, 8, 12])
  windows, names = R.windows_of(s, 2, start=1, length=6, seed=0)
  assert len(windows) == 2 and len(set(names)) == 2
  for w, name in zip(windows, names):
    k = int(name[-1])
    assert k in (1, 2, 3)                                  # long enough for items 1..6
    np.testing.assert_array_equal(w, np.arange(1, 7) + 100 * k)
  assert R.windows_of(s, 2, 1, 6, seed=0)[1] == names     # seeded
  # more windows than long pieces: every long one, then the longest other one, cut short
  windows, names = R.windows_of(s, 5, start=1, length=6, seed=3)
  assert sorted(names) == ['piece0', 'piece1', 'piece2', 'piece3']
  np.testing.assert_array_equal(windows[names.index('piece0')], [1, 2])
  assert R.windows_of(seqs([1, 2]), 3, start=1, length=4)[1] == ['piece1']   # piece0 has no item 1
  with pytest.raises(ValueError, match='length=0'):
    R.windows_of(s, 2, 0, 0)


def test_statistics_grid_and_frames_per_beat():
  assert EIGHTHS == RollConfig(grid='beats', step=0.5, keys=88, onset_plane=True)
  seconds = R.statistics_grid(RollConfig(grid='seconds', step=0.05, keys=88))
  assert (seconds.grid, seconds.step, seconds.keys, seconds.onset_plane) == ('beats', 0.25, 88,
                                                                             True)
  assert R.statistics_grid(None).keys == 88
  assert R.frames_per_beat(EIGHTHS) == 2 and R.frames_per_beat(seconds) == 4
  assert R.frames_per_beat(RollConfig(step=1 / 3)) == 3
  with pytest.raises(ValueError, match='0.3 beats'):
    R.frames_per_beat(RollConfig(step=0.3))


def test_music_statistics_of_a_hand_built_piece():
  # C4 struck twice (beats 0-1, 1-2) under a held E4 (beats 0-2): 4 eighth-note frames
  p = piece([60, 60, 64], [0.0, 0.5, 0.0], [0.5, 1.0, 1.0])
  m = R.music_of_pieces([p], ['two beats'], EIGHTHS)
  roll, onsets = m.rolls[0], m.onsets[0]
  assert roll.shape == (4, 88) and roll.sum() == 8
  assert np.flatnonzero(roll.any(0)).tolist() == [60 - 21, 64 - 21]
  assert np.argwhere(onsets).tolist() == [[0, 39], [0, 43], [2, 39]]   # the re-struck C4 kept
  s = R.music_statistics(m)
  assert s['note_density'] == 2.0 and s['polyphony'] == 2.0 and s['polyphony_rate'] == 1.0
  assert s['pitch_range'] == 4.0 and s['pitch_classes_used'] == 2.0
  assert s['pitch_class_entropy'] == pytest.approx(-(2 / 3) * math.log2(2 / 3)
                                                   - (1 / 3) * math.log2(1 / 3))
  assert s['scale_consistency'] == 1.0 and s['empty_beat_rate'] == 0.0
  assert math.isnan(s['groove_consistency']) and math.isnan(s['repetition_rate'])  # < 2 bars
  assert s['notes'] == 3.0 and s['frames'] == 4.0 and 'diversity' not in s
  # padded to two bars of 4/4 (16 frames): the second bar is silent
  s = R.music_statistics(R.music_of_pieces([p], None, EIGHTHS, num_frames=16))
  assert s['note_density'] == 0.5 and s['empty_beat_rate'] == 6 / 8
  assert s['groove_consistency'] == 1 - 2 / 8          # onsets at frames 0 and 2, then none
  assert s['repetition_rate'] == 0.0                     # a silent bar is no repeat
  # a silent piece gets one silent frame; two pieces: diversity of the rolls cut to 1 frame
  m = R.music_of_pieces([p, Piece('silent', make_notes([], [], []))], None, EIGHTHS)
  assert m.titles == ['p', 'silent'] and m.rolls[1].shape == (1, 88)
  assert R.music_statistics(m)['diversity'] == 2 / 88


def test_histograms_and_divergences():
  c4 = piece([60, 60], [0.0, 0.5], [0.5, 1.0])            # C4, C4 (a hold)
  e_d = piece([64, 62], [0.0, 0.25], [0.25, 0.5])          # E4 then D4 (a step down)
  m = R.music_of_pieces([c4, e_d], None, EIGHTHS)
  hist = R.pitch_class_histogram(m)                        # 4 C cells, one E, one D
  np.testing.assert_allclose(hist[[0, 2, 4]], [4 / 6, 1 / 6, 1 / 6])
  melody = R.melody_interval_histogram(m)                  # within pieces: no C4 -> E4 move
  bins = R.music_stats.MELODY_BINS
  expect = np.zeros(len(bins))
  expect[bins.index('hold')] = 3 / 4                       # C4 held over 4 frames: 3 holds
  expect[bins.index('step down')] = 1 / 4
  np.testing.assert_allclose(melody, expect)
  assert R.divergences(m, m) == {'pitch_class_js': 0.0, 'melody_js': 0.0}
  fs = R.music_of_pieces([piece([66, 66], [0.0, 0.5], [0.5, 1.0])], None, EIGHTHS)   # F#4
  d = R.divergences(R.music_of_pieces([c4], None, EIGHTHS), fs)
  assert d['pitch_class_js'] == pytest.approx(math.log(2)) and d['melody_js'] == 0.0
  one_frame = R.music_of_pieces([piece([60], [0.0], [0.25])], None, EIGHTHS)
  with pytest.raises(ValueError, match='two frames'):
    R.melody_interval_histogram(one_frame)


def test_plagiarism_names_the_closest_training_piece():
  train = [np.array([60, 62, 64, 65]), np.array([70, 71])]
  rows = R.plagiarism([np.array([60, 64, 65]), np.array([71, 70]), np.array([], np.int64)],
                      train, ['a', 'b'])
  # [60, 64, 65] is a subsequence of a (LCS 3) whose longest run there is [64, 65]
  assert rows[0] == {'notes': 3, 'ratio': 1.0, 'lcs': 3, 'closest': 'a', 'closest_index': 0,
                     'copy': 2, 'copy_ratio': 2 / 3, 'copy_from': 'a'}
  assert rows[1] == {'notes': 2, 'ratio': 0.5, 'lcs': 1, 'closest': 'b', 'closest_index': 1,
                     'copy': 1, 'copy_ratio': 0.5, 'copy_from': 'b'}
  assert rows[2]['ratio'] is None and rows[2]['copy_ratio'] is None
  s = R.summarize(rows)
  assert (s['mean'], s['min'], s['max'], s['count']) == (0.75, 0.5, 1.0, 2)
  assert (s['copy_mean'], s['copy_max'], s['copy_longest']) == ((2 / 3 + 0.5) / 2, 2 / 3, 2)
  # a training piece is its own closest piece, all of it
  assert [(r['ratio'], r['copy_ratio']) for r in R.plagiarism(train, train, ['a', 'b'])] == [
      (1.0, 1.0), (1.0, 1.0)]
  assert R.summarize([rows[2]])['mean'] is None
  # note sequences: pitches in onset order, ties by pitch
  p = piece([67, 60, 64], [0.5, 0.0, 0.0], [1.0, 1.0, 1.0])
  np.testing.assert_array_equal(R.note_sequences([p])[0], [60, 64, 67])


def test_continuation_bleu_known_values():
  same = R.continuation_bleu([[1, 2, 3, 4, 5]], [[1, 2, 3, 4, 5]])
  assert same['corpus_bleu'] == 1.0 and same['sentence_bleu_mean'] == 1.0
  # precisions 4/5, 3/4, 2/3, 1/2; no brevity penalty
  b = R.continuation_bleu([[1, 2, 3, 4, 5], [7, 8, 9, 9, 9]], [[1, 2, 3, 4, 6], [1, 2, 3, 4, 5]])
  one = (4 / 5 * 3 / 4 * 2 / 3 * 1 / 2) ** 0.25
  assert b['sentence_bleu_mean'] == pytest.approx(one / 2)
  assert b['precisions'] == pytest.approx([4 / 10, 3 / 8, 2 / 6, 1 / 4])
  assert b['corpus_bleu'] == pytest.approx((4 / 10 * 3 / 8 * 2 / 6 * 1 / 4) ** 0.25)
  assert b['brevity_penalty'] == 1.0
  with pytest.raises(ValueError, match='2 hypotheses, 1 references'):
    R.continuation_bleu([[1], [2]], [[1]])


def test_bleu_windows_are_seeded_slices_of_long_enough_pieces():
  s = seqs([5, 30, 40])
  w, picks = R.bleu_windows(s, 8, 20, seed=1)
  assert w.shape == (8, 20) and set(picks.tolist()) <= {1, 2}
  for row, k in zip(w, picks):
    assert row[0] >= 100 * k and np.array_equal(row, np.arange(row[0], row[0] + 20))
    assert row[-1] < 100 * k + s.lengths[k]
  np.testing.assert_array_equal(R.bleu_windows(s, 8, 20, seed=1)[0], w)
  with pytest.raises(ValueError, match='no piece has 41 items'):
    R.bleu_windows(s, 2, 41)
  w2, picks2, starts = R.bleu_windows(s, 8, 20, seed=1, with_starts=True)
  np.testing.assert_array_equal(w2, w)
  np.testing.assert_array_equal(w2[:, 0], 100 * picks2 + starts)


def test_other_real_continuations_come_from_other_pieces():
  np.testing.assert_array_equal(R.other_piece_partners(np.array([3, 3, 5, 3, 7])),
                                [2, 2, 3, 4, 0])
  assert R.other_piece_partners(np.array([4, 4, 4])) is None
  assert R.other_piece_partners(np.array([4])) is None


class _FakeReference:
  """Records the rolls it scores; the NLL is the share of sounding cells."""
  roll_cfg = RollConfig(grid='beats', step=0.5, keys=88)

  def __init__(self):
    self.scored = []

  def frame_nll(self, rolls):
    self.scored.append(np.asarray(rolls))
    return float(np.mean(rolls))

  def describe(self):
    return 'fake'


def test_reference_scores_encode_on_the_models_grid_and_cut_to_the_shortest():
  model = _FakeReference()
  long = piece([60], [0.0], [2.0])                        # 4 beats: 8 frames, all C4
  short = piece([62], [0.0], [1.5])                       # 6 frames
  out = R.reference_scores(model, {'samples': [long], 'real': [short, long]})
  assert out['frames'] == 6 and [x.shape for x in model.scored] == [(1, 6, 88), (2, 6, 88)]
  assert out['samples'] == pytest.approx(1 / 88) and out['model'] == 'fake'
  padded = R.reference_scores(model, {'samples': [short]}, num_frames=8)
  assert model.scored[-1][0, 6:].sum() == 0 and padded['samples'] == pytest.approx(6 / 8 / 88)


def test_jsonable_turns_nan_into_null():
  got = R._jsonable({'a': np.float32(1.5), 'b': [math.nan, np.int64(3)], 'c': np.arange(2)})
  assert got == {'a': 1.5, 'b': [None, 3], 'c': [0, 1]}


def test_music_of_pieces_takes_a_frame_count_per_piece():
  """A real window shorter than the samples keeps its own length (no padding with silence)."""
  p = piece([60, 64], [0.0, 0.5], [0.5, 1.0])                         # 4 eighth-note frames
  m = R.music_of_pieces([p, p], None, EIGHTHS, num_frames=[6, 3])
  assert [len(r) for r in m.rolls] == [6, 3]
  assert m.rolls[0][:4].sum() == m.rolls[0].sum() == 4 and m.rolls[1].sum() == 3
  assert [len(r) for r in R.music_of_pieces([p, p], None, EIGHTHS, num_frames=5).rolls] == [5, 5]
  with pytest.raises(ValueError, match='2 frame counts for 1 pieces'):
    R.music_of_pieces([p], None, EIGHTHS, num_frames=[1, 2])
