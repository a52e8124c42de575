"""The finish-me-with-beats fill task: melody tokens, its blindness to the gap's pitches, its
counts on hand-built fills, a tiny training run and the fill table's quick path."""

from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import configs
from dsjax.data import pianoroll as roll_lib
from dsjax.data.notes import Piece, make_notes
from dsjax.models import fill as fill_lib
from dsjax.tasks import fill as fill_task

ROLL = roll_lib.RollConfig(grid='beats', step=0.5, keys=88)   # eighth notes, A0 = key 0
C4, E4, G3 = 60 - 21, 64 - 21, 55 - 21                        # keys
A = fill_lib.ATTACK


def _piece():
  """At 120 qpm one eighth-note step is 0.25 s: C4 for 2 steps, C4 again (a repeated note) for 1,
  a rest, E4 for 2 steps with G3 starting under it at its second step."""
  notes = make_notes([60, 60, 64, 55], [0.0, 0.5, 1.0, 1.25], [0.5, 0.75, 1.5, 1.5])
  return Piece('hand', notes)


def test_melody_tokens_of_a_hand_built_piece_and_back_to_notes():
  tokens = fill_task.melody_of_piece(_piece(), ROLL)
  # the repeated C4 is a second attack; the G3 under the held E4 is not the melody
  np.testing.assert_array_equal(tokens, [A + C4, 1, A + C4, 0, A + E4, 1])
  np.testing.assert_array_equal(fill_lib.rhythm_of(jnp.asarray(tokens)), [1, 2, 1, 0, 1, 2])
  np.testing.assert_array_equal(fill_lib.sounding_keys(jnp.asarray(tokens)),
                                [C4, C4, C4, -1, E4, E4])
  notes = fill_task.tokens_to_notes(tokens, ROLL)
  np.testing.assert_array_equal(notes['pitch'], [60, 60, 64])
  np.testing.assert_allclose(notes['start'], [0.0, 0.5, 1.0])
  np.testing.assert_allclose(notes['end'], [0.5, 0.75, 1.5])
  # a sustain after a silence sounds nothing; the picture marks starts and held steps apart
  assert fill_lib.sounding_keys(jnp.asarray([0, 1, A + 3]))[1] == -1
  roll = fill_task.token_roll(tokens, 88)
  assert roll[0, C4] == 1.0 and roll[1, C4] == 0.55 and roll[3].sum() == 0


def test_gap_counts_and_shares_of_hand_built_fills():
  context = jnp.asarray([[0, 0, 0, A + C4]] * 2)
  true = jnp.asarray([[1, 0, A + E4, 1, A + E4 + 2]] * 2)
  pred = jnp.asarray([[1, 1, A + E4, A + E4 + 2, 0]] * 2)
  valid = jnp.asarray([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
  counts = {k: float(v) for k, v in fill_task.gap_counts(context, pred, true, valid).items()}
  # row 0: attacks at steps 2 (E4: right) and 4 (missed); the silence at step 1 still hears C4;
  # the extra note at step 3 is a wrong note. Row 1: steps 0-2 only.
  assert counts == {'pitch_right': 2, 'attacks': 3, 'silences': 2, 'notes_hit': 2,
                    'notes_pred': 3, 'attack_kept': 2, 'silence_kept': 0}
  shares = fill_task.summarize(counts)
  assert shares['pitch_acc'] == pytest.approx(2 / 3)
  assert shares['note_f1'] == pytest.approx(2 / 3)
  assert shares['rhythm_kept'] == pytest.approx(2 / 5)
  tokens = jnp.asarray([[5, 6, 7, 8, 9, 10, 11]])
  np.testing.assert_array_equal(fill_task.repeat_previous(tokens, 4, jnp.asarray([2])),
                                [[7, 8, 0]])


@pytest.fixture(scope='module')
def task():
  from dsjax.tasks import get_task
  return get_task(configs.load_config('fill:tiny'))


def _rows(task):
  batch = next(iter(task.train_data(0, 1)))
  return jnp.asarray(batch['inputs'], jnp.int32), jnp.asarray([2, 3, 4, 6], jnp.int32)


def _other_pitches_and_after(task, tokens, gap_len):
  """The rows with every gap pitch moved (attacks stay attacks) and the steps after the gap
  replaced by random tokens."""
  c = task.context
  gap = tokens[:, c:]
  inside = jnp.arange(gap.shape[1])[None] < gap_len[:, None]
  moved = jnp.where(gap >= A, A + (gap - A + 7) % task.keys, gap)
  noise = jax.random.randint(jax.random.key(3), gap.shape, 0, task.vocab)
  changed = tokens.at[:, c:].set(jnp.where(inside, moved, noise))
  assert int(jnp.sum((moved != gap) & inside)) > 0     # pitches inside the gap moved
  return changed


@pytest.mark.parametrize('arch', ['fill', 'lm'])
def test_the_fill_sees_nothing_of_the_gaps_pitches(task, arch):
  if arch == 'lm':
    from dsjax.tasks import get_task
    task = get_task(configs.load_config('fill:lm,tiny'))
  params = task.init(jax.random.key(1))['params']
  tokens, gap_len = _rows(task)
  changed = _other_pitches_and_after(task, tokens, gap_len)
  fill = jax.jit(task.fill, static_argnames=('temperature', 'constrained'))
  for temperature, constrained in ((0.0, True), (1.0, False)):
    a = fill(params, tokens, gap_len, jax.random.key(5), temperature, constrained)
    b = fill(params, changed, gap_len, jax.random.key(5), temperature, constrained)
    np.testing.assert_array_equal(a, b)
  # ... while the context does reach it (the first gap step's teacher-forced logits), and the
  # fill model's rhythm too
  c = task.context
  prev = tokens[:, c - 1:-1]
  rhythm = fill_lib.rhythm_of(tokens[:, c:])
  logits = lambda ctx, r: task.model.apply({'params': params}, ctx, r, prev)[:, 0]
  base = logits(tokens[:, :c], rhythm)
  other_context = tokens[:, :c].at[:, :-1].set(A + 40)
  assert not np.allclose(base, logits(other_context, rhythm))
  if arch == 'fill':
    assert not np.allclose(base, logits(tokens[:, :c], (rhythm + 1) % 3))
  # the constrained fill keeps the rhythm exactly
  a = fill(params, tokens, gap_len, jax.random.key(5), 0.0, True)
  inside = jnp.arange(a.shape[1])[None] < gap_len[:, None]
  np.testing.assert_array_equal(fill_lib.rhythm_of(a, inside), fill_lib.rhythm_of(tokens[:, c:],
                                                                                   inside))


def test_train_step_loss_is_the_masked_gap_nll(task):
  state = task.init(jax.random.key(0))
  batch = next(iter(task.train_data(0, 1)))
  rng = jax.random.key(7)
  _, metrics = jax.jit(task.train_step)(state, batch, rng)
  lo, hi = task.gap_range
  tokens = jnp.asarray(batch['inputs'], jnp.int32)
  gap_len = jnp.minimum(jax.random.randint(rng, (4,), lo, hi + 1),
                        jnp.asarray(batch['mask'])[:, task.context:].sum(-1).astype(jnp.int32))
  nll, valid = task.gap_nll(state['params'], tokens, gap_len)
  want = float((nll * valid).sum() / valid.sum())
  assert float(metrics['loss']) == pytest.approx(want, rel=1e-5)
  # an untrained model is near uniform over the 90 tokens
  assert abs(want - np.log(task.vocab)) < 0.5


def test_eval_gaps_are_fixed_and_inside_their_pieces(task):
  rows = task.eval_gap_rows('valid')
  again = task.eval_gap_rows('valid')
  for k in rows:
    np.testing.assert_array_equal(rows[k], again[k])
  assert len(rows['gap_len']) % 4 == 0
  lo, hi = task.gap_range
  mel = task.eval_sets['valid']
  for i in np.flatnonzero(rows['gap_len'] > 0):
    n, s = int(rows['gap_len'][i]), int(rows['starts'][i])
    assert lo <= n <= hi
    seq = mel[int(rows['piece_ids'][i])]
    np.testing.assert_array_equal(rows['tokens'][i, :task.context + n],
                                  seq[s:s + task.context + n])


def test_quick_table_trains_both_runs_and_reports_every_row(tmp_path):
  from dsjax.tables import fill as table
  out = str(tmp_path / 'fill_table')
  text = table.run(out, seeds=1, quick=True)
  for row, _, _, _ in table.ROWS:
    assert f'| {row} |' in text
  raw = json.load(open(os.path.join(out, 'raw.json')))
  fill_m, lm_m = raw['runs']['fill']['metrics'], raw['runs']['lm']['metrics']
  # the constrained fills keep the rhythm; both runs are measured on the same gaps, so the
  # repeat baseline is the same number in both
  assert fill_m['rhythm_kept'] == [1.0] and lm_m['rhythm_kept'] == [1.0]
  assert fill_m['repeat_pitch_acc'] == lm_m['repeat_pitch_acc']
  assert fill_m['gaps'] == lm_m['gaps'] and fill_m['gaps'][0] > 0
  for m in (fill_m, lm_m):
    assert all(0.0 <= m[k][0] <= 1.0 for k in m if k not in ('nll', 'gaps', 'attacks'))
  # the run's evaluation wrote its picture of held-out fills
  seed_dir = os.path.join(out, 'fill', 'seed_0', 'samples')
  pngs = [f for _, _, files in os.walk(seed_dir) for f in files if f == 'fills.png']
  assert pngs
  # read back, not retrained
  mtime = os.path.getmtime(os.path.join(out, 'fill', 'table_record.json'))
  assert table.run(out, seeds=1, quick=True) == text
  assert os.path.getmtime(os.path.join(out, 'fill', 'table_record.json')) == mtime


def test_bad_settings_are_refused_by_name():
  from dsjax.tasks import get_task
  for overrides, words in (({'data.window': 8}, 'config.data.window=8'),
                           ({'data.gap_beats': (1.0, 9.0)}, 'config.data.gap_beats'),
                           ({'data.context_beats': 1.25}, 'config.data.context_beats=1.25'),
                           ({'model.arch': 'gan'}, "config.model.arch='gan'")):
    with pytest.raises(ValueError, match=words.replace('(', r'\(').replace('.', r'\.')):
      get_task(configs.load_config('fill:tiny', **overrides))
