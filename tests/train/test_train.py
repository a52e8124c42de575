"""End-to-end tests of the generic loop: tiny configs train, resume exactly, stop on NaN."""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import configs
from tests.tbevents import summary_kinds

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIGS = configs.experiment_names()


def load_config(name: str, variant: str = 'tiny', **overrides):
  """``configs.load_config('NAME:VARIANT')`` with dotted ``overrides`` (tiny by default)."""
  return configs.load_config(f'{name}:{variant}', **overrides)


def read_metrics(workdir: str, split: str = 'train') -> dict[int, dict]:
  """Last record per step (a resumed run re-logs the steps after its checkpoint)."""
  out = {}
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    for line in f:
      rec = json.loads(line)
      if rec.get('split', 'train') == split:
        out[rec['step']] = rec
  return out


def run_train(args: list[str], env_extra=None, **kw) -> subprocess.Popen:
  env = dict(os.environ)
  env.setdefault('XLA_FLAGS', '--xla_force_host_platform_device_count=4')
  env['JAX_PLATFORMS'] = 'cpu'
  env.update(env_extra or {})
  return subprocess.Popen([sys.executable, '-m', 'launch.train', *args], cwd=ROOT, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


@pytest.mark.parametrize('name', CONFIGS)
def test_tiny_config_trains_end_to_end(name, tmp_path, request):
  """Every config's tiny variant trains, evaluates, checkpoints, logs images/audio, writes MIDI."""
  from dsjax.train.loop import train_and_evaluate
  overrides = {}
  if name == 'baseline_lstm_skipgram':  # starts from a skip-gram run trained before
    overrides['model.embedding_from'] = request.getfixturevalue('skipgram_workdir')
  config = load_config(name, **overrides)
  workdir = str(tmp_path / 'run')
  final = train_and_evaluate(config, workdir)
  assert final['step'] == config.train.num_steps
  numeric = {k: v for k, v in final.items() if isinstance(v, float)}
  assert numeric and all(np.isfinite(v) for v in numeric.values()), final
  assert os.path.exists(os.path.join(workdir, 'config.json'))
  steps = sorted(int(d) for d in os.listdir(os.path.join(workdir, 'checkpoints')) if d.isdigit())
  assert steps[-1] == config.train.num_steps
  kinds = summary_kinds(os.path.join(workdir, 'tensorboard'))
  assert 'simple_value' in kinds['train/loss']
  assert 'simple_value' in kinds['train/grad_norm']
  if int(config.sample.num) == 0:  # a task that makes no music (skip-gram embeddings)
    assert not glob.glob(os.path.join(workdir, 'samples', '*', '*.mid'))
    return
  assert any('image' in k for k in kinds.values()), kinds
  assert any('audio' in k for k in kinds.values()), kinds
  mids = glob.glob(os.path.join(workdir, 'samples', '*', '*.mid'))
  assert mids, 'no MIDI samples written'


def test_same_seed_same_metrics(tmp_path):
  from dsjax.train.loop import train_and_evaluate
  config = load_config('pianoroll_lstm', **{'train.eval_every': 0, 'train.log_every': 1,
                                            'sample.num': 0})
  train_and_evaluate(config, str(tmp_path / 'a'))
  train_and_evaluate(config, str(tmp_path / 'b'))
  a, b = read_metrics(str(tmp_path / 'a')), read_metrics(str(tmp_path / 'b'))
  assert [a[s]['loss'] for s in sorted(a)] == [b[s]['loss'] for s in sorted(b)]
  other = load_config('pianoroll_lstm', **{'train.eval_every': 0, 'train.log_every': 1,
                                           'sample.num': 0, 'seed': 1})
  train_and_evaluate(other, str(tmp_path / 'c'))
  c = read_metrics(str(tmp_path / 'c'))
  assert [a[s]['loss'] for s in sorted(a)] != [c[s]['loss'] for s in sorted(c)]


def _train_args(workdir, steps, extra=()):
  return ['--config=configs/pianoroll_lstm.py:tiny', f'--workdir={workdir}',
          f'--config.train.num_steps={steps}', '--config.train.log_every=1',
          '--config.train.checkpoint_every=50', '--config.train.eval_every=0',
          '--config.train.quiet=True', '--config.sample.num=0', *extra]


def _wait_for_checkpoint(workdir, proc, timeout=240):
  ckpt = os.path.join(workdir, 'checkpoints')
  t0 = time.time()
  while time.time() - t0 < timeout:
    if os.path.isdir(ckpt) and any(d.isdigit() for d in os.listdir(ckpt)):
      return
    if proc.poll() is not None:
      raise AssertionError(f'run ended before its first checkpoint:\n{proc.stdout.read()}')
    time.sleep(0.05)
  raise AssertionError('no checkpoint appeared')


def test_sigkill_then_resume_matches_uninterrupted_run(tmp_path):
  steps = 1500
  full, broken = str(tmp_path / 'full'), str(tmp_path / 'broken')
  p = run_train(_train_args(full, steps))
  out = p.communicate(timeout=600)[0]
  assert p.returncode == 0, out

  p = run_train(_train_args(broken, steps))
  _wait_for_checkpoint(broken, p)
  p.send_signal(signal.SIGKILL)
  p.wait()
  killed_at = max(read_metrics(broken))
  assert killed_at < steps, 'the run finished before it could be killed'
  p = run_train(_train_args(broken, steps))
  out = p.communicate(timeout=600)[0]
  assert p.returncode == 0, out
  assert 'Resuming from checkpoint at step' in out
  resumed_from = int(out.split('Resuming from checkpoint at step ')[1].split()[0])
  assert 0 < resumed_from < steps
  a, b = read_metrics(full), read_metrics(broken)
  for s in range(resumed_from + 1, steps + 1):
    assert a[s]['loss'] == b[s]['loss'], (s, a[s]['loss'], b[s]['loss'])
    assert a[s]['grad_norm'] == b[s]['grad_norm'], s


def test_sigterm_writes_a_checkpoint_before_exiting(tmp_path):
  workdir = str(tmp_path / 'run')
  p = run_train(_train_args(workdir, 100000))
  _wait_for_checkpoint(workdir, p)
  time.sleep(0.5)
  p.send_signal(signal.SIGTERM)
  out = p.communicate(timeout=120)[0]
  assert p.returncode == 0, out
  assert 'SIGTERM: checkpoint written at step' in out
  step = int(out.split('SIGTERM: checkpoint written at step ')[1].split(';')[0])
  ckpts = [int(d) for d in os.listdir(os.path.join(workdir, 'checkpoints')) if d.isdigit()]
  assert max(ckpts) == step  # the state at the signal, on or off the every-50 grid
  assert max(read_metrics(workdir)) == step


def _eval_records(workdir):
  return {s: {k: v for k, v in r.items()} for s, r in read_metrics(workdir, 'eval').items()}


def test_an_evaluation_cut_short_is_run_when_the_run_resumes(tmp_path, monkeypatch):
  """A crash inside the evaluation of step S (a checkpoint step) resumes before S and evaluates S;
  SIGTERM at an evaluation step saves S first and the resumed run evaluates S before training.
  Either way the eval records equal those of an uninterrupted run."""
  from dsjax.train import loop
  config = load_config('pianoroll_lstm', **{
      'train.num_steps': 8, 'train.eval_every': 4, 'train.checkpoint_every': 2,
      'train.log_every': 1, 'sample.num': 0})
  full = str(tmp_path / 'full')
  loop.train_and_evaluate(config, full)
  expect = _eval_records(full)
  assert sorted(expect) == [4, 8]

  real_evaluate = loop.Trainer.evaluate

  def crash(self, state, batches):
    raise RuntimeError('died while evaluating')

  crashed = str(tmp_path / 'crashed')
  monkeypatch.setattr(loop.Trainer, 'evaluate', crash)
  with pytest.raises(RuntimeError, match='died while evaluating'):
    loop.train_and_evaluate(config, crashed)
  ckpts = sorted(int(d) for d in os.listdir(os.path.join(crashed, 'checkpoints')) if d.isdigit())
  assert ckpts == [2]  # step 4 is saved only once evaluated
  monkeypatch.setattr(loop.Trainer, 'evaluate', real_evaluate)
  loop.train_and_evaluate(config, crashed)
  assert _eval_records(crashed) == expect

  stopped = str(tmp_path / 'stopped')
  with monkeypatch.context() as m:
    m.setattr(loop, 'Trainer', _sigterm_after(loop.Trainer, 4))  # an evaluation step
    assert loop.train_and_evaluate(config, stopped)['step'] == 4
  assert 4 in [int(d) for d in os.listdir(os.path.join(stopped, 'checkpoints')) if d.isdigit()]
  assert _eval_records(stopped) == {}
  loop.train_and_evaluate(config, stopped)
  assert _eval_records(stopped) == expect


def _sigterm_after(trainer_cls, stop: int):
  """A Trainer that sends this process SIGTERM during its ``stop``-th step (as a scheduler would)."""

  class Stopping(trainer_cls):
    def __init__(self, *args, **kwargs):
      super().__init__(*args, **kwargs)
      step_fn = self._step

      def step(state, batch, i):
        out = step_fn(state, batch, i)
        if int(i) == stop - 1:
          os.kill(os.getpid(), signal.SIGTERM)
        return out

      self._step = step

  return Stopping


def _records(workdir, split):
  """Per-step records without the timing figures."""
  return {s: {k: v for k, v in r.items() if not k.endswith('per_s')}
          for s, r in read_metrics(workdir, split).items()}


@pytest.mark.parametrize('name,overrides,stop', [
    ('gan_lstm_cnn', {'train.num_steps': 6}, 3),         # fake pool, two optimisers
    ('seqgan', {}, 5),                                     # resumes into the next phase
    ('baseline_lstm', {'optim.ema_decay': 0.9, 'train.num_steps': 6, 'train.eval_every': 3,
                       'train.checkpoint_every': 3}, 2),   # EMA parameters
])
def test_stopped_run_resumes_exactly(name, overrides, stop, tmp_path, monkeypatch, capsys):
  """A run stopped by SIGTERM off its checkpoint grid and resumed logs the same train and eval
  records from the stop on as an uninterrupted run, and selects the same best step."""
  from dsjax.train import loop
  config = load_config(name, **{'train.log_every': 1, **overrides})
  full, stopped = str(tmp_path / 'full'), str(tmp_path / 'stopped')
  loop.train_and_evaluate(config, full)
  with monkeypatch.context() as m:
    m.setattr(loop, 'Trainer', _sigterm_after(loop.Trainer, stop))
    assert loop.train_and_evaluate(config, stopped)['step'] == stop
  capsys.readouterr()
  loop.train_and_evaluate(config, stopped)
  assert f'Resuming from checkpoint at step {stop} ' in capsys.readouterr().out
  steps = int(config.train.num_steps)
  for split in ('train', 'eval'):
    a, b = _records(full, split), _records(stopped, split)
    assert sorted(a) == sorted(b), split
    assert any(s > stop for s in a), split
    for s in sorted(a):
      assert a[s] == b[s], (split, s)
  assert max(_records(full, 'train')) == steps
  if os.path.exists(os.path.join(full, 'best.json')):
    with open(os.path.join(full, 'best.json')) as f, open(os.path.join(stopped, 'best.json')) as g:
      assert json.load(f) == json.load(g)


def test_nan_loss_stops_with_clear_message_and_keeps_last_good_checkpoint(tmp_path):
  from dsjax.train.loop import NonFiniteLossError, restore_for_inference, train_and_evaluate
  config = load_config('pianoroll_lstm', **{
      'optim.learning_rate': 1e30, 'optim.grad_clip_norm': 0.0, 'optim.schedule': 'constant',
      'model.weight_drop': 0.0,  # without it the weights blow up to a NaN gradient by step 58
      'train.num_steps': 200, 'train.checkpoint_every': 1, 'train.log_every': 1,
      'train.eval_every': 0, 'sample.num': 0})
  workdir = str(tmp_path / 'run')
  with pytest.raises(NonFiniteLossError) as err:
    train_and_evaluate(config, workdir)
  msg = str(err.value)
  assert 'became' in msg and 'last good checkpoint is step' in msg
  good = int(msg.split('last good checkpoint is step ')[1].split()[0])
  bad = int(msg.split(' at step ')[1].split(';')[0])
  assert bad == good + 1  # checkpoint_every=1: the step before the first bad one was saved
  import jax
  _, _, state, step = restore_for_inference(workdir)
  assert step == good
  assert all(np.all(np.isfinite(np.asarray(x))) for x in jax.tree.leaves(state['params']))


def test_overflowed_state_is_never_checkpointed(tmp_path):
  """An infinite learning rate makes the parameters non-finite in the first update, whose loss and
  gradient were finite: the run stops before saving that state, and no checkpoint exists."""
  from dsjax.train.loop import NonFiniteLossError, train_and_evaluate
  config = load_config('pianoroll_lstm', **{
      'optim.learning_rate': float('inf'), 'optim.grad_clip_norm': 0.0,
      'optim.schedule': 'constant', 'train.num_steps': 5, 'train.checkpoint_every': 1,
      'train.log_every': 1, 'train.eval_every': 0, 'sample.num': 0})
  workdir = str(tmp_path / 'run')
  with pytest.raises(NonFiniteLossError, match='state became non-finite at step 1 .not saved.'):
    train_and_evaluate(config, workdir)
  ckpts = os.path.join(workdir, 'checkpoints')
  assert not os.path.isdir(ckpts) or not [d for d in os.listdir(ckpts) if d.isdigit()]


def test_config_typo_fails_with_suggestion(tmp_path):
  p = run_train(['--config=configs/pianoroll_lstm.py:tiny', f'--workdir={tmp_path}',
                 '--config.model.hiden=(8,)'])
  out = p.communicate(timeout=120)[0]
  assert p.returncode == 2
  assert out.strip() == ('error: --config.model.hiden: no config key \'hiden\' (did you mean '
                         '"hidden" instead of "hiden"?)')


def test_unknown_variant_fails_with_the_list(tmp_path):
  p = run_train(['--config=configs/pianoroll_lstm.py:tinny', f'--workdir={tmp_path}'])
  out = p.communicate(timeout=120)[0]
  assert p.returncode != 0 and "unknown config variant(s) ['tinny']" in out


def test_generate_writes_midi_that_reads_back(tmp_path):
  import pretty_midi
  from dsjax.train.loop import train_and_evaluate
  workdir = str(tmp_path / 'run')
  train_and_evaluate(load_config('pianoroll_lstm', **{'sample.num': 0}), workdir)
  out = str(tmp_path / 'gen')
  env = dict(os.environ, JAX_PLATFORMS='cpu')
  p = subprocess.run([sys.executable, '-m', 'launch.generate', f'--workdir={workdir}',
                      '--num=2', '--length=24', f'--out={out}', '--wav', '--mode=threshold',
                      '--threshold=0.3'], cwd=ROOT, env=env, capture_output=True, text=True,
                     timeout=300)
  assert p.returncode == 0, p.stdout + p.stderr
  mids = sorted(glob.glob(os.path.join(out, '*.mid')))
  assert len(mids) == 2
  notes = sum(len(i.notes) for m in mids for i in pretty_midi.PrettyMIDI(m).instruments)
  assert notes > 0
  assert glob.glob(os.path.join(out, '*.wav'))


@pytest.mark.parametrize('key,value,message', [
    ('train.checkpoint_every', 0, 'config.train.checkpoint_every=0: must be an integer >= 1'),
    ('train.num_steps', -5, 'config.train.num_steps=-5: must be an integer >= 1'),
    ('data.eval_batch_size', 6,
     r'config.data.eval_batch_size=6 must be divisible by the number of devices \(4\)'),
    ('data.batch_size', 6, r'config.data.batch_size=6 must be divisible by the number of devices'),
])
def test_bad_loop_settings_name_the_key_before_training(key, value, message, tmp_path):
  from dsjax.train.loop import train_and_evaluate
  import jax
  assert jax.device_count() == 4
  with pytest.raises(ValueError, match=message):
    train_and_evaluate(load_config('pianoroll_lstm', **{key: value}), str(tmp_path / 'run'))
  assert not os.path.exists(os.path.join(tmp_path, 'run', 'checkpoints'))


def test_resuming_with_changed_settings_says_which(tmp_path, capsys):
  from dsjax.train.loop import changed_settings, train_and_evaluate
  assert changed_settings({'a': {'b': 1, 'c': [1, 2]}}, {'a': {'b': 2, 'c': [1, 2]}, 'd': 'x'}) == {
      'a.b': (1, 2), 'd': (None, 'x')}
  settings = {'train.eval_every': 0, 'sample.num': 0, 'train.num_steps': 3}
  workdir = str(tmp_path / 'run')
  train_and_evaluate(load_config('pianoroll_lstm', **settings), workdir)
  train_and_evaluate(load_config('pianoroll_lstm', **settings), workdir)
  assert 'Settings changed' not in capsys.readouterr().out
  train_and_evaluate(load_config('pianoroll_lstm', **{**settings, 'train.num_steps': 5}), workdir)
  out = capsys.readouterr().out
  assert 'Settings changed since this workdir was started (resuming is not exact):' in out
  assert '  train.num_steps: 3 -> 5' in out
