"""The log's baseline (09/28): an event LSTM language model over the Bach chorales.

Sizes as the original (deepsymphony_original.md §3): embedding -> 3 x LSTM 512 -> softmax over the
event vocabulary (note-on x128, note-off x128, 10 ms shifts up to 1 s, velocity bins).

  python -m launch.train --config=configs/baseline_lstm.py
  python -m launch.train --config=configs/baseline_lstm.py:tiny       # seconds on CPU
"""

import ml_collections

from configs.common import base_config, event_lm_model, events_section, parse_variant

VARIANTS = ('tiny', 'small')


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variant = parse_variant(arg, VARIANTS)
  c = base_config()
  c.task = 'event_lm'
  c.data.source = 'bach'
  c.data.window = 256
  c.data.batch_size = 32
  c.data.transpose = 0
  c.data.piece_weighting = 'length'
  c.data.eval_splits = ('valid',)
  c.data.eval_batch_size = 16
  c.data.eval_max_len = 2048
  c.data.events = events_section()

  c.model = event_lm_model(embed_dim=256, hidden=(512, 512, 512), dropout_rate=0.1)

  c.optim.learning_rate = 1e-3
  c.optim.schedule = 'cosine'
  c.optim.warmup_steps = 200
  c.optim.final_fraction = 0.05
  c.train.num_steps = 20000
  c.train.eval_every = 2000
  c.train.checkpoint_every = 1000

  c.sample.length = 1024
  c.sample.primer = 0
  c.sample.max_sustain = 2.0        # seconds; close notes held longer (the log's max_sustain)

  if 'small' in variant:
    c.model.hidden = (256, 256)
    c.model.embed_dim = 128
    c.train.num_steps = 3000
    c.train.eval_every = 1000
  if 'tiny' in variant:
    c.data.max_pieces = 12
    c.data.window = 32
    c.data.batch_size = 8
    c.data.eval_batch_size = 8
    c.data.eval_max_len = 128
    c.model.embed_dim = 16
    c.model.hidden = (32, 32)
    c.optim.warmup_steps = 0
    c.train.num_steps = 20
    c.train.log_every = 5
    c.train.eval_every = 10
    c.train.checkpoint_every = 10
    c.sample.num = 2
    c.sample.length = 64
  return c
