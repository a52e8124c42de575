"""Sampling strategies of the research log, as pure jittable functions.

Events (categorical): temperature, top-k, top-p (nucleus).
Multi-hot frames (independent Bernoulli per key): threshold, Bernoulli ("binomial") sampling,
noise on the fed-back frame, maximum sustain, and :func:`sample_frames`, the autoregressive scan
over time that every roll model samples with.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def filter_logits(logits: jax.Array, temperature: float = 1.0, top_k: int = 0,
                  top_p: float = 1.0) -> jax.Array:
  """Scaled and filtered logits ``[..., vocab]``; filtered entries are ``-inf``.

  ``top_k`` <= 0 and ``top_p`` >= 1 disable the filters; temperature must be > 0.
  """
  logits = logits.astype(jnp.float32) / jnp.maximum(temperature, 1e-6)
  vocab = logits.shape[-1]
  if top_k and 0 < top_k < vocab:
    kth = jax.lax.top_k(logits, top_k)[0][..., -1:]
    logits = jnp.where(logits < kth, -jnp.inf, logits)
  if top_p < 1.0:
    sorted_logits = jnp.sort(logits, axis=-1)[..., ::-1]
    probs = jax.nn.softmax(sorted_logits, axis=-1)
    cum = jnp.cumsum(probs, axis=-1)
    # keep the smallest prefix whose mass reaches top_p (always at least one token)
    keep = (cum - probs) < top_p
    cutoff = jnp.min(jnp.where(keep, sorted_logits, jnp.inf), axis=-1, keepdims=True)
    logits = jnp.where(logits < cutoff, -jnp.inf, logits)
  return logits


def categorical_from_uniform(u: jax.Array, logits: jax.Array) -> jax.Array:
  """Exact categorical draws by inverting the CDF: token ``j`` with ``C[j-1] <= u * C[-1] < C[j]``,
  ``C`` the running sum of ``exp(logits - max)``.

  ``u [...]`` uniform in [0, 1), one per draw; ``logits [..., vocab]`` (``-inf`` entries are never
  drawn). One uniform per draw instead of a Gumbel variate per vocabulary entry: cheaper inside a
  sampler's scan, and the same distribution as ``jax.random.categorical``.
  """
  logits = logits.astype(jnp.float32)
  p = jnp.exp(logits - jnp.max(logits, axis=-1, keepdims=True))
  cdf = jnp.cumsum(p, axis=-1)
  x = u.astype(jnp.float32)[..., None] * cdf[..., -1:]
  idx = jnp.sum(cdf <= x, axis=-1)
  # u * C[-1] can round up to C[-1]: fall back to the last token with mass, never to a masked one.
  vocab = logits.shape[-1]
  last = vocab - 1 - jnp.argmax((p > 0)[..., ::-1], axis=-1)
  return jnp.minimum(idx, last).astype(jnp.int32)


def sample_categorical(rng: jax.Array, logits: jax.Array, temperature: float = 1.0,
                       top_k: int = 0, top_p: float = 1.0, u: jax.Array | None = None) -> jax.Array:
  """Token ids ``[...]`` from logits ``[..., vocab]`` (temperature, then the top-k / top-p filters).

  ``u [...]``: uniforms in [0, 1) drawn beforehand (a sampler draws them for all its steps outside
  its scan); else drawn from ``rng``.
  """
  if u is None:
    u = jax.random.uniform(rng, logits.shape[:-1])
  return categorical_from_uniform(u, filter_logits(logits, temperature, top_k, top_p))


def sample_frame(rng: jax.Array, probs: jax.Array, mode: str = 'bernoulli',
                 threshold: float = 0.5, temperature: float = 1.0) -> jax.Array:
  """A multi-hot frame ``[..., keys]`` in {0, 1} from per-key probabilities.

  ``mode``: 'threshold' (on where p > threshold) or 'bernoulli' (the log's "binomial" sampling;
  ``temperature`` rescales the logit: p' = sigmoid(logit(p) / T)).
  """
  if mode == 'threshold':
    return (probs > threshold).astype(jnp.float32)
  if mode == 'bernoulli':
    p = probs
    if temperature != 1.0:
      logit = jnp.log(jnp.clip(p, 1e-7, 1 - 1e-7)) - jnp.log1p(-jnp.clip(p, 1e-7, 1 - 1e-7))
      p = jax.nn.sigmoid(logit / temperature)
    return jax.random.bernoulli(rng, p).astype(jnp.float32)
  raise ValueError(f'frame sampling mode {mode!r}: expected threshold or bernoulli')


def apply_max_sustain(frame: jax.Array, held: jax.Array, max_sustain: int) -> tuple[jax.Array,
                                                                                   jax.Array]:
  """Releases keys held for ``max_sustain`` frames (the log's 09/16 sustain limit).

  ``held`` ``[..., keys]`` counts consecutive frames each key has sounded before this one.
  Returns the new frame and the updated counters. ``max_sustain`` <= 0 disables it.
  """
  if max_sustain <= 0:
    return frame, jnp.where(frame > 0, held + 1, 0)
  frame = jnp.where(held >= max_sustain, 0.0, frame)
  return frame, jnp.where(frame > 0, held + 1, 0)


def feedback_noise(rng: jax.Array, frame: jax.Array, noise: float) -> jax.Array:
  """Noise on the fed-back frame (the log's 09/16 "add noise"): flips each key with prob ``noise``."""
  if noise <= 0:
    return frame
  flip = jax.random.bernoulli(rng, noise, frame.shape)
  return jnp.where(flip, 1.0 - frame, frame)


def hold_counts(primer: jax.Array) -> jax.Array:
  """How many frames each key has sounded without a break at the end of ``primer [B, K, ...]``:
  ``int32 [B, ...]`` (the counters :func:`apply_max_sustain` continues from)."""
  def count(held, frame):
    return jnp.where(frame > 0, held + 1, 0), None
  held, _ = jax.lax.scan(count, jnp.zeros(primer.shape[:1] + primer.shape[2:], jnp.int32),
                         jnp.swapaxes(primer, 0, 1))
  return held


def sample_frames(draw, advance, model_state, primer: jax.Array, rng: jax.Array, length: int,
                  max_sustain: int = 0, noise: float = 0.0) -> jax.Array:
  """``primer [B, K, ...]`` -> ``[B, K + length, ...]``: ``length`` frames drawn one after another
  in one ``lax.scan``.

  ``model_state`` is the model after reading the primer (any pytree); ``draw(key, model_state)``
  gives the next frame ``[B, ...]`` in {0, 1}, ``advance(model_state, fed)`` reads the frame fed
  back. Each step splits its key into ``(draw key, noise key)``; the drawn frame loses the keys
  held for ``max_sustain`` frames (:func:`apply_max_sustain`) and is fed back with ``noise``
  (:func:`feedback_noise`).
  """
  def body(state, key):
    model_state, held = state
    k_sample, k_noise = jax.random.split(key)
    frame = draw(k_sample, model_state)
    frame, held = apply_max_sustain(frame, held, max_sustain)
    fed = feedback_noise(k_noise, frame, noise) if noise else frame
    return (advance(model_state, fed), held), frame

  keys = jax.random.split(rng, length)
  _, frames = jax.lax.scan(body, (model_state, hold_counts(primer)), keys)
  return jnp.concatenate([primer, jnp.swapaxes(frames, 0, 1)], axis=1)
