"""A run survives what happens to real runs: a damaged newest checkpoint, a second run on its
workdir, a crash between a log line and the next checkpoint, a resume off the logging grid."""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from tests.train.test_train import ROOT, _records, _sigterm_after, load_config, run_train


def _config(**overrides):
  return load_config('pianoroll_lstm', **{
      'train.num_steps': 4, 'train.checkpoint_every': 2, 'train.eval_every': 0,
      'train.log_every': 1, 'sample.num': 0, **overrides})


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  """``(full, saved)``: a run of 4 steps with checkpoints at steps 2 and 4, twice (``saved`` is
  copied and damaged by each test)."""
  from dsjax.train import loop
  base = tmp_path_factory.mktemp('trained')
  full, saved = str(base / 'full'), str(base / 'saved')
  loop.train_and_evaluate(_config(), full)
  shutil.copytree(full, saved)
  return full, saved


def _truncate_data(step_dir):
  path = max((p for p in glob.glob(os.path.join(step_dir, 'state', '**', '*'), recursive=True)
              if os.path.isfile(p) and os.sep + 'd' + os.sep in p), key=os.path.getsize)
  with open(path, 'r+b') as f:
    f.truncate(os.path.getsize(path) // 2)


def _flip_bytes(step_dir):
  path = max((p for p in glob.glob(os.path.join(step_dir, 'state', '**', '*'), recursive=True)
              if os.path.isfile(p) and os.sep + 'd' + os.sep in p), key=os.path.getsize)
  data = bytearray(open(path, 'rb').read())
  rng = np.random.default_rng(0)
  for i in rng.choice(len(data) // 2, 64, replace=False) + len(data) // 4:
    data[i] ^= 0xFF
  open(path, 'wb').write(bytes(data))


DAMAGE = {
    'truncated data file': _truncate_data,
    'missing state/_METADATA': lambda d: os.remove(os.path.join(d, 'state', '_METADATA')),
    'missing meta/metadata': lambda d: os.remove(os.path.join(d, 'meta', 'metadata')),
    'flipped bytes': _flip_bytes,
}


@pytest.mark.parametrize('damage', sorted(DAMAGE))
def test_a_damaged_newest_checkpoint_is_set_aside_and_the_run_resumes_from_the_one_before(
    damage, trained, tmp_path, capsys):
  """The newest checkpoint damaged (truncated, a metadata file missing, bytes flipped in its
  data): the resume says in one line that it skipped it, moves it to ``checkpoints_damaged/``,
  restores the one before and trains to the same records as the run that was never damaged."""
  from dsjax.train import loop
  full, saved = trained
  workdir = str(tmp_path / 'run')
  shutil.copytree(saved, workdir)
  DAMAGE[damage](os.path.join(workdir, 'checkpoints', '4'))
  capsys.readouterr()
  final = loop.train_and_evaluate(_config(), workdir)
  out = capsys.readouterr().out
  skipped = [line for line in out.splitlines() if line.startswith('Skipping the checkpoint')]
  assert len(skipped) == 1 and 'of step 4:' in skipped[0], out
  assert 'Resuming from checkpoint at step 2 ' in out
  assert os.path.isdir(os.path.join(workdir, 'checkpoints_damaged', '4'))
  assert final['step'] == 4
  assert _records(workdir, 'train') == _records(full, 'train')
  steps = [json.loads(line)['step'] for line in open(os.path.join(workdir, 'metrics.jsonl'))]
  assert steps == [1, 2, 3, 4]  # the records after step 2 were dropped, then written again


def test_generate_skips_a_damaged_newest_checkpoint_without_moving_it(trained, tmp_path, capsys):
  from dsjax.train import loop
  _, saved = trained
  workdir = str(tmp_path / 'run')
  shutil.copytree(saved, workdir)
  _flip_bytes(os.path.join(workdir, 'checkpoints', '4'))
  capsys.readouterr()
  _, _, _, step = loop.restore_for_inference(workdir)
  assert step == 2
  assert 'Skipping the checkpoint of step 4: ' in capsys.readouterr().out
  assert os.path.isdir(os.path.join(workdir, 'checkpoints', '4'))  # a reader changes nothing
  from dsjax.train.checkpoint import CheckpointDamaged
  with pytest.raises(CheckpointDamaged, match='of step 4|checkpoints/4'):
    loop.restore_for_inference(workdir, step=4)


def test_data_that_restores_but_differs_from_what_was_saved_is_caught(tmp_path):
  """Valid array files holding other values than the save wrote (what flipped bytes inside a
  compressed chunk can give) restore without an error; the checksums saved with them catch it,
  naming the array."""
  import jax.numpy as jnp

  from dsjax.train.checkpoint import Checkpointer, CheckpointDamaged
  a = {'w': jnp.arange(64.0), 'b': jnp.ones(3)}
  b = {'w': jnp.arange(64.0).at[5].set(-1.0), 'b': jnp.ones(3)}
  for name, state in (('a', a), ('b', b)):
    ckpt = Checkpointer(str(tmp_path / name), every=1, async_save=False)
    ckpt.save(1, state, {'step': 1}, force=True)
    ckpt.close()
  shutil.rmtree(tmp_path / 'a' / '1' / 'state')
  shutil.copytree(tmp_path / 'b' / '1' / 'state', tmp_path / 'a' / '1' / 'state')
  ckpt = Checkpointer(str(tmp_path / 'a'), every=1)
  abstract = {k: jax.ShapeDtypeStruct(v.shape, v.dtype) for k, v in a.items()}
  with pytest.raises(CheckpointDamaged, match=r'1 array\(s\) differ from what was saved '
                                              r'\(checksum mismatch: w\)'):
    ckpt.restore(abstract)
  state, _, _ = Checkpointer(str(tmp_path / 'b'), every=1).restore(abstract)
  np.testing.assert_array_equal(state['w'], b['w'])
  ckpt.close()


def test_a_checkpoint_of_another_model_is_refused_not_set_aside(trained, tmp_path):
  """Resuming with settings that change the parameters' shapes is a config error, not damage:
  nothing is moved and the message names an array that differs."""
  from dsjax.train import loop
  _, saved = trained
  workdir = str(tmp_path / 'run')
  shutil.copytree(saved, workdir)
  with pytest.raises(ValueError, match='holds another model than this config builds'):
    loop.train_and_evaluate(_config(**{'model.hidden': (12,)}), workdir)
  assert sorted(os.listdir(os.path.join(workdir, 'checkpoints'))) == ['2', '4']
  assert not os.path.exists(os.path.join(workdir, 'checkpoints_damaged'))


def test_a_crash_after_logging_leaves_no_duplicate_records(tmp_path):
  """A run that dies after logging steps its last checkpoint does not hold (a kill between two
  checkpoints) resumes with ``metrics.jsonl`` cut back to the restored step: each step's record
  once, equal to the uninterrupted run's."""
  from dsjax.train import loop
  config = _config(**{'train.num_steps': 6, 'train.checkpoint_every': 3})
  full, crashed = str(tmp_path / 'full'), str(tmp_path / 'crashed')
  loop.train_and_evaluate(config, full)

  class Crashing(loop.Trainer):
    def __init__(self, *args, **kwargs):
      super().__init__(*args, **kwargs)
      step_fn = self._step

      def step(state, batch, i):
        if int(i) == 5:   # steps 4 and 5 logged; the newest checkpoint is step 3
          raise RuntimeError('killed')
        return step_fn(state, batch, i)
      self._step = step

  original = loop.Trainer
  loop.Trainer = Crashing
  try:
    with pytest.raises(RuntimeError, match='killed'):
      loop.train_and_evaluate(config, crashed)
  finally:
    loop.Trainer = original
  loop.train_and_evaluate(config, crashed)
  lines = [json.loads(line) for line in open(os.path.join(crashed, 'metrics.jsonl'))]
  assert [r['step'] for r in lines] == [1, 2, 3, 4, 5, 6]
  assert _records(crashed, 'train') == _records(full, 'train')


def test_a_resume_off_the_log_grid_logs_the_whole_window(tmp_path, monkeypatch):
  """Stopped at step 3 with train records every 4 steps: the resumed run's record of step 4 is
  the mean over steps 1..4, as the uninterrupted run's (the checkpoint carries the window)."""
  from dsjax.train import loop
  config = _config(**{'train.num_steps': 8, 'train.checkpoint_every': 4, 'train.log_every': 4})
  full, stopped = str(tmp_path / 'full'), str(tmp_path / 'stopped')
  loop.train_and_evaluate(config, full)
  with monkeypatch.context() as m:
    m.setattr(loop, 'Trainer', _sigterm_after(loop.Trainer, 3))
    assert loop.train_and_evaluate(config, stopped)['step'] == 3
  loop.train_and_evaluate(config, stopped)
  a, b = _records(full, 'train'), _records(stopped, 'train')
  assert sorted(a) == sorted(b) == [4, 8]
  for k in ('loss', 'grad_norm', 'param_norm', 'update_norm'):
    assert a[4][k] == b[4][k], k


HOLD = '''
import sys, time
from dsjax.train.workdir_lock import WorkdirLock
lock = WorkdirLock(sys.argv[1]).acquire()
print('held', flush=True)
time.sleep(600)
'''


def test_one_run_per_workdir(tmp_path, capsys):
  """A second run on a workdir another process holds is refused at once with one line naming the
  holder; once the holder is killed (its lock file left behind), the next run takes it over."""
  from dsjax.train import workdir_lock
  workdir = str(tmp_path / 'run')
  holder = subprocess.Popen([sys.executable, '-c', HOLD, workdir], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
  try:
    assert holder.stdout.readline().strip() == 'held'
    t0 = time.time()
    p = run_train(['--config=configs/pianoroll_lstm.py:tiny', f'--workdir={workdir}'])
    out = p.communicate(timeout=120)[0]
    assert p.returncode == 2, out
    lines = out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: ') and \
        f'in use by another run (process {holder.pid} on host ' in lines[0], out
    assert time.time() - t0 < 60
    assert not os.path.exists(os.path.join(workdir, 'config.json'))
    with pytest.raises(workdir_lock.WorkdirLocked, match=f'process {holder.pid} '):
      workdir_lock.WorkdirLock(workdir).acquire()
  finally:
    holder.send_signal(signal.SIGKILL)
    holder.wait()
  assert os.path.exists(os.path.join(workdir, workdir_lock.LOCK_NAME))  # left by the killed run
  capsys.readouterr()
  with workdir_lock.hold(workdir):
    with workdir_lock.hold(workdir):  # re-entrant in one process
      pass
    assert os.path.exists(os.path.join(workdir, workdir_lock.LOCK_NAME))
  out = capsys.readouterr().out
  assert f'took over the lock of a run that ended without releasing it (process {holder.pid} ' \
      in out
  assert not os.path.exists(os.path.join(workdir, workdir_lock.LOCK_NAME))  # released at exit


def test_when_no_checkpoint_restores_the_run_stops_instead_of_starting_afresh(trained, tmp_path):
  """Every checkpoint damaged (or a restore that fails for a reason of the moment): the run sets
  them aside and stops with a line saying so; it never trains from step 0 over them, and the
  logs stay."""
  from dsjax.train import loop
  _, saved = trained
  workdir = str(tmp_path / 'run')
  shutil.copytree(saved, workdir)
  for step in ('2', '4'):
    os.remove(os.path.join(workdir, 'checkpoints', step, 'state', '_METADATA'))
  before = open(os.path.join(workdir, 'metrics.jsonl')).read()
  with pytest.raises(ValueError, match=r'no checkpoint restores \(steps \[2, 4\] set aside'):
    loop.train_and_evaluate(_config(), workdir)
  assert sorted(os.listdir(os.path.join(workdir, 'checkpoints_damaged'))) == ['2', '4']
  assert open(os.path.join(workdir, 'metrics.jsonl')).read() == before


def test_another_dtype_is_a_config_error_not_damage(tmp_path):
  """orbax casts a restored array to the target's dtype; the checksum would then differ. That is
  another config, refused by name, not a damaged checkpoint."""
  import jax.numpy as jnp

  from dsjax.train.checkpoint import Checkpointer
  ckpt = Checkpointer(str(tmp_path / 'c'), every=1, async_save=False)
  ckpt.save(1, {'w': jnp.arange(8.0)}, {'step': 1}, force=True)
  with pytest.raises(ValueError, match=r'holds another model .* w: saved float32\[8\], needed '
                                       r'bfloat16\[8\]'):
    ckpt.restore({'w': jax.ShapeDtypeStruct((8,), jnp.bfloat16)})
  ckpt.close()


def test_a_bfloat16_state_that_is_not_finite_is_caught():
  import jax.numpy as jnp

  from dsjax.train.checkpoint import non_finite_arrays
  assert non_finite_arrays({'a': jnp.ones(3, jnp.bfloat16).at[1].set(jnp.inf),
                            'b': jnp.ones(2)}) == ['a']


def test_several_seeds_one_damaged_resume_below_and_train_on(tmp_path, capsys):
  """Two seeds, seed 1's newest checkpoint damaged: both resume from the step before (seed 0's
  newer one set aside as well, or it could not be written again) and train to the end."""
  from dsjax.train import loop
  config = _config(**{'train.seeds': 2, 'train.quiet': True})
  workdir = str(tmp_path / 'run')
  loop.train_and_evaluate(config, workdir)
  os.remove(os.path.join(workdir, 'seed_1', 'checkpoints', '4', 'meta', 'metadata'))
  capsys.readouterr()
  final = loop.train_and_evaluate(_config(**{'train.seeds': 2, 'train.quiet': True,
                                             'train.num_steps': 6}), workdir)
  out = capsys.readouterr().out
  assert 'Skipping the checkpoint of step 4: ' in out
  assert 'Setting aside the checkpoint of step 4 in ' in out and 'Resuming from checkpoint at ' \
      'step 2 ' in out
  assert final['step'] == 6
  for seed in ('seed_0', 'seed_1'):
    assert os.path.isdir(os.path.join(workdir, seed, 'checkpoints_damaged', '4'))


def test_a_seed_workdir_of_a_running_several_seed_run_is_locked(tmp_path):
  from dsjax.train import workdir_lock
  top = tmp_path / 'run'
  (top / 'seed_1').mkdir(parents=True)
  holder = subprocess.Popen([sys.executable, '-c', HOLD, str(top / 'seed_1')], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
  try:
    assert holder.stdout.readline().strip() == 'held'
    from dsjax.train import loop
    with pytest.raises(workdir_lock.WorkdirLocked, match=f'seed_1 is in use by another run '
                                                         f'\\(process {holder.pid} '):
      loop.train_and_evaluate(_config(**{'train.seeds': 2, 'seed': 0}), str(top))
    assert not os.path.exists(top / workdir_lock.LOCK_NAME)   # the top lock was released
  finally:
    holder.send_signal(signal.SIGKILL)
    holder.wait()
