"""Output heads over the keys of one piano-roll frame, conditioned on a time state.

The log (10/21) found that independent sigmoid outputs with a threshold get stuck on a chord, and
proposed treating the notes sounding at one time step as a short sequence of their own. Three heads,
one interface (``K`` keys, ``H`` the time state's width):

- :class:`SigmoidHead`: the factorised head, ``p(v) = prod_k p(v_k | s)`` (today's multi-hot LM).
- :class:`NADEHead`: RNN-NADE (Boulanger-Lewandowski et al. 2012): a NADE over the keys whose
  visible and hidden biases are linear functions of the time state ``s``.
- :class:`PitchRNNHead`: a GRU running across the keys from low to high (the tied-parallel /
  biaxial idea), whose input at key ``k`` is ``[v_{k-1}, a projection of s, a learned key
  embedding]``; the logit of key ``k`` reads its output.

Both autoregressive heads give ``p(v) = prod_k p(v_k | v_<k, s)``: exact likelihoods, no threshold.

Pitch-relative context (the biaxial LSTM's idea, ``context_width = w > 0``): key ``k`` also sees the
previous frame's keys ``k - w .. k + w`` (:func:`pitch_context`) and, for the autoregressive heads,
this frame's keys ``k - w .. k - 1`` already decided (:func:`below_keys`), through weights shared by
all keys, so a voice-leading or chord pattern learnt at one pitch applies at every pitch. The heads
then take the previous frame ``prev [..., K]`` as well.

Every head has:

- ``key_logits(time_state [B, T, H], frames [B, T, K], prev=None) -> [B, T, K]``: the logit of
  ``p(v_k = 1 | v_<k, s)`` for every key, by teacher forcing (all keys in parallel for NADE, one
  ``lax.scan`` over keys with ``B * T`` rows for the pitch RNN). Key ``k``'s logit never depends on
  ``frames[..., k:]``.
- ``log_prob(time_state [B, T, H], frames [B, T, K], prev=None) -> [B, T]``: exact
  ``log p(frame | s)`` (nats).
- ``sample(time_state [B, H], rng, temperature, prev=None) -> [B, K]`` in {0, 1}: a draw from the
  joint distribution of a frame (a ``lax.scan`` over keys for the autoregressive heads), each
  conditional logit divided by ``temperature``.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from dsjax.nn.recurrent import gru_cell

HEADS = ('sigmoid', 'nade', 'pitch_rnn')


def bernoulli_log_prob(logits: jax.Array, frames: jax.Array) -> jax.Array:
  """``sum_k log p(v_k)`` for Bernoulli logits and targets ``[..., K]`` -> ``[...]``."""
  logits = logits.astype(jnp.float32)
  v = frames.astype(jnp.float32)
  return (v * jax.nn.log_sigmoid(logits) + (1.0 - v) * jax.nn.log_sigmoid(-logits)).sum(-1)


def _uniforms(rng: jax.Array, batch: int, keys: int) -> jax.Array:
  """One uniform per key, key-major ``[K, B]`` (scan inputs)."""
  return jax.random.uniform(rng, (keys, batch), jnp.float32)


def _draw(u: jax.Array, logits: jax.Array, temperature) -> jax.Array:
  """``v = 1`` where ``u < sigmoid(logit / T)``, as float32 ``[...]``."""
  t = jnp.maximum(jnp.asarray(temperature, jnp.float32), 1e-6)
  return (u < jax.nn.sigmoid(logits.astype(jnp.float32) / t)).astype(jnp.float32)


def pitch_context(prev: jax.Array, width: int) -> jax.Array:
  """``prev [..., K]`` -> ``[..., K, 2 * width + 1]``: entry ``[..., k, j]`` is key
  ``k + j - width`` of ``prev`` (0 off the keyboard)."""
  keys = prev.shape[-1]
  pad = [(0, 0)] * (prev.ndim - 1) + [(width, width)]
  padded = jnp.pad(prev.astype(jnp.float32), pad)
  return jnp.stack([padded[..., j:j + keys] for j in range(2 * width + 1)], axis=-1)


def below_keys(v: jax.Array, width: int) -> jax.Array:
  """``v [..., K]`` -> ``[..., K, width]``: entry ``[..., k, j]`` is key ``k - 1 - j`` of ``v`` (0
  below the keyboard): the keys of a frame already decided when key ``k`` is, nearest first."""
  keys = v.shape[-1]
  padded = jnp.pad(v, [(0, 0)] * (v.ndim - 1) + [(width, 0)])
  return jnp.stack([padded[..., width - 1 - j:width - 1 - j + keys] for j in range(width)], axis=-1)


class _Head(nn.Module):
  """Shared ``log_prob`` on top of a head's ``key_logits``, and the pitch-relative context."""

  def log_prob(self, time_state, frames, prev=None, *, deterministic: bool = True):
    """Exact ``log p(frames | time_state, prev)`` ``[B, T]`` (nats)."""
    logits = self.key_logits(time_state, frames, prev, deterministic=deterministic)
    return bernoulli_log_prob(logits, frames)

  def _context(self, prev, lead):
    """``[*lead, K, 2w + 1]`` pitch-relative context of ``prev`` (None without one)."""
    width = int(getattr(self, 'context_width', 0))
    if width <= 0:
      return None
    if prev is None:
      raise ValueError(f'{type(self).__name__}(context_width={width}) needs the previous frame '
                       '(prev [..., keys])')
    if prev.shape[-1] != self.keys or prev.shape[:-1] != tuple(lead):
      raise ValueError(f'prev: expected shape {tuple(lead) + (self.keys,)}, got {prev.shape}')
    return pitch_context(prev, width)


class SigmoidHead(_Head):
  """Independent Bernoulli keys: ``logits = s @ kernel + bias``.

  Parameters ``kernel [H, K]`` and ``bias [K]`` (the same names and shapes as ``nn.Dense``, so
  checkpoints of the earlier multi-hot LM load unchanged).
  """
  keys: int
  context_width: int = 0

  @nn.compact
  def logits(self, time_state, prev=None):
    """``time_state [..., H]`` (and ``prev [..., K]``) -> per-key logits ``[..., K]``."""
    kernel = self.param('kernel', nn.initializers.lecun_normal(),
                        (time_state.shape[-1], self.keys))
    bias = self.param('bias', nn.initializers.zeros, (self.keys,))
    out = jnp.dot(time_state, kernel) + bias
    ctx = self._context(prev, time_state.shape[:-1])
    if ctx is not None:
      out = out + ctx @ self.param('context', nn.initializers.zeros, (ctx.shape[-1],))
    return out

  def key_logits(self, time_state, frames, prev=None, *, deterministic: bool = True):
    del frames, deterministic
    return self.logits(time_state, prev)

  def sample(self, time_state, rng, temperature=1.0, prev=None):
    """``time_state [B, H]`` -> ``[B, K]``: every key drawn independently."""
    logits = self.logits(time_state, prev)
    u = jax.random.uniform(rng, logits.shape, jnp.float32)
    return _draw(u, logits, temperature)


class NADEHead(_Head):
  """RNN-NADE output: for key ``k``, ``h_k = sigmoid(c(s) + sum_{j<k} v_j W[j])`` and
  ``logit_k = b(s)_k + h_k . V[:, k]`` with ``b(s) = s @ B_v + b_v`` and ``c(s) = s @ B_h + b_h``.

  Parameters: ``W [K, hidden]``, ``V [hidden, K]`` and the two bias maps ``visible_bias``
  (``Dense(K)``) and ``hidden_bias`` (``Dense(hidden)``).
  Teacher forcing: the hidden pre-activations of all keys are one exclusive cumulative sum over
  keys (``[B, T, K, hidden]``).
  """
  keys: int
  hidden: int = 128
  context_width: int = 0

  def setup(self):
    init = nn.initializers.normal(0.05)
    self.w = self.param('W', init, (self.keys, self.hidden))
    self.v = self.param('V', init, (self.hidden, self.keys))
    self.visible_bias = nn.Dense(self.keys, name='visible_bias')
    self.hidden_bias = nn.Dense(self.hidden, name='hidden_bias')
    if self.context_width > 0:
      self.context = self.param('context', nn.initializers.zeros, (2 * self.context_width + 1,))
      self.below = self.param('below', nn.initializers.zeros, (self.context_width,))

  def _visible_bias(self, time_state, prev):
    b = self.visible_bias(time_state)
    ctx = self._context(prev, time_state.shape[:-1])
    return b if ctx is None else b + ctx @ self.context

  def key_logits(self, time_state, frames, prev=None, *, deterministic: bool = True):
    del deterministic
    v = frames.astype(jnp.float32)
    b = self._visible_bias(time_state, prev)                           # [B, T, K]
    c = self.hidden_bias(time_state)                                   # [B, T, hidden]
    contrib = v[..., None] * self.w                                    # [B, T, K, hidden]
    before = jnp.cumsum(contrib, axis=-2) - contrib                    # sum over j < k
    h = jax.nn.sigmoid(c[..., None, :] + before)                       # [B, T, K, hidden]
    if self.context_width > 0:
      b = b + below_keys(v, self.context_width) @ self.below
    return b + jnp.einsum('...kh,hk->...k', h, self.v)

  def sample(self, time_state, rng, temperature=1.0, prev=None):
    """``time_state [B, H]`` -> ``[B, K]`` by a ``lax.scan`` over keys (low to high)."""
    b = self._visible_bias(time_state, prev)                           # [B, K]
    c = self.hidden_bias(time_state)                                   # [B, hidden]
    u = _uniforms(rng, time_state.shape[0], self.keys)
    width = self.context_width

    def body(carry, inp):
      a, recent = carry                                # recent[:, j] = key k - 1 - j of this frame
      w_k, v_k, b_k, u_k = inp
      logit = b_k + jax.nn.sigmoid(a) @ v_k                            # [B]
      if width > 0:
        logit = logit + recent @ self.below
      x = _draw(u_k, logit, temperature)
      recent = jnp.concatenate([x[:, None], recent[:, :-1]], axis=1)
      return (a + x[:, None] * w_k, recent), x

    recent = jnp.zeros((time_state.shape[0], max(width, 1)), jnp.float32)
    _, frame = lax.scan(body, (c, recent), (self.w, self.v.T, b.T, u))
    return frame.T


class PitchRNNHead(_Head):
  """A GRU across the keys of a frame (low to high), conditioned on the time state.

  Input at key ``k``: ``[v_{k-1}, s @ P, e_k]`` (``v_{-1} = 0``; ``e_k`` a learned key embedding),
  projected to the GRU's gates as ``s @ W_s + v_{k-1} w_v + E[k]`` (``E [K, 3G]`` is the key
  embedding already multiplied by its kernel). Output: ``logit_k = g_k . R[k] + (s @ B + b)_k``,
  a per-key readout of the GRU state plus a factorised term of the time state.
  With ``context_width = w > 0`` key ``k`` also sees, through weights shared by all keys, the
  previous frame's keys ``k - w .. k + w`` and this frame's keys ``k - w .. k - 1`` (the intervals
  below it already decided), both in its gate input and, linearly, in its logit.
  Teacher forcing: one ``lax.scan`` over the K keys with ``B * T`` rows.
  """
  keys: int
  hidden: int = 128
  dropout_rate: float = 0.0
  context_width: int = 0

  def setup(self):
    g = self.hidden
    self.time_in = nn.Dense(3 * g, name='time_in')
    self.prev_in = self.param('prev_in', nn.initializers.normal(0.5), (3 * g,))
    self.key_in = self.param('key_in', nn.initializers.normal(0.1), (self.keys, 3 * g))
    self.recurrent_kernel = self.param('recurrent_kernel', nn.initializers.orthogonal(), (g, 3 * g))
    self.recurrent_bias = self.param('recurrent_bias', nn.initializers.zeros, (3 * g,))
    self.readout = self.param('readout', nn.initializers.normal(g ** -0.5), (self.keys, g))
    self.visible_bias = nn.Dense(self.keys, name='visible_bias')
    self.drop = nn.Dropout(self.dropout_rate)
    if self.context_width > 0:
      c = 2 * self.context_width + 1
      self.context_in = self.param('context_in', nn.initializers.lecun_normal(), (c, 3 * g))
      self.context_out = self.param('context', nn.initializers.zeros, (c,))
      w = self.context_width
      self.below_in = self.param('below_in', nn.initializers.lecun_normal(), (w, 3 * g))
      self.below_out = self.param('below', nn.initializers.zeros, (w,))

  def _key_inputs(self, s, prev):
    """Per-key gate inputs ``[K, N, 3G]`` (or ``[K, 1, 3G]``) and output biases ``[N, K]``."""
    b = self.visible_bias(s)
    ctx = self._context(prev, s.shape[:-1])                            # [N, K, C]
    if ctx is None:
      return self.key_in[:, None], b
    e = self.key_in[:, None] + jnp.swapaxes(ctx @ self.context_in, 0, 1)
    return e, b + ctx @ self.context_out

  def key_logits(self, time_state, frames, prev=None, *, deterministic: bool = True):
    lead = frames.shape[:-1]
    s = time_state.reshape((-1, time_state.shape[-1]))                # [N, H]
    v = frames.reshape((-1, self.keys)).astype(jnp.float32)           # [N, K]
    prev = None if prev is None else prev.reshape((-1, prev.shape[-1]))
    v_prev = jnp.concatenate([jnp.zeros_like(v[:, :1]), v[:, :-1]], axis=1)
    xs = self.time_in(s)                                               # [N, 3G]
    b = self.visible_bias(s)                                           # [N, K]
    ctx = self._context(prev, s.shape[:-1])                            # [N, K, 2w + 1]
    if ctx is None:
      z, z_in = jnp.zeros((self.keys, s.shape[0], 0), xs.dtype), None
    else:
      # pitch-relative features of every key, projected to the gates inside the scan (a [K, N, 3G]
      # input would be several times larger than the [K, N, 3w + 1] features)
      below = below_keys(v, self.context_width)                        # [N, K, w]
      b = b + ctx @ self.context_out + below @ self.below_out
      z = jnp.swapaxes(jnp.concatenate([ctx, below], axis=-1), 0, 1)  # [K, N, 3w + 1]
      z_in = jnp.concatenate([self.context_in, self.below_in], axis=0)

    def body(h, inp):
      v_k, e_k, z_k = inp
      x_in = xs + v_k[:, None] * self.prev_in + e_k
      if z_in is not None:
        x_in = x_in + z_k @ z_in
      h = gru_cell(self.recurrent_kernel, self.recurrent_bias, x_in, h)
      return h, h

    h0 = jnp.zeros((s.shape[0], self.hidden), xs.dtype)
    _, hs = lax.scan(body, h0, (v_prev.T, self.key_in, z))              # [K, N, G]
    hs = self.drop(hs, deterministic=deterministic)
    logits = jnp.einsum('kng,kg->nk', hs, self.readout) + b
    return logits.reshape(lead + (self.keys,))

  def sample(self, time_state, rng, temperature=1.0, prev=None):
    """``time_state [B, H]`` -> ``[B, K]`` by a ``lax.scan`` over keys (low to high)."""
    xs = self.time_in(time_state)                                      # [B, 3G]
    e, b = self._key_inputs(time_state, prev)
    u = _uniforms(rng, time_state.shape[0], self.keys)

    w = self.context_width

    def body(carry, inp):
      h, recent = carry                                # recent[:, j] = key k - 1 - j of this frame
      e_k, r_k, b_k, u_k = inp
      x_in = xs + recent[:, :1] * self.prev_in + e_k
      if w > 0:
        x_in = x_in + recent @ self.below_in
        b_k = b_k + recent @ self.below_out
      h = gru_cell(self.recurrent_kernel, self.recurrent_bias, x_in, h)
      x = _draw(u_k, h @ r_k + b_k, temperature)
      recent = jnp.concatenate([x[:, None], recent[:, :-1]], axis=1)
      return (h, recent), x

    batch = time_state.shape[0]
    init = (jnp.zeros((batch, self.hidden), xs.dtype), jnp.zeros((batch, max(w, 1)), jnp.float32))
    _, frame = lax.scan(body, init, (e, self.readout, b.T, u))
    return frame.T


def make_head(kind: str, keys: int, hidden: int = 128, dropout_rate: float = 0.0,
              context_width: int = 0, name: str | None = None) -> nn.Module:
  """The head ``kind`` (one of :data:`HEADS`); ``hidden`` and ``dropout_rate`` are ignored where
  the head has none."""
  w = int(context_width)
  if w < 0:
    raise ValueError(f'config.model.pitch_context={w}: expected >= 0')
  if kind == 'sigmoid':
    return SigmoidHead(keys, context_width=w, name=name)
  if kind == 'nade':
    return NADEHead(keys, hidden=int(hidden), context_width=w, name=name)
  if kind == 'pitch_rnn':
    return PitchRNNHead(keys, hidden=int(hidden), dropout_rate=float(dropout_rate),
                        context_width=w, name=name)
  raise ValueError(f'config.model.head={kind!r}: expected one of {HEADS}')
