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
