"""Recurrent language models of the research log.

- :class:`EventLM`: the baseline (09/28): embedding -> stacked LSTM -> softmax over event ids.
- :class:`MultiHotLM`: next-frame model over piano-roll frames with a selectable output head
  (independent sigmoids, RNN-NADE, or a GRU across pitch).

Both take and return the recurrent carry so that sampling can run them one step at a time inside a
``lax.scan``, and both accept an optional per-step ``condition`` joined to every input step (the
Hist-RNN family).
"""

from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from dsjax.models import frame_heads
from dsjax.nn.recurrent import LSTMStack, lstm_stack_stepper, matmul_in


class EventLM(nn.Module):
  """Event-id language model. ``tokens [batch, time]`` -> ``logits [batch, time, vocab]``."""
  vocab_size: int
  embed_dim: int = 256
  hidden: Sequence[int] = (512, 512, 512)
  dropout_rate: float = 0.0

  def setup(self):
    self.embed = nn.Embed(self.vocab_size, self.embed_dim, name='embed')
    self.rnn = LSTMStack(tuple(self.hidden), dropout_rate=self.dropout_rate, name='rnn')
    self.drop = nn.Dropout(self.dropout_rate)
    self.head = nn.Dense(self.vocab_size, name='head')

  def __call__(self, tokens, carry: Any = None, condition=None, mask=None, *,
               deterministic: bool = True):
    # The embedding is passed to the first LSTM layer, which folds it into its input kernel (a
    # [vocab, 4H] table) when that is cheaper: same values and gradients, ~14% faster on W1.
    x = None if condition is None else condition.astype(jnp.float32)
    y, carry = self.rnn(x, carry, mask=mask, deterministic=deterministic, tokens=tokens,
                        embedding=self.embed.embedding)
    y = self.drop(y, deterministic=deterministic)
    return self.head(y), carry


def event_lm_stepper(params, condition=None, compute_dtype=None):
  """:class:`EventLM` one event at a time, for samplers: ``step(carry, tokens [batch]) -> (logits
  [batch, vocab], carry)``, the same values as ``EventLM.apply`` on one step.

  Built on :func:`dsjax.nn.recurrent.lstm_stack_stepper` (the embedding folded into a ``[vocab,
  4H]`` table, the ``condition [batch, C]`` projected once, later layers' kernels stacked), so a
  sampler's scan does less per step than ``apply`` would (``bench/rnn_speed.py --w3-module``).
  ``compute_dtype``: see :func:`~dsjax.nn.recurrent.lstm_stack_stepper` (``None``: exact).
  """
  stack = lstm_stack_stepper(params['rnn'], embedding=params['embed']['embedding'],
                             static_x=condition, compute_dtype=compute_dtype)
  w_out, b_out = params['head']['kernel'], params['head']['bias']
  if compute_dtype is not None:
    w_out = w_out.astype(compute_dtype)
  dot = matmul_in(compute_dtype)

  def step(carry, tokens):
    y, carry = stack(carry, tokens=tokens)
    return dot(y, w_out) + b_out, carry

  return step


class MultiHotLM(nn.Module):
  """Next-frame model: a time-wise LSTM over frames ``[batch, time, keys]`` in {0, 1} and an output
  head over the keys of the next frame (:mod:`dsjax.models.frame_heads`).

  ``head``: ``'sigmoid'`` (independent keys, the DeepSymphony multi-hot baseline), ``'nade'``
  (RNN-NADE) or ``'pitch_rnn'`` (a GRU across the keys). Optional dense layers between the LSTM and
  the head (the original had Dense500 relu). The state at step ``t`` (inputs up to ``t``) conditions
  the distribution of frame ``t + 1``. ``pitch_context = w > 0`` also gives the head, for each key
  ``k``, keys ``k - w .. k + w`` of the input frame ``t`` (weights shared across pitch).
  ``weight_drop``: DropConnect on the LSTMs' recurrent kernels in training.
  """
  keys: int
  hidden: Sequence[int] = (256,)
  dense: Sequence[int] = ()
  dropout_rate: float = 0.0
  input_dropout_rate: float = 0.0
  head: str = 'sigmoid'
  head_hidden: int = 128
  head_dropout_rate: float = 0.0
  pitch_context: int = 0
  weight_drop: float = 0.0

  def setup(self):
    self.rnn = LSTMStack(tuple(self.hidden), dropout_rate=self.dropout_rate,
                         weight_drop=self.weight_drop, name='rnn')
    self.in_drop = nn.Dropout(self.input_dropout_rate)
    self.drop = nn.Dropout(self.dropout_rate)
    self.dense_layers = [nn.Dense(d, name=f'dense_{i}') for i, d in enumerate(self.dense)]
    # submodule 'head'; the sigmoid head's parameters are head/kernel, head/bias as before.
    self.out = frame_heads.make_head(self.head, self.keys, self.head_hidden,
                                     self.head_dropout_rate, self.pitch_context, name='head')

  def features(self, frames, carry=None, condition=None, mask=None, *, deterministic=True):
    """The time state ``[batch, time, hidden]`` that output heads condition on."""
    x = self.in_drop(frames.astype(jnp.float32), deterministic=deterministic)
    if condition is not None:
      x = jnp.concatenate([x, condition.astype(x.dtype)], axis=-1)
    y, carry = self.rnn(x, carry, mask=mask, deterministic=deterministic)
    y = self.drop(y, deterministic=deterministic)
    for layer in self.dense_layers:
      y = self.drop(nn.relu(layer(y)), deterministic=deterministic)
    return y, carry

  def __call__(self, frames, carry=None, condition=None, mask=None, *, deterministic=True):
    """Per-key logits ``[batch, time, keys]`` of the next frame (sigmoid head only)."""
    if self.head != 'sigmoid':
      raise ValueError(f'MultiHotLM(head={self.head!r}) has no per-key logits independent of the '
                       'frame; use log_prob, key_logits or sample_frame')
    y, carry = self.features(frames, carry, condition, mask, deterministic=deterministic)
    return self.out.logits(y, self._prev(frames)), carry

  def _prev(self, frames):
    return frames.astype(jnp.float32) if self.pitch_context > 0 else None

  def key_logits(self, frames, targets, carry=None, condition=None, mask=None, *,
                 deterministic=True):
    """Logits ``[batch, time, keys]`` of ``p(targets[t, k] = 1 | frames[<= t], targets[t, < k])``
    (teacher forced)."""
    y, carry = self.features(frames, carry, condition, mask, deterministic=deterministic)
    return self.out.key_logits(y, targets, self._prev(frames), deterministic=deterministic), carry

  def log_prob(self, frames, targets, carry=None, condition=None, mask=None, *,
               deterministic=True):
    """Exact ``log p(targets[t] | frames[<= t])`` ``[batch, time]`` (nats), teacher forced."""
    y, carry = self.features(frames, carry, condition, mask, deterministic=deterministic)
    return self.out.log_prob(y, targets, self._prev(frames), deterministic=deterministic), carry

  def sample_frame(self, time_state, rng, temperature=1.0, prev=None):
    """A frame ``[batch, keys]`` from the head's joint distribution given ``time_state [batch, H]``
    (and, with ``pitch_context``, the frame ``prev [batch, keys]`` that produced it)."""
    return self.out.sample(time_state, rng, temperature, self._prev(prev) if prev is not None
                           else None)

  def frame_logits(self, time_state, prev=None):
    """Per-key logits ``[batch, keys]`` of the sigmoid head given ``time_state [batch, H]``."""
    return self.out.logits(time_state, self._prev(prev) if prev is not None else None)
