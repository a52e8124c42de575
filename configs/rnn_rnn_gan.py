"""rnn_rnn_gan: the 11/20 RNN-RNN GAN (original ``DCRNN_RhythmGAN.RNNRNN.py``) with WGAN-GP.

Generator: two LSTM levels [64, 32] without repetition (repeats [1, 1]), strip-deconvolution
decision layer, tanh; code 200 + time indicator. Critic: the original ``rnn_dis``, an LSTM of 32 with
a linear score per step followed by a linear layer over the steps. Critic and generator lr 5e-4,
G_k = 5 generator steps per critic step, Adam (0.5, 0.9). The log gave up on it because
``tf.static_rnn`` was 10x slow and second-order gradients did not pass ``dynamic_rnn``; here the
penalty goes through the scanned LSTM.

  python -m launch.train --config=configs/rnn_rnn_gan.py
"""

import ml_collections

from configs.common import parse_variant
from configs.gan_base import base_gan_config, set_threshold, tiny_gan

VARIANTS = ('tiny',)


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variant = parse_variant(arg, VARIANTS)
  c = base_gan_config('lstm_strip', 'lstm', loss='wgan_gp', g_steps=5, learning_rate=5e-4)
  c.model.generator.code_dim = 200
  c.model.critic.hidden = (32,)
  c.model.critic.readout = 'steps'
  set_threshold(c, 0.3)
  if 'tiny' in variant:
    tiny_gan(c)
  return c
