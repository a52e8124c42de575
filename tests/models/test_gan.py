"""Tests for the piano-roll GANs: the WGAN-GP gradient through a recurrent critic against finite
differences, generator and critic shapes, code schedules, the pool of fakes, step ratios."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dsjax.models import gan as G
from dsjax.models import gan_losses as L

F64 = jnp.float64


def fd_directional(f, params, direction, eps=1e-5):
  plus = jax.tree.map(lambda p, d: p + eps * d, params, direction)
  minus = jax.tree.map(lambda p, d: p - eps * d, params, direction)
  return (f(plus) - f(minus)) / (2 * eps)


def tree_dot(a, b):
  return sum(jnp.vdot(u, v) for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def random_like(tree, seed):
  leaves, treedef = jax.tree.flatten(tree)
  keys = jax.random.split(jax.random.key(seed), len(leaves))
  return treedef.unflatten([jax.random.normal(k, l.shape, l.dtype) for k, l in zip(keys, leaves)])


# ------------------------------------------------------------------ WGAN-GP second-order gradient


def test_wgan_gp_gradient_through_lstm_critic_matches_finite_differences():
  with jax.enable_x64(True):
    B, T, P = 3, 4, 5
    k = jax.random.split(jax.random.key(0), 4)
    real = (jax.random.uniform(k[0], (B, T, P), F64) < 0.4).astype(F64)
    fake = jax.random.uniform(k[1], (B, T, P), F64)
    # impl='custom_vjp': the LSTM the GAN configs use (tests/nn/test_recurrent.py checks that its
    # second-order gradients equal those of the plain autodiff scan)
    critic = G.LSTMCritic((6,), readout='last', impl='custom_vjp', param_dtype=F64)
    params = jax.jit(critic.init)(k[2], real)['params']

    def loss_fn(p, gp_weight):
      value, _ = L.wgan_gp_critic_loss(lambda x: critic.apply({'params': p}, x), real, fake,
                                       k[3], gp_weight=gp_weight)
      return value

    loss, grad = jax.jit(loss_fn), jax.jit(jax.grad(loss_fn))
    grads = grad(params, 10.0)
    for seed in range(3):
      d = random_like(params, 10 + seed)
      fd = fd_directional(lambda p: loss(p, 10.0), params, d)
      np.testing.assert_allclose(tree_dot(grads, d), fd, rtol=1e-6)
    # the penalty contributes a second-order term to every recurrent weight
    no_gp = grad(params, 0.0)
    diff = jax.tree.map(lambda a, b: a - b, grads['lstm'], no_gp['lstm'])
    assert min(float(jnp.abs(a).max()) for a in jax.tree.leaves(diff)) > 1e-6


def test_penalty_uses_per_example_gradient_norms():
  with jax.enable_x64(True):
    x = jax.random.normal(jax.random.key(1), (3, 4, 5), F64)
    critic = G.LSTMCritic((4,), readout='mean', param_dtype=F64)
    params = jax.jit(critic.init)(jax.random.key(2), x)['params']
    fn = lambda v: critic.apply({'params': params}, v)   # noqa: E731
    penalty, norms = jax.jit(lambda v: L.gradient_penalty(fn, v))(x)
    one = jax.jit(jax.grad(lambda xb: fn(xb[None])[0]))
    for b in range(3):
      g = one(x[b])
      np.testing.assert_allclose(norms[b], jnp.sqrt(jnp.sum(g ** 2)), rtol=1e-10)
    np.testing.assert_allclose(penalty, jnp.mean((norms - 1.0) ** 2), rtol=1e-12)


def test_interpolation_epsilon_per_example_and_per_batch():
  real, fake = jnp.ones((4, 2, 3)), jnp.zeros((4, 2, 3))
  x, eps = L.interpolate(jax.random.key(0), real, fake, per_example=True)
  assert eps.shape == (4,) and len(set(np.asarray(eps).tolist())) == 4
  np.testing.assert_allclose(x, jnp.broadcast_to(eps[:, None, None], x.shape), rtol=1e-6)
  x, eps = L.interpolate(jax.random.key(0), real, fake, per_example=False)
  assert eps.shape == (1,)
  np.testing.assert_allclose(x, jnp.full(x.shape, eps[0]), rtol=1e-6)


def test_loss_values():
  d_real, d_fake = jnp.array([2.0, 0.0]), jnp.array([-1.0, 1.0])
  sig = lambda z: 1 / (1 + np.exp(-z))   # noqa: E731
  want = -np.mean(np.log(sig(np.array([2.0, 0.0])))) - np.mean(np.log(1 - sig(np.array([-1., 1.]))))
  np.testing.assert_allclose(L.nonsaturating_critic_loss(d_real, d_fake), want, rtol=1e-6)
  np.testing.assert_allclose(L.nonsaturating_generator_loss(d_fake),
                             -np.mean(np.log(sig(np.array([-1.0, 1.0])))), rtol=1e-6)
  assert float(L.wasserstein_critic_loss(d_real, d_fake)) == 0.0 - 1.0
  assert float(L.wasserstein_generator_loss(d_fake)) == 0.0
  # the WGAN-GP loss is -W + lambda * GP with W = E D(real) - E D(fake)
  critic = lambda x: x.sum(axis=(1, 2))   # noqa: E731   gradient norm sqrt(T * P) everywhere
  real, fake = jnp.ones((2, 2, 2)), jnp.zeros((2, 2, 2))
  loss, aux = L.wgan_gp_critic_loss(critic, real, fake, jax.random.key(0), gp_weight=10.0)
  assert float(aux['wasserstein']) == 4.0
  np.testing.assert_allclose(aux['gradient_penalty'], (np.sqrt(4.0) - 1) ** 2, rtol=1e-6)
  np.testing.assert_allclose(loss, -4.0 + 10.0, rtol=1e-6)


# ------------------------------------------------------------------------- shapes and layers


def _apply(model, *args):
  variables = jax.jit(model.init, static_argnums=tuple(range(2, len(args) + 1)))(
      jax.random.key(0), *args)
  return (jax.jit(model.apply, static_argnums=tuple(range(2, len(args) + 1)))(variables, *args),
          variables['params'])


def _shapes(model, *args):
  """Output and parameter shapes by abstract evaluation (nothing compiled)."""
  variables = jax.eval_shape(lambda k: model.init(k, *args), jax.random.key(0))
  y = jax.eval_shape(lambda v: model.apply(v, *args), variables)
  return y, jax.tree.map(lambda a: a.shape, variables['params'])


def test_lstm_generator_shapes():
  code = G.code_schedule('constant', jax.random.key(1), 2, 7, 3)
  for decision in ('dense', 'none', 'strip'):
    for output in ('sigmoid', 'tanh'):
      gen = G.LSTMGenerator(pitches=88, hidden=(5,), decision=decision, output=output,
                            strip_channels=3)
      y, p = _shapes(gen, code)
      assert y.shape == (2, 7, 88)
      assert p['lstm']['layer_0']['kernel'] == (3 + 1, 4 * 5)       # code + time indicator
      if decision == 'none':
        assert p['lstm']['layer_1']['recurrent_kernel'] == (88, 4 * 88)
      if decision == 'strip':
        assert p['decision']['strip_deconv']['strip_kernel']['kernel'] == (1, 12, 3, 1)
  time_free = G.LSTMGenerator(pitches=88, hidden=(5,), time_indicator=False)
  assert _shapes(time_free, code)[1]['lstm']['layer_0']['kernel'] == (3, 20)


@pytest.mark.parametrize('decision,output', [('none', 'sigmoid'), ('strip', 'tanh'),
                                             ('dense', 'tanh')])
def test_lstm_generator_output_range(decision, output):
  code = G.code_schedule('constant', jax.random.key(1), 2, 7, 3)
  gen = G.LSTMGenerator(pitches=88, hidden=(5,), decision=decision, output=output,
                        strip_channels=3)
  y, _ = _apply(gen, code)
  lo = 0.0 if output == 'sigmoid' else -1.0
  assert float(y.min()) >= lo and float(y.max()) <= 1.0
  if decision == 'strip':
    # 7 strips cover keys 2..85; the two keys at each end are always silent
    np.testing.assert_array_equal(y[..., :2], lo)
    np.testing.assert_array_equal(y[..., 86:], lo)


def test_strip_deconv_shares_one_kernel_across_octaves():
  h = jax.random.normal(jax.random.key(0), (1, 2, 6))
  layer = G.StripDeconv(pitches=128, channels=3, output='tanh')
  y, p = _apply(layer, h)
  assert y.shape == (1, 2, 128)
  z = (h @ p['to_strips']['kernel'] + p['to_strips']['bias']).reshape(1, 2, 10, 3)
  # lax.conv_transpose flips the kernel: key k of every strip reads kernel row 11 - k
  kernel = p['strip_kernel']['kernel'][0, ::-1, :, 0]                   # [12, channels]
  want = jnp.tanh(jnp.einsum('btsc,kc->btsk', z, kernel) + p['strip_kernel']['bias'][0])
  np.testing.assert_allclose(y[..., 4:124], want.reshape(1, 2, 120), rtol=1e-5, atol=1e-6)
  np.testing.assert_array_equal(y[..., :4], -1.0)                        # as the original pads


@pytest.mark.parametrize('cell,bidirectional', [('gru', False), ('lstm', True)])
def test_dcrnn_generator_levels_repeat_along_time(cell, bidirectional):
  gen = G.DCRNNGenerator(pitches=12, cells=(4, 3, 5), repeats=(4, 2, 1), cell=cell,
                         bidirectional=bidirectional, output='tanh')
  assert gen.code_length(64) == 8 and gen.code_length(60) == 8 and gen.code_length(9) == 2
  code = G.code_schedule('constant', jax.random.key(1), 2, gen.code_length(60), 3)
  y, params = _shapes(gen, code, 60)
  assert y.shape == (2, 60, 12)
  assert set(params) == {'level_0', 'level_1', 'level_2', 'decision'}
  if bidirectional:   # both directions, concatenated into the next level
    assert set(params['level_1']) == {'forward_rnn', 'backward_rnn'}
    assert params['level_2']['forward_rnn']['kernel'][0] == 2 * 3
  # a level-0 output is held for 4 x 2 frames: with the last level a 1-unit-repeat RNN the
  # frames differ, but a generator with repeats only (no level after them) must repeat exactly
  flat = G.DCRNNGenerator(pitches=12, cells=(4,), repeats=(8,), cell=cell, output='sigmoid')
  y, _ = _apply(flat, code[:, :2], 16)
  np.testing.assert_array_equal(y[:, :8], jnp.broadcast_to(y[:, :1], (2, 8, 12)))
  np.testing.assert_array_equal(y[:, 8:], jnp.broadcast_to(y[:, 8:9], (2, 8, 12)))
  assert not np.allclose(y[:, 0], y[:, 8])
  with pytest.raises(ValueError, match='code steps'):
    _shapes(gen, code, 100)


def test_critic_shapes():
  x = jax.random.uniform(jax.random.key(0), (3, 16, 24))
  cnn = G.CNNCritic(features=(4, 8), kernel=5, dense=7)
  y, p = _shapes(cnn, x)
  assert y.shape == (3,)
  assert p['dense']['kernel'] == (4 * 4 * 8 + 4 * 6 * 8, 7)   # X X^T tower + roll tower
  assert p['similarity_conv_0']['kernel'] == (5, 5, 1, 4)
  for readout in ('last', 'mean', 'steps'):
    for bi in (False, True):
      y, p = _shapes(G.LSTMCritic((6, 5), readout=readout, bidirectional=bi), x)
      assert y.shape == (3,)
      if readout == 'steps':
        assert p['over_time']['kernel'] == (16, 1)
      if readout == 'last':
        assert p['score']['kernel'] == ((10 if bi else 5), 1)
      if bi:
        assert set(p['bilstm']) == {'forward_rnn', 'backward_rnn'}
        assert p['bilstm']['backward_rnn']['layer_1']['kernel'] == (6, 20)
  with pytest.raises(ValueError, match='too small'):
    _shapes(G.CNNCritic(features=(2,) * 5), x)


def test_critic_scores_are_per_example():
  """No batch statistics: an example's score does not depend on the rest of the batch, which
  the penalty's grad(critic(x).sum()) relies on."""
  x = jax.random.uniform(jax.random.key(0), (3, 4, 6))
  critic = G.CNNCritic(features=(2,), kernel=3, dense=3)
  params = jax.jit(critic.init)(jax.random.key(1), x)
  apply = jax.jit(critic.apply)
  full = apply(params, x)
  np.testing.assert_allclose(apply(params, x[1:2])[0], full[1], rtol=1e-5)


def test_lstm_critic_frame_features_motion_and_pitch_conv():
  """``motion``: +1 where a key starts, -1 where it stops (the first frame against silence);
  ``pitch_conv``: the same response one key up when the frame moves one key up (a convolution
  across pitch), away from the edges; the penalty's second-order gradient flows through both."""
  x = jnp.zeros((1, 5, 24)).at[0, 1:3, 10].set(1.0).at[0, 0, 3].set(1.0)
  critic = G.LSTMCritic((4,), motion=True, pitch_conv=2)
  params = critic.init(jax.random.key(0), x)
  feats = critic.apply(params, x, method=G.LSTMCritic.frame_features)
  assert feats.shape == (1, 5, 24 * 4)
  np.testing.assert_array_equal(feats[0, :, :24], x[0])
  np.testing.assert_array_equal(feats[0, :, 24 + 10], [0, 1, 0, -1, 0])
  np.testing.assert_array_equal(feats[0, :, 24 + 3], [1, -1, 0, 0, 0])
  conv = lambda roll: critic.apply(params, roll, method=G.LSTMCritic.frame_features)[
      0, 1, 48:].reshape(24, 2)
  up = jnp.roll(x, 1, axis=-1)
  np.testing.assert_allclose(conv(up)[8:20], conv(x)[7:19], rtol=1e-6, atol=1e-7)
  assert float(jnp.abs(conv(x)).max()) > 0
  fake = jax.random.uniform(jax.random.key(1), x.shape)
  grads = jax.grad(lambda p: L.wgan_gp_critic_loss(lambda r: critic.apply(p, r), x, fake,
                                                   jax.random.key(2), gp_weight=10.0)[0])(params)
  assert float(jnp.abs(grads['params']['pitch_conv']['kernel']).max()) > 0


def test_melody_head_is_one_note_or_a_rest_with_the_softmax_gradient():
  """Forward: the argmax of the ``pitches + 1`` logits as a one-hot roll (a rest: a silent frame);
  backward: the softmax's gradient (straight-through). The generator lays it over its roll."""
  import flax.linen as nn

  class Head(nn.Module):
    @nn.compact
    def __call__(self, h):
      return G.melody_head(h, 6)

  h = jax.random.normal(jax.random.key(0), (2, 7, 5))
  head = Head()
  params = head.init(jax.random.key(1), h)
  out = head.apply(params, h)
  w, b = params['params']['melody']['kernel'], params['params']['melody']['bias']
  logits = h @ w + b
  winner = np.asarray(jnp.argmax(logits, -1))
  expect = np.eye(7)[winner][..., :6]
  np.testing.assert_array_equal(np.asarray(out), expect)
  weights = jax.random.normal(jax.random.key(2), out.shape)
  grad_st = jax.grad(lambda x: jnp.sum(weights * head.apply(params, x)))(h)
  grad_soft = jax.grad(lambda x: jnp.sum(weights * jax.nn.softmax(x @ w + b)[..., :6]))(h)
  np.testing.assert_allclose(grad_st, grad_soft, rtol=1e-5, atol=1e-6)
  gen = G.LSTMGenerator(pitches=6, hidden=(4,), melody=True)
  code = jax.random.normal(jax.random.key(3), (2, 7, 3))
  gp = gen.init(jax.random.key(4), code)
  roll = gen.apply(gp, code)
  plain = G.LSTMGenerator(pitches=6, hidden=(4,)).apply(
      {'params': {k: v for k, v in gp['params'].items() if k != 'melody'}}, code)
  assert bool(jnp.all(roll >= plain)) and bool(jnp.all(jnp.sum(roll == 1.0, -1) <= 1))
  with pytest.raises(ValueError, match="melody needs output='sigmoid'"):
    G.LSTMGenerator(pitches=6, hidden=(4,), melody=True, output='tanh').init(jax.random.key(0),
                                                                             code)


# ----------------------------------------------------------------------------- code schedules


def test_constant_and_linspace_schedules():
  c = G.code_schedule('constant', jax.random.key(0), 3, 5, 4)
  assert c.shape == (3, 5, 4)
  np.testing.assert_array_equal(c, jnp.broadcast_to(c[:, :1], c.shape))
  assert float(jnp.abs(c).max()) <= 1.0
  ka, kb = jax.random.split(jax.random.key(1))
  a = jax.random.uniform(ka, (3, 1, 4), minval=-1, maxval=1)
  b = jax.random.uniform(kb, (3, 1, 4), minval=-1, maxval=1)
  s = G.code_schedule('linspace', jax.random.key(1), 3, 5, 4)
  np.testing.assert_array_equal(s[:, 0], a[:, 0])                      # starts exactly at a
  np.testing.assert_allclose(s[:, -1], b[:, 0], rtol=0, atol=1e-7)     # ends at b
  np.testing.assert_allclose(s[:, 2], (a[:, 0] + b[:, 0]) / 2, atol=1e-7)
  np.testing.assert_allclose(s[:, 1], a[:, 0] + 0.25 * (b[:, 0] - a[:, 0]), atol=1e-7)
  n = G.code_schedule('constant', jax.random.key(0), 2, 3, 1000, distribution='normal')
  assert float(jnp.abs(n).max()) > 1.0


def test_ab_schedule_blocks():
  s = np.asarray(G.code_schedule('ab', jax.random.key(0), 2, 9, 3, block=2))
  a, b = s[:, 0], s[:, 2]
  assert not np.allclose(a, b)
  for t, which in enumerate('AABBAABBA'):
    np.testing.assert_array_equal(s[:, t], a if which == 'A' else b)
  s3 = np.asarray(G.code_schedule('ab', jax.random.key(0), 1, 6, 2, block=1, num_codes=3))
  np.testing.assert_array_equal(s3[:, 3:], s3[:, :3])                   # A B C A B C
  assert len({tuple(v) for v in s3[0, :3]}) == 3


def test_song_schedule_and_helpers():
  song = np.zeros((1, 4, 88), np.float32)
  song[0, 0, 3] = song[0, 0, 15] = 1          # C1 and C2 (88 keys start at A0): pitch class 0
  song[0, 2, 0] = 1                           # A0: pitch class 9
  code = G.code_schedule('song', jax.random.key(0), 1, 4, 16, song=jnp.asarray(song),
                         song_drop=0.0, lowest_pitch=21)
  want = -np.ones((1, 4, 12))
  want[0, 0, 0] = want[0, 2, 9] = 1
  np.testing.assert_array_equal(code[..., :12], want)
  np.testing.assert_array_equal(code[:, :, 12:], jnp.broadcast_to(code[:, :1, 12:], (1, 4, 4)))
  dropped = G.code_schedule('song', jax.random.key(0), 1, 4, 12, song=jnp.asarray(song),
                            song_drop=1.0)
  np.testing.assert_array_equal(dropped, -1.0)
  roll = G.code_schedule('song', jax.random.key(0), 1, 4, 88, song=jnp.asarray(song),
                         song_drop=0.0, song_features='roll')
  np.testing.assert_array_equal(roll, song * 2 - 1)
  with pytest.raises(ValueError, match='smaller than'):
    G.code_schedule('song', jax.random.key(0), 1, 4, 8, song=jnp.asarray(song))
  with pytest.raises(ValueError, match='needs song'):
    G.code_schedule('song', jax.random.key(0), 1, 4, 16)
  with pytest.raises(ValueError, match='expected one of'):
    G.code_schedule('zigzag', jax.random.key(0), 1, 4, 16)
  x = jnp.asarray(np.array([[[1, 0], [0, 0], [0, 1], [0, 0], [1, 1]]], np.float32))
  np.testing.assert_array_equal(G.downsample_roll(x, 2), [[[1, 0], [0, 1], [1, 1]]])
  np.testing.assert_array_equal(G.time_indicator(1, 5)[0, :, 0], [0, 0.25, 0.5, 0.75, 1.0])


# -------------------------------------------------------------------- pool and the train step


def test_fake_pool_ring_buffer():
  from dsjax.models.gan_training import fake_pool_sample, fake_pool_write
  pool = jnp.zeros((5, 1))
  pool, nxt, filled = fake_pool_write(pool, jnp.int32(0), jnp.int32(0), jnp.array([[1.], [2.]]))
  assert (int(nxt), int(filled)) == (2, 2)
  got = fake_pool_sample(jax.random.key(0), pool, filled, 2)
  assert sorted(np.asarray(got)[:, 0].tolist()) == [1.0, 2.0]        # only filled slots
  pool, nxt, filled = fake_pool_write(pool, nxt, filled, jnp.array([[3.], [4.]]))
  pool, nxt, filled = fake_pool_write(pool, nxt, filled, jnp.array([[5.], [6.]]))
  # the ring wrapped: 6 overwrote the oldest fake (1)
  np.testing.assert_array_equal(pool[:, 0], [6., 2., 3., 4., 5.])
  assert (int(nxt), int(filled)) == (1, 5)
  for seed in range(5):
    got = np.asarray(fake_pool_sample(jax.random.key(seed), pool, filled, 4))[:, 0]
    assert len(set(got.tolist())) == 4 and set(got) <= {2., 3., 4., 5., 6.}   # no repeats
  with pytest.raises(ValueError, match='cannot take'):
    fake_pool_write(jnp.zeros((2, 1)), jnp.int32(0), jnp.int32(0), jnp.zeros((3, 1)))


def _tiny_task(batch_size=8, code_dim=3, _generator=None, _lr=None, **gan):
  from configs.gan_base import base_gan_config, tiny_gan
  from dsjax.tasks.gan import GANTask
  c = tiny_gan(base_gan_config())
  c.data.window = 8
  c.data.max_pieces = 10
  c.model.critic.hidden = (4,)
  c.model.generator.hidden = (4,)
  c.model.generator.code_dim = code_dim
  for k, v in (_generator or {}).items():
    c.model.generator[k] = v
  if _lr is not None:
    c.optim.learning_rate = c.critic_optim.learning_rate = _lr
  c.data.batch_size = batch_size
  c.gan.unroll = False   # rolled scans compile faster; same function (the e2e tests unroll)
  for k, v in gan.items():
    c.gan[k] = v
  c.train.num_steps = 10
  return GANTask(c)


def adam_count(opt_state) -> int:
  import optax
  is_adam = lambda s: isinstance(s, optax.ScaleByAdamState)   # noqa: E731
  (adam,) = [s for s in jax.tree.leaves(opt_state, is_leaf=is_adam) if is_adam(s)]
  return int(adam.count)


def test_step_ratios_and_pool_inside_one_train_step():
  batch_size = 6
  task = _tiny_task(batch_size, n_critic=3, g_steps=2, critic_batches='split', pool_size=4)
  assert task.hp.critic_batch == 2                                         # 2 real rows per step
  state = task.init(jax.random.key(0))
  batch = {'inputs': np.asarray(task.real_windows(0, batch_size, task.hp.window))}
  step = jax.jit(task.train_step)
  new, metrics = step(state, batch, jax.random.key(1))
  assert int(new['d_updates']) == 3 and int(new['g_updates']) == 2
  assert adam_count(new['opt_state']['critic']) == 3 and adam_count(new['opt_state']['generator']) == 2
  # three critic steps each wrote 2 fresh fakes into the 4-slot ring
  assert int(new['pool_filled']) == 4 and int(new['pool_next']) == (3 * 2) % 4
  assert float(jnp.abs(new['pool']).sum()) > 0
  for k in ('loss', 'grad_norm', 'd_loss', 'g_loss', 'wasserstein', 'gradient_penalty',
            'd_grad_norm', 'g_grad_norm', 'critic_input_grad_norm', 'fake_density'):
    assert np.isfinite(float(metrics[k])), k
  np.testing.assert_allclose(metrics['grad_norm'] ** 2,
                             metrics['d_grad_norm'] ** 2 + metrics['g_grad_norm'] ** 2, rtol=0.5)
  # both networks moved
  for net in ('generator', 'critic'):
    moved = jax.tree.map(lambda a, b: float(jnp.abs(a - b).max()), state['params'][net], new['params'][net])
    assert max(jax.tree.leaves(moved)) > 0
  new2, _ = step(new, batch, jax.random.key(2))
  assert int(new2['d_updates']) == 6 and adam_count(new2['opt_state']['critic']) == 6


def test_sample_schedules_and_threshold():
  task = _tiny_task(code_dim=14, loss='nonsaturating', n_critic=1, g_steps=1,
                    critic_batches='reuse')
  state = task.init(jax.random.key(0))
  raw = task.sampler().generate_raw(state, jax.random.key(3), 3, 12, 'linspace')
  for thr in (0.3, 0.5, 0.7):
    s = task.sampler().sample(state, jax.random.key(3), 3, 12, schedule='linspace', threshold=thr)
    assert s.dtype == np.uint8 and s.shape == (3, 12, 88)
    np.testing.assert_array_equal(s, raw > thr)
  for schedule in ('song',):
    assert task.sampler().sample(state, jax.random.key(0), 2, 12, schedule=schedule).shape == (2, 12, 88)
  stats = task.sampler().statistics(task.sampler().sample(state, jax.random.key(0), 4, 12, threshold=0.5))
  assert {'diversity', 'note_density', 'polyphony', 'pitch_class_js', 'real_diversity',
          'real_note_density', 'real_pitch_class_js'} <= set(stats)
  assert all(np.isfinite(v) for v in stats.values())
  pieces = task.sampler().to_pieces(np.ones((1, 4, 88), np.uint8))
  assert len(pieces[0].notes) == 88
  with pytest.raises(ValueError, match='code schedule'):
    task.sampler().sample(state, jax.random.key(0), 2, 12, schedule='zigzag')


def test_bad_config_errors():
  with pytest.raises(ValueError, match='config.gan.loss'):
    _tiny_task(loss='hinge')
  with pytest.raises(ValueError, match='multiple of'):
    _tiny_task(n_critic=3, critic_batches='split')
  with pytest.raises(ValueError, match='pool_size'):
    _tiny_task(pool_size=2, critic_batches='reuse')


# ------------------------------------------------------------------------ feedback generator


def _feedback(melody, pitches=6, accompaniment='threshold'):
  gen = G.FeedbackLSTMGenerator(pitches=pitches, hidden=(5,), melody=melody,
                                accompaniment=accompaniment)
  code = jax.random.uniform(jax.random.key(3), (3, 9, 4), minval=-1, maxval=1)
  params = gen.init({'params': jax.random.key(4), 'sample': jax.random.key(5)}, code)
  # larger weights than the initialisation, so that keys cross 0.5 and frames change
  params = jax.tree.map(lambda w: 3.0 * w, params)
  return gen, code, params


@pytest.mark.parametrize('melody', [False, True])
def test_feedback_generator_frames_are_its_heads_on_its_own_frames(melody):
  """The free-running scan (one step at a time, feeding back its binary frame) and the
  teacher-forced pass (the whole sequence through the fused LSTM) agree when the teacher is the
  generator's own output: the accompaniment keys are their logits' signs (with the melody: the
  keys below the frame's top key, the drawn melody note; a silent frame is a drawn rest)."""
  gen, code, params = _feedback(melody)
  fake = gen.apply(params, code, rngs={'sample': jax.random.key(6)})
  assert fake.shape == (3, 9, 6) and set(np.unique(np.asarray(fake))) <= {0.0, 1.0}
  acc, mel = gen.apply(params, code, fake, method='teacher_forced')
  acc_on = np.asarray(acc > 0)
  on = np.asarray(fake) > 0.5
  if not melody:
    assert mel is None
    np.testing.assert_array_equal(on, acc_on)
  else:
    assert mel.shape == (3, 9, 7)
    below = np.asarray(G.accompaniment_mask(G.top_note(fake), 6))
    np.testing.assert_array_equal(on & below, acc_on & below)
    assert np.any(acc_on & ~below)        # keys the melody note silenced
    assert np.any(~on.any(-1)) and np.any(on.sum(-1) > 1)     # rests, and chords under notes
  assert 0 < on.mean() < 1 and np.any(on[:, 1:] != on[:, :-1])
  # the frame fed back matters: another first frame changes the logits of the second
  other = np.array(on, np.float32)
  other[:, 0] = 1.0 - other[:, 0]
  acc2, _ = gen.apply(params, code, jnp.asarray(other), method='teacher_forced')
  assert float(jnp.abs(acc2[:, 1] - acc[:, 1]).max()) > 1e-4
  np.testing.assert_allclose(acc2[:, 0], acc[:, 0])


def test_feedback_generator_nll_known_values_and_draws():
  """Known NLL values, and the draws follow the distributions the NLL scores.

  With every weight zero: ``P log 2`` per frame (P fair coins); with the melody head, ``log(P +
  1)`` (a uniform softmax) plus ``log 2`` for each key below the frame's top key (none for a silent
  frame). With biases only, a frame [on, off, on] of 3 keys costs ``-log p(top = key 2)`` plus the
  Bernoulli costs of keys 0 (on) and 1 (off). Draws: a melody softmax of (0.5, 0.3, 0.2) over two
  keys and the rest gives those frequencies; with ``accompaniment='sample'`` a key under the
  melody note sounds with its sigmoid's probability."""
  p = 2
  for melody in (False, True):
    gen, code, params = _feedback(melody, p)
    zero = jax.tree.map(jnp.zeros_like, params)
    real = (jax.random.uniform(jax.random.key(7), (3, 9, p)) < 0.4).astype(jnp.float32)
    nll = gen.apply(zero, code, real, method='frame_nll')
    top = np.asarray(G.top_note(real))
    want = np.mean(np.log(p + 1) + np.log(2) * np.where(top < p, top, 0)) if melody else (
        p * np.log(2))
    np.testing.assert_allclose(nll, want, rtol=1e-6)
  gen3, _, params3 = _feedback(True, 3)
  params3 = jax.tree.map(jnp.zeros_like, params3)
  mel_bias, acc_bias = jnp.array([0.1, -0.4, 0.7, 0.2]), jnp.array([1.5, -0.5, 0.3])
  params3['params']['melody_out']['bias'] = mel_bias
  params3['params']['decision']['bias'] = acc_bias
  frame = jnp.array([[[1.0, 0.0, 1.0]]])
  want = (-jax.nn.log_softmax(mel_bias)[2] - jnp.log(jax.nn.sigmoid(1.5))
          - jnp.log(1 - jax.nn.sigmoid(-0.5)))
  np.testing.assert_allclose(gen3.apply(params3, jnp.zeros((1, 1, 4)), frame, method='frame_nll'),
                             want, rtol=1e-5)
  gen, code, params = _feedback(True, p, 'sample')
  params = jax.tree.map(jnp.zeros_like, params)
  params['params']['decision']['bias'] = jnp.array([0.8, -30.0])
  params['params']['melody_out']['bias'] = jnp.log(jnp.array([0.5, 0.3, 0.2]))
  code = jnp.zeros((4000, 2, 4))
  frames = np.asarray(gen.apply(params, code, rngs={'sample': jax.random.key(8)}))
  top = np.asarray(G.top_note(frames))
  np.testing.assert_allclose([np.mean(top == 0), np.mean(top == 1), np.mean(top == 2)],
                             [0.5, 0.3, 0.2], atol=0.02)
  # key 0 sounds under a melody note on key 1 with probability sigmoid(0.8) = 0.69
  np.testing.assert_allclose(frames[..., 0][top == 1].mean(), jax.nn.sigmoid(0.8), atol=0.03)


def test_mle_weight_trains_the_feedback_generator_as_a_language_model():
  """``gan.mle_weight`` adds the teacher-forced NLL of the real windows to the generator's loss
  (logged as ``g_nll``): on one repeated batch it falls. Without a feedback generator the key is
  refused."""
  task = _tiny_task(n_critic=1, g_steps=1, critic_batches='reuse', mle_weight=1.0,
                    _generator=dict(feedback=True, melody=True), _lr=1e-2)
  state = task.init(jax.random.key(0))
  batch = {'inputs': np.asarray(task.real_windows(0, 8, task.hp.window))}
  step = jax.jit(task.train_step)
  nlls = []
  for i in range(30):
    state, metrics = step(state, batch, jax.random.key(i))
    nlls.append(float(metrics['g_nll']))
  # it starts near the marginals (far below 88 fair coins and a uniform melody, 65.5 nats)
  assert np.all(np.isfinite(nlls)) and nlls[0] < 15 and np.mean(nlls[-3:]) < 0.85 * nlls[0], nlls
  with pytest.raises(ValueError, match='config.gan.mle_weight'):
    _tiny_task(mle_weight=1.0)
  with pytest.raises(ValueError, match='feedback'):
    _tiny_task(_generator=dict(kind='dcrnn', hidden=(4,), repeats=(1,), feedback=True))


def test_feedback_generator_starts_at_the_marginals_of_the_training_frames():
  """The melody head's bias is the log-frequency of each top key (and of silence) over the
  training frames, the accompaniment's the log-odds of each key sounding when it is below the top
  key."""
  from dsjax.eval.music_stats import melody_line
  task = _tiny_task(_generator=dict(feedback=True, melody=True))
  params = jax.jit(task.init)(jax.random.key(0))['params']['generator']   # as the loop calls it
  frames = np.asarray(task.train_set.values).reshape(-1, 88) > 0
  line = melody_line(frames[None])[0]                       # -1: silent
  want = np.bincount(np.where(line < 0, 88, line), minlength=89) / len(line)
  got = np.exp(np.asarray(params['melody_out']['bias']))
  np.testing.assert_allclose(got[want > 0], want[want > 0], rtol=1e-5)
  np.testing.assert_allclose(got[want == 0], 1e-4, rtol=1e-5)
  top = np.where(line < 0, 88, line)
  room = [np.sum((top > k) & (top < 88)) for k in range(88)]    # frames where k is below the top
  on = [np.sum(frames[(top > k) & (top < 88), k]) for k in range(88)]
  freq = np.clip([o / r if r else 0.0 for o, r in zip(on, room)], 1e-4, 1 - 1e-4)
  np.testing.assert_allclose(jax.nn.sigmoid(params['decision']['bias']), freq, rtol=1e-4)


def test_feedback_generator_samples_refuse_a_threshold_and_marginals_spread_by_transposition():
  """A feedback generator's frames are binary already: sampling at the config's threshold is its
  output, another threshold is refused (it would silently change nothing, or empty the samples).
  With ``data.transpose`` its starting melody distribution is spread over the transpositions
  (still a distribution: it sums to one, and is flatter)."""
  task = _tiny_task(n_critic=1, g_steps=1, critic_batches='reuse',
                    _generator=dict(feedback=True, melody=True))
  state = task.init(jax.random.key(0))
  sampler = task.sampler()
  raw = sampler.generate_raw(state, jax.random.key(1), 3, 8)
  np.testing.assert_array_equal(sampler.sample(state, jax.random.key(1), 3, 8), raw)
  np.testing.assert_array_equal(sampler.sample(state, jax.random.key(1), 3, 8, threshold=0.5), raw)
  with pytest.raises(ValueError, match='already binary'):
    sampler.sample(state, jax.random.key(1), 3, 8, threshold=0.3)
  plain = np.exp(task.g_biases['melody_out'])
  task.config.data.transpose = 3
  spread = np.exp(task._marginal_output_biases(True)['melody_out'])
  np.testing.assert_allclose(spread.sum(), 1.0, atol=89e-4)   # up to 89 classes raised to 1e-4
  np.testing.assert_allclose(plain.sum(), 1.0, atol=89e-4)
  assert spread.max() < plain.max() and (spread > 1e-4).sum() > (plain > 1e-4).sum()
