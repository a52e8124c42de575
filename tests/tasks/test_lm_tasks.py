"""The language-model tasks' samplers agree with a full forward pass over what they produced."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from tests.train.test_train import load_config


def test_event_lm_greedy_sample_is_argmax_of_full_forward():
  from dsjax.tasks import get_task
  task = get_task(load_config('baseline_lstm'))
  state = task.init(jax.random.key(0))
  out = task.sampler().sample(state, jax.random.key(1), 3, 20, primer=5, temperature=1e-6)
  assert out.shape == (3, 25) and out.dtype == np.int32
  assert out.min() >= 0 and out.max() < task.vocab.size
  logits, _ = task.model.apply({'params': state['params']}, jnp.asarray(out[:, :-1]))
  greedy = np.asarray(jnp.argmax(logits, -1))
  np.testing.assert_array_equal(out[:, 5:], greedy[:, 4:])
  # the primer is the opening of real training pieces
  openings = {tuple(task.train_set[i][:5]) for i in range(len(task.train_set))}
  assert all(tuple(row[:5]) in openings for row in out)


def test_event_lm_bfloat16_sampler_follows_the_model():
  """matmul_dtype=bfloat16 (a faster sampler): greedy decoding still picks the full forward pass's
  argmax wherever the top two logits are not within bf16 rounding; a bad dtype names the key."""
  import pytest
  from dsjax.tasks import get_task
  task = get_task(load_config('baseline_lstm'))
  state = task.init(jax.random.key(0))
  out = task.sampler().sample(state, jax.random.key(1), 3, 20, primer=5, temperature=1e-6,
                    matmul_dtype='bfloat16')
  logits, _ = task.model.apply({'params': state['params']}, jnp.asarray(out[:, :-1]))
  top2 = np.sort(np.asarray(logits[:, 4:]), -1)[..., -2:]
  clear = (top2[..., 1] - top2[..., 0]) > 1e-2
  greedy = np.asarray(jnp.argmax(logits, -1))[:, 4:]
  assert clear.mean() > 0.2
  np.testing.assert_array_equal(out[:, 5:][clear], greedy[clear])
  with pytest.raises(ValueError, match='sample.matmul_dtype'):
    task.sampler().sample(state, jax.random.key(1), 1, 4, primer=2, matmul_dtype='float16')


def test_pianoroll_threshold_sample_matches_full_forward():
  from dsjax.tasks import get_task
  task = get_task(load_config('pianoroll_lstm'))
  state = task.init(jax.random.key(0))
  out = task.sampler().sample(state, jax.random.key(1), 2, 12, primer=3, mode='threshold', threshold=0.5,
                    max_sustain=0, noise=0.0)
  assert out.shape == (2, 15, 88) and set(np.unique(out)) <= {0, 1}
  logits, _ = task.model.apply({'params': state['params']}, jnp.asarray(out[:, :-1], jnp.float32))
  expected = (np.asarray(jax.nn.sigmoid(logits)) > 0.5).astype(np.uint8)
  np.testing.assert_array_equal(out[:, 3:], expected[:, 2:])


def test_pianoroll_max_sustain_limits_held_keys():
  from dsjax.tasks import get_task
  task = get_task(load_config('pianoroll_lstm'))
  state = task.init(jax.random.key(0))
  # threshold 0 turns every key on: with max_sustain=3 no key may sound 4 frames running
  out = task.sampler().sample(state, jax.random.key(1), 1, 30, primer=1, mode='threshold', threshold=-1.0,
                    max_sustain=3, noise=0.0)[0, 1:]
  run = np.zeros(88, int)
  longest = 0
  for frame in out:
    run = np.where(frame > 0, run + 1, 0)
    longest = max(longest, run.max())
  assert longest == 3


def test_event_lm_ema_is_updated_and_used_for_eval_and_sampling():
  """optim.ema_decay > 0: the state keeps ``ema_params = d * ema + (1 - d) * params`` after each
  update, and evaluation and sampling read the average, not the raw parameters."""
  from dsjax.tasks import get_task
  task = get_task(load_config('baseline_lstm', **{'optim.ema_decay': 0.5}))
  state = task.init(jax.random.key(0))
  assert set(state) == {'params', 'opt_state', 'ema_params'}
  batch = next(iter(task.train_data(0, 1)))
  batch = {k: jnp.asarray(v) for k, v in batch.items()}
  new, _ = jax.jit(task.train_step)(state, batch, jax.random.key(2))
  expect = jax.tree.map(lambda e, p: 0.5 * e + 0.5 * p, state['ema_params'], new['params'])
  for a, b in zip(jax.tree.leaves(new['ema_params']), jax.tree.leaves(expect)):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
  assert any(not np.allclose(a, b) for a, b in zip(jax.tree.leaves(new['ema_params']),
                                                    jax.tree.leaves(new['params'])))
  # eval with the average: the same as eval of a state whose params are the average
  swapped = dict(new, params=new['ema_params'])
  plain = get_task(load_config('baseline_lstm'))
  np.testing.assert_allclose(float(task.eval_step(new, batch)['nll_sum']),
                             float(plain.eval_step(swapped, batch)['nll_sum']), rtol=1e-6)
  assert float(task.eval_step(new, batch)['nll_sum']) != float(plain.eval_step(new, batch)['nll_sum'])
  a = task.sampler().sample(new, jax.random.key(3), 2, 12, primer=2, temperature=1e-6)
  b = plain.sampler().sample(swapped, jax.random.key(3), 2, 12, primer=2, temperature=1e-6)
  np.testing.assert_array_equal(a, b)


def test_tasks_without_an_average_refuse_ema_decay():
  import pytest

  from dsjax.tasks import get_task
  for name in ('gan_lstm_cnn', 'skipgram', 'seqgan'):
    with pytest.raises(ValueError, match=r'config.optim.ema_decay=0.9: \w+Task keeps no average'):
      get_task(load_config(name, **{'optim.ema_decay': 0.9}))
