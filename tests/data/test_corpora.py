"""Tests for dsjax.data.corpora: bundled benchmarks, music21 corpus, MIDI folders."""

from __future__ import annotations

import pathlib

import numpy as np
import pretty_midi
import pytest

from dsjax.data import corpora, parallel, repeats
from dsjax.data.pianoroll import RollConfig, encode_pianoroll


def write_midi_file(path, notes, program=0, is_drum=False):
  """notes: [(pitch, start, end, velocity)] at 120 qpm (0.5 s = 220 ticks, exact)."""
  pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)
  inst = pretty_midi.Instrument(program, is_drum=is_drum)
  for pitch, start, end, velocity in notes:
    inst.notes.append(pretty_midi.Note(velocity=velocity, pitch=pitch, start=start, end=end))
  pm.instruments.append(inst)
  pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
  pm.write(str(path))


def make_midi_folder(root: pathlib.Path) -> dict[str, list]:
  """3 good files (one nested, one upper-case .MID, one .midi), a corrupt, an empty and a
  truncated file, and a .txt that must be ignored. Returns {relative path: notes} of the good."""
  good = {
      'a.mid': [(60, 0.0, 0.5, 90), (64, 0.5, 1.0, 91), (67, 1.0, 2.0, 92)],
      'sub/b.MID': [(48, 0.0, 1.0, 70), (55, 0.0, 1.0, 71)],
      'sub/deeper/c.midi': [(72, 0.5, 1.5, 100)],
  }
  for rel, notes in good.items():
    write_midi_file(root / rel, notes)
  (root / 'bad').mkdir()
  (root / 'bad' / 'corrupt.mid').write_bytes(b'this is not a midi file at all' * 3)
  (root / 'bad' / 'empty.mid').write_bytes(b'')
  data = (root / 'a.mid').read_bytes()
  (root / 'bad' / 'truncated.mid').write_bytes(data[:len(data) // 2])
  (root / 'notes.txt').write_text('not music')
  return good


# --------------------------------------------------------------------------------------------
# Bundled benchmarks.


@pytest.mark.parametrize('name,counts,frames', [
    ('jsb_chorales', (229, 76, 77), (13807, 4602, 4725)),
    ('nottingham', (694, 173, 170), (176561, 45513, 44463)),
])
def test_bundled_sizes_match_readme(name, counts, frames):
  for split, n, t in zip(corpora.SPLITS, counts, frames):
    s = corpora.load_polyphonic(name, split)
    assert len(s) == n
    assert s.values.shape == (t, 88)
    assert s.values.dtype == np.uint8
    assert int(s.lengths.sum()) == t
    assert s.names[0] == f'{name}:{split}/000'
    assert set(np.unique(s.values)) <= {0, 1}


def test_bundled_file_sits_next_to_the_module():
  path = corpora.bundled_path('jsb_chorales')
  assert path == pathlib.Path(corpora.__file__).parent / 'bundled' / 'jsb_chorales.npz'
  with pytest.raises(ValueError, match="unknown bundled benchmark 'maestro'"):
    corpora.bundled_path('maestro')
  with pytest.raises(ValueError, match="unknown split 'dev'"):
    corpora.load_polyphonic('jsb_chorales', 'dev')


def test_roll_to_notes_merges_held_frames():
  roll = np.zeros((5, 88), np.uint8)
  roll[0:2, 39] = 1      # C4 held 2 frames
  roll[3:5, 39] = 1      # C4 again after a gap, to the last frame
  roll[1, 0] = 1         # A0, one frame
  notes = corpora.roll_to_notes(roll, frame_seconds=0.5)
  assert notes['pitch'].tolist() == [60, 21, 60]
  assert notes['start'].tolist() == [0.0, 0.5, 1.5]
  assert notes['end'].tolist() == [1.0, 1.0, 2.5]
  assert (notes['velocity'] == 80).all()


def test_jsb_pieces_reencode_to_the_original_rolls():
  pieces = corpora.polyphonic_pieces('jsb_chorales', 'train')
  rolls = corpora.load_polyphonic('jsb_chorales', 'train')
  assert len(pieces) == 229
  assert pieces[3].name == 'jsb_chorales:train/003' and pieces[3].group == 'train/003'
  assert pieces[0].tempo_qpm.tolist() == [120.0]
  cfg = RollConfig(grid='beats', step=1.0, keys=88)  # One JSB frame = one quarter note.
  for i, piece in enumerate(pieces):
    np.testing.assert_array_equal(encode_pianoroll(piece, cfg), rolls[i])
  # One frame = 1 beat = 0.5 s at 120 qpm.
  assert pieces[0].notes['start'].min() == 0.0
  assert set(np.unique(np.round(pieces[0].notes['start'] / 0.5, 9) % 1)) == {0.0}


def test_nottingham_frames_are_eighth_notes():
  pieces = corpora.polyphonic_pieces('nottingham', 'valid')[:20]
  rolls = corpora.load_polyphonic('nottingham', 'valid')
  cfg = RollConfig(grid='beats', step=0.5, keys=88)
  for i, piece in enumerate(pieces):
    np.testing.assert_array_equal(encode_pianoroll(piece, cfg), rolls[i])
  slow = corpora.polyphonic_pieces('nottingham', 'valid', frame_beats=1.0, qpm=60.0)[0]
  np.testing.assert_allclose(slow.notes['start'], pieces[0].notes['start'] * 4)


# --------------------------------------------------------------------------------------------
# music21 corpus.


def test_chorale_group_drops_variant_suffix():
  assert corpora.chorale_group('bwv248.23-2') == 'bwv248.23'
  assert corpora.chorale_group('bwv145-a') == 'bwv145'
  assert corpora.chorale_group('bwv66.6') == 'bwv66.6'


def test_bach_chorale_file_list():
  files = corpora.bach_chorale_files()
  stems = [s for s, _ in files]
  assert len(stems) == len(set(stems)) == 410  # 413 bwv files, 3 both .krn and .mxl.
  assert stems == sorted(stems)
  assert dict(files)['bwv277'].suffix == '.mxl'
  assert len({corpora.chorale_group(s) for s in stems}) == 401


def test_bach_chorales_keep_voices_as_parts():
  loaded = corpora.get_source('bach', max_pieces=3).load(workers=2, progress=False)
  assert [p.name for p in loaded.pieces] == ['bach:bwv1.6', 'bach:bwv10.7', 'bach:bwv101.7']
  assert loaded.files == ['bach/bwv1.6.mxl', 'bach/bwv10.7.mxl', 'bach/bwv101.7.mxl']
  assert loaded.splits is None and loaded.report.skipped == []
  piece = loaded.pieces[1]
  assert piece.group == 'bwv10.7'
  assert sorted(np.unique(piece.notes['part'])) == [0, 1, 2, 3]
  assert piece.tempo_qpm.tolist() == [120.0] and piece.tempo_times.tolist() == [0.0]
  assert (piece.notes['velocity'] == 80).all()

  # Same notes as music21 gives for each voice (after repeats), at 0.5 s per quarter note.
  from music21 import converter
  score = converter.parse(corpora.music21_corpus_root() / 'bach' / 'bwv10.7.mxl')
  score = score.expandRepeats()
  for k, part in enumerate(score.parts):
    ref = sorted((float(n.offset) * 0.5, float(n.offset + n.quarterLength) * 0.5, p.midi)
                 for n in part.stripTies().flatten().notes for p in n.pitches)
    mine = piece.notes[piece.notes['part'] == k]
    got = sorted(zip(mine['start'].tolist(), mine['end'].tolist(), mine['pitch'].tolist()))
    assert got == ref


ABC_TWO_TUNES = """%%abc header line
X:1
T:Scale with repeat
N:A0004A
M:4/4
L:1/4
K:C
C D E F | G4 :| [CEG]2 G2- | G4 |]

X:2
T:Second
N:A0004B
M:3/4
L:1/8
K:G
G2 A2 B2 |]
"""


def test_abc_tunes_split_and_fields(tmp_path):
  path = tmp_path / 'two.abc'
  path.write_text(ABC_TWO_TUNES)
  tunes = corpora.abc_tunes(path)
  assert [x for x, _, _ in tunes] == ['1', '2']
  assert tunes[0][2]['T'] == 'Scale with repeat' and tunes[1][2]['N'] == 'A0004B'
  assert tunes[1][1].startswith('%%abc header line\nX:2')


def test_score_to_piece_expands_repeats_chords_and_ties(tmp_path):
  from music21 import converter
  text = corpora.abc_tunes(_write(tmp_path / 't.abc', ABC_TWO_TUNES))[0][1]
  piece = corpora.score_to_piece(converter.parseData(text, format='abc'), 'essen:t/1')
  n = piece.notes
  # Two bars played twice (repeat), a C-E-G chord (2 beats), G tied over the bar (2 + 4 beats);
  # one beat = 0.5 s at 120 qpm.
  assert n['pitch'].tolist() == [60, 62, 64, 65, 67, 60, 62, 64, 65, 67, 60, 64, 67, 67]
  assert n['start'].tolist() == [0, .5, 1, 1.5, 2, 4, 4.5, 5, 5.5, 6, 8, 8, 8, 9]
  assert n['end'].tolist() == [.5, 1, 1.5, 2, 4, 4.5, 5, 5.5, 6, 8, 9, 9, 9, 12]
  as_written = corpora.score_to_piece(converter.parseData(text, format='abc'), 'x',
                                      expand_repeats=False)
  assert len(as_written.notes) == 9


def _write(path, text):
  path.write_text(text)
  return path


@pytest.mark.parametrize('name,first', [
    ('essen', ('essen:altdeu10/1', 'A0001')),
    ('ryans', ('ryans:42dHighlandRegimentStrathspey/1', '42dHighlandRegimentStrathspey/1')),
    ('oneills', ('oneills:0001-0050/1', '0001-0050/1')),
])
def test_folk_collections_capped(name, first):
  loaded = corpora.get_source(name, max_pieces=2).load(workers=1, progress=False)
  assert len(loaded.pieces) == 2 and loaded.report.skipped == []
  assert (loaded.pieces[0].name, loaded.pieces[0].group) == first
  assert loaded.files[0].endswith('#X:1')
  assert len(np.unique(loaded.pieces[0].notes['part'])) == 1


def test_essen_variants_share_a_group():
  loaded = corpora.get_source('essen', max_pieces=3).load(workers=1, progress=False)
  # A0004A and A0004B are two variants of one song.
  assert [p.group for p in loaded.pieces] == ['A0001', 'A0004', 'A0004']


# --------------------------------------------------------------------------------------------
# Folders and get_source.


def test_folder_keeps_good_files_and_reports_bad_ones(tmp_path):
  good = make_midi_folder(tmp_path)
  source = corpora.get_source(str(tmp_path))
  assert isinstance(source, corpora.FolderSource) and source.dataset == tmp_path.name
  assert [p.relative_to(tmp_path).as_posix() for p in source.files()] == [
      'a.mid', 'bad/corrupt.mid', 'bad/empty.mid', 'bad/truncated.mid', 'sub/b.MID',
      'sub/deeper/c.midi']
  loaded = source.load(workers=2, progress=False)
  assert [p.name for p in loaded.pieces] == [f'{tmp_path.name}:{r}' for r in sorted(good)]
  assert loaded.files == sorted(good)
  for piece, rel in zip(loaded.pieces, sorted(good)):
    assert piece.group == rel
    ref = sorted(good[rel], key=lambda n: (n[1], n[0]))
    assert list(zip(piece.notes['pitch'].tolist(), piece.notes['start'].tolist(),
                    piece.notes['end'].tolist(), piece.notes['velocity'].tolist())) == ref
  skipped = dict(loaded.report.skipped)
  assert sorted(skipped) == [str(tmp_path / 'bad' / f) for f in
                             ('corrupt.mid', 'empty.mid', 'truncated.mid')]
  assert 'empty' in skipped[str(tmp_path / 'bad' / 'empty.mid')]
  assert 'truncated' in skipped[str(tmp_path / 'bad' / 'truncated.mid')]
  assert 'not a readable MIDI file' in skipped[str(tmp_path / 'bad' / 'corrupt.mid')]
  summary = loaded.report.summary()
  assert summary.splitlines()[0].endswith('kept 3, skipped 3')
  assert f'skipped {tmp_path / "bad" / "empty.mid"}: empty file' in summary


def test_folder_serial_equals_parallel_and_cap(tmp_path):
  make_midi_folder(tmp_path)
  a = corpora.get_source(str(tmp_path), dataset='mine').load(workers=1, progress=False)
  b = corpora.get_source(str(tmp_path), dataset='mine').load(workers=2, progress=False)
  assert [p.name for p in a.pieces] == [p.name for p in b.pieces]
  assert a.pieces[0].name == 'mine:a.mid'
  for x, y in zip(a.pieces, b.pieces):
    np.testing.assert_array_equal(x.notes, y.notes)
  assert a.report.skipped == b.report.skipped
  capped = corpora.get_source(str(tmp_path), max_pieces=1).load(workers=1, progress=False)
  assert len(capped.pieces) == 1 and capped.report.skipped == []


def test_get_source_dispatch_and_errors(tmp_path):
  assert isinstance(corpora.get_source('nottingham'), corpora.PolyphonicSource)
  assert isinstance(corpora.get_source('bach'), corpora.Music21Source)
  assert isinstance(corpora.get_source('oneills'), corpora.Music21Source)
  with pytest.raises(ValueError, match="unknown source 'maestro'"):
    corpora.get_source('maestro')
  with pytest.raises(TypeError, match=r"unknown options \['sustain_pedal'\] for source 'bach'"):
    corpora.get_source('bach', sustain_pedal=True)
  with pytest.raises(NotADirectoryError):
    corpora.midi_files(tmp_path / 'nope')
  empty = corpora.get_source(str(tmp_path)).load(progress=False)
  assert empty.pieces == [] and empty.report.kept == []


def test_folder_load_with_spawned_workers(tmp_path, monkeypatch):
  # Once JAX is imported, workers are spawned (fresh interpreters), not forked.
  import multiprocessing
  good = make_midi_folder(tmp_path)
  monkeypatch.setattr(parallel, '_pool_context', lambda: multiprocessing.get_context('spawn'))
  loaded = corpora.get_source(str(tmp_path)).load(workers=2, progress=False)
  assert loaded.files == sorted(good) and len(loaded.report.skipped) == 3


def test_loading_inside_a_bootstrapping_worker_is_an_error(monkeypatch):
  import multiprocessing
  monkeypatch.setattr(multiprocessing.current_process(), '_inheriting', True, raising=False)
  with pytest.raises(RuntimeError, match="under `if __name__ == '__main__':`"):
    parallel.parallel_map(abs, [1, 2])


@pytest.mark.parametrize('body,expected', [
    # Each end repeat goes back to just after the previous one (past a 2nd-ending bracket).
    ("C D E F | G A B c :| d e f g |1 a b c' d' :|2 e4 || f4 | f4 :| g4 | a4 :|",
     'C4 D4 E4 F4 G4 A4 B4 C5 C4 D4 E4 F4 G4 A4 B4 C5 D5 E5 F5 G5 A5 B5 C6 D6 D5 E5 F5 G5 E5 '
     'F5 F5 F5 F5 G5 A5 G5 A5'),
    # Explicit start repeats and '::' are kept as written.
    ('|: C D E F | G4 :| d e f g | a4 :: b4 | c4 :|',
     'C4 D4 E4 F4 G4 C4 D4 E4 F4 G4 D5 E5 F5 G5 A5 D5 E5 F5 G5 A5 B5 C5 B5 C5'),
])
def test_repeats_without_start_go_back_to_the_previous_end(body, expected):
  from music21 import converter
  score = converter.parseData(f'X:1\nT:t\nM:4/4\nL:1/4\nK:C\n{body}\n', format='abc')
  played = repeats.expand_score_repeats(score)
  assert ' '.join(n.nameWithOctave for n in played.parts[0].flatten().notes) == expected


def test_oneills_1046_is_played_twice_not_2_to_the_k_times():
  from music21 import converter
  path = corpora.music21_corpus_root() / 'oneills1850' / '1031-1115.abc'
  text = {x: t for x, t, _ in corpora.abc_tunes(path)}['1046']
  written = corpora.score_to_piece(converter.parseData(text, format='abc'), 'w',
                                   expand_repeats=False)
  played = corpora.score_to_piece(converter.parseData(text, format='abc'), 'p')
  # 12 repeated sections; music21's own expandRepeats gave 50498 notes here.
  assert (len(written.notes), len(played.notes)) == (496, 992)
