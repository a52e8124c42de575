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
