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

from dsjax.train.config_base import base_config, parse_variant

VARIANTS = ('jsb', 'nottingham', 'tiny')
HEAD = 'pitch_rnn'


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variant = parse_variant(arg, VARIANTS)
  c = base_config()
  c.task = 'pianoroll_lm'
  c.data.source = 'jsb_chorales'
  c.data.roll = ml_collections.ConfigDict(dict(grid='beats', step=1.0, pitches=88))  # JSB: quarters
  c.data.window = 64                # JSB pieces: median 57 frames
  c.data.batch_size = 16
  c.data.transpose = 3              # +-3 semitones, train only
  c.data.piece_weighting = 'length'
  c.data.eval_splits = ('valid', 'test')
  c.data.eval_batch_size = 32

  c.model = ml_collections.ConfigDict()
  c.model.hidden = (256,)
  c.model.dense = ()
  c.model.dropout_rate = 0.3
  c.model.input_dropout_rate = 0.0
  c.model.head = HEAD
  c.model.head_hidden = 64
  c.model.head_dropout_rate = 0.0
  c.model.pitch_context = 12       # key k sees keys k-12..k+12 of the previous frame, k-12..k-1 of
                                   # its own (biaxial-style, weights shared across pitch); 0 = off
  c.model.init_output_bias = True  # start from each key's training-set frequency

  c.optim.learning_rate = 3e-3
  c.optim.schedule = 'cosine'
  c.optim.final_fraction = 0.05
  c.optim.grad_clip_norm = 1.0
  c.optim.ema_decay = 0.99
  c.train.num_steps = 700          # 0.3-0.5 s/step on a shared 2-core CPU: 4-6 min + evals
  c.train.log_every = 50
  c.train.eval_every = 100
  c.train.checkpoint_every = 500
  c.train.select_by = 'valid/frame_nll'   # report test NLL at the best validation NLL

  c.sample.num = 4
  c.sample.length = 128
  c.sample.primer = 4
  c.sample.temperature = 1.0        # divides each key's conditional logit
  c.sample.mode = 'bernoulli'       # unused by the autoregressive heads
  c.sample.threshold = 0.5
  c.sample.max_sustain = 0
  c.sample.noise = 0.0

  if 'nottingham' in variant:
    c.data.source = 'nottingham'
    c.data.roll.step = 0.5          # the benchmark's Nottingham frames are eighth notes
    c.data.window = 64
    c.data.batch_size = 16
    c.data.eval_batch_size = 8      # whole sequences (up to ~1500 frames): bounds eval memory
    c.model.dropout_rate = 0.3
    c.optim.ema_decay = 0.99
    c.train.num_steps = 1500
    c.train.eval_every = 300
    c.train.checkpoint_every = 300
  if 'tiny' in variant:
    c.data.window = 16
    c.data.batch_size = 4
    c.data.eval_batch_size = 8
    c.data.eval_max_len = 32
    c.model.hidden = (16,)
    c.model.head_hidden = 8
    c.model.pitch_context = 2
    c.train.num_steps = 12
    c.train.log_every = 4
    c.train.eval_every = 6
    c.train.checkpoint_every = 6
    c.sample.num = 2
    c.sample.length = 16
  return c
