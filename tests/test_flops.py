"""Matmul FLOPs counted from the jaxpr: known values for dots, loops, derivatives and convolutions."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from dsjax.flops import matmul_flops
from dsjax.nn import recurrent as rnn


def test_one_dot_and_a_batched_dot():
  x, w = jnp.ones((3, 5)), jnp.ones((5, 7))
  assert matmul_flops(jnp.dot, x, w) == 2 * 3 * 5 * 7
  a, b = jnp.ones((4, 3, 5)), jnp.ones((4, 5, 2))
  assert matmul_flops(jnp.matmul, a, b) == 2 * 4 * 3 * 5 * 2


def test_scan_body_counted_per_step_and_while_once():
  w = jnp.ones((6, 6))

  def scanned(h):
    return lax.scan(lambda h, _: (h @ w, None), h, None, length=9)[0]

  def looped(h):
    return lax.while_loop(lambda c: c[0] < 9, lambda c: (c[0] + 1, c[1] @ w), (0, h))[1]

  h = jnp.ones((2, 6))
  assert matmul_flops(scanned, h) == 9 * 2 * 2 * 6 * 6
  assert matmul_flops(looped, h) == 2 * 2 * 6 * 6  # trip count unknown to the jaxpr
  # fori_loop with static bounds is a scan
  assert matmul_flops(lambda h: lax.fori_loop(0, 4, lambda i, h: h @ w, h), h) == 4 * 2 * 2 * 6 * 6


def test_cond_counts_the_larger_branch():
  x = jnp.ones((4, 4))
  f = lambda p, x: lax.cond(p, lambda x: x @ x @ x, lambda x: x @ x, x)
  assert matmul_flops(f, True, x) == 2 * (2 * 4 * 4 * 4)


def test_dead_products_are_not_counted():
  x, w = jnp.ones((3, 5)), jnp.ones((5, 7))
  loss = lambda w: jnp.sum(x @ w)
  # the gradient of a sum needs only x^T @ ones: the forward product is dead
  assert matmul_flops(jax.grad(loss), w) == 2 * 3 * 5 * 7
  assert matmul_flops(jax.value_and_grad(loss), w) == 2 * (2 * 3 * 5 * 7)
  # and the gradient for x (not asked for) is not formed
  both = jax.grad(lambda w, x: jnp.sum(jnp.tanh(x @ w)), argnums=0)
  assert matmul_flops(both, w, x) == 2 * (2 * 3 * 5 * 7)


def test_lstm_custom_vjp_gradient_counts_forward_backward_and_kernel_gradient():
  t, b, h = 7, 3, 4
  params = {'recurrent_kernel': jnp.ones((h, 4 * h)) * 0.1}
  xw = jnp.ones((t, b, 4 * h))
  z = jnp.zeros((b, h))
  step = 2 * b * h * 4 * h
  fwd = lambda p: jnp.sum(rnn.lstm_scan(p, xw, z, z, projected=True)[0])
  assert matmul_flops(fwd, params) == t * step
  # forward scan, backward scan (dh through the kernel each step), one [t*b, h]^T [t*b, 4h] product
  assert matmul_flops(jax.grad(fwd), params) == t * step + t * step + 2 * (t * b) * h * 4 * h


def test_convolution():
  x = jnp.ones((2, 10, 3))   # [batch, width, in]
  k = jnp.ones((4, 3, 5))    # [window, in, out]
  conv = lambda x, k: lax.conv_general_dilated(x, k, (1,), 'VALID',
                                               dimension_numbers=('NWC', 'WIO', 'NWC'))
  assert matmul_flops(conv, x, k) == 2 * (4 * 3) * (2 * 7 * 5)
  # grouped: each output feature sees in/groups inputs
  kg = jnp.ones((4, 1, 6))
  grouped = lambda x, k: lax.conv_general_dilated(x, k, (1,), 'VALID', feature_group_count=3,
                                                  dimension_numbers=('NWC', 'WIO', 'NWC'))
  assert matmul_flops(grouped, x, kg) == 2 * (4 * 1) * (2 * 7 * 6)


def test_lstm_language_model_training_step_matches_the_analytic_count():
  """Embedding -> 2-layer LSTM -> vocabulary: forward and backward are three times the forward's
  ``2 * ((E + H) * 4H + 2H * 4H + H * V)`` per token (the benchmark's analytic count)."""
  import flax.linen as nn
  import optax

  v, e, h, b, t = 5, 3, 4, 2, 6

  class LM(nn.Module):
    @nn.compact
    def __call__(self, tokens):
      y, _ = rnn.LSTMStack((h, h))(nn.Embed(v, e)(tokens))
      return nn.Dense(v)(y)

  model = LM()
  x = jnp.zeros((b, t), jnp.int32)
  params = model.init(jax.random.key(0), x)['params']
  loss = lambda p: optax.softmax_cross_entropy_with_integer_labels(model.apply({'params': p}, x),
                                                                   x).mean()
  per_token = 3 * 2 * ((e + h) * 4 * h + 2 * h * 4 * h + h * v)
  assert matmul_flops(jax.value_and_grad(loss), params) == per_token * b * t
