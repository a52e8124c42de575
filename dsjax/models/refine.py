"""The refiners' network (log 11/03 RefineNet: durations; 11/17 velocity finetune).

A refiner reads a piece's notes in onset order (chords low to high) and predicts one attribute of
each note from the whole piece: a bidirectional LSTM over the notes, whose inputs are an embedding
of the pitch, an embedding of the onset's position in the bar, and numeric features (gaps between
onsets, chord context; :func:`dsjax.tasks.refine.note_rows` builds them). Two heads:

* durations: a categorical over ``1 .. max_steps`` grid steps (``outputs = max_steps``). Durations
  on a grid are discrete and often two-valued in one context (a crotchet or a minim after the same
  onsets), which a regression would average into a value that is neither; the categorical keeps
  both, and its median (:func:`categorical_median`) is the point that minimises the expected
  absolute error, the measure reported. Durations the piece rules out (past the next onset of the
  same pitch) are masked out of the softmax (:func:`masked_logits`).
* velocities: a regression (``outputs = 1``) of ``(velocity - 64) / 32``.

  model = NoteRefiner(outputs=16, hidden=(128,), bar_steps=16)
  out = model.apply({'params': p}, pitch, bar_pos, numeric, mask)     # [batch, notes, outputs]
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from dsjax.nn.recurrent import LSTM, Bidirectional

VELOCITY_CENTER = 64.0
VELOCITY_SCALE = 32.0


class NoteRefiner(nn.Module):
  """Bidirectional LSTM over notes -> per-note outputs (see the module docstring).

  ``pitch int [batch, notes]`` (MIDI 0..127), ``bar_pos int [batch, notes]`` (0..bar_steps-1),
  ``numeric float [batch, notes, F]``, ``mask [batch, notes]`` (1 = a note; padding at the end)
  -> ``[batch, notes, outputs]``.
  """
  outputs: int
  hidden: Sequence[int] = (128,)
  bar_steps: int = 16
  pitch_embed: int = 16
  dropout_rate: float = 0.0

  @nn.compact
  def __call__(self, pitch, bar_pos, numeric, mask, deterministic: bool = True):
    x = jnp.concatenate([
        nn.Embed(128, self.pitch_embed, name='pitch_embed')(jnp.clip(pitch, 0, 127)),
        nn.Embed(self.bar_steps, self.pitch_embed, name='bar_embed')(
            jnp.clip(bar_pos, 0, self.bar_steps - 1)),
        numeric], axis=-1)
    x = nn.relu(nn.Dense(self.hidden[0], name='input')(x))
    for i, width in enumerate(self.hidden):
      x = nn.Dropout(self.dropout_rate)(x, deterministic=deterministic)
      x, _ = Bidirectional(LSTM(width, parent=None), LSTM(width, parent=None),
                           name=f'bilstm_{i}')(x, mask=mask, deterministic=deterministic)
    x = nn.Dropout(self.dropout_rate)(x, deterministic=deterministic)
    x = nn.relu(nn.Dense(self.hidden[-1], name='hidden')(x))
    return nn.Dense(self.outputs, name='head')(x)


def masked_logits(logits: jax.Array, max_allowed: jax.Array) -> jax.Array:
  """``logits [..., K]`` of durations ``1..K`` with the classes above ``max_allowed [...]`` (steps,
  >= 1) set to a large negative number."""
  steps = jnp.arange(1, logits.shape[-1] + 1)
  return jnp.where(steps <= jnp.maximum(max_allowed, 1)[..., None], logits, -1e9)


def categorical_median(logits: jax.Array) -> jax.Array:
  """The median class (1-based: a duration in steps) of ``softmax(logits [..., K])``: the smallest
  ``k`` whose cumulative probability reaches 1/2 (up to float rounding: 1e-6). ``int32 [...]``."""
  cdf = jnp.cumsum(jax.nn.softmax(logits, axis=-1), axis=-1)
  return (jnp.sum(cdf < 0.5 - 1e-6, axis=-1) + 1).astype(jnp.int32)


def velocity_from_output(out: jax.Array) -> jax.Array:
  """The regression head's ``[..., 1]`` -> velocities ``[...]`` in 1..127 (float)."""
  return jnp.clip(out[..., 0] * VELOCITY_SCALE + VELOCITY_CENTER, 1.0, 127.0)


def velocity_to_target(velocity: jax.Array) -> jax.Array:
  return (velocity - VELOCITY_CENTER) / VELOCITY_SCALE
