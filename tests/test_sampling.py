"""Sampling strategies: exact filtering, frequencies, maximum sustain."""

import jax
import jax.numpy as jnp
import numpy as np

from dsjax import sampling


def test_top_k_keeps_exactly_the_k_largest():
  logits = jnp.array([[0.0, 3.0, 1.0, 2.0, -1.0]])
  out = sampling.filter_logits(logits, top_k=2)
  assert np.isfinite(np.asarray(out)).tolist() == [[False, True, False, True, False]]


def test_top_p_keeps_smallest_prefix_reaching_mass():
  probs = np.array([0.5, 0.3, 0.15, 0.05])
  logits = jnp.log(jnp.asarray(probs))[None]
  keep = lambda p: np.isfinite(np.asarray(sampling.filter_logits(logits, top_p=p)))[0].tolist()
  assert keep(0.5) == [True, False, False, False]
  assert keep(0.6) == [True, True, False, False]
  assert keep(0.81) == [True, True, True, False]
  assert keep(1.0) == [True, True, True, True]


def test_categorical_frequencies_match_tempered_probabilities():
  logits = jnp.log(jnp.array([0.6, 0.3, 0.1]))
  draws = sampling.sample_categorical(jax.random.key(0), jnp.broadcast_to(logits, (40000, 3)),
                                      temperature=0.5)
  freq = np.bincount(np.asarray(draws), minlength=3) / 40000
  p = np.array([0.6, 0.3, 0.1]) ** 2
  np.testing.assert_allclose(freq, p / p.sum(), atol=0.01)


def test_frame_threshold_and_bernoulli():
  probs = jnp.array([[0.1, 0.6, 0.9]])
  assert np.asarray(sampling.sample_frame(None, probs, 'threshold', 0.5)).tolist() == [[0, 1, 1]]
  draws = sampling.sample_frame(jax.random.key(1), jnp.broadcast_to(probs, (20000, 3)))
  np.testing.assert_allclose(np.asarray(draws).mean(0), [0.1, 0.6, 0.9], atol=0.015)


def test_max_sustain_releases_after_limit():
  held = jnp.zeros((1, 2), jnp.int32)
  frames = []
  for _ in range(5):
    f, held = sampling.apply_max_sustain(jnp.ones((1, 2)), held, 2)
    frames.append(np.asarray(f)[0, 0])
  # on, on, released, on, on: a key held for 2 frames is released for one frame
  assert frames == [1, 1, 0, 1, 1]


def test_feedback_noise_flips_at_rate():
  frame = jnp.zeros((10000, 8))
  noisy = sampling.feedback_noise(jax.random.key(2), frame, 0.1)
  assert abs(float(noisy.mean()) - 0.1) < 0.01
  assert sampling.feedback_noise(jax.random.key(2), frame, 0.0) is frame


def test_inverse_cdf_picks_the_interval_containing_u():
  probs = np.array([0.25, 0.0, 0.5, 0.25])
  logits = jnp.log(jnp.asarray(probs))  # -inf for the empty entry
  u = jnp.array([0.0, 0.2499, 0.25, 0.7499, 0.75, 0.999999, np.nextafter(np.float32(1), 0)])
  got = sampling.categorical_from_uniform(u, jnp.broadcast_to(logits, (7, 4)))
  assert np.asarray(got).tolist() == [0, 0, 2, 2, 3, 3, 3]


def test_inverse_cdf_never_draws_a_masked_token():
  # the last entries are masked: a u that rounds u * total up to the total must not reach them
  logits = jnp.array([[0.0, 0.0, -jnp.inf, -jnp.inf]])
  u = jnp.array([np.nextafter(np.float32(1), 0)])
  assert int(sampling.categorical_from_uniform(u, logits)[0]) == 1
  filtered = sampling.filter_logits(jnp.broadcast_to(jnp.array([1.0, 3.0, 2.0, 0.5]), (20000, 4)),
                                    top_k=2)
  draws = np.asarray(sampling.categorical_from_uniform(
      jax.random.uniform(jax.random.key(2), (20000,)), filtered))
  assert set(np.unique(draws).tolist()) == {1, 2}
  np.testing.assert_allclose((draws == 1).mean(), 1 / (1 + np.exp(-1.0)), atol=0.015)
