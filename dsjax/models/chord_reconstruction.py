"""Chord sequence reconstruction with octave-invariant 12-key filters (log 04/04/2018).

A chord sequence (multi-hot frames ``x [batch, time, keys]``) goes through

1. a 1-D convolution across pitch: ``filters`` kernels of :data:`KERNEL` = 12 keys, stride 1, the
   same weights at every key (so moving the input by a semitone, or an octave, moves the filter
   map by one, or twelve, positions: :func:`filter_map`). The keyboard is padded with 11 silent
   keys on both sides, so every key is seen at all 12 offsets: ``P = keys + 11`` positions,
   position ``p`` covering keys ``p - 11 .. p``;
2. the filter activation at each (frame, position): ``'softmax'`` over the filters (only one filter
   wins a place, so filters stop cooperating: the log's chord templates), ``'sigmoid'`` (each
   filter on its own; the log's first model) or ``'tanh'``;
3. an LSTM stack over time reading the flattened map ``[batch, time, P * filters]``;
4. optional dense layers (``decoder_hidden``; the log's decoder has none), then a linear map to the
   keys with a tanh output regulariser: ``logits = output_scale * tanh(W h + b)``, so that no key's
   probability leaves ``[sigmoid(-s), sigmoid(s)]`` (``output='linear'``: ``W h + b``).

The capacity that follows the filters (``hidden``, ``decoder_hidden``) is the log's knob: "when
restricting the filters, we should also control the complexity of the following components.
Otherwise, the filter will be too lazy". ::

  model = ChordReconstructor(keys=88, filters=32, activation='softmax', hidden=(128,))
  logits = model.apply(v, x)                                         # [B, T, keys]
  maps = model.apply(v, x, method=ChordReconstructor.filter_activations)   # [B, T, P, filters]
  kernel = v['params']['filter_kernel']                              # [12, filters]
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from dsjax.nn.recurrent import LSTMStack

KERNEL = 12                       # keys per filter: one octave
ACTIVATIONS = ('softmax', 'sigmoid', 'tanh')
OUTPUTS = ('tanh', 'linear')


def pitch_windows(x: jax.Array, kernel: int = KERNEL) -> jax.Array:
  """``x [..., keys]`` -> ``[..., keys + kernel - 1, kernel]``: window ``p`` holds keys
  ``p - kernel + 1 .. p`` (silent keys outside the keyboard), offset ``k`` key ``p - kernel + 1 + k``."""
  keys = x.shape[-1]
  pad = [(0, 0)] * (x.ndim - 1) + [(kernel - 1, kernel - 1)]
  padded = jnp.pad(x, pad)
  positions = keys + kernel - 1
  index = jnp.arange(positions)[:, None] + jnp.arange(kernel)[None, :]   # [P, kernel]
  return padded[..., index]


def filter_map(x: jax.Array, kernel: jax.Array, bias: jax.Array) -> jax.Array:
  """The convolution across pitch before activation: ``x [..., keys]``, ``kernel [12, F]``,
  ``bias [F]`` -> ``[..., keys + 11, F]``. The same weights at every position: shifting ``x`` up
  by ``s`` keys (nothing pushed off the top) shifts the map up by ``s`` positions, exactly."""
  windows = pitch_windows(x.astype(kernel.dtype), kernel.shape[0])
  return jnp.einsum('...pk,kf->...pf', windows, kernel) + bias


def activate(z: jax.Array, activation: str) -> jax.Array:
  """The filter activation of a map ``[..., P, F]``: softmax over the filters ``F``, or an
  elementwise sigmoid / tanh."""
  if activation == 'softmax':
    return jax.nn.softmax(z, axis=-1)
  if activation == 'sigmoid':
    return jax.nn.sigmoid(z)
  if activation == 'tanh':
    return jnp.tanh(z)
  raise ValueError(f'filter activation {activation!r}: expected one of {ACTIVATIONS}')


class ChordReconstructor(nn.Module):
  """12-key filters -> LSTM over time -> linear decoder to the keys (see the module docstring).

  Parameters: ``filter_kernel [12, filters]``, ``filter_bias [filters]``, ``lstm`` (an
  :class:`~dsjax.nn.recurrent.LSTMStack`, absent when ``hidden`` is empty: each frame is then
  decoded from its own map), ``decoder_i`` (dense ReLU layers), ``output`` (``Dense(keys)``).
  """
  keys: int
  filters: int = 32
  activation: str = 'softmax'
  hidden: Sequence[int] = (128,)
  decoder_hidden: Sequence[int] = ()
  output: str = 'tanh'
  output_scale: float = 8.0
  dropout_rate: float = 0.0         # on the flattened map, in training

  def setup(self):
    if self.activation not in ACTIVATIONS:
      raise ValueError(f'activation={self.activation!r}: expected one of {ACTIVATIONS}')
    if self.output not in OUTPUTS:
      raise ValueError(f'output={self.output!r}: expected one of {OUTPUTS}')
    self.filter_kernel = self.param('filter_kernel', nn.initializers.lecun_normal(),
                                    (KERNEL, self.filters))
    self.filter_bias = self.param('filter_bias', nn.initializers.zeros, (self.filters,))
    self.lstm = LSTMStack(tuple(self.hidden), name='lstm') if self.hidden else None
    self.decoder = [nn.Dense(h, name=f'decoder_{i}') for i, h in enumerate(self.decoder_hidden)]
    self.out = nn.Dense(self.keys, name='output')
    self.drop = nn.Dropout(self.dropout_rate)

  def filter_logits(self, x: jax.Array) -> jax.Array:
    """``x [B, T, keys]`` -> the map before activation ``[B, T, keys + 11, filters]``."""
    return filter_map(x, self.filter_kernel, self.filter_bias)

  def filter_activations(self, x: jax.Array) -> jax.Array:
    """``x [B, T, keys]`` -> the activated map ``[B, T, keys + 11, filters]``."""
    return activate(self.filter_logits(x), self.activation)

  def __call__(self, x: jax.Array, *, mask: jax.Array | None = None,
               deterministic: bool = True) -> jax.Array:
    """Reconstruction logits ``[B, T, keys]`` of the frames ``x [B, T, keys]`` (frame ``t`` from
    frames ``<= t``; ``mask [B, T]`` holds the LSTM still on padding)."""
    maps = self.filter_activations(x.astype(jnp.float32))
    h = maps.reshape(maps.shape[:2] + (-1,))
    h = self.drop(h, deterministic=deterministic)
    if self.lstm is not None:
      h, _ = self.lstm(h, mask=mask, deterministic=deterministic)
    for layer in self.decoder:
      h = nn.relu(layer(h))
    z = self.out(h)
    return self.output_scale * jnp.tanh(z) if self.output == 'tanh' else z
