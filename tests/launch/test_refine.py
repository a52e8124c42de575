"""``python -m launch.refine``: a refined MIDI file keeps every onset and pitch of its input (both
refiners), a picture is written beside it, and a mistake ends with one line."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import configs
from dsjax.data import midi_io, synthetic_velocity
from dsjax.data.notes import Piece, make_notes

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _launch(args):
  env = dict(os.environ, JAX_PLATFORMS='cpu')
  env.pop('DSJAX_TRACEBACK', None)
  return subprocess.run([sys.executable, '-m', 'launch.refine', *args], cwd=ROOT, env=env,
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)


@pytest.fixture(scope='module')
def workdirs(tmp_path_factory):
  """Two-step refiners of both kinds, trained on synthetic pieces (which have durations too)."""
  from dsjax.train.loop import train_and_evaluate
  root = tmp_path_factory.mktemp('refiners')
  out = {}
  for attribute in ('duration', 'velocity'):
    config = configs.load_config(f'refine_{attribute}:tiny', **{
        'data.source': 'synthetic', 'train.quiet': True, 'train.num_steps': 2,
        'train.eval_every': 0, 'train.checkpoint_every': 2, 'train.select_by': ''})
    out[attribute] = str(root / attribute)
    train_and_evaluate(config, out[attribute])
  return out


def _quantised(tmp_path) -> str:
  """A synthetic piece with every note one sixteenth long, a drum track, and a tempo change."""
  piece = synthetic_velocity.make_pieces(1, seed=3)[0]
  notes = piece.notes.copy()
  notes['end'] = notes['start'] + 60.0 / piece.tempo_qpm[0] / 4.0
  drums = make_notes([36, 38], [0.0, 0.5], [0.1, 0.6], velocity=100, is_drum=True, part=9)
  path = str(tmp_path / 'quantised.mid')
  midi_io.write_midi(Piece('q', np.concatenate([notes, drums]), piece.tempo_times,
                           piece.tempo_qpm), path)
  return path


@pytest.mark.parametrize('attribute', ['duration', 'velocity'])
def test_refined_midi_keeps_every_onset_and_pitch(workdirs, tmp_path, attribute):
  src = _quantised(tmp_path)
  out = str(tmp_path / f'refined_{attribute}.mid')
  result = _launch([f'--workdir={workdirs[attribute]}', f'--midi={src}', f'--out={out}'])
  assert result.returncode == 0, result.stdout
  before, after = midi_io.load_midi(src), midi_io.load_midi(out)
  key = lambda n: sorted(zip(n['start'].tolist(), n['pitch'].tolist(), n['is_drum'].tolist()))
  assert len(after.notes) == len(before.notes)
  assert key(after.notes) == key(before.notes)           # the same ticks, read back the same
  png = out[:-4] + '.png'
  from PIL import Image
  with Image.open(png) as image:
    assert image.size[0] > 400 and image.size[1] > 300
  changed = 'end' if attribute == 'duration' else 'velocity'
  kept = 'velocity' if attribute == 'duration' else 'end'
  order = lambda n: n[np.lexsort((n['pitch'], n['start']))]
  a, b = order(before.notes[~before.notes['is_drum']]), order(after.notes[~after.notes['is_drum']])
  np.testing.assert_allclose(a[kept], b[kept], atol=1e-9)
  assert (a[changed] != b[changed]).any()                  # something was refined


def test_mistakes_end_with_one_line(workdirs, tmp_path):
  from dsjax.train.loop import write_config
  src = _quantised(tmp_path)
  other = tmp_path / 'other_run'
  write_config(configs.load_config('continuous_ae:tiny'), str(other))
  (tmp_path / 'bad.mid').write_bytes(b'not midi')
  w = f'--workdir={workdirs["velocity"]}'
  out = f'--out={tmp_path / "o.mid"}'
  cases = [
      ([w, f'--midi={tmp_path / "missing.mid"}', out], 'missing.mid: no such file'),
      ([w, f'--midi={src}', f'--out={tmp_path / "o.txt"}'], 'must name a .mid or .midi file'),
      ([w, f'--midi={tmp_path / "bad.mid"}', out], 'not a readable MIDI file'),
      ([f'--workdir={other}', f'--midi={src}', out], "a 'continuous_ae' run, not a refiner"),
  ]
  for args, want in cases:
    result = _launch(args)
    lines = result.stdout.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith('error: '), (
        args, result.stdout)
    assert want in lines[0], (want, lines[0])


def test_generate_passes_its_samples_through_a_refiner(workdirs, tmp_path):
  """``launch.generate --refine=DIR``: the same samples (same seed), the refiner's attribute
  changed and every onset and pitch kept; a workdir that is not a refiner ends in one line."""
  from dsjax.train.loop import train_and_evaluate
  run = str(tmp_path / 'roll')
  train_and_evaluate(configs.load_config('pianoroll_lstm:tiny', **{
      'sample.num': 0, 'train.eval_every': 0, 'train.num_steps': 2, 'train.quiet': True}), run)

  def generate(out, *flags):
    env = dict(os.environ, JAX_PLATFORMS='cpu')
    return subprocess.run([sys.executable, '-m', 'launch.generate', f'--workdir={run}', '--num=2',
                           '--length=24', f'--out={out}', *flags], cwd=ROOT, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=300)

  plain, refined = tmp_path / 'plain', tmp_path / 'refined'
  assert generate(plain).returncode == 0
  result = generate(refined, f'--refine={workdirs["velocity"]}')
  assert result.returncode == 0, result.stdout
  assert 'refined (velocity)' in result.stdout
  for name in ('sample_00.mid', 'sample_01.mid'):
    a, b = midi_io.load_midi(str(plain / name)).notes, midi_io.load_midi(str(refined / name)).notes
    assert a['start'].tolist() == b['start'].tolist() and a['pitch'].tolist() == b['pitch'].tolist()
    assert (a['velocity'] != b['velocity']).any()
  result = generate(tmp_path / 'bad', f'--refine={run}')
  assert result.returncode == 2
  assert result.stdout.strip().splitlines()[-1].endswith("a 'pianoroll_lm' run, not a refiner "
                                                          '(train configs/refine_duration.py or '
                                                          'configs/refine_velocity.py)')
