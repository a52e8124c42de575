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
