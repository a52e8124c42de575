"""Recurrent cores: LSTM and GRU layers, stacks and a bidirectional wrapper.

Two levels:

* Pure functions, time-major: :func:`lstm_scan` and :func:`gru_scan` run a whole sequence
  ``[time, batch, ...]`` with ``lax.scan``; :func:`lstm_cell` and :func:`gru_cell` are one step
  (for samplers that build their own scan).
* Flax linen modules, batch-major: :class:`LSTM`, :class:`LSTMStack`, :class:`GRU`,
  :class:`GRUStack`, :class:`Bidirectional`. ``module(x [batch, time, in]) -> (y [batch, time, out],
  carry)``. Calling a module with ``time == 1`` and the previous carry is one step, so samplers can
  put ``module.apply`` inside a ``lax.scan``.

Speed (XLA CPU, see ``bench/rnn_speed.py``): the input projection is hoisted out of the recurrence
(one ``[time * batch, in] x [in, 4 * hidden]`` matmul), the four gates are one matmul, and the
LSTM has a custom VJP: the forward scan saves the gate activations, the backward scan carries only
``(dh, dc)`` and emits the pre-activation gradients, and the recurrent-kernel gradient is then one
``[hidden, time * batch] x [time * batch, 4 * hidden]`` matmul instead of one small matmul per step.
The custom VJP is exact and twice differentiable: a gradient of a function that contains a gradient
(the WGAN-GP penalty, d/d params of ||d critic / d x||) differentiates through its forward and
backward scans as ordinary JAX code; ``tests/nn/test_recurrent.py`` checks this against finite
differences. ``impl='autodiff'`` selects the plain scan differentiated by JAX: same values and
gradients, 10-20% slower; it is needed only for forward mode (``jax.jvp``/``jacfwd`` applied
directly to the LSTM), which a ``custom_vjp`` function does not support.

Masks: ``mask [batch, time]`` (True or 1 = a real step) makes padded steps keep the carry and give
zero outputs, like PyTorch's packed sequences. Masks are meant to be a valid prefix per example
(right padding); :func:`reverse_sequences` relies on that.

Token inputs: ``LSTM``/``GRU`` (and the first layer of a stack) accept ``tokens [batch, time]`` with
an ``embedding [vocab, E]`` table instead of (or joined before) ``x``; the embedding is folded into
the input kernel, which saves the embedded sequence's matmuls in training (W1: about 14% of a step).

Initialisation (``init_scheme=``): ``'keras'`` (default) is what the original DeepSymphony code got
from Keras 2 / TF 1: Glorot-uniform input kernel, orthogonal recurrent kernel, zero bias with the
LSTM forget-gate bias at 1. ``'uniform'`` is PyTorch's U(-1/sqrt(hidden), 1/sqrt(hidden)) for every
weight (with one bias vector instead of PyTorch's two). Gate order in the fused kernels is
PyTorch's and Keras's: LSTM (input, forget, cell, output), GRU (reset, update, new).
"""

from __future__ import annotations

import functools
from typing import Any, Optional, Sequence, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

Array = jax.Array
LSTMCarry = Tuple[Array, Array]  # (h [batch, hidden], c [batch, hidden])

IMPLS = ('custom_vjp', 'autodiff')


# ----------------------------------------------------------------------------------- LSTM core


def _gate_constants(dtype):
  """Per-gate ``scale`` and ``shift`` ``[4, 1]`` such that ``act = tanh(scale * z) * scale + shift``.

  ``sigmoid(z) = 0.5 * tanh(z / 2) + 0.5``, so one ``tanh`` over all four gates gives the sigmoid
  gates (i, f, o) and the tanh gate (g) in one fused elementwise op (about 25% faster than separate
  sigmoid / tanh slices on XLA CPU). Its derivative is ``scale**2 - (act - shift)**2``.
  """
  scale = jnp.array([0.5, 0.5, 1.0, 0.5], dtype)[:, None]
  shift = jnp.array([0.5, 0.5, 0.0, 0.5], dtype)[:, None]
  return scale, shift


def _gate_activations(z: Array) -> Array:
  """Pre-activations ``[batch, 4H]`` -> activations ``[batch, 4, H]`` (i, f, g, o)."""
  scale, shift = _gate_constants(z.dtype)
  z = z.reshape(z.shape[:-1] + (4, z.shape[-1] // 4))
  return jnp.tanh(z * scale) * scale + shift


def lstm_cell(recurrent_kernel: Optional[Array], xw: Array, h: Array, c: Array) -> LSTMCarry:
  """One LSTM step. ``xw [batch, 4 * hidden]`` is the projected input (bias included).

  With ``recurrent_kernel=None``, ``xw`` is taken to already include ``h @ recurrent_kernel`` (a
  sampler may fuse it with the input matmul:
  ``concat([x, h]) @ concat([kernel, recurrent_kernel])``).
  Returns the new ``(h, c)``, each ``[batch, hidden]``.
  """
  z = xw if recurrent_kernel is None else xw + jnp.dot(h, recurrent_kernel)
  act = _gate_activations(z)
  c = act[:, 1] * c + act[:, 0] * act[:, 2]
  h = act[:, 3] * jnp.tanh(c)
  return h, c


def matmul_in(compute_dtype=None):
  """``dot(x, w)``: a plain ``jnp.dot`` for ``None``; else ``x`` cast to ``compute_dtype`` (``w``
  is expected already cast) with float32 accumulation and result."""
  if compute_dtype is None:
    return jnp.dot
  return lambda x, w: jnp.dot(x.astype(compute_dtype), w, preferred_element_type=jnp.float32)


def lstm_stack_stepper(params, *, embedding: Optional[Array] = None,
                       static_x: Optional[Array] = None, compute_dtype=None):
  """A fast one-step function of an :class:`LSTMStack` (inference: no dropout), for samplers.

  Done once, outside the sampler's scan: with ``embedding [vocab, E]`` the first layer's
  ``[vocab, 4H]`` table ``embedding @ kernel[:E] + bias`` (a row per token instead of a matmul per
  step); ``static_x [batch, C]``, an input joined to every step and constant over the scan (a
  Hist-RNN condition), projected once; every later layer's input and recurrent kernels stacked into
  one ``[in + H, 4H]`` kernel (one matmul per step instead of two). The first layer's inputs are
  taken in the order ``[embedding[tokens], x, static_x]``.

  ``compute_dtype`` (e.g. ``jnp.bfloat16``): the per-step matmuls take their kernels and inputs in
  that dtype and accumulate in float32; the table, biases, gates and cell state stay float32. An
  inference-only speed/precision trade (``bench/rnn_speed.py`` reports both); ``None`` is exact.

  Args:
    params: the stack's parameters (``{'layer_0': {...}, 'layer_1': ...}``).
  Returns:
    ``step(carry, tokens=None, x=None) -> (y [batch, H_last], carry)``, the same values as the
    stack applied to one time step (``tokens [batch]`` with ``embedding``; ``x [batch, in]``, the
    per-step inputs after the embedding, else).
  """
  layers = [params[f'layer_{i}'] for i in range(len(params))]
  first = layers[0]
  embed_dim = 0 if embedding is None else embedding.shape[1]
  # The first layer's input rows: [embedding (E), per-step x, static_x (C)], in that order.
  rows = first['kernel'].shape[0] - (0 if static_x is None else static_x.shape[-1])
  x_kernel = first['kernel'][embed_dim:rows]
  table = None
  if embedding is not None:
    table = jnp.dot(embedding, first['kernel'][:embed_dim]) + first['bias']
  offset = first['bias'] if embedding is None else 0.0
  if static_x is not None:
    offset = offset + jnp.dot(static_x.astype(x_kernel.dtype), first['kernel'][rows:])
  stacked = [(jnp.concatenate([p['kernel'], p['recurrent_kernel']], axis=0), p['bias'])
             for p in layers[1:]]
  w_hh = first['recurrent_kernel']
  if compute_dtype is not None:
    x_kernel, w_hh = x_kernel.astype(compute_dtype), w_hh.astype(compute_dtype)
    stacked = [(w.astype(compute_dtype), b) for w, b in stacked]
  dot = matmul_in(compute_dtype)

  def step(carry, tokens=None, x=None):
    if (tokens is None) != (table is None) or (x is None) != (x_kernel.shape[0] == 0):
      raise ValueError('lstm_stack_stepper: give tokens iff an embedding was given, and x iff the '
                       'first layer has per-step inputs other than the embedding and static_x')
    xw = offset
    if table is not None:
      xw = xw + jnp.take(table, tokens, axis=0)
    if x is not None:
      xw = xw + dot(x, x_kernel)
    h, c = lstm_cell(None, xw + dot(carry[0][0], w_hh), *carry[0])
    new = [(h, c)]
    for (w, b), (h_prev, c_prev) in zip(stacked, carry[1:]):
      h, c = lstm_cell(None, dot(jnp.concatenate([h, h_prev], axis=-1), w) + b, h_prev, c_prev)
      new.append((h, c))
    return h, tuple(new)

  return step


def _lstm_forward(w_hh, xw, h0, c0, mask, unroll, save_residuals):
  """Forward scan. Returns ``ys [T,B,H]``, ``(hT, cT)`` and, if asked, the residuals
  ``(hs [T,B,H], cs [T,B,H], acts [T,B,4,H])`` (carried states and gate activations)."""

  def body(carry, inp):
    h, c = carry
    xw_t, m_t = inp if mask is not None else (inp, None)
    act = _gate_activations(xw_t + jnp.dot(h, w_hh))
    c_new = act[:, 1] * c + act[:, 0] * act[:, 2]
    h_new = act[:, 3] * jnp.tanh(c_new)
    if m_t is None:
      h_t, c_t, y = h_new, c_new, h_new
    else:
      h_t = jnp.where(m_t, h_new, h)
      c_t = jnp.where(m_t, c_new, c)
      y = jnp.where(m_t, h_new, jnp.zeros_like(h_new))
    if not save_residuals:
      return (h_t, c_t), y
    if m_t is None:
      return (h_t, c_t), (y, c_t, act)
    return (h_t, c_t), (y, h_t, c_t, act)

  xs = (xw, mask) if mask is not None else xw
  (h_T, c_T), ys = lax.scan(body, (h0, c0), xs, unroll=unroll)
  if not save_residuals:
    return ys, (h_T, c_T), None
  if mask is None:
    y, cs, acts = ys
    hs = y
  else:
    y, hs, cs, acts = ys
  return y, (h_T, c_T), (hs, cs, acts)


def _lstm_backward(w_hh, h0, c0, mask, residuals, cotangents, unroll):
  """Backward scan over saved activations. Returns cotangents of ``(w_hh, xw, h0, c0)``."""
  hs, cs, acts = residuals
  dys, (dh_T, dc_T) = cotangents
  batch, hidden = h0.shape
  scale, shift = _gate_constants(acts.dtype)
  c_prev = jnp.concatenate([c0[None], cs[:-1]], axis=0)
  w_hh_t = w_hh.T  # transposed once, outside the loop

  def body(carry, inp):
    dh, dc = carry
    if mask is not None:
      act, c_t, c_p, dy, m_t = inp
    else:
      (act, c_t, c_p, dy), m_t = inp, None
    i, f, g, o = act[:, 0], act[:, 1], act[:, 2], act[:, 3]
    tc = jnp.tanh(c_t)  # c_t equals the new cell state on every real step; others get zero weight
    if m_t is None:
      dh_new, dc_new = dh + dy, dc
    else:
      dh_new = jnp.where(m_t, dh + dy, jnp.zeros_like(dh))
      dc_new = jnp.where(m_t, dc, jnp.zeros_like(dc))
    dc_new = dc_new + dh_new * o * (1 - tc * tc)
    dact = jnp.stack([dc_new * g, dc_new * c_p, dc_new * i, dh_new * tc], axis=1)  # [B, 4, H]
    dz = (dact * (scale * scale - (act - shift) ** 2)).reshape(batch, 4 * hidden)
    dh_p = jnp.dot(dz, w_hh_t)
    dc_p = dc_new * f
    if m_t is not None:
      dh_p = dh_p + jnp.where(m_t, jnp.zeros_like(dh), dh)
      dc_p = dc_p + jnp.where(m_t, jnp.zeros_like(dc), dc)
    return (dh_p, dc_p), dz

  xs = (acts, cs, c_prev, dys) + ((mask,) if mask is not None else ())
  (dh0, dc0), dzs = lax.scan(body, (dh_T, dc_T), xs, reverse=True, unroll=unroll)
  h_prev = jnp.concatenate([h0[None], hs[:-1]], axis=0)
  # The recurrent-kernel gradient as one large matmul over all steps.
  dw_hh = jnp.dot(h_prev.reshape(-1, hidden).T, dzs.reshape(-1, 4 * hidden))
  return dw_hh, dzs, dh0, dc0


@functools.lru_cache(maxsize=None)
def _lstm_custom_vjp(masked: bool, unroll: int):
  """A ``custom_vjp`` LSTM recurrence ``(w_hh, xw, h0, c0[, mask]) -> (ys, (hT, cT))``."""

  if masked:

    @jax.custom_vjp
    def core(w_hh, xw, h0, c0, mask):
      ys, carry, _ = _lstm_forward(w_hh, xw, h0, c0, mask, unroll, False)
      return ys, carry

    def fwd(w_hh, xw, h0, c0, mask):
      ys, carry, res = _lstm_forward(w_hh, xw, h0, c0, mask, unroll, True)
      return (ys, carry), (w_hh, h0, c0, mask, res)

    def bwd(saved, cts):
      w_hh, h0, c0, mask, res = saved
      return _lstm_backward(w_hh, h0, c0, mask, res, cts, unroll) + (None,)

  else:

    @jax.custom_vjp
    def core(w_hh, xw, h0, c0):
      ys, carry, _ = _lstm_forward(w_hh, xw, h0, c0, None, unroll, False)
      return ys, carry

    def fwd(w_hh, xw, h0, c0):
      ys, carry, res = _lstm_forward(w_hh, xw, h0, c0, None, unroll, True)
      return (ys, carry), (w_hh, h0, c0, res)

    def bwd(saved, cts):
      w_hh, h0, c0, res = saved
      return _lstm_backward(w_hh, h0, c0, None, res, cts, unroll)

  core.defvjp(fwd, bwd)
  return core


def _time_mask(mask: Optional[Array], shape) -> Optional[Array]:
  """``mask [T, B]`` -> bool ``[T, B, 1]`` (or None)."""
  if mask is None:
    return None
  mask = jnp.asarray(mask)
  if mask.shape != tuple(shape):
    raise ValueError(f'mask: expected shape [time, batch] = {tuple(shape)}, got {mask.shape}')
  return (mask != 0)[..., None]


def lstm_scan(params, x: Array, h0: Array, c0: Array, *, mask: Optional[Array] = None,
              projected: bool = False, impl: str = 'custom_vjp',
              unroll: int = 1) -> Tuple[Array, LSTMCarry]:
  """Runs an LSTM over a time-major sequence.

  Args:
    params: ``{'kernel': [in, 4H], 'recurrent_kernel': [H, 4H], 'bias': [4H]}``; with
      ``projected=True`` only ``'recurrent_kernel'`` is read.
    x: inputs ``[time, batch, in]``, or with ``projected=True`` the projected inputs
      ``x @ kernel + bias`` as ``[time, batch, 4H]``.
    h0, c0: initial state, ``[batch, H]`` each.
    mask: optional ``[time, batch]``; False/0 steps keep the carry and output zeros.
    projected: whether ``x`` is already projected (the caller hoisted the input matmul).
    impl: ``'custom_vjp'`` (saved gate activations, one matmul for the recurrent-kernel gradient)
      or ``'autodiff'`` (plain ``lax.scan`` differentiated by JAX). Same values and gradients of
      every order.
    unroll: ``lax.scan`` unroll factor.

  Returns:
    ``hs [time, batch, H]`` and the final ``(h, c)``.
  """
  w_hh = params['recurrent_kernel']
  hidden = w_hh.shape[0]
  if w_hh.shape != (hidden, 4 * hidden):
    raise ValueError(f'recurrent_kernel: expected [H, 4H], got {w_hh.shape}')
  if x.ndim != 3:
    raise ValueError(f'x: expected [time, batch, features], got shape {x.shape}')
  if projected:
    if x.shape[-1] != 4 * hidden:
      raise ValueError(f'x: projected inputs must be [time, batch, {4 * hidden}], got {x.shape}')
    xw = x
  else:
    xw = jnp.dot(x, params['kernel']) + params['bias']
  m = _time_mask(mask, xw.shape[:2])
  dtype = jnp.result_type(xw, w_hh)
  xw, w_hh, h0, c0 = (a.astype(dtype) for a in (xw, w_hh, h0, c0))
  if impl == 'custom_vjp':
    core = _lstm_custom_vjp(m is not None, int(unroll))
    args = (w_hh, xw, h0, c0) + ((m,) if m is not None else ())
    return core(*args)
  if impl == 'autodiff':
    ys, carry, _ = _lstm_forward(w_hh, xw, h0, c0, m, int(unroll), False)
    return ys, carry
  raise ValueError(f'impl: expected one of {IMPLS}, got {impl!r}')


# ------------------------------------------------------------------------------------ GRU core


def gru_cell(recurrent_kernel: Array, recurrent_bias: Array, xw: Array, h: Array) -> Array:
  """One GRU step (PyTorch / Keras ``reset_after`` form). ``xw [batch, 3H]`` includes the input bias.

  ``r = s(xr + hr)``, ``u = s(xu + hu)``, ``n = tanh(xn + r * hn)``, ``h' = (1 - u) * n + u * h``
  where ``[hr, hu, hn] = h @ recurrent_kernel + recurrent_bias``. Returns ``h' [batch, H]``.
  """
  hw = jnp.dot(h, recurrent_kernel) + recurrent_bias
  xr, xu, xn = jnp.split(xw, 3, axis=-1)
  hr, hu, hn = jnp.split(hw, 3, axis=-1)
  r = jax.nn.sigmoid(xr + hr)
  u = jax.nn.sigmoid(xu + hu)
  n = jnp.tanh(xn + r * hn)
  return n + u * (h - n)


def gru_scan(params, x: Array, h0: Array, *, mask: Optional[Array] = None, projected: bool = False,
             unroll: int = 1) -> Tuple[Array, Array]:
  """Runs a GRU over a time-major sequence (plain ``lax.scan``, differentiated by JAX).

  Args:
    params: ``{'kernel': [in, 3H], 'recurrent_kernel': [H, 3H], 'bias': [3H],
      'recurrent_bias': [3H]}``; with ``projected=True`` ``kernel`` and ``bias`` are not read.
    x: ``[time, batch, in]``, or ``x @ kernel + bias`` as ``[time, batch, 3H]`` if ``projected``.
    h0: ``[batch, H]``.
    mask: optional ``[time, batch]``; False/0 steps keep the carry and output zeros.

  Returns:
    ``hs [time, batch, H]`` and the final ``h [batch, H]``.
  """
  w_hh, b_hh = params['recurrent_kernel'], params['recurrent_bias']
  hidden = w_hh.shape[0]
  if w_hh.shape != (hidden, 3 * hidden):
    raise ValueError(f'recurrent_kernel: expected [H, 3H], got {w_hh.shape}')
  if x.ndim != 3:
    raise ValueError(f'x: expected [time, batch, features], got shape {x.shape}')
  if projected:
    if x.shape[-1] != 3 * hidden:
      raise ValueError(f'x: projected inputs must be [time, batch, {3 * hidden}], got {x.shape}')
    xw = x
  else:
    xw = jnp.dot(x, params['kernel']) + params['bias']
  m = _time_mask(mask, xw.shape[:2])
  dtype = jnp.result_type(xw, w_hh, b_hh)
  xw, w_hh, b_hh, h0 = (a.astype(dtype) for a in (xw, w_hh, b_hh, h0))

  def body(h, inp):
    xw_t, m_t = inp if m is not None else (inp, None)
    h_new = gru_cell(w_hh, b_hh, xw_t, h)
    if m_t is None:
      return h_new, h_new
    return jnp.where(m_t, h_new, h), jnp.where(m_t, h_new, jnp.zeros_like(h_new))

  h_T, ys = lax.scan(body, h0, (xw, m) if m is not None else xw, unroll=unroll)
  return ys, h_T


# --------------------------------------------------------------------------------- helpers


def reverse_sequences(x: Array, mask: Optional[Array] = None) -> Array:
  """Reverses ``x [batch, time, ...]`` in time; with ``mask [batch, time]`` (a valid prefix per
  example) only each example's first ``length`` steps are reversed and the padding stays put.
  Applying it twice gives ``x`` back."""
  if mask is None:
    return jnp.flip(x, axis=1)
  time = x.shape[1]
  lengths = jnp.sum(jnp.asarray(mask) != 0, axis=1)  # [batch]
  t = jnp.arange(time)[None, :]
  idx = jnp.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)  # [batch, time]
  idx = idx.reshape(idx.shape + (1,) * (x.ndim - 2))
  return jnp.take_along_axis(x, idx, axis=1)


def _check_input(x: Array, name: str) -> None:
  if x.ndim != 3:
    raise ValueError(f'{name}: expected inputs [batch, time, features], got shape {x.shape}')


def _batch_mask(mask: Optional[Array], shape, name: str) -> Optional[Array]:
  """``mask [batch, time]`` -> time-major ``[time, batch]`` (or None)."""
  if mask is None:
    return None
  mask = jnp.asarray(mask)
  if mask.shape != tuple(shape):
    raise ValueError(f'{name}: mask must be [batch, time] = {tuple(shape)}, got {mask.shape}')
  return mask.T


def _layer_inputs(x: Optional[Array], tokens: Optional[Array], embedding: Optional[Array],
                  name: str) -> Tuple[int, int, int]:
  """Checks a layer's inputs; returns ``(batch, time, input_features)``."""
  if tokens is None and embedding is None:
    if x is None:
      raise ValueError(f'{name}: no inputs (give x, or tokens and embedding)')
    _check_input(x, name)
    return x.shape[0], x.shape[1], x.shape[-1]
  if tokens is None or embedding is None:
    raise ValueError(f'{name}: tokens and embedding go together, got only one of them')
  if tokens.ndim != 2 or not jnp.issubdtype(tokens.dtype, jnp.integer):
    raise ValueError(
        f'{name}: tokens must be integer [batch, time], got {tokens.dtype}{tokens.shape}')
  if embedding.ndim != 2:
    raise ValueError(f'{name}: embedding must be [vocab, embed_dim], got shape {embedding.shape}')
  features = embedding.shape[1]
  if x is not None:
    _check_input(x, name)
    if x.shape[:2] != tokens.shape:
      raise ValueError(f'{name}: x {x.shape} and tokens {tokens.shape} differ in [batch, time]')
    features += x.shape[-1]
  return tokens.shape[0], tokens.shape[1], features


def _project_inputs(x, tokens, embedding, kernel, bias) -> Array:
  """Projected inputs ``[time, batch, G]`` = ``concat([embedding[tokens], x]) @ kernel + bias``.

  With tokens, the embedding is folded into the kernel when that is cheaper (``batch * time >
  vocab``): ``(embedding @ kernel + bias)[tokens]``, a ``[vocab, G]`` table and a gather (whose
  gradient is a scatter-add) instead of a ``[batch * time, embed] x [embed, G]`` matmul and its two
  gradient matmuls. Same function, same gradients.
  """
  if tokens is None:
    return jnp.dot(jnp.swapaxes(x, 0, 1), kernel) + bias  # one big matmul
  vocab, embed_dim = embedding.shape
  tokens_t = tokens.T
  if tokens.size > vocab:
    xw = jnp.take(jnp.dot(embedding, kernel[:embed_dim]) + bias, tokens_t, axis=0)
  else:
    xw = jnp.dot(jnp.take(embedding, tokens_t, axis=0), kernel[:embed_dim]) + bias
  if x is not None:
    xw = xw + jnp.dot(jnp.swapaxes(x, 0, 1), kernel[embed_dim:])
  return xw


def _forget_bias_init(hidden: int, value: float = 1.0):
  def init(key, shape, dtype=jnp.float32):
    del key
    return jnp.zeros(shape, dtype).at[hidden:2 * hidden].set(value)
  return init


def _uniform_init(scale: float):
  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -scale, scale)
  return init


def _initializers(init: str, hidden: int, gates: int):
  """``(kernel, recurrent_kernel, bias)`` initializers for the named scheme."""
  if init == 'keras':
    bias = _forget_bias_init(hidden) if gates == 4 else nn.initializers.zeros
    return nn.initializers.glorot_uniform(), nn.initializers.orthogonal(), bias
  if init == 'uniform':
    u = _uniform_init(1.0 / float(hidden) ** 0.5)
    return u, u, u
  raise ValueError(f"init_scheme: expected 'keras' or 'uniform', got {init!r}")


# ---------------------------------------------------------------------------------- modules


class LSTM(nn.Module):
  """One LSTM layer, batch-major: ``(x [batch, time, in], (h, c)) -> (y [batch, time, H], (h, c))``.

  Parameters: ``kernel [in, 4H]``, ``recurrent_kernel [H, 4H]``, ``bias [4H]``.

  Token inputs: ``layer(x, carry, tokens=tokens [batch, time], embedding=table [vocab, E])`` is
  ``layer(concat([table[tokens], x], -1), carry)`` (``x`` may be None), computed without
  materialising the embedded sequence when ``batch * time > vocab`` (the embedding is folded into the
  kernel).

  ``weight_drop = p > 0`` (DropConnect on the recurrent kernel, as AWD-LSTM's weight drop): in
  training (``deterministic=False``, rng stream ``'dropout'``) each entry of ``recurrent_kernel`` is
  zeroed with probability ``p`` and the rest scaled by ``1 / (1 - p)``, one mask per call shared
  by every time step and example. It regularises the recurrence itself, which output dropout does
  not reach, and leaves the scan (and its custom VJP) unchanged.
  """
  features: int
  impl: str = 'custom_vjp'
  unroll: int = 1
  init_scheme: str = 'keras'
  param_dtype: Any = jnp.float32
  weight_drop: float = 0.0

  def initial_carry(self, batch_size: int) -> LSTMCarry:
    """Zero state ``(h, c)``, each ``[batch, H]``."""
    z = jnp.zeros((batch_size, self.features), self.param_dtype)
    return z, z

  @nn.compact
  def __call__(self, x: Optional[Array], carry: Optional[LSTMCarry] = None, *,
               mask: Optional[Array] = None, deterministic: bool = True,
               tokens: Optional[Array] = None,
               embedding: Optional[Array] = None) -> Tuple[Array, LSTMCarry]:
    name = self.name or 'LSTM'
    batch, time, in_features = _layer_inputs(x, tokens, embedding, name)
    m = _batch_mask(mask, (batch, time), name)
    hidden = self.features
    k_init, r_init, b_init = _initializers(self.init_scheme, hidden, 4)
    kernel = self.param('kernel', k_init, (in_features, 4 * hidden), self.param_dtype)
    recurrent_kernel = self.param('recurrent_kernel', r_init, (hidden, 4 * hidden), self.param_dtype)
    bias = self.param('bias', b_init, (4 * hidden,), self.param_dtype)
    if carry is None:
      carry = self.initial_carry(batch)
    if self.weight_drop > 0 and not deterministic:
      keep = 1.0 - self.weight_drop
      drop_mask = jax.random.bernoulli(self.make_rng('dropout'), keep, recurrent_kernel.shape)
      recurrent_kernel = jnp.where(drop_mask, recurrent_kernel / keep, 0.0).astype(
          recurrent_kernel.dtype)
    xw = _project_inputs(x, tokens, embedding, kernel, bias)  # [T, B, 4H]
    hs, carry = lstm_scan({'recurrent_kernel': recurrent_kernel}, xw, *carry, mask=m,
                          projected=True, impl=self.impl, unroll=self.unroll)
    return jnp.swapaxes(hs, 0, 1), carry


class LSTMStack(nn.Module):
  """Stacked LSTM layers ``features = (H1, H2, ...)``; dropout between layers (not after the last).

  ``(x [batch, time, in], carry) -> (y [batch, time, H_last], carry)``; ``carry`` is a tuple of one
  ``(h, c)`` per layer. Sub-modules are named ``layer_0``, ``layer_1``, ... ``weight_drop``: each
  layer's recurrent-kernel DropConnect (:class:`LSTM`).
  """
  features: Sequence[int]
  dropout_rate: float = 0.0
  impl: str = 'custom_vjp'
  unroll: int = 1
  init_scheme: str = 'keras'
  param_dtype: Any = jnp.float32
  weight_drop: float = 0.0

  def initial_carry(self, batch_size: int) -> Tuple[LSTMCarry, ...]:
    """Zero state: one ``(h [batch, H_i], c [batch, H_i])`` per layer."""
    return tuple((jnp.zeros((batch_size, f), self.param_dtype),) * 2 for f in self.features)

  @nn.compact
  def __call__(self, x: Optional[Array], carry: Optional[Sequence[LSTMCarry]] = None, *,
               mask: Optional[Array] = None, deterministic: bool = True,
               tokens: Optional[Array] = None,
               embedding: Optional[Array] = None) -> Tuple[Array, Tuple[LSTMCarry, ...]]:
    """``tokens``/``embedding`` feed the first layer as in :class:`LSTM`."""
    batch, _, _ = _layer_inputs(x, tokens, embedding, self.name or 'LSTMStack')
    if carry is None:
      carry = self.initial_carry(batch)
    if len(carry) != len(self.features):
      raise ValueError(f'carry: expected {len(self.features)} layers, got {len(carry)}')
    new_carry = []
    for i, features in enumerate(self.features):
      first = dict(tokens=tokens, embedding=embedding) if i == 0 else {}
      x, c = LSTM(features, impl=self.impl, unroll=self.unroll, init_scheme=self.init_scheme,
                  param_dtype=self.param_dtype, weight_drop=self.weight_drop,
                  name=f'layer_{i}')(x, tuple(carry[i]), mask=mask, deterministic=deterministic,
                                     **first)
      new_carry.append(c)
      if self.dropout_rate > 0 and i < len(self.features) - 1:
        x = nn.Dropout(self.dropout_rate)(x, deterministic=deterministic)
    return x, tuple(new_carry)


class GRU(nn.Module):
  """One GRU layer, batch-major: ``(x [batch, time, in], h) -> (y [batch, time, H], h)``.

  Parameters: ``kernel [in, 3H]``, ``recurrent_kernel [H, 3H]``, ``bias [3H]``,
  ``recurrent_bias [3H]``.
  """
  features: int
  unroll: int = 1
  init_scheme: str = 'keras'
  param_dtype: Any = jnp.float32

  def initial_carry(self, batch_size: int) -> Array:
    """Zero state ``h [batch, H]``."""
    return jnp.zeros((batch_size, self.features), self.param_dtype)

  @nn.compact
  def __call__(self, x: Optional[Array], carry: Optional[Array] = None, *,
               mask: Optional[Array] = None, deterministic: bool = True,
               tokens: Optional[Array] = None,
               embedding: Optional[Array] = None) -> Tuple[Array, Array]:
    """``tokens``/``embedding`` as in :class:`LSTM`."""
    del deterministic
    name = self.name or 'GRU'
    batch, time, in_features = _layer_inputs(x, tokens, embedding, name)
    m = _batch_mask(mask, (batch, time), name)
    hidden = self.features
    k_init, r_init, b_init = _initializers(self.init_scheme, hidden, 3)
    kernel = self.param('kernel', k_init, (in_features, 3 * hidden), self.param_dtype)
    p = {
        'recurrent_kernel': self.param('recurrent_kernel', r_init, (hidden, 3 * hidden),
                                       self.param_dtype),
        'recurrent_bias': self.param('recurrent_bias', b_init, (3 * hidden,), self.param_dtype),
    }
    bias = self.param('bias', b_init, (3 * hidden,), self.param_dtype)
    if carry is None:
      carry = self.initial_carry(batch)
    xw = _project_inputs(x, tokens, embedding, kernel, bias)  # [T, B, 3H]
    hs, carry = gru_scan(p, xw, carry, mask=m, projected=True, unroll=self.unroll)
    return jnp.swapaxes(hs, 0, 1), carry


class GRUStack(nn.Module):
  """Stacked GRU layers with dropout between layers; ``carry`` is a tuple of ``h`` per layer."""
  features: Sequence[int]
  dropout_rate: float = 0.0
  unroll: int = 1
  init_scheme: str = 'keras'
  param_dtype: Any = jnp.float32

  def initial_carry(self, batch_size: int) -> Tuple[Array, ...]:
    """Zero state: one ``h [batch, H_i]`` per layer."""
    return tuple(jnp.zeros((batch_size, f), self.param_dtype) for f in self.features)

  @nn.compact
  def __call__(self, x: Optional[Array], carry: Optional[Sequence[Array]] = None, *,
               mask: Optional[Array] = None, deterministic: bool = True,
               tokens: Optional[Array] = None,
               embedding: Optional[Array] = None) -> Tuple[Array, Tuple[Array, ...]]:
    """``tokens``/``embedding`` feed the first layer as in :class:`LSTM`."""
    batch, _, _ = _layer_inputs(x, tokens, embedding, self.name or 'GRUStack')
    if carry is None:
      carry = self.initial_carry(batch)
    if len(carry) != len(self.features):
      raise ValueError(f'carry: expected {len(self.features)} layers, got {len(carry)}')
    new_carry = []
    for i, features in enumerate(self.features):
      first = dict(tokens=tokens, embedding=embedding) if i == 0 else {}
      x, h = GRU(features, unroll=self.unroll, init_scheme=self.init_scheme,
                 param_dtype=self.param_dtype, name=f'layer_{i}')(x, carry[i], mask=mask, **first)
      new_carry.append(h)
      if self.dropout_rate > 0 and i < len(self.features) - 1:
        x = nn.Dropout(self.dropout_rate)(x, deterministic=deterministic)
    return x, tuple(new_carry)


class Bidirectional(nn.Module):
  """Runs ``forward_rnn`` over ``x`` and ``backward_rnn`` over ``x`` reversed in time.

  ``(x [batch, time, in], carry=(carry_fwd, carry_bwd)) -> (y [batch, time, H_f + H_b], carry)``
  with ``merge='concat'`` (or ``'sum'``). With ``mask [batch, time]`` (valid prefix per example) the
  backward direction starts at each example's last real step, not at the padding.
  """
  forward_rnn: nn.Module
  backward_rnn: nn.Module
  merge: str = 'concat'

  def initial_carry(self, batch_size: int):
    return self.forward_rnn.initial_carry(batch_size), self.backward_rnn.initial_carry(batch_size)

  @nn.compact
  def __call__(self, x: Array, carry=None, *, mask: Optional[Array] = None,
               deterministic: bool = True):
    carry_f, carry_b = (None, None) if carry is None else carry
    y_f, carry_f = self.forward_rnn(x, carry_f, mask=mask, deterministic=deterministic)
    y_b, carry_b = self.backward_rnn(reverse_sequences(x, mask), carry_b, mask=mask,
                                     deterministic=deterministic)
    y_b = reverse_sequences(y_b, mask)
    if self.merge == 'concat':
      y = jnp.concatenate([y_f, y_b], axis=-1)
    elif self.merge == 'sum':
      y = y_f + y_b
    else:
      raise ValueError(f"merge: expected 'concat' or 'sum', got {self.merge!r}")
    return y, (carry_f, carry_b)
