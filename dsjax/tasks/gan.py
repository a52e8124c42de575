"""Piano-roll GANs of the log (11/01 to 11/20): one task, the generator, critic and loss by config.

``config.model.generator.kind``: 'lstm' (11/14) or 'dcrnn' (11/10; with ``decision='strip'`` the
11/20 strip deconvolution); ``config.model.critic.kind``: 'cnn' (the original two towers), 'lstm'
or 'bilstm'; ``config.gan.loss``: 'wgan_gp' (11/11) or 'nonsaturating' (the standard loss).

One ``train_step`` (one jitted call) is:

1. ``n_critic`` critic steps. Each draws fresh codes, generates a fake batch
   (no generator gradient), writes it into the pool of past fakes and trains the critic on a
   random subset of the pool (see below). Real data: with ``critic_batches='split'`` the data
   batch holds ``n_critic`` critic batches (``data.batch_size = n_critic * critic batch``) and
   step i uses the i-th (fresh real samples for every critic step, as in the WGAN-GP paper's
   algorithm); with ``'reuse'`` every critic step sees the whole data batch.
2. ``g_steps`` generator steps (the original's G_k), each with fresh codes and a
   critic-batch-sized fake batch, through the just-updated critic. (The original fed its fixed
   visualisation code to the generator steps, §3.11; this does not reproduce that bug.) With
   ``gan.mle_weight = W > 0`` (a feedback generator, ``model.generator.feedback``) the generator's
   loss adds W x its teacher-forced NLL of the step's first critic batch of real windows
   (:meth:`~dsjax.models.gan.FeedbackLSTMGenerator.frame_nll`, from codes of their own): the
   generator is trained as a language model of rolls as well (``configs/gan_base.py``'s
   ``melody_lm``). A feedback generator's output biases start at the training frames' marginals.

Both loops are unrolled at trace time (:func:`~dsjax.models.gan_training.repeat_steps`) unless ``gan.unroll=False`` (then
``lax.scan``): XLA:CPU runs the CNN critic's convolutions much slower inside a while loop (the
README gives the measurement), so unrolled the step costs what its parts cost, at the price of a
longer compile.

The pool of past fakes (original: 2 x batch) is a ring buffer ``[pool_size, time, pitch]`` in the
state: each critic step writes its fresh fakes at the ring's write index, then trains on
``critic batch`` fakes drawn without replacement from the filled slots, so about
``critic batch / pool_size`` of them are fresh and the rest come from recent generators.
``pool_size=0`` trains the critic on the fresh fakes only.

Optimisers: ``config.optim`` is the generator's, ``config.critic_optim`` the critic's (separate
learning rates; Adam betas (0.5, 0.9) in the GAN configs). Their schedules count optimiser updates,
so they are built for ``num_steps * g_steps`` and ``num_steps * n_critic`` updates.

Metrics (means over the step's critic or generator updates): ``loss`` (the critic loss),
``d_loss``, ``g_loss``, ``wasserstein`` (E D(real) - E D(fake), WGAN-GP), ``gradient_penalty``
(without lambda), ``critic_input_grad_norm``, ``d_real``, ``d_fake``, ``d_grad_norm``,
``g_grad_norm``, ``grad_norm`` (sqrt(d_grad_norm^2 + g_grad_norm^2), which the loop checks for
NaN), ``fake_density`` / ``real_density`` (sounding keys per frame above ``gan.critic_threshold``),
and with ``gan.mle_weight`` ``g_nll`` (the teacher-forced NLL, nats per frame; ``g_loss`` is the
critic's part of the generator's loss only).

Against collapse (see ``dsjax/tables/gans.py`` and the README for what each did on the ``cpu``
comparison):

* ``model.generator.step_noise``: channels of fresh noise per step appended to the code image
  (:func:`dsjax.models.gan.add_step_noise`). A code constant over time is a constant LSTM input,
  whose fixed point is a held chord; step noise gives the generator a source of change in time.
  ``model.generator.step_noise_hold`` holds each draw for that many steps: with a new draw every
  step the samples flickered (most frames differed from the one before).
* ``gan.binarize='straight_through'``: the critic sees fakes through ``gan.critic_threshold`` (on / off
  values, :meth:`GANTask.critic_view`), the generator's gradient passes as if it were the identity.
  Real rolls are binary, so a critic fed the generator's values in (0, 1) tells fakes by their
  values alone, and the generator escapes by saturating its outputs, where their gradient
  vanishes and the code stops mattering (outputs of every code alike: mode collapse).
* ``model.critic.minibatch_std``: the critic also reads the batch's feature spread
  (:func:`dsjax.models.gan.minibatch_std`); real and fake are then scored in separate passes.

There is no likelihood, so no eval batches: at each eval the loop samples, and
:meth:`GANSampler.statistics` reports diversity (mean pairwise distance between samples, each
from its own code), frame changes (:func:`~dsjax.eval.music_stats.frame_change_rate`: 0 for held
chords), note density, polyphony, the pitch-class JS divergence against real windows and the
melody line's interval JS divergence, hold and step rates
(:func:`~dsjax.eval.music_stats.melody_interval_histogram`), next to the same figures for real
windows (``dsjax.eval.music_stats``). With ``gan.reference_model`` (a trained piano-roll LM
workdir, read as data: ``configs/pianoroll_pitchrnn.py:reference``) it also reports the frame NLL
of the samples under that model (``reference_nll``, :mod:`dsjax.eval.reference`), next to the
figure of held-out real windows of the same length (``real_reference_nll``, from the ``test``
split, computed once). The reference workdir's grid is checked when training starts and the model
is opened at the first evaluation (``launch.generate`` never opens it).

Data: piano-roll windows of ``data.window`` frames (``short='skip'``: no padded windows, which a
critic would learn to spot). The bundled default is Nottingham at eighth-note frames, 88 keys.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from dsjax.data import pianoroll as roll_lib
from dsjax.eval import music_stats
from dsjax.eval.reference import ReferenceModel, check_reference_workdir
from dsjax.models import gan as gan_models
from dsjax.models import gan_losses
from dsjax.models.gan_training import fake_pool_sample, fake_pool_write, repeat_steps
from dsjax.optim import apply_gradients, init_train_state, make_optimizer
from dsjax.tasks import base, datasets

LOSSES = ('wgan_gp', 'nonsaturating')
CRITIC_BATCHES = ('split', 'reuse')
BINARIZE = ('none', 'straight_through')
REAL_REFERENCE_WINDOWS = 256
HELD_OUT_SPLIT = 'test'         # the real windows scored by the reference model


@dataclasses.dataclass(frozen=True)
class GANSettings:
  """What a GAN's traced code reads, fixed when the task is built (``config.model.generator``,
  ``config.gan`` and the roll grid); :meth:`from_config` checks each value."""
  window: int
  pitches: int
  lowest_pitch: int
  output: str                  # 'sigmoid' or 'tanh'
  code_dim: int
  step_noise: int
  step_noise_hold: int
  code_schedule: str           # the training schedule
  code_distribution: str
  ab_block: int
  ab_codes: int
  song_drop: float
  song_features: str
  loss: str
  n_critic: int
  g_steps: int
  critic_batches: str
  critic_batch: int
  pool_size: int
  gp_weight: float
  per_example_epsilon: bool
  unroll: bool
  separate_scores: bool        # the critic's minibatch_std: real and fake scored apart
  binarize: str
  critic_threshold: float
  mle_weight: float

  @classmethod
  def from_config(cls, config, roll_cfg) -> 'GANSettings':
    g, gan = config.model.generator, config.gan
    batch = int(config.data.batch_size)
    loss, critic_batches, binarize = str(gan.loss), str(gan.critic_batches), str(gan.binarize)
    n_critic, g_steps = int(gan.n_critic), int(gan.g_steps)
    if loss not in LOSSES:
      raise ValueError(f'config.gan.loss={loss!r}: expected one of {LOSSES}')
    if critic_batches not in CRITIC_BATCHES:
      raise ValueError(f'config.gan.critic_batches={critic_batches!r}: expected one of '
                       f'{CRITIC_BATCHES}')
    if str(gan.gp_epsilon) not in ('per_example', 'per_batch'):
      raise ValueError(f"config.gan.gp_epsilon={gan.gp_epsilon!r}: expected 'per_example' or "
                       f"'per_batch'")
    if binarize not in BINARIZE:
      raise ValueError(f'config.gan.binarize={binarize!r}: expected one of {BINARIZE}')
    if n_critic < 1 or g_steps < 1:
      raise ValueError(f'config.gan.n_critic={n_critic} and config.gan.g_steps={g_steps} must '
                       f'be >= 1')
    if critic_batches == 'split' and batch % n_critic:
      raise ValueError(f"config.data.batch_size={batch} must be a multiple of "
                       f"config.gan.n_critic={n_critic} with critic_batches='split'")
    if str(g.code_schedule) not in gan_models.SCHEDULES:
      raise ValueError(f'config.model.generator.code_schedule={g.code_schedule!r}: expected '
                       f'one of {gan_models.SCHEDULES}')
    if int(g.code_dim) < 1:
      raise ValueError(f'config.model.generator.code_dim={g.code_dim} must be >= 1')
    if int(g.step_noise) < 0:
      raise ValueError(f'config.model.generator.step_noise={g.step_noise} must be >= 0')
    if int(g.step_noise_hold) < 1:
      raise ValueError(f'config.model.generator.step_noise_hold={g.step_noise_hold} must be '
                       f'>= 1')
    mle_weight = float(gan.mle_weight)
    if not mle_weight >= 0 or (mle_weight and not bool(g.feedback)):   # NaN fails too
      raise ValueError(f'config.gan.mle_weight={mle_weight}: must be >= 0, and > 0 only with '
                       f'config.model.generator.feedback=True (a generator that reads its frames)')
    critic_batch = batch // n_critic if critic_batches == 'split' else batch
    pool_size = int(gan.pool_size)
    if pool_size and pool_size < critic_batch:
      raise ValueError(f'config.gan.pool_size={pool_size} must be 0 or at least the critic '
                       f'batch ({critic_batch})')
    return cls(
        window=int(config.data.window), pitches=roll_cfg.keys, lowest_pitch=roll_cfg.lowest_pitch,
        output=str(g.output), code_dim=int(g.code_dim), step_noise=int(g.step_noise),
        step_noise_hold=int(g.step_noise_hold), code_schedule=str(g.code_schedule),
        code_distribution=str(g.code_distribution), ab_block=int(g.ab_block),
        ab_codes=int(g.ab_codes), song_drop=float(g.song_drop),
        song_features=str(g.song_features), loss=loss, n_critic=n_critic, g_steps=g_steps,
        critic_batches=critic_batches, critic_batch=critic_batch, pool_size=pool_size,
        gp_weight=float(gan.gp_weight), per_example_epsilon=str(gan.gp_epsilon) == 'per_example',
        unroll=bool(gan.unroll), separate_scores=bool(config.model.critic.minibatch_std),
        binarize=binarize, critic_threshold=float(gan.critic_threshold),
        mle_weight=mle_weight)


class GANTask(base.Task):
  """Generator + critic on piano-roll windows ``[batch, time, pitch]``; see the module docstring.

  State (:func:`dsjax.optim.init_train_state`): ``params`` and ``opt_state`` by network
  (``generator``, ``critic``), the pool of fakes (``pool``, ``pool_next``, ``pool_filled``) and
  the optimiser update counts ``d_updates``, ``g_updates``.
  """

  def __init__(self, config):
    super().__init__(config)
    self.roll_cfg = datasets.roll_config(config)
    self.hp = hp = GANSettings.from_config(config, self.roll_cfg)
    self.train_set = datasets.load_split(config, 'pianoroll', 'train')
    self.generator = gan_models.make_generator(config.model.generator, hp.pitches)
    self.critic = gan_models.make_critic(config.model.critic)
    steps = int(config.train.num_steps)
    self.g_tx, self.g_schedule = make_optimizer(config.optim, max(1, steps * hp.g_steps))
    self.d_tx, self.d_schedule = make_optimizer(config.critic_optim, max(1, steps * hp.n_critic))
    self.reference_model = str(config.gan.reference_model)
    self.g_biases = (self._marginal_output_biases(bool(config.model.generator.melody))
                     if isinstance(self.generator, gan_models.FeedbackLSTMGenerator) else {})

  def _marginal_output_biases(self, melody: bool) -> dict[str, np.ndarray]:
    """A feedback generator's starting output biases, ``{layer: bias}``: the training frames'
    marginals (as the roll LMs start). The melody head's: the log-frequency of each top key and of
    silence; the accompaniment's: the log-odds of each key sounding when it is below the top key
    (with ``data.transpose``, spread over the transpositions). Without a melody head: each key's
    log-odds over all frames. Its NLL then starts near the marginal model's, not at 88 fair
    coins. Computed once on the host."""
    p, t = self.hp.pitches, int(self.config.data.transpose)
    frames = np.asarray(self.train_set.values).reshape(-1, p) > 0
    if not melody:
      return {'decision': roll_lib.key_log_odds(frames.reshape(-1), (p,), t)}
    line = music_stats.melody_line(frames)
    top = np.where(line < 0, p, line)                                  # p: the rest
    counts = np.bincount(top, minlength=p + 1).astype(np.float64)
    below = np.asarray(gan_models.accompaniment_mask(top, p))
    on, room = (frames & below).sum(0).astype(np.float64), below.sum(0).astype(np.float64)
    keys = counts[:-1]
    if t > 0:
      keys, on, room = (roll_lib.spread_over_transpositions(v, t) for v in (keys, on, room))
    melody_freq = np.clip(np.append(keys, counts[-1]) / counts.sum(), 1e-4, None)
    acc_freq = np.clip(on / np.maximum(room, 1e-9), 1e-4, 1 - 1e-4)
    return {'melody_out': np.log(melody_freq).astype(np.float32),
            'decision': (np.log(acc_freq) - np.log1p(-acc_freq)).astype(np.float32)}

  # -- data ---------------------------------------------------------------------------------
  def train_data(self, process_index, process_count, seed=None):
    if self.reference_model:  # fail at the start of training, not at the first evaluation
      check_reference_workdir(self.reference_model, self.roll_cfg, 'config.gan.reference_model')
    return datasets.train_stream(self.config, self.train_set, process_index, process_count,
                                 shifted=False, short='skip', seed=seed,
                                 transposition=datasets.roll_transposition(self.config))

  def to_model_scale(self, rolls) -> jax.Array:
    """Binary rolls -> the generator's output scale ({0, 1} for sigmoid, {-1, +1} for tanh)."""
    x = jnp.asarray(rolls, jnp.float32)
    return x * 2.0 - 1.0 if self.hp.output == 'tanh' else x

  # -- codes --------------------------------------------------------------------------------
  def codes(self, rng, batch: int, length: int, schedule: str, song=None) -> jax.Array:
    """The code image ``[batch, code_length(length), code_dim + step_noise]`` for ``length``
    frames: the scheduled code, then ``model.generator.step_noise`` channels of fresh noise per
    code step (:func:`dsjax.models.gan.add_step_noise`; none by default).

    ``song [batch, length, pitch]`` in {0, 1} (for the 'song' schedule) is brought to the code
    resolution by block max (:func:`dsjax.models.gan.downsample_roll`); the 'ab' block length
    ``model.generator.ab_block`` is in frames and is divided by the same factor.
    """
    hp = self.hp
    steps = self.generator.code_length(length)
    factor = max(1, -(-length // steps))
    if schedule == 'song':
      if song is None:
        raise ValueError("the 'song' code schedule needs real rolls (song=...)")
      song = gan_models.downsample_roll(song, factor, steps) if factor > 1 else song
    code = gan_models.code_schedule(
        schedule, rng, batch, steps, hp.code_dim, distribution=hp.code_distribution,
        block=max(1, hp.ab_block // factor), num_codes=hp.ab_codes, song=song,
        song_drop=hp.song_drop, song_features=hp.song_features, lowest_pitch=hp.lowest_pitch)
    return gan_models.add_step_noise(code, jax.random.fold_in(rng, 0x5e9), hp.step_noise,
                                     hp.code_distribution, hold=hp.step_noise_hold)

  def generate(self, g_params, rng, batch: int, length: int, schedule: str, song=None):
    """Generator output ``[batch, length, pitch]`` in the output scale (jittable)."""
    code = self.codes(rng, batch, length, schedule, song)
    return self.generator.apply({'params': g_params}, code, length,
                                rngs={'sample': jax.random.fold_in(rng, 0x6d)})

  # -- state and steps ----------------------------------------------------------------------
  def critic_view(self, fake: jax.Array) -> jax.Array:
    """What the critic sees of a generator output ``[batch, time, pitch]``: the output itself, or
    with ``gan.binarize='straight_through'`` the binary roll of ``gan.critic_threshold`` (on / off
    values of the output scale) whose gradient is taken as the identity (a straight-through
    estimator), so that the critic cannot tell fakes by their values between on and off."""
    if self.hp.binarize == 'none':
      return fake
    off = gan_models.off_value(self.hp.output)
    hard = jnp.where(fake > self.hp.critic_threshold, 1.0, off).astype(fake.dtype)
    return fake + jax.lax.stop_gradient(hard - fake)

  def init(self, rng):
    hp = self.hp
    k_g, k_d = jax.random.split(rng)
    code = jnp.zeros((1, self.generator.code_length(hp.window), hp.code_dim + hp.step_noise),
                     jnp.float32)
    g_params = self.generator.init({'params': k_g, 'sample': k_g}, code, hp.window)['params']
    if self.g_biases:
      g_params = dict(g_params)
      for layer, bias in self.g_biases.items():
        g_params[layer] = {**g_params[layer], 'bias': jnp.asarray(bias)}
    x = jnp.zeros((1, hp.window, hp.pitches), jnp.float32)
    d_params = self.critic.init({'params': k_d}, x)['params']
    return init_train_state(
        {'generator': g_params, 'critic': d_params},
        {'generator': self.g_tx, 'critic': self.d_tx},
        pool=jnp.zeros((hp.pool_size, hp.window, hp.pitches), jnp.float32),
        pool_next=jnp.zeros((), jnp.int32), pool_filled=jnp.zeros((), jnp.int32),
        d_updates=jnp.zeros((), jnp.int32), g_updates=jnp.zeros((), jnp.int32))

  def _critic_fn(self, d_params):
    return lambda x: self.critic.apply({'params': d_params}, x)

  def _critic_loss(self, d_params, real, fake, rng):
    critic_fn, hp = self._critic_fn(d_params), self.hp
    if hp.loss == 'wgan_gp':
      return gan_losses.wgan_gp_critic_loss(critic_fn, real, fake, rng, gp_weight=hp.gp_weight,
                                            per_example_epsilon=hp.per_example_epsilon,
                                            separate=hp.separate_scores)
    return gan_losses.nonsaturating_critic_terms(critic_fn, real, fake, hp.separate_scores)

  def _generator_loss(self, d_fake):
    if self.hp.loss == 'wgan_gp':
      return gan_losses.wasserstein_generator_loss(d_fake)
    return gan_losses.nonsaturating_generator_loss(d_fake)

  def _density(self, x):
    on = x > self.hp.critic_threshold
    return jnp.mean(jnp.sum(on, axis=-1).astype(jnp.float32))

  def train_step(self, state, batch, rng):
    rolls = batch['inputs']                                        # [B, T, P] {0, 1}
    real_all = self.to_model_scale(rolls)
    songs_all = jnp.roll(jnp.asarray(rolls, jnp.float32), 1, axis=0)  # codes from other windows
    hp = self.hp
    cb, t, p = hp.critic_batch, real_all.shape[1], real_all.shape[2]
    k_critic, k_gen = jax.random.split(rng)
    g_params = state['params']['generator']
    schedule = hp.code_schedule

    if hp.critic_batches == 'split':
      reals = real_all.reshape(hp.n_critic, cb, t, p)
      songs = songs_all.reshape(hp.n_critic, cb, t, p)
    else:
      reals = jnp.broadcast_to(real_all, (hp.n_critic,) + real_all.shape)
      songs = jnp.broadcast_to(songs_all, (hp.n_critic,) + songs_all.shape)

    def critic_step(carry, inp):
      d_params, d_opt, pool, pool_next, pool_filled = carry
      real, song, key = inp
      k_code, k_pool, k_loss = jax.random.split(key, 3)
      fake = jax.lax.stop_gradient(self.critic_view(
          self.generate(g_params, k_code, cb, t, schedule, song if schedule == 'song' else None)))
      if hp.pool_size:
        pool, pool_next, pool_filled = fake_pool_write(pool, pool_next, pool_filled, fake)
        fake = fake_pool_sample(k_pool, pool, pool_filled, cb)
      (loss, aux), grads = jax.value_and_grad(self._critic_loss, has_aux=True)(
          d_params, real, fake, k_loss)
      d_params, d_opt, gn = apply_gradients(self.d_tx, d_params, d_opt, grads)
      metrics = {'d_loss': loss, 'd_grad_norm': gn,
                 'real_density': self._density(real), **aux}
      return (d_params, d_opt, pool, pool_next, pool_filled), metrics

    carry = (state['params']['critic'], state['opt_state']['critic'], state['pool'],
             state['pool_next'], state['pool_filled'])
    carry, d_metrics = repeat_steps(
        critic_step, carry, (reals, songs, jax.random.split(k_critic, hp.n_critic)), hp.unroll)
    d_params, d_opt, pool, pool_next, pool_filled = carry
    critic_fn = self._critic_fn(d_params)
    gen_songs = songs[0]
    gen_real = jnp.asarray(rolls, jnp.float32)[:cb]   # {0, 1}: the teacher-forced targets

    def gen_step(carry, key):
      g_params, g_opt = carry

      def loss_fn(gp):
        fake = self.generate(gp, key, cb, t, schedule, gen_songs if schedule == 'song' else None)
        loss = self._generator_loss(critic_fn(self.critic_view(fake)))
        nll = jnp.zeros(())
        if hp.mle_weight:   # teacher-forced NLL of real windows, from codes of their own
          code = self.codes(jax.random.fold_in(key, 0x71), cb, t, schedule,
                            gen_songs if schedule == 'song' else None)
          nll = self.generator.apply({'params': gp}, code, gen_real, method='frame_nll')
        return loss + hp.mle_weight * nll, (fake, loss, nll)

      (_, (fake, loss, nll)), grads = jax.value_and_grad(loss_fn, has_aux=True)(g_params)
      g_params, g_opt, gn = apply_gradients(self.g_tx, g_params, g_opt, grads)
      out = {'g_loss': loss, 'g_grad_norm': gn, 'fake_density': self._density(fake)}
      if hp.mle_weight:
        out['g_nll'] = nll
      return (g_params, g_opt), out

    (g_params, g_opt), g_metrics = repeat_steps(
        gen_step, (g_params, state['opt_state']['generator']), jax.random.split(k_gen, hp.g_steps),
        hp.unroll)

    metrics = {k: jnp.mean(v) for k, v in {**d_metrics, **g_metrics}.items()}
    metrics['loss'] = metrics['d_loss']
    metrics['grad_norm'] = jnp.sqrt(jnp.mean(d_metrics['d_grad_norm'] ** 2)
                                    + jnp.mean(g_metrics['g_grad_norm'] ** 2))
    new_state = dict(
        state, params={'generator': g_params, 'critic': d_params},
        opt_state={'generator': g_opt, 'critic': d_opt},
        pool=pool, pool_next=pool_next, pool_filled=pool_filled,
        d_updates=state['d_updates'] + hp.n_critic, g_updates=state['g_updates'] + hp.g_steps)
    return new_state, metrics

  def learning_rates(self, step):
    return {'generator': float(self.g_schedule(step * self.hp.g_steps)),
            'critic': float(self.d_schedule(step * self.hp.n_critic))}

  def hparams(self):
    shapes = jax.eval_shape(self.init, jax.random.key(0))['params']
    return {'generator_params': gan_models.count_params(shapes['generator']),
            'critic_params': gan_models.count_params(shapes['critic'])}

  # -- sampling -----------------------------------------------------------------------------
  def real_windows(self, rng_or_seed, num: int, length: int) -> np.ndarray:
    """``num`` random real windows ``[num, length, pitch]`` in {0, 1} from the training split
    (:func:`random_windows`)."""
    return random_windows(self.train_set, rng_or_seed, num, length, self.hp.pitches)

  def make_sampler(self):
    return GANSampler(self)


def random_windows(seqs, rng_or_seed, num: int, length: int, pitches: int) -> np.ndarray:
  """``num`` random windows ``uint8 [num, length, pitches]`` of the rolls ``seqs``
  (a :class:`~dsjax.data.notes.SequenceSet`); ``rng_or_seed``: an int or a jax key.

  Pieces at least ``length`` frames long are drawn uniformly, then a start in each; if none is,
  the longest pieces are used and padded with silence.
  """
  if isinstance(rng_or_seed, (int, np.integer)):
    g = np.random.default_rng(int(rng_or_seed))
  else:
    g = np.random.default_rng(np.asarray(jax.random.key_data(rng_or_seed)).ravel().tolist())
  lengths = seqs.lengths
  candidates = np.flatnonzero(lengths >= length)
  if not len(candidates):
    candidates = np.flatnonzero(lengths == lengths.max())
  picks = candidates[g.integers(len(candidates), size=num)]
  out = np.zeros((num, length, pitches), np.uint8)
  for i, piece in enumerate(picks):
    seq = np.asarray(seqs[int(piece)])
    start = int(g.integers(0, max(1, len(seq) - length + 1)))
    window = seq[start:start + length]
    out[i, :len(window)] = window
  return out


class GANSampler(base.Sampler):
  """Rolls from a :class:`GANTask`'s generator: codes by schedule, output above a threshold."""

  def __init__(self, task: GANTask):
    super().__init__(task)
    self.defaults = task.config.sample
    self.roll_cfg, self.lowest_pitch = task.roll_cfg, task.hp.lowest_pitch
    self.real_windows = task.real_windows
    self._generate = jax.jit(task.generate, static_argnums=(2, 3, 4))
    self._real_reference: dict[int, dict] = {}
    self._config, self._pitches = task.config, task.hp.pitches
    self.feedback = isinstance(task.generator, gan_models.FeedbackLSTMGenerator)
    self.reference_path = task.reference_model
    self._reference: ReferenceModel | None = None
    self._held_out = None
    self._held_out_nll: dict[int, float] = {}

  def generate_raw(self, state, rng, num: int, length: int, schedule: str | None = None
                   ) -> np.ndarray:
    """Generator outputs ``[num, length, pitch]`` (output scale, before the threshold)."""
    schedule = str(schedule or self.defaults.schedule)
    if schedule not in gan_models.SCHEDULES:
      raise ValueError(f'code schedule {schedule!r}: expected one of {gan_models.SCHEDULES}')
    song = None
    if schedule == 'song':
      song = jnp.asarray(self.real_windows(jax.random.fold_in(rng, 1), num, length), jnp.float32)
    return np.asarray(self._generate(state['params']['generator'], rng, int(num), int(length),
                                     schedule, song))

  def sample(self, state, rng, num, length, schedule=None, threshold=None):
    """Binary rolls ``uint8 [num, length, pitch]``: the generator output above ``threshold``.

    ``schedule``: code schedule ('constant', 'linspace', 'ab', 'song'; default
    ``config.sample.schedule``); each sample has its own codes. ``threshold`` is in the output
    scale (sigmoid: [0, 1]; tanh: [-1, 1], e.g. the original's -0.3, 0.3 or 0.9); default
    ``config.sample.threshold``.
    """
    thr = float(self.defaults.threshold if threshold is None else threshold)
    if not np.isfinite(thr):
      raise ValueError(f'threshold={thr}: must be a finite number')
    if threshold is not None and self.feedback and thr != float(self.defaults.threshold):
      raise ValueError(f'threshold={thr}: this generator reads its own frames, which are already '
                       f'binary (its keys are cut at 0.5 inside the feedback loop, '
                       f'model.generator.accompaniment); a threshold does not apply')
    raw = self.generate_raw(state, rng, int(num), int(length), schedule)
    return (raw > thr).astype(np.uint8)

  def to_pieces(self, samples):
    return [roll_lib.decode_pianoroll_to_piece(np.asarray(s), self.roll_cfg, threshold=0.5,
                                               name=f'sample_{i}')
            for i, s in enumerate(samples)]

  def to_rolls(self, samples):
    return [np.asarray(s) for s in samples]

  def real_rolls(self, num, length):
    return list(self.real_windows(1234, num, length))

  def real_reference(self, length: int) -> dict:
    """Figures of 256 real training windows of ``length`` frames (cached): density, polyphony,
    diversity (on 64 of them), the pitch-class histogram, the melody-interval histogram and the
    melody's hold and step rates."""
    if length not in self._real_reference:
      real = self.real_windows(4321, REAL_REFERENCE_WINDOWS, length)
      self._real_reference[length] = {
          'note_density': music_stats.note_density(real),
          'polyphony': music_stats.polyphony(real),
          'diversity': music_stats.mean_pairwise_distance(real[:64]),
          'frame_changes': music_stats.frame_change_rate(real),
          'pitch_classes': music_stats.pitch_class_histogram_of_rolls(real, self.lowest_pitch),
      }
      if length >= 2:   # the melody line's moves need two frames
        self._real_reference[length].update({
            'melody_intervals': music_stats.melody_interval_histogram(real),
            'melody_hold': music_stats.melody_hold_rate(real),
            'melody_step': music_stats.melody_step_rate(real)})
    return self._real_reference[length]

  def held_out_windows(self, seed: int, num: int, length: int) -> np.ndarray:
    """``num`` random real windows ``uint8 [num, length, pitch]`` of the held-out
    (``HELD_OUT_SPLIT``) rolls of the run's data."""
    if self._held_out is None:
      self._held_out = datasets.load_split(self._config, 'pianoroll', HELD_OUT_SPLIT)
    return random_windows(self._held_out, seed, num, length, self._pitches)

  @property
  def reference(self) -> ReferenceModel | None:
    """The ``gan.reference_model`` density model (opened once, at first use), or None."""
    if self.reference_path and self._reference is None:
      self._reference = ReferenceModel(self.reference_path, self.roll_cfg,
                                       key='config.gan.reference_model')
    return self._reference

  def real_reference_nll(self, length: int) -> float:
    """Frame NLL under the reference model of 256 held-out windows of ``length`` frames (cached)."""
    if length not in self._held_out_nll:
      real = self.held_out_windows(4321, REAL_REFERENCE_WINDOWS, length)
      self._held_out_nll[length] = self.reference.frame_nll(real)
    return self._held_out_nll[length]

  def statistics(self, samples):
    """Diversity, density, polyphony, silence, frame changes, pitch-class JS (nats), melody-interval
    JS (nats) and the melody's hold and step rates of ``samples``, with the same figures for as
    many fresh real windows (``real_*``; ``real_pitch_class_js`` and ``real_melody_js`` are the
    divergences a real sample of this size has from the reference: the floors for
    ``pitch_class_js`` and ``melody_js``). With ``gan.reference_model``: ``reference_nll`` of the
    samples and ``real_reference_nll`` of held-out real windows of the same length.
    """
    samples = np.asarray(samples)
    n, length = samples.shape[0], samples.shape[1]
    ref = self.real_reference(length)
    real = self.real_windows(999, n, length)
    stats = {
        'note_density': music_stats.note_density(samples),
        'polyphony': music_stats.polyphony(samples),
        'silent_frames': music_stats.silent_fraction(samples),
        'frame_changes': music_stats.frame_change_rate(samples),
        'pitch_class_js': music_stats.js_divergence(
            music_stats.pitch_class_histogram_of_rolls(samples, self.lowest_pitch),
            ref['pitch_classes']),
        'real_note_density': ref['note_density'],
        'real_polyphony': ref['polyphony'],
        'real_frame_changes': ref['frame_changes'],
        'real_pitch_class_js': music_stats.js_divergence(
            music_stats.pitch_class_histogram_of_rolls(real, self.lowest_pitch),
            ref['pitch_classes']),
    }
    if length >= 2:
      stats.update({
          'melody_js': music_stats.melody_js(samples, ref['melody_intervals']),
          'melody_hold': music_stats.melody_hold_rate(samples),
          'melody_step': music_stats.melody_step_rate(samples),
          'real_melody_js': music_stats.melody_js(real, ref['melody_intervals']),
          'real_melody_hold': ref['melody_hold'],
          'real_melody_step': ref['melody_step'],
      })
      if self.reference is not None:
        stats['reference_nll'] = self.reference.frame_nll(samples)
        stats['real_reference_nll'] = self.real_reference_nll(length)
    if n >= 2:
      stats['diversity'] = music_stats.mean_pairwise_distance(samples)
      stats['real_diversity'] = ref['diversity']
    return stats
