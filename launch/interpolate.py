"""Walk in a sequence autoencoder's code space from one piece to another.

  python -m launch.interpolate --workdir=DIR --a=A.mid --b=B.mid [--steps=8] [--length=L]
      [--spherical] [--mode=greedy|sample] [--temperature=T] [--seed=S] [--best] [--out=DIR]

Encodes the first ``data.window`` items of A and of B (in the run's coding, moved to C when the
run was trained so), decodes ``--steps`` codes on the line between them (both ends included; slerp
with ``--spherical``), and writes ``interp_00.mid`` (A's reconstruction) ... ``interp_NN.mid``
(B's) and ``interpolation.png``: the decoded pieces top to bottom, A and B themselves on the right.
For runs of ``configs/seq_ae.py`` (the variational variant is the one trained for it).
"""

from __future__ import annotations

import os
import warnings

from absl import app, flags, logging

from dsjax import runtime
from launch import cli

warnings.filterwarnings('ignore', message='.*load_module.*', category=DeprecationWarning)

_WORKDIR = flags.DEFINE_string('workdir', None, 'Run folder of a sequence autoencoder.')
_A = flags.DEFINE_string('a', None, 'MIDI file at one end (fraction 0).')
_B = flags.DEFINE_string('b', None, 'MIDI file at the other end (fraction 1).')
_STEPS = flags.DEFINE_integer('steps', 8, 'Number of decoded pieces, both ends included (>= 2).')
_LENGTH = flags.DEFINE_integer('length', None, 'Items decoded per piece (default: the longer '
                               'of the two encoded openings, at most data.window items each).')
_SPHERICAL = flags.DEFINE_bool('spherical', False, 'Interpolate along the great circle (slerp).')
_MODE = flags.DEFINE_enum('mode', None, ['greedy', 'sample'], 'Decoding (default sample.mode).')
_TEMPERATURE = flags.DEFINE_float('temperature', None, 'Temperature of --mode=sample.')
_SEED = flags.DEFINE_integer('seed', 0, 'Seed of --mode=sample.')
_BEST = flags.DEFINE_bool('best', False, 'Use the best checkpoint instead of the latest.')
_OUT = flags.DEFINE_string('out', None, 'Output folder (default WORKDIR/interpolations/A-B).')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)
  if _STEPS.value < 2:
    raise cli.UsageError(f'--steps={_STEPS.value}: must be at least 2 (the two ends)')
  cli.positive_int('length', _LENGTH.value)
  cli.finite_float('temperature', _TEMPERATURE.value, low=0, low_open=True)
  for flag in (_A, _B):
    if not os.path.isfile(flag.value):
      raise cli.UsageError(f'--{flag.name}={flag.value}: no such file')
  import jax
  from dsjax import viz
  from dsjax.data import midi_io
  from dsjax.train.loop import restore_for_inference

  config, trainer, state, step = restore_for_inference(_WORKDIR.value, best=_BEST.value)
  sampler = trainer.sampler
  if not hasattr(sampler, 'interpolate'):
    raise cli.UsageError(f'{_WORKDIR.value}: a {config.task} run has no code space to '
                         'interpolate in (train configs/seq_ae.py)')
  try:
    seq_a, seq_b = sampler.encode_midi(_A.value), sampler.encode_midi(_B.value)
  except (ValueError, midi_io.MidiLoadError) as e:
    raise cli.UsageError(str(e)) from None
  options = {k: v for k, v in dict(mode=_MODE.value, temperature=_TEMPERATURE.value).items()
             if v is not None}
  decoded, fractions = sampler.interpolate(
      state, seq_a, seq_b, _STEPS.value, length=_LENGTH.value, spherical=_SPHERICAL.value,
      rng=jax.random.key(_SEED.value), **options)
  name = lambda path: os.path.splitext(os.path.basename(path))[0]
  out = _OUT.value or os.path.join(_WORKDIR.value, 'interpolations',
                                   f'{name(_A.value)}-{name(_B.value)}')
  os.makedirs(out, exist_ok=True)
  for i, (piece, t) in enumerate(zip(sampler.to_pieces(decoded), fractions)):
    path = os.path.join(out, f'interp_{i:02d}.mid')
    midi_io.write_midi(piece, path)
    print(f'{path}: fraction {t:.3f} of the way from A to B, {len(piece.notes)} notes', flush=True)
  picture = os.path.join(out, 'interpolation.png')
  viz.save_pianoroll_figure(
      picture, sampler.to_rolls(decoded), sampler.to_rolls([seq_a, seq_b]),
      sample_titles=[f'{t:.2f} of the way' for t in fractions],
      real_titles=[f'A: {name(_A.value)}', f'B: {name(_B.value)}'], **sampler.figure_options())
  print(f'piano rolls (decoded top to bottom; A and B on the right): {picture} (step {step})')


if __name__ == '__main__':
  runtime.reexec_with_huge_pages()  # before any XLA work: see dsjax/runtime.py
  cli.run(main, required=['workdir', 'a', 'b'])
