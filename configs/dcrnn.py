"""dcrnn: the hierarchical RNN generator (11/10-11/17) with the CNN critic and WGAN-GP.

Generator: GRU levels [256, 128, 128], each output repeated [8, 2, 1] times along time, so the first
level writes one code step per 16 frames (2 bars of Nottingham's eighth notes), then a linear
decision layer and tanh over {-1, +1} rolls, as the original. Critic: the original two-tower CNN.
Schedule as the original script (§3.11): one critic step then G_k = 5 generator steps per train
step, critic lr 1e-3, generator lr 5e-4, Adam (0.5, 0.9), a pool of 2 x batch fakes, code 50.

Variants name the training code schedule (the codes the generator sees while it learns):
  python -m launch.train --config=configs/dcrnn.py             # constant code
  python -m launch.train --config=configs/dcrnn.py:linspace    # 11/14: linearly changing code
  python -m launch.train --config=configs/dcrnn.py:song        # 11/15: noisy real song as code
  python -m launch.train --config=configs/dcrnn.py:ab          # 11/15: A-B-A-B code blocks
Generation takes any schedule: ``python -m launch.generate --workdir=DIR --schedule=ab``.
"""

import ml_collections

from configs.common import parse_variant
from configs.gan_base import base_gan_config, tiny_gan

VARIANTS = ('tiny', 'constant', 'linspace', 'song', 'ab')


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variant = parse_variant(arg, VARIANTS)
  c = base_gan_config('dcrnn', 'cnn', loss='wgan_gp', g_steps=5, learning_rate=5e-4,
                      critic_learning_rate=1e-3)
  g = c.model.generator
  for schedule in ('linspace', 'song', 'ab'):
    if schedule in variant:
      g.code_schedule = schedule
      c.sample.schedule = schedule
  if 'ab' in variant:
    g.ab_block = 16     # 2 bars per block; generation at 256 frames gives A B A B ... 8 blocks
  if 'song' in variant:
    g.song_features = 'chroma'   # 12 of the 50 code dims follow the song's pitch classes
  if 'tiny' in variant:
    tiny_gan(c)
  return c
