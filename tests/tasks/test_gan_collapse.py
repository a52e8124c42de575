"""Tests for the GAN task's anti-collapse options: step noise, the straight-through critic view,
the minibatch standard deviation feature (real and fake scored apart) and the frame-change rate."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dsjax.models import gan as G
from dsjax.models import gan_losses as L
from configs import gan_base
from configs.common import override
from dsjax.eval import music_stats
from dsjax.tasks import gan as T


def _task(**overrides):
  """A tiny GAN task; ``overrides`` are dotted config keys, e.g. ``{'gan.binarize': ...}``."""
  c = gan_base.tiny_gan(gan_base.base_gan_config('lstm', 'cnn', loss='nonsaturating'))
  c.data.window = 8
  c.data.max_pieces = 10
  c.model.generator.hidden = (6,)
  c.model.generator.code_dim = 3
  c.model.critic.features = (2,)
  c.data.batch_size = 4
  c.gan.pool_size = 0
  c.gan.unroll = False
  c.train.num_steps = 10
  return T.GANTask(override(c, overrides))


# ------------------------------------------------------------------------------- step noise


def test_add_step_noise_appends_fresh_noise_per_step():
  code = jnp.broadcast_to(jnp.arange(3.0)[None, None], (2, 5, 3))
  assert G.add_step_noise(code, jax.random.key(0), 0) is code
  out = G.add_step_noise(code, jax.random.key(0), 4)
  assert out.shape == (2, 5, 7)
  np.testing.assert_array_equal(out[..., :3], code)                 # the code is kept as is
  noise = np.asarray(out[..., 3:])
  assert np.all(np.abs(noise) <= 1.0)                                 # uniform U[-1, 1]
  for t in range(1, 5):                                               # a new draw every step
    assert np.all(noise[:, t] != noise[:, t - 1])
  assert np.all(noise[0] != noise[1])                                 # and every example
  with pytest.raises(ValueError, match='step noise'):
    G.add_step_noise(code, jax.random.key(0), -1)



def test_held_step_noise_is_constant_within_blocks_and_new_across_them():
  code = jnp.zeros((2, 7, 3))
  out = np.asarray(G.add_step_noise(code, jax.random.key(0), 4, hold=3))
  assert out.shape == (2, 7, 7)
  noise = out[..., 3:]
  for start in (0, 3, 6):                                             # blocks [0,3) [3,6) [6,7)
    block = noise[:, start:start + 3]
    np.testing.assert_array_equal(block, np.broadcast_to(block[:, :1], block.shape))
  assert np.all(noise[:, 3] != noise[:, 2]) and np.all(noise[:, 6] != noise[:, 5])
  # hold=1 is the per-step draw, unchanged.
  np.testing.assert_array_equal(G.add_step_noise(code, jax.random.key(0), 4, hold=1),
                                G.add_step_noise(code, jax.random.key(0), 4))
  with pytest.raises(ValueError, match='hold'):
    G.add_step_noise(code, jax.random.key(0), 4, hold=0)


def test_task_codes_hold_the_step_noise_as_configured():
  task = _task(**{'model.generator.step_noise': 4, 'model.generator.step_noise_hold': 2})
  noise = np.asarray(task.codes(jax.random.key(1), 2, 8, 'constant'))[..., 3:]
  np.testing.assert_array_equal(noise[:, 0::2], noise[:, 1::2])       # pairs of equal steps
  assert np.all(noise[:, 2::2] != noise[:, 1:-1:2])                   # a new draw per pair
  with pytest.raises(ValueError, match='step_noise_hold'):
    _task(**{'model.generator.step_noise_hold': 0})


def test_step_noise_reaches_the_generator_and_changes_frames():
  task = _task(**{'model.generator.step_noise': 4})
  state = task.init(jax.random.key(0))
  assert state['params']['generator']['lstm']['layer_0']['kernel'].shape[0] == 3 + 4 + 1  # + time
  code = task.codes(jax.random.key(1), 2, 8, 'constant')
  assert code.shape == (2, 8, 7)
  np.testing.assert_array_equal(code[:, 1:, :3], code[:, :-1, :3])    # the code is constant
  # same code, other step noise: other frames
  other = code.at[..., 3:].set(-code[..., 3:])
  a = task.generator.apply({'params': state['params']['generator']}, code, 8)
  b = task.generator.apply({'params': state['params']['generator']}, other, 8)
  assert float(jnp.abs(a - b).min(axis=-1).max()) > 0
  assert float(jnp.abs(a - b).mean()) > 1e-4
  # without step noise the same code gives the same output
  plain = _task()
  p_state = plain.init(jax.random.key(0))
  c1 = plain.codes(jax.random.key(1), 2, 8, 'constant')
  np.testing.assert_array_equal(plain.generate(p_state['params']['generator'], jax.random.key(1), 2, 8,
                                               'constant'),
                                plain.generator.apply({'params': p_state['params']['generator']}, c1, 8))


# ----------------------------------------------------------------------- straight-through view


@pytest.mark.parametrize('output,threshold,off', [('sigmoid', 0.5, 0.0), ('tanh', 0.3, -1.0)])
def test_straight_through_view_is_binary_with_identity_gradient(output, threshold, off):
  task = _task(**{'gan.binarize': 'straight_through', 'model.generator.output': output,
                  'gan.critic_threshold': threshold, 'sample.threshold': 0.95})
  fake = jnp.array([[[0.2, 0.31, 0.7], [-0.5, 0.6, 0.29]]])
  view = task.critic_view(fake)
  expected = np.where(np.asarray(fake) > threshold, 1.0, off)   # the sampling threshold plays no part
  np.testing.assert_array_equal(view, expected)
  w = jnp.array([[[1.0, -2.0, 3.0], [0.5, 4.0, -1.5]]])
  grad = jax.grad(lambda f: jnp.sum(w * task.critic_view(f)))(fake)
  np.testing.assert_array_equal(grad, w)                              # straight through
  plain = _task()
  np.testing.assert_array_equal(plain.critic_view(fake), fake)


@pytest.mark.parametrize('loss', ['nonsaturating', 'wgan_gp'])
def test_binarized_train_step_gives_the_critic_binary_fakes(loss):
  task = _task(**{'gan.binarize': 'straight_through', 'gan.pool_size': 4, 'gan.loss': loss})
  state = task.init(jax.random.key(0))
  batch = {'inputs': np.asarray(task.real_windows(0, 4, task.hp.window))}
  new, metrics = jax.jit(task.train_step)(state, batch, jax.random.key(1))
  pool = np.asarray(new['pool'])
  assert set(np.unique(pool).tolist()) <= {0.0, 1.0} and pool.sum() > 0
  assert float(metrics['g_grad_norm']) > 0                           # the gradient gets through
  moved = jax.tree.map(lambda a, b: float(jnp.abs(a - b).max()), state['params']['generator'],
                       new['params']['generator'])
  assert max(jax.tree.leaves(moved)) > 0


# ------------------------------------------------------------------------ minibatch std


def test_minibatch_std_value():
  f = np.array([[0.0, 1.0], [2.0, 1.0], [4.0, 1.0]], np.float32)
  expected = (np.sqrt(8.0 / 3.0 + 1e-8) + np.sqrt(1e-8)) / 2
  out = np.asarray(G.minibatch_std(jnp.asarray(f)))
  assert out.shape == (3, 1)
  np.testing.assert_allclose(out, expected, rtol=1e-6)


@pytest.mark.parametrize('kind', ['cnn', 'lstm'])
def test_minibatch_std_critic_sees_the_batch(kind):
  if kind == 'cnn':
    critic = G.CNNCritic(features=(2,), kernel=3, dense=4, minibatch_std=True)
  else:
    critic = G.LSTMCritic((4,), readout='mean', minibatch_std=True)
  x = jax.random.uniform(jax.random.key(0), (4, 4, 6))
  params = critic.init(jax.random.key(1), x)['params']
  if kind == 'lstm':   # make the learned weight on the spread non-zero
    params = {**params, 'minibatch_std': {'kernel': jnp.ones((1, 1))}}
  fn = lambda v: critic.apply({'params': params}, v)   # noqa: E731
  # the score of example 0 depends on the rest of its batch
  assert abs(float(fn(x)[0] - fn(x.at[1:].set(x[0]))[0])) > 1e-6
  # so real and fake are scored apart when asked
  real, fake = x[:2], x[2:]
  joint = L.critic_scores(fn, real, fake)
  apart = L.critic_scores(fn, real, fake, separate=True)
  np.testing.assert_allclose(apart[0], fn(real), rtol=1e-6)
  np.testing.assert_allclose(apart[1], fn(fake), rtol=1e-6)
  assert float(jnp.abs(joint[0] - apart[0]).max()) > 1e-6


def test_critic_scores_apart_equal_joint_for_per_example_critic():
  critic = G.CNNCritic(features=(2,), kernel=3, dense=4)
  x = jax.random.uniform(jax.random.key(0), (4, 4, 6))
  params = critic.init(jax.random.key(1), x)['params']
  fn = lambda v: critic.apply({'params': params}, v)   # noqa: E731
  for a, b in zip(L.critic_scores(fn, x[:2], x[2:]), L.critic_scores(fn, x[:2], x[2:], True)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_task_scores_apart_with_minibatch_std():
  assert _task(**{"model.critic.minibatch_std": True}).hp.separate_scores
  assert not _task().hp.separate_scores


# --------------------------------------------------------------------------- statistics


def test_frame_change_rate_known_values():
  held = np.zeros((2, 5, 4), np.uint8)
  held[:, :, 1] = 1                                 # a key held for the whole window
  assert music_stats.frame_change_rate(held) == 0.0
  moving = np.zeros((1, 5, 4), np.uint8)
  moving[0, [0, 1, 3], 2] = 1                       # on on off on off: changes at 1-2, 2-3, 3-4
  assert music_stats.frame_change_rate(moving) == 3 / 4
  assert music_stats.frame_change_rate(np.concatenate([held[:1], moving])) == 3 / 8
  with pytest.raises(ValueError, match='batch, time, pitch'):
    music_stats.frame_change_rate(np.zeros((5, 4)))


def test_sample_statistics_report_frame_changes():
  task = _task()
  held = np.zeros((3, 8, 88), np.uint8)
  held[:, :, 40] = 1
  stats = task.sampler().statistics(held)
  assert stats['frame_changes'] == 0.0 and stats['diversity'] == 0.0
  assert 0.0 < stats['real_frame_changes'] <= 1.0


def test_bad_anti_collapse_config_errors():
  with pytest.raises(ValueError, match='config.gan.binarize'):
    _task(**{'gan.binarize': 'stochastic'})
  with pytest.raises(ValueError, match='step_noise'):
    _task(**{'model.generator.step_noise': -2})
  with pytest.raises(ValueError, match='generator='):
    gan_base.base_gan_config('transformer')
  with pytest.raises(ValueError, match='critic='):
    gan_base.base_gan_config('lstm', 'mlp')


# ------------------------------------------------------------------------------- end to end


def test_comparison_settings_train_end_to_end(tmp_path):
  """The comparison's settings (step noise, straight-through fakes) at tiny size: train, evaluate,
  and report the frame changes next to the real windows' figure."""
  import json
  import os

  from configs import load_config
  from dsjax.train.loop import train_and_evaluate
  name = 'gan_lstm_cnn'   # the WGAN-GP path with binarized fakes: the train-step test below
  c = load_config(f'{name}:cpu,tiny')
  assert c.model.generator.step_noise == 32 and c.gan.binarize == 'straight_through'
  assert c.model.generator.step_noise_hold == 4
  workdir = str(tmp_path / name)
  final = train_and_evaluate(c, workdir)
  assert final['step'] == c.train.num_steps
  evals = [json.loads(l) for l in open(os.path.join(workdir, 'metrics.jsonl')) if '"eval"' in l]
  last = evals[-1]
  assert 0.0 <= last['frame_changes'] <= 1.0 and 0.0 < last['real_frame_changes'] <= 1.0
  train = [json.loads(l) for l in open(os.path.join(workdir, 'metrics.jsonl'))
           if '"eval"' not in l and 'g_grad_norm' in l]
  assert train and all(np.isfinite(r['g_grad_norm']) and r['g_grad_norm'] > 0 for r in train)
