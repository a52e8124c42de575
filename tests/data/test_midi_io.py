"""Tests for dsjax.data.midi_io: round trips, sustain pedal, clear errors, synthesis."""

from __future__ import annotations

import io
import os
import logging
import pickle

import numpy as np
import pretty_midi
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsjax.data import midi_io
from dsjax.data.midi_io import (MidiLoadError, load_midi, piece_to_pretty_midi, synthesize,
                                write_midi)
from dsjax.data.notes import NOTE_DTYPE, Piece, make_notes


def hand_piece() -> Piece:
  notes = make_notes(
      pitch=[60, 64, 67, 36, 38, 42],
      start=[0.0, 0.25, 0.5, 0.1, 0.0, 0.75],
      end=[1.0, 0.75, 1.5, 2.0, 0.3, 0.8],
      velocity=[100, 64, 30, 127, 90, 1],
      program=[0, 0, 0, 33, 0, 0],
      is_drum=[False, False, False, False, True, True],
      part=[0, 0, 0, 1, 2, 2])
  return Piece('hand', notes, tempo_qpm=np.array([100.0]))


def by_key(notes):
  order = np.lexsort((notes['start'], notes['pitch'], notes['part']))
  return notes[order]


def valid_midi_bytes() -> bytes:
  buf = io.BytesIO()
  piece_to_pretty_midi(hand_piece()).write(buf)
  return buf.getvalue()


# ----------------------------------------------------------------------------- round trip


def test_write_then_load_round_trip(tmp_path):
  piece = hand_piece()
  path = tmp_path / 'hand.mid'
  write_midi(piece, path)
  got = load_midi(path)
  assert got.name == 'hand'
  assert got.tempo_times.tolist() == [0.0] and got.tempo_qpm.tolist() == [100.0]
  a, b = by_key(piece.notes), by_key(got.notes)
  for field in ('pitch', 'velocity', 'program', 'is_drum', 'part'):
    assert a[field].tolist() == b[field].tolist(), field
  tick = 60.0 / (100.0 * 480)
  assert np.abs(a['start'] - b['start']).max() <= tick
  assert np.abs(a['end'] - b['end']).max() <= tick
  # The loaded note array is sorted by (start, pitch).
  assert got.notes['start'].tolist() == sorted(got.notes['start'].tolist())


def test_one_instrument_per_part_program_drum():
  pm = piece_to_pretty_midi(hand_piece())
  assert [(i.program, i.is_drum, len(i.notes)) for i in pm.instruments] == [
      (0, False, 3), (33, False, 1), (0, True, 2)]
  assert pm.resolution == 480
  assert np.allclose(pm.get_tempo_changes()[1], [100.0])


def test_bare_note_array_and_default_program(tmp_path):
  notes = make_notes([60, 62], [0.0, 0.5], [0.5, 1.0], [80, 81], program=[-1, 5])
  write_midi(notes, tmp_path / 'bare.mid', default_program=19)
  got = load_midi(tmp_path / 'bare.mid', name='custom')
  assert got.name == 'custom'
  assert got.tempo_qpm.tolist() == [120.0]
  assert sorted(zip(got.notes['pitch'].tolist(), got.notes['program'].tolist(),
                    got.notes['velocity'].tolist())) == [(60, 19, 80), (62, 5, 81)]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 127), st.floats(0, 20), st.floats(0.005, 3),
                          st.integers(1, 127), st.integers(0, 2)), min_size=1, max_size=30),
       st.sampled_from([60.0, 120.0, 93.0]))
def test_round_trip_generated(rows, qpm):
  # One note per (part, pitch) at a time: MIDI cannot hold same-pitch overlaps in one channel.
  rows = list({(r[0], r[4]): r for r in rows}.values())
  pitch, start, dur, vel, part = map(np.array, zip(*rows))
  piece = Piece('g', make_notes(pitch, start, start + dur, vel, program=part * 10, part=part),
                tempo_qpm=[qpm])
  buf = io.BytesIO()
  piece_to_pretty_midi(piece).write(buf)
  got = load_midi(buf.getvalue())
  a, b = by_key(piece.notes), by_key(got.notes)
  assert a['pitch'].tolist() == b['pitch'].tolist()
  assert a['velocity'].tolist() == b['velocity'].tolist()
  assert a['program'].tolist() == b['program'].tolist()
  tick = 60.0 / (qpm * 480)
  assert np.abs(a['start'] - b['start']).max() <= tick + 1e-9
  assert np.abs(a['end'] - b['end']).max() <= tick + 1e-9


@pytest.mark.parametrize('qpm', [0.0, -60.0, float('nan'), float('inf')])
def test_a_bad_tempo_is_refused_by_the_piece_and_the_writer(tmp_path, qpm):
  notes = make_notes([60], [0.0], [0.5])
  with pytest.raises(ValueError, match=f"piece 'p': tempo_qpm must be finite and > 0, got {qpm}"):
    Piece('p', notes, tempo_qpm=[120.0, qpm], tempo_times=[0.0, 1.0])
  piece = Piece('p', notes)
  piece.tempo_qpm = np.array([qpm])  # set after construction: the writer still refuses it
  message = f'^tempo_qpm\\[0\\] must be a finite number > 0, got {qpm}$'
  with pytest.raises(ValueError, match=message):
    write_midi(piece, tmp_path / 'p.mid')
  assert not (tmp_path / 'p.mid').exists()


# ----------------------------------------------------------------------------- sustain pedal


def pedal_midi_bytes() -> bytes:
  pm = pretty_midi.PrettyMIDI(resolution=220, initial_tempo=120.0)  # 1 tick = 1/440 s
  piano = pretty_midi.Instrument(program=0)
  for pitch, s, e in [(60, 0.0, 0.5),      # released while pedal down -> held to 2.0
                      (64, 0.5, 1.0),      # held, but re-struck at 1.5 -> ends at 1.5
                      (64, 1.5, 1.75),     # held -> 2.0
                      (67, 2.5, 3.0),      # pedal up: unchanged
                      (69, 0.0, 0.2),      # released before the pedal goes down: unchanged
                      (72, 3.6, 3.8)]:     # pedal down from 3.5, never released -> end of file
    piano.notes.append(pretty_midi.Note(velocity=80, pitch=pitch, start=s, end=e))
  piano.control_changes += [
      pretty_midi.ControlChange(64, 64, 0.25),   # value 64 counts as down
      pretty_midi.ControlChange(64, 100, 1.0),   # still down
      pretty_midi.ControlChange(64, 63, 2.0),    # value 63 counts as up
      pretty_midi.ControlChange(64, 127, 3.5),
      pretty_midi.ControlChange(7, 100, 5.0)]    # last event of the file
  other = pretty_midi.Instrument(program=40)   # no pedal on this instrument
  other.notes.append(pretty_midi.Note(velocity=80, pitch=60, start=0.0, end=0.5))
  pm.instruments += [piano, other]
  buf = io.BytesIO()
  pm.write(buf)
  return buf.getvalue()


def test_sustain_pedal_extends_notes():
  data = pedal_midi_bytes()
  plain = load_midi(data, name='pedal')
  held = load_midi(data, name='pedal', sustain_pedal=True)

  def rows(p):
    n = by_key(p.notes)
    return [(int(x['part']), int(x['pitch']), round(float(x['start']), 6),
             round(float(x['end']), 6)) for x in n]

  assert rows(plain) == [(0, 60, 0.0, 0.5), (0, 64, 0.5, 1.0), (0, 64, 1.5, 1.75),
                         (0, 67, 2.5, 3.0), (0, 69, 0.0, 0.2), (0, 72, 3.6, 3.8),
                         (1, 60, 0.0, 0.5)]
  assert rows(held) == [(0, 60, 0.0, 2.0), (0, 64, 0.5, 1.5), (0, 64, 1.5, 2.0),
                        (0, 67, 2.5, 3.0), (0, 69, 0.0, 0.2), (0, 72, 3.6, 5.0),
                        (1, 60, 0.0, 0.5)]
  assert held.notes['program'][held.notes['part'] == 1].tolist() == [40]


# ----------------------------------------------------------------------------- errors


def assert_names_file(err: MidiLoadError, path, reason_part: str):
  assert err.path == str(path)
  assert str(err) == f'{path}: {err.reason}'
  assert reason_part in err.reason


def test_missing_file(tmp_path):
  path = tmp_path / 'nope.mid'
  with pytest.raises(MidiLoadError) as e:
    load_midi(path)
  assert_names_file(e.value, path, 'not found')


def test_empty_file(tmp_path):
  path = tmp_path / 'empty.mid'
  path.write_bytes(b'')
  with pytest.raises(MidiLoadError) as e:
    load_midi(str(path))
  assert_names_file(e.value, path, 'empty')


def test_truncated_file(tmp_path):
  data = valid_midi_bytes()
  path = tmp_path / 'half.mid'
  path.write_bytes(data[:len(data) // 2])
  with pytest.raises(MidiLoadError) as e:
    load_midi(path)
  assert_names_file(e.value, path, 'truncated')


def test_every_truncation_is_a_midi_load_error():
  data = valid_midi_bytes()
  for cut in range(1, len(data), 3):
    try:
      load_midi(data[:cut], name=f'cut{cut}')
    except MidiLoadError as e:
      assert str(e).startswith(f'cut{cut}: ')


def test_random_bytes(tmp_path):
  path = tmp_path / 'noise.mid'
  path.write_bytes(np.random.default_rng(0).bytes(500))
  with pytest.raises(MidiLoadError) as e:
    load_midi(path)
  assert_names_file(e.value, path, 'not a readable MIDI file')
  # Random bytes behind a valid header too.
  path2 = tmp_path / 'noise2.mid'
  path2.write_bytes(b'MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0' +
                    np.random.default_rng(1).bytes(300))
  with pytest.raises(MidiLoadError) as e:
    load_midi(path2)
  assert e.value.path == str(path2)


def test_no_notes_and_directory(tmp_path):
  path = tmp_path / 'silent.mid'
  pretty_midi.PrettyMIDI().write(str(path))
  with pytest.raises(MidiLoadError) as e:
    load_midi(path)
  assert_names_file(e.value, path, 'no notes')
  # Drums only, with drop_drums.
  pm = pretty_midi.PrettyMIDI()
  drums = pretty_midi.Instrument(program=0, is_drum=True)
  drums.notes.append(pretty_midi.Note(velocity=100, pitch=36, start=0.0, end=0.1))
  pm.instruments.append(drums)
  pm.write(str(tmp_path / 'drums.mid'))
  assert load_midi(tmp_path / 'drums.mid').notes['is_drum'].tolist() == [True]
  with pytest.raises(MidiLoadError, match='no notes'):
    load_midi(tmp_path / 'drums.mid', drop_drums=True)
  with pytest.raises(MidiLoadError, match='directory'):
    load_midi(tmp_path)


def test_error_from_bytes_and_pickle():
  with pytest.raises(MidiLoadError) as e:
    load_midi(b'', name='upload.mid')
  assert str(e.value) == 'upload.mid: empty file (0 bytes)'
  again = pickle.loads(pickle.dumps(e.value))
  assert (again.path, again.reason, str(again)) == (e.value.path, e.value.reason, str(e.value))


def test_zero_length_notes_are_dropped():
  pm = pretty_midi.PrettyMIDI()
  inst = pretty_midi.Instrument(program=0)
  inst.notes += [pretty_midi.Note(velocity=80, pitch=60, start=0.5, end=0.5),
                 pretty_midi.Note(velocity=80, pitch=62, start=0.0, end=1.0)]
  pm.instruments.append(inst)
  buf = io.BytesIO()
  pm.write(buf)
  assert load_midi(buf.getvalue()).notes['pitch'].tolist() == [62]


# ----------------------------------------------------------------------------- audio


def test_synthesize(monkeypatch, caplog):
  monkeypatch.setattr(midi_io, '_NOTICE_GIVEN', False)
  piece = Piece('s', make_notes([60, 67], [0.0, 0.25], [0.5, 0.5], 100))
  with caplog.at_level(logging.WARNING, logger=midi_io.__name__):
    audio = synthesize(piece, fs=8000)
    synthesize(piece, fs=8000)
  notices = [r for r in caplog.records if r.name == midi_io.__name__]
  assert len(notices) == (0 if midi_io._fluidsynth_available() else 1)
  if notices:
    assert 'apt-get install libfluidsynth3' in notices[0].getMessage()
  assert audio.dtype == np.float32 and audio.ndim == 1
  assert len(audio) >= 4000
  assert np.isfinite(audio).all() and 0.5 < np.abs(audio).max() <= 1.0
  assert synthesize(np.zeros(0, NOTE_DTYPE)).shape == (0,)
  # Drums only: silent with the sine fallback, but finite (no division by zero).
  drums = synthesize(make_notes([36], [0.0], [0.5], is_drum=True), fs=8000)
  assert np.isfinite(drums).all() and np.abs(drums).max(initial=0) <= 1.0


def _two_notes():
  return Piece('s', make_notes([60, 67], [0.0, 0.25], [0.5, 0.5], 100))


@pytest.mark.skipif(not midi_io._fluidsynth_available() and os.environ.get('CI') != 'true',
                    reason='FluidSynth not installed (apt-get install libfluidsynth3); CI has it')
def test_fluidsynth_renders_when_installed(monkeypatch):
  """Where FluidSynth is installed (always in CI: .ci/run installs it) audio comes from it, with a
  General MIDI soundfont: a piano note's spectrum is not the sine fallback's single partial."""
  audio, renderer = midi_io.render_audio(_two_notes(), fs=16000)
  assert renderer == 'fluidsynth'
  sine, _ = _sine_render(monkeypatch)
  assert audio.dtype == np.float32 and np.isfinite(audio).all()
  assert 0.5 < np.abs(audio).max() <= 1.0
  assert not np.allclose(audio[:len(sine)], sine[:len(audio)], atol=0.05)
  # a soundfont named by $DSJAX_SOUNDFONT is used (pretty_midi's own here); a missing one is
  # refused by name, not replaced by the sine fallback
  import pretty_midi
  bundled = os.path.join(os.path.dirname(pretty_midi.__file__), 'TimGM6mb.sf2')
  monkeypatch.setenv(midi_io.SOUNDFONT_ENV, bundled)
  assert midi_io.soundfont_path() == bundled
  assert midi_io.render_audio(_two_notes(), fs=16000)[1] == 'fluidsynth'
  monkeypatch.setenv(midi_io.SOUNDFONT_ENV, '/nonexistent/x.sf2')
  with pytest.raises(ValueError, match='DSJAX_SOUNDFONT=/nonexistent/x.sf2: no such soundfont'):
    midi_io.render_audio(_two_notes(), fs=16000)


def _sine_render(monkeypatch):
  with monkeypatch.context() as m:
    m.setattr(midi_io, '_fluidsynth_available', lambda: False)
    m.setattr(midi_io, '_NOTICE_GIVEN', True)
    return midi_io.render_audio(_two_notes(), fs=16000)


def test_sine_fallback_says_which_renderer_ran(monkeypatch):
  audio, renderer = _sine_render(monkeypatch)
  assert renderer == 'sine' and 0.5 < np.abs(audio).max() <= 1.0
  # the fallback's C4 is a pure 261.6 Hz tone: its spectrum peaks there
  spectrum = np.abs(np.fft.rfft(audio[:4000]))
  assert abs(np.argmax(spectrum) * 16000 / 4000 - 261.6) < 4.1
  assert midi_io.render_audio(np.zeros(0, NOTE_DTYPE))[1] == 'none'
