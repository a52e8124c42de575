"""The GAN experiments' shared config: every key the GAN task reads, and the blocks they share.

``configs/iwgan_lstm.py``, ``iwgan_lstm_cnn.py``, ``gan_lstm_cnn.py``, ``dcrnn.py``,
``rnn_rnn_gan.py`` and ``strip_deconv.py`` start from :func:`base_gan_config`; :func:`tiny_gan`,
:func:`against_collapse` and :func:`cpu_comparison` are the variants they share. What the keys do:
``dsjax/tasks/gan.py``.
"""

from __future__ import annotations

import ml_collections

from configs.common import base_config

GENERATORS = ('lstm', 'dcrnn', 'lstm_strip')
CRITICS = ('lstm', 'cnn')


def base_gan_config(generator: str = 'lstm', critic: str = 'lstm', *, loss: str = 'wgan_gp',
                    n_critic: int = 1, g_steps: int = 1, critic_batch: int = 32,
                    learning_rate: float = 1e-4, critic_learning_rate: float | None = None):
  """Every key the GAN task reads, with defaults; ``configs/*.py`` GAN experiments start here.

  The keyword arguments set the blocks the experiments share:

  * ``generator``: ``'lstm'`` (11/14: code + time indicator -> LSTM 256 -> dense -> sigmoid),
    ``'dcrnn'`` (11/10: GRU levels [256, 128, 128] repeated [8, 2, 1] along time -> dense -> tanh,
    code 50, threshold 0) or ``'lstm_strip'`` (11/20: LSTM levels [64, 32] without repetition ->
    strip deconvolution of 32 channels -> tanh);
  * ``critic``: ``'lstm'`` (LSTM 256, linear on the last state) or ``'cnn'`` (the original two
    towers: 32, 64, 128, 128 filters of 5x5, 200 dense units);
  * ``loss`` ('wgan_gp' | 'nonsaturating'), ``n_critic`` and ``g_steps`` per train step; with
    ``n_critic > 1`` each critic step has its own ``critic_batch`` real windows
    (``critic_batches='split'``, ``data.batch_size = n_critic * critic_batch``), else every step
    reuses the one batch of ``critic_batch``;
  * ``learning_rate`` of the generator and ``critic_learning_rate`` (default: the same), Adam
    betas (0.5, 0.9), no gradient clipping.

  Data: the bundled Nottingham (694 training tunes, median 255 frames) at eighth-note frames and 88
  keys: melody plus chords with clear repetition, long enough for 64-frame windows from 99.6% of the
  tunes (JSB chorales at quarter notes are shorter and would need padded windows).
  """
  c = base_config()
  c.task = 'gan'
  c.data.source = 'nottingham'
  c.data.roll = ml_collections.ConfigDict(dict(grid='beats', step=0.5, pitches=88))
  c.data.window = 64
  c.data.batch_size = 32
  c.data.piece_weighting = 'uniform'     # the original picked songs uniformly
  c.data.transpose = 0

  c.model = ml_collections.ConfigDict()
  g = c.model.generator = ml_collections.ConfigDict()
  g.kind = 'lstm'                 # 'lstm' | 'dcrnn'
  g.hidden = (256,)               # LSTM sizes, or the DCRNN's cells per level
  g.repeats = ()                  # DCRNN: repeat factor per level
  g.cell = 'lstm'                 # DCRNN: 'gru' | 'lstm'
  g.bidirectional = False         # DCRNN levels
  g.decision = 'dense'            # 'dense' | 'none' | 'strip'
  g.strip_channels = 32
  g.output = 'sigmoid'            # 'sigmoid' ({0, 1} rolls) | 'tanh' ({-1, +1}, the original)
  g.melody = False                # lstm: a one-note-per-frame melody output (softmax over keys
  #                                 and a rest, straight-through argmax) laid over the roll
  g.feedback = False              # lstm: the generator reads the frame it output before (and
  #                                 can be trained as a roll LM too: gan.mle_weight)
  g.accompaniment = 'threshold'   # feedback: its keys' on/off, 'threshold' (sigmoid > 0.5) or
  #                                 'sample' (drawn); with melody, only keys below the melody note
  g.time_indicator = True
  g.code_dim = 64
  g.code_distribution = 'uniform'  # U[-1, 1] | 'normal'
  g.step_noise = 0                # fresh noise channels per step next to the code (0 = off)
  g.step_noise_hold = 1           # code steps each step-noise draw is held for (1 = every step)
  g.code_schedule = 'constant'    # training schedule: 'constant' | 'linspace' | 'song' | 'ab'
  g.ab_block = 16                 # frames per block of the 'ab' schedule
  g.ab_codes = 2                  # codes cycled by the 'ab' schedule (2: A-B-A-B)
  g.song_drop = 0.2               # 'song': fraction of cells masked out
  g.song_features = 'chroma'      # 'song': 'chroma' (12 dims) | 'roll' (one per key)
  g.impl = 'custom_vjp'
  d = c.model.critic = ml_collections.ConfigDict()
  d.kind = 'lstm'                 # 'lstm' | 'bilstm' | 'cnn'
  d.hidden = (256,)
  d.readout = 'last'              # 'last' | 'mean' | 'steps'
  d.motion = False                # recurrent critics: each frame's change from the one before
  #                                 (x_t - x_{t-1}) joins the frame as input (onsets, moves)
  d.pitch_conv = 0                # recurrent critics: channels of a 12-key convolution across
  #                                 pitch (one octave, stride 1) applied to each frame before the
  #                                 LSTM, next to the frame itself (0 = off)
  d.impl = 'custom_vjp'           # twice differentiable: correct for the gradient penalty
  d.features = (32, 64, 128, 128)  # CNN towers
  d.kernel = 5
  d.dense = 200
  d.self_similarity = True
  d.minibatch_std = False         # minibatch standard deviation feature (real, fake apart)

  c.gan = ml_collections.ConfigDict()
  c.gan.loss = 'wgan_gp'          # 'wgan_gp' | 'nonsaturating'
  c.gan.gp_weight = 10.0
  c.gan.gp_epsilon = 'per_example'  # or 'per_batch' (the original)
  c.gan.n_critic = 1              # critic steps per train step
  c.gan.g_steps = 1               # generator steps per train step (the original's G_k)
  c.gan.critic_batches = 'reuse'  # 'split': data.batch_size = n_critic x critic batch
  c.gan.pool_size = 64            # past fakes (the original: 2 x batch); 0 = off
  c.gan.binarize = 'none'         # 'straight_through': the critic sees thresholded fakes
  c.gan.critic_threshold = 0.5    # output-scale threshold of those fakes (and of the densities
                                  # logged in training); set_threshold() keeps it = sample.threshold
  c.gan.mle_weight = 0.0          # feedback generators: weight of the teacher-forced NLL of
                                  # the real windows added to the generator's loss (0 = off)
  c.gan.unroll = True             # unroll the critic / generator step scans (see the module doc)
  c.gan.reference_model = ''      # '' = off, or a piano-roll LM workdir (read as data) whose
                                  # frame NLL of the samples each eval logs (train one with
                                  # configs/pianoroll_pitchrnn.py:reference)

  c.optim.name = 'adam'
  c.optim.learning_rate = 1e-4    # generator
  c.optim.b1 = 0.5
  c.optim.b2 = 0.9
  c.optim.grad_clip_norm = 0.0    # 11/13: "remove gradient clip"
  c.critic_optim = ml_collections.ConfigDict(c.optim.to_dict())

  c.train.num_steps = 20000
  c.train.log_every = 50
  c.train.eval_every = 1000
  c.train.checkpoint_every = 1000

  c.sample.num = 16
  c.sample.length = 256           # 4 x the training window, as the log generated longer pieces
  c.sample.schedule = 'constant'
  c.sample.threshold = 0.5        # in the output scale

  if generator == 'dcrnn':
    g.kind, g.cell, g.hidden, g.repeats = 'dcrnn', 'gru', (256, 128, 128), (8, 2, 1)
    g.decision, g.output, g.code_dim = 'dense', 'tanh', 50
    set_threshold(c, 0.0)
  elif generator == 'lstm_strip':
    g.kind, g.cell, g.hidden, g.repeats = 'dcrnn', 'lstm', (64, 32), (1, 1)
    g.decision, g.strip_channels, g.output = 'strip', 32, 'tanh'
  elif generator != 'lstm':
    raise ValueError(f'base_gan_config: generator={generator!r}, expected one of {GENERATORS}')
  if critic not in CRITICS:
    raise ValueError(f'base_gan_config: critic={critic!r}, expected one of {CRITICS}')
  d.kind = critic
  c.gan.loss = loss
  c.gan.n_critic = int(n_critic)
  c.gan.g_steps = int(g_steps)
  c.gan.critic_batches = 'split' if n_critic > 1 else 'reuse'
  c.data.batch_size = int(critic_batch) * (int(n_critic) if n_critic > 1 else 1)
  c.optim.learning_rate = float(learning_rate)
  c.critic_optim.learning_rate = float(
      learning_rate if critic_learning_rate is None else critic_learning_rate)
  return c


def set_threshold(c, threshold: float):
  """Sets the on/off threshold of the generator's output scale for sampling
  (``sample.threshold``) and for what the critic sees in training (``gan.critic_threshold``)."""
  c.sample.threshold = float(threshold)
  c.gan.critic_threshold = float(threshold)
  return c


def tiny_gan(c):
  """Shrinks a GAN config to a seconds-long CPU smoke run (4 fake devices: batch 8)."""
  c.data.window = 16
  c.data.batch_size = 8
  c.data.max_pieces = 40
  g, d = c.model.generator, c.model.critic
  g.hidden = tuple(8 for _ in g.hidden)
  g.code_dim = min(int(g.code_dim), 16) if g.code_schedule != 'song' else 16
  g.strip_channels = 4
  d.hidden = tuple(8 for _ in d.hidden)
  d.features = (4, 4)
  d.kernel = 3
  d.dense = 8
  c.gan.n_critic = min(int(c.gan.n_critic), 2)
  c.gan.g_steps = min(int(c.gan.g_steps), 2)
  c.gan.pool_size = 8 if int(c.gan.pool_size) else 0
  c.train.num_steps = 4
  c.train.log_every = 2
  c.train.eval_every = 2
  c.train.checkpoint_every = 2
  c.sample.num = 3
  c.sample.length = 32
  set_threshold(c, 0.0 if g.output == 'tanh' else 0.5)   # untrained: about half the keys on
  return c


def against_collapse(c, step_noise: int = 32, step_noise_hold: int = 4):
  """The settings that stopped the LSTM-generator GANs from collapsing (module docstring):
  ``step_noise`` channels of fresh noise per step next to the code, and straight-through binarized
  fakes for the critic; each noise draw held for ``step_noise_hold`` steps, against samples that
  flicker (with a new draw every step, 94% of the iwgan_lstm ``cpu`` samples' frames changed,
  against 64% in the real windows; 55% with a hold of 4). The LSTM-generator configs use them
  unless their ``original`` variant asks for the log's setting (a code constant over time, the
  critic fed the generator's values)."""
  c.model.generator.step_noise = int(step_noise)
  c.model.generator.step_noise_hold = int(step_noise_hold)
  c.gan.binarize = 'straight_through'
  return c


def melody_lm(c, mle_weight: float = 10.0, learning_rate: float = 3e-3):
  """The LSTM generator as a language model of rolls as well as a GAN generator (issue of the
  headline's melody line; README: "A melody line"): it reads the frame it output before
  (``feedback``), draws one melody note per frame from a softmax next to the accompaniment's
  keys (``melody``), and adds ``mle_weight`` x the teacher-forced NLL of real windows to the
  critic's score in its loss (``gan.mle_weight``), with the generator's Adam at
  ``learning_rate`` (the roll LMs' rate; the critic keeps its own). Without it (the configs'
  ``plain`` variant) the samples had held chords with scattered notes above them and no line."""
  g = c.model.generator
  g.feedback = True
  g.melody = True
  c.gan.mle_weight = float(mle_weight)
  c.optim.learning_rate = float(learning_rate)
  return c


def cpu_comparison(c):
  """The budget of the iwgan_lstm / iwgan_lstm_cnn / gan_lstm_cnn comparison on one CPU core
  (about 20 minutes for the three): the same smaller widths, critic batch 16, Adam 3e-4 with betas
  (0.5, 0.9) for both networks, a pool of 2 x 16 fakes, a 32-dim code and 800 train steps for all
  three; only the loss and the critic (and with them the critic steps per generator step) differ.
  The configs add :func:`against_collapse` (32 channels of step noise held for 4 steps,
  straight-through fakes) unless asked for ``:cpu,original``.

  Without step noise and binarization (``step_noise=0``, ``binarize='none'``) all three held one
  chord for the whole window in every sample (diversity < 0.002 against 0.069 for real windows).
  """
  c.model.generator.hidden = (128,)
  c.model.generator.code_dim = 32
  c.model.critic.hidden = (128,)
  c.model.critic.features = (4, 8, 16, 16)
  c.model.critic.kernel = 3
  c.model.critic.dense = 64
  split = c.gan.critic_batches == 'split'
  c.data.batch_size = 16 * (int(c.gan.n_critic) if split else 1)
  c.gan.pool_size = 32
  c.optim.learning_rate = 3e-4
  c.critic_optim.learning_rate = 3e-4
  c.train.num_steps = 800
  c.train.log_every = 10
  c.train.eval_every = 400
  c.train.checkpoint_every = 400
  c.sample.num = 32
  c.sample.length = 64
  return c
