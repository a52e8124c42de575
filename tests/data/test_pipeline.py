"""Tests for dsjax.data.windows, dsjax.data.augment and dsjax.data.eval_batches: training
windows, augmentation, state, per-host slices, eval."""

from __future__ import annotations

import numpy as np
import pytest

from dsjax.data.augment import (EventTransposition, RollTransposition, event_shift_bounds,
                                 roll_shift_bounds, shifts_from_uniform, transpose_event_ids,
                                 transpose_roll)
from dsjax.data.eval_batches import bucket_length, eval_batches
from dsjax.data.notes import SequenceSet
from dsjax.data.windows import WindowSampler

# Values tell their piece apart: piece 0 is 100..109, piece 1 is 200..203, piece 2 is one item,
# piece 3 is two items.
SEQS = [np.arange(100, 110), np.arange(200, 204), np.array([50]), np.array([7, 8])]
PAD = -1


def tiny_set(seqs=SEQS, dtype=np.int32):
  return SequenceSet.from_list(seqs, [f's{i}' for i in range(len(seqs))], dtype=dtype)


def expected_window(seq, start, width, pad=PAD):
  w = list(seq[start:start + width])
  return np.array(w + [pad] * (width - len(w))), len(w)


def take(sampler, n):
  return [next(sampler) for _ in range(n)]


def assert_batches_equal(a, b):
  assert a.keys() == b.keys()
  for k in a:
    np.testing.assert_array_equal(a[k], b[k], err_msg=k)


# ------------------------------------------------------------------------------------------------
# Windows.


def test_shifted_windows_exact_values():
  s = WindowSampler(tiny_set(), 3, 8, seed=0, pad_value=PAD, with_info=True)
  seen_starts = {0: set(), 1: set(), 3: set()}
  for step in range(60):
    b = s.batch(step)
    assert b['inputs'].shape == (8, 3) and b['targets'].shape == (8, 3)
    assert b['mask'].shape == (8, 3) and b['mask'].dtype == np.float32
    for r in range(8):
      p, st = int(b['piece_ids'][r]), int(b['starts'][r])
      w, n = expected_window(SEQS[p], st, 4)
      np.testing.assert_array_equal(b['inputs'][r], w[:-1])
      np.testing.assert_array_equal(b['targets'][r], w[1:])
      np.testing.assert_array_equal(b['mask'][r], (np.arange(3) + 1 < n).astype(np.float32))
      seen_starts[p].add(st)  # piece 2 (one item, nothing to predict) is never drawn: KeyError
  # Every valid start, including the last one the original never drew, and nothing else.
  assert seen_starts == {0: set(range(7)), 1: {0}, 3: {0}}


def test_padded_piece_and_exact_single_piece_batch():
  s = WindowSampler(tiny_set([np.array([7, 8])]), 3, 2, pad_value=PAD)
  b = s.batch(5)
  np.testing.assert_array_equal(b['inputs'], [[7, 8, PAD]] * 2)
  np.testing.assert_array_equal(b['targets'], [[8, PAD, PAD]] * 2)
  np.testing.assert_array_equal(b['mask'], [[1, 0, 0]] * 2)
  s = WindowSampler(tiny_set([np.array([4, 5, 6, 7])]), 3, 2)
  b = s.batch(0)
  np.testing.assert_array_equal(b['inputs'], [[4, 5, 6]] * 2)
  np.testing.assert_array_equal(b['targets'], [[5, 6, 7]] * 2)
  np.testing.assert_array_equal(b['mask'], np.ones((2, 3)))


def test_short_skip_and_unshifted():
  s = WindowSampler(tiny_set(), 3, 16, short='skip', with_info=True)
  ids = np.concatenate([s.batch(i)['piece_ids'] for i in range(20)])
  assert set(ids.tolist()) == {0, 1}
  with pytest.raises(ValueError, match='no piece'):
    WindowSampler(tiny_set(), 10, 4, short='skip')

  s = WindowSampler(tiny_set(), 3, 16, shifted=False, pad_value=PAD, with_info=True)
  for step in range(10):
    b = s.batch(step)
    assert b['inputs'] is b['targets']
    for r in range(16):
      p, st = int(b['piece_ids'][r]), int(b['starts'][r])
      w, n = expected_window(SEQS[p], st, 3)
      np.testing.assert_array_equal(b['inputs'][r], w)
      np.testing.assert_array_equal(b['mask'][r], np.arange(3) < n)
  ids = np.concatenate([s.batch(i)['piece_ids'] for i in range(10)])
  assert set(ids.tolist()) == {0, 1, 2, 3}  # unshifted, the one-item piece is drawable


def test_piece_weighting_frequencies():
  ss = tiny_set([np.arange(10), np.arange(90)])
  for weighting, expected in (('uniform', 0.5), ('length', 0.9)):
    s = WindowSampler(ss, 1, 64, piece_weighting=weighting, with_info=True)
    ids = np.concatenate([s.batch(i)['piece_ids'] for i in range(100)])
    assert abs(ids.mean() - expected) < 0.03, (weighting, ids.mean())


def test_roll_windows_have_feature_axis():
  rolls = [np.eye(5, dtype=np.uint8)[[0, 1, 2, 3]], np.eye(5, dtype=np.uint8)[[4, 4]]]
  s = WindowSampler(tiny_set(rolls, np.uint8), 3, 4, with_info=True)
  b = s.batch(1)
  assert b['inputs'].shape == (4, 3, 5) and b['inputs'].dtype == np.uint8
  for r in range(4):
    if b['piece_ids'][r] == 0:
      np.testing.assert_array_equal(b['inputs'][r], rolls[0][:3])
      np.testing.assert_array_equal(b['targets'][r], rolls[0][1:])
    else:
      np.testing.assert_array_equal(b['inputs'][r], [rolls[1][0], rolls[1][1], np.zeros(5)])
      np.testing.assert_array_equal(b['mask'][r], [1, 0, 0])


# ------------------------------------------------------------------------------------------------
# Determinism, state, prefetch.


def test_determinism_for_a_seed():
  a = take(WindowSampler(tiny_set(), 3, 8, seed=7), 5)
  b = take(WindowSampler(tiny_set(), 3, 8, seed=7), 5)
  c = take(WindowSampler(tiny_set(), 3, 8, seed=8), 5)
  for x, y in zip(a, b):
    assert_batches_equal(x, y)
  assert any(not np.array_equal(x['inputs'], y['inputs']) for x, y in zip(a, c))


@pytest.mark.parametrize('prefetch', [0, 2])
def test_resume_from_state(prefetch):
  aug = EventTransposition(max_shift=3, note_on_offset=100, note_off_offset=300, num_pitches=20)
  kw = dict(seed=3, augment=aug, prefetch=prefetch, with_info=True)
  full = take(WindowSampler(tiny_set(), 3, 4, seed=3, augment=aug, with_info=True), 8)
  first = WindowSampler(tiny_set(), 3, 4, **kw)
  take(first, 3)
  state = first.state()
  assert state == {'step': 3, 'seed': 3}
  take(first, 2)  # the prefetch thread runs ahead; the state above is unaffected
  first.close()
  resumed = WindowSampler(tiny_set(), 3, 4, **kw)
  resumed.restore(state)
  for want, got in zip(full[3:], take(resumed, 5)):
    assert_batches_equal(want, got)
  # Rewinding a running sampler restarts its prefetch at the restored step.
  resumed.restore({'step': 1})
  assert_batches_equal(full[1], next(resumed))
  resumed.close()
  with pytest.raises(ValueError, match='seed'):
    resumed.restore({'step': 1, 'seed': 4})


def test_prefetch_thread_stops_with_the_sampler():
  s = WindowSampler(tiny_set(), 3, 4, prefetch=2)
  next(s)
  thread = s._thread  # pylint: disable=protected-access
  assert thread.is_alive()
  del s
  thread.join(timeout=5)
  assert not thread.is_alive()


def test_prefetch_reraises_augment_errors():
  def bad(rng, values, piece_ids):
    raise RuntimeError('augment failed')

  s = WindowSampler(tiny_set(), 3, 4, augment=bad, prefetch=2)
  with pytest.raises(RuntimeError, match='augment failed'):
    next(s)
  s.close()


# ------------------------------------------------------------------------------------------------
# Multi-host slices.


def per_example_only(aug):
  """The same augmentation without its vectorised form: the sampler calls it once per example."""
  return lambda rng, values, piece_ids: aug(rng, values, piece_ids)


@pytest.mark.parametrize('count,vectorised', [(2, True), (4, True), (4, False)])
def test_process_slices_concatenate_to_global_batch(count, vectorised):
  aug = EventTransposition(max_shift=4, note_on_offset=100, note_off_offset=200, num_pitches=10)
  aug = aug if vectorised else per_example_only(aug)
  kw = dict(seed=11, augment=aug, with_info=True, piece_weighting='length')
  whole = WindowSampler(tiny_set(), 3, 8, **kw)
  hosts = [WindowSampler(tiny_set(), 3, 8, process_index=i, process_count=count, **kw)
           for i in range(count)]
  assert hosts[0].local_batch_size == 8 // count
  for step in range(6):
    want = whole.batch(step)
    parts = [h.batch(step) for h in hosts]
    for k in want:
      np.testing.assert_array_equal(np.concatenate([p[k] for p in parts]), want[k], err_msg=k)
  with pytest.raises(ValueError, match='multiple'):
    WindowSampler(tiny_set(), 3, 6, process_count=4)
  with pytest.raises(ValueError, match='process_index'):
    WindowSampler(tiny_set(), 3, 8, process_index=4, process_count=4)


# ------------------------------------------------------------------------------------------------
# Augmentation.


def test_event_transposition_exact():
  ids = np.array([[60, 188, 300, 5, 356]])
  np.testing.assert_array_equal(transpose_event_ids(ids, [2]), [[62, 190, 300, 7, 356]])
  np.testing.assert_array_equal(transpose_event_ids(ids, [-5]), [[55, 183, 300, 0, 356]])
  with pytest.raises(ValueError, match='off the'):
    transpose_event_ids(np.array([[127]]), [1])
  with pytest.raises(ValueError, match='off the'):
    transpose_event_ids(np.array([[128]]), [-1])  # note-off pitch 0 must not become note-on 127
  ids = np.array([[0, 300], [255, 300], [300, 301], [0, 255], [60, 190]])
  lo, hi = event_shift_bounds(ids, 5)
  np.testing.assert_array_equal(lo, [0, -5, -5, 0, -5])
  np.testing.assert_array_equal(hi, [5, 0, 5, 0, 5])


def test_shifts_from_uniform_exact():
  np.testing.assert_array_equal(
      shifts_from_uniform([0.0, 0.9999, 0.5, 0.19, 0.21, 0.7], [-2, -2, 0, -2, -2, -1],
                          [2, 2, 0, 2, 2, 0]), [-2, 2, 0, -2, -1, 0])


def test_padding_does_not_restrict_event_shifts():
  # Pad id 0 is also 'note-on pitch 0': were padding counted, no downward shift would be allowed.
  ss = tiny_set([np.array([60, 300, 188])])
  s = WindowSampler(ss, 4, 64, pad_value=0, augment=EventTransposition(max_shift=3))
  b = s.batch(0)
  shifts = b['inputs'][:, 0] - 60
  assert set(shifts.tolist()) == set(range(-3, 4))
  np.testing.assert_array_equal(b['inputs'][:, 1:], np.stack(
      [np.full(64, 300), 188 + shifts, np.zeros(64)], axis=1))
  np.testing.assert_array_equal(b['mask'], np.tile([1, 1, 0, 0], (64, 1)))


def test_event_transposition_shift_is_uniform_over_valid_shifts():
  aug = EventTransposition(max_shift=3)
  rng = np.random.default_rng(0)
  out = aug(rng, np.tile([[1, 300, 129]], (3000, 1)), np.zeros(3000))
  shifts = out[:, 0] - 1
  np.testing.assert_array_equal(out[:, 2] - 129, shifts)  # note-on and note-off move together
  np.testing.assert_array_equal(out[:, 1], 300)
  counts = np.bincount(shifts + 1)
  assert len(counts) == 5 and counts.min() > 3000 / 5 * 0.85  # all of -1..3, about equally


def event_corpus(rng, n=6, length=40):
  """Event ids in the log's layout (vocab 388), one piece touching both keyboard ends."""
  seqs = [rng.integers(0, 388, size=length) for _ in range(n)]
  seqs.append(np.array([0, 300, 127, 300, 128, 255] * 7))
  return seqs


def test_event_augmentation_in_sampler_keeps_ids_in_range():
  seqs = event_corpus(np.random.default_rng(1))
  ss = tiny_set(seqs)
  kw = dict(seed=2, with_info=True, short='skip')
  plain = WindowSampler(ss, 16, 16, **kw)
  aug = WindowSampler(ss, 16, 16, augment=EventTransposition(max_shift=12), **kw)
  all_shifts = []
  for step in range(10):
    a, b = plain.batch(step), aug.batch(step)
    np.testing.assert_array_equal(a['piece_ids'], b['piece_ids'])
    for r in range(16):
      x = np.concatenate([a['inputs'][r], a['targets'][r, -1:]])
      y = np.concatenate([b['inputs'][r], b['targets'][r, -1:]])
      on, off = x < 128, (x >= 128) & (x < 256)
      np.testing.assert_array_equal(y[~(on | off)], x[~(on | off)])
      assert np.all((y[on] >= 0) & (y[on] < 128)) and np.all((y[off] >= 128) & (y[off] < 256))
      shifts = np.unique(y[on | off] - x[on | off])
      assert len(shifts) <= 1 and (len(shifts) == 0 or abs(shifts[0]) <= 12)
      if b['piece_ids'][r] == len(seqs) - 1:
        assert shifts.tolist() == [0]  # pitches 0 and 127 both present: no shift is allowed
      elif len(shifts):
        all_shifts.append(int(shifts[0]))
  assert len(set(all_shifts)) > 5


def test_roll_transposition_exact():
  roll = np.zeros((2, 2, 6), np.uint8)
  roll[0, 0, 1] = roll[0, 1, 2] = 1
  roll[1, 1, 5] = 3
  out = transpose_roll(roll, [2, -4])
  want = np.zeros_like(roll)
  want[0, 0, 3] = want[0, 1, 4] = 1
  want[1, 1, 1] = 3
  np.testing.assert_array_equal(out, want)
  with pytest.raises(ValueError, match='off the'):
    transpose_roll(roll, [4, 0])
  lo, hi = roll_shift_bounds(roll, 3)
  np.testing.assert_array_equal(lo, [-1, -3])
  np.testing.assert_array_equal(hi, [3, 0])
  lo, hi = roll_shift_bounds(np.zeros((1, 2, 6)), 3)
  assert (lo[0], hi[0]) == (-3, 3)
  # Pitch axis in the middle: the same result as the moved-axis version.
  planes = np.stack([roll, 2 * roll], axis=-1)  # [n, time, keys, planes]
  np.testing.assert_array_equal(transpose_roll(planes, [2, -4], pitch_axis=2),
                                np.stack([want, 2 * want], axis=-1))


def test_roll_augmentation_in_sampler_keeps_notes_on_the_keyboard():
  rng = np.random.default_rng(3)
  keys = 12
  rolls = [(rng.random((20, keys)) < 0.1).astype(np.uint8) for _ in range(5)]
  rolls[0][:, 2:5] = 0
  rolls[0][3, 0] = rolls[0][5, keys - 1] = 1  # both ends: only shift 0
  rolls.append(np.zeros((3, keys), np.uint8))
  rolls[-1][0, 6] = 1  # short piece: padded rows must stay zero
  ss = tiny_set(rolls, np.uint8)
  kw = dict(seed=5, with_info=True)
  plain = WindowSampler(ss, 8, 16, **kw)
  aug = WindowSampler(ss, 8, 16, augment=RollTransposition(max_shift=3), **kw)
  used = set()
  for step in range(10):
    a, b = plain.batch(step), aug.batch(step)
    np.testing.assert_array_equal(a['mask'], b['mask'])
    for r in range(16):
      x = np.concatenate([a['inputs'][r], a['targets'][r, -1:]])
      y = np.concatenate([b['inputs'][r], b['targets'][r, -1:]])
      assert y.sum() == x.sum()  # no sounding note lost
      matches = [s for s in range(-3, 4) if np.array_equal(y, np.roll(x, s, axis=-1))
                 and (x.sum() == 0 or np.array_equal(x, np.roll(y, -s, axis=-1)))]
      assert matches, (step, r)
      if x[:, 0].any() and x[:, -1].any():
        np.testing.assert_array_equal(y, x)
      used.update(matches if len(matches) == 1 else [])
  assert used == set(range(-3, 4))


def test_roll_augmentation_ignores_and_keeps_padding():
  roll = np.zeros((3, 8), np.uint8)
  roll[0, 4] = roll[2, 3] = 1
  s = WindowSampler(tiny_set([roll], np.uint8), 4, 32, pad_value=1,
                    augment=RollTransposition(max_shift=2))
  b = s.batch(0)
  np.testing.assert_array_equal(b['inputs'][:, 3], np.ones((32, 8)))  # padding, not transposed
  np.testing.assert_array_equal(b['targets'][:, 2:], np.ones((32, 2, 8)))
  shifts = b['inputs'][:, 0].argmax(axis=1) - 4
  assert set(shifts.tolist()) == set(range(-2, 3))  # all-ones padding did not pin the shift to 0
  for r in range(32):
    np.testing.assert_array_equal(b['inputs'][r, :3], np.roll(roll, shifts[r], axis=1))


def test_augment_hook_sees_unpadded_windows():
  calls = []

  def plus_one(rng, values, piece_ids):
    calls.append((values.shape, int(piece_ids[0])))
    return values + 1

  s = WindowSampler(tiny_set(), 3, 8, pad_value=PAD, augment=plus_one, with_info=True)
  b = s.batch(0)
  for r in range(8):
    p, st = int(b['piece_ids'][r]), int(b['starts'][r])
    w, n = expected_window(SEQS[p], st, 4)
    w[:n] += 1
    np.testing.assert_array_equal(b['inputs'][r], w[:-1])
    np.testing.assert_array_equal(b['targets'][r], w[1:])
    assert calls[r] == ((1, n), p)

  s = WindowSampler(tiny_set(), 3, 2, augment=lambda rng, v, p: v[:, :1])
  with pytest.raises(ValueError, match='augment returned shape'):
    s.batch(0)


# ------------------------------------------------------------------------------------------------
# Evaluation batches.

EVAL_SEQS = [np.arange(100, 110), np.arange(200, 204), np.array([50]), np.array([7, 8]),
             np.zeros(0, np.int64), np.arange(300, 305)]


def collect(batches, shifted=True):
  """{(seq, item): value} of every masked-in target; asserts each appears once."""
  got = {}
  for b in batches:
    for r in range(len(b['mask'])):
      q = int(b['seq_ids'][r])
      if q < 0:
        assert b['mask'][r].sum() == 0
        continue
      for t in np.flatnonzero(b['mask'][r]):
        item = int(b['starts'][r]) + int(t) + (1 if shifted else 0)
        assert (q, item) not in got
        got[(q, item)] = int(b['targets'][r, t])
        assert int(b['inputs'][r, t]) == int(EVAL_SEQS[q][item - (1 if shifted else 0)])
  return got


@pytest.mark.parametrize('max_len', [None, 3, 4, 20])
def test_eval_batches_cover_every_item_once(max_len):
  batches = list(eval_batches(tiny_set(EVAL_SEQS), 5, max_len, long='chunk', pad_value=PAD))
  time = max_len or 9
  assert all(b['inputs'].shape == (5, time) and b['mask'].shape == (5, time) for b in batches)
  total = sum(len(s) - 1 for s in EVAL_SEQS if len(s) > 1)
  assert sum(float(b['mask'].sum()) for b in batches) == total == 17
  want = {(q, j): int(s[j]) for q, s in enumerate(EVAL_SEQS) for j in range(1, len(s))}
  assert collect(batches) == want
  assert batches[-1]['seq_ids'][-1] == -1  # fixed shapes: the last batch is filled
  assert (batches[-1]['inputs'][batches[-1]['seq_ids'] < 0] == PAD).all()


def test_eval_batches_exact_chunks_truncate_and_unshifted():
  batches = list(eval_batches(tiny_set(EVAL_SEQS), 4, 4, pad_value=PAD))
  assert len(batches) == 2
  np.testing.assert_array_equal(batches[0]['inputs'], [[100, 101, 102, 103], [104, 105, 106, 107],
                                                       [108, 109, PAD, PAD], [200, 201, 202, 203]])
  np.testing.assert_array_equal(batches[0]['targets'], [[101, 102, 103, 104],
                                                        [105, 106, 107, 108],
                                                        [109, PAD, PAD, PAD], [201, 202, 203, PAD]])
  np.testing.assert_array_equal(batches[0]['mask'], [[1, 1, 1, 1], [1, 1, 1, 1], [1, 0, 0, 0],
                                                     [1, 1, 1, 0]])
  np.testing.assert_array_equal(batches[0]['seq_ids'], [0, 0, 0, 1])
  np.testing.assert_array_equal(batches[0]['starts'], [0, 4, 8, 0])
  np.testing.assert_array_equal(batches[1]['seq_ids'], [3, 5, -1, -1])
  # The last item of a sequence is an input with nothing to predict: there, mask = 0.
  np.testing.assert_array_equal(batches[1]['inputs'], [[7, 8, PAD, PAD], [300, 301, 302, 303],
                                                       [PAD] * 4, [PAD] * 4])
  np.testing.assert_array_equal(batches[1]['mask'], [[1, 0, 0, 0], [1, 1, 1, 1], [0] * 4, [0] * 4])

  batches = list(eval_batches(tiny_set(EVAL_SEQS), 4, 3, long='truncate'))
  assert sum(float(b['mask'].sum()) for b in batches) == 3 + 3 + 1 + 3
  assert collect(batches) == {(q, j): int(s[j]) for q, s in enumerate(EVAL_SEQS)
                              for j in range(1, min(len(s), 4))}

  batches = list(eval_batches(tiny_set(EVAL_SEQS), 4, 3, shifted=False))
  assert sum(float(b['mask'].sum()) for b in batches) == sum(len(s) for s in EVAL_SEQS) == 22
  assert collect(batches, shifted=False) == {(q, j): int(s[j]) for q, s in enumerate(EVAL_SEQS)
                                             for j in range(len(s))}


def test_eval_batches_process_slices_and_rolls():
  rolls = [np.eye(6, dtype=np.uint8)[np.arange(n) % 6] for n in (7, 3, 12, 2, 5, 4)]
  ss = tiny_set(rolls, np.uint8)
  whole = list(eval_batches(ss, 4, 5))
  parts = [list(eval_batches(ss, 4, 5, process_index=i, process_count=2)) for i in range(2)]
  assert len(whole) == len(parts[0]) == len(parts[1]) == 3
  for w, a, b in zip(whole, *parts):
    assert w['inputs'].shape == (4, 5, 6) and a['inputs'].shape == (2, 5, 6)
    for k in w:
      np.testing.assert_array_equal(np.concatenate([a[k], b[k]]), w[k], err_msg=k)
  assert sum(float(b['mask'].sum()) for b in whole) == sum(len(r) - 1 for r in rolls)
  with pytest.raises(ValueError, match='nothing to evaluate'):
    eval_batches(tiny_set([np.array([1])]), 2)


def rows_by_start(batches):
  """{(seq, start): (inputs, targets) of its masked-in steps} of every real row; padding rows and
  steps are masked out."""
  rows = {}
  for b in batches:
    for r in range(len(b['mask'])):
      n = int(b['mask'][r].sum())
      assert (b['mask'][r, :n] == 1).all() and (b['mask'][r, n:] == 0).all()
      if b['seq_ids'][r] < 0:
        assert n == 0
        continue
      key = (int(b['seq_ids'][r]), int(b['starts'][r]))
      assert key not in rows
      rows[key] = (b['inputs'][r, :n].tolist(), b['targets'][r, :n].tolist())
  return rows


def test_bucket_length():
  assert [bucket_length(n) for n in (0, 1, 7, 8, 9, 10, 11, 17, 33, 100, 1793)] == [
      0, 1, 7, 8, 10, 10, 12, 20, 40, 112, 2048]
  for n in range(1, 3000):
    assert n <= bucket_length(n) < 1.25 * n + 1


@pytest.mark.parametrize('max_len', [None, 8])
@pytest.mark.parametrize('shifted', [True, False])
def test_eval_batches_by_length_same_rows_less_padding(max_len, shifted):
  rng = np.random.default_rng(0)
  lengths = [40, 3, 1, 0, 17, 2, 9, 33, 5, 5, 12, 2, 26]
  ss = tiny_set([rng.integers(0, 50, n) for n in lengths])
  plain = list(eval_batches(ss, 4, max_len, shifted=shifted, pad_value=PAD))
  by_length = list(eval_batches(ss, 4, max_len, shifted=shifted, by_length=True, pad_value=PAD))
  # The same rows, each with the same inputs and targets: a causal model scores each the same.
  assert rows_by_start(by_length) == rows_by_start(plain)
  assert sum(b['mask'].sum() for b in by_length) == sum(b['mask'].sum() for b in plain)
  assert len(by_length) == len(plain) and all(len(b['mask']) == 4 for b in by_length)
  times = [b['mask'].shape[1] for b in by_length]
  longest = [int(b['mask'].sum(axis=1).max()) for b in by_length]
  assert times[0] == plain[0]['mask'].shape[1]
  assert times == [min(bucket_length(n), times[0]) for n in longest]
  assert times == sorted(times, reverse=True)
  assert sum(b['mask'].size for b in by_length) < sum(b['mask'].size for b in plain)
  for b in by_length:
    assert b['inputs'].shape[:2] == b['targets'].shape[:2] == b['mask'].shape
  # Per-host slices of the same global batches.
  parts = [list(eval_batches(ss, 4, max_len, shifted=shifted, by_length=True, pad_value=PAD,
                             process_index=i, process_count=2)) for i in range(2)]
  for w, a, b in zip(by_length, *parts):
    for k in w:
      np.testing.assert_array_equal(np.concatenate([a[k], b[k]]), w[k], err_msg=k)


def test_eval_stream_batches_whole_pieces_by_length():
  import configs  # pylint: disable=g-import-not-at-top
  from dsjax.tasks import datasets  # pylint: disable=g-import-not-at-top
  rolls = [np.eye(6, dtype=np.uint8)[np.arange(n) % 6] for n in (50, 3, 4, 5, 2, 6, 3, 48)]
  ss = tiny_set(rolls, np.uint8)
  whole = configs.load_config('pianoroll_lstm:tiny', **{'data.eval_max_len': 0,
                                                        'data.eval_batch_size': 4})
  batches = datasets.eval_stream(whole, {'test': ss, 'valid': tiny_set([], np.uint8)})
  assert list(batches) == ['test']
  assert [b['mask'].shape for b in batches['test']] == [(4, 49), (4, 3)]  # 50 48 6 5 | 4 3 3 2
  assert sum(b['mask'].sum() for b in batches['test']) == sum(len(r) - 1 for r in rolls)
  chunked = configs.load_config('pianoroll_lstm:tiny', **{'data.eval_max_len': 16,
                                                          'data.eval_batch_size': 4})
  assert {b['mask'].shape for b in datasets.eval_stream(chunked, {'test': ss})['test']} == {
      (4, 16)}


def test_bad_arguments_are_named():
  with pytest.raises(ValueError, match='pad_value'):
    WindowSampler(tiny_set([np.arange(5)], np.uint8), 2, 2, pad_value=-1)
  with pytest.raises(ValueError, match='piece_weighting'):
    WindowSampler(tiny_set(), 2, 2, piece_weighting='tempo')
  with pytest.raises(ValueError, match="long="):
    eval_batches(tiny_set(), 2, 3, long='wrap')
  with pytest.raises(TypeError, match='SequenceSet'):
    WindowSampler(SEQS, 2, 2)
