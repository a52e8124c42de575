"""Skip-gram event embedding (log 10/09) on the default corpus's event encoding.

Same corpus and event vocabulary as ``configs/baseline_lstm.py`` (Bach chorales, 10 ms shifts up
to 1 s, log2 velocity bins; 363 ids), and ``embed_dim`` equal to the baseline's embedding width, so
that the event LM can load the trained input table ``params['embed']['embedding']``.

  python -m launch.train --config=configs/skipgram.py --workdir=/tmp/skipgram
  python -m launch.nearest --workdir=/tmp/skipgram
  python -m launch.train --config=configs/skipgram.py:tiny --workdir=/tmp/skipgram_tiny
"""

import ml_collections

from configs.common import base_config, events_section, parse_variant

VARIANTS = ('tiny',)


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variant = parse_variant(arg, VARIANTS)
  c = base_config()
  c.task = 'skipgram'
  c.data.source = 'bach'
  c.data.window = 128               # events per training window (centers and contexts)
  c.data.batch_size = 32
  c.data.transpose = 0
  c.data.piece_weighting = 'length'
  c.data.eval_splits = ('valid',)
  c.data.eval_batch_size = 16
  c.data.eval_max_len = 512
  c.data.events = events_section()

  c.model = ml_collections.ConfigDict()
  c.model.embed_dim = 256           # = configs/baseline_lstm.py model.embed_dim
  c.model.window = 8                # contexts at offsets 1..window on each side
  c.model.dynamic_window = True     # word2vec's per-center radius ~ U{1..window}
  c.model.num_negatives = 5
  c.model.noise_power = 0.75        # noise distribution: unigram ** 0.75
  c.model.tied = False              # True: one table for centers and contexts (the 2017 code)

  c.optim.learning_rate = 3e-3
  c.optim.schedule = 'cosine'
  c.optim.warmup_steps = 100
  c.optim.final_fraction = 0.05
  c.optim.grad_clip_norm = 0.0
  c.train.num_steps = 3000
  c.train.log_every = 100
  c.train.eval_every = 1000
  c.train.checkpoint_every = 1000

  c.sample.num = 0                  # the task generates no music

  if 'tiny' in variant:
    c.data.max_pieces = 12
    c.data.window = 32
    c.data.batch_size = 8
    c.data.eval_batch_size = 8
    c.data.eval_max_len = 64
    c.model.embed_dim = 16
    c.model.window = 3
    c.optim.warmup_steps = 0
    c.train.num_steps = 20
    c.train.log_every = 5
    c.train.eval_every = 10
    c.train.checkpoint_every = 10
  return c
