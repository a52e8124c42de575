"""Losses as pure functions of arrays (masked sums and means)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax


def token_nll(logits: jax.Array, targets: jax.Array) -> jax.Array:
  """Per-position negative log-likelihood (nats) ``[...]`` of integer targets."""
  return optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), targets)


def frame_nll(logits: jax.Array, targets: jax.Array) -> jax.Array:
  """Per-frame NLL (nats): sum over keys of independent Bernoulli NLLs. ``[..., keys]`` -> ``[...]``."""
  return optax.sigmoid_binary_cross_entropy(logits.astype(jnp.float32),
                                            targets.astype(jnp.float32)).sum(-1)


def masked_mean(values: jax.Array, mask: jax.Array) -> jax.Array:
  mask = mask.astype(values.dtype)
  return (values * mask).sum() / jnp.maximum(mask.sum(), 1.0)
