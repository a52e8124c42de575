"""Multi-hot LSTM with sigmoid outputs on the polyphonic benchmarks (JSB Chorales, Nottingham).

Reports test frame-level NLL exactly as shared/data/README.md defines it (nats per predicted frame).

  python -m launch.train --config=configs/pianoroll_lstm.py            # JSB Chorales
  python -m launch.train --config=configs/pianoroll_lstm.py:nottingham
  python -m launch.train --config=configs/pianoroll_lstm.py:tiny
"""

import ml_collections

from configs.common import parse_variant
from configs.pianoroll_base import roll_lm_config

VARIANTS = ('jsb', 'nottingham', 'tiny')


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  # every setting, and what the autoregressive heads change: configs/pianoroll_base.py
  return roll_lm_config('sigmoid', parse_variant(arg, VARIANTS))
