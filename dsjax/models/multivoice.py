"""The multi-voice LSTM of the log (10/21; original §3.6).

* bottom: one LSTM stack per voice reads that voice's multi-hot frames;
* middle: one LSTM stack reads the concatenated bottom outputs (where the voices meet);
* top: one LSTM stack per voice reads the middle output and predicts that voice's next frame with
  independent sigmoid outputs over the keys.

The sizes are ``bottom``, ``middle`` and ``top`` (the original read all three from ``b_cells``, a
bug; here each level has its own). ``frames [batch, time, voices, keys] -> logits [batch, time,
voices, keys]``; the carry (``(bottom carries per voice, middle carry, top carries per voice)``) is
returned so that a sampler can run one step at a time inside a ``lax.scan``.

``head_bias`` is initialised to zero here; train it from the data's key frequencies
(:meth:`dsjax.tasks.multivoice.MultiVoiceLMTask.marginal_output_bias`): from p = 1/2 per key the
top LSTMs saturate and the net never leaves the marginal distribution.
"""

from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from dsjax.nn.recurrent import LSTMStack


class _Stack(nn.Module):
  """An LSTM stack with positional arguments only (so that ``nn.vmap`` can map it over voices)."""
  features: Sequence[int]
  dropout_rate: float = 0.0
  deterministic: bool = True

  @nn.compact
  def __call__(self, x, carry, mask):
    return LSTMStack(tuple(self.features), dropout_rate=self.dropout_rate, name='rnn')(
        x, carry, mask=mask, deterministic=self.deterministic)


# One stack per voice, as a single scan: parameters get a leading [voices] axis, inputs and carries
# are voice-major ``[voices, batch, ...]``, the mask is shared.
_VoiceStacks = nn.vmap(_Stack, variable_axes={'params': 0}, split_rngs={'params': True,
                                                                          'dropout': True},
                       in_axes=(0, 0, None), out_axes=0)


class MultiVoiceLSTM(nn.Module):
  """Per-voice bottom LSTMs -> merging middle LSTM -> per-voice top LSTMs -> per-voice sigmoids.

  Parameters: ``bottom`` and ``top`` (each voice's stack; every array has a leading ``[voices]``
  axis), ``middle``, and ``head`` (``kernel [voices, top[-1], keys]``, ``bias [voices, keys]``).
  """
  voices: int
  keys: int
  bottom: Sequence[int] = (128,)
  middle: Sequence[int] = (256,)
  top: Sequence[int] = (128,)
  dropout_rate: float = 0.0

  def initial_carry(self, batch_size: int):
    """Zero state ``(bottom, middle, top)``; bottom and top carries are ``[voices, batch, H]``."""
    def zeros(features, lead=()):
      return tuple((jnp.zeros(lead + (batch_size, f)),) * 2 for f in features)
    return (zeros(self.bottom, (self.voices,)), zeros(self.middle), zeros(self.top, (self.voices,)))

  @nn.compact
  def __call__(self, frames, carry: Any = None, mask=None, *, deterministic: bool = True):
    """``frames [batch, time, voices, keys]`` -> ``(logits [batch, time, voices, keys], carry)``."""
    if frames.ndim != 4 or frames.shape[2:] != (self.voices, self.keys):
      raise ValueError(f'MultiVoiceLSTM: expected frames [batch, time, {self.voices}, '
                       f'{self.keys}], got shape {frames.shape}')
    batch = frames.shape[0]
    if carry is None:
      carry = self.initial_carry(batch)
    bottom_carry, middle_carry, top_carry = carry
    drop = nn.Dropout(self.dropout_rate)
    x = jnp.moveaxis(frames.astype(jnp.float32), 2, 0)                       # [V, B, T, K]
    below, bottom_carry = _VoiceStacks(tuple(self.bottom), self.dropout_rate, deterministic,
                                       name='bottom')(x, bottom_carry, mask)  # [V, B, T, Hb]
    below = drop(below, deterministic=deterministic)
    joined = jnp.moveaxis(below, 0, 2).reshape(below.shape[1:3] + (-1,))    # [B, T, V * Hb]
    merged, middle_carry = LSTMStack(tuple(self.middle), dropout_rate=self.dropout_rate,
                                     name='middle')(joined, middle_carry, mask=mask,
                                                    deterministic=deterministic)
    merged = drop(merged, deterministic=deterministic)
    tops = jnp.broadcast_to(merged, (self.voices,) + merged.shape)
    above, top_carry = _VoiceStacks(tuple(self.top), self.dropout_rate, deterministic,
                                    name='top')(tops, top_carry, mask)      # [V, B, T, Ht]
    above = drop(above, deterministic=deterministic)
    kernel = self.param('head_kernel', nn.initializers.lecun_normal(batch_axis=(0,)),
                        (self.voices, self.top[-1], self.keys))
    bias = self.param('head_bias', nn.initializers.zeros, (self.voices, self.keys))
    logits = jnp.einsum('vbth,vhk->btvk', above, kernel) + bias
    return logits, (bottom_carry, middle_carry, top_carry)
