"""2 processes x 2 fake CPU devices (gloo on 127.0.0.1) train like 1 process x 4 devices."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def _args(workdir):
  return [sys.executable, '-m', 'launch.train', '--config=configs/pianoroll_lstm.py:tiny',
          f'--workdir={workdir}', '--config.train.num_steps=8', '--config.train.log_every=1',
          '--config.train.checkpoint_every=4', '--config.train.eval_every=4',
          '--config.sample.num=0', '--config.train.quiet=True']


def _losses(workdir, split='train', key='loss'):
  out = {}
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    for line in f:
      rec = json.loads(line)
      if rec['split'] == split:
        out[rec['step']] = rec[key]
  return [out[k] for k in sorted(out)]


def test_two_processes_match_one_process(tmp_path):
  base_env = dict(os.environ, JAX_PLATFORMS='cpu')
  single = str(tmp_path / 'single')
  env = dict(base_env, XLA_FLAGS='--xla_force_host_platform_device_count=4')
  p = subprocess.run(_args(single), cwd=ROOT, env=env, capture_output=True, text=True,
                     timeout=600)
  assert p.returncode == 0, p.stdout + p.stderr

  multi = str(tmp_path / 'multi')
  port = _free_port()
  procs = []
  for pid in range(2):
    env = dict(base_env, XLA_FLAGS='--xla_force_host_platform_device_count=2',
               DSJAX_COORDINATOR=f'127.0.0.1:{port}', DSJAX_NUM_PROCESSES='2',
               DSJAX_PROCESS_ID=str(pid))
    procs.append(subprocess.Popen(_args(multi), cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True))
  outs = [q.communicate(timeout=600)[0] for q in procs]
  for q, out in zip(procs, outs):
    assert q.returncode == 0, out
  a, b = _losses(single), _losses(multi)
  assert len(a) == len(b) == 8
  np.testing.assert_allclose(b, a, rtol=1e-6)
  np.testing.assert_allclose(_losses(multi, 'eval', 'test/frame_nll'),
                             _losses(single, 'eval', 'test/frame_nll'), rtol=1e-6)
