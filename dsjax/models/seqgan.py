"""Discriminators over token sequences for SeqGAN (Yu et al. 2017; the research log's 10/21 plan).

Both take event ids ``tokens [batch, time]`` (and an optional ``mask [batch, time]``, a valid prefix
per row) and give one logit per sequence ``[batch]``: ``sigmoid(logit)`` is the probability that the
sequence is real. That probability is the SeqGAN reward.

- :class:`CNNDiscriminator`: Yu et al.'s text CNN: embedding, one convolution per filter width
  (each spanning the whole embedding), ReLU, max-over-time pooling, highway layers, dropout, a linear
  logit.
- :class:`LSTMDiscriminator`: embedding, stacked LSTM, the last real step's hidden state (or the
  mean over real steps), dropout, a linear logit.
"""

from __future__ import annotations

from typing import Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from dsjax.nn.recurrent import LSTMStack

def _check_tokens(tokens, mask, name):
  if tokens.ndim != 2:
    raise ValueError(f'{name}: tokens must be [batch, time], got shape {tokens.shape}')
  if mask is not None and mask.shape != tokens.shape:
    raise ValueError(f'{name}: mask must have the tokens\' shape {tokens.shape}, got {mask.shape}')


class Highway(nn.Module):
  """``y = t * relu(W_h x + b_h) + (1 - t) * x`` with ``t = sigmoid(W_t x + b_t)``; ``[..., d]``.

  ``gate_bias`` initialises ``b_t`` (Yu et al. used 0; Srivastava et al. suggest about -2, which
  starts close to the identity).
  """
  gate_bias: float = 0.0

  @nn.compact
  def __call__(self, x):
    d = x.shape[-1]
    h = nn.relu(nn.Dense(d, name='transform')(x))
    t = nn.sigmoid(nn.Dense(d, bias_init=nn.initializers.constant(self.gate_bias), name='gate')(x))
    return t * h + (1.0 - t) * x


class CNNDiscriminator(nn.Module):
  """Yu et al.'s CNN: ``tokens [batch, time] -> logits [batch]``.

  Each filter width ``w`` is a ``[w, embed_dim] -> num_filters`` convolution over time ('valid'
  padding), ReLU, then the maximum over the positions whose ``w`` tokens are all real (mask).
  Widths longer than the sequence are an error.
  """
  vocab_size: int
  embed_dim: int = 64
  filter_widths: Sequence[int] = (2, 3, 4, 5, 8, 12, 16)
  num_filters: Sequence[int] = (64, 64, 64, 64, 64, 64, 64)
  highway_layers: int = 1
  highway_gate_bias: float = 0.0
  dropout_rate: float = 0.25

  @nn.compact
  def __call__(self, tokens, mask: Optional[jax.Array] = None, *, deterministic: bool = True):
    _check_tokens(tokens, mask, 'CNNDiscriminator')
    if len(self.filter_widths) != len(self.num_filters):
      raise ValueError(f'CNNDiscriminator: filter_widths {tuple(self.filter_widths)} and '
                       f'num_filters {tuple(self.num_filters)} must have the same length')
    time = tokens.shape[1]
    if max(self.filter_widths) > time:
      raise ValueError(f'CNNDiscriminator: filter widths {tuple(self.filter_widths)} are longer '
                       f'than the sequences ({time} tokens); use widths <= {time}')
    x = nn.Embed(self.vocab_size, self.embed_dim, name='embed')(tokens)  # [B, T, E]
    if mask is not None:
      x = x * mask[..., None].astype(x.dtype)
    pooled = []
    for i, (w, n) in enumerate(zip(self.filter_widths, self.num_filters)):
      h = nn.relu(nn.Conv(int(n), kernel_size=(int(w),), padding='VALID', name=f'conv_{w}')(x))
      if mask is not None:  # a window is real when its last token is (valid prefix)
        ok = mask[:, w - 1:, None] > 0  # [B, T - w + 1, 1]
        h = jnp.where(ok, h, 0.0)  # after ReLU every value is >= 0, so 0 never wins over a real one
      pooled.append(h.max(axis=1))  # [B, n]
    h = jnp.concatenate(pooled, axis=-1)
    for i in range(self.highway_layers):
      h = Highway(self.highway_gate_bias, name=f'highway_{i}')(h)
    h = nn.Dropout(self.dropout_rate)(h, deterministic=deterministic)
    return nn.Dense(1, name='logit')(h)[:, 0]


class LSTMDiscriminator(nn.Module):
  """``tokens [batch, time] -> logits [batch]`` from a stacked LSTM.

  ``pool='last'``: the hidden state at each row's last real step (masked steps keep the carry);
  ``pool='mean'``: the mean of the top layer's outputs over real steps.
  """
  vocab_size: int
  embed_dim: int = 64
  hidden: Sequence[int] = (128,)
  pool: str = 'last'
  dropout_rate: float = 0.25

  @nn.compact
  def __call__(self, tokens, mask: Optional[jax.Array] = None, *, deterministic: bool = True):
    _check_tokens(tokens, mask, 'LSTMDiscriminator')
    x = nn.Embed(self.vocab_size, self.embed_dim, name='embed')(tokens)
    y, carry = LSTMStack(tuple(self.hidden), dropout_rate=self.dropout_rate, name='rnn')(
        x, mask=mask, deterministic=deterministic)
    if self.pool == 'last':
      h = carry[-1][0]
    elif self.pool == 'mean':
      m = jnp.ones(tokens.shape, y.dtype) if mask is None else mask.astype(y.dtype)
      h = (y * m[..., None]).sum(1) / jnp.maximum(m.sum(1, keepdims=True), 1.0)
    else:
      raise ValueError(f"LSTMDiscriminator: pool={self.pool!r}, expected 'last' or 'mean'")
    h = nn.Dropout(self.dropout_rate)(h, deterministic=deterministic)
    return nn.Dense(1, name='logit')(h)[:, 0]


def make_discriminator(cfg, vocab_size: int) -> nn.Module:
  """The discriminator named by ``cfg.kind`` ('cnn' or 'lstm') with ``cfg``'s sizes."""
  kind = str(cfg.kind)
  if kind == 'cnn':
    return CNNDiscriminator(vocab_size=vocab_size, embed_dim=int(cfg.embed_dim),
                            filter_widths=tuple(int(w) for w in cfg.filter_widths),
                            num_filters=tuple(int(n) for n in cfg.num_filters),
                            highway_layers=int(cfg.highway_layers),
                            highway_gate_bias=float(cfg.highway_gate_bias),
                            dropout_rate=float(cfg.dropout_rate))
  if kind == 'lstm':
    return LSTMDiscriminator(vocab_size=vocab_size, embed_dim=int(cfg.embed_dim),
                             hidden=tuple(int(h) for h in cfg.hidden), pool=str(cfg.pool),
                             dropout_rate=float(cfg.dropout_rate))
  raise ValueError(f"config.discriminator.kind={kind!r}: expected 'cnn' or 'lstm'")
