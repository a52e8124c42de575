"""Sampling strategies of the research log, as pure jittable functions.

Events (categorical): temperature, top-k, top-p (nucleus).
Multi-hot frames (independent Bernoulli per key): threshold, Bernoulli ("binomial") sampling,
noise on the fed-back frame, maximum sustain, and :func:`sample_frames`, the autoregressive scan
over time that every roll model samples with. :class:`FeedbackTricks` holds the log's other
generation tricks of 09/16 to 09/18 (random input on silence, multiplicative noise on the fed-back
frame, random resets and random decay of the recurrent state), which :func:`sample_frames` applies.
"""

from __future__ import annotations

import dataclasses
import math

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


def _pair(value, name: str) -> tuple[float, float] | None:
  """``None``, ``()``, ``(a, b)`` or ``'a,b'`` -> ``None`` or ``(a, b)`` with finite
  ``0 <= a <= b``."""
  if value is None:
    return None
  try:
    parts = value.split(',') if isinstance(value, str) else list(value)
    if not parts:
      return None
    a, b = (float(v) for v in parts)
  except (TypeError, ValueError):
    raise ValueError(f'{name}={value!r}: expected two numbers a,b') from None
  if not (math.isfinite(a) and math.isfinite(b) and 0 <= a <= b):
    raise ValueError(f'{name}={value!r}: expected finite 0 <= a <= b')
  return (a, b)


def _probability(value, name: str) -> float:
  try:
    v = float(value)
  except (TypeError, ValueError):
    v = math.nan
  if not (math.isfinite(v) and 0 <= v <= 1):
    raise ValueError(f'{name}={value!r}: must be a probability in [0, 1]')
  return v


@dataclasses.dataclass(frozen=True)
class FeedbackTricks:
  """The log's generation tricks for roll models (09/16 to 09/18), applied at every step of
  :func:`sample_frames` after the frame is drawn (the emitted frame is never changed; only what the
  model reads next):

  * ``silence_random`` = p: when the drawn frame is silent (no key on; for a multi-voice frame, no
    key of any voice), the model is fed a random
    Bernoulli(p) frame instead (09/16: "dive into silence ... randomize the input when silent");
    0 = off. The original fed back ``note / max(note)``, the probabilities scaled to a peak of 1.
  * ``noise_scale`` = (a, b): the fed-back frame is multiplied key by key by U(a, b) noise (the
    original's ``note * U(0.5, 2.0)``; 09/17 "noise=(0.5, 2.0)"); None = off.
  * ``state_reset_prob`` = p: at each step, each sample's recurrent state is zeroed with
    probability p (a fresh start from the frame fed back, the original's ``reset_generator``
    at random times); 0 = off.
  * ``state_decay`` = (a, b): at each step, each sample's recurrent state is multiplied by one
    U(a, b) factor (09/18 "add random decay in the generation: random connection of pieces":
    the state forgets at a random rate); None = off.

  Values are checked when made (a ValueError names the field); pairs may be given as ``'a,b'``.
  """
  silence_random: float = 0.0
  noise_scale: tuple[float, float] | None = None
  state_reset_prob: float = 0.0
  state_decay: tuple[float, float] | None = None

  def __post_init__(self):
    set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731  (frozen)
    set_('silence_random', _probability(self.silence_random, 'silence_random'))
    set_('state_reset_prob', _probability(self.state_reset_prob, 'state_reset_prob'))
    set_('noise_scale', _pair(self.noise_scale, 'noise_scale'))
    set_('state_decay', _pair(self.state_decay, 'state_decay'))

  @property
  def active(self) -> bool:
    return bool(self.silence_random or self.noise_scale or self.state_reset_prob
                or self.state_decay)

  @property
  def touch_state(self) -> bool:
    return bool(self.state_reset_prob or self.state_decay)


def apply_feedback_tricks(rng: jax.Array, tricks: FeedbackTricks, frame: jax.Array,
                          fed: jax.Array, carry):
  """``(fed, carry)`` after ``tricks``: ``frame [B, ...]`` is the drawn frame, ``fed`` what would
  be fed back, ``carry`` the recurrent state (a pytree of ``[..., B, features]`` arrays, as
  recurrent cells keep them: ``[B, H]``, or ``[voices, B, H]`` for per-voice stacks)."""
  k_silent, k_scale, k_decay, k_reset = jax.random.split(rng, 4)
  rows = frame.shape[0]

  def per_row(x, leaf, axis=0):   # [B] -> broadcastable against leaf, B on ``axis``
    shape = [1] * leaf.ndim
    shape[axis] = rows
    return x.reshape(shape)

  def batch_axis(leaf):
    return leaf.ndim - 2

  if tricks.silence_random:
    silent = ~jnp.any(frame.reshape(rows, -1) > 0, axis=-1)
    noise = jax.random.bernoulli(k_silent, tricks.silence_random, fed.shape).astype(fed.dtype)
    fed = jnp.where(per_row(silent, fed), noise, fed)
  if tricks.noise_scale:
    a, b = tricks.noise_scale
    fed = fed * jax.random.uniform(k_scale, fed.shape, fed.dtype, a, b)
  if tricks.touch_state:
    for leaf in jax.tree_util.tree_leaves(carry):
      if leaf.ndim < 2 or leaf.shape[-2] != rows:
        raise ValueError(f'state_reset_prob / state_decay: the recurrent state has a leaf of shape '
                         f'{leaf.shape}, not [..., {rows}, features] (one row per sample)')
    if tricks.state_decay:
      a, b = tricks.state_decay
      factor = jax.random.uniform(k_decay, (rows,), jnp.float32, a, b)
      carry = jax.tree_util.tree_map(
          lambda x: x * per_row(factor, x, batch_axis(x)).astype(x.dtype), carry)
    if tricks.state_reset_prob:
      reset = jax.random.bernoulli(k_reset, tricks.state_reset_prob, (rows,))
      carry = jax.tree_util.tree_map(
          lambda x: jnp.where(per_row(reset, x, batch_axis(x)), 0, x), carry)
  return fed, carry


def sample_frames(draw, advance, model_state, primer: jax.Array, rng: jax.Array, length: int,
                  max_sustain: int = 0, noise: float = 0.0,
                  tricks: FeedbackTricks = FeedbackTricks()) -> jax.Array:
  """``primer [B, K, ...]`` -> ``[B, K + length, ...]``: ``length`` frames drawn one after another
  in one ``lax.scan``.

  ``model_state`` is the model after reading the primer (any pytree; with ``tricks`` that touch
  the state, a tuple whose first item is the recurrent state, every leaf ``[..., B, features]``);
  ``draw(key, model_state)`` gives the next frame ``[B, ...]`` in {0, 1}, ``advance(model_state,
  fed)`` reads the frame fed back. Each step splits its key into ``(draw key, noise key)``; the
  drawn frame loses the keys held for ``max_sustain`` frames (:func:`apply_max_sustain`) and is
  fed back with ``noise`` (:func:`feedback_noise`), then through ``tricks``
  (:func:`apply_feedback_tricks`, with a third key split from the step's key, so that turning
  tricks on leaves the other draws' keys as they were).
  """
  def body(state, key):
    model_state, held = state
    # With jax's partitionable threefry (the default), split(key, 3)[:2] == split(key, 2): the
    # third key is new and the draws without tricks keep their keys.
    k_sample, k_noise, k_tricks = jax.random.split(key, 3)
    frame = draw(k_sample, model_state)
    frame, held = apply_max_sustain(frame, held, max_sustain)
    fed = feedback_noise(k_noise, frame, noise) if noise else frame
    if tricks.active:
      fed, carry = apply_feedback_tricks(k_tricks, tricks, frame, fed,
                                         model_state[0] if tricks.touch_state else None)
      if tricks.touch_state:
        model_state = (carry,) + tuple(model_state[1:])
    return (advance(model_state, fed), held), frame

  keys = jax.random.split(rng, length)
  _, frames = jax.lax.scan(body, (model_state, hold_counts(primer)), keys)
  return jnp.concatenate([primer, jnp.swapaxes(frames, 0, 1)], axis=1)
