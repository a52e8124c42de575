"""Test-wide setup: 4 fake CPU devices (set before jax is imported), repo root on sys.path."""

import os
import sys
import warnings

os.environ.setdefault('XLA_FLAGS', '--xla_force_host_platform_device_count=4')
os.environ.setdefault('JAX_PLATFORMS', 'cpu')
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)
warnings.filterwarnings('ignore', message='.*load_module.*', category=DeprecationWarning)

import tempfile  # noqa: E402

# One preprocessing cache per test session (subprocesses inherit it).
os.environ.setdefault('DSJAX_CACHE_DIR', tempfile.mkdtemp(prefix='dsjax-test-cache-'))


import pytest  # noqa: E402


@pytest.fixture(scope='session')
def skipgram_workdir(tmp_path_factory) -> str:
  """A trained ``configs/skipgram.py:tiny`` run (once per session), for the runs that start from
  its embedding table (``model.embedding_from``)."""
  import configs
  from dsjax.train.loop import train_and_evaluate
  workdir = str(tmp_path_factory.mktemp('skipgram') / 'run')
  train_and_evaluate(configs.load_config('skipgram:tiny', **{'train.quiet': True}), workdir)
  return workdir
