"""Process pools for loading corpora: ``parallel_map`` over the cores, with a progress bar.

:func:`parallel_map` runs a module-level worker function over a list of items in a process pool
and returns the results in order; the corpus sources (:mod:`dsjax.data.corpora`) parse their files
with it. Workers are forked on Linux while JAX is not imported, and spawned otherwise (forking a
process that already runs JAX's threads can deadlock). Spawned workers import the main script
again, so :func:`check_not_bootstrapping` (called by :func:`parallel_map` and by the cache's
loaders) refuses to load a corpus from inside such a worker; it reads multiprocessing's private
``_inheriting`` flag of the current process.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import sys
from typing import Any, Callable, Sequence

import tqdm


def _pool_context():
  # fork is fastest, but forking a process that already runs JAX's threads can deadlock.
  if sys.platform.startswith('linux') and 'jax' not in sys.modules:
    return multiprocessing.get_context('fork')
  return multiprocessing.get_context('spawn')


def check_not_bootstrapping() -> None:
  """Raises if called while a spawned worker re-imports the user's main script.

  Spawned workers (used once JAX is imported) import ``__main__`` again; a script that loads a
  corpus at import time would otherwise start (or wait for) a build inside every worker.
  """
  if getattr(multiprocessing.current_process(), '_inheriting', False):
    raise RuntimeError(
        'a dsjax corpus was loaded while a worker process was importing the main script; put '
        "the call under `if __name__ == '__main__':` (workers start with 'spawn' once JAX is "
        'imported)')


def parallel_map(fn: Callable[[Any], Any], items: Sequence[Any], *, workers: int | None = None,
                 desc: str = '', progress: bool = True, unit: str = 'file') -> list[Any]:
  """``[fn(x) for x in items]`` over ``workers`` processes (default: all cores), in order.

  ``fn`` must be a module-level function that catches its own errors. ``workers <= 1`` (or a
  single item) runs in this process.
  """
  check_not_bootstrapping()
  items = list(items)
  workers = (os.cpu_count() or 1) if workers is None else int(workers)
  workers = max(1, min(workers, len(items)))
  out = []
  with tqdm.tqdm(total=len(items), desc=desc, unit=unit, disable=not progress,
                 dynamic_ncols=True) as bar:
    if workers == 1:
      for x in items:
        out.append(fn(x))
        bar.update()
      return out
    chunksize = max(1, min(16, len(items) // (workers * 8)))
    ctx = _pool_context()
    try:
      with concurrent.futures.ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        for r in pool.map(fn, items, chunksize=chunksize):
          out.append(r)
          bar.update()
    except concurrent.futures.process.BrokenProcessPool as e:
      hint = ''
      if ctx.get_start_method() == 'spawn':
        hint = (" Workers start with 'spawn' (JAX is imported) and import the main script again: "
                "keep data loading under `if __name__ == '__main__':`.")
      raise RuntimeError(f'a {desc or "loading"} worker process died.{hint}') from e
  return out
