"""Tests for dsjax.eval.reference: rolls scored by a trained piano-roll LM read from its workdir."""

from __future__ import annotations

import json
import os

import jax
import numpy as np
import pytest

import configs
from dsjax.data.pianoroll import RollConfig
from dsjax.eval.reference import ReferenceModel, check_reference_workdir
from dsjax.tasks.gan import random_windows

NOTTINGHAM = RollConfig(grid='beats', step=0.5, keys=88)


def train_tiny_reference(workdir: str) -> str:
  """``configs/pianoroll_pitchrnn.py:reference,tiny`` on 20 pieces of each split, 4 steps, no
  evaluation (a few seconds): the output bias starts at the keys' training frequencies."""
  from dsjax.train.loop import train_and_evaluate
  c = configs.load_config('pianoroll_pitchrnn:reference,tiny', **{
      'data.max_pieces': 20, 'train.num_steps': 4, 'train.eval_every': 0, 'train.quiet': True})
  train_and_evaluate(c, workdir)
  return workdir


@pytest.fixture(scope='module')
def reference(tmp_path_factory) -> ReferenceModel:
  workdir = train_tiny_reference(str(tmp_path_factory.mktemp('reference') / 'run'))
  return ReferenceModel(workdir, NOTTINGHAM, batch_size=8)


def test_reference_variant_trains_on_the_gan_configs_rolls():
  ref, gan = configs.load_config('pianoroll_pitchrnn:reference'), configs.load_config('iwgan_lstm')
  assert ref.task == 'pianoroll_lm' and ref.model.head == 'pitch_rnn'
  assert ref.data.source == gan.data.source == 'nottingham'
  assert ref.data.roll.to_dict() == gan.data.roll.to_dict()
  assert ref.data.window == gan.data.window == 64
  assert ref.data.frame_beats == gan.data.frame_beats == 0.0   # the benchmark's own frames
  assert ref.train.num_steps == 400 and ref.train.select_by == 'valid/frame_nll'


def test_real_windows_score_finite_and_lower_than_random_rolls_of_the_same_density(reference):
  task = reference.task
  held_out = random_windows(task.eval_sets['test'], 0, 16, 24, reference.keys)
  rng = np.random.default_rng(0)
  noise = (rng.random(held_out.shape) < held_out.mean()).astype(np.uint8)
  assert abs(noise.mean() - held_out.mean()) < 0.01
  real_nll, noise_nll = reference.frame_nll(held_out), reference.frame_nll(noise)
  assert np.isfinite(real_nll) and np.isfinite(noise_nll)
  assert 0 < real_nll < noise_nll - 5.0


def test_frame_nll_is_the_mean_over_predicted_frames_whatever_the_batching(reference):
  rolls = random_windows(reference.task.train_set, 1, 5, 10, reference.keys)
  one = [reference.frame_nll(r[None]) for r in rolls]          # 9 predicted frames each
  assert reference.frame_nll(rolls) == pytest.approx(np.mean(one), rel=1e-5)
  reference.batch_size = 2                                      # 3 batches, the last padded
  try:
    assert reference.frame_nll(rolls) == pytest.approx(np.mean(one), rel=1e-5)
  finally:
    reference.batch_size = 8
  with pytest.raises(ValueError, match=r'\[num, time >= 2, 88\]'):
    reference.frame_nll(rolls[:, :, :40])


def test_samples_are_binary_rolls_of_the_asked_length(reference):
  samples = reference.sample(jax.random.key(0), 3, 12)
  assert samples.shape == (3, 12, 88) and samples.dtype == np.uint8
  assert set(np.unique(samples)) <= {0, 1}
  assert np.isfinite(reference.frame_nll(samples))


def test_a_reference_on_another_grid_or_task_is_refused_naming_both(reference, tmp_path):
  quarters = RollConfig(grid='beats', step=1.0, keys=88)
  with pytest.raises(ValueError, match=r"step=0\.5, 88 keys.*step=1, 88 keys"):
    check_reference_workdir(reference.workdir, quarters, 'config.gan.reference_model')
  with pytest.raises(ValueError, match='config.gan.reference_model'):
    ReferenceModel(reference.workdir, quarters, key='config.gan.reference_model')
  other = tmp_path / 'gan'
  other.mkdir()
  (other / 'config.json').write_text(json.dumps({'task': 'gan', 'data': {'roll': {
      'grid': 'beats', 'step': 0.5, 'pitches': 88}}}))
  with pytest.raises(ValueError, match="a 'gan' run"):
    check_reference_workdir(str(other), NOTTINGHAM)
  with pytest.raises(FileNotFoundError, match='pianoroll_pitchrnn.py:reference'):
    check_reference_workdir(os.path.join(str(tmp_path), 'missing'), NOTTINGHAM)
