"""The refiners (log 11/03 durations, 11/17 velocities): note features on hand-built pieces, the
duration head's median and mask, refined pieces keep every onset and pitch, the eval's baselines,
the velocity refiner learns the synthetic rule, and bad sources are refused in one line."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import configs
from dsjax.data import synthetic_velocity
from dsjax.data.notes import Piece, make_notes
from dsjax.models import refine as refine_lib
from dsjax.tasks import refine
from dsjax.tasks.refine import COL


def _piece(qpm=120.0):
  """Hand-built, sixteenths at 120 qpm = 0.125 s: a C major chord at step 0 (C4 held 8 steps, E4
  4, G4 2), C4 again at step 8, an E4 at step 12 lasting 20 steps (cut to the 16-step cap), a
  drum at step 2."""
  s = 60.0 / qpm / 4.0
  pitch = [60, 64, 67, 60, 64, 38]
  start = np.array([0, 0, 0, 8, 12, 2]) * s
  end = np.array([8, 4, 2, 12, 32, 3]) * s
  notes = make_notes(pitch, start, end, velocity=[90, 70, 50, 80, 60, 100],
                     is_drum=[False] * 5 + [True])
  return Piece('hand', notes, np.zeros(1), np.full(1, qpm))


def test_note_rows_of_a_hand_built_piece():
  rows, index = refine.note_rows(_piece(), 0.25, 16, 16)
  piece = _piece()
  assert len(rows) == 5 and not piece.notes['is_drum'][index].any()   # the drum is left out
  np.testing.assert_array_equal(rows[:, COL['pitch']], [60, 64, 67, 60, 64])
  np.testing.assert_array_equal(piece.notes['pitch'][index], [60, 64, 67, 60, 64])
  np.testing.assert_array_equal(rows[:, COL['onset']], [0, 0, 0, 8, 12])
  cap = refine.gap_cap(16)
  np.testing.assert_array_equal(rows[:, COL['next_onset']], [8, 8, 8, 4, cap])
  np.testing.assert_array_equal(rows[:, COL['prev_onset']], [cap, cap, cap, 8, 4])
  np.testing.assert_array_equal(rows[:, COL['next_same']], [8, 12, cap, cap, cap])
  # next onset within 4 semitones: C4 -> E4 at 8? no, C4 at 8 (same pitch); E4 -> C4 at 8;
  # G4 -> E4 at 12; C4 (8) -> E4 at 12; E4 (12) -> none
  np.testing.assert_array_equal(rows[:, COL['next_near']], [8, 8, 12, 4, cap])
  np.testing.assert_array_equal(rows[:, COL['chord_size']], [3, 3, 3, 1, 1])
  np.testing.assert_array_equal(rows[:, COL['below_top']], [7, 3, 0, 0, 0])
  np.testing.assert_array_equal(rows[:, COL['above_bottom']], [0, 4, 7, 0, 0])
  np.testing.assert_array_equal(rows[:, COL['bar_pos']], [0, 0, 0, 8, 12])
  pcs = rows[:, COL['pc0']:COL['pc0'] + 12]
  np.testing.assert_array_equal(np.flatnonzero(pcs[0]), [0, 4, 7])
  np.testing.assert_array_equal(np.flatnonzero(pcs[4]), [4])
  # durations: C4 8, E4 4, G4 2, C4 4, E4 20 -> cut to 16
  np.testing.assert_array_equal(rows[:, COL['duration']], [8, 4, 2, 4, 16])
  np.testing.assert_array_equal(rows[:, COL['in_duration']], [8, 4, 2, 4, 20])
  np.testing.assert_array_equal(rows[:, COL['piece_median_duration']], 4)
  np.testing.assert_allclose(rows[:, COL['piece_mean_velocity']], 70)
  # a tempo of 60 qpm puts the same score on the same grid
  np.testing.assert_array_equal(refine.note_rows(_piece(60.0), 0.25, 16, 16)[0], rows)


def test_durations_never_pass_the_next_onset_of_their_pitch():
  rows, _ = refine.note_rows(_piece(), 0.25, 16, 4)
  np.testing.assert_array_equal(rows[:, COL['duration']], [4, 4, 2, 4, 4])   # max_steps 4
  # what the refiner is scored against is not cut at max_steps (only at the same pitch's onset)
  np.testing.assert_array_equal(rows[:, COL['true_duration']], [8, 4, 2, 4, 20])
  logits = jnp.zeros((5, 16))
  allowed = refine.allowed_steps(jnp.asarray(rows), 16)
  np.testing.assert_array_equal(allowed, [8, 12, 16, 16, 16])
  median = refine_lib.categorical_median(refine_lib.masked_logits(logits, allowed))
  # uniform over 1..allowed: the smallest k with k / allowed >= 1/2
  np.testing.assert_array_equal(median, [4, 6, 8, 8, 8])


def test_categorical_median_of_known_distributions():
  p = jnp.array([[0.1, 0.2, 0.3, 0.4], [0.6, 0.2, 0.1, 0.1], [0.0, 0.0, 0.0, 1.0]])
  np.testing.assert_array_equal(refine_lib.categorical_median(jnp.log(p + 1e-12)), [3, 1, 4])


def _refiner(attribute, seed=0):
  task = refine.RefineTask(configs.load_config(f'refine_{attribute}:tiny'))
  state = task.init(jax.random.key(seed))
  return refine.Refiner(task, state['params'], 0, 'untrained')


@pytest.mark.parametrize('attribute', ['duration', 'velocity'])
def test_refined_pieces_keep_every_onset_and_pitch(attribute):
  piece = _piece()
  piece = Piece('tempo', piece.notes, np.array([0.0, 0.7]), np.array([120.0, 90.0]))
  refiner = _refiner(attribute)
  (out,) = refiner.refine([piece])
  key = lambda n: sorted(zip(n['start'].tolist(), n['pitch'].tolist(), n['is_drum'].tolist()))
  assert key(out.notes) == key(piece.notes)               # exactly: the same floats
  drum_in, drum_out = piece.notes[piece.notes['is_drum']], out.notes[out.notes['is_drum']]
  np.testing.assert_array_equal(drum_out, drum_in)         # drums untouched
  notes = np.sort(out.notes[~out.notes['is_drum']], order=['start', 'pitch'])
  before = np.sort(piece.notes[~piece.notes['is_drum']], order=['start', 'pitch'])
  if attribute == 'velocity':
    np.testing.assert_array_equal(notes['end'], before['end'])
    assert notes['velocity'].min() >= 1 and notes['velocity'].max() <= 127
    return
  np.testing.assert_array_equal(notes['velocity'], before['velocity'])
  steps = (out.seconds_to_beats(notes['end']) - out.seconds_to_beats(notes['start'])) / 0.25
  np.testing.assert_allclose(steps, np.round(steps), atol=1e-9)   # whole grid steps ...
  assert steps.min() >= 1 and steps.max() <= 16
  c4 = notes[notes['pitch'] == 60]
  assert c4['end'][0] <= c4['start'][1]                    # ... never past the next C4


def test_synthetic_velocities_follow_the_rule():
  a, b = synthetic_velocity.make_pieces(3, seed=5), synthetic_velocity.make_pieces(3, seed=5)
  for x, y in zip(a, b):
    np.testing.assert_array_equal(x.notes, y.notes)
  piece = synthetic_velocity.make_pieces(1, seed=1, noise=0.0)[0]
  sixteenth = 60.0 / piece.tempo_qpm[0] / 4.0
  step = np.round(piece.notes['start'] / sixteenth).astype(int)
  phrase = (step % 64) / 64.0
  want = np.clip(np.round(synthetic_velocity.rule_velocity(step, piece.notes['pitch'], phrase)),
                 1, 127)
  np.testing.assert_array_equal(piece.notes['velocity'], want)
  assert synthetic_velocity.rule_velocity([0, 4, 8, 2], [60] * 4, [0.0] * 4).tolist() == [
      72.0, 60.0, 66.0, 52.0]


def test_duration_run_reports_train_and_held_out_against_baselines(tmp_path):
  from dsjax.train.loop import train_and_evaluate
  config = configs.load_config('refine_duration:tiny', **{
      'train.quiet': True, 'train.num_steps': 2, 'train.eval_every': 2,
      'train.checkpoint_every': 2})
  final = train_and_evaluate(config, str(tmp_path / 'run'))
  task = refine.RefineTask(config)
  for split, name in (('train', 'train_eval'), ('valid', 'valid')):
    rows = task.sets[name].values
    dur = rows[:, COL['duration']]
    np.testing.assert_allclose(final[f'{split}/mae_one_step'], np.abs(dur - 1).mean() * 0.25,
                               rtol=1e-5)
    np.testing.assert_allclose(final[f'{split}/iou_one_step'], (1.0 / dur).mean(), rtol=1e-5)
    med = rows[:, COL['piece_median_duration']]
    np.testing.assert_allclose(final[f'{split}/mae_piece_median'],
                               np.abs(dur - med).mean() * 0.25, rtol=1e-5)
    assert final[f'{split}/notes'] == len(rows)
    assert 0 < final[f'{split}/iou'] <= 1 and final[f'{split}/mae'] > 0
  assert len(task.sets['train_eval']) == 4                  # refine.train_eval_pieces
  assert (tmp_path / 'run' / 'samples' / 'step_0000002' / 'refined.png').exists()


def test_velocity_refiner_learns_the_synthetic_rule(tmp_path):
  from dsjax.train.loop import train_and_evaluate
  config = configs.load_config('refine_velocity:tiny', **{
      'train.quiet': True, 'train.num_steps': 100, 'train.eval_every': 100,
      'train.checkpoint_every': 100, 'model.hidden': (24,), 'data.window': 64,
      'data.batch_size': 8, 'optim.learning_rate': 5e-3, 'refine.synthetic_pieces': 40})
  final = train_and_evaluate(config, str(tmp_path / 'run'))
  assert final['valid/mae'] < 0.55 * final['valid/mae_piece_mean'], final
  # from the notes alone (velocities flattened to 80) it puts the accents back
  refiner = refine.load_refiner(str(tmp_path / 'run'))
  piece = synthetic_velocity.make_pieces(1, seed=99, noise=0.0)[0]
  flat = piece.notes.copy()
  flat['velocity'] = 80
  (out,) = refiner.refine([piece.with_notes(flat)])
  np.testing.assert_array_equal(out.notes['start'], piece.notes['start'])
  err = np.abs(out.notes['velocity'].astype(float) - piece.notes['velocity']).mean()
  base = np.abs(piece.notes['velocity'] - piece.notes['velocity'].mean()).mean()
  assert err < 0.6 * base, (err, base)


def test_bad_sources_are_refused_naming_the_key(tmp_path):
  def velocity_task(source):
    return refine.RefineTask(configs.load_config('refine_velocity:tiny',
                                                 **{'data.source': source}))
  with pytest.raises(ValueError, match=r"config.data.source='bach': its notes carry no"):
    _ = velocity_task('bach').sets
  with pytest.raises(ValueError, match=r'config.data.source=.*not a folder'):
    _ = velocity_task(str(tmp_path / 'missing')).sets
  (tmp_path / 'empty').mkdir()
  with pytest.raises(ValueError, match=r'config.data.source=.*no .mid / .midi files'):
    _ = velocity_task(str(tmp_path / 'empty')).sets
  from dsjax.data import midi_io
  flat = tmp_path / 'flat'
  flat.mkdir()
  for i in range(8):
    midi_io.write_midi(make_notes([60 + i, 64], [0.0, 0.5], [0.5, 1.0], velocity=64),
                       str(flat / f'{i}.mid'))
  with pytest.raises(ValueError, match=r'config.data.source=.*every note has velocity 64'):
    _ = velocity_task(str(flat)).sets
  with pytest.raises(ValueError, match=r"config.refine.attribute='pitch'"):
    refine.RefineTask(configs.load_config('refine_duration:tiny',
                                          **{'refine.attribute': 'pitch'}))


def test_refiners_table_puts_train_and_held_out_side_by_side():
  from dsjax.tables import refiners
  seeds = []
  for i, (train, valid) in enumerate(((0.10, 0.30), (0.20, 0.40))):
    s = {'seed': i, 'step': 8, 'train/notes': 100.0, 'valid/notes': 50.0}
    for split, mae in (('train', train), ('valid', valid)):
      s.update({f'{split}/mae': mae, f'{split}/mae_one_step': 0.7, f'{split}/mae_piece_median':
                0.3, f'{split}/mae_legato': 0.2, f'{split}/iou': 0.9, f'{split}/iou_one_step':
                0.3, f'{split}/iou_piece_median': 0.75, f'{split}/iou_legato': 0.8,
                f'{split}/accuracy': 0.5})
    seeds.append(s)
  config = configs.load_config('refine_duration:tiny').to_dict()
  table = refiners.markdown({'duration': {'config': config, 'seeds': seeds}})
  assert ('| train | 100 | 0.150 ± 0.071 | 0.700 ± 0.000 | 0.300 ± 0.000 | 0.200 ± 0.000 |'
          in table)
  assert '| held-out | 50 | 0.350 ± 0.071 |' in table
  assert 'Held-out minus train MAE: 0.200 ± 0.000 beats.' in table
