"""The GAN comparison table: trains through the generic loop and reports each run's own figures."""

from __future__ import annotations

import json
import os

import pytest

from configs import load_config
from dsjax.tables import gans, mean_std


def test_mean_std_over_seeds():
  assert mean_std([1.0, 3.0]) == '2.000 ± 1.414'
  assert mean_std([0.25], 2) == '0.25'


def test_load_config_names_a_missing_file():
  with pytest.raises(FileNotFoundError, match='no_such_config'):
    load_config('no_such_config')


def test_quick_table_reports_the_runs_last_evaluation(tmp_path):
  out = str(tmp_path / 'gans')
  md = gans.run(out, seeds=1, quick=True, names=('gan_lstm_cnn',))
  assert open(os.path.join(out, 'table.md')).read() == md
  workdir = os.path.join(out, 'gan_lstm_cnn', 'seed_0')
  last = [json.loads(l) for l in open(os.path.join(workdir, 'metrics.jsonl'))
          if '"eval"' in l][-1]
  raw = json.load(open(os.path.join(out, 'raw.json')))
  for col in gans.COLUMNS:
    assert raw['results']['gan_lstm_cnn'][col] == [last[col]]
  row = next(l for l in md.splitlines() if l.startswith('| gan_lstm_cnn'))
  assert (f"| {last['diversity']:.4f} | {last['frame_changes']:.4f} | "
          f"{last['note_density']:.4f} |") in row
  assert (f"| real data | {last['real_diversity']:.4f} | {last['real_frame_changes']:.4f} | "
          f"{last['real_note_density']:.4f} |") in md
  # the caption reads the runs' settings
  c = load_config('gan_lstm_cnn:tiny')
  assert gans.describe(c, 'tiny') in md
  assert f'step noise {c.model.generator.step_noise}' in md
  assert f'critic: {c.gan.binarize}' in md and c.gan.binarize == 'straight_through'


def test_train_seconds_come_from_the_runs_logged_rates(tmp_path):
  records = [{'step': 10, 'split': 'train', 'steps_per_s': 2.0},
             {'step': 10, 'split': 'eval', 'diversity': 0.1},
             {'step': 20, 'split': 'train', 'steps_per_s': 1.0},
             {'step': 25, 'split': 'train', 'steps_per_s': 0.5}]
  (tmp_path / 'metrics.jsonl').write_text(''.join(json.dumps(r) + '\n' for r in records))
  assert gans._train_seconds(str(tmp_path)) == pytest.approx(10 / 2 + 10 / 1 + 5 / 0.5)
