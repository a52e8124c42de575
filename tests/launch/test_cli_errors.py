"""The launchers end a mistake with one line, ``error: ...``, and exit status 2 (``launch/cli.py``),
before any work starts; a workdir's config never makes them run code."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import configs

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _launch(module, args, cwd=ROOT):
  env = dict(os.environ, JAX_PLATFORMS='cpu')
  env.pop('DSJAX_TRACEBACK', None)
  return subprocess.Popen([sys.executable, '-m', f'launch.{module}', *args], cwd=cwd, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _evil_workdir(tmp_path):
  """A copied workdir whose config names a Python file of the workdir as the embedding source."""
  from dsjax.train.loop import write_config
  workdir = tmp_path / 'shared_run'
  workdir.mkdir()
  marker = tmp_path / 'code_ran'
  (workdir / 'evil.py').write_text(f'open({str(marker)!r}, "w").close()\n'
                                   'def get_config(arg=None):\n  raise SystemExit(1)\n')
  config = configs.load_config('baseline_lstm_skipgram:tiny', **{
      'model.embedding_from': str(workdir / 'evil.py')})
  write_config(config, str(workdir))
  return str(workdir), marker


def test_bad_flags_and_settings_end_with_one_line(tmp_path):
  """Each bad flag or setting: exit status 2 and one line naming it (all run side by side)."""
  (tmp_path / 'empty').mkdir()
  evil, marker = _evil_workdir(tmp_path)
  w = f'--workdir={tmp_path / "empty"}'
  cases = [
      ('generate', [w, '--num=0'], '--num=0: must be at least 1'),
      ('generate', [w, '--length=-5'], '--length=-5: must be at least 1'),
      ('generate', [w, '--length=0'], '--length=0: must be at least 1'),
      ('generate', [w, '--temperature=0'], '--temperature=0.0: must be a finite number > 0'),
      ('generate', [w, '--temperature=-1'], '--temperature=-1.0: must be a finite number > 0'),
      ('generate', [w, '--max_sustain=-1'], '--max_sustain=-1.0: must be >= 0'),
      ('generate', [w, '--threshold=nan'], '--threshold=nan: must be a finite number'),
      ('generate', [w, '--top_p=1.5'], '--top_p=1.5: must be <= 1'),
      ('generate', [w, '--silence_random=1.5'], '--silence_random=1.5: must be <= 1'),
      ('generate', [w, '--chop_max=0'], '--chop_max=0: must be at least 1'),
      ('generate', [w, '--noise_scale=2,1'], "--noise_scale='2,1': expected finite 0 <= a <= b"),
      ('generate', [w, '--state_decay=0.5'], "--state_decay='0.5': expected two numbers a,b"),
      ('generate', ['--num=2'], '--workdir is required'),
      ('generate', [w], 'not a dsjax workdir (no config.json)'),
      ('generate', [f'--workdir={evil}'], 'no skip-gram run there'),
      ('train', ['--config=configs/pianoroll_lstm.py:tiny', '--config.model.hiddn=3'],
       '--config.model.hiddn: no config key \'hiddn\' (did you mean "hidden" instead of '
       '"hiddn"?)'),
      ('train', ['--config=configs/nope.py'], '--config=configs/nope.py: cannot load the config '
       'file ([Errno 2] No such file or directory'),
      ('train', ['--config=configs/pianoroll_lstm.py:tiny', '--config.train.num_steps=-5'],
       'config.train.num_steps=-5: must be an integer >= 1'),
      ('train', ['--config=configs/pianoroll_lstm.py:tiny', '--config.train.num_steps=abc'],
       "--config.train.num_steps=abc: invalid literal for int() with base 10: 'abc'"),
      ('train', ['--config=configs/pianoroll_lstm.py:tiny', '--workdir=/dev/null/run'],
       'cannot write to the workdir /dev/null/run'),
      ('ablate', ['--table=nope'], "--table='nope' is not a known table"),
  ]
  procs = [(_launch(m, args), m, args, want) for m, args, want in cases]
  for p, m, args, want in procs:
    out = p.communicate(timeout=300)[0]
    lines = out.strip().splitlines()
    assert p.returncode == 2, (m, args, out[-2000:])
    if args == [f'--workdir={evil}']:  # its task loads the data first (a fresh cache: progress)
      lines = lines[-1:]
    assert len(lines) == 1 and lines[0].startswith('error: ') and want in lines[0], (m, args, out)
    assert out.count('error: ') == 1 and 'Traceback' not in out, (m, args, out)
  assert not marker.exists()  # the workdir's .py file was never run


def test_traceback_flag_shows_the_trace(tmp_path):
  p = _launch('generate', [f'--workdir={tmp_path}', '--traceback'])
  out = p.communicate(timeout=300)[0]
  assert p.returncode == 1 and 'Traceback (most recent call last)' in out, out


def test_describe_keeps_an_internal_error_apart():
  from launch.cli import describe
  code, line = describe(TypeError('unsupported operand'), [])
  assert code == 1 and line.startswith('TypeError: unsupported operand (an internal error')
  code, line = describe(KeyError('data'), [])
  assert (code, line) == (2, "KeyError: 'data'")
  code, line = describe(AttributeError("'NoneType' object has no attribute 'shape'"), [])
  assert code == 1 and line.startswith("AttributeError: 'NoneType' object has no attribute")


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory):
  from dsjax.train.loop import train_and_evaluate
  workdir = str(tmp_path_factory.mktemp('tiny') / 'run')
  train_and_evaluate(configs.load_config('pianoroll_lstm:tiny', **{
      'train.num_steps': 2, 'train.checkpoint_every': 1, 'train.eval_every': 0,
      'train.select_by': '', 'sample.num': 0}), workdir)
  return workdir


def test_missing_checkpoints_are_named_in_one_line(tiny_run, tmp_path):
  """``--step`` that does not exist names the steps there are; ``--best`` on a run without a best
  checkpoint says why; a workdir without checkpoints says so."""
  import shutil

  from dsjax.train.loop import restore_for_inference
  with pytest.raises(FileNotFoundError, match=r'no checkpoint of step 7 in .*checkpoints '
                                              r'\(it has 1, 2\)$'):
    restore_for_inference(tiny_run, step=7)
  with pytest.raises(FileNotFoundError, match='no best checkpoint'):
    restore_for_inference(tiny_run, best=True)
  bare = tmp_path / 'bare'
  bare.mkdir()
  shutil.copy(os.path.join(tiny_run, 'config.json'), bare / 'config.json')
  with pytest.raises(FileNotFoundError, match=r'no checkpoint in .*bare/checkpoints \(train the '
                                              r'run first\)'):
    restore_for_inference(str(bare))
