"""gan_lstm_cnn: the log's first music GAN (11/01, "G:RNN D:CNN") with the standard GAN loss.

LSTM generator (code + time indicator -> LSTM -> dense decision layer -> sigmoid) against the
original two-tower CNN critic, trained with the non-saturating GAN loss: one critic step and one
generator step per train step, Adam 2e-4 with betas (0.5, 0.9) for both, a pool of 2 x batch past
fakes. (The 11/01 Keras model had a one-tower strided CNN; the two-tower critic is the one every
later script used, so the comparison with ``iwgan_lstm_cnn`` changes only the loss.)

  python -m launch.train --config=configs/gan_lstm_cnn.py --workdir=/tmp/gan_lstm_cnn
  python -m launch.train --config=configs/gan_lstm_cnn.py:original ...  # no step noise, soft fakes (collapses)
  python -m launch.train --config=configs/gan_lstm_cnn.py:plain ...   # no feedback / melody / LM term
  python -m launch.train --config=configs/gan_lstm_cnn.py:cpu ...   # the small CPU comparison
"""

import ml_collections

from configs.common import parse_variant
from configs.gan_base import (against_collapse, base_gan_config, cpu_comparison, melody_lm,
                              tiny_gan)

VARIANTS = ('tiny', 'cpu', 'original', 'plain')


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variant = parse_variant(arg, VARIANTS)
  c = base_gan_config('lstm', 'cnn', loss='nonsaturating', learning_rate=2e-4)
  if 'original' not in variant:   # the log's setting: no step noise, soft fakes
    against_collapse(c)
  if 'cpu' in variant:
    cpu_comparison(c)
  if not {'original', 'plain'} & set(variant):   # the generator as a roll LM too
    melody_lm(c)
  if 'tiny' in variant:
    tiny_gan(c)
  return c
