"""SeqGAN: rollouts, rewards, the policy-gradient loss, discriminators and phase switching."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import seqgan as seqgan_config
from configs.common import override
from dsjax.models.language_models import EventLM
from dsjax.models.seqgan import CNNDiscriminator, LSTMDiscriminator
from dsjax.tasks import seqgan
VOCAB = 7


def _jit(fn):
  """``jax.jit`` with XLA's backend optimisations off: same values, half the compile time."""
  return jax.jit(fn, compiler_options={'xla_backend_optimization_level': 0})


@functools.lru_cache(maxsize=None)
def _generator():
  """A tiny event LSTM (vocab 7) with peaky conditionals (init x4), built once."""
  model = EventLM(vocab_size=VOCAB, embed_dim=4, hidden=(8,))
  params = _jit(model.init)({'params': jax.random.key(1)}, jnp.zeros((1, 2), jnp.int32))
  return model, jax.tree.map(lambda x: 4.0 * x, params['params'])


def _tokens(seed, shape):
  return jnp.asarray(np.random.default_rng(seed).integers(0, VOCAB, shape), jnp.int32)


def test_completion_keeps_prefix_exactly_and_samples_the_generator_after_it():
  model, params = _generator()
  rows = 20000
  given = jnp.array([1, 4, 0, 6, 5, 3], jnp.int32)
  first = jnp.full((rows,), 2, jnp.int32)
  prefix = jnp.broadcast_to(given, (rows, 6))
  lengths = jnp.array([5, 0, 2, 6]).repeat(rows // 4)  # rows [0, 5000) continue a 5-token prefix
  complete = _jit(functools.partial(seqgan.complete_sequences, model))
  out = np.asarray(complete(params, first, prefix, lengths, jax.random.key(7)))
  assert out.shape == (rows, 6) and out.dtype == np.int32
  assert np.all((out >= 0) & (out < VOCAB))
  for r in range(0, rows, 997):
    n = int(lengths[r])
    np.testing.assert_array_equal(out[r, :n], given[:n])
  # Token 5 after the 5-token prefix follows G(. | x_0, x_1..x_5): the prefix is fed, not skipped.
  logits, _ = _jit(model.apply)({'params': params},
                                jnp.array([[2, 1, 4, 0, 6, 5], [2, 6, 6, 6, 6, 6]]))
  probs = np.asarray(jax.nn.softmax(logits[:, -1]))
  freq = np.bincount(out[:rows // 4, 5], minlength=VOCAB) / (rows // 4)
  np.testing.assert_allclose(freq, probs[0], atol=0.025)
  assert np.abs(probs[1] - probs[0]).max() > 0.1  # another prefix: another conditional
  # Rows with no prefix are sampled from the start: not all equal to the given tokens.
  assert (out[rows // 4:rows // 2] != given).any(axis=1).mean() > 0.9
  # A generator that always predicts id 3: every position after the prefix is 3.
  forced = dict(params, head={'kernel': jnp.zeros_like(params['head']['kernel']),
                              'bias': jnp.full((VOCAB,), -1e4).at[3].set(1e4)})
  out = np.asarray(complete(forced, first, prefix, lengths, jax.random.key(3)))
  for r in range(0, rows, 997):
    n = int(lengths[r])
    np.testing.assert_array_equal(out[r, :n], given[:n])
    assert np.all(out[r, n:] == 3)


def test_rollouts_and_rewards():
  """Completions keep their prefix; Q(T) = D(x); Q(t < T) = mean of D over the rollouts."""
  model, params = _generator()
  disc = CNNDiscriminator(vocab_size=VOCAB, embed_dim=4, filter_widths=(2, 3), num_filters=(3, 3))
  first, tokens = _tokens(4, (3,)), _tokens(5, (3, 7))
  np.testing.assert_array_equal(seqgan.rollout_lengths(5, 1), [1, 2, 3, 4])
  lengths = seqgan.rollout_lengths(7, 2)
  np.testing.assert_array_equal(lengths, [2, 4, 6])
  with pytest.raises(ValueError, match='rollout_stride'):
    seqgan.rollout_lengths(5, 0)
  first_only = lambda t: jnp.where(t[:, 0] == tokens[0, 0], 2.0, -1.0)  # noqa: E731

  @_jit
  def run(p, k):
    d_params = disc.init({'params': jax.random.key(1)}, tokens)['params']
    d_fn = lambda t: disc.apply({'params': d_params}, t)  # noqa: E731
    rewards = seqgan.mc_rewards(model, p, d_fn, first, tokens, k, num_rollouts=5, stride=2)
    done = seqgan.rollout_completions(model, p, first, tokens, k, 5, lengths)
    rewards_first = seqgan.mc_rewards(model, p, first_only, first, tokens, k, 5, stride=1)
    return rewards, done, d_fn(tokens), d_fn(done.reshape(-1, 7)), rewards_first

  rewards, done, d_tokens, d_done, rewards_first = run(params, jax.random.key(9))
  assert done.shape == (3, 5, 3, 7)
  for k, n in enumerate(lengths):
    np.testing.assert_array_equal(done[k, :, :, :n], np.broadcast_to(tokens[:, :n], (5, 3, n)))
  assert len({tuple(np.asarray(done[0, i, 0])) for i in range(5)}) > 1  # rollouts differ
  assert rewards.shape == (3, 7)
  np.testing.assert_allclose(rewards[:, -1], jax.nn.sigmoid(d_tokens), rtol=1e-6)
  # stride 2: tokens 1, 2 share Q(2); 3, 4 share Q(4); 5, 6 share Q(6); token 7 gets D(x)
  q = np.asarray(jax.nn.sigmoid(d_done)).reshape(3, 5, 3).mean(1).T  # [B, K]
  np.testing.assert_allclose(rewards[:, :6], q.repeat(2, axis=1), rtol=1e-5)
  # a discriminator that reads only token 1, which every completion keeps: all rewards = D(x)
  np.testing.assert_allclose(
      rewards_first, np.broadcast_to(jax.nn.sigmoid(first_only(tokens))[:, None], (3, 7)),
      rtol=1e-6)


def test_rewards_with_a_stride_share_the_next_estimate():
  values = jnp.array([[0.1, 0.2], [0.3, 0.4]])  # at prefix lengths 2 and 4, batch 2
  final = jnp.array([0.9, 0.8])
  r = seqgan.rewards_from_values(values, final, np.array([2, 4]), 6)
  np.testing.assert_allclose(r, [[0.1, 0.1, 0.3, 0.3, 0.9, 0.9], [0.2, 0.2, 0.4, 0.4, 0.8, 0.8]])
  r = seqgan.rewards_from_values(values, final, np.array([2, 4]), 5)
  np.testing.assert_allclose(r, [[0.1, 0.1, 0.3, 0.3, 0.9], [0.2, 0.2, 0.4, 0.4, 0.8]])


def test_policy_gradient_on_logits_is_minus_reward_times_grad_log_p():
  """d/dlogits of -mean(r * log softmax(logits)[x]) = -(r / (B T)) (onehot(x) - softmax)."""
  logits = np.random.default_rng(0).normal(size=(2, 3, 4)).astype(np.float32)
  tokens = np.array([[0, 3, 1], [2, 2, 0]])
  mask = np.array([[1., 1., 0.], [1., 0., 0.]], np.float32)

  def logp_of(lg):
    return jnp.take_along_axis(jax.nn.log_softmax(lg), tokens[..., None], -1)[..., 0]

  def loss(lg):
    rewards = jax.nn.sigmoid(lg.sum(-1))  # depends on lg, but rewards are constants to the loss
    return seqgan.policy_gradient_loss(logp_of(lg), rewards)

  got, masked, logp = _jit(lambda lg: (
      jax.grad(loss)(lg),
      seqgan.policy_gradient_loss(logp_of(lg), jax.nn.sigmoid(lg.sum(-1)), mask),
      logp_of(lg)))(logits)
  r = 1 / (1 + np.exp(-logits.sum(-1)))
  softmax = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
  want = -(r / 6.0)[..., None] * (np.eye(4)[tokens] - softmax)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
  # with a mask the mean is over the real tokens only
  np.testing.assert_allclose(masked, -(r * np.asarray(logp) * mask).sum() / 3.0, rtol=1e-5)


def test_policy_gradient_through_the_generator_matches_per_token_gradients():
  model, params = _generator()
  first, tokens = _tokens(10, (2,)), _tokens(11, (2, 4))
  rewards = jnp.array([[0.2, 0.9, 0.4, 0.7], [0.6, 0.1, 0.5, 0.3]])
  log_probs = lambda p: seqgan.sequence_log_probs(model, p, first, tokens)  # noqa: E731
  inputs = jnp.concatenate([first[:, None], tokens[:, :-1]], 1)
  got, jac, logp, logits = _jit(lambda p: (
      jax.grad(lambda q: seqgan.policy_gradient_loss(log_probs(q), rewards))(p),
      jax.jacrev(log_probs)(p), log_probs(p), model.apply({'params': p}, inputs)[0]))(params)
  r = np.asarray(rewards)
  for g, j in zip(jax.tree.leaves(got), jax.tree.leaves(jac)):
    np.testing.assert_allclose(g, -np.tensordot(r, np.asarray(j), axes=2) / r.size, rtol=1e-4,
                               atol=1e-7)
  # and log p is the teacher-forced log-softmax of the next token
  logits = np.asarray(logits, np.float64)
  log_softmax = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
  np.testing.assert_allclose(logp, np.take_along_axis(log_softmax, np.asarray(tokens)[..., None],
                                                      -1)[..., 0], rtol=1e-5)


def test_discriminator_loss_values():
  real, fake = jnp.array([2.0, -1.0]), jnp.array([-3.0, 0.5])
  loss, stats = seqgan.discriminator_loss(real, fake)
  want = 0.5 * (np.mean(np.log1p(np.exp(-np.array([2.0, -1.0]))))
                + np.mean(np.log1p(np.exp(np.array([-3.0, 0.5])))))
  np.testing.assert_allclose(loss, want, rtol=1e-6)
  np.testing.assert_allclose(stats['d_accuracy'], 0.5)


@pytest.mark.parametrize('kind', ['cnn', 'lstm'])
def test_discriminators_give_one_logit_and_ignore_padding(kind):
  if kind == 'cnn':
    disc = CNNDiscriminator(vocab_size=VOCAB, embed_dim=4, filter_widths=(1, 2, 3),
                            num_filters=(2, 3, 4), highway_layers=2)
  else:
    disc = LSTMDiscriminator(vocab_size=VOCAB, embed_dim=4, hidden=(5, 6))
  tokens = _tokens(12, (3, 6))
  mask = jnp.array([[1, 1, 1, 1, 0, 0], [1] * 6, [1] * 6], jnp.float32)
  padded = tokens.at[0, 4:].set(jnp.array([5, 6]))

  @_jit
  def run(key):
    p = disc.init({'params': key}, tokens)['params']
    apply = functools.partial(disc.apply, {'params': p})
    return (apply(tokens), apply(padded, mask), apply(tokens[:1, :4]),
            apply(tokens, deterministic=False, rngs={'dropout': jax.random.key(1)}))

  logits, a, b, dropped = run(jax.random.key(0))
  assert logits.shape == (3,)
  # row 0 has 4 real tokens: its logit is that of the 4-token sequence, whatever the padding
  np.testing.assert_allclose(a[0], b[0], rtol=1e-5)
  np.testing.assert_allclose(a[1:], logits[1:], rtol=1e-5)
  # dropout is active only when asked
  assert not np.allclose(dropped, logits)


def test_cnn_discriminator_rejects_widths_longer_than_the_sequence():
  disc = CNNDiscriminator(vocab_size=VOCAB, filter_widths=(2, 9), num_filters=(3, 3))
  with pytest.raises(ValueError, match='longer than the sequences'):
    disc.init({'params': jax.random.key(0)}, jnp.zeros((1, 5), jnp.int32))


# ------------------------------------------------------------------------------------------------
# The task: phases by step.


def _config(**overrides):
  c = seqgan_config.get_config('tiny')
  c.data.source = 'jsb_chorales'    # bundled, no music21 parsing
  c.data.max_pieces = 6
  c.data.window = 8
  c.data.batch_size = 4
  c.discriminator.filter_widths = (2, 3)
  c.discriminator.num_filters = (4, 4)
  c.seqgan.pretrain_steps = 2
  c.seqgan.d_pretrain_steps = 2
  c.seqgan.d_steps = 1
  c.train.num_steps = 7
  return override(c, overrides)


def _same(a, b):
  return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def test_phases_switch_at_the_configured_steps():
  from dsjax.tasks.seqgan import SeqGANTask
  task = SeqGANTask(_config())
  data = task.train_data(0, 1)
  step_fn = _jit(task.train_step)
  state = _jit(task.init)(jax.random.key(0))
  phases = []
  for i in range(7):
    old = jax.device_get(state)
    state, m = step_fn(state, next(data), jax.random.key(100 + i))
    new, m = jax.device_get(state), jax.device_get(m)
    phases.append(int(m['phase']))
    assert int(new['step']) == i + 1
    g_changed = not _same(old['params']['generator'], new['params']['generator'])
    d_changed = not _same(old['params']['discriminator'], new['params']['discriminator'])
    if i < 2:    # MLE: only G; the rollout copy follows G
      assert g_changed and not d_changed
      assert _same(new['rollout_params'], new['params']['generator'])
      assert not _same(old['opt_state']['generator'], new['opt_state']['generator'])
      assert _same(old['pg_opt_state'], new['pg_opt_state'])
      assert m['mle_loss'] > 0 and m['loss'] == m['mle_loss'] and m['d_loss'] == 0
    elif i < 4:  # discriminator pre-training: only D
      assert d_changed and not g_changed
      assert _same(old['opt_state']['generator'], new['opt_state']['generator'])
      assert _same(old['pg_opt_state'], new['pg_opt_state'])
      assert _same(old['rollout_params'], new['rollout_params'])
      assert m['d_loss'] > 0 and m['pg_loss'] == 0 and m['loss'] == m['d_loss']
    else:        # adversarial: G by policy gradient, D, and the delayed rollout generator
      assert g_changed and d_changed
      assert _same(old['opt_state']['generator'], new['opt_state']['generator'])  # the PG optimizer has its own moments
      assert not _same(old['pg_opt_state'], new['pg_opt_state'])
      want = jax.tree.map(lambda r, p: 0.8 * r + 0.2 * p, old['rollout_params'], new['params']['generator'])
      for a, b in zip(jax.tree.leaves(new['rollout_params']), jax.tree.leaves(want)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
      assert not _same(new['rollout_params'], new['params']['generator'])
      assert 0 < m['mean_reward'] < 1 and m['pg_loss'] != 0 and m['loss'] == m['pg_loss']
    assert all(np.isfinite(v) for v in m.values())
  assert phases == [0, 0, 1, 1, 2, 2, 2]
  data.close()


def test_bad_settings_fail_with_the_config_key():
  from dsjax.tasks.seqgan import SeqGANTask
  with pytest.raises(ValueError, match='config.discriminator.filter_widths'):
    SeqGANTask(_config(**{'data.window': 4, 'discriminator.filter_widths': (2, 5)}))
  with pytest.raises(ValueError, match='rollout_update_rate'):
    SeqGANTask(_config(**{'seqgan.rollout_update_rate': 1.5}))
  with pytest.raises(ValueError, match='reward_baseline'):
    SeqGANTask(_config(**{'seqgan.reward_baseline': 'mean'}))


def test_each_optimiser_schedule_spans_its_own_phase():
  """Linear decay to 0: the MLE rate reaches 0 at the end of pre-training, the policy-gradient rate
  runs over the adversarial steps from the full rate, the discriminator's over its pre-training
  plus d_steps per adversarial step; the logged rates are those, and the applied PG rate is it."""
  from dsjax.tasks.seqgan import SeqGANTask
  lin = dict(schedule='linear', final_fraction=0.0, warmup_steps=0)
  task = SeqGANTask(_config(**{'optim.learning_rate': 1.0, **{f'optim.{k}': v
                                                             for k, v in lin.items()},
                               'd_optim.learning_rate': 1.0, 'd_optim.schedule': 'linear',
                               'seqgan.d_steps': 2, 'seqgan.g_lr_scale': 0.5,
                               'train.num_steps': 10}))
  # pretrain 2, d-pretrain 2, adversarial 6; D updates: 2 + 6 * 2 = 14
  rates = [task.learning_rates(s) for s in range(10)]
  assert [r['lr'] for r in rates[:4]] == [1.0, 0.5, 0.0, 0.0]
  np.testing.assert_allclose([r['lr'] for r in rates[4:]], 0.5 * (1 - np.arange(6) / 6),
                             rtol=1e-6)
  np.testing.assert_allclose([r['d_lr'] for r in rates],
                             [0, 0, 1, 1 - 1 / 14] + [1 - (2 + 2 * k) / 14 for k in range(6)],
                             rtol=1e-6, atol=1e-7)
  # the policy-gradient optimiser starts its own count at the first adversarial step
  state = _jit(task.init)(jax.random.key(0))
  assert int(optax_count(state['pg_opt_state'])) == 0
  data = task.train_data(0, 1)
  step_fn = _jit(task.train_step)
  for i in range(5):
    state, _ = step_fn(state, next(data), jax.random.key(i))
  data.close()
  assert int(optax_count(state['pg_opt_state'])) == 1 and int(optax_count(state['opt_state']['generator'])) == 2


def optax_count(opt_state):
  """The update count of an (optionally chained / clipped) optax Adam state."""
  counts = [x for path, x in jax.tree_util.tree_flatten_with_path(opt_state)[0]
            if 'count' in jax.tree_util.keystr(path)]
  return counts[0]
