"""launch.generate conditions a Hist-RNN run on a named key or on a MIDI file's histogram."""

from __future__ import annotations

import glob
import os
import subprocess
import sys

from tests.train.test_train import ROOT, load_config


def _generate(workdir, out, *flags):
  env = dict(os.environ, JAX_PLATFORMS='cpu')
  return subprocess.run([sys.executable, '-m', 'launch.generate', f'--workdir={workdir}',
                         '--num=2', '--length=40', f'--out={out}', *flags], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=300)


def test_generate_with_condition_key_and_midi(tmp_path):
  from dsjax.train.loop import train_and_evaluate
  workdir = str(tmp_path / 'run')
  train_and_evaluate(load_config('hist_rnn', **{'sample.num': 0, 'train.eval_every': 0,
                                                'train.num_steps': 5}), workdir)
  p = _generate(workdir, str(tmp_path / 'key'), '--condition_key=D minor')
  assert p.returncode == 0, p.stdout + p.stderr
  mids = sorted(glob.glob(str(tmp_path / 'key' / '*.mid')))
  assert len(mids) == 2
  p = _generate(workdir, str(tmp_path / 'midi'), f'--condition_midi={mids[0]}', '--seed=3')
  assert p.returncode == 0, p.stdout + p.stderr
  assert len(glob.glob(str(tmp_path / 'midi' / '*.mid'))) == 2
  p = _generate(workdir, str(tmp_path / 'bad'), '--condition_key=H major')
  assert p.returncode != 0 and "not a note name: 'H'" in p.stdout + p.stderr
