"""Tests for dsjax.nn.recurrent: values against step-by-step numpy references, gradients (first and
second order, the WGAN-GP penalty) against finite differences, stepping inside lax.scan, masks."""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dsjax.nn import recurrent as rnn

F64 = jnp.float64
TOL = dict(rtol=1e-12, atol=1e-13)


@pytest.fixture(autouse=True)
def x64():
  with jax.enable_x64(True):
    yield


# --------------------------------------------------------------------- references


def _sigmoid(z):
  return 1.0 / (1.0 + np.exp(-z))


def ref_lstm(params, x, h0, c0, mask=None):
  """Step-by-step numpy LSTM (gates i, f, g, o). ``x [T,B,D]``, ``mask [T,B]``."""
  w_ih, w_hh, b = (np.asarray(params[k]) for k in ('kernel', 'recurrent_kernel', 'bias'))
  h, c = np.asarray(h0), np.asarray(c0)
  ys = []
  for t in range(x.shape[0]):
    z = np.asarray(x[t]) @ w_ih + b + h @ w_hh
    i, f, g, o = np.split(z, 4, axis=-1)
    c_new = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
    h_new = _sigmoid(o) * np.tanh(c_new)
    m = np.ones((h.shape[0], 1), bool) if mask is None else np.asarray(mask[t], bool)[:, None]
    h, c = np.where(m, h_new, h), np.where(m, c_new, c)
    ys.append(np.where(m, h_new, 0.0))
  return np.stack(ys) if ys else np.zeros((0,) + h.shape), (h, c)


def ref_gru(params, x, h0):
  """Step-by-step numpy GRU (PyTorch form). ``x [T,B,D]``."""
  w_ih, w_hh, b, bh = (np.asarray(params[k])
                       for k in ('kernel', 'recurrent_kernel', 'bias', 'recurrent_bias'))
  h, ys = np.asarray(h0), []
  for t in range(x.shape[0]):
    xr, xu, xn = np.split(np.asarray(x[t]) @ w_ih + b, 3, axis=-1)
    hr, hu, hn = np.split(h @ w_hh + bh, 3, axis=-1)
    r, u = _sigmoid(xr + hr), _sigmoid(xu + hu)
    n = np.tanh(xn + r * hn)
    h = (1 - u) * n + u * h
    ys.append(h)
  return np.stack(ys) if ys else np.zeros((0,) + h.shape), h


def ref_stack(kind, params, x, carry):
  """Numpy stack of layers ``layer_0, layer_1, ...`` over one unpadded example ``x [T, D]``."""
  y, new = np.asarray(x)[:, None], []
  for i, c in enumerate(carry):
    p = params[f'layer_{i}']
    if kind == 'lstm':
      y, c = ref_lstm(p, y, *c)
    else:
      y, c = ref_gru(p, y, c)
    new.append(c)
  return y[:, 0], new


def make_lstm(seed=0, T=5, B=3, D=4, H=6, scale=0.5):
  r = np.random.default_rng(seed)
  p = {'kernel': normal(r, (D, 4 * H), scale), 'recurrent_kernel': normal(r, (H, 4 * H), scale),
       'bias': normal(r, (4 * H,), 0.3)}
  x = normal(r, (T, B, D))
  h0 = normal(r, (B, H), 0.5)
  c0 = normal(r, (B, H), 0.5)
  return p, x, h0, c0


MASK = np.array([[1, 1, 1], [1, 1, 0], [1, 0, 0], [1, 0, 0], [0, 0, 0]], bool)  # [T=5, B=3]
IMPLS = ('custom_vjp', 'autodiff')


def fd_directional(f, args, direction, eps=1e-5):
  """Central finite difference of ``f`` at ``args`` along ``direction`` (same pytree)."""
  plus = jax.tree.map(lambda p, d: p + eps * d, args, direction)
  minus = jax.tree.map(lambda p, d: p - eps * d, args, direction)
  return (f(plus) - f(minus)) / (2 * eps)


def tree_dot(a, b):
  return sum(jnp.vdot(u, v) for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def random_like(tree, seed):
  leaves, treedef = jax.tree.flatten(tree)
  r = np.random.default_rng(seed)
  return treedef.unflatten([normal(r, l.shape).astype(l.dtype) for l in leaves])


def normal(rng, shape, scale=1.0):
  """numpy-generated test data (no jax.random program to compile)."""
  return jnp.asarray(scale * rng.normal(size=shape))


def _params(model, x, seed=0, scale=0.5, **kw):
  """Random N(0, scale^2) parameters of the shapes ``model.init`` makes (nothing compiled)."""
  shapes = jax.eval_shape(functools.partial(model.init, **kw), jax.random.key(0), x)
  r = np.random.default_rng(seed)
  return jax.tree.map(lambda a: normal(r, a.shape, scale).astype(a.dtype), shapes)


def _init(model, x, seed=0, **kw):
  return jax.jit(functools.partial(model.init, **kw))(jax.random.key(seed), x)



# ------------------------------------------------------------------------- values


def test_lstm_cell_known_value():
  # hidden 1, zero state: z = [0.5, -1, 2, 0.25].
  z = jnp.array([[0.5, -1.0, 2.0, 0.25]], F64)
  h, c = rnn.lstm_cell(jnp.zeros((1, 4), F64), z, jnp.zeros((1, 1), F64), jnp.full((1, 1), 0.5, F64))
  c_expect = _sigmoid(-1.0) * 0.5 + _sigmoid(0.5) * np.tanh(2.0)
  np.testing.assert_allclose(c, [[c_expect]], rtol=1e-14)
  np.testing.assert_allclose(h, [[_sigmoid(0.25) * np.tanh(c_expect)]], rtol=1e-14)
  # recurrent_kernel=None: z already holds the recurrent term
  h2, c2 = rnn.lstm_cell(None, z, None, jnp.full((1, 1), 0.5, F64))
  np.testing.assert_array_equal(h2, h)
  np.testing.assert_array_equal(c2, c)


@pytest.mark.parametrize('impl', IMPLS)
@pytest.mark.parametrize('masked', [False, True])
def test_lstm_scan_matches_reference(impl, masked):
  p, x, h0, c0 = make_lstm()
  mask = MASK if masked else None

  @jax.jit
  def run(p, x, h0, c0):
    plain = rnn.lstm_scan(p, x, h0, c0, mask=mask, impl=impl)
    xw = jnp.einsum('tbd,dg->tbg', x, p['kernel']) + p['bias']
    projected = rnn.lstm_scan({'recurrent_kernel': p['recurrent_kernel']}, xw, h0, c0, mask=mask,
                              projected=True, impl=impl)
    return plain, projected

  ys_ref, (h_ref, c_ref) = ref_lstm(p, x, h0, c0, mask)
  for ys, (h, c) in run(p, x, h0, c0):
    np.testing.assert_allclose(ys, ys_ref, **TOL)
    np.testing.assert_allclose(h, h_ref, **TOL)
    np.testing.assert_allclose(c, c_ref, **TOL)


def test_gru_scan_matches_reference():
  r = np.random.default_rng(1)
  T, B, D, H = 4, 2, 3, 5
  p = {'kernel': normal(r, (D, 3 * H), 0.5), 'recurrent_kernel': normal(r, (H, 3 * H), 0.5),
       'bias': normal(r, (3 * H,), 0.3), 'recurrent_bias': normal(r, (3 * H,), 0.3)}
  x = normal(r, (T, B, D))
  h0 = normal(r, (B, H), 0.5)
  ys, h = jax.jit(rnn.gru_scan)(p, x, h0)
  ys_ref, h_ref = ref_gru(p, x, h0)
  np.testing.assert_allclose(ys, ys_ref, **TOL)
  np.testing.assert_allclose(h, h_ref, **TOL)


# ---------------------------------------------------------------------- gradients


def _loss(impl, mask=None):
  def f(p, x, h0, c0):
    ys, (h, c) = rnn.lstm_scan(p, x, h0, c0, mask=mask, impl=impl)
    return jnp.sum(jnp.sin(3 * ys)) + jnp.sum(h ** 2) + 1.3 * jnp.sum(c)
  return f


@pytest.mark.parametrize('masked', [False, True])
def test_custom_vjp_gradients(masked):
  """Custom-VJP gradients equal plain autodiff and central finite differences (float64)."""
  p, x, h0, c0 = make_lstm(seed=2)
  args = (p, x, h0, c0)
  mask = MASK if masked else None
  f = jax.jit(_loss('custom_vjp', mask))
  g_custom, g_auto = jax.jit(lambda *a: [jax.grad(_loss(impl, mask), argnums=(0, 1, 2, 3))(*a)
                                         for impl in IMPLS])(*args)
  for a, b in zip(jax.tree.leaves(g_custom), jax.tree.leaves(g_auto)):
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
  for seed in range(3):
    d = random_like(args, seed)
    np.testing.assert_allclose(tree_dot(g_custom, d), fd_directional(lambda a: f(*a), args, d),
                               rtol=1e-7)
  if masked:  # padded inputs cannot influence anything
    dx = np.asarray(g_custom[1])
    assert np.all(dx[~MASK] == 0.0) and np.all(np.abs(dx[MASK]).sum(-1) > 0)


def test_custom_vjp_float32():
  p, x, h0, c0 = jax.tree.map(lambda a: a.astype(jnp.float32), make_lstm(seed=3))
  grads = jax.jit(jax.grad(
      lambda p, x: _loss('custom_vjp')(p, x, h0, c0) - _loss('autodiff')(p, x, h0, c0),
      argnums=(0, 1)))(p, x)
  for g in jax.tree.leaves(grads):  # the two gradients cancel up to float32 rounding
    assert g.dtype == jnp.float32
    np.testing.assert_allclose(g, 0.0, atol=2e-5)


def wgan_gp_penalty(critic, params, real, fake, eps):
  """mean((||d critic / d x||_2 - 1)^2) at x = eps * real + (1 - eps) * fake, per example."""
  x = eps[:, None, None] * real + (1 - eps[:, None, None]) * fake
  g = jax.grad(lambda x: critic.apply(params, x).sum())(x)
  norms = jnp.sqrt(jnp.sum(g ** 2, axis=(1, 2)))
  return jnp.mean((norms - 1.0) ** 2)


class LastStateCritic(nn.Module):
  """LSTM over frames -> linear on the last hidden state (the W2 critic, tiny)."""
  hidden: int

  @nn.compact
  def __call__(self, x):
    _, (h, _) = rnn.LSTM(self.hidden, param_dtype=F64)(x)
    return nn.Dense(1, param_dtype=F64)(h)[:, 0]


def test_wgan_gp_second_order_finite_differences():
  """d/d params of the WGAN-GP critic loss (second order through the custom-VJP LSTM) equals finite
  differences; the penalty's part of it reaches every LSTM weight."""
  B, T, P = 3, 4, 5
  r = np.random.default_rng(5)
  real = jnp.asarray(r.uniform(size=(B, T, P)) < 0.4, F64)
  fake = jnp.asarray(r.uniform(size=(B, T, P)))
  eps = jnp.asarray(r.uniform(size=(B,)))
  critic = LastStateCritic(6)
  params = _params(critic, real, 3)

  @jax.jit
  def loss(p, gp_weight):
    return (critic.apply(p, fake).mean() - critic.apply(p, real).mean()
            + gp_weight * wgan_gp_penalty(critic, p, real, fake, eps))

  grad = jax.jit(jax.grad(loss))
  grads = grad(params, 10.0)
  for seed in range(3):
    d = random_like(params, 10 + seed)
    fd = fd_directional(lambda p: loss(p, 10.0), params, d)
    np.testing.assert_allclose(tree_dot(grads, d), fd, rtol=1e-6)
  g_penalty = jax.tree.map(lambda a, b: a - b, grads, grad(params, 0.0))
  for a in jax.tree.leaves(g_penalty['params']['LSTM_0']):
    assert np.abs(a).min() > 0


# ------------------------------------------------------------------------ modules


@pytest.mark.parametrize('model', [rnn.LSTMStack((5, 4), param_dtype=F64),
                                   rnn.GRUStack((5, 4), param_dtype=F64)], ids=['lstm', 'gru'])
def test_step_by_step_matches_full_sequence(model):
  x = normal(np.random.default_rng(7), (2, 6, 3))
  params = _params(model, x)

  @jax.jit
  def run(params, x):
    full = model.apply(params, x)

    def step(carry, x_t):  # one step at a time inside lax.scan, as a sampler does
      y, carry = model.apply(params, x_t[:, None], carry)
      return carry, y[:, 0]

    carry, ys = jax.lax.scan(step, model.initial_carry(x.shape[0]), jnp.swapaxes(x, 0, 1))
    y1, c1 = model.apply(params, x[:, :2])  # continuing from a carry
    y2, c2 = model.apply(params, x[:, 2:], c1)
    return full, (jnp.swapaxes(ys, 0, 1), carry), (jnp.concatenate([y1, y2], 1), c2)

  (y_full, carry_full), *others = run(params, x)
  assert y_full.shape == (2, 6, 4)
  for y, carry in others:
    np.testing.assert_allclose(y, y_full, **TOL)
    for a, b in zip(jax.tree.leaves(carry), jax.tree.leaves(carry_full)):
      np.testing.assert_allclose(a, b, **TOL)


@pytest.mark.parametrize('kind', ['lstm', 'gru'])
def test_mask_keeps_carry(kind):
  """Padded steps keep the carry and output zeros: each example equals its unpadded reference."""
  model = (rnn.LSTMStack if kind == 'lstm' else rnn.GRUStack)((4, 3), param_dtype=F64)
  B, T, D = 3, 5, 2
  x = normal(np.random.default_rng(9), (B, T, D))
  lengths = [5, 2, 0]
  mask = np.arange(T)[None, :] < np.array(lengths)[:, None]
  params = _params(model, x, 10)
  carry0 = jax.tree.map(lambda a: a + 0.25, model.initial_carry(B))
  y, carry = jax.jit(model.apply)(params, x, carry0, mask=mask)
  for b, n in enumerate(lengths):
    c0_b = jax.tree.map(lambda a: np.asarray(a[b:b + 1]), carry0)
    y_b, carry_b = ref_stack(kind, params['params'], x[b, :n], c0_b)
    np.testing.assert_allclose(y[b, :n], y_b, **TOL)
    assert np.all(np.asarray(y[b, n:]) == 0.0)
    for u, v in zip(jax.tree.leaves(carry), jax.tree.leaves(carry_b)):
      np.testing.assert_allclose(u[b:b + 1], v, **TOL)


@pytest.mark.parametrize('vocab', [5, 40], ids=['folded_table', 'gather'])
def test_token_inputs_equal_embedded_inputs(vocab):
  """``tokens=, embedding=`` is ``concat([embedding[tokens], x])``: values and gradients.
  batch * time = 12 > vocab = 5 takes the folded-table path, 12 <= 40 the gather path."""
  B, T, E, D = 3, 4, 3, 2
  r = np.random.default_rng(13)
  tokens = jnp.asarray(r.integers(0, vocab, (B, T)))
  extra = normal(r, (B, T, D))  # e.g. a condition joined to every step
  embedding = normal(r, (vocab, E))
  model = rnn.LSTMStack((4,), param_dtype=F64)
  params = _params(model, jnp.zeros((B, T, E + D), F64), 14)

  @jax.jit
  def both(params, embedding):
    def via_tokens(p, emb):
      return jnp.sum(jnp.sin(model.apply(p, extra, tokens=tokens, embedding=emb)[0]))

    def via_inputs(p, emb):
      x = jnp.concatenate([jnp.take(emb, tokens, axis=0), extra], -1)
      return jnp.sum(jnp.sin(model.apply(p, x)[0]))

    return (jax.value_and_grad(via_tokens, (0, 1))(params, embedding),
            jax.value_and_grad(via_inputs, (0, 1))(params, embedding))

  a, b = both(params, embedding)
  for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_allclose(u, v, **TOL)


def test_gru_token_inputs():
  tokens = jnp.array([[0, 2, 1], [1, 1, 3]])
  embedding = normal(np.random.default_rng(15), (4, 2))
  model = rnn.GRU(3, param_dtype=F64)
  params = _params(model, None, 16, tokens=tokens, embedding=embedding)
  assert params['params']['kernel'].shape == (2, 9)
  y, h = jax.jit(lambda p: model.apply(p, None, tokens=tokens, embedding=embedding))(params)
  y_ref, h_ref = ref_gru(params['params'], np.asarray(embedding)[np.asarray(tokens).T],
                         np.zeros((2, 3)))
  np.testing.assert_allclose(y, np.swapaxes(y_ref, 0, 1), **TOL)
  np.testing.assert_allclose(h, h_ref, **TOL)


def test_initial_carry_and_param_shapes():
  model = rnn.LSTMStack((8, 4), dropout_rate=0.5)
  carry = model.initial_carry(3)  # works on the unbound module
  assert [tuple(a.shape) for a in jax.tree.leaves(carry)] == [(3, 8), (3, 8), (3, 4), (3, 4)]
  params = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((3, 2, 5)))['params']
  assert jax.tree.map(lambda a: a.shape, params) == {
      'layer_0': {'kernel': (5, 32), 'recurrent_kernel': (8, 32), 'bias': (32,)},
      'layer_1': {'kernel': (8, 16), 'recurrent_kernel': (4, 16), 'bias': (16,)}}
  g = jax.eval_shape(rnn.GRU(4).init, jax.random.key(0), jnp.zeros((2, 1, 3)))['params']
  assert jax.tree.map(lambda a: a.shape, g) == {
      'kernel': (3, 12), 'recurrent_kernel': (4, 12), 'bias': (12,), 'recurrent_bias': (12,)}


def test_init_schemes():
  x = jnp.zeros((2, 1, 3))
  p = _init(rnn.LSTM(8), x)['params']
  assert p['bias'].dtype == jnp.float32
  np.testing.assert_array_equal(p['bias'], np.r_[np.zeros(8), np.ones(8), np.zeros(16)])
  w = np.asarray(p['recurrent_kernel'], np.float64)
  np.testing.assert_allclose(w @ w.T, np.eye(8), atol=1e-5)  # orthogonal rows
  p = _init(rnn.LSTM(16, init_scheme='uniform'), x)['params']
  for v in jax.tree.leaves(p):
    assert 0.2 < np.abs(v).max() <= 0.25


def test_dropout_between_layers_only_in_training():
  model = rnn.LSTMStack((6, 6), dropout_rate=0.5)
  x = normal(np.random.default_rng(0), (2, 4, 3)).astype(jnp.float32)
  params = _params(model, x, 1)

  @jax.jit
  def run(params, x):
    y_eval, _ = model.apply(params, x)
    y_a, _ = model.apply(params, x, deterministic=False, rngs={'dropout': jax.random.key(2)})
    y_b, _ = model.apply(params, x, deterministic=False, rngs={'dropout': jax.random.key(3)})
    y_plain, _ = rnn.LSTMStack((6, 6)).apply(params, x)
    return y_eval, y_a, y_b, y_plain

  y_eval, y_a, y_b, y_plain = run(params, x)
  assert not np.allclose(y_a, y_eval) and not np.allclose(y_a, y_b)
  np.testing.assert_array_equal(y_eval, y_plain)  # no dropout at all when deterministic


def test_reverse_sequences():
  x = jnp.arange(8.0).reshape(2, 4)[..., None]
  mask = np.array([[1, 1, 1, 0], [1, 1, 0, 0]], bool)
  np.testing.assert_array_equal(rnn.reverse_sequences(x, mask)[..., 0], [[2, 1, 0, 3], [5, 4, 6, 7]])
  np.testing.assert_array_equal(rnn.reverse_sequences(x)[..., 0], [[3, 2, 1, 0], [7, 6, 5, 4]])
  np.testing.assert_array_equal(rnn.reverse_sequences(rnn.reverse_sequences(x, mask), mask), x)


def test_bidirectional_respects_lengths():
  model = rnn.Bidirectional(rnn.LSTM(3, param_dtype=F64), rnn.GRU(2, param_dtype=F64))
  x = normal(np.random.default_rng(11), (2, 5, 4))
  lengths = [5, 3]
  mask = np.arange(5)[None, :] < np.array(lengths)[:, None]
  params = _params(model, x, 12)
  pf, pb = params['params']['forward_rnn'], params['params']['backward_rnn']
  outputs = jax.jit(lambda p, x: (model.apply(p, x, mask=mask), model.apply(p, x)))(params, x)
  for m, (y, ((hf, cf), hb)) in zip((mask, None), outputs):
    assert y.shape == (2, 5, 5)
    for b, n in enumerate(lengths if m is not None else [5, 5]):
      xb = np.asarray(x[b, :n])[:, None]
      yf_ref, (hf_ref, cf_ref) = ref_lstm(pf, xb, np.zeros((1, 3)), np.zeros((1, 3)))
      yb_ref, hb_ref = ref_gru(pb, xb[::-1], np.zeros((1, 2)))
      np.testing.assert_allclose(y[b, :n, :3], yf_ref[:, 0], **TOL)
      np.testing.assert_allclose(y[b, :n, 3:], yb_ref[::-1, 0], **TOL)  # starts at the last step
      np.testing.assert_allclose(hf[b], hf_ref[0], **TOL)
      np.testing.assert_allclose(cf[b], cf_ref[0], **TOL)
      np.testing.assert_allclose(hb[b], hb_ref[0], **TOL)


def test_bad_input_errors():
  p, x, h0, c0 = make_lstm()
  with pytest.raises(ValueError, match='mask'):
    rnn.lstm_scan(p, x, h0, c0, mask=np.ones((3, 5), bool))
  with pytest.raises(ValueError, match='impl'):
    rnn.lstm_scan(p, x, h0, c0, impl='cudnn')
  with pytest.raises(ValueError, match='projected'):
    rnn.lstm_scan(p, x, h0, c0, projected=True)
  def init(model, *args, **kw):
    return jax.eval_shape(functools.partial(model.init, **kw), jax.random.key(0), *args)

  with pytest.raises(ValueError, match=r'\[batch, time, features\]'):
    init(rnn.LSTM(4), jnp.zeros((2, 3)))
  with pytest.raises(ValueError, match='init_scheme'):
    init(rnn.LSTM(4, init_scheme='xavier'), jnp.zeros((2, 3, 1)))
  with pytest.raises(ValueError, match='tokens and embedding'):
    init(rnn.LSTMStack((4,)), None, tokens=jnp.zeros((2, 3), jnp.int32))
  with pytest.raises(ValueError, match='integer'):
    init(rnn.LSTM(4), None, tokens=jnp.zeros((2, 3)), embedding=jnp.zeros((5, 2)))
  with pytest.raises(ValueError, match='mask must be'):
    init(rnn.GRU(4), jnp.zeros((2, 3, 1)), mask=np.ones((3, 2)))


@pytest.mark.parametrize('with_embedding,with_static', [(True, False), (True, True),
                                                         (False, False), (False, True)])
def test_stack_stepper_matches_the_stack_one_step_at_a_time(with_embedding, with_static):
  """The sampler's stepper (token table, projected static input, stacked kernels) gives the same
  outputs and carries as LSTMStack applied step by step."""
  vocab, embed, cdim, batch, time = 11, 5, 3, 2, 4
  k = jax.random.split(jax.random.key(7), 4)
  emb = jax.random.normal(k[0], (vocab, embed)) if with_embedding else None
  tokens = jax.random.randint(k[1], (batch, time), 0, vocab)
  static = jax.random.normal(k[2], (batch, cdim)) if with_static else None
  xs = None if with_embedding else jax.random.normal(k[3], (batch, time, 4))
  per_step_x = xs
  if with_static:
    tiled = jnp.broadcast_to(static[:, None], (batch, time, cdim))
    per_step_x = tiled if xs is None else jnp.concatenate([xs, tiled], -1)
  stack = rnn.LSTMStack((6, 7, 5))
  tok = tokens if with_embedding else None
  params = stack.init(jax.random.key(0), per_step_x, tokens=tok, embedding=emb)['params']
  want, want_carry = stack.apply({'params': params}, per_step_x, tokens=tok, embedding=emb)
  step = rnn.lstm_stack_stepper(params, embedding=emb, static_x=static)
  carry = stack.initial_carry(batch)
  for t in range(time):
    y, carry = step(carry, tokens=tokens[:, t] if with_embedding else None,
                    x=None if xs is None else xs[:, t])
    np.testing.assert_allclose(y, want[:, t], rtol=1e-5, atol=1e-6)
  for (h, c), (wh, wc) in zip(carry, want_carry):
    np.testing.assert_allclose(h, wh, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(c, wc, rtol=1e-5, atol=1e-6)


def test_stack_stepper_in_bfloat16_stays_close_to_float32():
  """compute_dtype=bfloat16 rounds the matmul inputs only: the outputs move, but by bf16 rounding
  (relative 2^-8 per input), not more."""
  vocab, embed, batch = 13, 8, 3
  k = jax.random.split(jax.random.key(3), 2)
  emb = jax.random.normal(k[0], (vocab, embed))
  stack = rnn.LSTMStack((32, 32))
  tokens = jax.random.randint(k[1], (batch, 6), 0, vocab)
  params = stack.init(jax.random.key(0), None, tokens=tokens, embedding=emb)['params']
  exact = rnn.lstm_stack_stepper(params, embedding=emb)
  fast = rnn.lstm_stack_stepper(params, embedding=emb, compute_dtype=jnp.bfloat16)
  ce = cf = stack.initial_carry(batch)
  for t in range(tokens.shape[1]):
    ye, ce = exact(ce, tokens=tokens[:, t])
    yf, cf = fast(cf, tokens=tokens[:, t])
  diff = float(jnp.max(jnp.abs(ye - yf)))
  assert 0 < diff < 2e-2, diff


def test_weight_drop_is_one_recurrent_kernel_mask_for_the_whole_sequence(monkeypatch):
  """weight_drop: in training the layer runs the plain recurrence with a DropConnect-masked
  recurrent kernel (one mask for the whole call: entries 0 or w / (1 - p)); in evaluation it is
  the plain layer."""
  x = jax.random.normal(jax.random.key(1), (3, 7, 4))
  layer = rnn.LSTM(6, weight_drop=0.5)
  params = layer.init(jax.random.key(0), x)['params']
  plain = rnn.LSTM(6)
  want_eval, _ = plain.apply({'params': params}, x)
  got_eval, _ = layer.apply({'params': params}, x, deterministic=True)
  np.testing.assert_array_equal(got_eval, want_eval)

  seen = []
  real_scan = rnn.lstm_scan

  def spy(p, *args, **kwargs):
    seen.append(p['recurrent_kernel'])
    return real_scan(p, *args, **kwargs)

  monkeypatch.setattr(rnn, 'lstm_scan', spy)
  got, _ = layer.apply({'params': params}, x, deterministic=False,
                       rngs={'dropout': jax.random.key(5)})
  monkeypatch.undo()
  assert len(seen) == 1
  w, dropped = np.asarray(params['recurrent_kernel']), np.asarray(seen[0])
  kept = dropped != 0
  np.testing.assert_allclose(dropped[kept], w[kept] / 0.5, rtol=1e-6)
  assert 0.4 < kept.mean() < 0.6
  want, _ = plain.apply({'params': dict(params, recurrent_kernel=dropped)}, x)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
  assert not np.allclose(got, want_eval, atol=1e-3)
