"""End to end: ``python -m launch.prepare_data`` on a tiny folder made by the test."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import numpy as np

from dsjax.data import split as split_lib
from dsjax.data.notes import SequenceSet

from tests.data.test_corpora import make_midi_folder, write_midi_file

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _run(*args):
  env = dict(os.environ, PYTHONPATH=str(ROOT))
  out = subprocess.run([sys.executable, '-m', 'launch.prepare_data', *args], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=120)
  assert out.returncode == 0, out.stderr
  return out.stdout


def test_prepare_data_on_a_tiny_folder(tmp_path):
  folder = tmp_path / 'tiny'
  good = make_midi_folder(folder)
  for i in range(5):
    write_midi_file(folder / 'more' / f'm{i}.mid', [(60 + i, 0.0, 0.25, 80), (67, 0.25, 1.0, 90)])
  names = sorted(list(good) + [f'more/m{i}.mid' for i in range(5)])
  out_dir = tmp_path / 'cache'
  args = [f'--source={folder}', '--encoding=pianoroll', f'--out={out_dir}', '--keys=88',
          '--step=0.5', '--valid_fraction=0.3', '--test_fraction=0.3', '--noprogress']
  stdout = _run(*args)
  lines = stdout.splitlines()

  assert lines[0] == f'tiny ({folder}): kept 8, skipped 3'
  for f, reason in (('corrupt.mid', 'not a readable MIDI file'), ('empty.mid', 'empty file'),
                    ('truncated.mid', 'truncated file')):
    assert any(l.startswith(f'  skipped {folder / "bad" / f}: {reason}') for l in lines), stdout

  # Totals and per-split sizes, checked against the written arrays and the split hash.
  enc_dir = next(out_dir.glob('tiny-*/roll-beats0.5-k88-*'))
  sets = {s: SequenceSet.load(str(enc_dir / f'{s}.npz')) for s in split_lib.SPLITS}
  total_notes = sum(len(n) for n in good.values()) + 2 * 5
  total_frames = sum(int(sets[s].lengths.sum()) for s in split_lib.SPLITS)
  assert f'8 pieces, {total_notes} notes, {total_frames} frames' in stdout
  for s in split_lib.SPLITS:
    expected = [f'tiny:{n}' for n in names if split_lib.assign_split('tiny', n, 0.3, 0.3) == s]
    assert list(sets[s].names) == expected
    assert sets[s].values.shape[1:] == (88,)
    line = f'  {s:5s}: {len(expected):6d} pieces {int(sets[s].lengths.sum()):10d} frames'
    assert line in lines, stdout
  # m0: C4 for 0.5 beat then G4 for 1.5 beats = frames [0] and [1, 2] at 0.5 beat per frame.
  where = {n: (s, list(sets[s].names).index(n)) for s in split_lib.SPLITS for n in sets[s].names}
  s, i = where['tiny:more/m0.mid']
  m0 = sets[s][i]
  assert m0.shape == (4, 88)
  np.testing.assert_array_equal(np.nonzero(m0), ([0, 1, 2, 3], [60 - 21, 67 - 21, 67 - 21,
                                                                67 - 21]))
  assert lines[-1].startswith('built in ')

  # Same command again: reused, same summary.
  again = _run(*args).splitlines()
  assert again[-1].startswith('reused in ') and again[:-1] == lines[:-1]


def test_prepare_data_unknown_source_is_a_usage_error(tmp_path):
  env = dict(os.environ, PYTHONPATH=str(ROOT))
  out = subprocess.run([sys.executable, '-m', 'launch.prepare_data', f'--source={tmp_path}/nope',
                        f'--out={tmp_path}'], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=60)
  assert out.returncode == 2
  assert out.stderr.startswith(f"error: unknown source '{tmp_path}/nope': not one of")
  assert len(out.stderr.strip().splitlines()) == 1
  assert list(tmp_path.iterdir()) == []
