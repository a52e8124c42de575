"""Chord reconstruction (log 04/04/2018): the 12-key filter map's equivariance, rhythm chopping,
the eval sums, the softmax filters on synthetic triads, and the tiny config end to end."""

from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import configs
from dsjax import losses
from dsjax.eval import chords
from dsjax.models import chord_reconstruction as cr
from dsjax.tasks import chord_reconstruction as task_lib


def _model_and_params(keys=88, filters=8, activation='softmax', hidden=(4,), seed=0):
  model = cr.ChordReconstructor(keys=keys, filters=filters, activation=activation, hidden=hidden)
  params = model.init(jax.random.key(seed), jnp.zeros((1, 2, keys)))['params']
  # a non-zero bias, so the map of a silent window is not trivially zero
  params = {**params, 'filter_bias': jax.random.normal(jax.random.key(seed + 1), (filters,))}
  return model, params


def _random_frames(seed, shape, top_free):
  x = (np.random.default_rng(seed).random(shape) < 0.2).astype(np.float32)
  x[..., x.shape[-1] - top_free:] = 0          # room to move up without losing a key
  return x


@pytest.mark.parametrize('activation', ['softmax', 'sigmoid'])
def test_filter_map_is_transposition_and_octave_equivariant(activation):
  model, params = _model_and_params(activation=activation)
  x = _random_frames(0, (2, 5, 88), top_free=12)
  def maps(frames):
    v = {'params': params}
    return (np.asarray(model.apply(v, jnp.asarray(frames), method=model.filter_logits)),
            np.asarray(model.apply(v, jnp.asarray(frames), method=model.filter_activations)))
  z, a = maps(x)
  assert z.shape == (2, 5, 88 + 11, 8)
  silent_z, silent_a = maps(np.zeros((1, 1, 88), np.float32))
  for shift in (1, 12):                          # a semitone, an octave
    moved = np.roll(x, shift, axis=-1)           # nothing wraps: the top keys were silent
    z2, a2 = maps(moved)
    np.testing.assert_array_equal(z2[:, :, shift:], z[:, :, :-shift])      # exact
    np.testing.assert_array_equal(a2[:, :, shift:], a[:, :, :-shift])
    # the places that moved in see a silent window
    np.testing.assert_array_equal(z2[:, :, :shift], np.broadcast_to(silent_z[0, 0, 0], (2, 5, shift, 8)))
    np.testing.assert_array_equal(a2[:, :, :shift], np.broadcast_to(silent_a[0, 0, 0], (2, 5, shift, 8)))
  if activation == 'softmax':
    np.testing.assert_allclose(a.sum(-1), 1.0, rtol=1e-6)


def test_filter_map_against_a_direct_loop():
  model, params = _model_and_params(keys=88, filters=3, hidden=())
  x = _random_frames(1, (1, 1, 88), top_free=0)
  z = np.asarray(model.apply({'params': params}, jnp.asarray(x), method=model.filter_logits))
  k, b = np.asarray(params['filter_kernel']), np.asarray(params['filter_bias'])
  padded = np.concatenate([np.zeros(11), x[0, 0], np.zeros(11)])
  for p in (0, 5, 11, 50, 98):                  # position p covers keys p - 11 .. p
    window = padded[p:p + 12]
    np.testing.assert_allclose(z[0, 0, p], window @ k + b, rtol=1e-5, atol=1e-6)


def test_tanh_output_bounds_every_logit():
  model = cr.ChordReconstructor(keys=88, filters=4, hidden=(4,), output_scale=3.0)
  params = model.init(jax.random.key(0), jnp.zeros((1, 2, 88)))['params']
  params = {**params, 'output': {**params['output'],
                                 'bias': jnp.full((88,), 100.0).at[::2].set(-100.0)}}
  logits = np.asarray(model.apply({'params': params}, jnp.ones((1, 3, 88))))
  assert np.abs(logits).max() <= 3.0 and np.abs(logits).max() > 2.99


def test_chord_runs_and_chopping():
  a, b, c = (np.eye(4, dtype=np.uint8)[i] for i in range(3))
  frames = np.stack([a, a, b, c, c, c, a])       # chords a b c a, lengths 2 1 3 1
  starts, lengths = task_lib.chord_runs(frames)
  np.testing.assert_array_equal(starts, [0, 2, 3, 6])
  np.testing.assert_array_equal(lengths, [2, 1, 3, 1])
  g = np.random.default_rng(0)
  out = task_lib.chop_rhythm(frames, g, 40, 2, 3)
  assert out.shape == (40, 4)
  starts2, lengths2 = task_lib.chord_runs(out[:out.any(-1).nonzero()[0][-1] + 1])
  np.testing.assert_array_equal(out[starts2], frames[starts])   # same chords, same order
  assert set(lengths2.tolist()) <= {2, 3}                       # each held 2 or 3 frames
  assert not out[lengths2.sum():].any()                         # silence after the last
  cut = task_lib.chop_rhythm(frames, np.random.default_rng(1), 3, 4, 4)
  np.testing.assert_array_equal(cut, [a, a, a])                 # cut at the length
  with pytest.raises(ValueError, match='chop_min'):
    task_lib.chop_rhythm(frames, g, 8, 3, 2)


def test_reconstruction_counts_by_hand():
  x = jnp.array([[[1, 0, 1, 0], [0, 0, 0, 0], [1, 1, 0, 0]]], jnp.float32)    # [1, 3, 4]
  probs = jnp.array([[[.9, .1, .2, .6], [.1, .1, .1, .1], [.7, .2, .9, .9]]])
  mask = jnp.array([[1.0, 1.0, 0.0]])           # the last frame is padding
  out = {k: float(v) for k, v in task_lib.reconstruction_counts(probs, x, mask).items()}
  # frame 0: predicts keys 0, 3 (hit 0, miss 2, extra 3): 2 of 4 cells right; frame 1 all right
  assert out == {'key_right': 1.5, 'frame_right': 1.0, 'notes_hit': 1.0, 'notes_drawn': 2.0,
                 'notes_real': 2.0}


def _triads(g, n, keys):
  """``n`` frames of one root-position major or minor triad each, on a random root."""
  x = np.zeros((n, keys), np.float32)
  kinds = g.random(n) < 0.5
  roots = g.integers(0, keys - 7, n)
  for i in range(n):
    x[i, [roots[i] + j for j in ((0, 4, 7) if kinds[i] else (0, 3, 7))]] = 1
  return x


def _train_on_triads(seed=0, keys=24, filters=8, steps=250):
  model = cr.ChordReconstructor(keys=keys, filters=filters, activation='softmax', hidden=())
  params = model.init(jax.random.key(seed), jnp.zeros((1, 4, keys)))['params']
  tx = optax.adam(1e-2)
  opt = tx.init(params)

  @jax.jit
  def step(params, opt, x):
    loss, grads = jax.value_and_grad(
        lambda p: losses.frame_nll(model.apply({'params': p}, x), x).mean())(params)
    updates, opt = tx.update(grads, opt, params)
    return optax.apply_updates(params, updates), opt, loss

  g = np.random.default_rng(seed)
  init_params = params
  for _ in range(steps):
    params, opt, loss = step(params, opt, jnp.asarray(_triads(g, 128, keys).reshape(32, 4, keys)))
  return model, init_params, params, g


def _best_scores(kernel):
  """The best correlation of any filter with any major / minor triad template."""
  names, _ = chords.templates()
  scores = chords.match_scores(np.asarray(kernel).T)       # [filters, templates]
  kinds = np.array([k for k, _ in names])
  return scores[:, kinds == 'major'].max(), scores[:, kinds == 'minor'].max()


@pytest.fixture(scope='module')
def triad_model():
  return _train_on_triads()


def test_softmax_model_learns_to_reconstruct_triads(triad_model):
  model, init_params, params, g = triad_model
  x = jnp.asarray(_triads(g, 256, 24).reshape(64, 4, 24))
  def nll(p):
    return float(losses.frame_nll(model.apply({'params': p}, x), x).mean())
  marginal = float(losses.frame_nll(jnp.full(x.shape, np.log(3 / 21)), x).mean())
  assert nll(params) < 0.05 * marginal < nll(init_params)


@pytest.mark.xfail(strict=True, reason=(
    'measured: the log claims softmax filters become chord templates; on transposed root-position '
    'triads the best major/minor correlations after training are 0.74-0.93 over seeds and '
    'settings (8-32 filters, LSTM or none, hard argmax, a position-shared decoder), about what '
    'random filters reach (0.6-0.9): the filters form a distributed code, not templates'))
def test_softmax_filters_become_major_and_minor_triad_templates(triad_model):
  _, init_params, params, _ = triad_model
  assert max(_best_scores(init_params['filter_kernel'])) < 0.9     # chance does not pass
  major, minor = _best_scores(params['filter_kernel'])
  assert major >= 0.9 and minor >= 0.9


@pytest.mark.parametrize('key,value,match', [
    ('model.activation', 'relu', 'config.model.activation'),
    ('model.output', 'sigmoid', 'config.model.output'),
    ('sample.split', 'nowhere', 'config.sample.split'),
    ('sample.chop_max', 0, 'chop_min'),
    ('data.encoding', 'events', 'config.data.encoding'),
])
def test_bad_settings_are_refused_by_name(key, value, match):
  with pytest.raises(ValueError, match=match):
    task_lib.check_config(configs.load_config('chord_reconstruction:tiny', **{key: value}))


def test_tiny_config_trains_end_to_end_and_writes_the_filter_figure(tmp_path):
  from PIL import Image
  from dsjax.tasks import get_task
  from dsjax.train.loop import train_and_evaluate
  config = configs.load_config('chord_reconstruction:sigmoid,tiny', **{'train.quiet': True})
  workdir = str(tmp_path / 'run')
  out = train_and_evaluate(config, workdir)
  for split in ('valid', 'test'):
    assert out[f'{split}/frame_nll'] > 0 and out[f'{split}/marginal_nll'] > 0
    for k in ('key_acc', 'frame_acc', 'precision', 'recall', 'f1', 'filter_peak'):
      assert 0.0 <= out[f'{split}/{k}'] <= 1.0
  for step in (6, 12):
    step_dir = os.path.join(workdir, 'samples', f'step_{step:07d}')
    image = np.asarray(Image.open(os.path.join(step_dir, 'filters.png')))
    assert image.ndim == 3 and image.shape[1] > image.shape[0] // 2
    assert os.path.exists(os.path.join(step_dir, 'pianoroll.png'))
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    evals = [json.loads(line) for line in f if '"eval"' in line]
  assert [e['step'] for e in evals] == [6, 12]

  # the sampler: reconstructions of chopped real windows, the inputs shown beside them
  task = get_task(config)
  state = task.init(jax.random.key(0))
  sampler = task.sampler()
  rng = jax.random.key(3)
  out = sampler.sample(state, rng, 2, 16, mode='threshold')
  assert out.shape == (2, 16, 88) and out.dtype == np.uint8
  inputs = sampler.last_inputs
  np.testing.assert_array_equal(np.stack(sampler.real_rolls(2, 16)), inputs)
  want = np.asarray(jax.nn.sigmoid(task.logits(state['params'], jnp.asarray(inputs, jnp.float32))))
  np.testing.assert_array_equal(out, (want > 0.5).astype(np.uint8))
  # the inputs' chords are a run of a real piece's chords, each held 1..4 frames (chop_max 4)
  starts, lengths = task_lib.chord_runs(inputs[0][:np.flatnonzero(inputs[0].any(-1))[-1] + 1])
  assert lengths[:-1].max() <= 4                 # (the last may be cut by the window)
  # a figure per evaluation with the matcher's names
  kernel, matches, wins = task.filter_report(state['params'])
  assert kernel.shape == (12, 8) and len(matches) == 8 and wins.sum() == pytest.approx(1.0)
  assert task.eval_figures(state)['filters'].dtype == np.uint8
