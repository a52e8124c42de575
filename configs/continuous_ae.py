"""Continuous (quantised-code) autoencoder over aligned chord steps of the Bach chorales (log 10/29).

Each sub-sequence of ``model.subseq_len`` eighth-note steps (8 = one 4/4 bar) is encoded to a code
``c = sigmoid(beta x)`` quantised to {0, 0.5, 1}; loss ``L_rec + L_rec^q + alpha L_con`` (see
``dsjax/tasks/continuous_ae.py``). Generation walks the quantised code space
(``launch.generate --walk=random|song --flips=K``).

  python -m launch.train --config=configs/continuous_ae.py --workdir=runs/cae
  python -m launch.train --config=configs/continuous_ae.py:cae2          # 10/30: tanh, sign, no clip
  python -m launch.train --config=configs/continuous_ae.py:hourglass     # 11/01: feed-forward AE
  python -m launch.train --config=configs/continuous_ae.py:cae2,tiny
  python -m launch.generate --workdir=runs/cae --walk=random --flips=2
  python -m launch.ablate --table=continuous_ae --seeds=3               # the alpha x beta table

Variants: ``cae2`` (10/30: tanh(beta x), sign quantiser, L_con = ||c_i - c_i+1||^2, no gradient
clipping), ``hourglass`` (11/01, which the log lists as changes to CAE2: the CAE2 code and no
clipping, one feed-forward network instead of two RNNs, the mixed continuity loss
||q_i - c_i+1||^2 + ||c_i - q_i+1||^2), ``tiny`` (tests); combinable (``cae2,tiny``).
"""

import ml_collections

from configs.common import base_config, parse_variant

VARIANTS = ('tiny', 'cae2', 'hourglass')


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variant = parse_variant(arg, VARIANTS)
  c = base_config()
  c.task = 'continuous_ae'
  c.data.source = 'bach'            # the music21 Bach chorales
  c.data.roll = ml_collections.ConfigDict(dict(grid='beats', step=0.5, pitches=88))  # eighths
  c.data.transpose_to_c = True      # the original's key normalisation (C major / A minor)
  c.data.window = 32                # a training row: window / model.subseq_len consecutive
                                    # sub-sequences (K = 4 here; K >= 3 for the hinge's i, i+1, i+2)
  c.data.batch_size = 32            # rows per step (K sub-sequences each)
  c.data.eval_splits = ('valid',)   # held-out pieces, cut into consecutive sub-sequences
  c.data.eval_batch_size = 8        # a split's sub-sequences all go in ONE eval batch (its code
                                    # counts need them together) of a multiple of this many rows

  c.model = ml_collections.ConfigDict()
  c.model.arch = 'rnn'              # 'rnn' (10/29: RNN encoder and decoder) | 'hourglass' (11/01)
  c.model.cell = 'gru'              # 'gru' | 'lstm' (the original used GRUs and rejected LSTMs)
  c.model.subseq_len = 8            # m: steps per sub-sequence (8 eighths = one 4/4 bar)
  # 64 entries: 3^64 quantised codes (~101 bits) can hold a chorale bar (~18 onsets), which the
  # original's 16 (sign: 16 bits) cannot; the log's 256 costs 4x the code-space work on 2 CPU
  # cores and makes a walk's few flips near-invisible
  c.model.code_dim = 64
  c.model.encoder_hidden = (128,)   # rnn: encoder stack widths
  c.model.decoder_hidden = (128,)   # rnn: decoder stack widths
  c.model.hourglass_hidden = (512, 256)  # hourglass: widths from the input down to the code
  c.model.quantizer = 'ternary'     # 'ternary': sigmoid(beta x), nearest of {0, 0.5, 1} (10/29);
                                    # 'sign': tanh(beta x), sign (CAE2, 10/30)
  c.model.beta = 10.0               # slope of the code's activation (the log tried 1 .. 100)

  c.loss = ml_collections.ConfigDict()
  c.loss.alpha = 1.0                # weight of the continuity loss L_con (>= 0)
  c.loss.continuity = 'hinge'       # 'hinge': max(0, d(c_i, c_i+1) - d(c_i, c_i+2) + margin);
                                    # 'plain': d(c_i, c_i+1); 'mixed' (11/01):
                                    # d(q_i, c_i+1) + d(c_i, q_i+1); d squared Euclidean
  c.loss.margin = 1.0               # the hinge's margin (the log's + 1)

  c.optim.learning_rate = 1e-3      # Adam 1e-3, as the original
  c.optim.grad_clip_norm = 1.0      # the original's clipnorm 1 (CAE2 removes it: 0 = none)
  c.train.num_steps = 3000
  c.train.log_every = 100
  c.train.eval_every = 500
  c.train.checkpoint_every = 500

  c.sample.num = 4
  c.sample.length = 128             # steps (16 sub-sequences of 8)
  c.sample.walk = 'random'          # 'random': bit flips from a real opening's code (the theme),
                                    # with region-based resets; 'song': a real song's codes, each
                                    # with `flips` entries changed
  c.sample.flips = 2                # code entries changed per walk step (random) / per code (song)
  c.sample.reset_every = 4          # random walk: every this many steps (0 = never) ...
  c.sample.reset_prob = 0.8         # ... back to the theme with this probability, else the theme
                                    # becomes the current code
  c.sample.mode = 'threshold'       # decoding: 'threshold' (greedy, as the original) | 'bernoulli'
  c.sample.threshold = 0.5
  c.sample.duration_steps = 1       # every decoded note lasts this many steps (MIDI)

  if 'cae2' in variant or 'hourglass' in variant:
    c.model.quantizer = 'sign'
    c.loss.continuity = 'plain'
    c.optim.grad_clip_norm = 0.0    # "remove clipnorm to allow significant re-arrangements"
    # the original's alpha (ContinuousSeqAE.py: 5e-3); at alpha = 1 the squared distance of tanh
    # codes (up to 4 per entry) pulled every code to one within 500 steps, both for cae2 and the
    # hourglass (1 distinct code; the decoder became code-blind)
    c.loss.alpha = 0.005
  if 'hourglass' in variant:
    c.model.arch = 'hourglass'
    c.loss.continuity = 'mixed'
  if 'tiny' in variant:
    c.data.max_pieces = 12
    c.data.window = 24              # K = 3
    c.data.batch_size = 4
    c.data.eval_batch_size = 4
    c.model.code_dim = 8
    c.model.encoder_hidden = (16,)
    c.model.decoder_hidden = (16,)
    c.model.hourglass_hidden = (32,)
    c.train.num_steps = 12
    c.train.log_every = 4
    c.train.eval_every = 6
    c.train.checkpoint_every = 6
    c.sample.num = 2
    c.sample.length = 24
    c.sample.mode = 'bernoulli'     # 12 steps decode (greedily) nothing yet: draw notes to hear
  return c
