"""The continuous autoencoder's quantisers, continuity losses, code walks and decoders."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dsjax.models import continuous_ae as cae
from dsjax.models.continuous_ae import ContinuousAE


def test_quantizers_give_the_exact_levels():
  c = jnp.array([0.0, 0.2, 0.26, 0.49, 0.5, 0.74, 0.76, 0.99, 1.0])
  np.testing.assert_array_equal(cae.quantize(c, 'ternary'),
                                [0.0, 0.0, 0.5, 0.5, 0.5, 0.5, 1.0, 1.0, 1.0])
  t = jnp.array([-0.9, -1e-6, 0.0, 1e-6, 0.3])
  np.testing.assert_array_equal(cae.quantize(t, 'sign'), [-1.0, -1.0, 1.0, 1.0, 1.0])
  # the activations: sigmoid(beta z) and tanh(beta z)
  z = jnp.array([-0.1, 0.0, 0.05])
  np.testing.assert_allclose(cae.activate(z, 'ternary', 10.0), 1 / (1 + np.exp(-10 * np.array(
      [-0.1, 0.0, 0.05]))), rtol=1e-6)
  np.testing.assert_allclose(cae.activate(z, 'sign', 100.0), np.tanh([-10.0, 0.0, 5.0]),
                             rtol=1e-6)
  # no gradient flows through the quantiser
  assert float(jax.grad(lambda x: cae.quantize(x, 'ternary').sum())(jnp.float32(0.3))) == 0.0
  with pytest.raises(ValueError, match='quantizer'):
    cae.quantize(c, 'binary')


def test_continuity_losses_against_hand_computed_values():
  # one row of three 2-d codes
  c = jnp.array([[[0.0, 0.0], [1.0, 0.0], [0.0, 0.5]]])
  q = jnp.array([[[0.0, 0.5], [1.0, 1.0], [0.0, 0.0]]])
  # d(c0, c1) = 1, d(c0, c2) = 0.25, d(c1, c2) = 1.25
  np.testing.assert_allclose(cae.continuity_terms(c, q, 'hinge'), [[1.0 - 0.25 + 1.0]])
  np.testing.assert_allclose(cae.continuity_terms(c, q, 'hinge', margin=0.0), [[0.75]])
  np.testing.assert_allclose(cae.continuity_terms(c, q, 'plain'), [[1.0, 1.25]])
  # d(q0, c1) + d(c0, q1) = (1 + 0.25) + (1 + 1) ; d(q1, c2) + d(c1, q2) = (1 + 0.25) + (1 + 0)
  np.testing.assert_allclose(cae.continuity_terms(c, q, 'mixed'), [[3.25, 2.25]])
  # the hinge is zero once the next code is a margin closer than the one after it
  far = jnp.array([[[0.0, 0.0], [0.1, 0.0], [2.0, 0.0]]])
  np.testing.assert_allclose(cae.continuity_terms(far, far, 'hinge'), [[0.0]])
  # 'mixed' holds q fixed: its gradient w.r.t. q is zero
  g = jax.grad(lambda q: cae.continuity_terms(c, q, 'mixed').sum())(q)
  assert not np.any(np.asarray(g))
  with pytest.raises(ValueError, match='continuity'):
    cae.continuity_terms(c, q, 'cosine')


@pytest.mark.parametrize('quantizer', ['ternary', 'sign'])
def test_change_entries_changes_exactly_flips_entries_to_other_levels(quantizer):
  levels = np.asarray(cae.levels(quantizer))
  rng = np.random.default_rng(0)
  q = jnp.asarray(rng.choice(levels, size=(50, 12)), jnp.float32)
  for flips in (0, 1, 3, 12):
    new = np.asarray(cae.change_entries(jax.random.key(flips), q, flips, quantizer))
    assert set(np.unique(new)) <= set(levels)
    np.testing.assert_array_equal((new != np.asarray(q)).sum(-1), flips)


def test_random_walk_changes_flips_entries_per_step_between_resets():
  theme = jnp.asarray(np.random.default_rng(1).choice([0.0, 0.5, 1.0], size=(6, 16)), jnp.float32)
  flips, every = 2, 4
  codes = np.asarray(cae.random_walk(jax.random.key(0), theme, 25, flips, 'ternary', every, 0.8))
  assert codes.shape == (6, 25, 16)
  np.testing.assert_array_equal(codes[:, 0], theme)
  steps = (codes[:, 1:] != codes[:, :-1]).sum(-1)               # [6, 24], step t = index + 1
  t = np.arange(1, 25)
  np.testing.assert_array_equal(steps[:, t % every != 0], flips)
  # at a reset step the code is either the theme of its region or the current code
  back = []
  theme_now = np.asarray(theme)
  for s in range(1, 25):
    if s % every == 0:
      is_theme = np.all(codes[:, s] == theme_now, -1)
      assert np.all(is_theme | (steps[:, s - 1] == flips))
      back.append(is_theme)
      theme_now = np.where(is_theme[:, None], theme_now, codes[:, s])
  assert 0.5 < np.mean(back) < 1.0                              # p = 0.8 of going back
  # no resets: every step changes exactly `flips` entries
  free = np.asarray(cae.random_walk(jax.random.key(2), theme, 10, 3, 'ternary', 0, 0.8))
  np.testing.assert_array_equal((free[:, 1:] != free[:, :-1]).sum(-1), 3)


def _models():
  common = dict(keys=12, subseq_len=5, code_dim=6)
  return {'rnn_gru': ContinuousAE(**common, encoder_hidden=(8,), decoder_hidden=(8, 7)),
          'rnn_lstm': ContinuousAE(**common, cell='lstm', encoder_hidden=(8,),
                                   decoder_hidden=(9,), quantizer='sign'),
          'hourglass': ContinuousAE(**common, arch='hourglass', hourglass_hidden=(20, 10),
                                    quantizer='sign')}


@pytest.mark.parametrize('name', ['rnn_gru', 'rnn_lstm', 'hourglass'])
def test_free_running_decode_equals_thresholding_teacher_forcing_on_it(name):
  model = _models()[name]
  x = jax.random.bernoulli(jax.random.key(0), 0.3, (4, 5, 12)).astype(jnp.float32)

  @jax.jit
  def run(x):
    v = model.init(jax.random.key(1), x)
    code = model.apply(v, x, method=ContinuousAE.encode)
    free = model.apply(v, code, jax.random.key(2), 'threshold', 0.5,
                       method=ContinuousAE.decode_free)
    logits = model.apply(v, code, free, method=ContinuousAE.decode_logits)
    drawn = model.apply(v, code, jax.random.key(3), 'bernoulli', 0.5,
                        method=ContinuousAE.decode_free)
    return free, logits, drawn
  free, logits, drawn = run(x)
  assert free.shape == (4, 5, 12) and set(np.unique(free)) <= {0.0, 1.0}
  assert 0 < float(free.mean()) < 1                  # a busy roll: the test can fail
  np.testing.assert_array_equal(np.asarray(jax.nn.sigmoid(logits) > 0.5, np.float32), free)
  assert set(np.unique(drawn)) <= {0.0, 1.0}         # Bernoulli mode draws frames too


def test_hourglass_shapes():
  model = _models()['hourglass']
  x = jnp.zeros((3, 5, 12))
  v = model.init(jax.random.key(0), x)
  p = v['params']
  assert p['enc_0']['kernel'].shape == (60, 20) and p['enc_1']['kernel'].shape == (20, 10)
  assert p['code']['kernel'].shape == (10, 6)
  assert p['dec_0']['kernel'].shape == (6, 10) and p['dec_1']['kernel'].shape == (10, 20)
  assert p['decision']['kernel'].shape == (20, 60)
  code = model.apply(v, x, method=ContinuousAE.encode)
  assert code.shape == (3, 6) and np.all(np.abs(np.asarray(code)) < 1)
  assert model.apply(v, code, x, method=ContinuousAE.decode_logits).shape == (3, 5, 12)
  # the frames of the hourglass depend on the code alone, not on the frames fed
  np.testing.assert_array_equal(model.apply(v, code, x, method=ContinuousAE.decode_logits),
                                model.apply(v, code, x + 1, method=ContinuousAE.decode_logits))
