"""The seam between the loop and the tasks: the state schema, the loop's own metrics, whole eval
batches, the profiler window, and configs that load without JAX."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax

import configs

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_init_train_state_one_network_and_several():
  from dsjax.optim import init_train_state
  params = {'w': jnp.ones((2, 3))}
  tx = optax.adam(1e-3)
  state = init_train_state(params, tx, 0.0, extra=jnp.zeros(()))
  assert set(state) == {'params', 'opt_state', 'extra'}
  assert jax.tree.structure(state['opt_state']) == jax.tree.structure(tx.init(params))
  assert 'ema_params' in init_train_state(params, tx, 0.9)
  nets = {'generator': {'w': jnp.ones(2)}, 'critic': {'v': jnp.ones(3)}}
  txs = {'generator': optax.adam(1e-3), 'critic': optax.sgd(1e-2, momentum=0.9)}
  state = init_train_state(nets, txs)
  for name in nets:
    want = txs[name].init(nets[name])
    assert jax.tree.structure(state['opt_state'][name]) == jax.tree.structure(want)


def test_loop_step_adds_exact_param_and_update_norms():
  """``param_norm`` is the global norm of the new params, ``update_norm`` that of new - old; the
  task's own metrics pass through unchanged."""
  from dsjax.train.loop import train_step_fn
  old = {'params': {'a': jnp.array([3.0, 0.0]), 'b': jnp.array([[1.0]])}, 'count': jnp.int32(0)}

  def task_step(state, batch, rng):
    del rng
    params = jax.tree.map(lambda p: p + batch['delta'], state['params'])
    return dict(state, params=params, count=state['count'] + 1), {'loss': jnp.float32(7.0)}

  step = jax.jit(train_step_fn(task_step, jax.random.key(0)))
  new, metrics = step(old, {'delta': jnp.float32(1.0)}, jnp.int32(0))
  # new params: a = [4, 1], b = [[2]] -> norm sqrt(16 + 1 + 4); the update is 1 in 3 places.
  np.testing.assert_allclose(float(metrics['param_norm']), np.sqrt(21.0), rtol=1e-6)
  np.testing.assert_allclose(float(metrics['update_norm']), np.sqrt(3.0), rtol=1e-6)
  assert float(metrics['loss']) == 7.0 and int(new['count']) == 1


def test_logged_norms_match_the_checkpointed_params(tmp_path):
  """On a real run, the logged param_norm of the last step is the norm of the saved params."""
  from dsjax.train.loop import restore_for_inference, train_and_evaluate
  config = configs.load_config('pianoroll_lstm:tiny', **{
      'train.quiet': True, 'train.log_every_step_to_json': True, 'sample.num': 0,
      'train.eval_every': 0})
  workdir = str(tmp_path / 'run')
  train_and_evaluate(config, workdir)
  records = [json.loads(line) for line in open(os.path.join(workdir, 'metrics.jsonl'))]
  last = [r for r in records if 'split' not in r and r['step'] == config.train.num_steps][0]
  _, _, state, _ = restore_for_inference(workdir)
  np.testing.assert_allclose(last['param_norm'], float(optax.tree.norm(state['params'])),
                             rtol=1e-6)
  assert last['update_norm'] > 0


def test_eval_batches_reach_the_task_whole(tmp_path):
  """A key the generic loop knows nothing of (``seq_ids``) reaches ``eval_step``."""
  from dsjax.train.loop import Trainer
  config = configs.load_config('baseline_lstm:tiny', **{'train.quiet': True, 'sample.num': 0})
  trainer = Trainer(config, str(tmp_path / 'run'))
  seen = []
  original = trainer.task.eval_step

  def eval_step(state, batch):
    seen.append(sorted(batch))
    out = dict(original(state, batch))
    out['pieces'] = (batch['seq_ids'] >= 0).sum()
    return out

  trainer._eval = jax.jit(eval_step)  # pylint: disable=protected-access
  summary = trainer.task.eval_summary
  trainer.task.eval_summary = lambda sums: dict(summary(sums), rows=sums['pieces'])
  batches = trainer.task.eval_batches()
  metrics = trainer.evaluate(trainer.fresh_state(), batches)
  assert 'seq_ids' in seen[0] and 'starts' in seen[0]
  for split, split_batches in batches.items():
    real_rows = sum(int((b['seq_ids'] >= 0).sum()) for b in split_batches)
    assert metrics[f'{split}/rows'] == real_rows > 0


def test_profile_steps_write_a_trace_into_the_workdir(tmp_path, monkeypatch):
  """The trace covers steps 2..1+N of the run (not the compiling first step) and is written."""
  from dsjax.train import loop
  calls = []
  trainers = []
  start, stop = jax.profiler.start_trace, jax.profiler.stop_trace
  monkeypatch.setattr(jax.profiler, 'start_trace', lambda d: (calls.append(
      ('start', trainers[0].run.step)), start(d)))
  monkeypatch.setattr(jax.profiler, 'stop_trace', lambda: (calls.append(
      ('stop', trainers[0].run.step)), stop()))
  config = configs.load_config('skipgram:tiny', **{'train.quiet': True, 'train.profile_steps': 3})
  workdir = str(tmp_path / 'run')
  trainer = loop.Trainer(config, workdir)
  trainers.append(trainer)
  trainer.train()
  assert calls == [('start', 1), ('stop', 4)]       # before step 2, after step 4
  traces = glob.glob(os.path.join(workdir, 'tensorboard', 'plugins', 'profile', '*', '*.xplane.pb'))
  assert traces and os.path.getsize(traces[0]) > 0


def test_a_run_that_fails_inside_the_profile_window_stops_the_trace(tmp_path, monkeypatch):
  from dsjax.train import loop
  config = configs.load_config('skipgram:tiny', **{'train.quiet': True, 'train.profile_steps': 5})
  trainer = loop.Trainer(config, str(tmp_path / 'run'))
  step = trainer._step  # pylint: disable=protected-access

  def failing(state, batch, i):
    if int(i) == 2:
      raise RuntimeError('boom')
    return step(state, batch, i)

  trainer._step = failing  # pylint: disable=protected-access
  with np.testing.assert_raises(RuntimeError):
    trainer.train()
  assert not trainer._tracing  # pylint: disable=protected-access
  jax.profiler.start_trace(str(tmp_path / 'again'))  # would fail with a trace still running
  jax.profiler.stop_trace()


def test_configs_load_without_jax_or_dsjax():
  """Loading every config (and variant words) imports neither JAX nor dsjax."""
  code = ('import sys, configs\n'
          'for name in configs.experiment_names():\n'
          '  configs.load_config(name + ":tiny")\n'
          'bad = sorted(m for m in sys.modules if m.split(".")[0] in ("jax", "flax", "dsjax"))\n'
          'print(bad)\n')
  out = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True,
                       check=True)
  assert out.stdout.strip() == '[]', out.stdout


def test_a_checkpoint_of_another_state_layout_is_refused_by_name(tmp_path):
  """A workdir saved with another state layout (the GAN's before ``params``/``opt_state`` by
  network) fails with one line naming the saved and the needed entries."""
  import pytest

  from dsjax.train.checkpoint import Checkpointer
  old = {'generator': jnp.ones(3), 'g_opt': jnp.zeros(3)}
  ckpt = Checkpointer(str(tmp_path / 'ckpt'), every=1, async_save=False)
  ckpt.save(1, old, {'step': 1}, force=True)
  ckpt.close()
  want = {'params': {'generator': jax.ShapeDtypeStruct((3,), jnp.float32)},
          'opt_state': {'generator': jax.ShapeDtypeStruct((3,), jnp.float32)}}
  ckpt = Checkpointer(str(tmp_path / 'ckpt'), every=1)
  with pytest.raises(ValueError, match=r"entries \['g_opt', 'generator'\], this run needs "
                                       r"\['opt_state', 'params'\]"):
    ckpt.restore(want)
  ckpt.close()


def _seed_records(workdir):
  return [json.loads(line) for line in open(os.path.join(workdir, 'metrics.jsonl'))]


def test_several_seeds_train_side_by_side_each_as_its_own_run(tmp_path):
  """``train.seeds=2``: each seed's workdir holds its own metrics, checkpoints and samples; seed S
  trains as a plain run of seed S would (up to float reassociation in the vmapped program), and
  the seed workdir is a plain workdir for inference."""
  import pytest

  from dsjax.train.loop import restore_for_inference, train_and_evaluate
  over = {'train.quiet': True, 'train.log_every_step_to_json': True}
  config = configs.load_config('pianoroll_lstm:tiny', **over, **{'train.seeds': 2, 'seed': 3})
  final = train_and_evaluate(config, str(tmp_path / 'two'))
  assert final['step'] == config.train.num_steps and len(final['seeds']) == 2
  plain = configs.load_config('pianoroll_lstm:tiny', **over, **{'seed': 4})
  train_and_evaluate(plain, str(tmp_path / 'plain4'))
  seed4 = str(tmp_path / 'two' / 'seed_4')
  a, b = _seed_records(seed4), _seed_records(str(tmp_path / 'plain4'))
  steps = [r for r in a if 'split' not in r]
  assert len(steps) == config.train.num_steps
  for ra, rb in zip(a, b):
    assert ra['step'] == rb['step']
    for k in ('loss', 'grad_norm', 'param_norm', 'valid/frame_nll'):
      if k in ra:
        np.testing.assert_allclose(ra[k], rb[k], rtol=1e-4)
  seed3_losses = [r['loss'] for r in _seed_records(str(tmp_path / 'two' / 'seed_3'))
                  if 'split' not in r]
  assert seed3_losses != [r['loss'] for r in steps]             # the seeds differ
  assert os.listdir(os.path.join(seed4, 'samples'))
  cfg, _, state, step = restore_for_inference(seed4)
  assert cfg.seed == 4 and cfg.train.seeds == 0 and step == config.train.num_steps
  with pytest.raises(ValueError, match='seed_3, seed_4'):
    restore_for_inference(str(tmp_path / 'two'))


def test_several_seeds_resume_exactly(tmp_path, monkeypatch, capsys):
  """A two-seed run stopped by SIGTERM off its checkpoint grid and resumed logs, for each seed,
  what the uninterrupted run logs, and selects the same best step."""
  from dsjax.train import loop
  from tests.train.test_train import _sigterm_after
  config = configs.load_config('baseline_lstm:tiny', **{
      'train.quiet': True, 'train.log_every_step_to_json': True, 'train.seeds': 2,
      'train.checkpoint_every': 3, 'train.eval_every': 3, 'train.num_steps': 9,
      'train.select_by': 'valid/nll_per_event'})
  full, stopped = str(tmp_path / 'full'), str(tmp_path / 'stopped')
  loop.train_and_evaluate(config, full)
  with monkeypatch.context() as m:
    m.setattr(loop, 'Trainer', _sigterm_after(loop.Trainer, 5))
    assert loop.train_and_evaluate(config, stopped)['step'] == 5
  capsys.readouterr()
  loop.train_and_evaluate(config, stopped)
  assert 'Resuming from checkpoint at step 5 ' in capsys.readouterr().out

  def records(workdir):
    out = {}
    for r in _seed_records(workdir):
      out[(r['step'], r.get('split'))] = {k: v for k, v in r.items() if not k.endswith('per_s')}
    return out
  for seed in ('seed_0', 'seed_1'):
    a = records(os.path.join(full, seed))
    b = records(os.path.join(stopped, seed))
    assert a == b and (9, 'eval') in a
    best = [json.load(open(os.path.join(d, seed, 'best.json'))) for d in (full, stopped)]
    assert best[0] == best[1]


def test_a_task_that_cannot_vmap_seeds_refuses_them():
  import pytest

  from dsjax.train.loop import Trainer
  config = configs.load_config('seqgan:tiny', **{'train.seeds': 2})
  with pytest.raises(ValueError, match=r'config.train.seeds=2: SeqGANTask cannot'):
    Trainer(config, '/tmp/never-written')


def test_a_workdir_from_before_a_shared_key_existed_still_loads(tmp_path):
  """config.json of an older run lacks shared keys added since (train.seeds, train.profile_steps):
  they take their defaults, every saved value stays."""
  from dsjax.train.loop import load_config
  saved = configs.load_config('pianoroll_lstm:tiny').to_dict()
  del saved['train']['seeds'], saved['train']['profile_steps']
  saved['train']['num_steps'] = 7
  os.makedirs(tmp_path / 'old')
  with open(tmp_path / 'old' / 'config.json', 'w') as f:
    json.dump(saved, f)
  config = load_config(str(tmp_path / 'old'))
  assert config.train.seeds == 0 and config.train.profile_steps == 0
  assert config.train.num_steps == 7 and config.model.head == saved['model']['head']
  # a GAN workdir from before the critic's motion / pitch_conv and gan.reference_model keys
  gan = configs.load_config('iwgan_lstm:tiny').to_dict()
  del gan['model']['critic']['motion'], gan['model']['critic']['pitch_conv']
  del gan['gan']['reference_model']
  gan['model']['critic']['hidden'] = [5]
  os.makedirs(tmp_path / 'gan')
  with open(tmp_path / 'gan' / 'config.json', 'w') as f:
    json.dump(gan, f)
  config = load_config(str(tmp_path / 'gan'))
  assert config.model.critic.motion is False and config.model.critic.pitch_conv == 0
  assert config.gan.reference_model == '' and list(config.model.critic.hidden) == [5]
