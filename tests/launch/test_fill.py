"""``launch.fill``: fills a span of a MIDI file's melody on its rhythm (or another file's), writes
the MIDI and the picture; bad input ends with one line."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import configs
from dsjax.data import midi_io
from dsjax.data.notes import Piece, make_notes

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _launch(args):
  env = dict(os.environ, JAX_PLATFORMS='cpu')
  env.pop('DSJAX_TRACEBACK', None)
  return subprocess.Popen([sys.executable, '-m', 'launch.fill', *args], cwd=ROOT, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _melody(path, pitches, beats_each):
  """A one-line melody at 120 qpm (0.5 s a beat): ``pitches`` of ``beats_each`` beats each."""
  start = np.arange(len(pitches)) * beats_each * 0.5
  midi_io.write_midi(Piece('m', make_notes(pitches, start, start + beats_each * 0.5)), path)


@pytest.fixture(scope='module')
def workdir(tmp_path_factory):
  from dsjax.train.loop import train_and_evaluate
  path = str(tmp_path_factory.mktemp('fill') / 'run')
  train_and_evaluate(configs.load_config('fill:tiny', **{'train.quiet': True}), path)
  return path


def test_fill_keeps_the_rhythm_of_another_file_and_everything_outside_the_span(workdir, tmp_path):
  src, rhythm, out = (str(tmp_path / n) for n in ('in.mid', 'rhythm.mid', 'out.mid'))
  _melody(src, [60, 62, 64, 65, 67, 69, 71, 72] * 2, 1.0)   # quarter notes, 16 beats
  _melody(rhythm, [50] * 32, 0.5)                             # eighth notes
  bad = _launch([f'--workdir={workdir}', f'--midi={src}', '--start=4', '--end=20',
                 f'--out={tmp_path / "x.mid"}'])
  good = _launch([f'--workdir={workdir}', f'--midi={src}', f'--rhythm={rhythm}', '--start=4',
                  '--end=8', f'--out={out}'])
  text, _ = good.communicate(timeout=300)
  assert good.returncode == 0, text
  assert 'beats 4-8 filled with 8 notes' in text
  filled = midi_io.load_midi(out)
  beats = np.round(filled.seconds_to_beats(filled.notes['start']), 6)
  inside = (beats >= 4) & (beats < 8)
  # eighth-note starts inside the span (the rhythm file's), the original quarters outside
  np.testing.assert_allclose(beats[inside], np.arange(4, 8, 0.5))
  np.testing.assert_allclose(beats[~inside], [0, 1, 2, 3] + list(range(8, 16)))
  original = [60, 62, 64, 65, 67, 69, 71, 72] * 2
  np.testing.assert_array_equal(filled.notes['pitch'][~inside],
                                original[:4] + original[8:])
  assert os.path.getsize(os.path.join(tmp_path, 'out.png')) > 1000
  text, _ = bad.communicate(timeout=300)
  assert bad.returncode == 2, text
  assert text.strip().splitlines()[-1] == (
      "error: --end=20.0: the span ends after the piece's melody (16 beats)")


def test_bad_input_ends_with_one_line(tmp_path):
  src = str(tmp_path / 'in.mid')
  _melody(src, [60, 62], 1.0)
  w, o = f'--workdir={tmp_path}', f'--out={tmp_path / "o.mid"}'
  cases = [([w, f'--midi={tmp_path / "nope.mid"}', '--start=0', '--end=1', o],
            f'--midi={tmp_path / "nope.mid"}: no such file'),
           ([w, f'--midi={src}', '--start=2', '--end=2', o], 'start must come before end'),
           ([w, f'--midi={src}', '--start=-1', '--end=2', o], '--start=-1.0: must be >= 0'),
           ([w, f'--midi={src}', f'--rhythm={tmp_path / "r.mid"}', '--start=0', '--end=1', o],
            'r.mid: no such file'),
           ([w, f'--midi={src}', '--start=0', '--end=1'], '--out is required')]
  procs = [(_launch(args), want) for args, want in cases]
  for proc, want in procs:
    text, _ = proc.communicate(timeout=120)
    lines = text.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and want in lines[0], text
