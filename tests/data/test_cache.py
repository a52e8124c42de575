"""Tests for dsjax.data.cache and dsjax.data.encodings."""

from __future__ import annotations

import os
import pathlib
import time

import numpy as np
import pytest

from dsjax.data import cache, corpora, encodings, midi_io
from dsjax.data import split as split_lib
from dsjax.data.events import EventVocab, encode_events
from dsjax.data.notes import Piece, make_notes
from dsjax.data.pianoroll import RollConfig, encode_pianoroll

from tests.data.test_corpora import make_midi_folder, write_midi_file


def _builds():
  return dict(cache.BUILD_COUNTS)


def _delta(before):
  now = cache.BUILD_COUNTS
  return {k: now[k] - before.get(k, 0) for k in ('notes', 'encoded')}


# --------------------------------------------------------------------------------------------
# encodings.


def test_encoding_registry():
  piece = Piece('x:y', make_notes([60, 64], [0.0, 0.5], [0.5, 1.0], velocity=[64, 100]))
  ev = encodings.get_encoding('events', shift_ms=20, velocity_bins='linear32')
  assert ev.vocab_size == EventVocab(20, 100, 'linear32').size == 388
  assert ev.feature_shape == () and ev.dtype == np.int32
  np.testing.assert_array_equal(ev.encode(piece), encode_events(piece, EventVocab(20, 100,
                                                                                   'linear32')))
  assert ev.cache_key() == 'events-shift20ms-max100-vellinear32'
  np.testing.assert_array_equal(ev.decode(ev.encode(piece)).notes['pitch'], [60, 64])

  roll = encodings.get_encoding('pianoroll', keys=88, onset_plane=True, step=0.5)
  assert roll.vocab_size is None and roll.feature_shape == (88, 2) and roll.dtype == np.uint8
  np.testing.assert_array_equal(
      roll.encode(piece), encode_pianoroll(piece, RollConfig(step=0.5, keys=88, onset_plane=True)))
  assert roll.encode(piece).shape == (4, 88, 2)
  assert roll.decode(roll.encode(piece)).notes['pitch'].tolist() == [60, 64]

  al = encodings.get_encoding('aligned', step=0.5)
  assert al.encode(piece).shape == (3, 128) and al.encode(piece)[2, 64] == 1
  assert al.cache_key() == 'aligned-beats0.5-k128'

  nd = encodings.get_encoding('note_duration', resolution=0.5, max_duration=8)
  assert nd.encode(piece).tolist() == [[60, 2], [128, 2], [64, 2]]
  assert nd.decode(nd.encode(piece)).notes['start'].tolist() == [0.0, 0.5]
  assert encodings.get_encoding(ev) is ev

  with pytest.raises(ValueError, match="unknown encoding 'midi'"):
    encodings.get_encoding('midi')
  with pytest.raises(TypeError, match="bad options \\['shift'\\] for encoding 'events'"):
    encodings.get_encoding('events', shift=3)
  with pytest.raises(TypeError, match="for encoding 'aligned'"):
    encodings.get_encoding('aligned', onset_plane=True)


# --------------------------------------------------------------------------------------------
# cache.


def test_cache_root(monkeypatch, tmp_path):
  monkeypatch.setenv('DSJAX_CACHE_DIR', str(tmp_path / 'env'))
  assert cache.cache_root() == tmp_path / 'env'
  assert cache.cache_root(tmp_path / 'x') == tmp_path / 'x'
  monkeypatch.delenv('DSJAX_CACHE_DIR')
  assert cache.cache_root() == pathlib.Path.home() / '.cache' / 'dsjax'


def test_bundled_dataset_keeps_original_splits(tmp_path):
  for s, frames in zip(corpora.SPLITS, (13807, 4602, 4725)):
    data = cache.load_dataset('jsb_chorales', 'pianoroll', s, cache_dir=tmp_path, keys=88, step=1.0,
                              progress=False)
    orig = corpora.load_polyphonic('jsb_chorales', s)
    np.testing.assert_array_equal(data.values, orig.values)
    np.testing.assert_array_equal(data.offsets, orig.offsets)
    assert data.values.shape == (frames, 88)
    assert list(data.names) == list(orig.names)
  ds = cache.prepare_dataset('jsb_chorales', 'pianoroll', tmp_path, keys=88, step=1.0,
                             progress=False)
  assert ds.manifest['valid_fraction'] is None  # Not hashed.
  assert ds.manifest['counts'] == dict(train=229, valid=76, test=77)


def test_cache_reused_and_rebuilt_when_options_change(tmp_path):
  kw = dict(cache_dir=tmp_path, progress=False, max_pieces=5)
  b0 = _builds()
  first = cache.prepare_dataset('nottingham', 'events', **kw)
  assert first.built and _delta(b0) == dict(notes=1, encoded=1)
  train_file = first.path / 'train.npz'
  mtime = train_file.stat().st_mtime_ns

  b1 = _builds()
  again = cache.prepare_dataset('nottingham', 'events', **kw)
  assert not again.built and _delta(b1) == dict(notes=0, encoded=0)
  assert train_file.stat().st_mtime_ns == mtime
  for s in corpora.SPLITS:
    np.testing.assert_array_equal(again.splits[s].values, first.splits[s].values)

  # An encoding option changes: encoded level rebuilt, note level reused.
  b2 = _builds()
  coarse = cache.prepare_dataset('nottingham', 'events', shift_ms=20, **kw)
  assert coarse.built and _delta(b2) == dict(notes=0, encoded=1)
  assert coarse.path != first.path
  assert coarse.splits['train'].values.max() < EventVocab(shift_ms=20).size
  assert train_file.stat().st_mtime_ns == mtime  # The old one is kept beside it.

  # A source option changes: both levels built.
  b3 = _builds()
  cache.prepare_dataset('nottingham', 'events', **dict(kw, max_pieces=6))
  assert _delta(b3) == dict(notes=1, encoded=1)

  # A damaged key is a changed key.
  (first.path / 'key.json').write_text('{')
  b4 = _builds()
  assert cache.prepare_dataset('nottingham', 'events', **kw).built
  assert _delta(b4) == dict(notes=0, encoded=1)

  # Only .npz arrays and .json keys on disk (plus the lock files).
  suffixes = {p.suffix for p in tmp_path.rglob('*') if p.is_file()}
  assert suffixes == {'.npz', '.json', '.lock'}


def test_folder_cache_tracks_files(tmp_path):
  folder = tmp_path / 'midi'
  good = make_midi_folder(folder)
  kw = dict(cache_dir=tmp_path / 'cache', progress=False, workers=1, valid_fraction=0.0,
            test_fraction=0.0)
  b0 = _builds()
  ds = cache.prepare_dataset(str(folder), 'events', **kw)
  assert _delta(b0) == dict(notes=1, encoded=1)
  train = ds.splits['train']
  assert list(train.names) == [f'midi:{r}' for r in sorted(good)]
  for name, ids in zip(train.names, train):
    piece = midi_io.load_midi(folder / name.split(':', 1)[1])
    np.testing.assert_array_equal(ids, encode_events(piece, EventVocab()))
  assert len(ds.report.skipped) == 3 and len(ds.report.kept) == 3
  assert [r['file'] for r in ds.manifest['pieces']] == sorted(good)
  assert [r['length'] for r in ds.manifest['pieces']] == [len(x) for x in train]

  b1 = _builds()
  assert not cache.prepare_dataset(str(folder), 'events', **kw).built
  assert _delta(b1) == dict(notes=0, encoded=0)

  # A new file: both levels rebuilt, the new piece is in, the others keep their data.
  write_midi_file(folder / 'new.mid', [(62, 0.0, 0.5, 80)])
  b2 = _builds()
  ds2 = cache.prepare_dataset(str(folder), 'events', **kw)
  assert _delta(b2) == dict(notes=1, encoded=1)
  assert 'midi:new.mid' in list(ds2.splits['train'].names)
  assert len(ds2.splits['train']) == 4

  # An edited file (new mtime) also rebuilds.
  path = folder / 'a.mid'
  st = path.stat()
  os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
  b3 = _builds()
  cache.prepare_dataset(str(folder), 'events', **kw)
  assert _delta(b3) == dict(notes=1, encoded=1)


def test_hashed_splits_in_cache_match_split_module(tmp_path):
  folder = tmp_path / 'many'
  for i in range(12):
    write_midi_file(folder / f'p{i:02d}.mid', [(60 + i, 0.0, 0.5, 80)])
  ds = cache.prepare_dataset(str(folder), 'aligned', tmp_path / 'c', progress=False, workers=1,
                             valid_fraction=0.25, test_fraction=0.25)
  for s in corpora.SPLITS:
    expected = [f'many:p{i:02d}.mid' for i in range(12)
                if split_lib.assign_split('many', f'p{i:02d}.mid', 0.25, 0.25) == s]
    assert list(ds.splits[s].names) == expected
  assert sum(len(ds.splits[s]) for s in corpora.SPLITS) == 12
  # Each aligned sequence: one onset of pitch 60 + i at step 0.
  for s in corpora.SPLITS:
    for name, steps in zip(ds.splits[s].names, ds.splits[s]):
      i = int(name[-6:-4])
      assert steps.shape == (1, 128) and steps[0].nonzero()[0].tolist() == [60 + i]


def test_music21_chorales_small(tmp_path):
  data = cache.load_dataset('bach', 'events', 'train', cache_dir=tmp_path, max_pieces=3,
                            valid_fraction=0.0, test_fraction=0.0, progress=False)
  assert list(data.names) == ['bach:bwv1.6', 'bach:bwv10.7', 'bach:bwv101.7']
  pieces = corpora.get_source('bach', max_pieces=3).load(workers=1, progress=False).pieces
  for ids, piece in zip(data, pieces):
    np.testing.assert_array_equal(ids, encode_events(piece))
  t = time.perf_counter()
  cache.load_dataset('bach', 'events', 'train', cache_dir=tmp_path, max_pieces=3,
                     valid_fraction=0.0, test_fraction=0.0)
  assert time.perf_counter() - t < 1.0


def test_transpose_to_c_option(tmp_path):
  folder = tmp_path / 'keys'
  d_major = [62, 64, 66, 67, 69, 71, 73, 74]  # D major scale.
  write_midi_file(folder / 'd.mid', [(p, 0.5 * i, 0.5 * i + 0.5, 80) for i, p in enumerate(d_major)])
  kw = dict(cache_dir=tmp_path / 'c', progress=False, workers=1, valid_fraction=0.0,
            test_fraction=0.0, step=1.0)  # One note per beat.
  plain = cache.load_dataset(str(folder), 'aligned', 'train', **kw)
  in_c = cache.load_dataset(str(folder), 'aligned', 'train', transpose_to_c=True, **kw)
  assert [r.nonzero()[0][0] for r in plain[0]] == d_major
  assert [r.nonzero()[0][0] for r in in_c[0]] == [p - 2 for p in d_major]


def test_cache_option_errors(tmp_path):
  with pytest.raises(TypeError, match=r"options \['sustain_pedal'\] do not apply to source"):
    cache.prepare_dataset('bach', 'events', tmp_path, sustain_pedal=True)
  with pytest.raises(TypeError, match="for encoding 'events'"):
    cache.prepare_dataset('jsb_chorales', 'events', tmp_path, keys=88)
  with pytest.raises(ValueError, match="unknown split 'dev'"):
    cache.load_dataset('jsb_chorales', 'events', 'dev', cache_dir=tmp_path)
  with pytest.raises(ValueError, match='split fractions'):
    cache.prepare_dataset('bach', 'events', tmp_path, test_fraction=1.5)
  # An option left at None applies to no source and is ignored.
  assert len(cache.load_dataset('jsb_chorales', 'events', 'valid', cache_dir=tmp_path,
                                dataset=None, progress=False)) == 76
