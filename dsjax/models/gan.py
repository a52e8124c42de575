"""GAN generators and critics for piano rolls ``[batch, time, pitch]`` (log 11/01 to 11/20).

Generators map a code image ``[batch, code_time, code_dim]`` to a roll ``[batch, time, pitch]`` in
the generator's output scale: ``'sigmoid'`` gives [0, 1] (real rolls as {0, 1}), ``'tanh'`` gives
[-1, 1] (real rolls as {-1, +1}, what the original trained on: ``x * 2 - 1``).

* :class:`LSTMGenerator` (11/14 "vanilla LSTM GAN"): the per-step input is the code of that step
  plus the time indicator t / (T - 1) in [0, 1]; stacked LSTM; optional decision layer.
* :class:`DCRNNGenerator` (11/10 DCRNN): stacked RNN levels, each level's output repeated
  ``repeats[i]`` times along time (nearest-neighbour upsampling), so the first level runs at
  ``time / prod(repeats)`` steps; default GRU [256, 128, 128] with repeats [8, 2, 1].
* Decision layers (:class:`DecisionLayer`): ``'dense'`` (linear to the pitches), ``'none'`` (the
  last LSTM layer has one unit per pitch and its output is the roll: tanh scale as it is,
  sigmoid scale as (h + 1) / 2), ``'strip'`` (:class:`StripDeconv`, 11/20).

Code schedules (:func:`code_schedule`): how the code changes along time, 11/14 and 11/15.

Critics map a roll ``[batch, time, pitch]`` to one score per example ``[batch]`` (a logit for the
standard GAN loss, an unbounded score for WGAN-GP). By default none uses batch statistics, so the
gradient of ``critic(x).sum()`` with respect to ``x`` is the per-example input gradient the penalty
needs; with ``minibatch_std=True`` (:func:`minibatch_std`) each score also depends on the rest of
its batch, and that gradient gains the (small) terms through the batch spread.

* :class:`CNNCritic` (original DCRNN critic): two towers, one over the roll X ``[time, pitch]``
  and one over its self-similarity X X^T ``[time, time]``.
* :class:`LSTMCritic`: an LSTM (or bidirectional LSTM) over the frames with a readout: ``'last'``
  (linear on the final hidden state; the W2 benchmark's critic), ``'mean'`` (a linear score per
  step, averaged over time: every frame has a direct path to the score, and it works at any
  length) or ``'steps'`` (the original ``rnn_dis``: a linear score per step, then a linear layer
  over the ``time`` scores; needs the training length).

All recurrences are ``dsjax.nn`` LSTMs / GRUs (``lax.scan``). The LSTM's custom VJP is twice
differentiable (``tests/nn/test_recurrent.py`` and ``tests/models/test_gan.py`` check the WGAN-GP
gradient against finite differences), so ``impl='custom_vjp'`` is correct for the penalty taken
through a recurrent critic, and ``impl='autodiff'`` is the plain reference.
"""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from dsjax.nn import GRU, LSTM, Bidirectional, LSTMStack
from dsjax.nn.recurrent import lstm_stack_stepper

Array = jax.Array

SCHEDULES = ('constant', 'linspace', 'song', 'ab')
OUTPUTS = ('sigmoid', 'tanh')
DECISIONS = ('dense', 'none', 'strip')
READOUTS = ('last', 'mean', 'steps')


# ------------------------------------------------------------------------------- code schedules


def sample_noise(rng: Array, shape, distribution: str = 'uniform', dtype=jnp.float32) -> Array:
  """Noise codes: ``'uniform'`` U[-1, 1] (the DCRNN's) or ``'normal'`` N(0, 1) (RhythmGAN's)."""
  if distribution == 'uniform':
    return jax.random.uniform(rng, shape, dtype, -1.0, 1.0)
  if distribution == 'normal':
    return jax.random.normal(rng, shape, dtype)
  raise ValueError(f"code distribution {distribution!r}: expected 'uniform' or 'normal'")


def song_code_features(song: Array, kind: str = 'chroma', lowest_pitch: int = 21) -> Array:
  """Real rolls ``[batch, time, pitch]`` in {0, 1} -> code features ``[batch, time, F]`` in {0, 1}.

  ``'chroma'``: F = 12, pitch class c (C = 0) is on when any key of that class sounds (an
  octave-invariant view of the harmony); ``'roll'``: F = pitch, the roll itself (the original
  Fillblank's code image).
  """
  song = jnp.asarray(song)
  if song.ndim != 3:
    raise ValueError(f'song: expected [batch, time, pitch], got shape {song.shape}')
  if kind == 'roll':
    return (song > 0.5).astype(jnp.float32)
  if kind == 'chroma':
    classes = (int(lowest_pitch) + np.arange(song.shape[-1])) % 12
    onehot = jnp.asarray(classes[:, None] == np.arange(12)[None, :], jnp.float32)  # [pitch, 12]
    return (jnp.einsum('btp,pc->btc', (song > 0.5).astype(jnp.float32), onehot) > 0
            ).astype(jnp.float32)
  raise ValueError(f"song code features {kind!r}: expected 'chroma' or 'roll'")


def code_schedule(kind: str, rng: Array, batch: int, time: int, code_dim: int, *,
                  distribution: str = 'uniform', block: int = 16, num_codes: int = 2,
                  song: Optional[Array] = None, song_drop: float = 0.2,
                  song_features: str = 'chroma', lowest_pitch: int = 21) -> Array:
  """A code image ``[batch, time, code_dim]``: the generator's per-step noise input.

  Args:
    kind: ``'constant'``: one code per example, the same at every step (11/14);
      ``'linspace'``: two codes a, b per example, ``code_t = a + (b - a) * t / (time - 1)``, so step
      0 is exactly a and the last step exactly b (11/14 "linearly changing noise vector");
      ``'ab'``: ``num_codes`` codes per example in blocks of ``block`` steps, cycling: A A B B A A B B
      for block 2 (11/15 "AB code generation"; ``num_codes=3`` gives A B C A B C ...);
      ``'song'``: codes taken from a real song under a noise mask (11/15 "DCRNN with noisy real
      song"). The song's features (:func:`song_code_features`, F dims) are kept where a
      Bernoulli(1 - ``song_drop``) mask is 1 and zeroed elsewhere (the original Fillblank dropped
      20% of the cells), mapped to {-1, +1} (the range of the uniform codes); the remaining
      ``code_dim - F`` dims are a noise code constant over time (a per-example "style"). So the
      code repeats where the song repeats, and the generation follows the song's changes.
    rng: PRNG key.
    batch, time, code_dim: output shape; ``time`` is in code steps (the first DCRNN level runs at
      ``time / prod(repeats)`` steps: pass the song at that resolution, see :func:`downsample_roll`).
    distribution: noise of the codes, ``'uniform'`` (U[-1, 1]) or ``'normal'``.
    block, num_codes: the ``'ab'`` pattern.
    song: ``[batch, time, pitch]`` in {0, 1} for ``'song'``.
    song_drop: fraction of song cells masked out.
    song_features, lowest_pitch: see :func:`song_code_features`.
  """
  shape = (batch, 1, code_dim)
  if kind == 'constant':
    return jnp.broadcast_to(sample_noise(rng, shape, distribution), (batch, time, code_dim))
  if kind == 'linspace':
    ka, kb = jax.random.split(rng)
    a, b = sample_noise(ka, shape, distribution), sample_noise(kb, shape, distribution)
    frac = jnp.linspace(0.0, 1.0, time) if time > 1 else jnp.zeros((1,))
    return a + (b - a) * frac[None, :, None]
  if kind == 'ab':
    if block < 1 or num_codes < 1:
      raise ValueError(f"'ab' code schedule: block={block} and num_codes={num_codes} must be >= 1")
    codes = sample_noise(rng, (batch, num_codes, code_dim), distribution)
    which = (np.arange(time) // int(block)) % int(num_codes)
    return codes[:, which]
  if kind == 'song':
    if song is None:
      raise ValueError("'song' code schedule needs song=[batch, time, pitch] (real rolls)")
    feats = song_code_features(song, song_features, lowest_pitch)
    if feats.shape[:2] != (batch, time):
      raise ValueError(f"'song' code schedule: song features {feats.shape} do not match "
                       f'[batch, time] = {(batch, time)}')
    if feats.shape[-1] > code_dim:
      raise ValueError(f"'song' code schedule: code_dim={code_dim} is smaller than the "
                       f'{feats.shape[-1]} song features ({song_features!r})')
    k_mask, k_noise = jax.random.split(rng)
    keep = jax.random.bernoulli(k_mask, 1.0 - song_drop, feats.shape)
    part = jnp.where(keep, feats, 0.0) * 2.0 - 1.0
    rest = code_dim - feats.shape[-1]
    if rest:
      style = sample_noise(k_noise, (batch, 1, rest), distribution)
      part = jnp.concatenate([part, jnp.broadcast_to(style, (batch, time, rest))], axis=-1)
    return part
  raise ValueError(f'code schedule {kind!r}: expected one of {SCHEDULES}')


def add_step_noise(code: Array, rng: Array, dims: int, distribution: str = 'uniform',
                   hold: int = 1) -> Array:
  """Appends ``dims`` channels of fresh noise per step: ``[batch, time, code_dim]`` ->
  ``[batch, time, code_dim + dims]`` (``dims=0`` returns ``code`` as is).

  A code constant over time is a constant input, which drives an LSTM to a fixed point (a chord
  held for the whole window); noise drawn anew at every step gives the generator a source of change
  along time while the code keeps the per-example (or scheduled) identity. With ``hold > 1`` each
  draw is held for ``hold`` steps (piecewise-constant noise, blocks aligned to step 0): a slower
  source of change, against outputs that flicker from frame to frame. ``hold=1`` draws the same
  values as before the option existed.
  """
  if dims < 0:
    raise ValueError(f'step noise dims={dims} must be >= 0')
  if hold < 1:
    raise ValueError(f'step noise hold={hold} must be >= 1')
  if not dims:
    return code
  batch, time = code.shape[:2]
  blocks = -(-time // hold)   # hold=1: one block per step, the plain per-step draw
  noise = sample_noise(rng, (batch, blocks, int(dims)), distribution, code.dtype)
  noise = jnp.repeat(noise, hold, axis=1)[:, :time]
  return jnp.concatenate([code, noise], axis=-1)


def downsample_roll(roll: Array, factor: int, time: Optional[int] = None) -> Array:
  """``[batch, T, pitch]`` -> ``[batch, ceil(T / factor), pitch]``: a key is on in a block of
  ``factor`` frames when it sounds in any of them (block max). ``time`` crops or pads the result."""
  roll = jnp.asarray(roll)
  b, t, p = roll.shape
  n = -(-t // factor)
  padded = jnp.pad(roll, ((0, 0), (0, n * factor - t), (0, 0)))
  out = padded.reshape(b, n, factor, p).max(axis=2)
  if time is not None:
    out = out[:, :time] if time <= n else jnp.pad(out, ((0, 0), (0, time - n), (0, 0)))
  return out


def time_indicator(batch: int, time: int, dtype=jnp.float32) -> Array:
  """``[batch, time, 1]`` with ``t / (time - 1)``: 0.0 at the first step, 1.0 at the last (11/14)."""
  frac = jnp.linspace(0.0, 1.0, time, dtype=dtype) if time > 1 else jnp.zeros((1,), dtype)
  return jnp.broadcast_to(frac[None, :, None], (batch, time, 1))


# ------------------------------------------------------------------------------ decision layers


def activate(z: Array, output: str) -> Array:
  if output == 'sigmoid':
    return jax.nn.sigmoid(z)
  if output == 'tanh':
    return jnp.tanh(z)
  raise ValueError(f'generator output {output!r}: expected one of {OUTPUTS}')


def off_value(output: str) -> float:
  """The value of a silent key in the output scale (0 for sigmoid, -1 for tanh)."""
  return 0.0 if output == 'sigmoid' else -1.0


class StripDeconv(nn.Module):
  """Strip-deconvolution decision layer (11/20): octave "strips" from one shared 1x12 kernel.

  ``h [batch, time, H]`` -> linear to ``strips * channels`` -> ``[batch, time, strips, channels]``
  -> transposed convolution with one output filter, kernel 1x12, stride 1x12 (each strip's
  ``channels`` values become 12 adjacent keys, with the same kernel in every octave, so a chord
  shape learned once is reusable on the whole keyboard) -> activation -> ``[batch, time, pitch]``.
  ``strips = pitch // 12``; the ``pitch - 12 * strips`` keys left over are split between both
  ends and always silent (the original: 10 strips = keys 4..123 of 128, padded with -1).
  """
  pitches: int
  channels: int = 32
  output: str = 'tanh'
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, h: Array) -> Array:
    strips = self.pitches // 12
    if strips < 1:
      raise ValueError(f'StripDeconv: pitches={self.pitches} has no full octave')
    b, t, _ = h.shape
    z = nn.Dense(strips * self.channels, param_dtype=self.param_dtype, name='to_strips')(h)
    z = z.reshape(b, t, strips, self.channels)
    z = nn.ConvTranspose(1, (1, 12), strides=(1, 12), padding='VALID',
                         param_dtype=self.param_dtype, name='strip_kernel')(z)
    y = activate(z.reshape(b, t, strips * 12), self.output)
    extra = self.pitches - strips * 12
    left = extra // 2
    return jnp.pad(y, ((0, 0), (0, 0), (left, extra - left)),
                   constant_values=off_value(self.output))


class DecisionLayer(nn.Module):
  """Hidden states ``[batch, time, H]`` -> roll ``[batch, time, pitch]`` in the output scale.

  ``kind``: ``'dense'`` (linear + activation), ``'strip'`` (:class:`StripDeconv`) or ``'none'``
  (``H`` must equal ``pitch``; the LSTM output h in (-1, 1) is the roll: as is for tanh,
  ``(h + 1) / 2`` for sigmoid).
  """
  pitches: int
  kind: str = 'dense'
  output: str = 'sigmoid'
  strip_channels: int = 32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, h: Array) -> Array:
    if self.kind == 'dense':
      return activate(nn.Dense(self.pitches, param_dtype=self.param_dtype, name='decision')(h),
                      self.output)
    if self.kind == 'strip':
      return StripDeconv(self.pitches, self.strip_channels, self.output, self.param_dtype,
                         name='strip_deconv')(h)
    if self.kind == 'none':
      if h.shape[-1] != self.pitches:
        raise ValueError(f"decision 'none': the last layer has {h.shape[-1]} units, "
                         f'expected one per pitch ({self.pitches})')
      activate(h, self.output)  # validates the output name
      return h if self.output == 'tanh' else 0.5 * (h + 1.0)
    raise ValueError(f'decision layer {self.kind!r}: expected one of {DECISIONS}')


def melody_head(h: Array, pitches: int, param_dtype=jnp.float32) -> Array:
  """One melody note per frame (or none): a softmax over ``pitches + 1`` classes (the last one:
  rest) from ``h [batch, time, H]``, its argmax as a one-hot roll ``[batch, time, pitch]`` in the
  forward pass with the softmax's gradient (straight-through). Call inside a compact module."""
  logits = nn.Dense(pitches + 1, param_dtype=param_dtype, name='melody')(h)
  probs = jax.nn.softmax(logits.astype(jnp.float32), axis=-1).astype(h.dtype)
  hard = jax.nn.one_hot(jnp.argmax(logits, axis=-1), pitches + 1, dtype=h.dtype)
  return (probs + jax.lax.stop_gradient(hard - probs))[..., :pitches]


# ----------------------------------------------------------------------------------- generators


class LSTMGenerator(nn.Module):
  """Code image ``[batch, time, code_dim]`` -> roll ``[batch, time, pitch]`` (11/14).

  The input of the LSTM at step t is ``code[:, t]`` plus, with ``time_indicator``, t / (T - 1).
  With ``decision='none'`` a last LSTM layer of ``pitch`` units is added after ``hidden``.
  With ``melody``, a second output of one note per frame (or a rest, :func:`melody_head`) is
  laid over the decision layer's roll (their maximum): a voice that can only be a single line.
  """
  pitches: int
  hidden: Sequence[int] = (256,)
  decision: str = 'dense'
  output: str = 'sigmoid'
  time_indicator: bool = True
  strip_channels: int = 32
  melody: bool = False
  impl: str = 'custom_vjp'
  param_dtype: Any = jnp.float32

  def code_length(self, length: int) -> int:
    """Code steps for a roll of ``length`` frames (one code per frame)."""
    return int(length)

  @nn.compact
  def __call__(self, code: Array, length: Optional[int] = None) -> Array:
    if code.ndim != 3:
      raise ValueError(f'LSTMGenerator: code must be [batch, time, code_dim], got {code.shape}')
    if length is not None and length != code.shape[1]:
      raise ValueError(f'LSTMGenerator: code has {code.shape[1]} steps, length is {length}')
    x = code
    if self.time_indicator:
      x = jnp.concatenate([x, time_indicator(x.shape[0], x.shape[1], x.dtype)], axis=-1)
    features = tuple(self.hidden) + ((self.pitches,) if self.decision == 'none' else ())
    h, _ = LSTMStack(features, impl=self.impl, param_dtype=self.param_dtype, name='lstm')(x)
    roll = DecisionLayer(self.pitches, self.decision, self.output, self.strip_channels,
                         self.param_dtype, name='decision')(h)
    if not self.melody:
      return roll
    if self.output != 'sigmoid':
      raise ValueError("LSTMGenerator: melody needs output='sigmoid'")
    return jnp.maximum(roll, melody_head(h, self.pitches, self.param_dtype))


def top_note(rolls: Array) -> Array:
  """The class of each frame's highest sounding key: ``rolls [..., pitch]`` in {0, 1} -> int
  ``[...]``, the key's column, or ``pitch`` (the rest class) for a silent frame."""
  on = rolls > 0.5
  p = rolls.shape[-1]
  top = p - 1 - jnp.argmax(on[..., ::-1], axis=-1)
  return jnp.where(on.any(-1), top, p)


ACCOMPANIMENTS = ('threshold', 'sample')


def accompaniment_mask(top: Array, pitches: int) -> Array:
  """Which keys the accompaniment may sound under a melody class ``top [...]`` (a key's column,
  or ``pitches`` for the rest): the keys below the melody note; none under a rest (a rest is a
  silent frame). ``[..., pitches]`` bool."""
  return (jnp.arange(pitches) < top[..., None]) & (top[..., None] < pitches)


class FeedbackLSTMGenerator(nn.Module):
  """An LSTM generator that reads its own last frame (C-RNN-GAN's feedback), so that it can be
  trained as a language model of rolls too (``gan.mle_weight``).

  The input at step t is ``code[:, t]``, the time indicator (optional) and the frame it output at
  step t - 1 (silence before the first). Each frame is binary in the forward pass (gradients
  straight through, rng stream ``'sample'`` for the draws):

  * without ``melody``: each key from its sigmoid, thresholded at 0.5 (``accompaniment=
    'threshold'``: the most likely value of each key) or drawn (``'sample'``: logistic noise);
  * with ``melody``: the frame's highest key (or a rest: a silent frame) drawn from a softmax over
    ``pitches + 1`` classes by Gumbel-max, and under it the accompaniment keys below that note,
    thresholded or drawn as above.

  :meth:`frame_nll` is the teacher-forced negative log-likelihood of real rolls (nats per frame)
  under the same factorisation, with the real frame before as the feedback: the melody head's
  cross-entropy of each frame's highest key (or the rest), plus the accompaniment's Bernoulli
  loss of the keys below it (of every key without ``melody``). With ``accompaniment='sample'`` it
  is the NLL of the distribution the generator draws from; with ``'threshold'`` the generator
  takes the accompaniment's most likely keys. ``code [batch, time, code_dim]`` -> ``[batch, time,
  pitch]`` in {0, 1}.
  """
  pitches: int
  hidden: Sequence[int] = (256,)
  time_indicator: bool = True
  melody: bool = False
  accompaniment: str = 'threshold'
  impl: str = 'custom_vjp'
  param_dtype: Any = jnp.float32

  def code_length(self, length: int) -> int:
    return int(length)

  def setup(self):
    if self.accompaniment not in ACCOMPANIMENTS:
      raise ValueError(f'accompaniment={self.accompaniment!r}: expected one of {ACCOMPANIMENTS}')
    self.lstm = LSTMStack(tuple(self.hidden), impl=self.impl, param_dtype=self.param_dtype)
    self.decision = nn.Dense(self.pitches, param_dtype=self.param_dtype)
    if self.melody:
      self.melody_out = nn.Dense(self.pitches + 1, param_dtype=self.param_dtype)

  def _code_inputs(self, code: Array) -> Array:
    if code.ndim != 3:
      raise ValueError(f'FeedbackLSTMGenerator: code must be [batch, time, code_dim], got '
                       f'{code.shape}')
    if self.time_indicator:
      code = jnp.concatenate([code, time_indicator(code.shape[0], code.shape[1], code.dtype)], -1)
    return code

  def _heads(self, h: Array):
    acc = self.decision(h)
    return acc, (self.melody_out(h) if self.melody else None)

  def teacher_forced(self, code: Array, real: Array):
    """The heads' logits at each step of ``real [batch, time, pitch]`` in {0, 1} when the frame
    fed back is the real one before: ``(accompaniment [batch, time, pitch], melody [batch, time,
    pitch + 1] or None)``. When ``real`` is the generator's own output these are the logits its
    frames were drawn from."""
    x = self._code_inputs(code)
    if real.shape[:2] != x.shape[:2] or real.shape[-1] != self.pitches:
      raise ValueError(f'teacher_forced: real {real.shape} does not match code {code.shape} and '
                       f'{self.pitches} keys')
    prev = jnp.pad((real > 0.5).astype(x.dtype), ((0, 0), (1, 0), (0, 0)))[:, :-1]
    h, _ = self.lstm(jnp.concatenate([x, prev], axis=-1))
    return self._heads(h)

  def frame_nll(self, code: Array, real: Array) -> Array:
    """Teacher-forced NLL (nats per frame, mean over batch and time) of ``real [batch, time,
    pitch]`` in {0, 1}, the generator reading ``code`` and the real frame before each frame."""
    acc_logits, mel_logits = self.teacher_forced(code, real)
    real = (real > 0.5).astype(acc_logits.dtype)
    z = acc_logits.astype(jnp.float32)
    bce = jnp.maximum(z, 0) - z * real + jnp.log1p(jnp.exp(-jnp.abs(z)))   # [b, t, p]
    if not self.melody:
      return jnp.mean(jnp.sum(bce, axis=-1))
    top = top_note(real)
    logp = jax.nn.log_softmax(mel_logits.astype(jnp.float32), axis=-1)
    nll = -jnp.take_along_axis(logp, top[..., None], axis=-1)[..., 0]
    below = accompaniment_mask(top, self.pitches)
    return jnp.mean(nll + jnp.sum(jnp.where(below, bce, 0.0), axis=-1))

  def __call__(self, code: Array, length: Optional[int] = None) -> Array:
    x = self._code_inputs(code)
    b, t, _ = x.shape
    if length is not None and length != t:
      raise ValueError(f'FeedbackLSTMGenerator: code has {t} steps, length is {length}')
    p = self.pitches
    if self.is_initializing():   # creates the parameters the scan below reads
      self._heads(self.lstm(jnp.zeros((b, 1, x.shape[-1] + p), x.dtype))[0])
    step = lstm_stack_stepper(self.lstm.variables['params'])
    w_acc = self.decision.variables['params']
    w_mel = self.melody_out.variables['params'] if self.melody else None
    k_mel, k_acc = jax.random.split(self.make_rng('sample'))
    gumbel = (jax.random.gumbel(k_mel, (t, b, p + 1), x.dtype) if self.melody
              else jnp.zeros((t, b, 0), x.dtype))
    logistic = (jax.random.logistic(k_acc, (t, b, p), x.dtype) if self.accompaniment == 'sample'
                else jnp.zeros((t, b, p), x.dtype))

    def body(carry, inp):
      state, prev = carry
      x_t, g_t, l_t = inp
      h, state = step(state, x=jnp.concatenate([x_t, prev], axis=-1))
      z = h @ w_acc['kernel'] + w_acc['bias']
      prob = jax.nn.sigmoid(z)
      frame = prob + jax.lax.stop_gradient((z + l_t > 0).astype(prob.dtype) - prob)
      if w_mel is not None:
        logits = h @ w_mel['kernel'] + w_mel['bias']
        soft = jax.nn.softmax(logits, axis=-1)
        top = jnp.argmax(logits + g_t, axis=-1)
        hard = jax.nn.one_hot(top, p + 1, dtype=soft.dtype)
        frame = jnp.where(accompaniment_mask(top, p), frame, 0.0)
        frame = frame + (soft + jax.lax.stop_gradient(hard - soft))[:, :p]
      return (state, frame), frame

    carry = (self.lstm.initial_carry(b), jnp.zeros((b, p), x.dtype))
    _, frames = jax.lax.scan(body, carry, (jnp.swapaxes(x, 0, 1), gumbel, logistic))
    return jnp.swapaxes(frames, 0, 1)


class DCRNNGenerator(nn.Module):
  """The hierarchical "deconvolutional" RNN generator (11/10).

  ``code [batch, code_length(length), code_dim]`` -> roll ``[batch, length, pitch]``. Level i is
  one RNN layer of ``cells[i]`` units (GRU or LSTM, optionally bidirectional with the two
  directions concatenated) whose output frames are each repeated ``repeats[i]`` times along time;
  the last level's output is cropped to ``length`` and goes through the decision layer. The time
  indicator, when on, is appended to the code at the code resolution.
  """
  pitches: int
  cells: Sequence[int] = (256, 128, 128)
  repeats: Sequence[int] = (8, 2, 1)
  cell: str = 'gru'
  bidirectional: bool = False
  decision: str = 'dense'
  output: str = 'tanh'
  time_indicator: bool = True
  strip_channels: int = 32
  impl: str = 'custom_vjp'
  param_dtype: Any = jnp.float32

  def upsampling(self) -> int:
    return int(np.prod(self.repeats)) if len(self.repeats) else 1

  def code_length(self, length: int) -> int:
    """Code steps for ``length`` frames: ``ceil(length / prod(repeats))``."""
    return -(-int(length) // self.upsampling())

  def _rnn(self, features: int, **kw):
    if self.cell == 'gru':
      return GRU(features, param_dtype=self.param_dtype, **kw)
    if self.cell == 'lstm':
      return LSTM(features, impl=self.impl, param_dtype=self.param_dtype, **kw)
    raise ValueError(f"DCRNN cell {self.cell!r}: expected 'gru' or 'lstm'")

  @nn.compact
  def __call__(self, code: Array, length: Optional[int] = None) -> Array:
    if code.ndim != 3:
      raise ValueError(f'DCRNNGenerator: code must be [batch, time, code_dim], got {code.shape}')
    if len(self.cells) != len(self.repeats):
      raise ValueError(f'DCRNN: cells {tuple(self.cells)} and repeats {tuple(self.repeats)} '
                       f'must have the same length')
    if length is None:
      length = code.shape[1] * self.upsampling()
    if code.shape[1] != self.code_length(length):
      raise ValueError(f'DCRNNGenerator: {length} frames need {self.code_length(length)} code '
                       f'steps (repeats {tuple(self.repeats)}), got {code.shape[1]}')
    x = code
    if self.time_indicator:
      x = jnp.concatenate([x, time_indicator(x.shape[0], x.shape[1], x.dtype)], axis=-1)
    for i, (features, r) in enumerate(zip(self.cells, self.repeats)):
      if self.bidirectional:
        # parent=None: the two directions become children of the Bidirectional module
        rnn = Bidirectional(self._rnn(features, parent=None), self._rnn(features, parent=None),
                            name=f'level_{i}')
      else:
        rnn = self._rnn(features, name=f'level_{i}')
      x, _ = rnn(x)
      if r > 1:
        x = jnp.repeat(x, int(r), axis=1)   # nearest-neighbour upsampling along time
    x = x[:, :length]
    return DecisionLayer(self.pitches, self.decision, self.output, self.strip_channels,
                         self.param_dtype, name='decision')(x)


# -------------------------------------------------------------------------------------- critics


def minibatch_std(features: Array) -> Array:
  """``[batch, ...]`` -> ``[batch, 1]``: the standard deviation of each feature over the batch,
  averaged over the features, given to every example (Karras et al. 2018's minibatch standard
  deviation). A batch whose examples are all alike (a collapsed generator) gets a value near 0,
  which a critic can learn to score as fake; unlike every other critic input it mixes examples, so
  real and fake batches must go through the critic separately.
  """
  f = features.reshape(features.shape[0], -1).astype(jnp.float32)
  std = jnp.sqrt(jnp.var(f, axis=0) + 1e-8)
  return jnp.broadcast_to(jnp.mean(std), (features.shape[0], 1)).astype(features.dtype)


class CNNCritic(nn.Module):
  """The original DCRNN critic: two convolutional towers, one score per example.

  Tower 1 reads the self-similarity matrix ``X X^T / pitch`` ``[time, time]`` (divided by the
  number of keys so that it stays in [-1, 1] for {-1, +1} rolls; the original used X X^T as is),
  tower 2 the roll ``X [time, pitch]``. Each tower: for every entry of ``features``, a
  ``kernel x kernel`` 'SAME' convolution, ReLU (slim's default activation, which made the
  original's LReLU moot) and a 2x2 max-pool ('VALID'). Their flattened features are concatenated,
  then ``dense`` units with LReLU(0.2), then a linear score. Original sizes: features (32, 64, 128,
  128), kernel 5, dense 200. ``x [batch, time, pitch]`` -> ``[batch]``. The input length is fixed
  by the first call (the dense layer reads the flattened towers).
  """
  features: Sequence[int] = (32, 64, 128, 128)
  kernel: int = 5
  dense: int = 200
  self_similarity: bool = True
  minibatch_std: bool = False
  param_dtype: Any = jnp.float32

  def _tower(self, img: Array, name: str) -> Array:
    for i, f in enumerate(self.features):
      if min(img.shape[1:3]) < 2:
        raise ValueError(f'CNNCritic: input {img.shape[1:3]} is too small for '
                         f'{len(self.features)} 2x2 poolings; use a longer window or fewer layers')
      img = nn.Conv(f, (self.kernel, self.kernel), padding='SAME', param_dtype=self.param_dtype,
                    name=f'{name}_conv_{i}')(img)
      img = nn.max_pool(nn.relu(img), (2, 2), strides=(2, 2), padding='VALID')
    return img.reshape(img.shape[0], -1)

  @nn.compact
  def __call__(self, x: Array) -> Array:
    if x.ndim != 3:
      raise ValueError(f'CNNCritic: expected [batch, time, pitch], got {x.shape}')
    feats = [self._tower(x[..., None], 'roll')]
    if self.self_similarity:
      sim = jnp.einsum('btp,bsp->bts', x, x) / x.shape[-1]
      feats.insert(0, self._tower(sim[..., None], 'similarity'))
    h = jnp.concatenate(feats, axis=-1)
    if self.minibatch_std:
      h = jnp.concatenate([h, minibatch_std(h)], axis=-1)
    h = nn.leaky_relu(nn.Dense(self.dense, param_dtype=self.param_dtype, name='dense')(h), 0.2)
    return nn.Dense(1, param_dtype=self.param_dtype, name='score')(h)[:, 0]


class LSTMCritic(nn.Module):
  """LSTM (or bidirectional LSTM) critic over frames: ``x [batch, time, pitch]`` -> ``[batch]``.

  ``readout``: ``'last'`` = linear on the last layer's final hidden state (bidirectional: the
  forward direction's state after the last frame concatenated with the backward direction's state
  after the first frame); ``'mean'`` = a linear score per step averaged over time; ``'steps'`` =
  the original ``rnn_dis``: a linear score per step, then a linear layer over the ``time`` scores
  (fixes the input length at the first call).
  """
  hidden: Sequence[int] = (256,)
  readout: str = 'last'
  bidirectional: bool = False
  minibatch_std: bool = False
  motion: bool = False
  pitch_conv: int = 0
  impl: str = 'custom_vjp'
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: Array) -> Array:
    if x.ndim != 3:
      raise ValueError(f'LSTMCritic: expected [batch, time, pitch], got {x.shape}')
    if self.readout not in READOUTS:
      raise ValueError(f'LSTMCritic readout {self.readout!r}: expected one of {READOUTS}')
    x = self.frame_features(x)

    def stack(**kw):
      return LSTMStack(tuple(self.hidden), impl=self.impl, param_dtype=self.param_dtype, **kw)

    if self.bidirectional:
      ys, (carry_f, carry_b) = Bidirectional(stack(parent=None), stack(parent=None),
                                             name='bilstm')(x)
      last = jnp.concatenate([carry_f[-1][0], carry_b[-1][0]], axis=-1)
    else:
      ys, carry = stack(name='lstm')(x)
      last = carry[-1][0]
    score = nn.Dense(1, param_dtype=self.param_dtype, name='score')
    if self.readout == 'last':
      out = score(last)[:, 0]
    else:
      per_step = score(ys)[..., 0]                              # [batch, time]
      if self.readout == 'mean':
        out = per_step.mean(axis=1)
      else:
        out = nn.Dense(1, param_dtype=self.param_dtype, name='over_time')(per_step)[:, 0]
    if self.minibatch_std:   # a learned weight on the batch spread of the hidden states
      spread = minibatch_std(last if self.readout == 'last' else ys)
      out = out + nn.Dense(1, use_bias=False, param_dtype=self.param_dtype,
                           name='minibatch_std')(spread)[:, 0]
    return out

  @nn.compact
  def frame_features(self, x: Array) -> Array:
    """The LSTM's input per frame: the frame, with ``motion`` its change from the frame before
    (the first frame's from silence), with ``pitch_conv = C`` C channels of a 12-key convolution
    across pitch (a leaky ReLU after it), flattened: ``[batch, time, pitch * (1 + motion + C)]``."""
    parts = [x]
    if self.motion:
      parts.append(x - jnp.pad(x, ((0, 0), (1, 0), (0, 0)))[:, :-1])
    if self.pitch_conv:
      b, t, p = x.shape
      conv = nn.Conv(int(self.pitch_conv), (12,), padding='SAME', param_dtype=self.param_dtype,
                     name='pitch_conv')(x.reshape(b * t, p, 1))
      parts.append(nn.leaky_relu(conv, 0.2).reshape(b, t, p * int(self.pitch_conv)))
    return jnp.concatenate(parts, axis=-1) if len(parts) > 1 else x


# ----------------------------------------------------------------------------------- factories


def make_generator(cfg, pitches: int) -> nn.Module:
  """A generator from ``config.model.generator`` (``kind``: 'lstm' or 'dcrnn')."""
  kind = str(cfg.kind)
  common = dict(pitches=int(pitches), decision=str(cfg.decision), output=str(cfg.output),
                time_indicator=bool(cfg.time_indicator),
                strip_channels=int(cfg.strip_channels),
                impl=str(cfg.impl))
  if common['decision'] not in DECISIONS:
    raise ValueError(f'config.model.generator.decision={common["decision"]!r}: expected one of '
                     f'{DECISIONS}')
  if common['output'] not in OUTPUTS:
    raise ValueError(f'config.model.generator.output={common["output"]!r}: expected one of '
                     f'{OUTPUTS}')
  if kind == 'lstm' and bool(cfg.feedback):
    if str(cfg.accompaniment) not in ACCOMPANIMENTS:
      raise ValueError(f'config.model.generator.accompaniment={cfg.accompaniment!r}: expected one '
                       f'of {ACCOMPANIMENTS}')
    if common['decision'] != 'dense' or common['output'] != 'sigmoid':
      raise ValueError("config.model.generator.feedback=True needs decision='dense' and "
                       "output='sigmoid'")
    return FeedbackLSTMGenerator(pitches=int(pitches), hidden=tuple(int(h) for h in cfg.hidden),
                                 time_indicator=bool(cfg.time_indicator),
                                 melody=bool(cfg.melody),
                                 accompaniment=str(cfg.accompaniment), impl=str(cfg.impl))
  if bool(cfg.feedback):
    raise ValueError(f'config.model.generator.feedback=True: only the lstm generator reads its '
                     f'own frames, not {kind!r}')
  if kind == 'lstm':
    return LSTMGenerator(hidden=tuple(int(h) for h in cfg.hidden), melody=bool(cfg.melody),
                         **common)
  if bool(cfg.melody):
    raise ValueError(f'config.model.generator.melody=True: only the lstm generator has a melody '
                     f'head, not {kind!r}')
  if kind == 'dcrnn':
    cells = tuple(int(h) for h in cfg.hidden)
    repeats = tuple(int(r) for r in cfg.repeats)
    if len(cells) != len(repeats) or not cells:
      raise ValueError(f'config.model.generator: dcrnn needs one repeat per level, got hidden '
                       f'{cells} and repeats {repeats}')
    return DCRNNGenerator(cells=cells, repeats=repeats, cell=str(cfg.cell),
                          bidirectional=bool(cfg.bidirectional), **common)
  raise ValueError(f"config.model.generator.kind={kind!r}: expected 'lstm' or 'dcrnn'")


def make_critic(cfg) -> nn.Module:
  """A critic from ``config.model.critic`` (``kind``: 'cnn', 'lstm' or 'bilstm')."""
  kind = str(cfg.kind)
  if kind == 'cnn':
    return CNNCritic(features=tuple(int(f) for f in cfg.features), kernel=int(cfg.kernel),
                     dense=int(cfg.dense), self_similarity=bool(cfg.self_similarity),
                     minibatch_std=bool(cfg.minibatch_std))
  if kind in ('lstm', 'bilstm'):
    readout = str(cfg.readout)
    if readout not in READOUTS:
      raise ValueError(f'config.model.critic.readout={readout!r}: expected one of {READOUTS}')
    return LSTMCritic(hidden=tuple(int(h) for h in cfg.hidden), readout=readout,
                      bidirectional=kind == 'bilstm', impl=str(cfg.impl),
                      minibatch_std=bool(cfg.minibatch_std), motion=bool(cfg.motion),
                      pitch_conv=int(cfg.pitch_conv))
  raise ValueError(f"config.model.critic.kind={kind!r}: expected 'cnn', 'lstm' or 'bilstm'")


def count_params(params) -> int:
  return int(sum(math.prod(p.shape) for p in jax.tree.leaves(params)))
