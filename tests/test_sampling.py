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


# -- the log's feedback tricks ------------------------------------------------------------------


def test_feedback_tricks_check_their_values():
  import pytest
  t = sampling.FeedbackTricks(noise_scale='0.5,2', state_decay=[0.9, 1.0])
  assert t.noise_scale == (0.5, 2.0) and t.state_decay == (0.9, 1.0) and t.active
  assert not sampling.FeedbackTricks(noise_scale=(), state_decay=None).active
  hash(t)  # a static argument of the jitted samplers
  for bad, match in (({'silence_random': 1.5}, 'silence_random=1.5'),
                     ({'state_reset_prob': -0.1}, 'state_reset_prob=-0.1'),
                     ({'noise_scale': '2,1'}, "noise_scale='2,1'"),
                     ({'state_decay': 'x'}, "state_decay='x': expected two numbers"),
                     ({'noise_scale': (1.0, float('inf'))}, 'noise_scale='),
                     ({'noise_scale': 0.5}, 'noise_scale=0.5: expected two numbers'),
                     ({'silence_random': None}, 'silence_random=None: must be a probability')):
    with pytest.raises(ValueError, match=match):
      sampling.FeedbackTricks(**bad)


def test_silence_random_replaces_only_silent_rows():
  frame = jnp.array([[0., 0., 0.], [0., 1., 0.]])
  fed = frame
  out, _ = sampling.apply_feedback_tricks(jax.random.key(0),
                                          sampling.FeedbackTricks(silence_random=1.0), frame, fed,
                                          None)
  np.testing.assert_array_equal(out, [[1., 1., 1.], [0., 1., 0.]])
  # at p = 0.25 a silent row is fed Bernoulli(0.25) keys
  frame = jnp.zeros((4000, 8))
  out, _ = sampling.apply_feedback_tricks(jax.random.key(1),
                                          sampling.FeedbackTricks(silence_random=0.25), frame,
                                          frame, None)
  assert set(np.unique(out)) == {0.0, 1.0}
  assert abs(float(out.mean()) - 0.25) < 0.01


def test_noise_scale_multiplies_the_fed_back_frame_by_uniform_noise():
  frame = jnp.ones((2000, 16)).at[:, ::2].set(0.0)
  out, _ = sampling.apply_feedback_tricks(
      jax.random.key(2), sampling.FeedbackTricks(noise_scale=(0.5, 2.0)), frame, frame, None)
  on = np.asarray(out[:, 1::2])
  assert (np.asarray(out[:, ::2]) == 0).all()            # silent keys stay silent
  assert on.min() >= 0.5 and on.max() <= 2.0
  assert abs(on.mean() - 1.25) < 0.01 and abs(on.var() - 1.5 ** 2 / 12) < 0.01
  out, _ = sampling.apply_feedback_tricks(
      jax.random.key(2), sampling.FeedbackTricks(noise_scale=(3.0, 3.0)), frame, frame, None)
  np.testing.assert_array_equal(out, 3.0 * frame)


def test_state_decay_and_reset_act_on_whole_rows_of_the_recurrent_state():
  rows = 1000
  carry = ({'c': jnp.ones((rows, 3)), 'h': 2 * jnp.ones((2, rows, 5))}, jnp.ones((rows, 1)))
  frame = jnp.zeros((rows, 4))
  _, out = sampling.apply_feedback_tricks(
      jax.random.key(3), sampling.FeedbackTricks(state_decay=(0.5, 0.5)), frame, frame, carry)
  np.testing.assert_array_equal(out[0]['h'], jnp.ones((2, rows, 5)))
  np.testing.assert_array_equal(out[1], 0.5 * jnp.ones((rows, 1)))
  _, out = sampling.apply_feedback_tricks(
      jax.random.key(4), sampling.FeedbackTricks(state_decay=(0.2, 1.0)), frame, frame, carry)
  factor = np.asarray(out[1])[:, 0]
  assert factor.min() >= 0.2 and factor.max() <= 1.0 and abs(factor.mean() - 0.6) < 0.02
  np.testing.assert_allclose(out[0]['c'], np.repeat(factor[:, None], 3, 1), rtol=1e-6)
  np.testing.assert_allclose(out[0]['h'], 2 * np.broadcast_to(factor[:, None], (2, rows, 5)),
                             rtol=1e-6)
  _, out = sampling.apply_feedback_tricks(
      jax.random.key(5), sampling.FeedbackTricks(state_reset_prob=0.3), frame, frame, carry)
  zeroed = np.asarray(out[1])[:, 0] == 0
  assert abs(zeroed.mean() - 0.3) < 0.05
  assert ((np.asarray(out[0]['c']) == 0).all(1) == zeroed).all()       # all of a row, or none
  assert ((np.asarray(out[0]['h']) == 0).all((0, 2)) == zeroed).all()
  assert (np.asarray(out[0]['h'])[:, ~zeroed] == 2).all()
  import pytest
  with pytest.raises(ValueError, match=r'a leaf of shape \(3, 7\), not \[..., 1000, feat'):
    sampling.apply_feedback_tricks(jax.random.key(5), sampling.FeedbackTricks(state_decay=(1, 1)),
                                   frame, frame, (jnp.ones((3, 7)),))


def _counting_scan(tricks, length=8, rows=3):
  """A toy model for :func:`sampling.sample_frames`: its recurrent state is the total of the keys
  fed back so far (``[rows, 1]``) and it also counts steps; it draws key 0 on at odd steps and key 1
  on once the total reaches 2."""
  def draw(key, model_state):
    del key
    (total,), step = model_state
    frame = jnp.stack([step % 2 == 1, total[:, 0] >= 2], -1)
    return frame.astype(jnp.float32)

  def advance(model_state, fed):
    (total,), step = model_state
    return (total + fed.sum(-1, keepdims=True),), step + 1

  state = ((jnp.zeros((rows, 1)),), jnp.zeros(rows, jnp.int32))
  out = sampling.sample_frames(draw, advance, state, jnp.zeros((rows, 1, 2)), jax.random.key(0),
                               length, tricks=tricks)
  return np.asarray(out[:, 1:])                      # without the primer


def test_sample_frames_feeds_back_what_the_tricks_make_of_the_drawn_frames():
  plain = _counting_scan(sampling.FeedbackTricks())
  np.testing.assert_array_equal(plain[0], [[0, 0], [1, 0], [0, 0], [1, 0], [0, 1], [1, 1],
                                           [0, 1], [1, 1]])
  # neutral settings change nothing (and the other draws' keys are as they were)
  neutral = _counting_scan(sampling.FeedbackTricks(noise_scale=(1, 1), state_decay=(1, 1)))
  np.testing.assert_array_equal(plain, neutral)
  # the first frame is silent: fed back as [1, 1], the total reaches 2 at once
  fed_random = _counting_scan(sampling.FeedbackTricks(silence_random=1.0))
  np.testing.assert_array_equal(fed_random[0, :3], [[0, 0], [1, 1], [0, 1]])
  # a state zeroed (or scaled by 0) before every step only ever holds the last frame: total <= 1
  for tricks in (sampling.FeedbackTricks(state_reset_prob=1.0),
                 sampling.FeedbackTricks(state_decay=(0, 0))):
    fresh = _counting_scan(tricks)
    np.testing.assert_array_equal(fresh[..., 0], plain[..., 0])
    assert (fresh[..., 1] == 0).all()
  doubled = _counting_scan(sampling.FeedbackTricks(noise_scale=(2, 2)))   # [1, 0] fed as [2, 0]
  np.testing.assert_array_equal(doubled[0, :3], [[0, 0], [1, 0], [0, 1]])


def test_roll_samplers_take_the_tricks():
  from dsjax.tasks import get_task
  from tests.train.test_train import load_config
  for name in ('pianoroll_lstm', 'multivoice_lstm'):
    task = get_task(load_config(name))
    state = jax.jit(task.init)(jax.random.key(0))
    sampler = task.sampler()
    rng = jax.random.key(7)
    plain = sampler.sample(state, rng, 2, 12, primer=2)
    neutral = sampler.sample(state, rng, 2, 12, primer=2, noise_scale=(1, 1), state_decay=(1, 1))
    np.testing.assert_array_equal(plain, neutral)
    # with flip noise too: the tricks' key is not the noise's (neutral tricks change nothing)
    noisy = sampler.sample(state, rng, 2, 12, primer=2, noise=0.2)
    np.testing.assert_array_equal(noisy, sampler.sample(state, rng, 2, 12, primer=2, noise=0.2,
                                                        noise_scale=(1, 1), state_decay=(1, 1)))
    tricked = sampler.sample(state, rng, 2, 12, primer=2, silence_random=0.5, noise_scale='0.5,2',
                             state_reset_prob=0.5, state_decay=(0.5, 1.0))
    assert tricked.shape == plain.shape and set(np.unique(tricked)) <= {0, 1}
    assert (tricked[:, :2] == plain[:, :2]).all()            # the primer is kept
    assert (tricked != plain).any(), name                     # the tricks reach the model
