"""Reproduce a table of results: ``python -m launch.ablate --table=NAME [--seeds=3] [--out=DIR]``.

Tables (see ``dsjax/tables``): ``hist_rnn`` (the log's 10/16 tables), ``polyphonic`` (frame NLL of
the multi-hot output heads on JSB Chorales and Nottingham). The Markdown table is printed and written
to ``OUT/table.md`` with every raw number in ``OUT/raw.json``.
"""

from __future__ import annotations

import datetime
import os
import warnings

from absl import app, flags, logging

from dsjax import runtime
from launch import cli

warnings.filterwarnings('ignore', message='.*load_module.*', category=DeprecationWarning)

_TABLE = flags.DEFINE_string('table', None, 'Which table (dsjax.tables.TABLES).')
_OUT = flags.DEFINE_string('out', None, 'Output folder (default: runs/ablate-TABLE-STAMP).')
_SEEDS = flags.DEFINE_integer('seeds', 3, 'Number of seeds per row.')
_QUICK = flags.DEFINE_bool('quick', False, 'Tiny models and few steps (a smoke run).')
_STEPS = flags.DEFINE_integer('steps', None, 'Override the number of training steps.')
_DATASETS = flags.DEFINE_list(
    'datasets', None, 'polyphonic only: train these datasets (jsb, nottingham); finished runs of '
    'the others in --out stay in the table.')
_REFERENCE = flags.DEFINE_string(
    'reference', None, 'gans only: a trained reference density model\'s workdir (default: one is '
    'trained in OUT/reference).')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)
  from dsjax.tables import get_table
  run = get_table(_TABLE.value)
  kwargs = {}
  if _DATASETS.value:
    if _TABLE.value != 'polyphonic':
      raise app.UsageError(f'--datasets applies to --table=polyphonic, not {_TABLE.value!r}')
    kwargs['datasets'] = tuple(_DATASETS.value)
  if _REFERENCE.value:
    if _TABLE.value != 'gans':
      raise app.UsageError(f'--reference applies to --table=gans, not {_TABLE.value!r}')
    kwargs['reference'] = _REFERENCE.value
  out = _OUT.value or os.path.join(
      'runs', f'ablate-{_TABLE.value}-{datetime.datetime.now().strftime("%Y%m%d-%H%M%S")}')
  os.makedirs(out, exist_ok=True)
  print(f'out: {os.path.abspath(out)}', flush=True)
  table = run(out, seeds=_SEEDS.value, quick=_QUICK.value, steps=_STEPS.value, **kwargs)
  print(table, flush=True)


if __name__ == '__main__':
  runtime.reexec_with_huge_pages()  # before any XLA work: see dsjax/runtime.py
  cli.run(main, required=['table'])
