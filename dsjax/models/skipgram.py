"""Skip-gram with negative sampling over event sequences (log 10/09; original §3.3).

The model holds two tables, as word2vec does: the input (center) embedding
``params['embed']['embedding'] [vocab, dim]`` (the one an event LM can load, frozen or not) and the
output (context) embedding ``params['context']['embedding'] [vocab, dim]``. With ``tied=True`` one
table plays both roles, as in the 2017 code (one shared ``Embedding(363, 512)``).

The score of a (center x, context y) pair is ``w_x . c_y``; the loss of a positive pair with ``K``
negatives ``n_k`` drawn from the noise distribution (unigram ** 0.75) is

  ``-log sigmoid(w_x . c_y) - sum_k log sigmoid(-w_x . c_{n_k})``

(the log's formula, with the sigmoid the original code applied to the dot product).

The pure functions below build pairs from windows inside a jitted step: every center position
``t`` and offset ``d`` with ``1 <= |d| <= window`` gives the pair ``(x_t, x_{t+d})`` when both are
real (masked-in) items (:func:`training_pairs`, optionally with word2vec's dynamic per-center
radius). Held-out batches are scored deterministically (:func:`held_out_sums`): the sum over
negatives is replaced by its exact expectation, and ``beats_noise`` is the probability that a true
context scores above a noise draw.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


class SkipGram(nn.Module):
  """Center and context tables; ``__call__(centers [...]) -> scores [..., vocab]`` against every
  context vector (cheap for event vocabularies of a few hundred ids)."""
  vocab_size: int
  embed_dim: int = 256
  tied: bool = False

  def setup(self):
    init = nn.initializers.uniform(scale=1.0)
    # word2vec: input vectors U(-0.5/dim, 0.5/dim), output vectors 0. Zero output vectors with a
    # tied table would never move, so both start small and random.
    scale = 0.5 / self.embed_dim
    shifted = lambda key, shape, dtype=jnp.float32: (init(key, shape, dtype) - 0.5) * 2 * scale
    self.embed = nn.Embed(self.vocab_size, self.embed_dim, embedding_init=shifted, name='embed')
    if not self.tied:
      self.context = nn.Embed(self.vocab_size, self.embed_dim, embedding_init=shifted,
                              name='context')

  def context_table(self) -> jax.Array:
    """``[vocab, dim]`` output vectors."""
    return self.embed.embedding if self.tied else self.context.embedding

  def __call__(self, centers: jax.Array) -> jax.Array:
    """``centers [...]`` ids -> scores ``[..., vocab]`` = ``w_center . c_v`` for every id v."""
    w = self.embed(centers)
    return jnp.einsum('...d,vd->...v', w, self.context_table())


def context_pairs(tokens: jax.Array, mask: jax.Array, window: int,
                  radius: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
  """The contexts of every center position of ``tokens [batch, time]``.

  Args:
    tokens: ids ``[batch, time]``.
    mask: ``[batch, time]`` (1 = real item).
    window: the largest offset ``|d|``.
    radius: optional ``[batch, time]`` int per-center window (word2vec's dynamic window: pairs
      with ``|d| > radius`` are dropped, so near contexts weigh more).
  Returns:
    ``(contexts [batch, time, 2 * window], valid [batch, time, 2 * window] float32)``; the offsets
    are ``-window..-1, 1..window`` in that order.
  """
  offsets = np.concatenate([np.arange(-window, 0), np.arange(1, window + 1)])
  b, t = tokens.shape
  pos = jnp.arange(t)[:, None] + offsets[None, :]                  # [time, 2w]
  inside = (pos >= 0) & (pos < t)
  pos_c = jnp.clip(pos, 0, t - 1)
  contexts = tokens[:, pos_c]                                        # [batch, time, 2w]
  m = mask.astype(jnp.float32)
  valid = inside[None].astype(jnp.float32) * m[:, pos_c] * m[:, :, None]
  if radius is not None:
    valid = valid * (np.abs(offsets)[None, None, :] <= radius[..., None]).astype(jnp.float32)
  return contexts, valid


def noise_distribution(counts: np.ndarray, power: float = 0.75) -> np.ndarray:
  """word2vec's noise distribution ``counts ** power`` normalised: ``float64 [vocab]``. Ids never
  seen get probability 0 (they are never drawn as negatives)."""
  counts = np.asarray(counts, np.float64)
  if counts.ndim != 1 or (counts < 0).any() or counts.sum() <= 0:
    raise ValueError(f'noise_distribution needs non-negative counts with a positive sum, got '
                     f'shape {counts.shape}, sum {counts.sum()}')
  p = counts ** power
  return p / p.sum()


def sample_negatives(rng: jax.Array, noise_cdf: jax.Array, shape: tuple[int, ...]) -> jax.Array:
  """Ids ``[*shape]`` drawn from the distribution whose cumulative sum is ``noise_cdf [vocab]``
  (inverse-CDF sampling: one uniform and one binary search per draw)."""
  u = jax.random.uniform(rng, shape, jnp.float32) * noise_cdf[-1]
  ids = jnp.searchsorted(noise_cdf, u, side='right')
  return jnp.minimum(ids, noise_cdf.shape[0] - 1).astype(jnp.int32)


def sgns_loss(scores: jax.Array, contexts: jax.Array, negatives: jax.Array) -> jax.Array:
  """Negative-sampling loss per pair ``[..., pairs]``.

  Args:
    scores: ``[..., vocab]`` center-vs-every-id scores (from :class:`SkipGram`).
    contexts: ``[..., pairs]`` positive context ids.
    negatives: ``[..., pairs, K]`` noise ids.
  """
  pos = jnp.take_along_axis(scores, contexts, axis=-1)
  lead = scores.shape[:-1]
  neg = jnp.take_along_axis(scores, negatives.reshape(lead + (-1,)), axis=-1).reshape(
      negatives.shape)
  return -jax.nn.log_sigmoid(pos) - jax.nn.log_sigmoid(-neg).sum(-1)


def expected_sgns_loss(scores: jax.Array, contexts: jax.Array, noise: jax.Array,
                       num_negatives: int) -> jax.Array:
  """The negative-sampling loss with the sum over ``K`` negatives replaced by its expectation
  ``K * sum_v noise[v] * -log sigmoid(-score_v)``: a deterministic held-out figure ``[..., pairs]``."""
  pos = jnp.take_along_axis(scores, contexts, axis=-1)
  neg = (noise * -jax.nn.log_sigmoid(-scores)).sum(-1, keepdims=True)   # [..., 1]
  return -jax.nn.log_sigmoid(pos) + num_negatives * neg


def training_pairs(rng: jax.Array, tokens: jax.Array, mask: jax.Array, window: int,
                   dynamic_window: bool, noise_cdf: jax.Array, num_negatives: int
                   ) -> tuple[jax.Array, jax.Array, jax.Array]:
  """What one training step scores: ``(contexts [B, T, 2w], valid [B, T, 2w], negatives
  [B, T, 2w, num_negatives])`` of the windows ``tokens [B, T]``; with ``dynamic_window`` each
  center's radius is drawn from ``U{1..window}``."""
  k_window, k_neg = jax.random.split(rng)
  radius = None
  if dynamic_window:
    radius = jax.random.randint(k_window, tokens.shape, 1, window + 1)
  contexts, valid = context_pairs(tokens, mask, window, radius)
  negatives = sample_negatives(k_neg, noise_cdf, contexts.shape + (num_negatives,))
  return contexts, valid, negatives


def held_out_sums(scores: jax.Array, contexts: jax.Array, valid: jax.Array, noise: jax.Array,
                  num_negatives: int) -> dict[str, jax.Array]:
  """Sums over the valid pairs of a held-out batch: ``loss_sum`` (:func:`expected_sgns_loss`),
  ``pairs`` and ``beats_noise_sum``, where a pair's ``beats_noise`` is the probability that its
  true context outscores a noise draw, ``sum_v noise[v] [score_v < score_context]`` (0.5 is
  chance)."""
  per_pair = expected_sgns_loss(scores, contexts, noise, num_negatives)
  pos = jnp.take_along_axis(scores, contexts, axis=-1)                   # [B, T, 2w]
  beaten = jnp.einsum('btpv,v->btp', (scores[:, :, None, :] < pos[..., None]).astype(
      jnp.float32), noise)
  return {'loss_sum': (per_pair * valid).sum(), 'pairs': valid.sum(),
          'beats_noise_sum': (beaten * valid).sum()}


def cosine_neighbours(table: np.ndarray, queries: np.ndarray, k: int = 5,
                      exclude_self: bool = True) -> tuple[np.ndarray, np.ndarray]:
  """The ``k`` rows of ``table [vocab, dim]`` most cosine-similar to each of ``queries [q]`` ids.

  Returns ``(ids [q, k], similarities [q, k])``, most similar first (ties by lower id).
  """
  table = np.asarray(table, np.float64)
  queries = np.asarray(queries, np.int64).reshape(-1)
  unit = table / np.maximum(np.linalg.norm(table, axis=1, keepdims=True), 1e-12)
  sim = unit[queries] @ unit.T                                           # [q, vocab]
  if exclude_self:
    sim[np.arange(len(queries)), queries] = -np.inf
  order = np.lexsort((np.broadcast_to(np.arange(table.shape[0]), sim.shape), -sim), axis=-1)
  ids = order[:, :k]
  return ids, np.take_along_axis(sim, ids, axis=1)
