"""Train any experiment: ``python -m launch.train --config=configs/NAME.py[:variant] [--workdir=DIR]``.

Overrides: ``--config.model.hidden='(256,256)' --config.train.num_steps=500``. Starting again on an
existing workdir resumes from its latest checkpoint. Several processes (hosts):
``--coordinator_address=HOST:PORT --num_processes=N --process_id=I`` on each (or the
``DSJAX_COORDINATOR`` / ``DSJAX_NUM_PROCESSES`` / ``DSJAX_PROCESS_ID`` environment variables).
"""

from __future__ import annotations

import datetime
import os
import sys
import warnings

from absl import app, flags, logging
from ml_collections import config_flags

from dsjax import runtime
from launch import cli

warnings.filterwarnings('ignore', message='.*load_module.*', category=DeprecationWarning)

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Experiment config file[:variant].',
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Run folder (default: a new one under runs/).')
_COORD = flags.DEFINE_string('coordinator_address', None, 'host:port of process 0 (multi-host).')
_NPROC = flags.DEFINE_integer('num_processes', None, 'Number of processes (multi-host).')
_PID = flags.DEFINE_integer('process_id', None, 'This process index (multi-host).')


def default_workdir(config_arg: str) -> str:
  path, _, variant = config_arg.partition(':')
  name = os.path.splitext(os.path.basename(path))[0] + (f'-{variant.replace(",", "-")}'
                                                        if variant else '')
  stamp = datetime.datetime.now().strftime('%Y%m%d-%H%M%S')
  return os.path.join('runs', f'{name}-{stamp}')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO
  from dsjax.train import sharding
  sharding.maybe_initialize_distributed(_COORD.value, _NPROC.value, _PID.value)
  import jax
  from dsjax.train import loop, workdir_lock
  config = _CONFIG.value
  loop.check_train_settings(config)  # before any data loads
  workdir = _WORKDIR.value
  if workdir is None:
    config_arg = next((a.split('=', 1)[1] for a in sys.argv if a.startswith('--config=')), 'run')
    workdir = default_workdir(config_arg)
    if jax.process_count() > 1:
      raise app.UsageError('--workdir is required when training with several processes')
  if jax.process_index() != 0:
    final = loop.train_and_evaluate(config, workdir)
  else:
    with workdir_lock.hold(workdir):  # refused at once if another run holds it
      print(f'workdir: {os.path.abspath(workdir)}', flush=True)
      final = loop.train_and_evaluate(config, workdir)
  if jax.process_index() == 0:
    print('final: ' + ', '.join(f'{k}={v:.4f}' if isinstance(v, float) else f'{k}={v}'
                                for k, v in final.items()), flush=True)
  if jax.process_count() > 1:
    # Leave together: a process that exits while another still talks to the coordination
    # service (held by process 0) would be aborted by it.
    jax.distributed.shutdown()


if __name__ == '__main__':
  runtime.reexec_with_huge_pages()  # before any XLA work: see dsjax/runtime.py
  cli.run(main, required=['config'])
