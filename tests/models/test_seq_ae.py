"""The sequence autoencoder model: free-running decoding with the decision layer in the loop, the
KL term, word dropout, padding."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dsjax.models.seq_ae import SeqAE, free_run, kl_to_standard_normal, reconstruction_nll

VOCAB, KEYS = 11, 6


def _model(coding: str, **kw):
  size = dict(vocab_size=VOCAB) if coding == 'tokens' else dict(keys=KEYS)
  return SeqAE(**size, embed_dim=5, encoder=(7,), decoder=(9, 8), code_dim=4, **kw)


def _data(coding: str, b=3, t=10, seed=0):
  g = np.random.default_rng(seed)
  if coding == 'tokens':
    return jnp.asarray(g.integers(0, VOCAB, (b, t)), jnp.int32)
  return jnp.asarray(g.random((b, t, KEYS)) < 0.3, jnp.float32)


def _init(model, x):
  return model.init(jax.random.key(1), x)['params']


@pytest.mark.parametrize('coding', ['tokens', 'frames'])
@pytest.mark.parametrize('code_every_step', [False, True])
def test_free_running_decode_is_the_argmax_of_a_teacher_forced_pass_over_its_own_output(
    coding, code_every_step):
  """No leakage, and the decision layer is in the loop: what the greedy decoder fed back at each
  step is its own previous output, so teacher forcing on that output gives the same logits and
  the same argmax (the log's GreedyEmbeddingHelper fed back the raw RNN output instead)."""
  model = _model(coding, code_every_step=code_every_step)
  params = _init(model, _data(coding))
  z = jax.random.normal(jax.random.key(2), (3, 4)) * 3
  outs, logits = free_run(model, params, z, length=12, greedy=True)
  tf = model.apply({'params': params}, z, outs, method=SeqAE.teacher_forced)
  np.testing.assert_allclose(np.asarray(tf), np.asarray(logits), rtol=1e-5, atol=1e-5)
  argmax = jnp.argmax(tf, -1) if coding == 'tokens' else (tf > 0).astype(jnp.float32)
  np.testing.assert_array_equal(np.asarray(argmax), np.asarray(outs))
  # and the outputs depend on the code
  other, _ = free_run(model, params, -z, length=12, greedy=True)
  assert not np.array_equal(np.asarray(other), np.asarray(outs))


@pytest.mark.parametrize('coding', ['tokens', 'frames'])
def test_sampled_decode_feeds_back_its_draws_and_scores_targets_along_its_own_path(coding):
  model = _model(coding)
  params = _init(model, _data(coding))
  z = jax.random.normal(jax.random.key(3), (3, 4))
  targets = _data(coding, t=8, seed=5)
  outs, logits, nll = free_run(model, params, z, length=8, rng=jax.random.key(4), greedy=False,
                               temperature=1.5, targets=targets)
  tf = model.apply({'params': params}, z, outs, method=SeqAE.teacher_forced)
  np.testing.assert_allclose(np.asarray(tf), np.asarray(logits), rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(np.asarray(nll),
                             np.asarray(reconstruction_nll(model, logits, targets)), rtol=1e-6)
  greedy, _ = free_run(model, params, z, length=8, greedy=True)
  assert not np.array_equal(np.asarray(greedy), np.asarray(outs))  # it did draw


def test_kl_term_against_its_closed_form():
  # KL(N(mu, s^2) || N(0, 1)) = 0.5 (mu^2 + s^2 - 1 - ln s^2), per dimension, summed.
  mu = jnp.array([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
  logvar = jnp.array([[0.0, np.log(4.0), np.log(0.25)], [0.0, 0.0, 0.0]])
  want = [0.5 + 0.5 * (4 - 1 - np.log(4)) + 0.5 * (0.25 - 1 - np.log(0.25)), 0.0]
  np.testing.assert_allclose(np.asarray(kl_to_standard_normal(mu, logvar)), want, rtol=1e-6)
  # and against a Monte Carlo estimate of E_q[log q(z) - log p(z)]
  g = np.random.default_rng(0)
  m, lv = np.array([0.7, -1.2]), np.array([-0.5, 0.8])
  z = m + np.exp(0.5 * lv) * g.standard_normal((400_000, 2))
  log_q = -0.5 * (((z - m) ** 2) / np.exp(lv) + lv + np.log(2 * np.pi)).sum(-1)
  log_p = -0.5 * (z ** 2 + np.log(2 * np.pi)).sum(-1)
  np.testing.assert_allclose(float(kl_to_standard_normal(jnp.asarray(m), jnp.asarray(lv))),
                             (log_q - log_p).mean(), rtol=1e-2)


@pytest.mark.parametrize('coding', ['tokens', 'frames'])
def test_dropped_inputs_hide_the_items_from_the_decoder(coding):
  model = _model(coding)
  x = _data(coding)
  params = _init(model, x)
  z = jax.random.normal(jax.random.key(2), (3, 4))
  y = _data(coding, seed=9)
  tf = lambda targets, drop: np.asarray(model.apply({'params': params}, z, targets, drop,
                                                    method=SeqAE.teacher_forced))
  everything = jnp.ones(x.shape[:2], bool)
  np.testing.assert_array_equal(tf(x, everything), tf(y, everything))
  assert not np.allclose(tf(x, None), tf(y, None))
  # a drop at step t only changes the logits from step t on (the input of step t is item t-1)
  drop = jnp.zeros(x.shape[:2], bool).at[:, 5].set(True)
  a, b = tf(x, None), tf(x, drop)
  np.testing.assert_array_equal(a[:, :5], b[:, :5])
  assert not np.allclose(a[:, 5], b[:, 5])


def test_the_code_ignores_padding():
  model = _model('tokens', variational=True)
  x = _data('tokens', t=10)
  params = _init(model, x)
  mask = jnp.asarray(np.arange(10)[None] < np.array([[10], [6], [3]]), jnp.float32)
  noisy = jnp.where(mask > 0, x, (x + 5) % VOCAB)  # padding contents changed
  enc = lambda inp, m: model.apply({'params': params}, inp, m, method=SeqAE.encode)
  (mu1, lv1), (mu2, lv2) = enc(x, mask), enc(noisy, mask)
  np.testing.assert_allclose(np.asarray(mu1), np.asarray(mu2), rtol=1e-6)
  np.testing.assert_allclose(np.asarray(lv1), np.asarray(lv2), rtol=1e-6)
  mu_short, _ = enc(x[1:2, :6], None)
  np.testing.assert_allclose(np.asarray(mu1[1:2]), np.asarray(mu_short), rtol=1e-5, atol=1e-6)


def test_one_coding_at_a_time():
  with pytest.raises(ValueError, match='exactly one'):
    SeqAE(vocab_size=4, keys=3).init(jax.random.key(0), jnp.zeros((1, 2), jnp.int32))
