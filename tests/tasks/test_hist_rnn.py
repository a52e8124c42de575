"""Hist-RNN conditions (log 10/16), conditioned sampling, and the frozen skip-gram embedding."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dsjax.data import keys as keys_lib
from dsjax.tasks import conditions
from tests.train.test_train import load_config


def _np_window_stats(ids, n, span):
  """The original's per-position statistics, written out with loops (reference)."""
  out = np.zeros((len(ids), 32))
  for t in range(len(ids)):
    start = min(max(t - span // 2, 0), max(n - span, 0))
    win = ids[start:min(start + span, n)]
    ons = win[win < 128]
    if len(ons):
      v = np.clip(ons.mean() / 10, 5, 9)
      out[t, int(np.round((v - 5) / 4 * 9))] = 1
      out[t, 20:] = np.bincount(ons % 12, minlength=12) / len(ons)
    d = np.clip(len(ons) / span * 10, 1, 2)
    out[t, 10 + int(np.round((d - 1) * 9))] = 1
  return out


def test_window_stats_match_the_written_out_definition():
  g = np.random.default_rng(0)
  ids = g.integers(0, 363, (3, 40))
  ids[:, ::3] = g.integers(40, 90, (3, 14))         # plenty of note-ons
  valid = np.ones((3, 40))
  valid[1, 25:] = 0                                 # a padded row
  got = np.asarray(conditions.window_stats(jnp.asarray(ids), jnp.asarray(valid), span=8))
  for b in range(3):
    n = int(valid[b].sum())
    np.testing.assert_allclose(got[b, :n], _np_window_stats(ids[b], n, 8)[:n], atol=1e-6)


def test_window_stats_known_values():
  # note-ons of pitches 60, 64, 67 among 10 events: mean 63.67 -> 6.367 -> bin round(3.075) = 3;
  # density 3 / 10 * 10 = 3 -> clipped to 2 -> bin 9; histogram C, E, G = 1/3 each.
  ids = np.array([[60, 300, 64, 300, 67, 188, 192, 195, 300, 300]])
  s = np.asarray(conditions.window_stats(jnp.asarray(ids), jnp.ones((1, 10)), span=10))[0, 4]
  assert np.argmax(s[:10]) == 3 and s[:10].sum() == 1
  assert np.argmax(s[10:20]) == 9 and s[10:20].sum() == 1
  np.testing.assert_allclose(s[20:], np.eye(12)[[0, 4, 7]].sum(0) / 3, atol=1e-7)
  # no notes: pitch bin and histogram stay zero, density clipped up to 1 -> bin 0
  s = np.asarray(conditions.window_stats(jnp.full((1, 10), 300), jnp.ones((1, 10)), span=10))[0, 0]
  np.testing.assert_array_equal(s, np.eye(32)[10])


def test_sharpen_and_key_histograms():
  h = np.array([0.5, 0.25, 0.25] + [0.0] * 9, np.float32)
  np.testing.assert_allclose(conditions.sharpen(h, 0.05), np.exp(h / 0.05) / np.exp(h / 0.05).sum(),
                             rtol=1e-5)
  np.testing.assert_array_equal(conditions.sharpen(h, 0.0), h)
  np.testing.assert_allclose(conditions.key_histogram('C major'),
                             np.array([2, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1]) / 8)
  # d natural minor: D E F G A Bb C, tonic D doubled
  np.testing.assert_allclose(conditions.key_histogram('D minor'),
                             np.array([1, 0, 2, 0, 1, 1, 0, 1, 0, 1, 1, 0]) / 8)
  with pytest.raises(ValueError, match='not a note name'):
    conditions.key_histogram('H major')


def test_hist_batches_carry_their_pieces_histograms():
  from dsjax.tasks import get_task
  task = get_task(load_config('hist_rnn'))
  hists = task.piece_histograms('train')
  for i in (0, 5):
    np.testing.assert_allclose(hists[i], keys_lib.event_pitch_class_histogram(task.train_set[i]),
                               atol=1e-7)
  data = task.train_data(0, 1)
  batch = next(data)
  data.close()
  piece_ids, _ = data.sampler.draw(0)
  np.testing.assert_array_equal(batch['condition'], hists[piece_ids])
  assert set(batch) == {'inputs', 'targets', 'mask', 'condition'}
  for split, batches in task.eval_batches().items():
    ph = task.piece_histograms(split)
    for b in batches:
      real = b['seq_ids'] >= 0
      np.testing.assert_array_equal(b['condition'][real], ph[b['seq_ids'][real]])
      assert not b['condition'][~real].any()


def test_patch_hist_is_the_histogram_of_the_window():
  from dsjax.tasks import get_task
  task = get_task(load_config('hist_rnn', 'tiny,patch_hist,tau05'))
  data = task.train_data(0, 1)
  batch = next(data)
  data.close()
  batch['mask'][1, 10:] = 0      # a padded tail is not counted
  cond = np.asarray(task.batch_condition(jax.tree.map(jnp.asarray, batch)))
  assert cond.shape == batch['inputs'].shape + (12,)
  for b in range(2):
    n = int(batch['mask'][b].sum())
    window = np.concatenate([batch['inputs'][b, :1], batch['targets'][b, :n]])
    want = keys_lib.sharpen_histogram(keys_lib.event_pitch_class_histogram(window), 0.05)
    np.testing.assert_allclose(cond[b], np.broadcast_to(want, cond[b].shape), atol=1e-5)


def test_conditioned_greedy_sample_is_argmax_of_the_conditioned_forward():
  from dsjax.tasks import get_task
  task = get_task(load_config('hist_rnn', 'tiny,tau01'))
  state = task.init(jax.random.key(0))
  hist = task.sampler().condition_from_key('D minor')
  out = task.sampler().sample(state, jax.random.key(1), 2, 12, primer=4, temperature=1e-6, condition=hist)
  cond = jnp.broadcast_to(conditions.sharpen(jnp.asarray(hist), 0.01), (2, 15, 12))
  logits, _ = task.model.apply({'params': state['params']}, jnp.asarray(out[:, :-1]),
                               condition=cond)
  np.testing.assert_array_equal(out[:, 4:], np.asarray(jnp.argmax(logits, -1))[:, 3:])
  # the condition reaches the model: another key changes the logits
  other = jnp.broadcast_to(conditions.sharpen(jnp.asarray(task.sampler().condition_from_key('F# major')),
                                            0.01), (2, 15, 12))
  logits2, _ = task.model.apply({'params': state['params']}, jnp.asarray(out[:, :-1]),
                                condition=other)
  assert np.abs(np.asarray(logits2 - logits)).max() > 1e-4
  with pytest.raises(ValueError, match='expected \\[12\\]'):
    task.sampler().sample(state, jax.random.key(1), 2, 4, condition=np.ones(5))


def test_baseline_refuses_a_condition():
  from dsjax.tasks import get_task
  task = get_task(load_config('baseline_lstm'))
  with pytest.raises(ValueError, match='has no condition'):
    task.sampler().condition_from_key('C major')
  state = task.init(jax.random.key(0))
  with pytest.raises(ValueError, match='has no condition'):
    task.sampler().sample(state, jax.random.key(1), 1, 4, condition=np.ones(12))


def test_frozen_skipgram_embedding_is_loaded_and_stays_fixed(skipgram_workdir, tmp_path):
  """The event LM starts from a skip-gram run's table (a workdir trained before, read as data)."""
  from dsjax.tasks import get_task
  task = get_task(load_config('baseline_lstm_skipgram',
                              **{'model.embedding_from': skipgram_workdir}))
  from dsjax.train.loop import restore_for_inference
  _, _, sg_state, _ = restore_for_inference(skipgram_workdir)
  table = np.asarray(sg_state['params']['embed']['embedding'])
  state = jax.jit(task.init)(jax.random.key(0))
  np.testing.assert_array_equal(np.asarray(state['params']['embed']['embedding']), table)
  data = task.train_data(0, 1)
  step = jax.jit(task.train_step)
  new = state
  for i in range(2):
    new, _ = step(new, next(data), jax.random.key(i))
  data.close()
  np.testing.assert_array_equal(np.asarray(new['params']['embed']['embedding']), table)
  assert np.abs(np.asarray(new['params']['head']['kernel'] -
                           state['params']['head']['kernel'])).max() > 0
  # shapes that differ, and a missing workdir, fail clearly
  with pytest.raises(ValueError, match='embedding shape'):
    get_task(load_config('baseline_lstm_skipgram', **{'model.embed_dim': 8,
                                                      'model.embedding_from': skipgram_workdir}))
  with pytest.raises(FileNotFoundError, match='no skip-gram run there'):
    get_task(load_config('baseline_lstm_skipgram', **{'model.embedding_from': '/nonexistent/sg'}))
  # A config file named there is a path like any other: it is never run.
  marker = tmp_path / 'ran'
  script = tmp_path / 'skipgram.py'
  script.write_text(f'open({str(marker)!r}, "w").close()\n'
                    'def get_config(arg=None):\n  raise SystemExit(1)\n')
  for spec in (str(script), f'{script}:tiny'):
    with pytest.raises(FileNotFoundError, match='no skip-gram run there'):
      get_task(load_config('baseline_lstm_skipgram', **{'model.embedding_from': spec}))
  assert not marker.exists()
