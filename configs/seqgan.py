"""SeqGAN (Yu et al. 2017) over event ids, the research log's 10/21 plan against exposure bias.

Generator: the event LSTM (pre-trained by maximum likelihood). Discriminator: Yu et al.'s CNN (filter
widths 1..10, 15, 20 with their filter counts, highway, dropout 0.25), or an LSTM (variant
``lstm_d``). Then policy gradient with Monte-Carlo rollouts from a delayed generator (update rate
0.8, 8 rollouts per prefix; Yu et al. used 16), three discriminator steps per generator step.
Phases by step: ``seqgan.pretrain_steps`` MLE, ``seqgan.d_pretrain_steps`` discriminator, then
adversarial until ``train.num_steps``. Eval: validation NLL per event of the generator (likelihood
drift during the adversarial phase).

Cost: an adversarial step rolls out ``(window - 1) * num_rollouts * batch`` rows over ``window``
steps (63 * 8 * 32 = 16128 rows here): meant for an accelerator. ``seqgan.rollout_stride=k`` rolls
out every k-th prefix only (tokens in between share the next estimate).

  python -m launch.train --config=configs/seqgan.py
  python -m launch.train --config=configs/seqgan.py:lstm_d,mix
  python -m launch.train --config=configs/seqgan.py:tiny       # seconds on CPU, all three phases
"""

import ml_collections

from configs.common import base_config, event_lm_model, events_section, parse_variant

VARIANTS = ('tiny', 'lstm_d', 'mix')
# Yu et al.'s discriminator: filter widths and the number of filters of each width.
YU_FILTER_WIDTHS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20)
YU_NUM_FILTERS = (100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160, 160)


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variant = parse_variant(arg, VARIANTS)
  c = base_config()
  c.task = 'seqgan'
  c.data.source = 'bach'
  c.data.window = 64                # T: length of the sequences the discriminator judges
  c.data.batch_size = 32
  c.data.transpose = 0
  c.data.piece_weighting = 'length'
  c.data.short = 'skip'             # never a padded real window (the discriminator would spot it)
  c.data.eval_splits = ('valid',)
  c.data.eval_batch_size = 16
  c.data.eval_max_len = 1024
  c.data.events = events_section()

  c.model = event_lm_model(embed_dim=64, hidden=(256, 256), dropout_rate=0.0)  # the generator

  c.discriminator = ml_collections.ConfigDict()
  c.discriminator.kind = 'cnn'      # 'cnn' (Yu et al.) or 'lstm'
  c.discriminator.embed_dim = 64
  c.discriminator.filter_widths = YU_FILTER_WIDTHS
  c.discriminator.num_filters = YU_NUM_FILTERS
  c.discriminator.highway_layers = 1
  c.discriminator.highway_gate_bias = 0.0
  c.discriminator.dropout_rate = 0.25
  c.discriminator.hidden = (128,)   # lstm only
  c.discriminator.pool = 'last'     # lstm only: 'last' or 'mean'

  c.seqgan = ml_collections.ConfigDict()
  c.seqgan.pretrain_steps = 3000    # generator MLE
  c.seqgan.d_pretrain_steps = 500   # discriminator on real vs samples of the frozen generator
  c.seqgan.num_rollouts = 8         # N completions per prefix
  c.seqgan.rollout_stride = 1       # roll out every prefix (Yu et al.)
  c.seqgan.rollout_update_rate = 0.8  # rollout <- r * rollout + (1 - r) * G; 0 = current G
  c.seqgan.d_steps = 3              # discriminator steps per adversarial generator step
  c.seqgan.mle_weight = 0.0         # > 0: add weight * teacher-forced NLL to the PG loss
  c.seqgan.g_lr_scale = 0.1         # generator learning rate during the adversarial phase, relative
  c.seqgan.reward_baseline = 'none'  # 'none' (Yu et al.) or 'batch_mean'

  c.optim.learning_rate = 1e-3      # generator
  c.optim.schedule = 'constant'
  c.optim.grad_clip_norm = 5.0
  c.d_optim = ml_collections.ConfigDict(c.optim.to_dict())  # the discriminator's
  c.d_optim.learning_rate = 1e-4

  c.train.num_steps = 4500          # 3000 MLE + 500 D + 1000 adversarial
  c.train.log_every = 25
  c.train.eval_every = 500
  c.train.checkpoint_every = 500

  c.sample.length = 512
  c.sample.primer = 0               # 0: continue one real opening event, as in training
  c.sample.max_sustain = 2.0

  if 'lstm_d' in variant:
    c.discriminator.kind = 'lstm'
  if 'mix' in variant:
    c.seqgan.mle_weight = 1.0
  if 'tiny' in variant:
    c.data.max_pieces = 12
    c.data.window = 16
    c.data.batch_size = 8
    c.data.eval_batch_size = 8
    c.data.eval_max_len = 128
    c.model.embed_dim = 8
    c.model.hidden = (16,)
    c.discriminator.embed_dim = 8
    c.discriminator.filter_widths = (2, 3, 5)
    c.discriminator.num_filters = (8, 8, 8)
    c.discriminator.hidden = (8,)
    c.seqgan.pretrain_steps = 4
    c.seqgan.d_pretrain_steps = 2
    c.seqgan.num_rollouts = 2
    c.seqgan.d_steps = 2
    c.train.num_steps = 10
    c.train.log_every = 2
    c.train.eval_every = 5
    c.train.checkpoint_every = 5
    c.sample.num = 2
    c.sample.length = 64
  return c
