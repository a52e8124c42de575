"""launch.evaluate on tiny runs of an event LM, a roll LM (pitch RNN) and a GAN: report.json's
contents, the files written, and one-line refusals."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import configs
from dsjax.eval import report as R

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STATS = set(R.music_stats.DESCRIBE_KEYS) | {'notes', 'frames', 'diversity'}
# Defined for any pieces (the bar statistics need two bars, the others nothing or a note).
ALWAYS = {'note_density', 'polyphony', 'polyphony_rate', 'empty_beat_rate', 'notes', 'frames',
          'diversity'}


def _train(workdir, spec, **overrides):
  from dsjax.train.loop import train_and_evaluate
  train_and_evaluate(configs.load_config(spec, **{'train.quiet': True, **overrides}), workdir)
  return workdir


@pytest.fixture(scope='session')
def runs(tmp_path_factory):
  """Three tiny runs trained for a few steps: an event LM, a pitch-RNN roll LM on the GANs'
  Nottingham grid (also the GAN's reference model) and a WGAN-GP LSTM GAN."""
  root = tmp_path_factory.mktemp('evaluate')
  few = {'train.num_steps': 4, 'train.eval_every': 4, 'train.checkpoint_every': 4,
         'sample.num': 0}
  return {
      'lm': _train(str(root / 'lm'), 'baseline_lstm:tiny', **{**few, 'train.eval_every': 0}),
      'roll': _train(str(root / 'roll'), 'pianoroll_pitchrnn:reference,tiny',
                     **{**few, 'data.max_pieces': 20, 'data.eval_max_len': 16}),
      'gan': _train(str(root / 'gan'), 'iwgan_lstm:tiny',
                    **{**few, 'data.max_pieces': 20, 'train.num_steps': 2,
                       'train.eval_every': 0, 'train.checkpoint_every': 2}),
  }


def _evaluate(workdir, out, **kw):
  return R.evaluate_run(workdir, num=3, length=16, out=str(out), log=lambda _: None, **kw)


def _finite(x):
  return isinstance(x, (int, float)) and math.isfinite(x)


def _check_common(report, out, train_names):
  with open(os.path.join(out, 'report.json')) as f:
    saved = json.load(f)
  assert saved == {k: v for k, v in report.items() if k != 'out'}
  for name in ('report.md', 'pianoroll.png', 'histograms.png'):
    assert os.path.getsize(os.path.join(out, name)) > 0
  assert report['num'] == 3 and report['length'] == 16
  for which in ('samples', 'real', 'train'):
    stats = report['statistics'][which]
    pieces = report['num'] if which == 'samples' else report['real'][
        'windows' if which == 'real' else 'train_windows']
    assert set(stats) == (STATS if pieces >= 2 else STATS - {'diversity'})  # diversity: pairs
    assert all(_finite(stats[k]) for k in ALWAYS & set(stats)), (which, stats)
    assert all(v is None or _finite(v) for v in stats.values())
    assert math.isclose(sum(report['pitch_class_histograms'][which]), 1.0)
    assert math.isclose(sum(report['melody_interval_histograms'][which]), 1.0)
  for pair in ('samples_vs_real', 'train_vs_real'):
    for v in report['divergences'][pair].values():
      assert _finite(v) and 0.0 <= v <= math.log(2) + 1e-9
  p = report['plagiarism']
  assert p['train_pieces'] == len(train_names)
  for which in ('samples', 'real'):
    for row in p[which]['rows']:
      if row['ratio'] is not None:
        assert 0 < row['ratio'] <= 1 and row['closest'] in train_names
        assert row['lcs'] == round(row['ratio'] * row['notes'])
        assert 0 <= row['copy'] <= row['lcs'] and row['copy_from'] in train_names
  assert p['real']['count'] == report['real']['windows'] and p['real']['mean'] > 0
  md = open(os.path.join(out, 'report.md')).read()
  assert 'Plagiarism' in md and 'Music statistics' in md


def test_event_lm_report(runs, tmp_path):
  report = _evaluate(runs['lm'], tmp_path, bleu_windows_num=6)
  from dsjax.train.loop import restore_for_inference
  _, trainer, _, step = restore_for_inference(runs['lm'])
  train_names = [str(n) for n in trainer.task.train_set.names]
  _check_common(report, str(tmp_path), train_names)
  assert report['step'] == step == 4 and report['primer_steps'] == 1
  assert _finite(report['held_out_metrics']['valid/nll_per_event'])
  assert report['statistics_grid']['from'] == 'decoded notes'
  b = report['bleu']
  assert (b['windows'], b['primer'], b['length']) == (6, 5, 50)
  assert (b['other_real'] is None) == (b['pieces'] == 1)
  for which in ('samples', 'other_real')[:1 if b['other_real'] is None else 2]:
    assert 0.0 <= b[which]['corpus_bleu'] <= 1.0 and len(b[which]['precisions']) == 4
  # real windows: the items 1..16 of valid pieces, named
  valid = trainer.task.eval_sets['valid']
  names = [str(n) for n in valid.names]
  assert all(n in names for n in report['real']['pieces'])
  assert report['reference'] is None


def test_roll_lm_report_is_seeded(runs, tmp_path):
  a = _evaluate(runs['roll'], tmp_path / 'a', best=True)
  from dsjax.train.loop import restore_for_inference
  _, trainer, _, _ = restore_for_inference(runs['roll'])
  task = trainer.task
  _check_common(a, str(tmp_path / 'a'), [str(n) for n in task.train_set.names])
  assert a['checkpoint'] == 'best' and a['primer_steps'] == 4 and a['bleu'] is None
  assert set(a['held_out_metrics']) >= {'valid/frame_nll', 'test/frame_nll'}
  assert a['real']['split'] == 'test' and a['statistics_grid']['from'] == "the run's rolls"
  assert a['statistics']['samples']['frames'] == 16.0
  # the held-out windows are frames 4..19 of test pieces: their statistics are those of the rolls
  test = task.eval_sets['test']
  names = [str(n) for n in test.names]
  windows = [np.asarray(test[names.index(n)][4:20]) for n in a['real']['pieces']]
  got = R.music_statistics(R.music_of_pieces(
      [trainer.sampler.to_pieces([w])[0] for w in windows], None,
      R.statistics_grid(task.roll_cfg), 16))
  assert got['note_density'] == pytest.approx(np.mean([w.sum(-1).mean() for w in windows]))
  for k, v in a['statistics']['real'].items():
    assert (math.isnan(got[k]) if v is None else got[k] == pytest.approx(v)), k
  # the same seed gives the same report; another seed other samples
  b = _evaluate(runs['roll'], tmp_path / 'b', best=True)
  drop = ('out', 'workdir')
  assert {k: v for k, v in a.items() if k not in drop} == {k: v for k, v in b.items()
                                                           if k not in drop}


def test_gan_report_with_a_reference_model(runs, tmp_path):
  report = _evaluate(runs['gan'], tmp_path, reference=runs['roll'])
  from dsjax.train.loop import restore_for_inference
  _, trainer, _, _ = restore_for_inference(runs['gan'])
  train_names = [str(n) for n in trainer.task.train_set.names]
  _check_common(report, str(tmp_path), train_names)
  assert report['held_out_metrics'] is None and report['bleu'] is None
  assert report['primer_steps'] == 0 and report['real']['split'] == 'test'
  ref = report['reference']
  assert ref['frames'] == 16 and all(_finite(ref[k]) for k in ('samples', 'real', 'train'))
  # real windows against themselves: no divergence; the samples' is a real number
  sampler = trainer.sampler
  from dsjax.tasks import datasets
  test = datasets.load_split(trainer.config, 'pianoroll', 'test')
  items, names = R.windows_of(test, 3, 0, 16, seed=0)
  assert names == report['real']['pieces']
  real = R.music_of_pieces(sampler.to_pieces(items), names, R.statistics_grid(sampler.roll_cfg),
                           16)
  assert R.divergences(real, real) == {'pitch_class_js': 0.0, 'melody_js': 0.0}
  # a training piece's notes are all in itself: the LCS ratio 1 and its own name
  train = trainer.task.train_set
  seqs = R.note_sequences(sampler.to_pieces([train[i] for i in range(len(train))]))
  rows = R.plagiarism(seqs[:2], seqs, train_names)
  assert [(r['ratio'], r['closest'], r['copy_ratio']) for r in rows] == [
      (1.0, train_names[0], 1.0), (1.0, train_names[1], 1.0)]


def _launch(args):
  env = dict(os.environ, JAX_PLATFORMS='cpu')
  env.pop('DSJAX_TRACEBACK', None)
  return subprocess.Popen([sys.executable, '-m', 'launch.evaluate', *args], cwd=ROOT, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_refusals(skipgram_workdir, runs, tmp_path):
  with pytest.raises(ValueError, match='its skipgram run makes no music to evaluate'):
    R.evaluate_run(skipgram_workdir, out=str(tmp_path))
  with pytest.raises(ValueError, match="a 'event_lm' run; the reference must be a 'pianoroll_lm'"):
    R.evaluate_run(runs['gan'], reference=runs['lm'], out=str(tmp_path))
  with pytest.raises(FileNotFoundError, match='--reference=.*nowhere: not a dsjax workdir'):
    R.evaluate_run(runs['gan'], reference=str(tmp_path / 'nowhere'), out=str(tmp_path))
  assert os.listdir(tmp_path) == []                       # refused before any work


def test_launch_refusals_are_one_line(skipgram_workdir, tmp_path):
  cases = [
      ([f'--workdir={tmp_path / "nowhere"}'], 'not a dsjax workdir (no config.json)'),
      ([f'--workdir={skipgram_workdir}'], 'skipgram run makes no music to evaluate'),
  ]
  procs = [(_launch(args), args, want) for args, want in cases]
  for p, args, want in procs:
    out = p.communicate(timeout=300)[0]
    lines = out.strip().splitlines()
    assert p.returncode == 2, (args, out[-2000:])
    assert lines[-1].startswith('error: ') and want in lines[-1], (args, out)
    assert out.count('error: ') == 1 and 'Traceback' not in out, (args, out)
