"""The parts of a GAN's training step besides the networks and the losses: the ring buffer of past
fakes the critic trains on (:func:`fake_pool_write`, :func:`fake_pool_sample`) and
:func:`repeat_steps`, which runs the critic's or the generator's updates of one step unrolled or
as a ``lax.scan``. Used by :class:`dsjax.tasks.gan.GANTask`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def fake_pool_write(pool: jax.Array, next_index: jax.Array, filled: jax.Array, fakes: jax.Array
                    ) -> tuple[jax.Array, jax.Array, jax.Array]:
  """Writes ``fakes [B, ...]`` into the ring ``pool [N, ...]`` at ``next_index``, wrapping around.

  Returns ``(pool, (next_index + B) % N, min(filled + B, N))``. Slots ``[0, filled)`` hold fakes.
  """
  n, b = pool.shape[0], fakes.shape[0]
  if b > n:
    raise ValueError(f'fake pool of {n} cannot take a batch of {b}')
  idx = (next_index + jnp.arange(b)) % n
  return pool.at[idx].set(fakes.astype(pool.dtype)), (next_index + b) % n, jnp.minimum(filled + b, n)


def fake_pool_sample(rng: jax.Array, pool: jax.Array, filled: jax.Array, num: int) -> jax.Array:
  """``num`` fakes drawn uniformly without replacement from the filled slots ``[0, filled)``.

  Needs ``filled >= num`` (true after the first write of a critic batch).
  """
  scores = jax.random.uniform(rng, (pool.shape[0],))
  scores = jnp.where(jnp.arange(pool.shape[0]) < filled, scores, 2.0)  # empty slots sort last
  return pool[jnp.argsort(scores)[:num]]


def repeat_steps(body, carry, xs, unroll: bool):
  """``lax.scan(body, carry, xs)``, or with ``unroll`` the same steps as straight-line code
  (a Python loop at trace time; the per-step outputs are stacked the same way)."""
  if not unroll:
    return jax.lax.scan(body, carry, xs)
  n = jax.tree.leaves(xs)[0].shape[0]
  outs = []
  for i in range(n):
    carry, out = body(carry, jax.tree.map(lambda x, i=i: x[i], xs))
    outs.append(out)
  return carry, jax.tree.map(lambda *o: jnp.stack(o), *outs)
