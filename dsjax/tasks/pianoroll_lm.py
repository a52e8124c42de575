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
from dsjax.data import pipeline
from dsjax.models.language_models import MultiHotLM
from dsjax.tasks import base
from dsjax.tasks.datasets import load_split, openings
from dsjax.train.optim import make_optimizer, update_train_state


def roll_config(config) -> roll_lib.RollConfig:
  r = config.data.roll
  return roll_lib.RollConfig(grid=str(r.grid), step=float(r.step), keys=int(r.pitches))


def roll_train_data(config, train_set, process_index: int, process_count: int):
  """Shifted training windows of rolls (``config.data``: window, batch_size, transpose,
  piece_weighting), this process's slice, with train-only transposition when asked."""
  d = config.data
  augment = pipeline.RollTransposition(int(d.transpose)) if int(d.transpose) > 0 else None
  return pipeline.WindowSampler(
      train_set, int(d.window), int(d.batch_size), seed=int(config.seed),
      shifted=True, piece_weighting=str(d.piece_weighting), short='pad', augment=augment,
      process_index=process_index, process_count=process_count, prefetch=2)


def roll_eval_batches(config, eval_sets) -> dict:
  """``{split: [padded, masked batches of whole sequences]}`` for the splits that have pieces."""
  d = config.data
  return {split: list(pipeline.eval_batches(seqs, int(d.eval_batch_size),
                                            int(d.eval_max_len) or None))
          for split, seqs in eval_sets.items() if len(seqs)}


class PianorollLMTask(base.Task):
  """Stacked LSTM over frames ``[batch, time, keys]`` with a selectable output head."""

  supports_ema = True

  def __init__(self, config):
    super().__init__(config)
    self.roll_cfg = roll_config(config)
    self.keys = self.roll_cfg.keys
    self.train_set = load_split(config, 'pianoroll', 'train')
    self._eval_sets = {s: load_split(config, 'pianoroll', s) for s in config.data.eval_splits}
    m = config.model
    self.model = MultiHotLM(keys=self.keys, hidden=tuple(m.hidden), dense=tuple(m.dense),
                            dropout_rate=float(m.dropout_rate),
                            input_dropout_rate=float(m.input_dropout_rate),
                            head=str(m.get('head', 'sigmoid')),
                            head_hidden=int(m.get('head_hidden', 128)),
                            head_dropout_rate=float(m.get('head_dropout_rate', 0.0)),
                            pitch_context=int(m.get('pitch_context', 0)),
                            weight_drop=float(m.get('weight_drop', 0.0)))
    self.tx, self.schedule = make_optimizer(config.optim, int(config.train.num_steps))

  # -- data ---------------------------------------------------------------------------------
  def train_data(self, process_index, process_count):
    return roll_train_data(self.config, self.train_set, process_index, process_count)

  def eval_batches(self):
    return roll_eval_batches(self.config, self._eval_sets)

  # -- steps --------------------------------------------------------------------------------
  def init(self, rng):
    frames = jnp.zeros((1, 2, self.keys), jnp.float32)
    params = self.model.init({'params': rng}, frames, frames, method=MultiHotLM.log_prob)['params']
    if self.config.model.get('init_output_bias', False):
      params = self._marginal_output_bias(params)
    state = {'params': params, 'opt_state': self.tx.init(params)}
    if self.ema_decay:
      state['ema_params'] = params
    return state

  def _marginal_output_bias(self, params):
    """Output bias = log-odds of each key's frequency in the training frames (a start at the
    marginal distribution instead of p = 1/2 per key). The factorised term's bias of each head."""
    freq = np.asarray(self.train_set.values, np.float64).reshape(-1, self.keys).mean(0)
    d = int(self.config.data.transpose)
    if d > 0:  # transposition spreads each key's mass over its neighbours
      freq = np.convolve(np.pad(freq, d), np.ones(2 * d + 1) / (2 * d + 1), mode='valid')
    freq = np.clip(freq, 1e-4, 1 - 1e-4)
    bias = jnp.asarray(np.log(freq) - np.log1p(-freq), jnp.float32)
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
  def primers(self, rng, num: int, length: int) -> np.ndarray:
    return openings(self.train_set, rng, num, length).astype(np.float32)

  @functools.partial(jax.jit, static_argnums=(0, 4, 5, 7, 8, 9))
  def _sample(self, params, primer, rng, length, mode, threshold, max_sustain, noise_on,
              temperature):
    """``primer [B, K, keys]`` -> ``[B, K + length, keys]`` in {0, 1}; one jitted scan over time
    (with the head's scan over keys nested in it for the autoregressive heads)."""
    model = self.model
    variables = {'params': params}

    def next_frame(key, state, prev):   # time state [B, H], last frame [B, keys] -> [B, keys]
      if model.head != 'sigmoid':
        return model.apply(variables, state, key, temperature, prev,
                           method=MultiHotLM.sample_frame)
      logits = model.apply(variables, state, prev, method=MultiHotLM.frame_logits)
      return sampling.sample_frame(key, jax.nn.sigmoid(logits), mode, threshold, temperature)

    states, carry = model.apply(variables, primer, method=MultiHotLM.features)
    held = jnp.zeros(primer.shape[::2], jnp.int32)
    # counters of how long each key has been held at the end of the primer
    def count(h, frame):
      h = jnp.where(frame > 0, h + 1, 0)
      return h, None
    held, _ = jax.lax.scan(count, held, jnp.swapaxes(primer, 0, 1))

    def body(state, key):
      carry, time_state, prev, held = state
      k_sample, k_noise = jax.random.split(key)
      frame = next_frame(k_sample, time_state, prev)
      frame, held = sampling.apply_max_sustain(frame, held, max_sustain)
      fed = sampling.feedback_noise(k_noise, frame, noise_on) if noise_on else frame
      y, carry = model.apply(variables, fed[:, None], carry, method=MultiHotLM.features)
      return (carry, y[:, 0], fed, held), frame

    keys = jax.random.split(rng, length)
    _, frames = jax.lax.scan(body, (carry, states[:, -1], primer[:, -1], held), keys)
    return jnp.concatenate([primer, jnp.swapaxes(frames, 0, 1)], axis=1)

  def sample(self, state, rng, num, length, primer=None, mode=None, threshold=None,
             max_sustain=None, noise=None, temperature=None):
    """``[num, primer + length, keys]`` uint8. ``mode`` ('bernoulli' or 'threshold') and
    ``threshold`` apply to the sigmoid head; ``temperature`` divides every key's logit (for the
    sigmoid head in 'bernoulli' mode, and for each conditional of the autoregressive heads)."""
    s = self.config.sample
    temperature = float(s.get('temperature', 1.0) if temperature is None else temperature)
    if not temperature > 0:
      raise ValueError(f'temperature must be > 0, got {temperature}')
    k = int(s.primer) if primer is None else int(primer)
    primer_frames = self.primers(jax.random.fold_in(rng, 1), num, max(1, k))
    out = self._sample(
        self.eval_params(state), jnp.asarray(primer_frames), rng, int(length),
        str(s.mode if mode is None else mode),
        jnp.float32(s.threshold if threshold is None else threshold),
        int(s.max_sustain if max_sustain is None else max_sustain),
        float(s.noise if noise is None else noise),
        temperature)
    return np.asarray(out).astype(np.uint8)

  def to_pieces(self, samples):
    return [roll_lib.decode_pianoroll_to_piece(s, self.roll_cfg, name=f'sample_{i}')
            for i, s in enumerate(samples)]

  def to_rolls(self, samples):
    return [np.asarray(s) for s in samples]

  def real_rolls(self, num, length):
    return list(self.primers(jax.random.key(1234), num, length))

  def sample_statistics(self, samples):
    samples = np.asarray(samples, np.float32)
    real = np.stack(self.real_rolls(len(samples), samples.shape[1]))
    return {'note_density': float(samples.mean() * self.keys),
            'real_note_density': float(real.mean() * self.keys),
            'silent_frames': float((samples.sum(-1) == 0).mean())}


def roll_lm_config(head: str = 'sigmoid', variant: frozenset[str] | set[str] = frozenset(),
                   head_hidden: int = 128):
  """The config of the multi-hot LSTM experiments on the polyphonic benchmarks
  (``configs/pianoroll_lstm.py``, ``pianoroll_nade.py``, ``pianoroll_pitchrnn.py``).

  ``head='sigmoid'``: the factorised baseline (no augmentation, input dropout, weight drop 0.5 on
  the recurrent kernel, 128-frame windows, 3000 steps). An autoregressive ``head`` ('nade' or
  'pitch_rnn'): train-only transposition (+-3 semitones), the pitch-relative context and the
  output bias started at the key frequencies, 64-frame windows, 700 steps (NADE on JSB: 2000, with
  weight drop 0.3). ``variant`` holds 'jsb' (default), 'nottingham' and/or 'tiny'.
  """
  import ml_collections
  from dsjax.train.config_base import base_config
  factorised = head == 'sigmoid'
  c = base_config()
  c.task = 'pianoroll_lm'
  c.data.source = 'jsb_chorales'
  c.data.roll = ml_collections.ConfigDict(dict(grid='beats', step=1.0, pitches=88))  # JSB: quarters
  c.data.window = 128 if factorised else 64   # JSB pieces: median 57 frames
  c.data.batch_size = 16
  c.data.transpose = 0 if factorised else 3   # semitones either way, train only
  c.data.piece_weighting = 'length'
  c.data.eval_splits = ('valid', 'test')
  c.data.eval_batch_size = 32

  c.model = ml_collections.ConfigDict()
  c.model.hidden = (256,)
  c.model.dense = ()
  c.model.dropout_rate = 0.3
  # DropConnect on the recurrent kernel (AWD-LSTM weight drop): JSB test NLL 8.19 at 3000 steps,
  # against 8.40 without it at 2000 (more steps without it overfit)
  c.model.weight_drop = 0.5 if factorised else 0.0
  # drops keys of the input frames: stops the factorised model from overfitting JSB
  c.model.input_dropout_rate = 0.2 if factorised else 0.0
  c.model.head = head              # 'sigmoid' | 'nade' | 'pitch_rnn' (dsjax/models/frame_heads.py)
  c.model.head_hidden = head_hidden
  c.model.head_dropout_rate = 0.0
  # > 0: key k sees keys k-w..k+w of the previous frame (and, autoregressive heads, k-w..k-1 of its
  # own); biaxial-style, weights shared across pitch
  c.model.pitch_context = 0 if factorised else 12
  c.model.init_output_bias = not factorised   # start from each key's training-set frequency

  c.optim.learning_rate = 3e-3
  c.optim.schedule = 'cosine'
  c.optim.final_fraction = 0.05
  c.optim.grad_clip_norm = 1.0
  c.optim.ema_decay = 0.99          # evaluate and sample with an EMA of the weights
  c.train.num_steps = 3000 if factorised else 700   # head: 0.3-0.5 s/step on 2 shared cores
  c.train.log_every = 50
  c.train.eval_every = 250 if factorised else 100
  if head == 'nade' and 'nottingham' not in variant:
    # JSB test NLL 5.571 at 2000 steps with weight drop 0.3 (5.583 without it; 6.27 at 700 steps),
    # still improving at the last step; published RNN-NADE: 5.56
    c.train.num_steps = 2000
    c.train.eval_every = 200
    c.model.weight_drop = 0.3
  c.train.checkpoint_every = 500
  c.train.select_by = 'valid/frame_nll'   # report test NLL at the best validation NLL

  c.sample.num = 4
  c.sample.length = 128
  c.sample.primer = 4
  c.sample.temperature = 1.0        # autoregressive heads: divides each key's conditional logit
  c.sample.mode = 'bernoulli'       # sigmoid head: or 'threshold'
  c.sample.threshold = 0.5
  c.sample.max_sustain = 0          # frames; 0 = no limit
  c.sample.noise = 0.0              # flip probability on the fed-back frame

  if 'nottingham' in variant:
    c.data.source = 'nottingham'
    c.data.roll.step = 0.5          # the benchmark's Nottingham frames are eighth notes
    if factorised:
      c.data.window = 256
      c.data.batch_size = 32
      c.model.dropout_rate = 0.4
      c.model.input_dropout_rate = 0.1
      c.model.weight_drop = 0.0     # 3.267 was measured without it (176k frames overfit less)
      c.optim.ema_decay = 0.995
      c.train.num_steps = 6000      # best validation NLL near step 3500; 4000 steps gave 3.32
      c.train.eval_every = 500
      c.train.checkpoint_every = 1000
    else:
      c.data.eval_batch_size = 8    # whole sequences (up to ~1500 frames): bounds eval memory
      c.train.num_steps = 1500
      c.train.eval_every = 300
      c.train.checkpoint_every = 300
  if 'tiny' in variant:
    c.data.window = 16
    c.data.batch_size = 4
    c.data.eval_batch_size = 8
    c.data.eval_max_len = 32
    c.model.hidden = (16,)
    if not factorised:
      c.model.head_hidden = 8
      c.model.pitch_context = 2
    c.train.num_steps = 12
    c.train.log_every = 4
    c.train.eval_every = 6
    c.train.checkpoint_every = 6
    c.sample.num = 2
    c.sample.length = 16
  return c
