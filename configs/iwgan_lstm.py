"""iwgan_lstm: LSTM generator + LSTM critic trained with WGAN-GP (the design card's headline).

The log (11/11-11/12) wanted an RNN critic with the Improved-WGAN loss and stopped at TensorFlow's
"Second-order gradient for while loops not supported". Here the gradient penalty is taken through
the critic's ``lax.scan`` LSTM (second order), on the bundled Nottingham rolls (eighth notes, 88
keys, 64-frame windows). The ``full`` variant's shapes follow the W2 benchmark: code 64 + time
indicator -> LSTM 256 -> linear -> sigmoid; critic LSTM 256 -> linear on the last state; Adam
1e-4, betas (0.5, 0.9); 5 critic steps (each on its own 32 real windows) per generator step.

The default is sized for a laptop: the widths, batch and 800 steps of the ``cpu`` comparison
(:func:`configs.gan_base.cpu_comparison`), about 5 minutes on 2 CPU cores. Its generator reads
the frame it output before, draws one melody note per frame next to the accompaniment's keys, and
is trained on the critic's score plus 10 x the teacher-forced NLL of real windows
(:func:`configs.gan_base.melody_lm`): without that (``plain``) the samples had held chords and
scattered notes with no melody line (README: "A melody line"). ``full`` is the size above, for an
accelerator (20,000 steps).

  python -m launch.train --config=configs/iwgan_lstm.py --workdir=runs/iwgan      # laptop size
  python -m launch.train --config=configs/iwgan_lstm.py:full ...     # W2 shapes, 20k steps (GPU)
  python -m launch.train --config=configs/iwgan_lstm.py:plain ...    # a pure GAN generator
  python -m launch.train --config=configs/iwgan_lstm.py:original ...  # no step noise, soft fakes (collapses)
  python -m launch.train --config=configs/iwgan_lstm.py:bilstm ...   # bidirectional critic
  python -m launch.train --config=configs/iwgan_lstm.py:tanh ...     # {-1, +1} rolls, tanh output
  python -m launch.generate --workdir=runs/iwgan --schedule=linspace --threshold=0.4
"""

import ml_collections

from configs.common import parse_variant
from configs.gan_base import (against_collapse, base_gan_config, cpu_comparison, melody_lm,
                              set_threshold, tiny_gan)

VARIANTS = ('tiny', 'cpu', 'full', 'bilstm', 'mean', 'tanh', 'original', 'plain')


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variant = parse_variant(arg, VARIANTS)
  c = base_gan_config('lstm', 'lstm', loss='wgan_gp', n_critic=5)
  if 'bilstm' in variant:
    c.model.critic.kind = 'bilstm'
    c.model.critic.readout = 'mean'
  if 'mean' in variant:
    c.model.critic.readout = 'mean'
  if 'tanh' in variant:
    c.model.generator.output = 'tanh'
    set_threshold(c, 0.0)
  if 'original' not in variant:   # the log's setting: no step noise, soft fakes
    against_collapse(c)
  if 'cpu' in variant and 'full' in variant:
    raise ValueError("iwgan_lstm: give one of the variants 'cpu' (the default size) and 'full'")
  if 'full' not in variant:   # 'cpu' names the default size (the gans table's rows)
    cpu_comparison(c)
  if not {'original', 'plain', 'tanh'} & set(variant):   # the generator as a roll LM too
    melody_lm(c)
  if 'tiny' in variant:
    tiny_gan(c)
  return c
