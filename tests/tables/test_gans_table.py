"""The GAN comparison table: trains through the generic loop and reports each run's own figures,
next to held-out real windows and the reference density model's samples."""

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


def _cells(row: str) -> list[str]:
  return [c.strip() for c in row.strip('|').split('|')]


def test_quick_table_reports_the_runs_last_evaluation(tmp_path):
  out = str(tmp_path / 'gans')
  name = 'gan_lstm_cnn:plain'   # a row naming a variant; the generator without the LM term
  md = gans.run(out, seeds=1, quick=True, names=(name,))
  assert open(os.path.join(out, 'table.md')).read() == md
  reference = os.path.join(out, 'reference')                  # trained once, for every row
  assert json.load(open(os.path.join(reference, 'config.json')))['model']['head'] == 'pitch_rnn'
  workdir = os.path.join(out, 'gan_lstm_cnn_plain', 'seed_0')
  assert json.load(open(os.path.join(workdir, 'config.json')))['gan']['reference_model'] == (
      os.path.abspath(reference))
  last = [json.loads(l) for l in open(os.path.join(workdir, 'metrics.jsonl'))
          if '"eval"' in l][-1]
  raw = json.load(open(os.path.join(out, 'raw.json')))
  for col in gans.RECORDED:
    assert raw['results'][name][col] == [last[col]]
  row = next(l for l in md.splitlines() if l.startswith(f'| {name} |'))
  assert _cells(row)[1:1 + len(gans.COLUMNS)] == [f'{last[c]:.4f}' for c in gans.COLUMNS]
  # the held-out row: real windows score better under the reference than the GAN's and their
  # melody line is closer to the real one's
  held_out, density = raw[gans.HELD_OUT], raw[gans.DENSITY]
  for figures in (held_out, density):
    assert sorted(figures) == sorted(gans.RECORDED) and all(len(v) == 1 for v in figures.values())
  assert held_out['reference_nll'][0] < last['reference_nll']
  assert held_out['melody_js'][0] < last['melody_js']
  for key, label in gans.ROW_LABELS.items():
    cells = _cells(next(l for l in md.splitlines() if l.startswith(f'| {label}')))
    assert cells[1:1 + len(gans.COLUMNS)] == [f'{raw[key][c][0]:.4f}' for c in gans.COLUMNS]
  # the caption reads the runs' settings
  c = load_config('gan_lstm_cnn:plain,tiny', **{'gan.reference_model': os.path.abspath(reference)})
  assert gans.describe(c, 'tiny') in md
  assert f'step noise {c.model.generator.step_noise}' in md
  assert f'critic: {c.gan.binarize}' in md and c.gan.binarize == 'straight_through'
  best = json.load(open(os.path.join(reference, 'best.json')))
  assert f"a pitch_rnn roll LM, LSTM (16,), test NLL {best['test/frame_nll']:.3f} at step 4" in md


def test_train_seconds_come_from_the_runs_logged_rates(tmp_path):
  records = [{'step': 10, 'split': 'train', 'steps_per_s': 2.0},
             {'step': 10, 'split': 'eval', 'diversity': 0.1},
             {'step': 20, 'split': 'train', 'steps_per_s': 1.0},
             {'step': 25, 'split': 'train', 'steps_per_s': 0.5}]
  (tmp_path / 'metrics.jsonl').write_text(''.join(json.dumps(r) + '\n' for r in records))
  assert gans._train_seconds(str(tmp_path)) == pytest.approx(10 / 2 + 10 / 1 + 5 / 0.5)


def test_rows_name_a_config_and_its_variant_at_the_table_budget():
  """``iwgan_lstm:original`` is the log's setting (no step noise, soft fakes) at the budget of the
  other rows; its runs go to ``OUT/iwgan_lstm_original``."""
  plain, original = gans.row_config('iwgan_lstm'), gans.row_config('iwgan_lstm:original')
  assert plain.train.num_steps == original.train.num_steps == 800
  assert plain.model.generator.hidden == original.model.generator.hidden == (128,)
  assert (original.model.generator.step_noise, original.gan.binarize) == (0, 'none')
  assert plain.gan.binarize == 'straight_through'
  assert gans.row_config('iwgan_lstm:original', quick=True).data.window == 16
  assert gans.row_folder('iwgan_lstm:original') == 'iwgan_lstm_original'
  assert 'iwgan_lstm:original' in gans.NAMES
