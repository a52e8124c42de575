"""iwgan_lstm_cnn: LSTM generator + the original two-tower CNN critic, WGAN-GP.

The critic of the original DCRNN (§3.11): towers over the roll X and its self-similarity X X^T,
4 x [conv 5x5, ReLU, max-pool 2x2] with 32, 64, 128, 128 filters, then 200 LReLU units and a
score. Same generator, data, optimiser and critic schedule as ``iwgan_lstm``, so the two differ
only in the critic.

  python -m launch.train --config=configs/iwgan_lstm_cnn.py --workdir=/tmp/iwgan_lstm_cnn
  python -m launch.train --config=configs/iwgan_lstm_cnn.py:original ...  # no step noise, soft fakes (collapses)
  python -m launch.train --config=configs/iwgan_lstm_cnn.py:plain ...   # no feedback / melody / LM term
  python -m launch.train --config=configs/iwgan_lstm_cnn.py:cpu ...   # the small CPU comparison
"""

import ml_collections

from configs.common import parse_variant
from configs.gan_base import (against_collapse, base_gan_config, cpu_comparison, melody_lm,
                              tiny_gan)

VARIANTS = ('tiny', 'cpu', 'original', 'plain')


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variant = parse_variant(arg, VARIANTS)
  c = base_gan_config('lstm', 'cnn', loss='wgan_gp', n_critic=5)
  if 'original' not in variant:   # the log's setting: no step noise, soft fakes
    against_collapse(c)
  if 'cpu' in variant:
    cpu_comparison(c)
  if not {'original', 'plain'} & set(variant):   # the generator as a roll LM too
    melody_lm(c)
  if 'tiny' in variant:
    tiny_gan(c)
  return c
