"""Multi-voice LSTM (log 10/21) on the music21 Bach chorales, one voice per part (S, A, T, B).

Per-voice bottom LSTMs -> a merging middle LSTM -> per-voice top LSTMs with sigmoid outputs over
88 keys, on sixteenth-note frames (the original's grid). Chorales without exactly four parts are
left out by the ``voice_rolls`` encoding (365 of 410 pieces remain).

  python -m launch.train --config=configs/multivoice_lstm.py
  python -m launch.train --config=configs/multivoice_lstm.py:tiny
"""

import ml_collections

from configs.common import base_config, parse_variant

VARIANTS = ('tiny',)


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variant = parse_variant(arg, VARIANTS)
  c = base_config()
  c.task = 'multivoice_lm'
  c.data.source = 'bach'
  c.data.voices = 4
  c.data.roll = ml_collections.ConfigDict(dict(grid='beats', step=0.25, pitches=88))
  c.data.window = 128
  c.data.batch_size = 16
  c.data.transpose = 0
  c.data.piece_weighting = 'length'
  c.data.eval_splits = ('valid',)
  c.data.eval_batch_size = 16

  c.model = ml_collections.ConfigDict()
  c.model.bottom = (64,)            # the original example: 128 / 256 / 128
  c.model.middle = (128,)
  c.model.top = (64,)
  c.model.dropout_rate = 0.2
  c.model.init_output_bias = True   # start from each voice's key frequencies (without it the top
                                    # LSTMs saturate and the net stays at the marginal)

  c.optim.learning_rate = 3e-3
  c.optim.schedule = 'cosine'
  c.optim.final_fraction = 0.05
  c.optim.grad_clip_norm = 3.0      # the original clipped at 3
  c.optim.ema_decay = 0.99
  c.train.num_steps = 1500
  c.train.log_every = 50
  c.train.eval_every = 500
  c.train.checkpoint_every = 500
  c.train.select_by = 'valid/frame_nll'

  c.sample.num = 4
  c.sample.length = 128
  c.sample.primer = 8
  c.sample.mode = 'bernoulli'       # or 'threshold' (the original: 0.3 then 0.8)
  c.sample.threshold = 0.5
  c.sample.max_sustain = 0          # frames; 0 = no limit
  c.sample.noise = 0.0
  # The log's feedback tricks (dsjax.sampling.FeedbackTricks; 0 / () = off): a random
  # Bernoulli(p) input after a silent frame, fed-back frame x U(a, b), recurrent state zeroed with
  # probability p or scaled by U(a, b) at each step.
  c.sample.silence_random = 0.0
  c.sample.noise_scale = ()
  c.sample.state_reset_prob = 0.0
  c.sample.state_decay = ()

  if 'tiny' in variant:
    c.data.max_pieces = 12
    c.data.window = 16
    c.data.batch_size = 4
    c.data.eval_batch_size = 8
    c.data.eval_max_len = 32
    c.model.bottom = (8,)
    c.model.middle = (16,)
    c.model.top = (8,)
    c.optim.ema_decay = 0.0         # (smaller program: faster to compile in tests)
    c.train.num_steps = 12
    c.train.log_every = 4
    c.train.eval_every = 12
    c.train.checkpoint_every = 6
    c.sample.num = 2
    c.sample.length = 16
    c.sample.primer = 2
  return c
