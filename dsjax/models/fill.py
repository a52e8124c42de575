"""The finish-me-with-beats fill model (log 04/26/2018, the "000" model) and its melody tokens.

A melody is one token per grid step (:data:`SILENCE` = nothing sounds, :data:`SUSTAIN` = the note
sounding at the previous step goes on, ``ATTACK + k`` = a note of key ``k`` starts), so a sequence
of ``[T]`` int tokens of ``2 + keys`` ids. Its rhythm ("silence + attack", :func:`rhythm_of`) keeps
only the kind of each step: :data:`R_SILENCE`, :data:`R_ATTACK`, :data:`R_SUSTAIN` (and
:data:`R_PAD` past the end of a gap).

:class:`FillModel` (``arch='fill'``), as the log draws it::

  preceding context (only melody) => context vector     LSTM over the context tokens, Dense, tanh
  provide silence + attack        => structure vector   bidirectional LSTM over the gap's rhythm
  context + structure             => fill me            LSTM decoder, one token per gap step

The decoder starts from a state made from both vectors and reads, at gap step ``t``, the token it
put at ``t - 1`` (the last context token at ``t = 0``), the structure encoder's output at ``t`` and
both vectors. It never sees the gap's pitches: its inputs are the context tokens and the gap's
rhythm (the teacher-forced pass of training reads the true previous gap tokens, as any
autoregressive decoder does; :func:`fill_tokens`, the fill itself, reads only its own).

``arch='lm'`` is the unconditioned baseline: one LSTM language model over the same tokens that
continues the context without knowing the gap's rhythm.

Pure functions: :func:`rhythm_of`, :func:`sounding_keys` (the key sounding at each step),
:func:`choose` (a token from logits, with the rhythm forced or not) and :func:`fill_tokens` (the
greedy or sampled fill in one ``lax.scan``)::

  model = FillModel(vocab=90, arch='fill')
  params = model.init(key, context, rhythm, prev)['params']
  tokens = fill_tokens(model, params, context, rhythm, rng, temperature=0.0, constrained=True)
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from dsjax.nn.recurrent import LSTM, Bidirectional, LSTMStack

SILENCE, SUSTAIN, ATTACK = 0, 1, 2          # token ids; ATTACK + k = a note of key k starts
R_SILENCE, R_ATTACK, R_SUSTAIN, R_PAD = 0, 1, 2, 3   # rhythm ids
ARCHS = ('fill', 'lm')


def rhythm_of(tokens: jax.Array, valid: jax.Array | None = None) -> jax.Array:
  """Melody tokens ``[..., T]`` -> rhythm ids ``[..., T]`` (``R_PAD`` where ``valid`` is 0)."""
  r = jnp.where(tokens >= ATTACK, R_ATTACK, jnp.where(tokens == SUSTAIN, R_SUSTAIN, R_SILENCE))
  return r if valid is None else jnp.where(valid > 0, r, R_PAD)


def sounding_keys(tokens: jax.Array) -> jax.Array:
  """The key sounding at each step of melody tokens ``[..., T]`` (-1 = none): a sustain carries
  the last attacked key on, a silence ends it (a sustain after a silence sounds nothing)."""
  t = jnp.arange(tokens.shape[-1])
  last = jax.lax.cummax(jnp.where(tokens != SUSTAIN, t, -1), axis=tokens.ndim - 1)
  at_last = jnp.take_along_axis(tokens, jnp.maximum(last, 0), axis=-1)
  return jnp.where((last >= 0) & (at_last >= ATTACK), at_last - ATTACK, -1)


def choose(logits: jax.Array, rhythm: jax.Array, rng: jax.Array | None, temperature: float,
           constrained: bool) -> jax.Array:
  """A token per row from ``logits [B, V]``: greedy (``temperature`` 0) or drawn. ``constrained``:
  the rhythm ``[B]`` decides silence and sustain, and the pitch is chosen among the attacks only;
  otherwise any token (the rhythm only conditions the model). Padded steps give ``SILENCE``."""
  if temperature > 0:
    logits = logits / temperature + jax.random.gumbel(rng, logits.shape, logits.dtype)
  attack = ATTACK + jnp.argmax(logits[:, ATTACK:], axis=-1)
  if constrained:
    tok = jnp.where(rhythm == R_ATTACK, attack, jnp.where(rhythm == R_SUSTAIN, SUSTAIN, SILENCE))
  else:
    tok = jnp.argmax(logits, axis=-1)
  return jnp.where(rhythm == R_PAD, SILENCE, tok).astype(jnp.int32)


class FillModel(nn.Module):
  """Context encoder + structure encoder + decoder (``arch='fill'``) or a melody LM (``'lm'``).

  ``vocab``: ``2 + keys`` token ids. Widths: ``embed_dim`` (tokens), ``rhythm_dim`` (rhythm ids),
  ``context_hidden`` / ``context_dim`` (the context LSTM and its vector, 256 as the log's),
  ``structure_hidden`` (each direction) / ``structure_dim``, ``decoder_hidden`` (the decoder's
  LSTM stack; the LM's stack too).
  """
  vocab: int
  arch: str = 'fill'
  embed_dim: int = 64
  rhythm_dim: int = 16
  context_hidden: Sequence[int] = (256,)
  context_dim: int = 256
  structure_hidden: int = 128
  structure_dim: int = 128
  decoder_hidden: Sequence[int] = (256,)

  def setup(self):
    if self.arch not in ARCHS:
      raise ValueError(f'arch={self.arch!r}: expected one of {ARCHS}')
    self.embed = nn.Embed(self.vocab, self.embed_dim)
    self.decoder = LSTMStack(tuple(self.decoder_hidden))
    self.head = nn.Dense(self.vocab)
    if self.arch == 'fill':
      self.rhythm_embed = nn.Embed(4, self.rhythm_dim)
      self.context_rnn = LSTMStack(tuple(self.context_hidden))
      self.context_out = nn.Dense(self.context_dim)
      self.structure_rnn = Bidirectional(LSTM(self.structure_hidden),
                                         LSTM(self.structure_hidden))
      self.structure_out = nn.Dense(self.structure_dim)
      self.init_state = nn.Dense(sum(self.decoder_hidden))

  # -- arch 'fill' ----------------------------------------------------------------------------
  def context_vector(self, context: jax.Array) -> jax.Array:
    """Context tokens ``[B, C]`` (silence-padded on the left) -> ``[B, context_dim]``."""
    y, _ = self.context_rnn(self.embed(context))
    return jnp.tanh(self.context_out(y[:, -1]))

  def structure(self, rhythm: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Gap rhythm ``[B, G]`` (``R_PAD`` after each gap's end) -> per-step features
    ``[B, G, 2 * structure_hidden]`` and the structure vector ``[B, structure_dim]``."""
    mask = rhythm != R_PAD
    feats, ((h_f, _), (h_b, _)) = self.structure_rnn(self.rhythm_embed(rhythm), mask=mask)
    return feats, jnp.tanh(self.structure_out(jnp.concatenate([h_f, h_b], -1)))

  def start(self, ctx: jax.Array, svec: jax.Array):
    """The decoder's first state: ``h`` of each layer from both vectors (tanh), ``c = 0``."""
    h = jnp.tanh(self.init_state(jnp.concatenate([ctx, svec], -1)))
    carry, at = [], 0
    for width in self.decoder_hidden:
      carry.append((h[:, at:at + width], jnp.zeros_like(h[:, at:at + width])))
      at += width
    return tuple(carry)

  def decode(self, prev: jax.Array, feats: jax.Array, ctx: jax.Array, svec: jax.Array, carry):
    """Decoder steps: previous tokens ``[B, G]``, structure features ``[B, G, F]`` -> logits
    ``[B, G, vocab]`` and the carry (``G = 1``: one step of a scan)."""
    g = prev.shape[1]
    both = jnp.concatenate([ctx, svec], -1)[:, None, :]
    x = jnp.concatenate([self.embed(prev), feats, jnp.broadcast_to(
        both, (both.shape[0], g, both.shape[-1]))], -1)
    y, carry = self.decoder(x, carry)
    return self.head(y), carry

  # -- arch 'lm' ------------------------------------------------------------------------------
  def lm(self, tokens: jax.Array, carry=None):
    """Next-token logits ``[B, L, vocab]`` after each of ``tokens [B, L]``, and the carry."""
    y, carry = self.decoder(self.embed(tokens), carry)
    return self.head(y), carry

  def __call__(self, context: jax.Array, rhythm: jax.Array, prev: jax.Array) -> jax.Array:
    """Teacher-forced logits of the gap ``[B, G, vocab]``: ``context [B, C]``, the gap's rhythm
    ``[B, G]`` and the tokens before each gap step ``prev [B, G]`` (``prev[:, 0]`` the last
    context token). The LM reads the context, then ``prev[:, 1:]``, and never the rhythm."""
    if self.arch == 'lm':
      logits, _ = self.lm(jnp.concatenate([context, prev[:, 1:]], axis=1))
      return logits[:, context.shape[1] - 1:]
    ctx = self.context_vector(context)
    feats, svec = self.structure(rhythm)
    logits, _ = self.decode(prev, feats, ctx, svec, self.start(ctx, svec))
    return logits


def fill_tokens(model: FillModel, params, context: jax.Array, rhythm: jax.Array,
                rng: jax.Array, temperature: float = 0.0, constrained: bool = True) -> jax.Array:
  """The fill ``int32 [B, G]`` of gaps with rhythm ``[B, G]`` after ``context [B, C]``, each
  token fed back (one ``lax.scan``). Reads the context and the rhythm only; ``constrained``:
  the rhythm is kept exactly (:func:`choose`). The LM ignores the rhythm unless constrained."""
  v = {'params': params}
  b, g = rhythm.shape
  keys = jax.random.split(rng, g)
  if model.arch == 'lm':
    logits, carry = model.apply(v, context, method=FillModel.lm)

    def lm_step(state, inp):
      carry, logits = state
      r, k = inp
      tok = choose(logits, r, k, temperature, constrained)
      out, carry = model.apply(v, tok[:, None], carry, method=FillModel.lm)
      return (carry, out[:, 0]), tok

    _, toks = jax.lax.scan(lm_step, (carry, logits[:, -1]), (rhythm.T, keys))
    return toks.T

  ctx = model.apply(v, context, method=FillModel.context_vector)
  feats, svec = model.apply(v, rhythm, method=FillModel.structure)
  carry = model.apply(v, ctx, svec, method=FillModel.start)

  def step(state, inp):
    carry, prev = state
    f, r, k = inp
    logits, carry = model.apply(v, prev[:, None], f[:, None], ctx, svec, carry,
                                method=FillModel.decode)
    tok = choose(logits[:, 0], r, k, temperature, constrained)
    return (carry, tok), tok

  _, toks = jax.lax.scan(step, (carry, context[:, -1].astype(jnp.int32)),
                         (jnp.swapaxes(feats, 0, 1), rhythm.T, keys))
  return toks.T
