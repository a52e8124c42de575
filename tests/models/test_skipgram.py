"""Skip-gram pieces: pairs from windows, the noise distribution and its sampler, the loss, cosine
neighbours, and where the center table lives."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dsjax.models import skipgram as sg


def test_center_table_lives_at_embed_embedding():
  model = sg.SkipGram(vocab_size=11, embed_dim=3)
  params = model.init({'params': jax.random.key(0)}, jnp.zeros((1,), jnp.int32))['params']
  assert params['embed']['embedding'].shape == (11, 3)
  assert params['context']['embedding'].shape == (11, 3)
  tied = sg.SkipGram(vocab_size=11, embed_dim=3, tied=True)
  tparams = tied.init({'params': jax.random.key(0)}, jnp.zeros((1,), jnp.int32))['params']
  assert set(tparams) == {'embed'}
  # scores = w_center . c_v for every v
  scores = model.apply({'params': params}, jnp.array([4, 7]))
  want = params['embed']['embedding'][jnp.array([4, 7])] @ params['context']['embedding'].T
  np.testing.assert_allclose(scores, want, rtol=1e-6)


def test_context_pairs_exact():
  tokens = jnp.array([[10, 11, 12, 13]])
  mask = jnp.array([[1, 1, 1, 0]])              # the last item is padding
  ctx, valid = sg.context_pairs(tokens, mask, window=2)
  # offsets -2, -1, +1, +2
  assert ctx.shape == (1, 4, 4)
  np.testing.assert_array_equal(valid[0], [[0, 0, 1, 1],
                                           [0, 1, 1, 0],
                                           [1, 1, 0, 0],
                                           [0, 0, 0, 0]])
  np.testing.assert_array_equal(ctx[0, 1], [10, 10, 12, 13])   # clipped positions are invalid
  assert int(valid.sum()) == 6                                  # (10,11),(10,12),(11,12) x 2
  # A dynamic radius of 1 keeps only the neighbours at distance 1.
  _, v1 = sg.context_pairs(tokens, mask, window=2, radius=jnp.ones((1, 4), jnp.int32))
  np.testing.assert_array_equal(v1[0, :, [0, 3]], 0)
  assert int(v1.sum()) == 4


def test_noise_distribution_and_sampler():
  p = sg.noise_distribution(np.array([16, 0, 1, 81]))
  np.testing.assert_allclose(p, np.array([8, 0, 1, 27]) / 36)      # counts ** 0.75
  with pytest.raises(ValueError, match='non-negative'):
    sg.noise_distribution(np.array([0, 0]))
  cdf = jnp.asarray(np.cumsum(p), jnp.float32)
  draws = np.asarray(sg.sample_negatives(jax.random.key(0), cdf, (200_000,)))
  freq = np.bincount(draws, minlength=4) / len(draws)
  assert freq[1] == 0                                   # never an id of probability 0
  np.testing.assert_allclose(freq, p, atol=0.005)


def test_sgns_loss_hand_computed():
  scores = jnp.array([[0.0, 1.0, -2.0, 3.0]])           # one center against a vocab of 4
  contexts = jnp.array([[1]])
  negatives = jnp.array([[[2, 3]]])
  loss = sg.sgns_loss(scores, contexts, negatives)
  logsig = lambda x: -np.log1p(np.exp(-x))
  want = -logsig(1.0) - logsig(2.0) - logsig(-3.0)
  np.testing.assert_allclose(loss, [[want]], rtol=1e-6)
  # Expectation over a noise distribution that puts all its mass on id 3: K * -log sigmoid(-3).
  noise = jnp.array([0.0, 0.0, 0.0, 1.0])
  exp_loss = sg.expected_sgns_loss(scores, contexts, noise, num_negatives=2)
  np.testing.assert_allclose(exp_loss, [[-logsig(1.0) - 2 * logsig(-3.0)]], rtol=1e-6)


def test_cosine_neighbours():
  table = np.array([[1.0, 0.0], [2.0, 0.1], [0.0, 1.0], [-1.0, 0.0], [1.0, 1.0]])
  ids, sims = sg.cosine_neighbours(table, np.array([0]), k=3)
  assert ids.tolist() == [[1, 4, 2]]
  np.testing.assert_allclose(sims[0], [2 / np.hypot(2, 0.1), 1 / np.sqrt(2), 0.0], atol=1e-12)
  ids, _ = sg.cosine_neighbours(table, np.array([0]), k=1, exclude_self=False)
  assert ids.tolist() == [[0]]
