"""The continuous (quantised-code) autoencoder of the log (10/29, 10/30, 11/01) and its code space.

A song of aligned chord steps (multi-hot ``[T, keys]``) is cut into sub-sequences of ``m`` steps;
:class:`ContinuousAE` encodes each sub-sequence ``x [N, m, keys]`` to a code ``c [N, code_dim]``
and decodes a code back to ``m`` frames::

  model = ContinuousAE(keys=88, subseq_len=8, code_dim=64, quantizer='ternary', beta=10.0)
  c = model.apply(v, x, method=ContinuousAE.encode)            # sigmoid(beta * z) in (0, 1)
  q = quantize(c, 'ternary')                                    # nearest of {0, 0.5, 1}
  logits = model.apply(v, q, x, method=ContinuousAE.decode_logits)   # teacher forced
  frames = model.apply(v, q, rng, method=ContinuousAE.decode_free)   # free running, {0, 1}

Architectures (``arch``):

* ``'rnn'`` (10/29): an RNN encoder (GRU or LSTM stack; the code is a dense layer on its last
  state) and an RNN decoder whose layers start from states made from the code (one dense layer,
  tanh), fed the previous frame (zeros at the first step) and read out by a dense decision layer
  ``Dense(keys)``. Teacher forced in training; free running (its own thresholded or Bernoulli frame
  fed back) at generation.
* ``'hourglass'`` (11/01): one feed-forward network ``m * keys -> hidden... -> code -> ...hidden ->
  m * keys`` logits (ReLU), no recurrence: the frames of a sub-sequence are independent given the
  code.

Quantisers (``quantizer``): ``'ternary'`` (10/29): ``c = sigmoid(beta z)``, ``q`` the nearest of
{0, 0.5, 1}; ``'sign'`` (CAE2, 10/30): ``c = tanh(beta z)``, ``q = sign(c)`` (+1 at 0).

The code-space functions are pure: :func:`quantize`, :func:`sq_dist`, :func:`continuity_terms`
(the 'hinge', 'plain' and 'mixed' continuity losses), :func:`change_entries` (a walk step: exactly
``flips`` entries moved to another level), :func:`random_walk` (with the original's region-based
reset) and :func:`song_walk`.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from dsjax import sampling
from dsjax.nn.recurrent import GRUStack, LSTMStack

ARCHS = ('rnn', 'hourglass')
CELLS = ('gru', 'lstm')
QUANTIZERS = ('ternary', 'sign')
CONTINUITY = ('hinge', 'plain', 'mixed')


def levels(quantizer: str) -> tuple[float, ...]:
  """The values a quantised code entry takes."""
  if quantizer == 'ternary':
    return (0.0, 0.5, 1.0)
  if quantizer == 'sign':
    return (-1.0, 1.0)
  raise ValueError(f'quantizer {quantizer!r}: expected one of {QUANTIZERS}')


def activate(z: jax.Array, quantizer: str, beta: float) -> jax.Array:
  """The continuous code: ``sigmoid(beta z)`` ('ternary') or ``tanh(beta z)`` ('sign')."""
  if quantizer == 'ternary':
    return jax.nn.sigmoid(beta * z)
  if quantizer == 'sign':
    return jnp.tanh(beta * z)
  raise ValueError(f'quantizer {quantizer!r}: expected one of {QUANTIZERS}')


def quantize(c: jax.Array, quantizer: str) -> jax.Array:
  """The quantised code (no gradient flows through it): the nearest of {0, 0.5, 1}
  ('ternary'), or the sign with +1 at 0 ('sign')."""
  if quantizer == 'ternary':
    q = jnp.clip(jnp.round(2.0 * c), 0.0, 2.0) / 2.0
  elif quantizer == 'sign':
    q = jnp.where(c >= 0, 1.0, -1.0).astype(c.dtype)
  else:
    raise ValueError(f'quantizer {quantizer!r}: expected one of {QUANTIZERS}')
  return jax.lax.stop_gradient(q)


def sq_dist(a: jax.Array, b: jax.Array) -> jax.Array:
  """Squared Euclidean distance over the last axis: ``[..., D] x [..., D] -> [...]``."""
  return jnp.sum(jnp.square(a - b), axis=-1)


def continuity_terms(c: jax.Array, q: jax.Array, kind: str, margin: float = 1.0) -> jax.Array:
  """The continuity loss of consecutive codes ``c, q [B, K, D]`` (sub-sequences in song order),
  one term per position (average them, masked, for the loss):

  * ``'hinge'`` (10/29): ``max(0, d(c_i, c_i+1) - d(c_i, c_i+2) + margin)`` -> ``[B, K - 2]``;
  * ``'plain'`` (10/29 alternative, CAE2 10/30): ``d(c_i, c_i+1)`` -> ``[B, K - 1]``;
  * ``'mixed'`` (11/01): ``d(q_i, c_i+1) + d(c_i, q_i+1)`` with ``q`` held fixed -> ``[B, K - 1]``;

  ``d`` the squared Euclidean distance. 'hinge' and 'plain' read only the unquantised codes
  (follow-up 2: the loss must reach the encoder).
  """
  if kind == 'hinge':
    return jnp.maximum(0.0, sq_dist(c[:, :-2], c[:, 1:-1]) - sq_dist(c[:, :-2], c[:, 2:]) + margin)
  if kind == 'plain':
    return sq_dist(c[:, :-1], c[:, 1:])
  if kind == 'mixed':
    q = jax.lax.stop_gradient(q)
    return sq_dist(q[:, :-1], c[:, 1:]) + sq_dist(c[:, :-1], q[:, 1:])
  raise ValueError(f'continuity {kind!r}: expected one of {CONTINUITY}')


# ------------------------------------------------------------------------------------ the walk


def change_entries(rng: jax.Array, q: jax.Array, flips, quantizer: str) -> jax.Array:
  """``q [..., D]`` with exactly ``min(flips, D)`` entries (distinct, uniformly chosen, per row)
  moved to another quantised level (uniformly among the others). ``flips`` may be traced."""
  lv = jnp.asarray(levels(quantizer), q.dtype)
  n = len(lv)
  k_pick, k_level = jax.random.split(rng)
  u = jax.random.uniform(k_pick, q.shape)
  rank = jnp.argsort(jnp.argsort(u, axis=-1), axis=-1)       # a random permutation per row
  chosen = rank < flips
  index = jnp.argmin(jnp.abs(q[..., None] - lv), axis=-1)     # the level each entry is at
  step = 1 + jax.random.randint(k_level, q.shape, 0, n - 1)   # 1..n-1 levels on, mod n
  return jnp.where(chosen, lv[(index + step) % n], q)


def random_walk(rng: jax.Array, theme: jax.Array, num_codes: int, flips, quantizer: str,
                reset_every: int, reset_prob) -> jax.Array:
  """A walk of ``num_codes`` codes ``[N, num_codes, D]`` from ``theme [N, D]`` (original §3.8).

  Code 0 is the theme. Step ``t`` >= 1 changes ``flips`` entries of code ``t - 1``
  (:func:`change_entries`); then, when ``reset_every`` > 0 and ``t`` is a multiple of it (the
  region-based reset, log 11/05), with probability ``reset_prob`` the walk goes back to the theme
  (code ``t`` is the theme), else the theme becomes the current code.
  """
  def body(carry, inputs):
    theme, current = carry
    t, key = inputs
    k_change, k_reset = jax.random.split(key)
    current = change_entries(k_change, current, flips, quantizer)
    due = (t % max(reset_every, 1) == 0) & (reset_every > 0)
    back = jax.random.bernoulli(k_reset, reset_prob, current.shape[:1])[:, None]
    new_current = jnp.where(due & back, theme, current)
    new_theme = jnp.where(due & ~back, current, theme)
    return (new_theme, new_current), new_current

  if num_codes <= 1:
    return theme[:, None][:, :num_codes]
  keys = jax.random.split(rng, num_codes - 1)
  _, codes = jax.lax.scan(body, (theme, theme), (jnp.arange(1, num_codes), keys))
  return jnp.concatenate([theme[:, None], jnp.swapaxes(codes, 0, 1)], axis=1)


def song_walk(rng: jax.Array, codes: jax.Array, flips, quantizer: str) -> jax.Array:
  """A real song's quantised codes ``[N, n, D]``, each with ``flips`` entries changed at random
  (independently per code); ``flips = 0`` gives the song's own codes."""
  return change_entries(rng, codes, flips, quantizer)


# ----------------------------------------------------------------------------------- the model


class ContinuousAE(nn.Module):
  """Encoder and decoder of ``m``-step sub-sequences ``[N, m, keys]`` (see the module docstring)."""
  keys: int = 88
  subseq_len: int = 8
  code_dim: int = 64
  arch: str = 'rnn'
  cell: str = 'gru'
  encoder_hidden: Sequence[int] = (128,)
  decoder_hidden: Sequence[int] = (128,)
  hourglass_hidden: Sequence[int] = (512, 256)
  quantizer: str = 'ternary'
  beta: float = 10.0

  def setup(self):
    if self.arch not in ARCHS:
      raise ValueError(f'arch {self.arch!r}: expected one of {ARCHS}')
    if self.cell not in CELLS:
      raise ValueError(f'cell {self.cell!r}: expected one of {CELLS}')
    levels(self.quantizer)
    self.code_layer = nn.Dense(self.code_dim, name='code')
    if self.arch == 'rnn':
      stack = GRUStack if self.cell == 'gru' else LSTMStack
      self.encoder = stack(tuple(self.encoder_hidden), name='encoder')
      self.decoder = stack(tuple(self.decoder_hidden), name='decoder')
      per_layer = 1 if self.cell == 'gru' else 2
      self.init_state = nn.Dense(per_layer * sum(self.decoder_hidden), name='init_state')
      self.decision = nn.Dense(self.keys, name='decision')
    else:
      self.encoder_layers = [nn.Dense(h, name=f'enc_{i}')
                             for i, h in enumerate(self.hourglass_hidden)]
      self.decoder_layers = [nn.Dense(h, name=f'dec_{i}')
                             for i, h in enumerate(reversed(tuple(self.hourglass_hidden)))]
      self.decision = nn.Dense(self.subseq_len * self.keys, name='decision')

  def __call__(self, x: jax.Array) -> jax.Array:
    """Teacher-forced logits ``[N, m, keys]`` decoded from the continuous code (for init)."""
    return self.decode_logits(self.encode(x), x)

  # -- encoder ------------------------------------------------------------------------------
  def encode(self, x: jax.Array) -> jax.Array:
    """``x [N, m, keys]`` -> the continuous code ``c [N, code_dim]``."""
    x = x.astype(jnp.float32)
    if self.arch == 'rnn':
      _, carry = self.encoder(x)
      last = carry[-1] if self.cell == 'gru' else carry[-1][0]
      z = self.code_layer(last)
    else:
      h = x.reshape(x.shape[0], -1)
      for layer in self.encoder_layers:
        h = nn.relu(layer(h))
      z = self.code_layer(h)
    return activate(z, self.quantizer, self.beta)

  # -- decoder ------------------------------------------------------------------------------
  def _start(self, code: jax.Array):
    """The decoder stack's starting carry from the code."""
    s = jnp.tanh(self.init_state(code))
    out, at = [], 0
    for h in self.decoder_hidden:
      if self.cell == 'gru':
        out.append(s[:, at:at + h])
        at += h
      else:
        out.append((s[:, at:at + h], s[:, at + h:at + 2 * h]))
        at += 2 * h
    return tuple(out)

  def _hourglass_logits(self, code: jax.Array) -> jax.Array:
    h = code
    for layer in self.decoder_layers:
      h = nn.relu(layer(h))
    return self.decision(h).reshape(code.shape[0], self.subseq_len, self.keys)

  def decode_logits(self, code: jax.Array, x: jax.Array) -> jax.Array:
    """Teacher forced: logits ``[N, m, keys]`` of ``x [N, m, keys]`` given ``code [N, D]``, step
    ``t`` fed frame ``t - 1`` (zeros at ``t = 0``). The hourglass ignores ``x``."""
    if self.arch == 'hourglass':
      return self._hourglass_logits(code)
    x = x.astype(jnp.float32)
    fed = jnp.concatenate([jnp.zeros_like(x[:, :1]), x[:, :-1]], axis=1)
    y, _ = self.decoder(fed, self._start(code))
    return self.decision(y)

  def decode_free(self, code: jax.Array, rng: jax.Array, mode: str = 'threshold',
                  threshold=0.5) -> jax.Array:
    """Free running: frames ``[N, m, keys]`` in {0, 1}, each step fed the frame drawn at the step
    before (``mode`` 'threshold': on where p > ``threshold``; 'bernoulli': sampled)."""
    keys = jax.random.split(rng, self.subseq_len)
    if self.arch == 'hourglass':
      probs = jax.nn.sigmoid(self._hourglass_logits(code))
      return jnp.stack([sampling.sample_frame(keys[t], probs[:, t], mode, threshold)
                        for t in range(self.subseq_len)], axis=1)
    carry = self._start(code)
    frame = jnp.zeros((code.shape[0], self.keys), jnp.float32)
    frames = []
    for t in range(self.subseq_len):          # m is small (a bar): unrolled
      y, carry = self.decoder(frame[:, None], carry)
      probs = jax.nn.sigmoid(self.decision(y[:, 0]))
      frame = sampling.sample_frame(keys[t], probs, mode, threshold)
      frames.append(frame)
    return jnp.stack(frames, axis=1)
