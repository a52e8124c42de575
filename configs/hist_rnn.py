"""Histogram-conditional event LSTMs (log 10/16): Hist-RNN, Patch-Hist RNN, per-window statistics.

The baseline event LSTM of ``configs/baseline_lstm.py`` with a condition joined to every input step
(``dsjax/tasks/event_lm.py``):

  hist          Hist-RNN: the pitch-class histogram of the whole piece (the default)
  patch_hist    Patch-Hist RNN: the histogram of the training window
  window_stats  mean-pitch bin, density bin and histogram over 50 events centred on each target
  tau05, tau01  sharpen the histogram as softmax(h / tau), tau = 0.05 or 0.01
  small, tiny   as in baseline_lstm

  python -m launch.train --config=configs/hist_rnn.py:patch_hist,tau05
  python -m launch.generate --workdir=runs/hist_rnn --condition_key='D minor'
"""

import ml_collections

from configs import baseline_lstm
from configs.common import parse_variant

VARIANTS = ('hist', 'patch_hist', 'window_stats', 'tau05', 'tau01', 'small', 'tiny')


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variant = parse_variant(arg, VARIANTS)
  kinds = variant & {'hist', 'patch_hist', 'window_stats'}
  if len(kinds) > 1:
    raise ValueError(f'pick one condition of hist, patch_hist, window_stats; got {sorted(kinds)}')
  if {'tau05', 'tau01'} <= variant:
    raise ValueError('pick one of tau05, tau01')
  c = baseline_lstm.get_config(','.join(sorted(variant & {'small', 'tiny'})))
  c.model.condition = kinds.pop() if kinds else 'hist'
  c.model.condition_tau = 0.05 if 'tau05' in variant else 0.01 if 'tau01' in variant else 0.0
  c.optim.learning_rate = 8e-4 if 'tiny' not in variant else c.optim.learning_rate  # original §3.4
  return c
