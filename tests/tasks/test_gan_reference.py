"""Tests for the GAN task's structure figures: the melody line's statistics at every evaluation and
the frame NLL of samples under a reference density model (``gan.reference_model``)."""

from __future__ import annotations

import numpy as np
import pytest

import configs
from dsjax.eval import music_stats
from dsjax.tasks import gan as T


def _task(**overrides):
  """A tiny GAN task on 20 Nottingham pieces of each split; ``overrides``: dotted config keys."""
  return T.GANTask(configs.load_config('iwgan_lstm:tiny', **{'data.max_pieces': 20, **overrides}))


@pytest.fixture(scope='module')
def reference_workdir(tmp_path_factory) -> str:
  """``configs/pianoroll_pitchrnn.py:reference,tiny``, 4 steps on 20 pieces, no evaluation."""
  from dsjax.train.loop import train_and_evaluate
  workdir = str(tmp_path_factory.mktemp('reference') / 'run')
  train_and_evaluate(configs.load_config('pianoroll_pitchrnn:reference,tiny', **{
      'data.max_pieces': 20, 'train.num_steps': 4, 'train.eval_every': 0,
      'train.quiet': True}), workdir)
  return workdir


def test_statistics_report_the_melody_line_next_to_real_windows():
  sampler = _task().sampler()
  held = np.zeros((3, 8, 88), np.uint8)
  held[:, :, [30, 40]] = 1                              # a chord held for the whole window
  stats = sampler.statistics(held)
  assert stats['melody_hold'] == 1.0 and stats['melody_step'] == 0.0
  ref = sampler.real_reference(8)
  assert stats['real_melody_hold'] == ref['melody_hold']
  assert stats['real_melody_step'] == ref['melody_step']
  assert 0.1 < ref['melody_hold'] < 0.9 and 0.05 < ref['melody_step'] < 0.9
  # all holds against the real mix: the divergence of a one-bin histogram from it
  p0 = ref['melody_intervals'][0]
  want = 0.5 * np.log(2 / (1 + p0)) + 0.5 * sum(
      q * np.log(2 * q / ((i == 0) + q)) for i, q in enumerate(ref['melody_intervals']) if q > 0)
  assert stats['melody_js'] == pytest.approx(want)
  assert stats['real_melody_js'] < 0.1 < stats['melody_js']
  assert 'reference_nll' not in stats                   # no reference model configured


def test_reference_nll_of_samples_next_to_held_out_windows(reference_workdir):
  sampler = _task(**{'gan.reference_model': reference_workdir}).sampler()
  calls = []
  real_frame_nll = sampler.reference.frame_nll
  sampler.reference.frame_nll = lambda rolls: calls.append(len(rolls)) or real_frame_nll(rolls)
  held_out = sampler.held_out_windows(7, 6, 16)
  noise = (np.random.default_rng(0).random(held_out.shape) < held_out.mean()).astype(np.uint8)
  real_stats, noise_stats = sampler.statistics(held_out), sampler.statistics(noise)
  assert calls == [6, T.REAL_REFERENCE_WINDOWS, 6]      # the held-out figure is computed once
  assert real_stats['real_reference_nll'] == noise_stats['real_reference_nll']
  assert np.isfinite(real_stats['real_reference_nll'])
  assert real_stats['reference_nll'] < noise_stats['reference_nll']
  assert noise_stats['real_reference_nll'] < noise_stats['reference_nll']
  assert real_stats['reference_nll'] == pytest.approx(real_frame_nll(held_out))
  # held-out windows are windows of the test split's pieces
  from dsjax.tasks import datasets
  test = datasets.load_split(sampler._config, 'pianoroll', 'test')
  for window in held_out:
    assert any(np.array_equal(np.asarray(piece)[s:s + 16], window)
               for piece in test for s in range(len(piece) - 15))


def test_a_reference_is_checked_when_training_starts_and_opened_at_first_use(
    reference_workdir, tmp_path):
  missing = str(tmp_path / 'nowhere')
  task = _task(**{'gan.reference_model': missing})      # building the task (generate) opens nothing
  with pytest.raises(FileNotFoundError, match='nowhere'):
    task.train_data(0, 1)
  quarters = _task(**{'gan.reference_model': reference_workdir, 'data.roll.step': 1.0,
                      'data.source': 'jsb_chorales'})
  with pytest.raises(ValueError, match=r'config\.gan\.reference_model=.*step=0\.5.*step=1,'):
    quarters.train_data(0, 1)
  assert configs.load_config('iwgan_lstm:cpu').gan.reference_model == ''

