"""Velocity refiner (log 11/17 "Velocity Finetune: finetune a generated song").

From notes without dynamics (onsets, pitches, durations) a bidirectional LSTM over the notes
predicts each note's velocity (a regression; ``dsjax/tasks/refine.py``). No bundled corpus carries
performed velocities, so by default it trains on synthetic pieces whose velocities follow a known
rule of metre, pitch and phrase position (``dsjax/data/synthetic_velocity.py``); give it a folder
of performed MIDI files to learn real dynamics (``--config.data.source=/path/to/midi``).

  python -m launch.train --config=configs/refine_velocity.py --workdir=runs/refine_velocity
  python -m launch.train --config=configs/refine_velocity.py --workdir=runs/refine_vel_mine \
      --config.data.source=/path/to/performed_midi
  python -m launch.refine --workdir=runs/refine_velocity --midi=IN.mid --out=OUT.mid

Variants: ``tiny`` (tests and smoke runs). Every setting is :func:`configs.refine_duration.
refine_config`'s.
"""

import ml_collections

from configs.common import parse_variant
from configs.refine_duration import VARIANTS, refine_config


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c = refine_config('velocity', parse_variant(arg, VARIANTS))
  c.data.source = 'synthetic'
  c.data.max_pieces = 0             # a folder: cap on files read (0 = all)
  c.model.dropout_rate = 0.1
  return c
