"""Finish me with beats: fill a span of a melody, keeping its rhythm (log 04/26/2018).

  python -m launch.fill --workdir=DIR --midi=IN.mid --start=BEAT --end=BEAT --out=OUT.mid
      [--rhythm=FROM.mid] [--temperature=T] [--seed=S] [--best]

Reads IN.mid's melody (its top line, on the run's grid: ``configs/fill.py`` trains on eighth
notes), gives the trained fill model the ``data.context_beats`` beats before ``--start`` and the
rhythm (where notes start, are held, and where it is silent) of beats ``[start, end)`` of IN.mid,
or of FROM.mid with ``--rhythm``, and writes:

* ``OUT.mid``: IN.mid's melody with the span filled (the melody alone: other voices are left out);
* ``OUT.png``: the filled span above the original (and above FROM.mid's span with ``--rhythm``),
  with the context before it; the span is shaded.

Greedy pitches by default; ``--temperature`` > 0 draws them (``--seed``). For runs of
``configs/fill.py`` (the ``lm`` variant, the baseline, continues the context on the rhythm).
"""

from __future__ import annotations

import os
import warnings

from absl import app, flags, logging

from dsjax import runtime
from launch import cli

warnings.filterwarnings('ignore', message='.*load_module.*', category=DeprecationWarning)

_WORKDIR = flags.DEFINE_string('workdir', None, 'Run folder of a fill model (configs/fill.py).')
_MIDI = flags.DEFINE_string('midi', None, 'MIDI file whose span is filled.')
_START = flags.DEFINE_float('start', None, 'First beat of the span (quarter notes from 0).')
_END = flags.DEFINE_float('end', None, 'Beat where the span ends (not included).')
_RHYTHM = flags.DEFINE_string('rhythm', None, 'MIDI file whose span gives the rhythm '
                              '(default: the span of --midi itself).')
_TEMPERATURE = flags.DEFINE_float('temperature', None, 'Pitch temperature (0 = greedy; default '
                                  'the run\'s sample.temperature).')
_SEED = flags.DEFINE_integer('seed', 0, 'Seed of --temperature > 0.')
_BEST = flags.DEFINE_bool('best', False, 'Use the best checkpoint instead of the latest.')
_OUT = flags.DEFINE_string('out', None, 'Output MIDI file (the picture goes beside it, .png).')
CONTEXT_SHOWN_BEATS = 8.0   # beats of context drawn before the span


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)
  cli.finite_float('start', _START.value, low=0)
  cli.finite_float('end', _END.value, low=0)
  cli.finite_float('temperature', _TEMPERATURE.value, low=0)
  if _START.value >= _END.value:
    raise cli.UsageError(f'--start={_START.value:g} --end={_END.value:g}: start must come before '
                         'end')
  for name, path in (('midi', _MIDI.value), ('rhythm', _RHYTHM.value)):
    if path is not None and not os.path.isfile(path):
      raise cli.UsageError(f'--{name}={path}: no such file')
  if not _OUT.value.lower().endswith(('.mid', '.midi')):
    raise cli.UsageError(f'--out={_OUT.value}: expected a .mid file')
  if not os.path.isdir(_WORKDIR.value):
    raise cli.UsageError(f'--workdir={_WORKDIR.value}: no such folder')
  import jax
  import numpy as np
  from dsjax import viz
  from dsjax.data import midi_io
  from dsjax.tasks import fill as fill_task
  from dsjax.train.loop import restore_for_inference

  config, trainer, state, step = restore_for_inference(_WORKDIR.value, best=_BEST.value)
  task = trainer.task
  if config.task != 'fill':
    raise cli.UsageError(f'--workdir={_WORKDIR.value}: a {config.task} run, not a fill model '
                         '(train configs/fill.py)')
  piece = midi_io.load_midi(_MIDI.value)
  rhythm_piece = midi_io.load_midi(_RHYTHM.value) if _RHYTHM.value else None
  try:
    out = task.fill_span(state, piece, _START.value, _END.value, rhythm_piece,
                         rng=jax.random.key(_SEED.value), temperature=_TEMPERATURE.value)
  except ValueError as e:
    raise cli.UsageError(str(e)) from None
  s, e = out['start'], out['end']
  notes = fill_task.tokens_to_notes(out['filled'], task.roll_cfg, piece)
  os.makedirs(os.path.dirname(os.path.abspath(_OUT.value)), exist_ok=True)
  midi_io.write_midi(piece.with_notes(notes, name=piece.name + ':filled'), _OUT.value)

  step_beats = float(task.roll_cfg.step)
  lo = max(0, s - int(round(CONTEXT_SHOWN_BEATS / step_beats)))
  shown = lambda tokens: fill_task.token_roll(tokens[lo:e], task.keys)
  span = f'beats {s * step_beats:g}-{e * step_beats:g}'
  name = lambda path: os.path.splitext(os.path.basename(path))[0]
  rolls = [shown(out['filled']), shown(out['tokens'])]
  titles = [f'filled ({span}, rhythm of {name(_RHYTHM.value or _MIDI.value)})',
            f'original: {name(_MIDI.value)}']
  if rhythm_piece is not None:
    rolls.append(shown(out['rhythm_tokens']))
    titles.append(f'rhythm source: {name(_RHYTHM.value)}')
  fig = viz.draw_pianorolls(rolls, sample_titles=titles,
                            title=f'{name(_MIDI.value)}: {span} filled (step {step})',
                            **viz.figure_options(task.roll_cfg))
  for ax in fig.axes:
    ax.axvspan(s - lo, e - lo, color='#f2c14e', alpha=0.25, zorder=0)
  picture = os.path.splitext(_OUT.value)[0] + '.png'
  viz.save_png(viz.figure_image(fig), picture)
  gap = out['filled'][s:e]
  kept = np.mean((gap >= fill_task.ATTACK) == (out['rhythm'] >= fill_task.ATTACK))
  print(f'{_OUT.value}: {span} filled with {int((gap >= fill_task.ATTACK).sum())} notes '
        f'(attack steps kept: {kept:.0%}); {len(notes)} notes in the melody', flush=True)
  print(f'piano rolls (filled above the original, the span shaded): {picture}', flush=True)


if __name__ == '__main__':
  runtime.reexec_with_huge_pages()  # before any XLA work: see dsjax/runtime.py
  cli.run(main, required=['workdir', 'midi', 'start', 'end', 'out'])
