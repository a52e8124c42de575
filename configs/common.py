"""What every experiment config shares: the base sections, variant words, dotted overrides.

``configs/NAME.py`` builds on :func:`base_config` and reads its variant words with
:func:`parse_variant`. Imports nothing but ml_collections, so loading a config loads no JAX.
Every key a task reads is declared here or in the experiment's builder, with its default, once:
code reads keys without a default of its own.
"""

from __future__ import annotations

import ml_collections


def base_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.task = ''
  c.seed = 0

  c.data = ml_collections.ConfigDict()
  c.data.source = 'bach'            # corpus name, a folder of MIDI files, or a .npz / .mat
                                    # benchmark file (train/valid/test piano rolls)
  c.data.cache_dir = ''             # '' -> $DSJAX_CACHE_DIR or ~/.cache/dsjax
  c.data.batch_size = 32            # global batch, split over processes and devices
  c.data.window = 256               # training window length (items predicted per row)
  c.data.eval_batch_size = 32
  c.data.eval_max_len = 0           # 0: whole sequences
  c.data.transpose = 0              # +-k semitone augmentation (train only), 0 = off
  c.data.max_pieces = 0             # cap on pieces loaded (0 = all), for quick runs
  c.data.transpose_to_c = False     # move every piece to C major / A minor first (the original's
                                    # key normalisation; MIDI sources, not benchmark rolls)
  # Folder sources (a directory of MIDI files):
  c.data.drop_drums = True          # leave drum tracks out (their note numbers are not pitches)
  c.data.sustain_pedal = False      # extend notes held by the sustain pedal (CC64)
  c.data.programs = ()              # keep only these General MIDI programs, e.g. (0, 1); () = all
  # Benchmark rolls (bundled, or a .npz / .mat file of train/valid/test rolls):
  c.data.frame_beats = 0.0          # quarter notes per frame; 0 = the benchmark's own (JSB 1,
                                    # Nottingham 0.5; a file: data.roll.step). Must equal
                                    # data.roll.step: frames are never resampled
  c.data.piece_weighting = 'length'  # 'length' (pieces drawn by length) | 'uniform'

  c.optim = ml_collections.ConfigDict()
  c.optim.name = 'adam'
  c.optim.learning_rate = 1e-3
  c.optim.schedule = 'constant'
  c.optim.warmup_steps = 0
  c.optim.final_fraction = 0.0
  c.optim.b1 = 0.9
  c.optim.b2 = 0.999
  c.optim.weight_decay = 1e-4        # adamw only (decoupled, times the learning rate)
  c.optim.momentum = 0.0            # sgd only (0 = none)
  c.optim.grad_clip_norm = 1.0
  c.optim.ema_decay = 0.0           # > 0: evaluate and sample with an EMA of the parameters
                                    # (LM tasks; the GAN, SeqGAN and skip-gram tasks refuse it)

  c.train = ml_collections.ConfigDict()
  c.train.num_steps = 10000
  c.train.log_every = 50
  c.train.eval_every = 1000
  c.train.checkpoint_every = 1000
  c.train.keep_checkpoints = 3
  c.train.select_by = ''            # eval metric that picks the best checkpoint ('' = none)
  c.train.select_mode = 'min'
  c.train.log_every_step_to_json = False
  c.train.quiet = False
  c.train.seeds = 0                 # > 0: that many seeds (seed, seed + 1, ...) side by side in
                                    # one vmapped program, each in WORKDIR/seed_S
  c.train.profile_steps = 0         # > 0: a jax.profiler trace of that many steps (from the
                                    # run's second step) into WORKDIR/tensorboard (profile tab)

  c.sample = ml_collections.ConfigDict()
  c.sample.num = 4
  c.sample.length = 512
  c.sample.temperature = 1.0
  c.sample.top_k = 0
  c.sample.top_p = 1.0
  c.sample.matmul_dtype = 'float32'  # event LMs: 'bfloat16' samples ~1.6x faster (bench W3)
  c.sample.primer = 0               # first K items of a real piece as primer (0 = none)
  c.sample.num_audio = 2
  c.sample.audio_rate = 16000
  return c


def parse_variant(arg: str | None, known: tuple[str, ...]) -> set[str]:
  """``'tiny,jsb'`` -> {'tiny', 'jsb'}; unknown words fail with the list of variants."""
  words = {w for w in (arg or '').split(',') if w}
  unknown = words - set(known)
  if unknown:
    raise ValueError(f'unknown config variant(s) {sorted(unknown)}; known: {list(known)}')
  return words


def override(config: ml_collections.ConfigDict, values: dict) -> ml_collections.ConfigDict:
  """Sets dotted keys in place (``{'model.hidden': (8,), 'train.num_steps': 4}``), as
  ``--config.KEY=VALUE`` does on the command line, and returns ``config``. An unknown key raises
  the locked config's error, which names it."""
  for key, value in values.items():
    node = config
    *path, last = key.split('.')
    for part in path:
      node = node[part]
    node[last] = value
  return config


def events_section() -> ml_collections.ConfigDict:
  """``data.events``: the log's event vocabulary (10 ms shifts up to 1 s, log2 velocity bins)."""
  return ml_collections.ConfigDict(dict(shift_ms=10, max_shift_steps=100, velocity_bins='log2'))


def event_lm_model(embed_dim: int, hidden: tuple[int, ...],
                   dropout_rate: float) -> ml_collections.ConfigDict:
  """``model`` of the event LSTM (the event LM task, and SeqGAN's generator)."""
  m = ml_collections.ConfigDict()
  m.embed_dim = embed_dim
  m.hidden = hidden
  m.dropout_rate = dropout_rate
  m.condition = 'none'              # 'none' | 'hist' | 'patch_hist' | 'window_stats' (log 10/16)
  m.condition_tau = 0.0             # > 0: histograms sharpened as softmax(h / tau)
  m.embedding_from = ''             # a skip-gram workdir whose input table starts the embedding
  m.freeze_embedding = False        # keep that table fixed
  return m
