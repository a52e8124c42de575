"""Tables of results reproduced by one command: ``python -m launch.ablate --table=NAME``.

Each table is a module here with

  run(out_dir: str, *, seeds: int = 3, quick: bool = False, steps: int | None = None) -> str

that trains and evaluates what the table needs (several seeds), writes ``out_dir/table.md`` (the
Markdown table, mean +- std over seeds, next to the published or logged figures) and
``out_dir/raw.json`` (every number of every seed and the configs used), and returns the Markdown.
``quick`` uses the tiny variants (for tests); ``steps`` overrides the number of training steps.
"""

from __future__ import annotations

import importlib
from typing import Callable, Sequence

import numpy as np

TABLES = {
    'hist_rnn': 'dsjax.tables.hist_rnn',      # 10/16: Random / Baseline / Hist-RNN / Patch-Hist RNN
    'polyphonic': 'dsjax.tables.polyphonic',  # frame NLL of each multi-hot output head
    'gans': 'dsjax.tables.gans',              # 11/12: does WGAN-GP collapse less?
    'continuous_ae': 'dsjax.tables.continuous_ae',  # 10/29: alpha x beta of the continuous AE
    'fill': 'dsjax.tables.fill',              # 04/26/18: the fill model against its baselines
    'refiners': 'dsjax.tables.refiners',      # 11/03, 11/17: refiners against their baselines
}


def mean_std(values: Sequence[float], digits: int = 3) -> str:
  """``'m ± s'`` over seeds (sample standard deviation), or the value alone for one seed."""
  v = np.asarray(values, np.float64)
  if len(v) == 1:
    return f'{v[0]:.{digits}f}'
  return f'{v.mean():.{digits}f} ± {v.std(ddof=1):.{digits}f}'


def get_table(name: str) -> Callable[..., str]:
  if name not in TABLES:
    raise ValueError(f'--table={name!r} is not a known table; known: {sorted(TABLES)}')
  return importlib.import_module(TABLES[name]).run
