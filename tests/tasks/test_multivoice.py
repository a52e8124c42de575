"""The multi-voice LM task end to end on the tiny config (music21 Bach chorales, four voices)."""

from __future__ import annotations

import glob
import os

import numpy as np
import pytest

from tests.train.test_train import load_config


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory):
  from dsjax.train.loop import restore_for_inference, train_and_evaluate
  config = load_config('multivoice_lstm')
  workdir = str(tmp_path_factory.mktemp('multivoice') / 'run')
  final = train_and_evaluate(config, workdir)
  return config, workdir, final, restore_for_inference(workdir)


def test_trains_evaluates_and_writes_samples(tiny_run):
  config, workdir, final, _ = tiny_run
  assert final['step'] == config.train.num_steps
  assert np.isfinite(final['valid/frame_nll'])
  # frame_nll is the sum of the per-voice NLLs (same frames).
  voices = [final[f'valid/voice_nll_{v}'] for v in range(4)]
  assert final['valid/frame_nll'] == pytest.approx(sum(voices), rel=1e-6)
  # An untrained net predicts about p = 1/2 per key: 88 * log 2 nats per voice frame.
  assert all(50 < v < 88 * np.log(2) + 1 for v in voices)
  pngs = glob.glob(os.path.join(workdir, 'samples', '*', 'pianoroll.png'))
  mids = glob.glob(os.path.join(workdir, 'samples', '*', '*.mid'))
  assert pngs and mids


def test_samples_keep_the_primer_and_decode_to_four_parts(tiny_run):
  import jax
  config, _, _, (_, trainer, state, _) = tiny_run
  task = trainer.task
  samples = task.sample(state, jax.random.key(3), 2, 10, primer=4)
  assert samples.shape == (2, 14, 4, 88) and samples.dtype == np.uint8
  assert set(np.unique(samples)) <= {0, 1}
  primers = task.primers(jax.random.fold_in(jax.random.key(3), 1), 2, 4)
  np.testing.assert_array_equal(samples[:, :4], primers)
  piece = task.to_pieces(samples)[0]
  assert sorted(np.unique(piece.notes['part'])) == [0, 1, 2, 3]      # every voice sounds
  back = task.encoding.encode(piece)                 # up to the last note end
  np.testing.assert_array_equal(back, samples[0][:len(back)])
  assert samples[0][len(back):].sum() == 0
  roll = task.to_rolls(samples)[0]
  assert roll.shape == (14, 88)
  # Voice v is drawn at grey level 1.0, 0.8, 0.6, 0.45 (the brightest wins where they share).
  levels = np.float32([0.0, 1.0, 0.8, 0.6, 0.45])
  assert np.all(np.isclose(roll[..., None], levels).any(-1))
  soprano = samples[0][:, 0] > 0
  np.testing.assert_allclose(roll[soprano], 1.0)
