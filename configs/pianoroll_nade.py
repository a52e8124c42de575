"""RNN-NADE: multi-hot LSTM with a NADE output head on the polyphonic benchmarks.

The log's 10/21 idea (the notes of a frame as a sequence of their own) as Boulanger-Lewandowski
et al. (2012) did it: a time-wise LSTM whose state gives the biases of a NADE over the 88 keys of
the next frame, each key given the keys below it (dsjax/models/frame_heads.NADEHead). Exact frame
likelihoods, sampled from the joint distribution of a frame (no threshold). Key k's visible bias
also sees keys k-12..k+12 of the previous frame and keys k-12..k-1 of its own frame
(model.pitch_context: linear terms shared across pitch, the biaxial LSTM's pitch-relative context).
Test frame-level NLL as shared/data/README.md defines it (at the best validation NLL); train-only
transposition augmentation (+-3 semitones).

  python -m launch.train --config=configs/pianoroll_nade.py            # JSB Chorales
  python -m launch.train --config=configs/pianoroll_nade.py:nottingham
  python -m launch.train --config=configs/pianoroll_nade.py:tiny
  python -m launch.generate --workdir=DIR --temperature=1.0
"""

import ml_collections

from configs.common import parse_variant
from configs.pianoroll_base import roll_lm_config

VARIANTS = ('jsb', 'nottingham', 'tiny')


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  return roll_lm_config('nade', parse_variant(arg, VARIANTS), head_hidden=128)
