"""Chord sequence reconstruction with octave-invariant 12-key filters (log 04/04/2018).

JSB chorale frames (one a quarter note, 88 keys) through 32 filters of 12 keys scanning the
keyboard (stride 1, the same weights everywhere), an LSTM over time and a linear decoder with a
tanh output regulariser, trained to reconstruct the frames (``dsjax/tasks/chord_reconstruction.py``).
The filter figure (12 keys x 32, each column named by its nearest chord) is written at every
evaluation to ``WORKDIR/samples/step_N/filters.png`` and TensorBoard.

  python -m launch.train --config=configs/chord_reconstruction.py:softmax --workdir=runs/chords_sm
  python -m launch.train --config=configs/chord_reconstruction.py:sigmoid --workdir=runs/chords_sg
  python -m launch.train --config=configs/chord_reconstruction.py:softmax,tiny --workdir=/tmp/c

Variants: ``softmax`` (default: softmax over the filters at each place, the log's second model),
``sigmoid`` (each filter on its own, the log's first), ``tiny`` (tests); ``tiny`` combines with
either (``sigmoid,tiny``).
"""

import ml_collections

from configs.common import base_config, parse_variant

VARIANTS = ('softmax', 'sigmoid', 'tiny')


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variant = parse_variant(arg, VARIANTS)
  if {'softmax', 'sigmoid'} <= variant:
    raise ValueError("config variants 'softmax' and 'sigmoid' exclude each other")
  c = base_config()
  c.task = 'chord_reconstruction'
  c.data.source = 'jsb_chorales'    # the bundled benchmark (pieces in their own keys)
  c.data.encoding = 'pianoroll'     # 'pianoroll': sounding frames | 'aligned': onsets per step
  c.data.roll = ml_collections.ConfigDict(dict(grid='beats', step=1.0, pitches=88))  # quarters
  c.data.window = 32                # frames per training row
  c.data.batch_size = 32
  c.data.transpose = 0              # +-k semitones, train only (the filters are already
                                    # transposition-equivariant; the LSTM is not)
  c.data.eval_splits = ('valid', 'test')
  c.data.eval_batch_size = 32

  c.model = ml_collections.ConfigDict()
  c.model.filters = 32              # 1-D kernels of 12 keys, stride 1
  c.model.activation = 'softmax'    # 'softmax' over the filters | 'sigmoid' | 'tanh'
  # What follows the filters (the log: a strong decoder lets the filters stay lazy):
  c.model.hidden = (128,)           # LSTM widths over time; () = each frame from its own map
  c.model.decoder_hidden = ()       # dense ReLU layers before the linear output (log: none)
  c.model.dropout_rate = 0.0        # on the flattened filter map, in training
  c.model.output = 'tanh'           # 'tanh': logits = output_scale * tanh(W h + b) | 'linear'
  c.model.output_scale = 8.0        # the tanh regulariser's bound on each key's logit

  c.optim.learning_rate = 3e-3
  c.optim.grad_clip_norm = 1.0
  c.train.num_steps = 1500
  c.train.log_every = 100
  c.train.eval_every = 500
  c.train.checkpoint_every = 500
  c.train.select_by = 'valid/frame_nll'

  c.sample.num = 4
  c.sample.length = 32              # frames of each reconstructed window
  c.sample.split = 'valid'          # where the windows come from ('train' or an eval split)
  c.sample.chop = False             # the log's random chopping of rhythms: every chord of the
  c.sample.chop_min = 1             # window held for a new length uniform in [chop_min,
  c.sample.chop_max = 4             # chop_max] frames
  c.sample.mode = 'threshold'       # 'threshold' (greedy) | 'bernoulli'
  c.sample.threshold = 0.5

  if 'sigmoid' in variant:
    c.model.activation = 'sigmoid'
    # measured on JSB: at 3e-3 the sigmoid map (3168 entries near 1/2 into the LSTM) stalled at
    # 9.5 nats/frame held-out for 1500 steps (the marginal is 11.0); 3e-4 trains (2.8 at step 300)
    c.optim.learning_rate = 3e-4
  if 'tiny' in variant:
    c.data.max_pieces = 12
    c.data.window = 16
    c.data.batch_size = 4
    c.data.eval_batch_size = 8
    c.data.eval_max_len = 32
    c.model.filters = 8
    c.model.hidden = (16,)
    c.train.num_steps = 12
    c.train.log_every = 4
    c.train.eval_every = 6
    c.train.checkpoint_every = 6
    c.sample.num = 2
    c.sample.length = 16
    c.sample.chop = True
    c.sample.mode = 'bernoulli'     # 12 steps reconstruct (greedily) nothing yet: draw notes
  return c
