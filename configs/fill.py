"""Finish-me-with-beats (log 04/26/2018, the "000" model): fill a gap of a melody with pitches
that follow a given rhythm, from the preceding melody.

Data: the Essen folk songs of the music21 corpus (monophonic melodies in ABC, their own rhythm:
real note starts, rests and held notes), on an eighth-note grid. Every training row is a random
gap of ``data.gap_beats`` beats (a random length in that range) at a random place of a piece, with
the ``data.context_beats`` beats before it (silence before the piece's start). See
``dsjax/tasks/fill.py``.

  python -m launch.train --config=configs/fill.py --workdir=runs/fill
  python -m launch.train --config=configs/fill.py:lm --workdir=runs/fill_lm   # baseline LM
  python -m launch.fill --workdir=runs/fill --midi=IN.mid --start=8 --end=16 --out=OUT.mid
  python -m launch.ablate --table=fill --seeds=2                              # vs baselines

Variants: ``lm`` (the unconditioned baseline: an LSTM language model over the same melody
tokens, which continues the context without the gap's rhythm), ``tiny`` (tests); combinable.
"""

import ml_collections

from configs.common import base_config, parse_variant

VARIANTS = ('tiny', 'lm')


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variant = parse_variant(arg, VARIANTS)
  c = base_config()
  c.task = 'fill'
  c.data.source = 'essen'           # music21's Essen folk songs: one melody line each
  c.data.max_pieces = 2000          # the first 2000 tunes (of 8514; ~1.5 min to parse once)
  c.data.roll = ml_collections.ConfigDict(dict(grid='beats', step=0.5, pitches=88))  # eighths
  c.data.window = 0                 # unused: a row is context_beats + gap_beats[1] long
  c.data.context_beats = 16.0       # the preceding context the model reads (beats)
  c.data.gap_beats = (2.0, 8.0)     # a training gap's length, uniform in this range (beats)
  c.data.batch_size = 64
  c.data.eval_batch_size = 64       # eval gaps per batch (a split's gaps are padded to a multiple)
  c.data.eval_splits = ('valid',)   # held-out pieces
  c.data.eval_gaps_per_piece = 2    # fixed random gaps of each held-out piece (seeded apart from
                                    # config.seed: every run is evaluated on the same gaps)

  c.model = ml_collections.ConfigDict()
  c.model.arch = 'fill'             # 'fill': context + structure => fill (04/26/18);
                                    # 'lm': a melody LM continuing the context (the baseline)
  c.model.embed_dim = 64            # token embedding
  c.model.rhythm_dim = 16           # rhythm-id embedding (silence, attack, sustain, pad)
  c.model.context_hidden = (256,)   # context encoder LSTM widths
  c.model.context_dim = 256         # the context vector (the log's 256)
  c.model.structure_hidden = 128    # the structure encoder's bidirectional LSTM, each direction
  c.model.structure_dim = 128       # the structure vector
  c.model.decoder_hidden = (256,)   # decoder LSTM widths (the LM's stack with arch 'lm')

  c.optim.learning_rate = 2e-3
  c.train.num_steps = 2000
  c.train.log_every = 100
  c.train.eval_every = 500
  c.train.checkpoint_every = 500
  c.train.select_by = 'valid/nll'   # the best checkpoint (launch.fill --best)
  c.train.select_mode = 'min'

  c.sample.num = 0                  # no free samples: launch.fill fills a user's span
  c.sample.temperature = 0.0        # the eval fills and launch.fill: 0 = greedy pitch choice

  if 'lm' in variant:
    c.model.arch = 'lm'
  if 'tiny' in variant:
    c.data.max_pieces = 40          # 36 train, 1 valid piece
    c.data.context_beats = 4.0
    c.data.gap_beats = (1.0, 3.0)
    c.data.batch_size = 4
    c.data.eval_batch_size = 4
    c.data.eval_gaps_per_piece = 2
    c.model.embed_dim = 8
    c.model.rhythm_dim = 4
    c.model.context_hidden = (16,)
    c.model.context_dim = 16
    c.model.structure_hidden = 8
    c.model.structure_dim = 8
    c.model.decoder_hidden = (16,)
    c.train.num_steps = 8
    c.train.log_every = 4
    c.train.eval_every = 4
    c.train.checkpoint_every = 4
  return c
