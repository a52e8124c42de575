"""Multi-hot LSTM with sigmoid outputs on the polyphonic benchmarks (JSB Chorales, Nottingham).

Reports test frame-level NLL exactly as shared/data/README.md defines it (nats per predicted frame).

  python -m launch.train --config=configs/pianoroll_lstm.py            # JSB Chorales
  python -m launch.train --config=configs/pianoroll_lstm.py:nottingham
  python -m launch.train --config=configs/pianoroll_lstm.py:tiny
"""

import ml_collections

from dsjax.tasks.pianoroll_lm import roll_lm_config
from dsjax.train.config_base import parse_variant

VARIANTS = ('jsb', 'nottingham', 'tiny')


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  # every setting, and what the autoregressive heads change: dsjax.tasks.pianoroll_lm.roll_lm_config
  return roll_lm_config('sigmoid', parse_variant(arg, VARIANTS))
