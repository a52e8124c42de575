"""Multi-voice LSTM language model on per-voice multi-hot rolls (log 10/21).

Data: the ``voice_rolls`` encoding (:class:`dsjax.data.encodings.VoiceRollEncoding`), ``uint8
[time, voices, keys]`` per piece; for the music21 Bach chorales the four parts (soprano, alto,
tenor, bass) are the voices and pieces with another number of parts are left out.

Initialisation: the output bias starts at the log-odds of each voice's key frequency in the training
frames (``config.model.init_output_bias``, on by default). With the zero bias of a plain init every
key starts at p = 1/2 (about 244 nats per frame against about 14 for the marginal), and Adam moves a
bias by at most about the learning rate per step: the quickest way down is then through the top
LSTMs, whose cells grow without bound until ``tanh(c)`` saturates. Their outputs become constant in
time, the gradients to every LSTM vanish, and the net stays at the marginal key distribution, blind
to its input (the README gives the measured difference).

Loss: next-frame sigmoid cross-entropy, summed over keys and voices, averaged over predicted
frames. ``frame_nll`` (nats per frame, all voices together) is comparable to the piano-roll LM's
frame NLL on a merged roll of the same grid only up to the voice split (voices sharing a key are
two targets here); ``voice_nll_<v>`` gives each voice's share.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from dsjax import losses, sampling
from dsjax.data import encodings
from dsjax.data import pianoroll as roll_lib
from dsjax.models.multivoice import MultiVoiceLSTM
from dsjax.optim import init_train_state, make_optimizer, update_train_state
from dsjax.tasks import base, datasets
from dsjax.tasks.pianoroll_lm import RollSampler

# Grey level of each voice in pictures (first voice brightest).
_VOICE_LEVELS = (1.0, 0.8, 0.6, 0.45, 0.35, 0.3, 0.25, 0.2)


def voice_roll_encoding(config) -> encodings.VoiceRollEncoding:
  r = config.data.roll
  return encodings.get_encoding('voice_rolls', voices=int(config.data.voices), grid=str(r.grid),
                                step=float(r.step), keys=int(r.pitches))


def voices_image(roll: np.ndarray) -> np.ndarray:
  """``[time, voices, keys]`` -> ``[time, keys]`` for pictures: voice ``v`` drawn at grey level
  ``_VOICE_LEVELS[v]`` (where voices share a key, the brighter one shows)."""
  roll = np.asarray(roll, np.float32)
  levels = np.asarray(_VOICE_LEVELS[:roll.shape[1]] + (0.2,) * max(0, roll.shape[1] - 8),
                      np.float32)
  return (roll * levels[None, :, None]).max(axis=1)


class MultiVoiceLMTask(base.Task):
  """Next-frame prediction of ``[batch, time, voices, keys]`` with the multi-voice LSTM."""

  supports_ema = True

  def __init__(self, config):
    super().__init__(config)
    self.encoding = voice_roll_encoding(config)
    self.voices, self.keys = self.encoding.feature_shape
    self.train_set = datasets.load_split(config, 'voice_rolls', 'train')
    self.eval_sets = datasets.load_eval_splits(config, 'voice_rolls')
    m = config.model
    self.model = MultiVoiceLSTM(voices=self.voices, keys=self.keys, bottom=tuple(m.bottom),
                                middle=tuple(m.middle), top=tuple(m.top),
                                dropout_rate=float(m.dropout_rate))
    self.init_output_bias = bool(m.init_output_bias)
    self.transpose = int(config.data.transpose)
    self.tx, self.schedule = make_optimizer(config.optim, int(config.train.num_steps))

  # -- data ---------------------------------------------------------------------------------
  def train_data(self, process_index, process_count, seed=None):
    return datasets.train_stream(self.config, self.train_set, process_index, process_count,
                                 shifted=True, transposition=datasets.roll_transposition(self.config),
                                 seed=seed)

  def eval_batches(self):
    return datasets.eval_stream(self.config, self.eval_sets)

  # -- steps --------------------------------------------------------------------------------
  def marginal_output_bias(self) -> np.ndarray:
    """``[voices, keys]`` float32: log-odds of each voice's key frequency over the training frames
    (spread over the neighbouring keys when training transposes), clipped to [1e-4, 1 - 1e-4]."""
    return roll_lib.key_log_odds(self.train_set.values, (self.voices, self.keys), self.transpose)

  def init(self, rng):
    frames = jnp.zeros((1, 2, self.voices, self.keys), jnp.float32)
    params = self.model.init({'params': rng}, frames)['params']
    if self.init_output_bias:
      params = {**params, 'head_bias': jnp.asarray(self.marginal_output_bias())}
    return init_train_state(params, self.tx, self.ema_decay)

  def _voice_nll(self, params, batch, rng, deterministic):
    """NLL ``[batch, time, voices]`` (summed over keys)."""
    logits, _ = self.model.apply({'params': params}, batch['inputs'], mask=batch['mask'],
                                 deterministic=deterministic, rngs={'dropout': rng})
    return losses.frame_nll(logits, batch['targets'])

  def train_step(self, state, batch, rng):
    def loss_fn(params):
      nll = self._voice_nll(params, batch, rng, False)
      return losses.masked_mean(nll.sum(-1), batch['mask'])
    loss, grads = jax.value_and_grad(loss_fn)(state['params'])
    state, grad_norm = update_train_state(state, grads, self.tx, self.ema_decay)
    return state, {'loss': loss, 'grad_norm': grad_norm}

  def eval_step(self, state, batch):
    nll = self._voice_nll(self.eval_params(state), batch, jax.random.key(0), True)
    mask = batch['mask'].astype(jnp.float32)
    per_voice = (nll * mask[..., None]).sum((0, 1))
    out = {'nll_sum': per_voice.sum(), 'frames': mask.sum()}
    out.update({f'voice_nll_sum_{v}': per_voice[v] for v in range(self.voices)})
    return out

  def eval_summary(self, sums):
    frames = max(sums['frames'], 1.0)
    out = {'frame_nll': sums['nll_sum'] / frames, 'frames': sums['frames']}
    out.update({f'voice_nll_{v}': sums[f'voice_nll_sum_{v}'] / frames
                for v in range(self.voices)})
    return out

  def learning_rates(self, step):
    return {'lr': float(self.schedule(step))}

  # -- sampling -----------------------------------------------------------------------------
  def make_sampler(self):
    return VoiceSampler(self)


class VoiceSampler(RollSampler):
  """Samples a :class:`MultiVoiceLMTask`'s model frame by frame after a real opening
  (``[num, P + length, voices, keys]``); decodes each voice to its own instrument."""

  def __init__(self, task: MultiVoiceLMTask):
    super().__init__(task, _sample_scan)
    self.encoding = task.encoding

  def to_pieces(self, samples):
    return [self.encoding.decode(s, name=f'sample_{i}') for i, s in enumerate(samples)]

  def to_rolls(self, samples):
    return [voices_image(s) for s in samples]

  def real_rolls(self, num, length):
    return [voices_image(r) for r in self.primers(jax.random.key(1234), num, length)]

  def statistics(self, samples):
    samples = np.asarray(samples, np.float32)
    real = self.primers(jax.random.key(1234), len(samples), samples.shape[1])
    return {'notes_per_voice_frame': float(samples.sum(-1).mean()),
            'real_notes_per_voice_frame': float(real.sum(-1).mean()),
            'silent_voice_frames': float((samples.sum(-1) == 0).mean())}


def _sample_scan(model, params, primer, rng, *, length, mode, threshold, max_sustain, noise_on,
                 temperature, tricks=sampling.FeedbackTricks()):
  """``primer [B, P, voices, keys]`` -> ``[B, P + length, voices, keys]`` in {0, 1}."""
  def draw(key, model_state):
    return sampling.sample_frame(key, jax.nn.sigmoid(model_state[1]), mode, threshold,
                                 temperature)

  def advance(model_state, fed):
    logits, carry = model.apply({'params': params}, fed[:, None], model_state[0])
    return carry, logits[:, 0]

  logits, carry = model.apply({'params': params}, primer)
  return sampling.sample_frames(draw, advance, (carry, logits[:, -1]), primer, rng, length,
                                max_sustain, noise_on, tricks)
