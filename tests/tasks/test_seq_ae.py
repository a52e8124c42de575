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
  with pytest.raises(ValueError, match='config.sample.mode'):
    sampler.sample(state, jax.random.key(1), 2, 8, mode='nucleus')
  with pytest.raises(ValueError, match='config.data.transpose'):
    get_task(configs.load_config('seq_ae:tiny', **{'data.transpose': 3}))
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
  # A few steps in, the decision layer's bias (the marginals) outvotes the code: without it the
  # decodes depend on the code, so swapped or shifted ends would show.
  params = state['params']
  state = dict(state, params={**params, 'head': {**params['head'],
                                                 'bias': 0 * params['head']['bias']}})
  decoded, t = sampler.interpolate(state, seq_a, seq_b, 5, length=16, mode='greedy')
  assert not np.array_equal(decoded[0], decoded[-1])
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


@pytest.mark.parametrize('variant', ['aligned,tiny', 'aligned,vae,tiny'])
def test_aligned_variants_train_and_decode(variant, tmp_path):
  from dsjax.train.loop import train_and_evaluate
  config = configs.load_config(f'seq_ae:{variant}', **{
      'train.num_steps': 2, 'train.eval_every': 2, 'train.checkpoint_every': 2, 'sample.num': 1})
  final = train_and_evaluate(config, str(tmp_path / 'run'))
  for key in ('valid/tf_f1', 'valid/fr_f1', 'valid/tf_other_code_nll'):
    assert np.isfinite(final[key]), final
  assert glob.glob(str(tmp_path / 'run' / 'samples' / '*' / 'pianoroll.png'))


def test_eval_figures_from_hand_built_predictions():
  """Accuracy, F1 and the other-piece rows on batches whose answers are known."""
  import jax.numpy as jnp
  from dsjax.tasks import get_task
  from dsjax.tasks.seq_ae import other_piece_rows
  task = get_task(configs.load_config('seq_ae:aligned,tiny'))
  x = jnp.zeros((2, 3, 4)).at[0, 0, 1].set(1).at[0, 1, 2].set(1).at[1, 0, 0].set(1)
  pred = x.at[0, 1, 2].set(0).at[0, 1, 3].set(1).at[1, 2, 1].set(1)  # 1 miss, 2 false notes
  mask = jnp.array([[1, 1, 1], [1, 1, 0.]])                           # the last false note padded
  sums = {k: float(v) for k, v in task._accuracy_sums(pred, x, mask).items()}
  assert sums == {'right': 4.0, 'tp': 2.0, 'fp': 1.0, 'fn': 1.0}  # the 2 wrong steps: 1 masked
  out = task.eval_summary({'steps': 5.0, 'windows': 2.0, 'tf_nll_sum': 10.0, 'fr_nll_sum': 5.0,
                           'tf_other_code_nll_sum': 6.0, 'other_steps': 3.0,
                           **{f'tf_{k}': v for k, v in sums.items()},
                           **{f'fr_{k}': v for k, v in sums.items()}})
  assert out['tf_nll'] == 2.0 and out['fr_nll'] == 1.0 and out['tf_other_code_nll'] == 2.0
  assert out['tf_accuracy'] == 0.8 and out['fr_f1'] == pytest.approx(4 / 6)
  rows, found = other_piece_rows(jnp.array([4, 4, 7, 7, -1]))
  np.testing.assert_array_equal(np.asarray(rows)[:4], [3, 3, 1, 1])
  np.testing.assert_array_equal(np.asarray(found), [1, 1, 1, 1, 0])
  _, found = other_piece_rows(jnp.array([2, 2, 2]))
  np.testing.assert_array_equal(np.asarray(found), [0, 0, 0])


def test_free_bits_leave_a_small_kl_alone():
  import jax.numpy as jnp
  from dsjax.tasks.seq_ae import kl_penalty
  kl = jnp.array([3.0, 10.0])
  np.testing.assert_allclose(np.asarray(kl_penalty(kl, 8.0)), [0.0, 2.0])
  np.testing.assert_allclose(np.asarray(jax.grad(lambda k: kl_penalty(k, 8.0).sum())(kl)), [0, 1])
  np.testing.assert_allclose(np.asarray(kl_penalty(kl, 0.0)), [3.0, 10.0])
