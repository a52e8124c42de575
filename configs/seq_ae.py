"""The sequence autoencoder (log 10/22, 10/26) and its variational form (VRAE / MusicVAE).

An LSTM encoder reads a window of the Bach chorales (moved to C major / A minor, as the original's
key normalisation) into a code; an LSTM decoder with a dense decision layer reconstructs it,
teacher forced in training and free-running (its own outputs fed back) in generation.

  python -m launch.train --config=configs/seq_ae.py --workdir=runs/seq_ae          # events
  python -m launch.train --config=configs/seq_ae.py:aligned --workdir=runs/seq_ae_aligned
  python -m launch.train --config=configs/seq_ae.py:vae --workdir=runs/seq_vae     # variational
  python -m launch.generate --workdir=runs/seq_ae --primer=100 --length=1000      # 10/22
  python -m launch.interpolate --workdir=runs/seq_vae --a=A.mid --b=B.mid --steps=8

Variants: ``events`` (default: event ids, window 200 as the original's SeqAE.py), ``aligned``
(aligned chord steps: the notes starting on each eighth note, multi-hot, window 64 = 8 bars),
``vae`` (KL to a standard normal prior, annealed, free bits), ``original`` (the log's decoder: the
code only sets its initial state, no word dropout; the default also joins the code to every
decoder input and drops a quarter of its inputs), ``tiny``.
"""

import ml_collections

from configs.common import base_config, events_section, parse_variant

VARIANTS = ('events', 'aligned', 'vae', 'original', 'tiny')


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variant = parse_variant(arg, VARIANTS)
  if {'events', 'aligned'} <= variant:
    raise ValueError('give one of the variants events and aligned, not both')
  aligned = 'aligned' in variant
  c = base_config()
  c.task = 'seq_ae'
  c.data.source = 'bach'
  c.data.transpose_to_c = True      # the original normalised every piece to C
  c.data.coding = 'aligned' if aligned else 'events'  # 'events' | 'aligned'
  c.data.events = events_section()
  c.data.roll = ml_collections.ConfigDict(dict(grid='beats', step=0.5, pitches=88))  # aligned
  c.data.window = 64 if aligned else 200  # items encoded into one code
  c.data.batch_size = 64
  c.data.eval_splits = ('valid',)
  c.data.eval_batch_size = 64
  c.data.eval_max_len = 0           # (eval pieces are cut into windows of data.window)

  c.model = ml_collections.ConfigDict()
  c.model.embed_dim = 64            # event embedding (events only)
  c.model.encoder = (256,)          # LSTM encoder widths (the original: one LSTM 256)
  c.model.decoder = (256,)          # LSTM decoder widths
  c.model.code_dim = 128            # the code: a dense layer on the encoder's last (h, c)
  c.model.variational = False       # a Gaussian posterior and a KL term (SeqVAE)
  c.model.code_every_step = True    # also join the code to every decoder input (MusicVAE; the
                                    # log's decoder only started from it: variant original)
  c.model.word_dropout = 0.25       # probability of replacing a decoder input by <drop>
  c.model.init_output_bias = True   # the decision layer's bias starts at the items' marginals

  c.vae = ml_collections.ConfigDict()
  c.vae.kl_weight = 1.0             # weight of the KL term after annealing (variational only)
  c.vae.kl_anneal_steps = 0         # linear ramp of the KL weight from 0 over these steps
  c.vae.free_bits = 0.0             # nats per window the KL is not pushed below

  c.optim.learning_rate = 2e-3      # the original's SeqAE.py: Adam 2e-3, clip 3
  c.optim.grad_clip_norm = 3.0
  c.train.num_steps = 3000
  c.train.log_every = 50
  c.train.eval_every = 500
  c.train.checkpoint_every = 500
  # the best checkpoint: free-running reconstruction (events: accuracy; aligned steps: the F1 of
  # the sounding cells, as near-silent decodes get most steps right)
  c.train.select_by = 'valid/fr_f1' if aligned else 'valid/fr_accuracy'
  c.train.select_mode = 'max'

  c.sample.num = 4
  c.sample.primer = 100 if not aligned else 16  # items encoded before decoding (0: the prior)
  c.sample.length = 1000 if not aligned else 128  # items decoded (the log: encode 100, decode 1000)
  c.sample.mode = 'greedy'          # 'greedy' | 'sample' (at sample.temperature)
  c.sample.max_sustain = 2.0        # events: seconds; notes held longer are cut
  c.sample.duration_steps = 1       # aligned: every decoded note lasts this many grid steps

  if 'original' in variant:
    c.model.code_every_step = False
    c.model.word_dropout = 0.0
  if 'vae' in variant:
    c.model.variational = True
    c.vae.kl_anneal_steps = 1500
    c.vae.free_bits = 8.0
    c.sample.primer = 0             # codes drawn from the prior
  if 'tiny' in variant:
    c.data.max_pieces = 12
    c.data.window = 24
    c.data.batch_size = 8
    c.data.eval_batch_size = 8
    c.model.embed_dim = 8
    c.model.encoder = (16,)
    c.model.decoder = (16,)
    c.model.code_dim = 8
    c.train.num_steps = 12
    c.train.log_every = 4
    c.train.eval_every = 6
    c.train.checkpoint_every = 6
    if 'vae' in variant:
      c.vae.kl_anneal_steps = 6
      c.vae.free_bits = 0.5
    c.sample.num = 2
    c.sample.mode = 'sample'        # a few steps in, greedy decodes are mostly silent
    c.sample.primer = 0 if 'vae' in variant else 8
    c.sample.length = 32
  return c
