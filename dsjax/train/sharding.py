"""Data-parallel sharding over a one-axis ``data`` mesh, on any number of devices and hosts."""

from __future__ import annotations

import os

import jax
import numpy as np
from absl import logging
from jax.sharding import NamedSharding, PartitionSpec as P

DATA_AXIS = 'data'


def maybe_initialize_distributed(coordinator_address: str | None = None,
                                 num_processes: int | None = None,
                                 process_id: int | None = None,
                                 local_device_ids=None) -> bool:
  """Starts ``jax.distributed`` when running as several processes.

  Arguments win over the environment variables ``DSJAX_COORDINATOR``, ``DSJAX_NUM_PROCESSES`` and
  ``DSJAX_PROCESS_ID``; with none of them set, cluster environments that jax detects by itself
  (SLURM, Open MPI, Cloud TPU) are used when ``DSJAX_AUTO_DISTRIBUTED=1``. Must run before any
  other JAX call. Returns whether the distributed runtime was started.
  """
  coordinator_address = coordinator_address or os.environ.get('DSJAX_COORDINATOR')
  if num_processes is None and os.environ.get('DSJAX_NUM_PROCESSES'):
    num_processes = int(os.environ['DSJAX_NUM_PROCESSES'])
  if process_id is None and os.environ.get('DSJAX_PROCESS_ID'):
    process_id = int(os.environ['DSJAX_PROCESS_ID'])
  if coordinator_address is None and os.environ.get('DSJAX_AUTO_DISTRIBUTED') != '1':
    return False
  if jax.config.jax_platforms in (None, '', 'cpu') or os.environ.get('JAX_PLATFORMS') == 'cpu':
    # CPU collectives across processes need gloo.
    jax.config.update('jax_cpu_collectives_implementation', 'gloo')
  jax.distributed.initialize(coordinator_address=coordinator_address,
                             num_processes=num_processes, process_id=process_id,
                             local_device_ids=local_device_ids)
  logging.info('jax.distributed: process %d of %d, %d local / %d global devices',
               jax.process_index(), jax.process_count(), jax.local_device_count(),
               jax.device_count())
  return True


def make_mesh(num_devices: int | None = None) -> jax.sharding.Mesh:
  """A one-axis ``data`` mesh over all (or the first ``num_devices``) devices."""
  n = num_devices or jax.device_count()
  return jax.make_mesh((n,), (DATA_AXIS,), axis_types=(jax.sharding.AxisType.Auto,))


def batch_sharding(mesh) -> NamedSharding:
  return NamedSharding(mesh, P(DATA_AXIS))


def replicated(mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def check_batch_size(global_batch: int, mesh, key: str = 'config.data.batch_size') -> None:
  """Raises, naming ``key``, unless the batch splits evenly over the devices and processes."""
  n = mesh.devices.size
  if global_batch % n:
    raise ValueError(f'{key}={global_batch} must be divisible by the number of devices ({n}) for '
                     'data-parallel training')
  if global_batch % jax.process_count():
    raise ValueError(f'{key}={global_batch} must be divisible by the number of processes '
                     f'({jax.process_count()})')


def shard_batch(local_batch, mesh, sharding: NamedSharding | None = None):
  """Turns this process's slice of the batch (numpy, leading axis) into global arrays, split over
  the devices by ``sharding`` (default :func:`batch_sharding`)."""
  sharding = sharding or batch_sharding(mesh)
  return jax.tree.map(
      lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), local_batch)
