"""Decoded notes make MIDI files that read back as decoded: events and piano rolls, any input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dsjax.data.events import EventVocab, decode_events, decode_events_to_piece, encode_events
from dsjax.data.midi_io import MidiLoadError, load_midi, write_midi
from dsjax.data.pianoroll import RollConfig, decode_pianoroll_to_piece

VOCABS = [EventVocab(), EventVocab(velocity_bins='linear32'), EventVocab(velocity_bins='none'),
          EventVocab(shift_ms=7.5, max_shift_steps=3)]
RESOLUTION = 480  # ticks per quarter note of midi_io's writer


def written_and_read(piece, folder):
  """The notes of ``piece`` after write_midi -> load_midi (none for a file without notes)."""
  path = folder / 'piece.mid'
  write_midi(piece, path)
  try:
    return load_midi(path).notes
  except MidiLoadError as e:
    assert len(piece.notes) == 0 and 'no notes' in str(e), e
    return piece.notes[:0]


def assert_same_notes(decoded, read, qpm):
  """Pitch and velocity exactly, times to half a tick (the writer rounds to the nearest tick)."""
  assert len(read) == len(decoded), (decoded, read)
  a = decoded[np.lexsort((decoded['start'], decoded['pitch']))]
  b = read[np.lexsort((read['start'], read['pitch']))]
  assert a['pitch'].tolist() == b['pitch'].tolist()
  assert a['velocity'].tolist() == b['velocity'].tolist()
  half_tick = 0.5 * 60.0 / (qpm * RESOLUTION)
  assert np.abs(a['start'] - b['start']).max(initial=0) <= half_tick + 1e-9
  assert np.abs(a['end'] - b['end']).max(initial=0) <= half_tick + 1e-9


@st.composite
def event_ids(draw, vocab):
  """Short id sequences rich in the hostile cases: note-ons of sounding pitches (on one step and
  later), note-offs of silent pitches, velocity changes between re-strikes, short shifts."""
  pitches = [60, 61, 72]
  ons = [vocab.note_on_offset + p for p in pitches]
  offs = [vocab.note_off_offset + p for p in pitches]
  shifts = [vocab.shift_offset, vocab.shift_offset + 1, vocab.velocity_offset - 1]
  velocities = list(range(vocab.velocity_offset, vocab.size))
  one = (st.sampled_from(ons) | st.sampled_from(offs) | st.sampled_from(shifts)
         | st.integers(0, vocab.size - 1))
  if velocities:
    one = one | st.sampled_from(velocities)
  return draw(st.lists(one, max_size=40))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.sampled_from(VOCABS), st.sampled_from([None, 0.05, float('inf')]),
       st.sampled_from([120.0, 61.0, 200.0]))
def test_decoded_events_read_back_as_decoded(tmp_path_factory, data, vocab, max_sustain, qpm):
  ids = data.draw(event_ids(vocab))
  piece = decode_events_to_piece(ids, vocab, max_sustain=max_sustain, qpm=qpm)
  notes = piece.notes
  # One note of a pitch at a time: each note ends before the next of its pitch starts.
  by_pitch = notes[np.lexsort((notes['start'], notes['pitch']))]
  same = by_pitch['pitch'][1:] == by_pitch['pitch'][:-1]
  assert (by_pitch['end'][:-1][same] <= by_pitch['start'][1:][same] + 1e-9).all()
  assert (notes['end'] > notes['start']).all()
  # Decoded notes are already canonical: encoding and decoding them again keeps every note (the
  # velocity before any velocity event, 64, need not be a bin's representative).
  again = decode_events(encode_events(notes, vocab), vocab)
  cols = ['pitch', 'start', 'end']
  assert again[cols].tolist() == notes[cols].tolist()
  read = written_and_read(piece, tmp_path_factory.mktemp('events'))
  assert_same_notes(notes, read, qpm)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1), st.integers(1, 24), st.floats(0.05, 0.95),
       st.sampled_from([RollConfig(), RollConfig(onset_plane=True, velocity_plane=True),
                        RollConfig(grid='seconds', step=0.01, keys=88, onset_plane=True)]),
       st.sampled_from([None, 1, 3]), st.sampled_from([120.0, 45.0]))
def test_decoded_rolls_read_back_as_decoded(tmp_path_factory, seed, T, density, cfg,
                                            max_sustain_frames, qpm):
  rng = np.random.default_rng(seed)
  roll = rng.random((T, cfg.keys, cfg.num_planes)).astype(np.float32)
  roll[..., 0] = roll[..., 0] < density
  roll = roll[..., 0] if cfg.num_planes == 1 else roll
  piece = decode_pianoroll_to_piece(roll, cfg, qpm=qpm, max_sustain_frames=max_sustain_frames)
  read = written_and_read(piece, tmp_path_factory.mktemp('rolls'))
  assert_same_notes(piece.notes, read, qpm)


# ----------------------------------------------------------------------------- the rule, by example

ON, OFF = 0, 128
V = EventVocab()


def shift(steps):
  return V.shift_offset + steps - 1


def tuples(notes):
  return [(int(n['pitch']), round(float(n['start']), 6), round(float(n['end']), 6),
           int(n['velocity'])) for n in notes]


def test_restrike_on_the_start_step_replaces_the_note(tmp_path):
  ids = [ON + 60, ON + 60, shift(45), OFF + 60]
  piece = decode_events_to_piece(ids, V)
  assert tuples(piece.notes) == [(60, 0.0, 0.45, 64)]
  assert_same_notes(piece.notes, written_and_read(piece, tmp_path), 120.0)
  # A re-strike a step later ends the sounding note there.
  assert tuples(decode_events([ON + 60, shift(1), ON + 60, shift(45), OFF + 60], V)) == [
      (60, 0.0, 0.01, 64), (60, 0.01, 0.46, 64)]
  # On, off and on again on one step: the last note-on sounds (and lasts one step at the end).
  assert tuples(decode_events([ON + 60, OFF + 60, ON + 60], V)) == [(60, 0.0, 0.01, 64)]


def test_many_note_ons_of_one_pitch_on_one_step_give_one_note(tmp_path):
  piece = decode_events_to_piece([ON + 60] * 5000 + [shift(30)], V)
  assert tuples(piece.notes) == [(60, 0.0, 0.3, 64)]
  assert_same_notes(piece.notes, written_and_read(piece, tmp_path), 120.0)
  # The sounding one is the last struck, with the velocity in force there.
  vel = V.velocity_offset
  assert tuples(decode_events([vel + 6, ON + 60, vel + 2, ON + 60, shift(3)], V)) == [
      (60, 0.0, 0.03, 4)]


def test_infinite_max_sustain_is_no_limit():
  ids = [ON + 60, ON + 64, shift(100), shift(100), OFF + 60, shift(10), OFF + 64]
  unlimited = decode_events(ids, V)
  for limit in (float('inf'), 1e300, 2.1):
    assert decode_events(ids, V, max_sustain=limit).tolist() == unlimited.tolist()
  assert tuples(decode_events(ids, V, max_sustain=2.05)) == [(60, 0.0, 2.0, 64),
                                                             (64, 0.0, 2.05, 64)]
  for bad in (float('nan'), -float('inf'), 0.0):
    with pytest.raises(ValueError, match='max_sustain must be > 0'):
      decode_events(ids, V, max_sustain=bad)
