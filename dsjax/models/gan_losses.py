"""GAN losses: the standard (non-saturating) GAN and WGAN-GP (log 11/11, 11/13; original §3.11).

Critic outputs are raw scores ``[batch]``: logits for the standard loss, unbounded scores for the
Wasserstein loss. All losses are means over the batch.

WGAN-GP (Gulrajani et al. 2017): critic loss ``E D(fake) - E D(real) + lambda * GP`` with
``GP = E (||grad_x D(x_hat)||_2 - 1)^2`` at ``x_hat = eps * real + (1 - eps) * fake``; generator
loss ``-E D(G(z))``. The input gradient is that of ``critic(x_hat).sum()``, which gives every
example its own gradient as long as the critic mixes no examples (no batch statistics; a
minibatch-std critic adds the terms through the batch spread, as in Karras et al. 2018); the norm
is taken over all of an example's cells ``[time, pitch]``. Differentiating the critic loss with
respect to the critic's parameters is then a second-order derivative through the critic: through
its ``lax.scan`` for a recurrent critic (what TensorFlow 1 could not do, log 11/12).

``eps`` is drawn per example (the paper) or, with ``per_example_epsilon=False``, once per batch
(the original code, §3.11).
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

Array = jax.Array
CriticFn = Callable[[Array], Array]   # [batch, time, pitch] -> [batch]

# Inside the square root of the gradient norm, so that its derivative is finite at zero gradient.
NORM_EPSILON = 1e-12


def nonsaturating_critic_loss(d_real: Array, d_fake: Array) -> Array:
  """``-log sigmoid(D(real)) - log(1 - sigmoid(D(fake)))`` from logits (stable softplus form)."""
  return jnp.mean(jax.nn.softplus(-d_real)) + jnp.mean(jax.nn.softplus(d_fake))


def nonsaturating_generator_loss(d_fake: Array) -> Array:
  """The non-saturating generator loss ``-log sigmoid(D(G(z)))`` from logits."""
  return jnp.mean(jax.nn.softplus(-d_fake))


def wasserstein_critic_loss(d_real: Array, d_fake: Array) -> Array:
  """``E D(fake) - E D(real)`` (the critic minimises it; its negative estimates W1)."""
  return jnp.mean(d_fake) - jnp.mean(d_real)


def wasserstein_generator_loss(d_fake: Array) -> Array:
  """``-E D(G(z))``."""
  return -jnp.mean(d_fake)


def interpolate(rng: Array, real: Array, fake: Array, per_example: bool = True
                ) -> tuple[Array, Array]:
  """``x_hat = eps * real + (1 - eps) * fake`` with ``eps ~ U[0, 1]``.

  Returns ``x_hat`` (the shape of ``real``) and ``eps`` ``[batch]`` (per example) or ``[1]`` (one
  per batch, the original code's choice).
  """
  if real.shape != fake.shape:
    raise ValueError(f'interpolate: real {real.shape} and fake {fake.shape} differ')
  eps = jax.random.uniform(rng, (real.shape[0] if per_example else 1,), real.dtype)
  e = eps.reshape((-1,) + (1,) * (real.ndim - 1))
  return e * real + (1.0 - e) * fake, eps


def input_gradient_norms(critic_fn: CriticFn, x: Array) -> Array:
  """``||d critic(x)_b / d x_b||_2`` per example ``[batch]`` (norm over all non-batch axes)."""
  grads = jax.grad(lambda v: jnp.sum(critic_fn(v)))(x)
  sq = jnp.sum(jnp.square(grads).reshape(grads.shape[0], -1), axis=-1)
  return jnp.sqrt(sq + NORM_EPSILON)


def gradient_penalty(critic_fn: CriticFn, x_hat: Array, target: float = 1.0
                     ) -> tuple[Array, Array]:
  """``mean_b (||grad D(x_hat_b)|| - target)^2`` and the norms ``[batch]``."""
  norms = input_gradient_norms(critic_fn, x_hat)
  return jnp.mean(jnp.square(norms - target)), norms


def critic_scores(critic_fn: CriticFn, real: Array, fake: Array, separate: bool = False
                  ) -> tuple[Array, Array]:
  """``(D(real), D(fake))``, each ``[batch]``: one pass over the concatenated batch, or with
  ``separate`` one pass each (needed when the critic uses batch statistics such as
  :func:`dsjax.models.gan.minibatch_std`, which must not mix real and fake examples)."""
  if separate:
    return critic_fn(real), critic_fn(fake)
  batch = real.shape[0]
  scores = critic_fn(jnp.concatenate([real, fake], axis=0))
  return scores[:batch], scores[batch:]


def wgan_gp_critic_loss(critic_fn: CriticFn, real: Array, fake: Array, rng: Array, *,
                        gp_weight: float = 10.0, per_example_epsilon: bool = True,
                        separate: bool = False) -> tuple[Array, dict[str, Array]]:
  """The WGAN-GP critic loss and its parts.

  Args:
    critic_fn: ``x [batch, time, pitch] -> scores [batch]`` (closing over the critic params to
      differentiate).
    real, fake: ``[batch, time, pitch]`` in the same scale (``fake`` without generator gradient).
    rng: key for ``eps``.
    gp_weight: lambda (10 in the paper and the original).
    per_example_epsilon: one ``eps`` per example (True) or per batch (the original).
    separate: score real and fake in separate passes (:func:`critic_scores`).

  Returns:
    ``loss`` and ``{'wasserstein': E D(real) - E D(fake), 'gradient_penalty': GP (without
    lambda), 'critic_input_grad_norm': mean norm at x_hat, 'd_real', 'd_fake'}``.
  """
  d_real, d_fake = critic_scores(critic_fn, real, fake, separate)
  x_hat, _ = interpolate(rng, real, fake, per_example_epsilon)
  penalty, norms = gradient_penalty(critic_fn, x_hat)
  w = jnp.mean(d_real) - jnp.mean(d_fake)
  loss = -w + gp_weight * penalty
  return loss, {'wasserstein': w, 'gradient_penalty': penalty,
                'critic_input_grad_norm': jnp.mean(norms), 'd_real': jnp.mean(d_real),
                'd_fake': jnp.mean(d_fake)}


def nonsaturating_critic_terms(critic_fn: CriticFn, real: Array, fake: Array,
                               separate: bool = False) -> tuple[Array, dict[str, Array]]:
  """The standard GAN critic loss with the same metrics layout (mean logits of real and fake)."""
  d_real, d_fake = critic_scores(critic_fn, real, fake, separate)
  return nonsaturating_critic_loss(d_real, d_fake), {
      'd_real': jnp.mean(d_real), 'd_fake': jnp.mean(d_fake),
      'd_real_prob': jnp.mean(jax.nn.sigmoid(d_real)),
      'd_fake_prob': jnp.mean(jax.nn.sigmoid(d_fake))}
