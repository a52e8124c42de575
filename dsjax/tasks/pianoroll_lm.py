"""Multi-hot next-frame LSTM on piano rolls, with the benchmark's frame NLL.

Output head (``config.model.head``, see :mod:`dsjax.models.frame_heads`): ``'sigmoid'`` (default;
independent keys, sampled by threshold or Bernoulli), ``'nade'`` (RNN-NADE) or ``'pitch_rnn'`` (a
GRU across the keys of a frame); the last two give exact likelihoods of whole frames and are sampled
from the joint distribution of a frame, key by key, with ``temperature`` (no threshold).

Frame-level NLL as ``shared/data/README.md`` defines it: for every sequence predict frame t from
frames < t for t = 1..T-1, sum the NLL over keys and predicted frames of the split, divide by the
number of predicted frames (nats per frame). Evaluation runs whole sequences (no chunking) unless
``config.data.eval_max_len`` is set.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from dsjax import losses, sampling
from dsjax.data import pianoroll as roll_lib
from dsjax.models.language_models import MultiHotLM
from dsjax.optim import init_train_state, make_optimizer, update_train_state
from dsjax.tasks import base, datasets


class PianorollLMTask(base.Task):
  """Stacked LSTM over frames ``[batch, time, keys]`` with a selectable output head."""

  supports_ema = True

  def __init__(self, config):
    super().__init__(config)
    self.roll_cfg = datasets.roll_config(config)
    self.keys = self.roll_cfg.keys
    self.train_set = datasets.load_split(config, 'pianoroll', 'train')
    self.eval_sets = datasets.load_eval_splits(config, 'pianoroll')
    m = config.model
    self.model = MultiHotLM(keys=self.keys, hidden=tuple(m.hidden), dense=tuple(m.dense),
                            dropout_rate=float(m.dropout_rate),
                            input_dropout_rate=float(m.input_dropout_rate),
                            head=str(m.head), head_hidden=int(m.head_hidden),
                            head_dropout_rate=float(m.head_dropout_rate),
                            pitch_context=int(m.pitch_context), weight_drop=float(m.weight_drop))
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
  def init(self, rng):
    frames = jnp.zeros((1, 2, self.keys), jnp.float32)
    params = self.model.init({'params': rng}, frames, frames, method=MultiHotLM.log_prob)['params']
    if self.init_output_bias:
      params = self._marginal_output_bias(params)
    return init_train_state(params, self.tx, self.ema_decay)

  def _marginal_output_bias(self, params):
    """Output bias = log-odds of each key's frequency in the training frames (a start at the
    marginal distribution instead of p = 1/2 per key). The factorised term's bias of each head."""
    bias = jnp.asarray(roll_lib.key_log_odds(self.train_set.values, (self.keys,), self.transpose))
    head = dict(params['head'])
    if 'visible_bias' in head:
      head['visible_bias'] = {**head['visible_bias'], 'bias': bias}
    else:
      head['bias'] = bias
    return {**params, 'head': head}

  def _nll(self, params, batch, rng, deterministic):
    log_prob, _ = self.model.apply({'params': params}, batch['inputs'], batch['targets'],
                                   mask=batch['mask'], deterministic=deterministic,
                                   rngs={'dropout': rng}, method=MultiHotLM.log_prob)
    return -log_prob                                         # [batch, time]

  def train_step(self, state, batch, rng):
    def loss_fn(params):
      return losses.masked_mean(self._nll(params, batch, rng, False), batch['mask'])
    loss, grads = jax.value_and_grad(loss_fn)(state['params'])
    state, grad_norm = update_train_state(state, grads, self.tx, self.ema_decay)
    return state, {'loss': loss, 'grad_norm': grad_norm}

  def eval_step(self, state, batch):
    nll = self._nll(self.eval_params(state), batch, jax.random.key(0), True)
    mask = batch['mask']
    return {'nll_sum': (nll * mask).sum(), 'frames': mask.sum()}

  def eval_summary(self, sums):
    return {'frame_nll': sums['nll_sum'] / max(sums['frames'], 1.0), 'frames': sums['frames']}

  def learning_rates(self, step):
    return {'lr': float(self.schedule(step))}

  # -- sampling -----------------------------------------------------------------------------
  def make_sampler(self):
    return RollSampler(self)


class RollSampler(base.Sampler):
  """Samples a roll model frame by frame after a real opening (the piano-roll LM here; the
  multi-voice LSTM's sampler builds on it).

  ``scan_fn(model, params, primer, rng, *, length, mode, threshold, max_sustain, noise_on,
  temperature, tricks)`` is the model's sampling scan (see :func:`_sample_scan`); it is jitted
  once here.
  """

  def __init__(self, task, scan_fn=None):
    super().__init__(task)
    self.defaults = task.config.sample
    self.train_set = task.train_set
    self.roll_cfg, self.keys = getattr(task, 'roll_cfg', None), task.keys
    self._scan = jax.jit(functools.partial(scan_fn or _sample_scan, task.model),
                         static_argnames=('length', 'mode', 'max_sustain', 'noise_on',
                                          'temperature', 'tricks'))

  def primers(self, rng, num: int, length: int) -> np.ndarray:
    """``[num, length, ...]`` openings of random training pieces."""
    return datasets.openings(self.train_set, rng, num, length).astype(np.float32)

  def sample(self, state, rng, num, length, primer=None, mode=None, threshold=None,
             max_sustain=None, noise=None, temperature=None, silence_random=None,
             noise_scale=None, state_reset_prob=None, state_decay=None):
    """``[num, P + length, ...]`` uint8: ``P`` primer frames of a real opening (at least one),
    then ``length`` sampled frames. ``mode`` ('bernoulli' or 'threshold') and ``threshold`` apply
    to sigmoid outputs; ``temperature`` divides every key's logit (for sigmoid outputs in
    'bernoulli' mode, and for each conditional of the autoregressive heads). ``silence_random``,
    ``noise_scale``, ``state_reset_prob`` and ``state_decay`` are the log's feedback tricks
    (:class:`dsjax.sampling.FeedbackTricks`; defaults from ``config.sample``, all off)."""
    s = self.defaults
    tricks = feedback_tricks(s, silence_random=silence_random, noise_scale=noise_scale,
                             state_reset_prob=state_reset_prob, state_decay=state_decay)
    temperature = float(s.temperature if temperature is None else temperature)
    if not temperature > 0:
      raise ValueError(f'temperature must be > 0, got {temperature}')
    threshold = float(s.threshold if threshold is None else threshold)
    if not np.isfinite(threshold):
      raise ValueError(f'threshold={threshold}: must be a finite number')
    k = int(s.primer) if primer is None else int(primer)
    primer_frames = self.primers(jax.random.fold_in(rng, 1), num, max(1, k))
    out = self._scan(
        self.eval_params(state), jnp.asarray(primer_frames), rng, length=int(length),
        mode=str(s.mode if mode is None else mode),
        threshold=jnp.float32(threshold),
        max_sustain=int(s.max_sustain if max_sustain is None else max_sustain),
        noise_on=float(s.noise if noise is None else noise), temperature=temperature,
        tricks=tricks)
    return np.asarray(out).astype(np.uint8)

  def to_pieces(self, samples):
    return [roll_lib.decode_pianoroll_to_piece(s, self.roll_cfg, name=f'sample_{i}')
            for i, s in enumerate(samples)]

  def to_rolls(self, samples):
    return [np.asarray(s) for s in samples]

  def real_rolls(self, num, length):
    return list(self.primers(jax.random.key(1234), num, length))

  def statistics(self, samples):
    samples = np.asarray(samples, np.float32)
    real = np.stack(self.real_rolls(len(samples), samples.shape[1]))
    return {'note_density': float(samples.mean() * self.keys),
            'real_note_density': float(real.mean() * self.keys),
            'silent_frames': float((samples.sum(-1) == 0).mean())}


def feedback_tricks(defaults, **given) -> sampling.FeedbackTricks:
  """:class:`dsjax.sampling.FeedbackTricks` from the options ``given`` (None: the value in
  ``defaults``, a run's ``config.sample``, where it has one, else off)."""
  values = {}
  for name, value in given.items():
    if value is None:
      value = defaults.get(name, None) if hasattr(defaults, 'get') else None
    if value is not None:
      values[name] = tuple(value) if isinstance(value, list) else value
  return sampling.FeedbackTricks(**values)


def _sample_scan(model, params, primer, rng, *, length, mode, threshold, max_sustain, noise_on,
                 temperature, tricks=sampling.FeedbackTricks()):
  """``primer [B, K, keys]`` -> ``[B, K + length, keys]`` in {0, 1}; one scan over time (with the
  head's scan over keys nested in it for the autoregressive heads)."""
  variables = {'params': params}

  def next_frame(key, state, prev):   # time state [B, H], last frame [B, keys] -> [B, keys]
    if model.head != 'sigmoid':
      return model.apply(variables, state, key, temperature, prev,
                         method=MultiHotLM.sample_frame)
    logits = model.apply(variables, state, prev, method=MultiHotLM.frame_logits)
    return sampling.sample_frame(key, jax.nn.sigmoid(logits), mode, threshold, temperature)

  def draw(key, model_state):
    _, time_state, prev = model_state
    return next_frame(key, time_state, prev)

  def advance(model_state, fed):
    y, carry = model.apply(variables, fed[:, None], model_state[0], method=MultiHotLM.features)
    return carry, y[:, 0], fed

  states, carry = model.apply(variables, primer, method=MultiHotLM.features)
  return sampling.sample_frames(draw, advance, (carry, states[:, -1], primer[:, -1]), primer,
                                rng, length, max_sustain, noise_on, tricks)
