"""strip_deconv: the 11/20 strip-deconvolution generator (original ``DCRNN_RhythmGAN.deconv_dec.py``).

Two LSTM levels [64, 32] (repeats [1, 1]) -> linear -> 7 octave strips x 32 channels -> transposed
convolution with one shared 1x12 kernel, stride 12 (so a chord shape is reusable in every octave)
-> tanh; the 4 keys outside the 7 strips stay silent. CNN critic, WGAN-GP, code 20, critic lr 1e-3,
generator lr 8e-4, G_k = 2, Adam (0.5, 0.9), 64-frame windows; threshold 0.9 as the original.

  python -m launch.train --config=configs/strip_deconv.py
  python -m launch.train --config=configs/strip_deconv.py:lstm_critic   # LSTM critic instead
"""

import ml_collections

from configs.common import parse_variant
from configs.gan_base import base_gan_config, set_threshold, tiny_gan

VARIANTS = ('tiny', 'lstm_critic')


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variant = parse_variant(arg, VARIANTS)
  c = base_gan_config('lstm_strip', 'cnn', loss='wgan_gp', g_steps=2, learning_rate=8e-4,
                      critic_learning_rate=1e-3)
  c.model.generator.code_dim = 20
  set_threshold(c, 0.9)
  if 'lstm_critic' in variant:
    c.model.critic.kind = 'lstm'
    c.model.critic.hidden = (128,)
    c.model.critic.readout = 'mean'
  if 'tiny' in variant:
    tiny_gan(c)
  return c
