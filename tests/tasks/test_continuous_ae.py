"""The continuous autoencoder task: its losses' gradients, its eval figures and its code walks."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import configs
from dsjax.models import continuous_ae as cae


@pytest.fixture(scope='module')
def task():
  from dsjax.tasks import get_task
  return get_task(configs.load_config('continuous_ae:tiny'))


@pytest.fixture(scope='module')
def state(task):
  return task.init(jax.random.key(0))


@pytest.fixture(scope='module')
def busy_state(state):
  """``state`` with the decision layer's bias at 0 (p near 1/2 per key), so that the decoded frames
  of an untrained model depend on its code (from the marginal bias they are nearly all empty)."""
  params = state['params']
  decision = {**params['decision'], 'bias': jnp.zeros_like(params['decision']['bias'])}
  return {**state, 'params': {**params, 'decision': decision}}


def _rows(task):
  batch = next(iter(task.train_data(0, 1)))
  return task._rows(batch)  # pylint: disable=protected-access


def test_quantized_reconstruction_trains_the_decoder_only(task, state):
  x = _rows(task)
  assert x.shape == (4, 3, 8, 88)                        # window 24 = K 3 x m 8

  @jax.jit
  def grads(params):
    def term(i):
      return jax.grad(lambda p: task.terms(p, x)[i].mean())(params)
    return term(1), term(0), term(2)    # L_rec^q, L_rec, L_con

  def norms(grads):
    return {k: float(sum(jnp.abs(g).sum() for g in jax.tree.leaves(v)))
            for k, v in grads.items()}
  g_q, g, g_con = (norms(g) for g in grads(state['params']))
  encoder = ('encoder', 'code')
  decoder = ('init_state', 'decoder', 'decision')
  assert sorted(g_q) == sorted(encoder + decoder)
  assert all(g_q[k] == 0.0 for k in encoder), g_q      # exactly zero: stop_gradient(q)
  assert all(g_q[k] > 0.0 for k in decoder), g_q
  assert all(g[k] > 0.0 for k in encoder + decoder), g  # L_rec reaches both
  assert all(g_con[k] > 0.0 for k in encoder), g_con    # L_con on c reaches the encoder
  assert all(g_con[k] == 0.0 for k in decoder), g_con


def test_a_train_step_returns_the_loss_of_its_terms(task, state):
  batch = next(iter(task.train_data(0, 1)))
  rows = task._rows(batch)  # pylint: disable=protected-access
  rec, rec_q, con, _, _ = jax.jit(task.terms)(state['params'], rows)
  _, metrics = jax.jit(task.train_step)(state, batch, jax.random.key(0))
  want = rec.mean() + rec_q.mean() + task.alpha * con.mean()
  np.testing.assert_allclose(float(metrics['loss']), float(want), rtol=1e-5)
  np.testing.assert_allclose(float(metrics['rec_nll']), float(rec.mean()), rtol=1e-5)


def test_eval_cuts_pieces_into_consecutive_subsequences(task, state):
  from dsjax.tasks.continuous_ae import EVAL_ROW
  (batch,) = task.eval_batches()['valid']
  valid = task.eval_sets['valid']
  n = int((valid.lengths // 8).sum())
  assert batch['subseqs'].shape[1:] == (EVAL_ROW, 8, 88) and batch['mask'].sum() == n
  assert len(batch['mask']) % int(task.config.data.eval_batch_size) == 0
  first = batch['subseqs'][0].reshape(-1, 88)[:int(batch['mask'][0].sum()) * 8]
  np.testing.assert_array_equal(first, valid[0][:len(first)])
  out = task.eval_summary({k: float(v) for k, v in jax.jit(task.eval_step)(state, batch).items()})
  assert out['subseqs'] == n
  assert 1 <= out['distinct_codes'] <= n and 1 / n <= out['top_code_share'] <= 1
  for k in ('key_acc', 'frame_acc', 'key_acc_q', 'frame_acc_q', 'note_recall', 'note_precision',
            'note_recall_q', 'note_precision_q'):
    assert 0.0 <= out[k] <= 1.0
  assert out['rec_nll'] > 0 and out['code_hamming'] >= 0


def test_code_counts_are_exact():
  from dsjax.tasks.continuous_ae import code_counts
  q = jnp.array([[0, .5, 1], [0, .5, 1], [1, 1, 1], [0, .5, 1], [1, 1, 1], [0, 0, 0]])
  distinct, share = code_counts(q, jnp.array([1, 1, 1, 1, 1, 0.]))
  assert float(distinct) == 2.0 and float(share) == pytest.approx(3 / 5)
  # against numpy's unique on random ternary codes, some rows invalid (an invalid row that equals
  # a valid one must not count)
  g = np.random.default_rng(0)
  q = g.integers(0, 3, (300, 4)) / 2.0
  valid = (g.random(300) < 0.8).astype(np.float32)
  _, counts = np.unique(q[valid > 0], axis=0, return_counts=True)
  distinct, share = code_counts(jnp.asarray(q, jnp.float32), jnp.asarray(valid))
  assert float(distinct) == len(counts)
  assert float(share) == pytest.approx(counts.max() / valid.sum())


def test_song_walk_without_flips_decodes_the_songs_own_codes(task, busy_state):
  state = busy_state
  sampler = task.sampler()
  rng = jax.random.key(5)
  out = sampler.sample(state, rng, 2, 20, walk='song', flips=0, mode='threshold')
  assert out.shape == (2, 20, 88) and out.dtype == np.uint8
  params = state['params']
  _, q = sampler.real_codes(params, jax.random.fold_in(rng, 1), 2, 3)
  _, k_decode = jax.random.split(rng)
  want = jax.jit(task.decode_free)(params, jnp.asarray(q), k_decode).reshape(2, -1, 88)[:, :20]
  np.testing.assert_array_equal(out, np.asarray(want, np.uint8))
  # with flips the codes, and so (for most codes) the music, change
  assert not np.array_equal(out, sampler.sample(state, rng, 2, 20, walk='song', flips=4, mode='threshold'))


def test_random_walk_starts_at_a_real_opening_and_options_are_checked(task, busy_state):
  state = busy_state
  sampler = task.sampler()
  rng = jax.random.key(7)
  out = sampler.sample(state, rng, 3, 24, walk='random', flips=0, mode='threshold')
  # flips=0: every code is the theme, so every bar is the decoded theme
  np.testing.assert_array_equal(out[:, :8], out[:, 8:16])
  np.testing.assert_array_equal(out[:, :8], out[:, 16:])
  frames, q = sampler.real_codes(state['params'], jax.random.fold_in(rng, 1), 3, 1)
  _, k_decode = jax.random.split(rng)
  theme = jax.jit(task.decode_free)(state['params'], jnp.asarray(q), k_decode)[:, 0]
  np.testing.assert_array_equal(out[:, :8], np.asarray(theme, np.uint8))
  assert frames.shape == (3, 8, 88)
  with pytest.raises(ValueError, match='config.sample.walk'):
    sampler.sample(state, rng, 1, 8, walk='drunk')
  with pytest.raises(ValueError, match='config.sample.flips'):
    sampler.sample(state, rng, 1, 8, flips=-1)
  # the generic option split sends --walk/--flips to sample(), --duration_steps to decoding
  from dsjax.tasks.base import split_sample_options
  sample, decode = split_sample_options(sampler, {'walk': 'song', 'flips': 3,
                                                  'duration_steps': 2})
  assert sample == {'walk': 'song', 'flips': 3} and decode == {'duration_steps': 2}
  notes = sampler.to_pieces(out[:1], duration_steps=2)[0].notes
  assert len(notes) == int(out[0].sum())


@pytest.mark.parametrize('key,value,match', [
    ('model.quantizer', 'binary', 'config.model.quantizer'),
    ('loss.alpha', -1.0, 'config.loss.alpha'),
    ('loss.continuity', 'cosine', 'config.loss.continuity'),
    ('data.window', 16, 'config.data.window'),
    ('data.window', 30, 'config.data.window'),
    ('model.arch', 'transformer', 'config.model.arch'),
    ('model.beta', 0.0, 'config.model.beta'),
    ('sample.walk', 'drunk', 'config.sample.walk'),
    ('sample.reset_prob', 1.5, 'config.sample.reset_prob'),
    ('sample.mode', 'nucleus', 'config.sample.mode'),
    ('data.transpose', 2, 'config.data.transpose'),
])
def test_bad_settings_are_refused_by_key(key, value, match):
  from dsjax.tasks.continuous_ae import check_config
  with pytest.raises(ValueError, match=match):
    check_config(configs.load_config('continuous_ae:tiny', **{key: value}))


def test_variants_set_the_logs_settings():
  c = configs.load_config('continuous_ae:cae2,tiny')
  assert (c.model.quantizer, c.loss.continuity, c.optim.grad_clip_norm) == ('sign', 'plain', 0)
  h = configs.load_config('continuous_ae:hourglass')
  assert (h.model.arch, h.loss.continuity, h.model.quantizer) == ('hourglass', 'mixed', 'sign')
  d = configs.load_config('continuous_ae')
  assert (d.model.quantizer, d.loss.continuity, d.data.transpose_to_c) == ('ternary', 'hinge', True)
  assert cae.levels(d.model.quantizer) == (0.0, 0.5, 1.0)


@pytest.mark.parametrize('variant', ['cae2,tiny', 'hourglass,tiny'])
def test_variants_train_walk_and_decode(variant, tmp_path):
  import glob
  from dsjax.train.loop import train_and_evaluate
  config = configs.load_config(f'continuous_ae:{variant}', **{
      'train.num_steps': 2, 'train.eval_every': 2, 'train.checkpoint_every': 2, 'sample.num': 1})
  final = train_and_evaluate(config, str(tmp_path / 'run'))
  for key in ('valid/rec_nll', 'valid/rec_q_nll', 'valid/code_hamming'):
    assert np.isfinite(final[key]), final
  assert glob.glob(str(tmp_path / 'run' / 'samples' / '*' / 'pianoroll.png'))


def test_melody_moves_skip_empty_steps():
  """A note struck again after a rest is a repeat; moves are counted between sounding steps."""
  from dsjax.tasks.continuous_ae import melody_moves
  r = np.zeros((1, 7, 12), np.uint8)
  for t, k in ((0, 5), (2, 5), (3, 7), (5, 3), (6, 4)):   # rep, up, down, up
    r[0, t, k] = 1
  assert melody_moves(r) == {'melody_up': 0.5, 'melody_down': 0.25, 'melody_rep': 0.25}
  assert melody_moves(np.zeros((2, 4, 12))) == {'melody_up': 0.0, 'melody_down': 0.0,
                                                'melody_rep': 0.0}
