"""The skip-gram task end to end on the tiny config, and launch.nearest on the run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.train.test_train import ROOT, load_config, read_metrics


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory):
  from dsjax.train.loop import train_and_evaluate
  config = load_config('skipgram')
  workdir = str(tmp_path_factory.mktemp('skipgram') / 'run')
  final = train_and_evaluate(config, workdir)
  return config, workdir, final


def test_trains_and_evaluates_without_generating(tiny_run):
  config, workdir, final = tiny_run
  assert final['step'] == config.train.num_steps
  assert np.isfinite(final['valid/sgns_loss']) and 0 <= final['valid/beats_noise'] <= 1
  assert not os.path.exists(os.path.join(workdir, 'samples'))      # sample.num = 0: no music
  train = read_metrics(workdir)
  # Small random vectors start every pair near (1 + K) log 2 (K = 5 negatives); training lowers it.
  assert train[5]['loss'] == pytest.approx(6 * np.log(2), abs=0.02)
  assert train[20]['loss'] < train[5]['loss']


def test_center_table_restores_for_an_event_lm(tiny_run):
  config, workdir, _ = tiny_run
  from dsjax.train.loop import restore_for_inference
  _, trainer, state, step = restore_for_inference(workdir)
  assert step == config.train.num_steps
  table = state['params']['embed']['embedding']
  assert table.shape == (363, config.model.embed_dim)
  np.testing.assert_array_equal(trainer.task.embedding(state), np.asarray(table))
  # Noise distribution: unigram ** 0.75 of the training events, zero for unseen ids.
  counts = trainer.task.counts
  want = counts ** 0.75 / (counts ** 0.75).sum()
  np.testing.assert_allclose(trainer.task.noise, want)
  assert counts.sum() == len(trainer.task.train_set.values)


def test_sampling_is_refused_by_config():
  from dsjax.tasks.skipgram import SkipGramTask
  with pytest.raises(ValueError, match='sample.num=2'):
    SkipGramTask(load_config('skipgram', **{'sample.num': 2}))


def test_launch_nearest(tiny_run):
  _, workdir, _ = tiny_run
  env = dict(os.environ, JAX_PLATFORMS='cpu')
  out = subprocess.run([sys.executable, '-m', 'launch.nearest', f'--workdir={workdir}',
                        '--events=C4 on,<C4 off>', '--k=3'], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=120)
  assert out.returncode == 0, out.stderr[-2000:]
  lines = out.stdout.strip().splitlines()
  assert 'table embed (363, 16)' in lines[0]
  assert lines[2].startswith('<C4 on>') and lines[3].startswith('<C4 off>')
  assert lines[2].count('>') == 1 + 3                          # the query and 3 neighbours
  bad = subprocess.run([sys.executable, '-m', 'launch.nearest', f'--workdir={workdir}',
                        '--events=C4 loud'], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=120)
  assert bad.returncode != 0 and "unknown event 'C4 loud'" in bad.stderr


def test_neighbour_table_exact():
  from dsjax.data.events import EventVocab
  from launch import nearest
  vocab = EventVocab()
  table = np.zeros((vocab.size, 2))
  table[60] = [1, 0]          # <C4 on>
  table[188] = [1, 0.1]       # <C4 off>
  table[64] = [0, 1]          # <E4 on>
  table[300] = [1, 0.2]       # a shift, but never seen in the data
  counts = np.zeros(vocab.size, np.int64)
  counts[[60, 188, 64]] = [5, 5, 2]
  rows = nearest.neighbour_table(table, vocab, [60], counts, k=2)
  assert [i for i, _ in rows[0][2]] == [188, 64]
  rows = nearest.neighbour_table(table, vocab, [60], counts, k=2, include_unseen=True)
  assert [i for i, _ in rows[0][2]] == [188, 300]
  assert nearest.parse_events('c4 ON, <E4 on>', vocab) == [60, 64]
  text = nearest.format_table(rows, vocab)
  assert '<C4 off> 1.00' in text and text.splitlines()[1].startswith('<C4 on>')
