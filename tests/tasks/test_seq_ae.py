"""The sequence autoencoder task: KL annealing, the sampler's refusals, interpolation end to end."""

from __future__ import annotations

import glob
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

import configs

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope='module')
def vae_run(tmp_path_factory):
  """A tiny variational run over events, trained for a few steps."""
  from dsjax.train.loop import train_and_evaluate
  workdir = str(tmp_path_factory.mktemp('seq_vae') / 'run')
  config = configs.load_config('seq_ae:vae,tiny', **{'train.num_steps': 4,
                                                      'train.eval_every': 4,
                                                      'train.checkpoint_every': 4,
                                                      'sample.num': 0})
  train_and_evaluate(config, workdir)
  return workdir


def test_kl_weight_ramps_linearly_then_holds():
  from dsjax.tasks import get_task
  task = get_task(configs.load_config('seq_ae:vae,tiny', **{'vae.kl_anneal_steps': 10,
                                                            'vae.kl_weight': 0.5}))
  np.testing.assert_allclose([float(task.kl_scale(s)) for s in (0, 5, 10, 40)],
                             [0.0, 0.25, 0.5, 0.5])


def test_plain_autoencoder_has_no_prior_and_settings_are_checked():
  from dsjax.tasks import get_task
  task = get_task(configs.load_config('seq_ae:tiny'))
  state = task.init(jax.random.key(0))
  sampler = task.sampler()
  with pytest.raises(ValueError, match='no prior'):
    sampler.sample(state, jax.random.key(1), 2, 8, primer=0)
  assert sampler.sample(state, jax.random.key(1), 2, 8, primer=4).shape == (2, 8)
  with pytest.raises(ValueError, match='greedy or sample'):
    sampler.sample(state, jax.random.key(1), 2, 8, mode='threshold')
  with pytest.raises(ValueError, match='config.vae.free_bits'):
    get_task(configs.load_config('seq_ae:tiny', **{'vae.free_bits': 2.0}))
  with pytest.raises(ValueError, match='config.data.coding'):
    get_task(configs.load_config('seq_ae:tiny', **{'data.coding': 'rolls'}))


def test_interpolation_ends_decode_to_the_ends_reconstructions(vae_run, tmp_path):
  """launch.interpolate writes its pieces and picture; its first and last decodes are exactly the
  reconstructions of A and B."""
  from dsjax.data import midi_io
  from dsjax.train.loop import restore_for_inference
  _, trainer, state, _ = restore_for_inference(vae_run)
  sampler = trainer.sampler
  pieces = sampler.train_set
  paths = []
  for name, i in (('a', 0), ('b', 1)):
    path = str(tmp_path / f'{name}.mid')
    midi_io.write_midi(sampler.to_pieces([pieces[i][:60]])[0], path)
    paths.append(path)
  out = tmp_path / 'interp'
  env = dict(os.environ, JAX_PLATFORMS='cpu')
  proc = subprocess.run([sys.executable, '-m', 'launch.interpolate', f'--workdir={vae_run}',
                         f'--a={paths[0]}', f'--b={paths[1]}', '--steps=5', f'--out={out}'],
                        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stdout + proc.stderr
  assert len(glob.glob(str(out / 'interp_*.mid'))) == 5
  assert os.path.getsize(out / 'interpolation.png') > 0
  seq_a, seq_b = sampler.encode_midi(paths[0]), sampler.encode_midi(paths[1])
  decoded, t = sampler.interpolate(state, seq_a, seq_b, 5, length=16, mode='greedy')
  np.testing.assert_array_equal(t, [0, 0.25, 0.5, 0.75, 1])
  length = 16
  rec = lambda seq: sampler.reconstruct(state, [seq], length, mode='greedy')[0]
  np.testing.assert_array_equal(decoded[0], rec(seq_a))
  np.testing.assert_array_equal(decoded[-1], rec(seq_b))


def test_interpolate_refuses_bad_flags_in_one_line(vae_run, tmp_path):
  env = dict(os.environ, JAX_PLATFORMS='cpu')
  proc = subprocess.run([sys.executable, '-m', 'launch.interpolate', f'--workdir={vae_run}',
                         f'--a={tmp_path}/missing.mid', '--b=x.mid'], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=120)
  assert proc.returncode == 2
  assert proc.stderr.strip().splitlines()[-1].endswith('missing.mid: no such file'), proc.stderr
