"""Duration refiner (log 11/03 "Refine Net: refine the duration from a quantized song").

From a quantised note sequence (onsets on a sixteenth grid, every note one step) a bidirectional
LSTM over the notes predicts each note's duration, a categorical over 1..16 sixteenths decoded as
its median (``dsjax/tasks/refine.py``, ``dsjax/models/refine.py``). Trains on the music21 Bach
chorales, whose durations are the scores' (any corpus, benchmark file or MIDI folder works:
``--config.data.source=nottingham``). The log's RefineNet "overfitted severely": the run
evaluates the train split and the held-out one side by side (``train/mae`` vs ``valid/mae``).

  python -m launch.train --config=configs/refine_duration.py --workdir=runs/refine_duration
  python -m launch.refine --workdir=runs/refine_duration --midi=IN.mid --out=OUT.mid
  python -m launch.ablate --table=refiners           # both refiners against their baselines

Variants: ``tiny`` (tests and smoke runs). :func:`refine_config` is the builder both refiner
configs share (``configs/refine_velocity.py`` is the velocity one).
"""

import ml_collections

from configs.common import base_config, parse_variant

VARIANTS = ('tiny',)


def refine_config(attribute: str, variant: set[str]) -> ml_collections.ConfigDict:
  """The config of a ``refine`` run predicting ``attribute`` ('duration' | 'velocity')."""
  c = base_config()
  c.task = 'refine'
  c.data.source = 'bach'            # a corpus, a benchmark file, a MIDI folder; or 'synthetic'
                                    # (dsjax/data/synthetic_velocity.py: velocities by a rule)
  c.data.window = 128               # notes per training row (consecutive, in onset order)
  c.data.batch_size = 32
  c.data.eval_splits = ('train', 'valid')   # whole pieces; train and held-out side by side
  c.data.eval_batch_size = 8

  c.refine = ml_collections.ConfigDict()
  c.refine.attribute = attribute    # 'duration' | 'velocity'
  c.refine.grid_step = 0.25         # beats per grid step (a sixteenth): onsets and durations
  c.refine.bar_steps = 16           # grid steps per bar (4/4), for the onset's place in the bar
  c.refine.max_steps = 16           # longest duration predicted (steps; longer ones are cut)
  c.refine.train_eval_pieces = 64   # pieces of the train split evaluated (0 = all)
  c.refine.huber_delta = 8.0        # velocity: the Huber loss is quadratic within this many units
  c.refine.synthetic_pieces = 240   # data.source='synthetic': how many pieces (80/10/10 split)
  c.refine.synthetic_seed = 0       # ... made from this seed (not the model's config.seed)
  c.refine.synthetic_noise = 2.0    # ... velocity noise (standard deviation, velocity units)

  c.model = ml_collections.ConfigDict()
  c.model.hidden = (128,)           # bidirectional LSTM widths (each direction)
  c.model.pitch_embed = 16          # pitch and bar-position embedding size
  c.model.dropout_rate = 0.3        # before and after each recurrent layer (the log overfitted)

  c.optim.name = 'adamw'
  c.optim.learning_rate = 2e-3
  c.optim.schedule = 'cosine'
  c.optim.final_fraction = 0.05
  c.optim.weight_decay = 1e-4
  c.train.num_steps = 1500
  c.train.log_every = 50
  c.train.eval_every = 250
  c.train.checkpoint_every = 250
  c.train.select_by = 'valid/mae'   # the best checkpoint (launch.refine --best)
  c.sample.num = 0                  # a refiner makes no music of its own

  if 'tiny' in variant:
    c.data.max_pieces = 12
    c.data.window = 32
    c.data.batch_size = 4
    c.data.eval_batch_size = 4
    c.data.eval_max_len = 64        # eval in chunks: one shape to compile
    c.refine.train_eval_pieces = 4
    c.refine.synthetic_pieces = 24
    c.model.hidden = (16,)
    c.model.pitch_embed = 4
    c.train.num_steps = 8
    c.train.log_every = 4
    c.train.eval_every = 4
    c.train.checkpoint_every = 4
  return c


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  return refine_config('duration', parse_variant(arg, VARIANTS))
