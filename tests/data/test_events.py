"""Tests for dsjax.data.events: exact encodings, decoding of arbitrary ids, property tests."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dsjax.data.events import (EventVocab, canonical_notes, decode_events, decode_events_to_piece,
                               encode_events)
from dsjax.data.notes import NOTE_DTYPE, Piece, make_notes

V = EventVocab()
ON, OFF, SHIFT, VEL = 0, 128, 256, 356


def shift(steps):
  return SHIFT + steps - 1


def notes_tuples(notes):
  return [(int(n['pitch']), round(float(n['start']), 6), round(float(n['end']), 6),
           int(n['velocity'])) for n in notes]


# ----------------------------------------------------------------------------- vocabulary


def test_default_layout_matches_the_logs_363_classes():
  assert (V.size, V.note_on_offset, V.note_off_offset, V.shift_offset, V.velocity_offset) == (
      363, 0, 128, 256, 356)
  assert V.num_velocity_bins == 7
  assert EventVocab(velocity_bins='linear32').size == 256 + 100 + 32
  assert EventVocab(velocity_bins='none').size == 356
  small = EventVocab(shift_ms=100, max_shift_steps=10)
  assert (small.size, small.velocity_offset) == (273, 266)


def test_event_names():
  names = [V.event_name(i) for i in (0, 60, 61, 127, 128 + 60, 256, 258, 355, 356, 362)]
  assert names == ['<C-1 on>', '<C4 on>', '<C#4 on>', '<G9 on>', '<C4 off>', '<shift 10ms>',
                   '<shift 30ms>', '<shift 1000ms>', '<velocity 1>', '<velocity 64>']
  lin = EventVocab(velocity_bins='linear32')
  assert lin.event_name(lin.velocity_offset + 31) == '<velocity 125>'
  with pytest.raises(ValueError, match='363'):
    V.event_name(363)


def test_cache_key_changes_with_every_option():
  keys = {EventVocab().cache_key(), EventVocab(shift_ms=20).cache_key(),
          EventVocab(max_shift_steps=50).cache_key(),
          EventVocab(velocity_bins='linear32').cache_key(),
          EventVocab(velocity_bins='none').cache_key()}
  assert len(keys) == 5
  assert EventVocab().cache_key() == EventVocab().cache_key()


@pytest.mark.parametrize('kw', [dict(shift_ms=0), dict(max_shift_steps=0),
                                dict(max_shift_steps=2.5), dict(velocity_bins='log')])
def test_bad_vocab_options_raise(kw):
  with pytest.raises(ValueError):
    EventVocab(**kw)


def test_velocity_bins_exact():
  v = np.array([0, 1, 2, 3, 4, 7, 8, 63, 64, 100, 127])
  assert V.velocity_to_bin(v).tolist() == [0, 0, 1, 1, 2, 2, 3, 5, 6, 6, 6]
  assert V.bin_to_velocity(np.arange(7)).tolist() == [1, 2, 4, 8, 16, 32, 64]
  lin = EventVocab(velocity_bins='linear32')
  assert lin.velocity_to_bin(np.array([1, 4, 5, 64, 124, 125, 127])).tolist() == [
      0, 0, 1, 15, 30, 31, 31]
  assert lin.bin_to_velocity(np.array([0, 1, 31])).tolist() == [1, 5, 125]
  for vocab in (V, lin):  # every representative lies in its own bin
    b = vocab.velocity_to_bin(np.arange(1, 128))
    assert (vocab.velocity_to_bin(vocab.bin_to_velocity(b)) == b).all()


# ----------------------------------------------------------------------------- exact encodings


def test_hand_built_piece_encodes_to_exact_ids():
  notes = make_notes(
      pitch=[60, 64, 60, 67],
      start=[0.0, 0.0, 0.5, 3.0],
      end=[0.5, 1.0, 0.75, 3.02],
      velocity=[100, 90, 20, 20])
  ids = encode_events(notes, V)
  assert ids.dtype == np.int32
  assert ids.tolist() == [
      VEL + 6, ON + 60, ON + 64,       # t=0: velocity bin 6 (64..127), chord pitch-sorted
      shift(50), OFF + 60,              # t=0.5: the off comes before the re-strike
      VEL + 4, ON + 60,                 # velocity changes to bin 4 (16..31)
      shift(25), OFF + 60,              # t=0.75
      shift(25), OFF + 64,              # t=1.0
      shift(100), shift(100),           # 2 s gap: two 1 s shifts, never id 255
      ON + 67,                          # t=3.0, same bin: no velocity event
      shift(2), OFF + 67]               # t=3.02
  assert [V.event_name(i) for i in ids[:5]] == [
      '<velocity 64>', '<C4 on>', '<E4 on>', '<shift 500ms>', '<C4 off>']
  dec = decode_events(ids, V)
  assert notes_tuples(dec) == [(60, 0.0, 0.5, 64), (64, 0.0, 1.0, 64), (60, 0.5, 0.75, 16),
                               (67, 3.0, 3.02, 16)]


def test_same_pitch_overlap_restrikes_and_duplicates_merge():
  # 72 held 0..1 s struck again at 0.5: the re-strike closes the first note.
  ids = encode_events(make_notes([72, 72], [0.0, 0.5], [1.0, 0.6], 64), V)
  assert ids.tolist() == [VEL + 6, ON + 72, shift(50), OFF + 72, ON + 72, shift(10), OFF + 72]
  assert notes_tuples(decode_events(ids, V)) == [(72, 0.0, 0.5, 64), (72, 0.5, 0.6, 64)]
  # Two notes of one pitch starting together (e.g. unison voices) become one: longest, loudest.
  ids = encode_events(make_notes([60, 60], [0.0, 0.0], [1.0, 0.5], [30, 100], part=[0, 1]), V)
  assert ids.tolist() == [VEL + 6, ON + 60, shift(100), OFF + 60]


def test_times_round_to_the_grid_and_short_notes_last_one_step():
  # 0.014 -> step 1, 0.016 -> step 2; a 3 ms note gets one step.
  ids = encode_events(make_notes([50, 51], [0.014, 0.016], [0.017, 0.05], 64), V)
  assert ids.tolist() == [shift(1), VEL + 6, ON + 50, shift(1), OFF + 50, ON + 51, shift(3),
                          OFF + 51]


def test_original_bugs_are_fixed():
  # (1) gaps >= 1 s were emitted as id 255 (= note-off of pitch 127).
  ids = encode_events(make_notes([60, 62], [0.0, 3.5], [0.01, 3.51], 64), V)
  assert 255 not in ids.tolist()
  assert ids.tolist() == [VEL + 6, ON + 60, shift(1), OFF + 60, shift(100), shift(100),
                          shift(100), shift(49), ON + 62, shift(1), OFF + 62]
  # (2) the largest shift collided with velocity bin 0 (id 356 in the 363 vocabulary).
  one_second = encode_events(make_notes([60], [0.0], [1.0], 1), V)
  assert one_second.tolist() == [VEL + 0, ON + 60, 355, OFF + 60]
  assert V.event_name(355) == '<shift 1000ms>' and V.event_name(356) == '<velocity 1>'
  # Same with ExampleCoder-like settings (S=10 bins of 100 ms): shift 1 s is 265, bin 0 is 266.
  small = EventVocab(shift_ms=100, max_shift_steps=10)
  ids = encode_events(make_notes([60], [0.0], [2.5], 1), small)
  assert ids.tolist() == [266, 60, 265, 265, 256 + 4, 128 + 60]
  assert notes_tuples(decode_events(ids, small)) == [(60, 0.0, 2.5, 1)]
  # (3) velocities above 64 are reachable with linear bins.
  lin = EventVocab(velocity_bins='linear32')
  ids = encode_events(make_notes([60], [0.0], [0.1], 127), lin)
  assert ids.tolist() == [lin.velocity_offset + 31, 60, shift(10), 188]
  assert decode_events(ids, lin)['velocity'].tolist() == [125]


def test_no_velocity_vocab():
  nv = EventVocab(velocity_bins='none')
  ids = encode_events(make_notes([60, 64], [0.0, 0.1], [0.2, 0.2], [10, 120]), nv)
  assert ids.tolist() == [60, shift(10), 64, shift(10), 188, 192]
  assert decode_events(ids, nv, default_velocity=90)['velocity'].tolist() == [90, 90]


def test_encode_accepts_piece_and_empty_and_rejects_bad_notes():
  notes = make_notes([60], [0.0], [0.1])
  assert (encode_events(Piece('p', notes), V) == encode_events(notes, V)).all()
  assert encode_events(np.zeros(0, NOTE_DTYPE), V).tolist() == []
  with pytest.raises(ValueError, match='note 0: bad times'):
    encode_events(make_notes([60], [1.0], [0.5]), V)
  with pytest.raises(ValueError, match='pitch 128'):
    encode_events(make_notes([128], [0.0], [0.5]), V)
  with pytest.raises(ValueError, match='NOTE_DTYPE'):
    encode_events(np.zeros(3), V)


# ----------------------------------------------------------------------------- decoding any ids


def test_decode_rules_exact():
  # A note-off with no note-on is ignored.
  assert notes_tuples(decode_events([OFF + 60, ON + 60, shift(5), OFF + 60], V)) == [
      (60, 0.0, 0.05, 64)]
  # A repeated note-on closes the sounding note.
  assert notes_tuples(decode_events([ON + 60, shift(4), ON + 60, shift(4), OFF + 60], V)) == [
      (60, 0.0, 0.04, 64), (60, 0.04, 0.08, 64)]
  # Still sounding at the end: closed at the final time (after trailing shifts) ...
  assert notes_tuples(decode_events([ON + 60, shift(9)], V)) == [(60, 0.0, 0.09, 64)]
  # ... and given at least one step.
  assert notes_tuples(decode_events([shift(9), ON + 60], V)) == [(60, 0.09, 0.1, 64)]
  # On and off on the same step: one step long.
  assert notes_tuples(decode_events([ON + 60, OFF + 60], V)) == [(60, 0.0, 0.01, 64)]
  # Velocity: default before any velocity event, then the bin's lower bound.
  assert notes_tuples(decode_events([ON + 50, VEL + 4, ON + 60, shift(2), OFF + 60, OFF + 50],
                                    V, default_velocity=100)) == [
      (50, 0.0, 0.02, 100), (60, 0.0, 0.02, 16)]
  assert len(decode_events([], V)) == 0
  assert len(decode_events([shift(3), OFF + 1, VEL], V)) == 0


def test_decode_max_sustain():
  ids = [ON + 60, ON + 64, shift(100), shift(100), OFF + 60, shift(10), OFF + 64]
  assert notes_tuples(decode_events(ids, V)) == [(60, 0.0, 2.0, 64), (64, 0.0, 2.1, 64)]
  assert notes_tuples(decode_events(ids, V, max_sustain=0.5)) == [
      (60, 0.0, 0.5, 64), (64, 0.0, 0.5, 64)]
  # Shorter notes are untouched; max_sustain rounds down to whole steps (0.255 s -> 25 steps).
  assert notes_tuples(decode_events([ON + 60, shift(20), OFF + 60, ON + 62, shift(40)], V,
                                    max_sustain=0.255)) == [
      (60, 0.0, 0.2, 64), (62, 0.2, 0.45, 64)]
  with pytest.raises(ValueError, match='max_sustain'):
    decode_events(ids, V, max_sustain=0)


@pytest.mark.parametrize('ids, match', [
    ([0, 5, 363, 2], 'event id 363 at position 2'),
    ([-1], 'event id -1 at position 0'),
    (np.array([3, 1000], np.int64), 'event id 1000 at position 1'),
    ([[1, 2], [3, 4]], r'1-D .*\(2, 2\)'),
    ([1.0, 2.5], 'value 2.5 at position 1'),
    ([True, False], 'integers'),
    # Reported as itself, not as its wrapped int64 value (-9223372036854775808).
    (np.array([7, 2**63], np.uint64), r'event id 9223372036854775808 at position 1 '),
    (np.array([2**64 - 1], np.uint64), r'event id 18446744073709551615 at position 0 '),
])
def test_decode_rejects_bad_ids(ids, match):
  with pytest.raises(ValueError, match=match):
    decode_events(ids, V)


def test_decode_to_piece():
  p = decode_events_to_piece([ON + 60, shift(50), OFF + 60], V, name='s', program=40, qpm=90)
  assert p.name == 's' and p.tempo_qpm.tolist() == [90.0]
  assert p.notes['program'].tolist() == [40] and notes_tuples(p.notes) == [(60, 0.0, 0.5, 64)]


@pytest.mark.parametrize('qpm', [0, -90.0, float('nan'), float('inf')])
def test_decode_to_piece_refuses_a_bad_tempo(qpm):
  with pytest.raises(ValueError, match=f'^qpm must be a finite number > 0, got {float(qpm)}$'):
    decode_events_to_piece([ON + 60, shift(50), OFF + 60], V, qpm=qpm)


# ----------------------------------------------------------------------------- properties

VOCABS = [EventVocab(), EventVocab(velocity_bins='linear32'), EventVocab(velocity_bins='none'),
          EventVocab(shift_ms=100, max_shift_steps=10), EventVocab(shift_ms=7.5,
                                                                   max_shift_steps=3)]


@st.composite
def pieces(draw):
  n = draw(st.integers(0, 25))
  pitch = draw(st.lists(st.sampled_from([0, 1, 59, 60, 61, 64, 126, 127]) | st.integers(0, 127),
                        min_size=n, max_size=n))
  # Starts on a coarse grid (many exact ties and same-pitch overlaps) or anywhere (long gaps too).
  start = draw(st.lists(st.integers(0, 12).map(lambda k: k * 0.25) |
                        st.floats(0, 8.0, allow_nan=False), min_size=n, max_size=n))
  dur = draw(st.lists(st.sampled_from([0.0, 0.001, 0.25, 1.0, 2.7]) |
                      st.floats(0, 3.0, allow_nan=False), min_size=n, max_size=n))
  vel = draw(st.lists(st.integers(1, 127), min_size=n, max_size=n))
  part = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
  return make_notes(np.array(pitch, int), np.array(start), np.array(start) + np.array(dur),
                    np.array(vel, int), part=np.array(part, int))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pieces(), st.sampled_from(VOCABS))
def test_encode_decode_encode_is_stable(notes, vocab):
  ids = encode_events(notes, vocab)
  assert ids.min(initial=0) >= 0 and ids.max(initial=0) < vocab.size
  dec = decode_events(ids, vocab)
  assert (encode_events(dec, vocab) == ids).all()
  # decode(encode(x)) is exactly the canonical form of x.
  canon = canonical_notes(notes, vocab)
  assert dec.tolist() == canon.tolist()
  # Every note-on has a note-off later; one sounding note per pitch at a time.
  assert (ids < 128).sum() == ((ids >= 128) & (ids < 256)).sum() == len(dec)
  if len(notes):
    assert set(dec['pitch'].tolist()) == set(notes['pitch'].tolist())


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(VOCABS), st.data())
def test_any_id_sequence_decodes_and_is_stable(vocab, data):
  ids = data.draw(st.lists(st.integers(0, vocab.size - 1) |
                           st.sampled_from([0, 60, 188, vocab.shift_offset,
                                            vocab.velocity_offset - 1, vocab.size - 1]),
                           max_size=80))
  max_sustain = data.draw(st.sampled_from([None, 0.05, 0.5]))
  n1 = decode_events(ids, vocab, max_sustain=max_sustain)
  assert (n1['end'] > n1['start']).all()
  if max_sustain is not None:  # at least one step
    bound = max(max_sustain, vocab.shift_ms / 1000)
    assert (n1['end'] - n1['start'] <= bound + 1e-9).all()
  e1 = encode_events(n1, vocab)
  n2 = decode_events(e1, vocab, max_sustain=max_sustain)
  e2 = encode_events(n2, vocab)
  assert e2.tolist() == e1.tolist()
  assert encode_events(decode_events(e2, vocab), vocab).tolist() == e1.tolist()


def test_encode_speed():
  """Loose bound (10x below the measured ~5e6 events/s) so it holds on a busy 2-core machine."""
  rng = np.random.default_rng(0)
  start = np.sort(rng.integers(0, 4000, 20000)) * 0.25
  notes = make_notes(rng.integers(40, 90, 20000), start, start + rng.choice([0.25, 0.5], 20000),
                     rng.integers(30, 120, 20000))
  encode_events(notes, V)
  t = time.perf_counter()
  ids = encode_events(notes, V)
  rate = len(ids) / (time.perf_counter() - t)
  assert len(ids) > 50000 and rate > 5e5, rate
