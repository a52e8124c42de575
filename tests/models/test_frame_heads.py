"""Output heads over the keys of a frame: exact normalisation, no leakage, sampling = the model."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dsjax.models import frame_heads
from dsjax.models.language_models import MultiHotLM

KEYS, WIDTH = 5, 6
ALL_FRAMES = jnp.asarray(list(itertools.product([0, 1], repeat=KEYS)), jnp.float32)  # [32, K]
PREV = jnp.asarray([1.0, 0.0, 0.0, 1.0, 1.0])       # the previous frame, for the pitch context
# (head, pitch-context width)
CASES = [('sigmoid', 0), ('sigmoid', 2), ('nade', 0), ('nade', 2), ('pitch_rnn', 0),
         ('pitch_rnn', 2)]


def _head(kind, context=0):
  head = frame_heads.make_head(kind, KEYS, hidden=7, context_width=context)
  s = jax.random.normal(jax.random.key(0), (1, 1, WIDTH))
  params = head.init(jax.random.key(1), s, ALL_FRAMES[:1, None], PREV[None, None],
                     method=lambda m, a, b, c: m.log_prob(a, b, c))['params']
  return head, {'params': _random_like(params)}


def _prev(head, n):
  return jnp.broadcast_to(PREV, (n, KEYS)) if head.context_width else None


def _random_like(params, seed=2):
  """Every weight N(0, 1): larger than at init, so the keys of a frame depend strongly on each
  other and on the time state."""
  leaves, tree = jax.tree.flatten(params)
  keys = jax.random.split(jax.random.key(seed), len(leaves))
  return jax.tree.unflatten(tree, [jax.random.normal(k, x.shape) for k, x in zip(keys, leaves)])


def _pattern_log_probs(head, variables, state, temperature=1.0):
  """``log p(v)`` of every one of the 2^K frames given one time state ``[H]`` -> ``[2^K]``."""
  n = len(ALL_FRAMES)
  s = jnp.broadcast_to(state, (n, 1, WIDTH))
  prev = _prev(head, n)
  logits = head.apply(variables, s, ALL_FRAMES[:, None], None if prev is None else prev[:, None],
                      method=lambda m, a, b, c: m.key_logits(a, b, c))[:, 0]
  return frame_heads.bernoulli_log_prob(logits / temperature, ALL_FRAMES)


@pytest.mark.parametrize('kind,context', CASES)
def test_probabilities_of_all_frames_sum_to_one(kind, context):
  head, variables = _head(kind, context)
  prev = _prev(head, 32)
  prev = None if prev is None else prev[:, None]
  for i in range(3):
    state = jax.random.normal(jax.random.key(10 + i), (WIDTH,))
    log_p = _pattern_log_probs(head, variables, state)
    np.testing.assert_allclose(float(jax.nn.logsumexp(log_p)), 0.0, atol=1e-5)
    # log_prob is the same number as the key logits' Bernoulli log-likelihood
    direct = head.apply(variables, jnp.broadcast_to(state, (32, 1, WIDTH)), ALL_FRAMES[:, None],
                        prev, method=lambda m, a, b, c: m.log_prob(a, b, c))[:, 0]
    np.testing.assert_allclose(np.asarray(direct), np.asarray(log_p), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize('kind', ['nade', 'pitch_rnn'])
def test_autoregressive_heads_are_not_factorised(kind):
  """The joint differs from the product of its marginals (else the test above proves little)."""
  head, variables = _head(kind, 2)
  p = np.exp(np.asarray(_pattern_log_probs(head, variables, jnp.zeros(WIDTH))))
  frames = np.asarray(ALL_FRAMES)
  marg = p @ frames                                                   # p(v_k = 1)
  product = np.prod(np.where(frames > 0, marg, 1 - marg), axis=1)
  assert np.abs(p - product).sum() > 0.05


@pytest.mark.parametrize('kind,context,temperature', [
    ('sigmoid', 0, 1.0), ('sigmoid', 2, 0.6), ('nade', 0, 1.0), ('nade', 2, 0.6),
    ('pitch_rnn', 0, 0.6), ('pitch_rnn', 2, 1.0)])
def test_sampling_frequencies_match_model_probabilities(kind, context, temperature):
  head, variables = _head(kind, context)
  state = jax.random.normal(jax.random.key(3), (WIDTH,))
  n = 40000
  frames = head.apply(variables, jnp.broadcast_to(state, (n, WIDTH)), jax.random.key(4),
                      temperature, _prev(head, n),
                      method=lambda m, a, r, t, c: m.sample(a, r, t, c))
  frames = np.asarray(frames)
  assert frames.shape == (n, KEYS) and set(np.unique(frames)) <= {0.0, 1.0}
  index = frames.astype(int) @ (2 ** np.arange(KEYS)[::-1])        # row of ALL_FRAMES
  freq = np.bincount(index, minlength=2 ** KEYS) / n
  p = np.exp(np.asarray(_pattern_log_probs(head, variables, state, temperature)))
  np.testing.assert_array_less(np.abs(freq - p), 5 * np.sqrt(p * (1 - p) / n) + 1e-3)


@pytest.mark.parametrize('kind,context', CASES)
def test_near_zero_temperature_sample_is_greedy_decode_of_key_logits(kind, context):
  """Each sampled key is on iff its teacher-forced logit (given the sampled keys below) is > 0."""
  head, variables = _head(kind, context)
  states = jax.random.normal(jax.random.key(5), (16, WIDTH))
  prev = (jax.random.uniform(jax.random.key(7), (16, KEYS)) < 0.5).astype(jnp.float32)
  prev = prev if context else None
  frames = head.apply(variables, states, jax.random.key(6), 1e-6, prev,
                      method=lambda m, a, r, t, c: m.sample(a, r, t, c))
  logits = head.apply(variables, states[:, None], frames[:, None],
                      None if prev is None else prev[:, None],
                      method=lambda m, a, b, c: m.key_logits(a, b, c))[:, 0]
  np.testing.assert_array_equal(np.asarray(frames), (np.asarray(logits) > 0).astype(np.float32))


@pytest.mark.parametrize('kind,context', CASES)
def test_no_leakage_from_the_frame_itself_or_later_frames(kind, context):
  """The probability of key k of frame t does not change when keys >= k of frame t, or any later
  frame, change; it does change with key k - 1 of frame t (autoregressive heads) and frame t - 1."""
  keys, time, k, t = 12, 6, 5, 3
  model = MultiHotLM(keys=keys, hidden=(10,), head=kind, head_hidden=9, pitch_context=context)
  seq = (jax.random.uniform(jax.random.key(0), (2, time + 1, keys)) < 0.4).astype(jnp.float32)
  params = model.init({'params': jax.random.key(1)}, seq[:, :-1], seq[:, 1:],
                      method=MultiHotLM.log_prob)['params']
  params = _random_like(params)

  @jax.jit
  def key_probs(s):
    logits, _ = model.apply({'params': params}, s[:, :-1], s[:, 1:], method=MultiHotLM.key_logits)
    return jax.nn.sigmoid(logits)

  def prob(s):
    """p(frame t key k = 1) ``[batch]``: frame t is target t - 1 (inputs are frames < t)."""
    return np.asarray(key_probs(s)[:, t - 1, k])

  base = prob(seq)
  changed = seq.at[:, t, k:].set(1.0 - seq[:, t, k:]).at[:, t + 1:].set(1.0 - seq[:, t + 1:])
  np.testing.assert_array_equal(prob(changed), base)
  below = seq.at[:, t, k - 1].set(1.0 - seq[:, t, k - 1])
  earlier = seq.at[:, t - 1].set(1.0 - seq[:, t - 1])
  assert np.all(np.abs(prob(earlier) - base) > 1e-6)
  if kind == 'sigmoid':
    np.testing.assert_array_equal(prob(below), base)
  else:
    assert np.all(np.abs(prob(below) - base) > 1e-6)


def test_sigmoid_head_keeps_the_dense_parameter_layout():
  """head/kernel and head/bias, as the earlier MultiHotLM had: old checkpoints still load."""
  model = MultiHotLM(keys=7, hidden=(4,))
  x = jnp.zeros((1, 2, 7))
  params = model.init({'params': jax.random.key(0)}, x, x, method=MultiHotLM.log_prob)['params']
  assert jax.tree.map(jnp.shape, params['head']) == {'kernel': (4, 7), 'bias': (7,)}
  logits, _ = model.apply({'params': params}, x)
  log_p, _ = model.apply({'params': params}, x, x, method=MultiHotLM.log_prob)
  np.testing.assert_allclose(np.asarray(log_p), np.asarray(-jax.nn.softplus(logits).sum(-1)),
                             rtol=1e-6)


def test_unknown_head_and_logits_of_autoregressive_head_fail_clearly():
  with pytest.raises(ValueError, match='config.model.head'):
    frame_heads.make_head('rbm', 4)
  head = frame_heads.make_head('pitch_rnn', 4, hidden=3, context_width=1)
  with pytest.raises(ValueError, match='needs the previous frame'):
    head.init(jax.random.key(0), jnp.zeros((1, 2, 5)), jnp.zeros((1, 2, 4)),
              method=lambda m, a, b: m.log_prob(a, b))
  model = MultiHotLM(keys=4, hidden=(4,), head='nade', head_hidden=3)
  x = jnp.zeros((1, 2, 4))
  params = model.init({'params': jax.random.key(0)}, x, x, method=MultiHotLM.log_prob)['params']
  with pytest.raises(ValueError, match='no per-key logits'):
    model.apply({'params': params}, x)
