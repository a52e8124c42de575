"""launch.visualize on tiny runs: the cell activations it draws are the model's own hidden states,
each picture is written at its expected size, the features and neighbour counts have hand-checked
values, and mistakes end with one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

import configs
from dsjax import visualize as vis
from dsjax import viz
from dsjax.data.events import EventVocab
from dsjax.data.keys import Key
from launch import visualize_runs as V

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _train(workdir, spec, **overrides):
  from dsjax.train.loop import train_and_evaluate
  train_and_evaluate(configs.load_config(spec, **{'train.quiet': True, **overrides}), workdir)
  return workdir


@pytest.fixture(scope='session')
def runs(tmp_path_factory):
  """A tiny event LM and a tiny WGAN-GP LSTM GAN, each trained for a few steps."""
  root = tmp_path_factory.mktemp('visualize')
  return {
      'lm': _train(str(root / 'lm'), 'baseline_lstm:tiny', **{
          'train.num_steps': 4, 'train.eval_every': 0, 'train.checkpoint_every': 4,
          'sample.num': 0}),
      'gan': _train(str(root / 'gan'), 'iwgan_lstm:tiny', **{
          'data.max_pieces': 20, 'train.num_steps': 2, 'train.eval_every': 0,
          'train.checkpoint_every': 2}),
  }


def _png_shape(path):
  from PIL import Image
  with Image.open(path) as im:
    return im.size[1], im.size[0]


# ---------------------------------------------------------------------------------------------
# Hand-built values.

VOCAB = EventVocab()
C4_ON, E4_ON, C4_OFF, E4_OFF = 60, 64, 128 + 60, 128 + 64
SHIFT = lambda k: 256 + k - 1   # a shift of k x 10 ms  # noqa: E731
VEL = VOCAB.velocity_offset + 6  # <velocity 64>


def test_event_roll_kinds_clock_and_features():
  ids = [VEL, C4_ON, E4_ON, SHIFT(10), C4_OFF, SHIFT(20), E4_OFF]
  np.testing.assert_array_equal(vis.event_kinds(ids, VOCAB), [3, 0, 0, 2, 1, 2, 1])
  np.testing.assert_allclose(vis.event_seconds(ids, VOCAB), [0, 0, 0, .1, .1, .3, .3])
  roll = vis.event_roll(ids, VOCAB)
  assert roll.shape == (7, 128)
  np.testing.assert_array_equal(roll[:, 60], [0, 1, 1, 1, 0, 0, 0])
  np.testing.assert_array_equal(roll[:, 64], [0, 0, 1, 1, 1, 1, 0])
  assert roll.sum() == 7
  f = vis.event_features(ids, VOCAB)
  np.testing.assert_array_equal(f['polyphony'], [0, 1, 2, 2, 1, 1, 0])
  np.testing.assert_allclose(f['mean_pitch'], [np.nan, 60, 62, 62, 64, 64, np.nan])
  np.testing.assert_allclose(f['seconds_since_note_on'], [np.nan, 0, 0, .1, .1, .3, .3])
  np.testing.assert_array_equal(f['is_shift'], [0, 0, 0, 1, 0, 1, 0])
  assert [vis.event_short_name(i, VOCAB) for i in (C4_ON, C4_OFF, SHIFT(3), VEL)] == [
      'C4', 'C4', '30ms', 'v64']


def test_roll_features_and_correlations():
  roll = np.zeros((8, 4), np.uint8)
  roll[0:3, 0] = 1      # held 3 frames
  roll[2, 3] = 1
  roll[5:8, 1] = 1
  f = vis.roll_features(roll, lowest_pitch=60, frames_per_beat=1, beats_per_bar=4)
  np.testing.assert_array_equal(f['polyphony'], [1, 1, 2, 0, 0, 1, 1, 1])
  np.testing.assert_allclose(f['mean_pitch'], [60, 60, 61.5, np.nan, np.nan, 61, 61, 61])
  np.testing.assert_array_equal(f['onsets'], [1, 0, 1, 0, 0, 1, 0, 0])
  np.testing.assert_array_equal(f['frames_since_onset'], [0, 1, 0, 1, 2, 0, 1, 2])
  np.testing.assert_array_equal(f['bar_position'], [0, 1, 2, 3, 0, 1, 2, 3])
  poly = f['polyphony']
  acts = np.stack([poly, -2 * poly + 1, np.ones(8), [0, 1, 2, 3, 0, 1, 2, 3],
                   [5, 0, 0, 0, -5, 0, 0, 0]], axis=1)
  r = vis.feature_correlations(acts, {'polyphony': poly, 'bar_position': f['bar_position'],
                                      'mean_pitch': f['mean_pitch']})
  np.testing.assert_allclose(r['polyphony'][:3], [1, -1, 0], atol=1e-12)
  np.testing.assert_allclose(r['bar_position'][[2, 3]], [0, 1], atol=1e-12)
  # cell 4 is +5 at the first beat of bar 1 and -5 at that of bar 2: the beat means are all 0
  np.testing.assert_allclose(r['bar_position'][4], 0, atol=1e-12)
  # mean_pitch is taken over the 6 sounding frames only: cell 3 there is 0 1 2 1 2 3
  x, y = np.array([0, 1, 2, 1, 2, 3.]), np.array([60, 60, 61.5, 61, 61, 61])
  np.testing.assert_allclose(r['mean_pitch'][3], np.corrcoef(x, y)[0, 1])
  # a feature away from its usual value at fewer than 3 steps says nothing: left out
  assert vis.feature_correlations(acts, {'rare': [0, 0, 1, 0, 0, 1, 0, 0]}) == {}
  best = vis.best_cells(r, ['a', 'b', 'c', 'd', 'e'])
  assert best[0] == ('polyphony', 'a', 0, pytest.approx(1.0))
  np.testing.assert_array_equal(vis.most_variable_cells(acts, 3), [4, 1, 3])
  assert vis.cell_names([2, 1]) == ['L1 #0', 'L1 #1', 'L2 #0']


def test_key_relations_and_neighbours():
  C, a, c, G, e, D, Fs = (Key(0), Key(9, 'minor'), Key(0, 'minor'), Key(7), Key(4, 'minor'),
                          Key(2), Key(6))
  assert [vis.key_relation(C, k) for k in (C, a, c, G, e, D, Fs)] == [
      'same key', 'relative', 'parallel', 'fifth apart', 'fifth apart', 'other', 'other']
  assert vis.fifths_position(a) == vis.fifths_position(C) == 0
  assert vis.fifths_position(e) == vis.fifths_position(G) == 1
  assert vis.key_colour(a) == vis.key_colour(C) != vis.key_colour(G)
  # two tight pairs far apart: (C, C) and (G, D); each point's nearest is its partner
  points = np.array([[0, 0], [0, 1], [100, 0], [100, 1.]])
  n = vis.key_neighbours(points, [C, C, G, D], k=1)
  assert n['same key'] == {'neighbours': 0.5, 'chance': pytest.approx(2 / 12)}
  assert n['fifth apart'] == {'neighbours': 0.5, 'chance': pytest.approx(6 / 12)}
  assert n['other']['neighbours'] == 0 and n['other']['chance'] == pytest.approx(4 / 12)
  # clusters: C major and a minor close together, G major far off; keys of 1 point are left out
  points = np.array([[0, 0], [0, 1], [0, 2], [5, 0], [5, 1], [5, 2], [90, 0], [90, 1], [90, 2],
                     [40, 0]])
  keys = [C] * 3 + [a] * 3 + [G] * 3 + [D]
  assert vis.nearest_keys(points, keys) == [(C, a, 'relative'), (G, a, 'fifth apart'),
                                            (a, C, 'relative')]


def test_event_neighbours_hand_built():
  ids = np.array([C4_ON, C4_OFF, E4_ON, E4_OFF, SHIFT(1), SHIFT(2)])
  points = np.array([[0, 0], [0, 1], [10, 0], [10, 1], [50, 0], [50, 1.]])
  n = vis.event_neighbours(points, ids, VOCAB, k=1)
  assert n['same_type'] == {'neighbours': pytest.approx(2 / 6), 'chance': pytest.approx(6 / 30)}
  assert n['on_off_pairs'] == {'share': 1.0, 'pairs': 2}
  assert 'note_on_pitch_gap' not in n                  # fewer than 3 note-ons
  # note-ons C4, C5, E4 and G4: C4 and C5 are each other's nearest, and so are E4 and G4
  ids = np.array([60, 72, 64, 67])
  n = vis.event_neighbours(np.array([[0, 0], [0, 1], [20, 0], [20, 9.]]), ids, VOCAB, k=1)
  # gaps 12 12 3 3; the 12 ordered pairs' gaps 3 3 4 4 5 5 7 7 8 8 12 12
  assert n['note_on_pitch_gap'] == {'nearest': 7.5, 'chance': 6.0}
  assert n['note_on_same_pitch_class'] == {'nearest': 0.5, 'chance': pytest.approx(2 / 12)}


# ---------------------------------------------------------------------------------------------
# The commands on tiny runs.


def test_cell_states_are_the_models_own(runs):
  """lstm_states of the restored event LM: each layer's h equals the model's layer outputs
  (flax's captured intermediates), the last layer's h through the output layer gives the model's
  logits, and the last c is the model's final memory."""
  from dsjax.train.loop import restore_for_inference
  config, trainer, state, _ = restore_for_inference(runs['lm'])
  task = trainer.task
  params = task.eval_params(state)
  got = V.recurrent_inputs(config, task, params)
  inputs, cond = got['model_inputs']
  assert got['name'].endswith('(held-out valid piece 0)')
  (logits, carry), captured = task.model.apply(
      {'params': params}, inputs, condition=cond, capture_intermediates=True,
      mutable=['intermediates'])
  layers = captured['intermediates']['rnn']
  assert len(got['states']) == len(config.model.hidden) == 2
  for i, (h, c) in enumerate(got['states']):
    assert h.shape == (inputs.shape[1], config.model.hidden[i])
    np.testing.assert_allclose(h, np.asarray(layers[f'layer_{i}']['__call__'][0][0][0]),
                               atol=1e-5)
    np.testing.assert_allclose(c[-1], np.asarray(carry[i][1][0]), atol=1e-5)
  head = params['head']
  np.testing.assert_allclose(got['states'][-1][0] @ head['kernel'] + head['bias'],
                             np.asarray(logits[0]), atol=1e-4)
  assert np.abs(got['states'][-1][0]).max() > 1e-3      # not all zero


@pytest.mark.parametrize('spec', ['pianoroll_lstm:tiny', 'hist_rnn:window_stats,tiny'])
def test_cell_states_of_other_lms(spec):
  """A roll LM (frames in) and a conditioned event LM (a per-step condition beside the events),
  untrained: the states are the model's own."""
  from dsjax.models.language_models import MultiHotLM
  from dsjax.tasks import get_task
  config = configs.load_config(spec)
  task = get_task(config)
  params = task.init(jax.random.key(0))['params']
  got = V.recurrent_inputs(config, task, params)
  ((h, c),) = got['states'][-1:]
  if config.task == 'pianoroll_lm':
    (x,) = got['model_inputs']
    y, carry = task.model.apply({'params': params}, x, method=MultiHotLM.features)
    np.testing.assert_allclose(h, np.asarray(y[0]), atol=1e-5)
  else:
    inputs, cond = got['model_inputs']
    assert cond.shape == (1, inputs.shape[1], 32)
    logits, carry = task.model.apply({'params': params}, inputs, condition=cond)
    np.testing.assert_allclose(h @ params['head']['kernel'] + params['head']['bias'],
                               np.asarray(logits[0]), atol=1e-5)
  np.testing.assert_allclose(c[-1], np.asarray(carry[-1][1][0]), atol=1e-5)


def test_cells_picture(runs, tmp_path):
  """The cells figure of a MIDI file: its size is the roll's figure plus the strips, and the cells
  drawn are the most variable of the model's states over the drawn steps."""
  from dsjax.data import events as events_lib
  from dsjax.data import midi_io
  from dsjax.train.loop import restore_for_inference
  config, trainer, state, _ = restore_for_inference(runs['lm'])
  task = trainer.task
  ids = np.asarray(task.train_set[0])
  piece = events_lib.decode_events_to_piece(ids, task.vocab)
  midi = str(tmp_path / 'piece.mid')
  midi_io.write_midi(piece, midi)
  path, info = V.run_cells(runs['lm'], midi=midi, cells=5, start=10, length=90,
                           out=str(tmp_path / 'out'))
  assert os.path.basename(path) == 'cells_piece_h.png'
  with open(path[:-4] + '.json') as f:
    assert json.load(f) == info
  assert info['steps'] == [10, 100] and len(info['drawn']) == 5
  # the states again, from the MIDI file as the run encodes it
  params = task.eval_params(state)
  got = V.recurrent_inputs(config, task, params, midi)
  np.testing.assert_array_equal(got['items'],
                                events_lib.encode_events(midi_io.load_midi(midi), task.vocab))
  acts = np.concatenate([h for h, _ in got['states']], axis=1)[10:100]
  stds = acts.std(0)
  names = vis.cell_names([32, 32])
  assert [d['cell'] for d in info['drawn']] == [names[i] for i in np.argsort(-stds)[:5]]
  np.testing.assert_allclose([d['std'] for d in info['drawn']], np.sort(stds)[::-1][:5],
                             rtol=1e-5)
  # size: the roll's own figure, 14 px for the seconds, the event-type row (10 + 6 px) and the
  # heat map (14 px title + 60 px + 30 px axis) under it, 70 px on the right for the colour bar
  roll = vis.event_roll(got['items'][:-1], task.vocab)[10:100]
  alone = viz.pianoroll_figure([roll], lowest_pitch=0)
  assert _png_shape(path) == (alone.shape[0] + 14 + 16 + 104, alone.shape[1] + 70)
  # for each feature the cell that follows it best, as lines (14 px title + 60 px each, 6 px
  # between, 30 px of time axis under the last)
  path, info = V.run_cells(runs['lm'], midi=midi, pick='features', start=10, length=90,
                           out=str(tmp_path / 'out'))
  assert os.path.basename(path) == 'cells_piece_h_features.png'
  rows = info['best_cell_per_feature']
  assert [d['cell'] for d in info['drawn']] == [row['cell'] for row in rows]
  for d, row in zip(info['drawn'], rows):
    assert d[row['feature']] == row['value']
    assert all(abs(v) <= abs(row['value']) for k, v in info['drawn'][0].items()
               if k == row['feature'])
  n = len(rows)
  assert n >= 4 and _png_shape(path) == (alone.shape[0] + 14 + 16 + 74 * n + 6 * (n - 1) + 30,
                                         alone.shape[1])
  # one cell as a line, and the memory cells
  path, info = V.run_cells(runs['lm'], midi=midi, cell=3, layer=1, state='c', length=50,
                           out=str(tmp_path / 'out'))
  assert os.path.basename(path) == 'cells_piece_c_L1-3.png'
  assert [d['cell'] for d in info['drawn']] == ['L1 #3']
  c = got['states'][0][1][:50, 3]
  assert info['drawn'][0]['std'] == pytest.approx(float(c.std()), rel=1e-5)


def test_tsne_keys_picture(runs, tmp_path):
  from dsjax.data import cache
  from dsjax.data import keys as keys_lib
  path, info = V.run_tsne_keys(runs['lm'], out=str(tmp_path))
  assert _png_shape(path) == (560, 1240)
  pieces = cache.load_notes('bach', max_pieces=12, progress=False).pieces
  want = {}
  for p in pieces:
    name = keys_lib.estimate_key(p).name
    want[name] = want.get(name, 0) + 1
  assert info['pieces'] == 12 and info['keys'] == want
  for spaces in info['neighbours'].values():
    for rel in spaces.values():
      assert sum(v['neighbours'] for v in rel.values()) == pytest.approx(1.0)
      assert sum(v['chance'] for v in rel.values()) == pytest.approx(1.0)
  # a fixed seed gives the same map
  assert np.array_equal(vis.tsne(np.eye(6), seed=3), vis.tsne(np.eye(6), seed=3))


def test_tsne_events_picture(skipgram_workdir, tmp_path):
  from dsjax.train.loop import restore_for_inference
  path, info = V.run_tsne_events(skipgram_workdir, out=str(tmp_path))
  assert _png_shape(path) == (1050, 1300)
  _, trainer, _, _ = restore_for_inference(skipgram_workdir)
  assert info['events'] == int((trainer.task.counts > 0).sum())
  assert 0 < info['tsne_map']['same_type']['chance'] < 1


def test_code_schedule_picture(runs, tmp_path):
  """The codes drawn are what the generator read: it makes the drawn rolls from them, and those
  are launch.generate's samples for the seed; linspace codes run in a straight line."""
  from dsjax.train.loop import restore_for_inference
  path, info = V.run_code_schedule(runs['gan'], schedule='linspace', num=2, length=24, seed=5,
                                   out=str(tmp_path))
  assert os.path.basename(path) == 'code_schedule_linspace.png'
  assert info['code_shape'][:2] == [2, 24] and info['frames_per_code'] == 1
  _, trainer, state, step = restore_for_inference(runs['gan'])
  task, sampler = trainer.task, trainer.sampler
  rng = jax.random.fold_in(jax.random.key(5), step)
  codes, samples = V.gan_codes_and_samples(task, sampler, state, rng, 2, 24, 'linspace')
  np.testing.assert_array_equal(samples, sampler.sample(state, rng, 2, 24, schedule='linspace'))
  raw = task.generator.apply({'params': state['params']['generator']}, codes, 24,
                             rngs={'sample': jax.random.fold_in(rng, 0x6d)})
  np.testing.assert_array_equal(np.asarray(raw) > float(task.config.sample.threshold), samples)
  code = codes[..., :task.hp.code_dim]
  np.testing.assert_allclose(np.diff(code, 2, axis=1), 0, atol=1e-5)
  assert np.abs(code[:, 0] - code[:, -1]).max() > 0.1
  # the picture: one roll figure per sample with the code strip (14 + 64 + 6 px) above it
  alone = viz.pianoroll_figure([samples[0]], **sampler.figure_options())
  assert _png_shape(path)[1] == alone.shape[1] + 70
  assert _png_shape(path)[0] > 2 * (alone.shape[0] + 84)


def _launch(args):
  env = dict(os.environ, JAX_PLATFORMS='cpu')
  env.pop('DSJAX_TRACEBACK', None)
  return subprocess.Popen([sys.executable, '-m', 'launch.visualize', *args], cwd=ROOT, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_mistakes_end_with_one_line(runs):
  """Two commands that fail before any model is read: exit status 2 and one line."""
  cases = [
      (['--what=nope'], '--what=nope: expected one of cells, tsne_keys, tsne_events, '
       'code_schedule'),
      (['--what=cells', f'--workdir={runs["lm"]}', '--midi=/no/such.mid'],
       '--midi=/no/such.mid: no such file'),
  ]
  procs = [(_launch(args), args, want) for args, want in cases]
  for p, args, want in procs:
    out = p.communicate(timeout=300)[0]
    lines = out.strip().splitlines()
    assert p.returncode == 2, (args, out[-2000:])
    assert len(lines) == 1 and lines[0].startswith('error: ') and want in lines[0], (args, out)


def test_refusals(runs, skipgram_workdir, tmp_path):
  """Refusals after the run is read (cli.UsageError: exit status 2, its message the one line)."""
  from launch import cli
  out = str(tmp_path)
  with pytest.raises(cli.UsageError, match=(
      r"^--what=cells reads the LSTM of an event LM \(configs/baseline_lstm.py, hist_rnn.py\) or "
      r"a piano-roll LM \(configs/pianoroll_\*.py\); this is a 'skipgram' run$")):
    V.run_cells(skipgram_workdir, out=out)
  with pytest.raises(cli.UsageError, match=r'^--cell=40: layer 2 has cells 0\.\.31$'):
    V.run_cells(runs['lm'], cell=40, layer=2, out=out)
  with pytest.raises(cli.UsageError, match=r'^--layer=3: the LSTM has layers 1\.\.2$'):
    V.run_cells(runs['lm'], layer=3, out=out)
  with pytest.raises(cli.UsageError, match=r'^--what=tsne_events needs a skip-gram run '):
    V.run_tsne_events(runs['lm'], out=out)
  with pytest.raises(cli.UsageError, match=r"^--what=code_schedule needs a GAN run .* is a "
                     r"'event_lm' run$"):
    V.run_code_schedule(runs['lm'], out=out)
  with pytest.raises(cli.UsageError, match=r'^--schedule=zigzag: expected one of constant, '):
    V.run_code_schedule(runs['gan'], schedule='zigzag', out=out)
