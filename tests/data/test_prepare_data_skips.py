"""``python -m launch.prepare_data`` lists skipped files once (in its summary), not again as a log
warning."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

from tests.data.test_corpora import write_midi_file

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_skip_list_appears_once(tmp_path):
  folder = tmp_path / 'mixed'
  for i in range(3):
    write_midi_file(folder / f'good{i}.mid', [(60 + i, 0.0, 0.5, 80), (67, 0.5, 1.0, 90)])
  (folder / 'garbage.mid').write_bytes(b'not a midi file' * 8)
  env = dict(os.environ, PYTHONPATH=str(ROOT))
  out = subprocess.run(
      [sys.executable, '-m', 'launch.prepare_data', f'--source={folder}', '--encoding=events',
       f'--out={tmp_path / "cache"}', '--noprogress', '--workers=1'],
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
  assert out.returncode == 0, out.stderr
  both = out.stdout + out.stderr
  assert f'mixed ({folder}): kept 3, skipped 1' in out.stdout
  assert both.count(f'skipped 1') == 1, both
  assert both.count(str(folder / 'garbage.mid')) == 1, both
