"""Tests for dsjax.eval.music_stats: known values on hand-built rolls and histograms."""

from __future__ import annotations

import numpy as np
import pytest

from dsjax.eval import music_stats as ms


def roll(time, pitch, on):
  r = np.zeros((time, pitch), np.uint8)
  for t, p in on:
    r[t, p] = 1
  return r


def test_density_polyphony_silence():
  # 4 frames: {0, 1, 2}, {}, {5}, {}  -> 4 keys over 4 frames; 2 sounding frames with 3 and 1 keys
  r = roll(4, 8, [(0, 0), (0, 1), (0, 2), (2, 5)])
  assert ms.note_density(r) == 1.0
  assert ms.polyphony(r) == 2.0
  assert ms.silent_fraction(r) == 0.5
  batch = np.stack([r, np.ones((4, 8), np.uint8)])      # second roll: 8 keys in every frame
  assert ms.note_density(batch) == (4 + 32) / 8
  assert ms.polyphony(batch) == (3 + 1 + 8 * 4) / 6
  assert ms.polyphony(np.zeros((2, 3, 4))) == 0.0
  assert ms.note_density(np.full((1, 2, 3), 0.4)) == 0.0   # values <= 0.5 are off


def test_pitch_class_histogram():
  # 88-key roll: key 0 = A0 (class 9), key 3 = C1 (class 0), key 15 = C2 (class 0)
  r = roll(3, 88, [(0, 0), (1, 3), (2, 15), (0, 15)])
  h = ms.pitch_class_histogram_of_rolls(r, lowest_pitch=21)
  expected = np.zeros(12)
  expected[9], expected[0] = 1 / 4, 3 / 4
  np.testing.assert_allclose(h, expected)
  h128 = ms.pitch_class_histogram_of_rolls(roll(1, 128, [(0, 61)]), lowest_pitch=0)  # C#4
  assert h128[1] == 1.0 and h128.sum() == 1.0
  np.testing.assert_allclose(ms.pitch_class_histogram_of_rolls(np.zeros((2, 5, 88))),
                             np.full(12, 1 / 12))


def test_js_divergence_known_values():
  p = np.array([1.0, 0.0, 0.0])
  q = np.array([0.0, 1.0, 0.0])
  assert ms.js_divergence(p, p) == 0.0
  np.testing.assert_allclose(ms.js_divergence(p, q), np.log(2), rtol=1e-12)
  np.testing.assert_allclose(ms.js_divergence(p, q, base=2), 1.0, rtol=1e-12)
  a, b = np.array([0.5, 0.5]), np.array([0.9, 0.1])
  m = (a + b) / 2
  want = 0.5 * np.sum(a * np.log(a / m)) + 0.5 * np.sum(b * np.log(b / m))
  np.testing.assert_allclose(ms.js_divergence(a, b), want, rtol=1e-12)
  np.testing.assert_allclose(ms.js_divergence(b, a), want, rtol=1e-12)   # symmetric
  # unnormalised weights are normalised; a zero bin in one side is finite (unlike symmetric KL)
  np.testing.assert_allclose(ms.js_divergence([2, 2], [9, 1]), want, rtol=1e-12)
  assert np.isfinite(ms.js_divergence([1, 0], [1, 1]))
  with pytest.raises(ValueError, match='shape'):
    ms.js_divergence([1, 0], [1, 0, 0])
  with pytest.raises(ValueError, match='non-negative'):
    ms.js_divergence([0, 0], [1, 0])


def test_mean_pairwise_distance():
  a = roll(2, 4, [(0, 0)])
  b = roll(2, 4, [(0, 0), (1, 3)])      # differs from a in 1 cell of 8
  c = roll(2, 4, [(1, 1), (1, 2)])      # differs from a in 3 cells, from b in 4
  d = ms.mean_pairwise_distance(np.stack([a, b, c]))
  assert d == pytest.approx((1 + 3 + 4) / 3 / 8, abs=1e-15)
  assert ms.mean_pairwise_distance(np.stack([a, a, a])) == 0.0   # complete mode collapse
  ones, zeros = np.ones((2, 4)), np.zeros((2, 4))
  assert ms.mean_pairwise_distance(np.stack([ones, zeros])) == 1.0
  with pytest.raises(ValueError, match='at least 2'):
    ms.mean_pairwise_distance(a[None])
  with pytest.raises(ValueError, match='batch, time, pitch'):
    ms.note_density(np.zeros(5))


def melody_roll(tops, pitch=40, chord=()):
  """A roll whose frame t sounds key ``tops[t]`` (None: silent) above the keys ``chord``."""
  r = np.zeros((len(tops), pitch), np.uint8)
  for t, k in enumerate(tops):
    if k is not None:
      r[t, k] = 1
      r[t, list(chord)] = 1
  return r


def test_melody_line_is_the_highest_sounding_key():
  r = melody_roll([20, 20, None, 31], chord=(3, 10))            # a chord under the tune
  np.testing.assert_array_equal(ms.melody_line(r), [20, 20, -1, 31])
  batch = np.stack([r, np.zeros_like(r)])
  np.testing.assert_array_equal(ms.melody_line(batch), [[20, 20, -1, 31], [-1, -1, -1, -1]])
  np.testing.assert_array_equal(ms.melody_line(np.eye(3)), [0, 1, 2])


def test_melody_interval_bins_known_counts():
  # moves: 0 (hold), +2 (step up), -1 (step down), +4 (third up), -7 (fourth-fifth down),
  # +12 (sixth-octave up), -13 (beyond-octave down), exit, rest, entry
  tops = [20, 20, 22, 21, 25, 18, 30, 17, None, None, 19]
  counts = ms.melody_interval_counts(melody_roll(tops, chord=(0,)))
  expected = dict.fromkeys(ms.MELODY_BINS, 0)
  for name in ('hold', 'step up', 'step down', 'third up', 'fourth-fifth down',
               'sixth-octave up', 'beyond-octave down', 'exit', 'rest', 'entry'):
    expected[name] += 1
  assert dict(zip(ms.MELODY_BINS, counts.tolist())) == expected
  hist = ms.melody_interval_histogram(melody_roll(tops))
  assert hist.sum() == pytest.approx(1.0) and hist[0] == pytest.approx(0.1)
  # bin edges: 2 is a step, 3 a third, 5 a fourth, 8 a sixth, 13 beyond the octave (one way each)
  edges = ms.melody_interval_counts(melody_roll([0, 2, 5, 10, 18, 31]))
  assert [ms.MELODY_BINS[i] for i in np.flatnonzero(edges)] == [
      'step up', 'third up', 'fourth-fifth up', 'sixth-octave up', 'beyond-octave up']
  # no pair is counted across two rolls of a batch
  pair = np.stack([melody_roll([0, 0]), melody_roll([30, 30])])
  assert ms.melody_interval_counts(pair)[0] == 2 and ms.melody_interval_counts(pair).sum() == 2


def test_melody_hold_and_step_rates():
  # sounding pairs: 20->20 hold, 20->22 step, 22->30 leap; the silent frame's pairs do not count
  r = melody_roll([20, 20, 22, 30, None, 30])
  assert ms.melody_hold_rate(r) == pytest.approx(1 / 3)
  assert ms.melody_step_rate(r) == pytest.approx(1 / 3)
  held = melody_roll([5] * 8, chord=(1,))
  assert ms.melody_hold_rate(held) == 1.0 and ms.melody_step_rate(held) == 0.0
  assert ms.melody_hold_rate(np.zeros((6, 10))) == 0.0


def test_melody_js_known_value():
  held = melody_roll([5, 5, 5])                                    # hold, hold
  half = melody_roll([5, 5, 6])                                    # hold, step up
  # p = (1, 0), q = (1/2, 1/2): JS = 1/2 ln(4/3) + 1/4 ln(2/3) + 1/4 ln 2
  want = 0.5 * np.log(4 / 3) + 0.25 * np.log(2 / 3) + 0.25 * np.log(2)
  assert ms.melody_js(held, half) == pytest.approx(want)
  assert ms.melody_js(held, ms.melody_interval_histogram(half)) == pytest.approx(want)
  assert ms.melody_js(half, half) == 0.0
  leaps = melody_roll([0, 30, 0])                                  # disjoint bins: ln 2
  assert ms.melody_js(held, leaps) == pytest.approx(np.log(2))


# -- the per-piece statistics (MusPy / C-RNN-GAN set) and describe -------------------------------

C_MAJOR = (0, 2, 4, 5, 7, 9, 11)       # C D E F G A B as keys above lowest_pitch = 60 (C4)


def notes_roll(time, keys, notes):
  """A roll ``[time, keys]`` sounding key k over frames [start, end) for each (k, start, end)."""
  r = np.zeros((time, keys), np.uint8)
  for k, start, end in notes:
    r[start:end, k] = 1
  return r


def test_c_major_scale_pitch_statistics():
  # the scale up, one two-frame note each, a silent frame between notes
  r = notes_roll(21, 24, [(k, 3 * i, 3 * i + 2) for i, k in enumerate(C_MAJOR)])
  assert ms.pitch_range(r) == 11.0                           # C4 to B4
  assert ms.pitch_classes_used(r, lowest_pitch=60) == 7
  assert ms.pitch_class_entropy(r, lowest_pitch=60) == pytest.approx(np.log2(7))
  assert ms.scale_consistency(r, lowest_pitch=60) == 1.0
  np.testing.assert_array_equal(ms.onset_pitch_class_counts(r, lowest_pitch=60),
                                [1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1])
  # the same keys read a semitone higher are C# major: still one scale
  assert ms.scale_consistency(r, lowest_pitch=61) == 1.0
  # C major plus one F#: 7 of 8 notes in C major (and in G major, which lacks F)
  sharp = notes_roll(24, 24, [(k, 3 * i, 3 * i + 2) for i, k in enumerate(C_MAJOR + (6,))])
  assert ms.scale_consistency(sharp, lowest_pitch=60) == pytest.approx(7 / 8)
  assert ms.pitch_class_entropy(sharp, lowest_pitch=60) == pytest.approx(3.0)   # 8 equal classes


def test_chromatic_cluster():
  r = notes_roll(3, 24, [(k, 0, 2) for k in range(12)])     # all 12 keys for 2 frames, then rest
  assert ms.pitch_range(r) == 11.0
  assert ms.pitch_classes_used(r, lowest_pitch=0) == 12
  assert ms.pitch_class_entropy(r, lowest_pitch=0) == pytest.approx(np.log2(12))
  assert ms.scale_consistency(r, lowest_pitch=0) == pytest.approx(7 / 12)
  assert ms.polyphony_rate(r) == 1.0                          # the silent frame is not counted


def test_pitch_range_and_classes_count_pitches_not_keys():
  # 88-key roll (key 0 = A0 = MIDI 21): C4 (MIDI 60, key 39) and C5 (key 51) are one class
  r = notes_roll(2, 88, [(39, 0, 1), (51, 1, 2)])
  assert ms.pitch_range(r) == 12.0
  assert ms.pitch_classes_used(r, lowest_pitch=21) == 1
  assert ms.pitch_class_entropy(r, lowest_pitch=21) == 0.0
  assert ms.pitch_classes_used(r, lowest_pitch=22) == 1      # any shift keeps one class
  assert ms.pitch_range(notes_roll(1, 88, [(7, 0, 1)])) == 0.0


def test_harmonic_minor_scales():
  # A harmonic minor, A B C D E F G#, one note each (keys above lowest_pitch = 57, A3)
  r = notes_roll(14, 24, [(k, 2 * i, 2 * i + 1) for i, k in enumerate((0, 2, 3, 5, 7, 8, 11))])
  assert ms.scale_consistency(r, lowest_pitch=57) == pytest.approx(6 / 7)   # best: C major
  assert ms.scale_consistency(r, lowest_pitch=57, harmonic_minor=True) == 1.0


def test_onsets_derived_or_given():
  # C held 4 frames; E struck twice without a gap (a held roll shows one note)
  r = notes_roll(4, 12, [(0, 0, 4), (4, 0, 4)])
  np.testing.assert_array_equal(ms.onsets_of(r), notes_roll(4, 12, [(0, 0, 1), (4, 0, 1)]))
  assert ms.pitch_class_entropy(r, lowest_pitch=0) == pytest.approx(1.0)    # C once, E once
  onsets = notes_roll(4, 12, [(0, 0, 1), (4, 0, 1), (4, 2, 3)])
  want = -(1 / 3 * np.log2(1 / 3) + 2 / 3 * np.log2(2 / 3))                  # C once, E twice
  assert ms.pitch_class_entropy(r, lowest_pitch=0, onsets=onsets) == pytest.approx(want)
  np.testing.assert_array_equal(ms.onsets_of(notes_roll(5, 1, [(0, 0, 2), (0, 3, 5)]))[:, 0],
                                [1, 0, 0, 1, 0])
  with pytest.raises(ValueError, match='differs'):
    ms.pitch_class_entropy(r, lowest_pitch=0, onsets=onsets[:3])


def test_polyphony_rate():
  # frames {0, 1}, {2}, {}, {3, 4, 5}: 3 sounding frames, 2 of them with 2+ keys
  r = roll(4, 8, [(0, 0), (0, 1), (1, 2), (3, 3), (3, 4), (3, 5)])
  assert ms.polyphony_rate(r) == pytest.approx(2 / 3)
  assert ms.polyphony(r) == 2.0                                  # (2 + 1 + 3) / 3, unchanged
  assert ms.polyphony_rate(np.stack([r, roll(4, 8, [(0, 0)])])) == pytest.approx(2 / 4)
  assert ms.polyphony_rate(np.zeros((5, 8))) == 0.0


def test_empty_beat_rate():
  # 2 bars of 2 beats of 2 frames; the second bar is empty
  r = notes_roll(8, 12, [(0, 0, 1), (4, 2, 3)])
  assert ms.empty_beat_rate(r, frames_per_beat=2) == 0.5
  assert ms.empty_beat_rate(r, frames_per_beat=4) == 0.5
  assert ms.empty_beat_rate(r, frames_per_beat=1) == 6 / 8
  # a held note sounds in every beat it covers, not only the one it starts in
  assert ms.empty_beat_rate(notes_roll(8, 12, [(0, 1, 7)]), frames_per_beat=2) == 0.0
  # 5 frames = 2 beats and a partial third beat, which counts
  for note in ((0, 0, 1), (0, 4, 5)):                 # a note in the first or the partial beat
    assert ms.empty_beat_rate(notes_roll(5, 4, [note]), frames_per_beat=2) == pytest.approx(2 / 3)
  assert ms.empty_beat_rate(np.zeros((6, 4)), frames_per_beat=2) == 1.0
  with pytest.raises(ValueError, match='frames_per_beat'):
    ms.empty_beat_rate(r, frames_per_beat=0)
  with pytest.raises(ValueError, match='frames_per_beat'):
    ms.empty_beat_rate(r, frames_per_beat=2.5)


def test_groove_consistency():
  bar_a = [(0, 0, 1), (3, 2, 3)]                   # onsets at positions 0 and 2 of a 4-frame bar
  two_same = notes_roll(8, 6, bar_a + [(k, s + 4, e + 4) for k, s, e in bar_a])
  assert ms.groove_consistency(two_same, frames_per_bar=4) == 1.0
  # positions {0} then {1}: Hamming distance 2 of 4
  shifted = notes_roll(8, 6, [(0, 0, 1), (2, 5, 6)])
  assert ms.groove_consistency(shifted, frames_per_bar=4) == 0.5
  # {0, 2} then {1, 3}: every position differs; then {1, 3} again: (4 + 0) / 2 / 4
  flip = notes_roll(12, 6, [(0, 0, 1), (0, 2, 3), (1, 5, 6), (1, 7, 8), (2, 9, 10), (2, 11, 12)])
  assert ms.groove_consistency(flip[:8], frames_per_bar=4) == 0.0
  assert ms.groove_consistency(flip, frames_per_bar=4) == 0.5
  # the pitch does not matter, only where notes start; a partial last bar is dropped
  other_keys = notes_roll(9, 6, [(0, 0, 1), (5, 4, 5), (1, 8, 9)])
  assert ms.groove_consistency(other_keys, frames_per_bar=4) == 1.0
  # a note held over the bar line has no onset in bar 2 ({0} vs {}): 1 - 1/4; re-struck: 1
  held = notes_roll(8, 6, [(0, 0, 8)])
  assert ms.groove_consistency(held, frames_per_bar=4) == 0.75
  restruck = notes_roll(8, 6, [(0, 0, 1), (0, 4, 5)])
  assert ms.groove_consistency(held, frames_per_bar=4, onsets=restruck) == 1.0
  assert ms.groove_consistency(np.zeros((8, 6)), frames_per_bar=4) == 1.0
  assert np.isnan(ms.groove_consistency(held[:7], frames_per_bar=4))      # one whole bar


def test_repetition_rate():
  a = [(0, 0, 2), (4, 2, 4)]
  b = [(7, 0, 4)]

  def bars(*contents):
    return notes_roll(4 * len(contents), 12, [(k, s + 4 * i, e + 4 * i)
                                              for i, c in enumerate(contents) for k, s, e in c])

  assert ms.repetition_rate(bars(a, a), frames_per_bar=4) == 1.0         # one repeated bar of 1
  assert ms.repetition_rate(bars(a, b, a), frames_per_bar=4) == 0.5
  assert ms.repetition_rate(bars(a, b, a, b), frames_per_bar=4) == pytest.approx(2 / 3)
  assert ms.repetition_rate(bars(a, a, a, a), frames_per_bar=4) == 1.0
  assert ms.repetition_rate(bars(a, b), frames_per_bar=4) == 0.0
  # silent bars repeat each other but are not counted
  assert ms.repetition_rate(bars(a, [], []), frames_per_bar=4) == 0.0
  # the same rhythm a semitone up is a different bar; so is a bar whose note is tied over
  assert ms.repetition_rate(bars(a, [(k + 1, s, e) for k, s, e in a]), frames_per_bar=4) == 0.0
  tied = notes_roll(8, 12, [(7, 0, 8)])
  assert ms.repetition_rate(tied, frames_per_bar=4) == 0.0
  restruck = notes_roll(8, 12, [(7, 0, 1), (7, 4, 5)])
  assert ms.repetition_rate(tied, frames_per_bar=4, onsets=restruck) == 1.0
  assert np.isnan(ms.repetition_rate(bars(a), frames_per_bar=4))


def test_edge_cases_silent_empty_and_one_frame():
  silent = np.zeros((16, 12))
  assert np.isnan(ms.pitch_range(silent))
  assert ms.pitch_classes_used(silent, lowest_pitch=0) == 0
  assert np.isnan(ms.pitch_class_entropy(silent, lowest_pitch=0))
  assert np.isnan(ms.scale_consistency(silent, lowest_pitch=0))
  assert ms.polyphony_rate(silent) == 0.0
  assert ms.empty_beat_rate(silent, frames_per_beat=4) == 1.0
  assert ms.repetition_rate(silent, frames_per_bar=4) == 0.0
  one = notes_roll(1, 12, [(0, 0, 1), (4, 0, 1), (7, 0, 1)])             # one C major chord frame
  assert ms.pitch_range(one) == 7.0
  assert ms.pitch_class_entropy(one, lowest_pitch=0) == pytest.approx(np.log2(3))
  assert ms.scale_consistency(one, lowest_pitch=0) == 1.0
  assert ms.polyphony_rate(one) == 1.0
  assert ms.empty_beat_rate(one, frames_per_beat=4) == 0.0
  assert np.isnan(ms.groove_consistency(one, frames_per_bar=4))
  assert np.isnan(ms.repetition_rate(one, frames_per_bar=4))
  for f in (ms.pitch_range, ms.onsets_of, lambda r: ms.empty_beat_rate(r, frames_per_beat=4)):
    with pytest.raises(ValueError, match='no frames'):
      f(np.zeros((0, 12)))
  with pytest.raises(ValueError, match='one roll'):
    ms.pitch_range(np.zeros((2, 4, 12)))


def test_describe_averages_over_pieces():
  scale = notes_roll(32, 24, [(k, 4 * i, 4 * i + 4) for i, k in enumerate(C_MAJOR + (12,))])
  cluster = notes_roll(32, 24, [(k, 0, 32) for k in range(12)])
  d = ms.describe([scale, cluster], lowest_pitch=60, frames_per_beat=2, beats_per_bar=2)
  assert tuple(d) == ms.DESCRIBE_KEYS and all(isinstance(v, float) for v in d.values())
  assert d['note_density'] == pytest.approx((1 + 12) / 2)
  assert d['polyphony'] == pytest.approx((1 + 12) / 2)
  assert d['polyphony_rate'] == pytest.approx((0 + 1) / 2)
  assert d['pitch_range'] == pytest.approx((12 + 11) / 2)
  assert d['pitch_classes_used'] == pytest.approx((7 + 12) / 2)
  # the scale's 8 notes: C twice, 6 others once; the cluster's 12 classes once each
  p = np.array([2, 1, 1, 1, 1, 1, 1]) / 8
  assert d['pitch_class_entropy'] == pytest.approx((-np.sum(p * np.log2(p)) + np.log2(12)) / 2)
  assert d['scale_consistency'] == pytest.approx((1 + 7 / 12) / 2)
  assert d['empty_beat_rate'] == 0.0
  # bars of 4 frames: the scale starts a note at position 0 of every bar; the cluster starts
  # once, in bar 0 (then bar 1 differs in one position, later bars are equal)
  assert d['groove_consistency'] == pytest.approx((1 + (1 - 1 / 4 / 7)) / 2)
  # the scale repeats no bar; the cluster's bars 2..7 repeat bar 1 (held, no onsets): 6 of 7
  assert d['repetition_rate'] == pytest.approx((0 + 6 / 7) / 2)
  # one roll, a batch array and a list agree; undefined values are skipped, not zeros
  assert ms.describe(scale, lowest_pitch=60, frames_per_beat=2, beats_per_bar=2) == ms.describe(
      np.stack([scale]), lowest_pitch=60, frames_per_beat=2.0, beats_per_bar=np.int64(2))
  with_silence = ms.describe([scale, np.zeros((5, 24))], lowest_pitch=60, frames_per_beat=2,
                             beats_per_bar=2)
  assert with_silence['pitch_class_entropy'] == pytest.approx(-np.sum(p * np.log2(p)))
  assert with_silence['empty_beat_rate'] == pytest.approx((0 + 1) / 2)
  silent = ms.describe(np.zeros((2, 8, 24)), lowest_pitch=60, frames_per_beat=2, beats_per_bar=2)
  assert np.isnan(silent['scale_consistency']) and silent['groove_consistency'] == 1.0
  # given onsets (a re-struck cluster every bar) change the onset statistics only
  onsets = [ms.onsets_of(scale), notes_roll(32, 24, [(k, s, s + 1) for k in range(12)
                                                     for s in range(0, 32, 4)])]
  d2 = ms.describe([scale, cluster], lowest_pitch=60, frames_per_beat=2, beats_per_bar=2,
                   onsets=onsets)
  assert d2['groove_consistency'] == 1.0 and d2['repetition_rate'] == pytest.approx(1 / 2)
  assert d2['pitch_range'] == d['pitch_range'] and d2['scale_consistency'] == d['scale_consistency']


def test_describe_refuses_bad_input():
  r = np.ones((8, 12))
  with pytest.raises(ValueError, match='no rolls'):
    ms.describe([], lowest_pitch=0, frames_per_beat=4, beats_per_bar=4)
  with pytest.raises(ValueError, match='onset rolls'):
    ms.describe([r, r], lowest_pitch=0, frames_per_beat=4, beats_per_bar=4, onsets=[r])
  with pytest.raises(ValueError, match='beats_per_bar'):
    ms.describe(r, lowest_pitch=0, frames_per_beat=4, beats_per_bar=0)
  with pytest.raises(ValueError, match='no frames'):
    ms.describe([r, np.zeros((0, 12))], lowest_pitch=0, frames_per_beat=4, beats_per_bar=4)
  with pytest.raises(ValueError, match='batch, time, keys'):
    ms.describe(np.zeros(8), lowest_pitch=0, frames_per_beat=4, beats_per_bar=4)
