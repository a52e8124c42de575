"""Apply a trained refiner (log 11/03 durations, 11/17 velocities) to a MIDI file.

  python -m launch.refine --workdir=DIR --midi=IN.mid --out=OUT.mid [--best] [--bars=16]

``DIR`` is a run of ``configs/refine_duration.py`` or ``configs/refine_velocity.py``. Every
non-drum note of ``IN.mid`` gets its duration (a note then ends that many grid steps after its
own onset) or its velocity predicted; nothing else of the file changes (its tempo map, tracks,
controllers, every onset tick and pitch). Writes ``OUT.mid`` and ``OUT.png``: the piano roll of
the input above that of the refined piece (its first ``--bars`` bars; velocities drawn as shades,
darker = louder).
"""

from __future__ import annotations

import os
import warnings

from absl import app, flags, logging

from dsjax import runtime
from launch import cli

warnings.filterwarnings('ignore', message='.*load_module.*', category=DeprecationWarning)

_WORKDIR = flags.DEFINE_string('workdir', None, 'Run folder of a refiner (launch.train with '
                               'configs/refine_duration.py or configs/refine_velocity.py).')
_MIDI = flags.DEFINE_string('midi', None, 'MIDI file to refine.')
_OUT = flags.DEFINE_string('out', None, 'Refined MIDI file to write (.mid); the picture goes '
                           'beside it (.png).')
_BEST = flags.DEFINE_bool('best', False, 'Use the best checkpoint (train.select_by) instead of '
                          'the latest.')
_BARS = flags.DEFINE_integer('bars', 16, 'Bars drawn in the picture (0 = the whole piece).')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)
  if not os.path.isfile(_MIDI.value):
    raise cli.UsageError(f'--midi={_MIDI.value}: no such file')
  if os.path.splitext(_OUT.value)[1].lower() not in ('.mid', '.midi'):
    raise cli.UsageError(f'--out={_OUT.value}: must name a .mid or .midi file')
  cli.positive_int('bars', _BARS.value, allow_zero=True)
  if not os.path.isdir(_WORKDIR.value):
    raise cli.UsageError(f'--workdir={_WORKDIR.value}: no such folder')
  from dsjax import viz
  from dsjax.data import midi_io
  from dsjax.tasks.refine import PLURAL, load_refiner, piece_roll

  try:
    midi_io.load_midi(_MIDI.value)                 # a bad file: one line, before any work
  except midi_io.MidiLoadError as e:
    raise cli.UsageError(f'--midi={_MIDI.value}: {e}') from None
  refiner = load_refiner(_WORKDIR.value, best=_BEST.value)
  os.makedirs(os.path.dirname(os.path.abspath(_OUT.value)), exist_ok=True)
  piece, refined = refiner.refine_midi(_MIDI.value, _OUT.value)
  shades = refiner.attribute == 'velocity'
  rolls = [piece_roll(p, refiner.grid_step, refiner.bar_steps, shades, _BARS.value)
           for p in (piece, refined)]
  picture = os.path.splitext(_OUT.value)[0] + '.png'
  name = os.path.basename(_MIDI.value)
  viz.save_pianoroll_figure(
      picture, rolls, sample_titles=[f'input: {name}', f'refined {PLURAL[refiner.attribute]}'],
      frames_per_beat=1.0 / refiner.grid_step,
      beats_per_bar=max(1, round(refiner.bar_steps * refiner.grid_step)),
      title=f'{refiner.attribute} refiner {_WORKDIR.value} (step {refiner.step})')
  print(f'{_OUT.value}: {len(refined.notes)} notes, {PLURAL[refiner.attribute]} refined '
        f'(step {refiner.step}); picture (input above refined): {picture}', flush=True)


if __name__ == '__main__':
  runtime.reexec_with_huge_pages()  # before any XLA work: see dsjax/runtime.py
  cli.run(main, required=['workdir', 'midi', 'out'])
