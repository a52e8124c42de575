"""Multi-hot LSTM with a pitch-RNN output head on the polyphonic benchmarks.

The log's 10/21 idea (the notes of a frame as a sequence of their own): a time-wise LSTM whose state
conditions a GRU that runs across the 88 keys of the next frame from low to high, each key given the
keys already decided (dsjax/models/frame_heads.PitchRNNHead). Exact frame likelihoods, sampled from
the joint distribution of a frame (no threshold). Key k also sees keys k-12..k+12 of the previous
frame and the keys below it already decided in its own frame (model.pitch_context; the biaxial
LSTM's pitch-relative context). Test frame-level NLL as shared/data/README.md defines it (at the
best validation NLL); train-only transposition augmentation (+-3 semitones).

  python -m launch.train --config=configs/pianoroll_pitchrnn.py            # JSB Chorales
  python -m launch.train --config=configs/pianoroll_pitchrnn.py:nottingham
  python -m launch.train --config=configs/pianoroll_pitchrnn.py:tiny
  python -m launch.generate --workdir=DIR --temperature=1.0
"""

import ml_collections

from configs.common import parse_variant
from configs.pianoroll_base import roll_lm_config

VARIANTS = ('jsb', 'nottingham', 'tiny')


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  return roll_lm_config('pitch_rnn', parse_variant(arg, VARIANTS), head_hidden=64)
