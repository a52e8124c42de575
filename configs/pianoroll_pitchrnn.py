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
  python -m launch.train --config=configs/pianoroll_pitchrnn.py:reference --workdir=runs/reference
  python -m launch.generate --workdir=DIR --temperature=1.0

``reference``: the density model that scores GAN samples (``gan.reference_model``,
``dsjax/eval/reference.py``): the ``nottingham`` setting (the GAN configs' bundled Nottingham rolls,
eighth-note frames, 88 keys, 64-frame windows) trained for 400 steps instead of 1500, evaluated
halfway and at the end: about 4 minutes on 2 CPU cores, test NLL 2.44 (valid 2.46).
"""

import ml_collections

from configs.common import parse_variant
from configs.pianoroll_base import roll_lm_config

VARIANTS = ('jsb', 'nottingham', 'tiny', 'reference')


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variant = parse_variant(arg, VARIANTS)
  if 'reference' in variant:
    variant |= {'nottingham'}
  c = roll_lm_config('pitch_rnn', variant, head_hidden=64)
  if 'reference' in variant and 'tiny' not in variant:
    c.train.num_steps = 400
    c.train.eval_every = 200
    c.train.checkpoint_every = 200
    c.sample.length = 64
  return c
