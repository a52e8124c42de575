"""Sequence autoencoders of the log (10/22, 10/26) and their variational form (VRAE / MusicVAE).

:class:`SeqAE` encodes a sequence with a stacked LSTM to a code ``z`` and decodes it with another
stacked LSTM whose initial state is made from ``z`` (optionally ``z`` is also joined to every
decoder input), followed by the decision layer (a dense layer to the outputs). Two codings:

* ``vocab_size > 0``: token ids ``[batch, time]`` (events), a softmax over the vocabulary. The
  decoder's inputs are ``<start>`` (id ``vocab_size``) then the previous tokens; word dropout
  replaces an input by ``<drop>`` (id ``vocab_size + 1``).
* ``keys > 0``: multi-hot frames ``[batch, time, keys]`` (aligned chord steps), independent
  sigmoids.
  The decoder's input is the previous frame plus two flag channels, ``start`` and ``dropped`` (a
  dropped frame is all zeros with the flag set).

``variational=True`` makes the code a diagonal Gaussian posterior ``(mu, logvar)``; training
samples ``z = mu + sigma * eps`` and adds the KL to the standard normal prior
(:func:`kl_to_standard_normal`). Generation decodes free-running with :func:`free_run`: each output
of the decision layer (its argmax or a draw) is fed back as the next input, which is what the log's
custom ``GreedyEmbeddingDecisionHelper`` fixed (10/22: the stock helper fed back the raw RNN
output).

  model = SeqAE(vocab_size=V, embed_dim=64, encoder=(256,), decoder=(256,), code_dim=128)
  mu, logvar = model.apply(v, tokens, mask, method=SeqAE.encode)
  logits = model.apply(v, mu, tokens, method=SeqAE.teacher_forced)
  out, logits = free_run(model, params, mu, length=400, rng=key, greedy=True)
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from dsjax import losses
from dsjax.nn.recurrent import LSTMStack


def kl_to_standard_normal(mu: jax.Array, logvar: jax.Array) -> jax.Array:
  """``KL(N(mu, exp(logvar)) || N(0, I))`` in nats, summed over the last axis:
  ``0.5 * sum(mu^2 + exp(logvar) - 1 - logvar)``."""
  return 0.5 * jnp.sum(mu ** 2 + jnp.exp(logvar) - 1.0 - logvar, axis=-1)


class SeqAE(nn.Module):
  """LSTM encoder -> code -> LSTM decoder with a decision layer (see the module docstring)."""
  vocab_size: int = 0
  keys: int = 0
  embed_dim: int = 64
  encoder: Sequence[int] = (256,)
  decoder: Sequence[int] = (256,)
  code_dim: int = 128
  variational: bool = False
  code_every_step: bool = False

  def setup(self):
    if (self.vocab_size > 0) == (self.keys > 0):
      raise ValueError('SeqAE: give exactly one of vocab_size (tokens) and keys (multi-hot frames)')
    if self.tokens:
      # <start> and <drop> are inputs only: the decision layer never predicts them.
      self.embed = nn.Embed(self.vocab_size + 2, self.embed_dim, name='embed')
    self.enc = LSTMStack(tuple(self.encoder), name='encoder')
    self.dec = LSTMStack(tuple(self.decoder), name='decoder')
    self.to_code = nn.Dense(2 * self.code_dim if self.variational else self.code_dim,
                            name='to_code')
    self.to_state = nn.Dense(2 * sum(self.decoder), name='to_state')
    self.head = nn.Dense(self.vocab_size or self.keys, name='head')

  @property
  def tokens(self) -> bool:
    return self.vocab_size > 0

  @property
  def start_id(self) -> int:
    return self.vocab_size

  @property
  def drop_id(self) -> int:
    return self.vocab_size + 1

  # -- encoder --------------------------------------------------------------------------------
  def encode(self, x, mask=None):
    """``x`` (tokens ``[B, T]`` or frames ``[B, T, keys]``), ``mask [B, T]`` (a valid prefix) ->
    ``(mu [B, code], logvar [B, code] or None)``. The code comes from the encoder's last layer's
    ``(h, c)`` at each row's last real step."""
    if self.tokens:
      _, carry = self.enc(None, mask=mask, tokens=x, embedding=self.embed.embedding)
    else:
      _, carry = self.enc(x.astype(jnp.float32), mask=mask)
    h, c = carry[-1]
    out = self.to_code(jnp.concatenate([h, c], axis=-1))
    if not self.variational:
      return out, None
    mu, logvar = jnp.split(out, 2, axis=-1)
    return mu, logvar

  # -- decoder --------------------------------------------------------------------------------
  def initial_carry(self, z):
    """The decoder's ``((h, c), ...)`` per layer: ``tanh(Dense(z))`` split by layer."""
    flat = jnp.tanh(self.to_state(z))
    carry, i = [], 0
    for h in self.decoder:
      carry.append((flat[:, i:i + h], flat[:, i + h:i + 2 * h]))
      i += 2 * h
    return tuple(carry)

  def start_input(self, batch: int):
    """The decoder's first input: ``<start>`` ids ``[B]`` or a start frame ``[B, keys + 2]``."""
    if self.tokens:
      return jnp.full((batch,), self.start_id, jnp.int32)
    return jnp.zeros((batch, self.keys + 2), jnp.float32).at[:, self.keys].set(1.0)

  def as_input(self, outputs):
    """Decoder inputs for given outputs (ids ``[...]`` or frames ``[..., keys]``)."""
    if self.tokens:
      return outputs.astype(jnp.int32)
    flags = jnp.zeros(outputs.shape[:-1] + (2,), jnp.float32)
    return jnp.concatenate([outputs.astype(jnp.float32), flags], axis=-1)

  def shifted_inputs(self, targets, drop=None):
    """Teacher-forcing inputs ``[<start>, y_1, ..., y_{T-1}]`` for ``targets [B, T(, keys)]``;
    ``drop [B, T]`` (bool) replaces those inputs by ``<drop>`` (never the start)."""
    b = targets.shape[0]
    inputs = jnp.concatenate([self.start_input(b)[:, None], self.as_input(targets[:, :-1])],
                             axis=1)
    if drop is None:
      return inputs
    drop = drop.at[:, 0].set(False)
    if self.tokens:
      return jnp.where(drop, self.drop_id, inputs)
    dropped = jnp.zeros_like(inputs).at[..., self.keys + 1].set(1.0)
    return jnp.where(drop[..., None], dropped, inputs)

  def decode(self, z, inputs, carry=None):
    """Decoder logits ``[B, T, outputs]`` for decoder ``inputs`` (ids or input frames) from code
    ``z [B, code]`` (or from ``carry``, to continue). Returns ``(logits, carry)``."""
    if carry is None:
      carry = self.initial_carry(z)
    t = inputs.shape[1]
    extra = None
    if self.code_every_step:
      extra = jnp.broadcast_to(z[:, None].astype(jnp.float32), (z.shape[0], t, z.shape[-1]))
    if self.tokens:
      y, carry = self.dec(extra, carry, tokens=inputs, embedding=self.embed.embedding)
    else:
      x = inputs if extra is None else jnp.concatenate([inputs, extra], axis=-1)
      y, carry = self.dec(x, carry)
    return self.head(y), carry

  def teacher_forced(self, z, targets, drop=None):
    """Logits ``[B, T, outputs]`` of ``targets`` given the true previous items (teacher forcing)."""
    return self.decode(z, self.shifted_inputs(targets, drop))[0]

  def __call__(self, x, mask=None, rng=None, drop=None):
    """``(logits, mu, logvar)``: encode ``x``, take ``z`` (a posterior draw with ``rng`` when
    variational, else the mean), decode it teacher forced."""
    mu, logvar = self.encode(x, mask)
    z = mu
    if self.variational and rng is not None:
      z = mu + jnp.exp(0.5 * logvar) * jax.random.normal(rng, mu.shape)
    return self.teacher_forced(z, x, drop), mu, logvar


def reconstruction_nll(model: SeqAE, logits, targets):
  """Per-step NLL ``[B, T]`` (nats): token cross-entropy, or the Bernoulli NLL summed over keys."""
  if model.tokens:
    return losses.token_nll(logits, targets)
  return losses.frame_nll(logits, targets)


def free_run(model: SeqAE, params, z, *, length: int, rng=None, greedy: bool = True,
             temperature: float = 1.0, targets=None):
  """Decodes ``length`` steps from codes ``z [B, code]``, feeding each output of the decision layer
  back as the next input (jit with ``model``, ``length`` and ``greedy`` static).

  ``greedy``: argmax of the softmax, or keys whose sigmoid exceeds 1/2; else a draw at
  ``temperature`` (logits divided by it) from ``rng``. Returns ``(outputs, logits)``: ids
  ``[B, length]`` (int32) or frames ``[B, length, keys]`` (float32 in {0, 1}), and the decoder's
  logits at every step ``[B, length, outputs]``. With ``targets``, also the per-step NLL ``[B,
  length]`` of those targets under the free-running decoder (its own history fed back).
  """
  if not greedy and rng is None:
    raise ValueError('free_run: greedy=False draws its outputs and needs rng')
  variables = {'params': params}
  b = z.shape[0]
  carry = model.apply(variables, z, method=SeqAE.initial_carry)
  first = model.apply(variables, b, method=SeqAE.start_input)
  keys = (jax.random.split(rng, length) if rng is not None
          else jnp.zeros((length, 2), jnp.uint32))

  def pick(logits, key):
    if model.tokens:
      if greedy:
        return jnp.argmax(logits, -1).astype(jnp.int32)
      return jax.random.categorical(key, logits / temperature).astype(jnp.int32)
    if greedy:
      return (logits > 0).astype(jnp.float32)
    return jax.random.bernoulli(key, jax.nn.sigmoid(logits / temperature)).astype(jnp.float32)

  def body(state, key):
    carry, fed = state
    logits, carry = model.apply(variables, z, fed[:, None], carry, method=SeqAE.decode)
    logits = logits[:, 0]
    out = pick(logits, key)
    fed = model.apply(variables, out, method=SeqAE.as_input)
    return (carry, fed), (out, logits)

  _, (outs, logits) = jax.lax.scan(body, (carry, first), keys)
  outs = jnp.moveaxis(outs, 0, 1)
  logits = jnp.moveaxis(logits, 0, 1)
  if targets is None:
    return outs, logits
  return outs, logits, reconstruction_nll(model, logits, targets)
