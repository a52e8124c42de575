"""The multi-voice LSTM: parameter layout, one-step-at-a-time equals the whole sequence,
causality in time, and voices that meet in the middle."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dsjax.models.multivoice import MultiVoiceLSTM

V, K, T = 3, 5, 6


@pytest.fixture(scope='module')
def model_and_params():
  model = MultiVoiceLSTM(voices=V, keys=K, bottom=(4,), middle=(6, 6), top=(3,))
  frames = jnp.zeros((2, T, V, K))
  params = model.init({'params': jax.random.key(0)}, frames)['params']
  return model, params


def test_parameter_layout(model_and_params):
  _, params = model_and_params
  shapes = jax.tree.map(lambda a: a.shape, params)
  assert shapes['bottom']['rnn']['layer_0']['kernel'] == (V, K, 16)     # one stack per voice
  assert shapes['middle']['layer_0']['kernel'] == (V * 4, 24)            # reads all voices
  assert shapes['middle']['layer_1']['kernel'] == (6, 24)
  assert shapes['top']['rnn']['layer_0']['kernel'] == (V, 6, 12)
  assert shapes['head_kernel'] == (V, 3, K) and shapes['head_bias'] == (V, K)
  # Voices get different initial weights.
  k = params['bottom']['rnn']['layer_0']['kernel']
  assert not np.allclose(k[0], k[1])


def test_step_by_step_equals_whole_sequence(model_and_params):
  model, params = model_and_params
  frames = (jax.random.uniform(jax.random.key(1), (2, T, V, K)) < 0.3).astype(jnp.float32)
  logits, _ = model.apply({'params': params}, frames)
  assert logits.shape == (2, T, V, K)
  carry, steps = None, []
  for t in range(T):
    out, carry = model.apply({'params': params}, frames[:, t:t + 1], carry)
    steps.append(out)
  np.testing.assert_allclose(np.concatenate(steps, 1), logits, atol=1e-6)
  with pytest.raises(ValueError, match='expected frames'):
    model.apply({'params': params}, jnp.zeros((2, T, K)))


def test_causal_in_time_and_voices_meet(model_and_params):
  model, params = model_and_params
  frames = (jax.random.uniform(jax.random.key(2), (1, T, V, K)) < 0.3).astype(jnp.float32)
  t = 2

  def out(x):   # voice 0's logits at time t
    return model.apply({'params': params}, x)[0][0, t, 0].sum()

  g = jax.grad(out)(frames)[0]                                   # [T, V, K]
  assert np.all(np.asarray(g[t + 1:]) == 0)                      # nothing from the future
  assert np.abs(np.asarray(g[:t + 1, 0])).sum() > 0              # its own voice
  assert np.abs(np.asarray(g[:t + 1, 2])).sum() > 0              # another voice, via the middle
