"""Multi-hot LSTM with sigmoid outputs on the polyphonic benchmarks (JSB Chorales, Nottingham).

Reports test frame-level NLL exactly as shared/data/README.md defines it (nats per predicted frame).

  python -m launch.train --config=configs/pianoroll_lstm.py            # JSB Chorales
  python -m launch.train --config=configs/pianoroll_lstm.py:nottingham
  python -m launch.train --config=configs/pianoroll_lstm.py:tiny
"""

import ml_collections

from dsjax.train.config_base import base_config, parse_variant

VARIANTS = ('jsb', 'nottingham', 'tiny')


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variant = parse_variant(arg, VARIANTS)
  c = base_config()
  c.task = 'pianoroll_lm'
  c.data.source = 'jsb_chorales'
  c.data.roll = ml_collections.ConfigDict(dict(grid='beats', step=1.0, pitches=88))  # JSB: quarters
  c.data.window = 128
  c.data.batch_size = 16
  c.data.transpose = 0
  c.data.piece_weighting = 'length'
  c.data.eval_splits = ('valid', 'test')
  c.data.eval_batch_size = 32

  c.model = ml_collections.ConfigDict()
  c.model.hidden = (256,)
  c.model.dense = ()
  c.model.dropout_rate = 0.3
  c.model.input_dropout_rate = 0.2  # drops keys of the input frames: stops JSB from overfitting
  c.model.head = 'sigmoid'          # factorised; see pianoroll_nade.py / pianoroll_pitchrnn.py
  c.model.init_output_bias = False  # True: start the output bias at each key's log-odds
  c.model.pitch_context = 0         # >0: each key's logit also sees keys k-w..k+w of the input frame

  c.optim.learning_rate = 3e-3
  c.optim.schedule = 'cosine'
  c.optim.final_fraction = 0.05
  c.optim.grad_clip_norm = 1.0
  c.optim.ema_decay = 0.99          # evaluate and sample with an EMA of the weights
  c.train.num_steps = 2000
  c.train.log_every = 50
  c.train.eval_every = 250
  c.train.checkpoint_every = 500
  c.train.select_by = 'valid/frame_nll'   # report test NLL at the best validation NLL

  c.sample.num = 4
  c.sample.length = 128
  c.sample.primer = 4
  c.sample.mode = 'bernoulli'       # or 'threshold'
  c.sample.threshold = 0.5
  c.sample.max_sustain = 0          # frames; 0 = no limit
  c.sample.noise = 0.0              # flip probability on the fed-back frame

  if 'nottingham' in variant:
    c.data.source = 'nottingham'
    c.data.roll.step = 0.5          # the benchmark's Nottingham frames are eighth notes
    c.data.window = 256
    c.data.batch_size = 32
    c.model.dropout_rate = 0.4
    c.model.input_dropout_rate = 0.1
    c.optim.learning_rate = 3e-3
    c.optim.ema_decay = 0.995
    c.train.num_steps = 4000
    c.train.eval_every = 500
    c.train.checkpoint_every = 1000
  if 'tiny' in variant:
    c.data.window = 16
    c.data.batch_size = 4
    c.data.eval_batch_size = 8
    c.data.eval_max_len = 32
    c.model.hidden = (16,)
    c.train.num_steps = 12
    c.train.log_every = 4
    c.train.eval_every = 6
    c.train.checkpoint_every = 6
    c.sample.num = 2
    c.sample.length = 16
  return c
