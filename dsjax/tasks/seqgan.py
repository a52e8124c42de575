"""SeqGAN over event ids (Yu et al. 2017; the research log's 10/21 answer to exposure bias).

The generator is the event LSTM (:class:`dsjax.models.language_models.EventLM`); the discriminator
is a CNN or LSTM over token sequences (:mod:`dsjax.models.seqgan`). Training has three phases, all
inside one jitted ``train_step`` and chosen by the step counter kept in the state:

1. ``step < pretrain_steps``: maximum-likelihood (teacher-forced) pre-training of the generator.
2. the next ``d_pretrain_steps`` steps: discriminator pre-training, real windows against sequences
   sampled from the frozen generator.
3. adversarial training: one policy-gradient generator step, then ``d_steps`` discriminator steps on
   fresh samples. The reward of token ``t`` of a sampled sequence ``x_1..x_T`` is
   ``Q(t) = mean_n sigmoid(D(x_1..x_t, y^n_{t+1..T}))`` over ``num_rollouts`` completions ``y^n``
   drawn from the rollout generator (a delayed copy: ``rollout <- r * rollout + (1 - r) * G``), and
   ``Q(T) = sigmoid(D(x_1..x_T))``. The loss is ``-mean_{b,t} Q_bt log G(x_bt | x_b,<t)``, plus an
   optional ``mle_weight`` times the teacher-forced NLL of the real batch.

Every generated sequence continues the first event of a real training window (the window is
``x_0..x_T``; the generator is given ``x_0``, the discriminator sees ``x_1..x_T``), so real and fake
sequences share their opening and the generator needs no start token. All rollouts of a step run in
one batched ``lax.scan``: rows ``[prefix length, rollout, batch]`` are teacher-forced on their prefix
and sample after it.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from dsjax.models.seqgan import make_discriminator
from dsjax.optim import apply_gradients, init_train_state, make_optimizer
from dsjax.tasks import datasets
from dsjax.tasks.event_lm import EventLMTask

METRICS = ('loss', 'grad_norm', 'mle_loss', 'pg_loss', 'mean_reward', 'reward_last', 'd_loss',
           'd_accuracy', 'd_real_prob', 'd_fake_prob', 'g_grad_norm', 'd_grad_norm')


# ------------------------------------------------------------------------------------------------
# Pure functions: sampling, rollouts, rewards, losses.


def sequence_log_probs(model, params, first: jax.Array, tokens: jax.Array) -> jax.Array:
  """``log G(x_t | x_0, x_<t)`` ``[batch, T]`` of ``tokens [batch, T]`` after ``first [batch]``."""
  inputs = jnp.concatenate([first[:, None], tokens[:, :-1]], axis=1).astype(jnp.int32)
  logits, _ = model.apply({'params': params}, inputs)
  logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
  return jnp.take_along_axis(logp, tokens[..., None].astype(jnp.int32), axis=-1)[..., 0]


def complete_sequences(model, params, first: jax.Array, prefix: jax.Array, prefix_len: jax.Array,
                       rng: jax.Array) -> jax.Array:
  """Completes each row's prefix by sampling the generator: one ``lax.scan`` over time.

  Args:
    first: ``[rows]`` the event before position 0 (the generator's first input).
    prefix: ``[rows, T]``; only ``prefix[r, :prefix_len[r]]`` is read.
    prefix_len: ``[rows]`` (or a scalar) number of given tokens, 0..T.
    rng: one key; every step draws all rows at once.

  Returns:
    ``[rows, T]`` int32: ``prefix[r, s]`` for ``s < prefix_len[r]``, samples from
    ``G(. | x_0, x_<s)`` (temperature 1, the policy itself) after.
  """
  rows, length = prefix.shape
  prefix_len = jnp.broadcast_to(jnp.asarray(prefix_len, jnp.int32), (rows,))
  logits, carry = model.apply({'params': params}, first[:, None].astype(jnp.int32))

  def body(state, inp):
    carry, logits = state
    s, given, key = inp
    sampled = jax.random.categorical(key, logits.astype(jnp.float32), axis=-1)
    token = jnp.where(s < prefix_len, given, sampled).astype(jnp.int32)
    logits, carry = model.apply({'params': params}, token[:, None], carry)
    return (carry, logits[:, 0]), token

  keys = jax.random.split(rng, length)
  xs = (jnp.arange(length, dtype=jnp.int32), prefix.T.astype(jnp.int32), keys)
  _, tokens = lax.scan(body, (carry, logits[:, 0]), xs)
  return tokens.T


def sample_sequences(model, params, first: jax.Array, length: int, rng: jax.Array) -> jax.Array:
  """``[batch, length]`` samples of the generator after ``first [batch]``."""
  prefix = jnp.zeros((first.shape[0], length), jnp.int32)
  return complete_sequences(model, params, first, prefix, 0, rng)


def rollout_lengths(length: int, stride: int = 1) -> np.ndarray:
  """Prefix lengths whose value is estimated by rollouts: ``stride, 2 * stride, ... < length``."""
  if stride < 1:
    raise ValueError(f'config.seqgan.rollout_stride={stride} must be >= 1')
  return np.arange(stride, length, stride, dtype=np.int32)


def rollout_completions(model, params, first: jax.Array, tokens: jax.Array, rng: jax.Array,
                        num_rollouts: int, lengths: np.ndarray) -> jax.Array:
  """Monte-Carlo completions ``[K, N, batch, T]`` of each prefix ``tokens[:, :lengths[k]]``.

  All ``K * N * batch`` rows run in one batched scan (vectorised over prefix lengths and rollouts).
  """
  batch, length = tokens.shape
  k, n = len(lengths), int(num_rollouts)
  rows = k * n * batch
  first_r = jnp.broadcast_to(first[None, None], (k, n, batch)).reshape(rows)
  prefix = jnp.broadcast_to(tokens[None, None], (k, n, batch, length)).reshape(rows, length)
  plen = jnp.broadcast_to(jnp.asarray(lengths, jnp.int32)[:, None, None], (k, n, batch))
  out = complete_sequences(model, params, first_r, prefix, plen.reshape(rows), rng)
  return out.reshape(k, n, batch, length)


def rewards_from_values(values: jax.Array, final_value: jax.Array, lengths: np.ndarray,
                        length: int) -> jax.Array:
  """Per-token rewards ``[batch, T]`` from values at the evaluated prefix lengths.

  ``values [K, batch]`` are the rollout estimates at ``lengths`` (< T), ``final_value [batch]`` the
  discriminator's probability of the whole sequence. Token ``t`` (1-based) gets the value at the
  shortest evaluated prefix that contains it (with ``stride == 1``: its own prefix).
  """
  all_lengths = np.concatenate([np.asarray(lengths, np.int64), [length]])
  index = np.searchsorted(all_lengths, np.arange(1, length + 1), side='left')  # static
  table = jnp.concatenate([values, final_value[None]], axis=0)  # [K + 1, batch]
  return table[index].T


def mc_rewards(model, rollout_params, disc_logits: Callable[[jax.Array], jax.Array],
               first: jax.Array, tokens: jax.Array, rng: jax.Array, num_rollouts: int,
               stride: int = 1) -> jax.Array:
  """SeqGAN rewards ``[batch, T]`` of ``tokens [batch, T]`` (after ``first [batch]``).

  ``disc_logits(tokens [n, T]) -> [n]``. For each evaluated prefix length ``t < T`` the reward is the
  mean over ``num_rollouts`` completions of ``sigmoid(D(completion))``; at ``t = T`` it is
  ``sigmoid(D(tokens))``. No gradient flows through the rewards.
  """
  batch, length = tokens.shape
  lengths = rollout_lengths(length, stride)
  final = jax.nn.sigmoid(disc_logits(tokens))
  if len(lengths):
    done = rollout_completions(model, rollout_params, first, tokens, rng, num_rollouts, lengths)
    probs = jax.nn.sigmoid(disc_logits(done.reshape(-1, length)))
    values = probs.reshape(len(lengths), int(num_rollouts), batch).mean(axis=1)
  else:
    values = jnp.zeros((0, batch), final.dtype)
  return lax.stop_gradient(rewards_from_values(values, final, lengths, length))


def policy_gradient_loss(log_probs: jax.Array, rewards: jax.Array,
                         mask: jax.Array | None = None) -> jax.Array:
  """``-sum(reward * log p) / count`` over ``[batch, T]`` (count = real tokens).

  Its gradient is the REINFORCE estimate ``-(1 / count) sum_t Q_t grad log G(x_t | x_<t)``; rewards
  are constants (stop_gradient).
  """
  rewards = lax.stop_gradient(rewards)
  if mask is None:
    return -(rewards * log_probs).sum() / log_probs.size
  mask = mask.astype(log_probs.dtype)
  return -(rewards * log_probs * mask).sum() / jnp.maximum(mask.sum(), 1.0)


def discriminator_loss(real_logits: jax.Array, fake_logits: jax.Array,
                       real_mask: jax.Array | None = None) -> tuple[jax.Array, dict]:
  """Binary cross-entropy, real = 1, fake = 0 (mean of the two halves), and accuracy figures."""
  real_w = jnp.ones_like(real_logits) if real_mask is None else real_mask.astype(real_logits.dtype)
  real_bce = optax.sigmoid_binary_cross_entropy(real_logits, jnp.ones_like(real_logits))
  fake_bce = optax.sigmoid_binary_cross_entropy(fake_logits, jnp.zeros_like(fake_logits))
  n_real = jnp.maximum(real_w.sum(), 1.0)
  loss = 0.5 * ((real_bce * real_w).sum() / n_real + fake_bce.mean())
  real_ok = ((real_logits > 0) * real_w).sum() / n_real
  fake_ok = (fake_logits < 0).mean()
  stats = {'d_accuracy': 0.5 * (real_ok + fake_ok),
           'd_real_prob': (jax.nn.sigmoid(real_logits) * real_w).sum() / n_real,
           'd_fake_prob': jax.nn.sigmoid(fake_logits).mean()}
  return loss, stats


def _replace(state: dict, network: str, params, opt_state, **extra) -> dict:
  """``state`` with ``network``'s params and optimiser state (and ``extra`` entries) replaced."""
  return dict(state, params={**state['params'], network: params},
              opt_state={**state['opt_state'], network: opt_state}, **extra)


# ------------------------------------------------------------------------------------------------
# The task.


class SeqGANTask(EventLMTask):
  """SeqGAN with an event-LSTM generator; sampling, MIDI decoding and eval as :class:`EventLMTask`.

  State (:func:`dsjax.optim.init_train_state`): ``params`` and ``opt_state`` by network
  (``generator``: its MLE optimizer; ``discriminator``), ``pg_opt_state`` (the generator's
  adversarial optimizer: same kind, own moments, as Yu et al.), ``rollout_params`` (delayed
  generator) and ``step`` (int32).
  """

  supports_ema = False  # its own state and steps; the rollout network is its delayed copy
  seeds_refused = ('its phases are a lax.switch, which under vmap runs every phase each step')

  def __init__(self, config):
    super().__init__(config)
    s = config.seqgan
    self.pretrain_steps = int(s.pretrain_steps)
    self.d_pretrain_steps = int(s.d_pretrain_steps)
    self.num_rollouts = int(s.num_rollouts)
    self.rollout_stride = int(s.rollout_stride)
    self.rollout_update_rate = float(s.rollout_update_rate)
    self.d_steps = int(s.d_steps)
    self.mle_weight = float(s.mle_weight)
    self.g_lr_scale = float(s.g_lr_scale)
    self.reward_baseline = str(s.reward_baseline)
    self.length = int(config.data.window)
    if self.pretrain_steps < 0 or self.d_pretrain_steps < 0:
      raise ValueError(f'config.seqgan.pretrain_steps={self.pretrain_steps} and '
                       f'd_pretrain_steps={self.d_pretrain_steps} must be >= 0')
    if self.num_rollouts < 1 or self.d_steps < 1:
      raise ValueError(f'config.seqgan.num_rollouts={self.num_rollouts} and '
                       f'd_steps={self.d_steps} must be >= 1')
    if not 0.0 <= self.rollout_update_rate <= 1.0:
      raise ValueError(f'config.seqgan.rollout_update_rate={self.rollout_update_rate} must be in '
                       f'[0, 1] (0: roll out with the current generator)')
    if self.reward_baseline not in ('none', 'batch_mean'):
      raise ValueError(f"config.seqgan.reward_baseline={self.reward_baseline!r}: expected 'none' "
                       f"or 'batch_mean'")
    rollout_lengths(self.length, self.rollout_stride)  # validates the stride
    dc = config.discriminator
    if str(dc.kind) == 'cnn' and max(int(w) for w in dc.filter_widths) > self.length:
      raise ValueError(f'config.discriminator.filter_widths={tuple(dc.filter_widths)} has widths '
                       f'longer than config.data.window={self.length} (the sequences it judges)')
    self.discriminator = make_discriminator(config.discriminator, self.vocab.size)
    # Each optimiser's schedule spans its own updates: MLE over pre-training, the policy gradient
    # over the adversarial steps, the discriminator over its pre-training and d_steps per
    # adversarial step.
    self.adversarial_start = self.pretrain_steps + self.d_pretrain_steps
    adversarial = max(0, int(config.train.num_steps) - self.adversarial_start)
    self.tx, self.schedule = self.make_tx(max(1, self.pretrain_steps))
    self.pg_tx, self.pg_schedule = self.make_tx(max(1, adversarial))
    self.d_tx, self.d_schedule = make_optimizer(
        config.d_optim, max(1, self.d_pretrain_steps + adversarial * self.d_steps))

  # -- data ---------------------------------------------------------------------------------
  def train_data(self, process_index, process_count, seed=None):
    """Windows ``x_0..x_T`` (T = ``data.window``): ``inputs = x_0..x_{T-1}``, ``targets = x_1..x_T``.

    ``data.short='skip'`` (default) never draws pieces shorter than a window, so the discriminator
    never sees padding.
    """
    return datasets.train_stream(
        self.config, self.train_set, process_index, process_count, shifted=True,
        transposition=datasets.event_transposition(self.config, self.vocab),
        short=str(self.config.data.short), seed=seed)

  # -- state --------------------------------------------------------------------------------
  def init(self, rng):
    g_key, d_key = jax.random.split(rng)
    params = self.model.init({'params': g_key}, jnp.zeros((1, 2), jnp.int32))['params']
    d_params = self.discriminator.init({'params': d_key},
                                       jnp.zeros((1, self.length), jnp.int32))['params']
    return init_train_state({'generator': params, 'discriminator': d_params},
                            {'generator': self.tx, 'discriminator': self.d_tx},
                            step=jnp.zeros((), jnp.int32), pg_opt_state=self.pg_tx.init(params),
                            rollout_params=params)

  def eval_params(self, state):
    return state['params']['generator']

  def phase(self, step) -> jax.Array:
    """0 (MLE), 1 (discriminator pre-training) or 2 (adversarial) at ``step``."""
    step = jnp.asarray(step)
    return ((step >= self.pretrain_steps).astype(jnp.int32)
            + (step >= self.pretrain_steps + self.d_pretrain_steps).astype(jnp.int32))

  # -- pieces of a step ---------------------------------------------------------------------
  def _disc_logits(self, d_params, tokens, mask=None, rng=None):
    deterministic = rng is None
    return self.discriminator.apply({'params': d_params}, tokens, mask,
                                    deterministic=deterministic,
                                    rngs=None if deterministic else {'dropout': rng})

  def _d_update(self, d_params, d_opt_state, real, real_mask, fake, rng):
    def loss_fn(p):
      k1, k2 = jax.random.split(rng)
      real_logits = self._disc_logits(p, real, real_mask, k1)
      fake_logits = self._disc_logits(p, fake, None, k2)
      return discriminator_loss(real_logits, fake_logits, real_mask.min(axis=1))

    (loss, stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(d_params)
    d_params, d_opt_state, gn = apply_gradients(self.d_tx, d_params, d_opt_state, grads)
    return d_params, d_opt_state, {'d_loss': loss, 'd_grad_norm': gn, **stats}

  def _d_round(self, state, batch, rng, num_updates):
    """``num_updates`` discriminator steps, each against fresh samples of the current generator."""
    first, real, mask = batch['inputs'][:, 0], batch['targets'], batch['mask']
    g_params = lax.stop_gradient(state['params']['generator'])

    def body(carry, key):
      d_params, d_opt_state = carry
      k_sample, k_update = jax.random.split(key)
      fake = sample_sequences(self.model, g_params, first, self.length, k_sample)
      d_params, d_opt_state, m = self._d_update(d_params, d_opt_state, real, mask, fake, k_update)
      return (d_params, d_opt_state), m

    (d_params, d_opt_state), ms = lax.scan(
        body, (state['params']['discriminator'], state['opt_state']['discriminator']),
        jax.random.split(rng, num_updates))
    return d_params, d_opt_state, jax.tree.map(lambda x: x.mean(), ms)

  @staticmethod
  def _metrics(**values):
    out = {k: jnp.zeros((), jnp.float32) for k in METRICS}
    out.update({k: jnp.asarray(v, jnp.float32) for k, v in values.items()})
    return out

  # -- the three phases ---------------------------------------------------------------------
  def _mle_phase(self, state, batch, rng):
    g_params, g_opt_state = state['params']['generator'], state['opt_state']['generator']
    (loss, _), grads = jax.value_and_grad(self._loss, has_aux=True)(g_params, batch, rng, False)
    params, opt_state, gn = apply_gradients(self.tx, g_params, g_opt_state, grads)
    new = _replace(state, 'generator', params, opt_state, rollout_params=params)
    return new, self._metrics(loss=loss, grad_norm=gn, mle_loss=loss, g_grad_norm=gn)

  def _d_pretrain_phase(self, state, batch, rng):
    k_d, k_mle = jax.random.split(rng)
    d_params, d_opt_state, m = self._d_round(state, batch, k_d, 1)
    mle, _ = self._loss(state['params']['generator'], batch, k_mle, True)
    new = _replace(state, 'discriminator', d_params, d_opt_state)
    return new, self._metrics(loss=m['d_loss'], grad_norm=m['d_grad_norm'], mle_loss=mle, **m)

  def _adversarial_phase(self, state, batch, rng):
    k_sample, k_roll, k_mle, k_d = jax.random.split(rng, 4)
    first = batch['inputs'][:, 0]
    params = state['params']['generator']
    fake = sample_sequences(self.model, params, first, self.length, k_sample)
    d_fn = lambda t: self._disc_logits(state['params']['discriminator'], t)  # noqa: E731
    rewards = mc_rewards(self.model, state['rollout_params'], d_fn, first, fake, k_roll,
                         self.num_rollouts, self.rollout_stride)
    advantages = rewards
    if self.reward_baseline == 'batch_mean':
      advantages = rewards - rewards.mean(axis=0, keepdims=True)

    def g_loss(p):
      logp = sequence_log_probs(self.model, p, first, fake)
      pg = policy_gradient_loss(logp, advantages)
      if self.mle_weight > 0:
        mle, _ = self._loss(p, batch, k_mle, False)
        return pg + self.mle_weight * mle, (pg, mle)
      return pg, (pg, None)

    (loss, (pg, mle)), grads = jax.value_and_grad(g_loss, has_aux=True)(params)
    if mle is None:
      mle, _ = self._loss(params, batch, k_mle, True)  # monitored only
    updates, pg_opt_state = self.pg_tx.update(grads, state['pg_opt_state'], params)
    updates = jax.tree.map(lambda u: self.g_lr_scale * u, updates)
    params = optax.apply_updates(params, updates)
    r = self.rollout_update_rate
    rollout = jax.tree.map(lambda old, new: r * old + (1.0 - r) * new, state['rollout_params'],
                           params)
    new = _replace(state, 'generator', params, state['opt_state']['generator'],
                   pg_opt_state=pg_opt_state, rollout_params=rollout)
    d_params, d_opt_state, m = self._d_round(new, batch, k_d, self.d_steps)
    new = _replace(new, 'discriminator', d_params, d_opt_state)
    gn = optax.tree.norm(grads)
    return new, self._metrics(loss=loss, grad_norm=gn, g_grad_norm=gn, mle_loss=mle, pg_loss=pg,
                              mean_reward=rewards.mean(), reward_last=rewards[:, -1].mean(), **m)

  def train_step(self, state, batch, rng):
    """One step of the phase that ``state['step']`` is in (``lax.switch``: one compiled program)."""
    phase = self.phase(state['step'])
    new, metrics = lax.switch(phase, [self._mle_phase, self._d_pretrain_phase,
                                      self._adversarial_phase], state, batch, rng)
    new['step'] = state['step'] + 1
    metrics['phase'] = phase.astype(jnp.float32)
    return new, metrics

  def learning_rates(self, step):
    """The generator's and discriminator's rates at ``step`` (0 in a phase that does not update
    it), each read from its own optimiser's update count."""
    adversarial = max(0, step - self.adversarial_start)
    if step < self.pretrain_steps:
      lr = float(self.schedule(step))
    elif step < self.adversarial_start:
      lr = 0.0
    else:
      lr = float(self.pg_schedule(adversarial)) * self.g_lr_scale
    d_updates = min(max(0, step - self.pretrain_steps), self.d_pretrain_steps) + (
        adversarial * self.d_steps)
    d_lr = float(self.d_schedule(d_updates)) if step >= self.pretrain_steps else 0.0
    return {'lr': lr, 'd_lr': d_lr}
