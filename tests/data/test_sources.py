"""Tests for the data sources a config names: a MIDI folder with its options (drums, sustain pedal,
programs) and a benchmark file of the user's (.mat / .npz rolls), through
dsjax.tasks.datasets.load_split and the cache."""

from __future__ import annotations

import os
import pathlib

import numpy as np
import pretty_midi
import pytest
import scipy.io

import configs
from dsjax.data import cache, corpora
from dsjax.data.events import EventVocab
from dsjax.tasks import datasets

DRUM_PITCHES = (36, 38, 42)     # kick, snare, closed hi-hat: no pitched track plays them here
PIANO, VIOLIN = 0, 40


def write_midi(path: pathlib.Path, tracks, sustain=()):
  """tracks: [(program, is_drum, [(pitch, start, end)])] at 120 qpm; sustain: CC64 [(time, value)]
  on the first track."""
  pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)
  for program, is_drum, notes in tracks:
    inst = pretty_midi.Instrument(program, is_drum=is_drum)
    inst.notes = [pretty_midi.Note(velocity=80, pitch=p, start=s, end=e) for p, s, e in notes]
    pm.instruments.append(inst)
  pm.instruments[0].control_changes = [pretty_midi.ControlChange(64, v, t) for t, v in sustain]
  path.parent.mkdir(parents=True, exist_ok=True)
  pm.write(str(path))


def make_band_folder(root: pathlib.Path) -> pathlib.Path:
  """Four files; one has a drum track beside its piano, one a violin beside its piano, one a
  sustain pedal."""
  scale = [(60 + i, 0.5 * i, 0.5 * i + 0.25) for i in range(8)]
  write_midi(root / 'band.mid', [(PIANO, False, scale),
                                 (0, True, [(p, 0.25 * i, 0.25 * i + 0.1)
                                            for i, p in enumerate(DRUM_PITCHES * 4)])])
  write_midi(root / 'duo.mid', [(PIANO, False, scale), (VIOLIN, False, [(84, 0.0, 2.0)])])
  write_midi(root / 'pedal.mid', [(PIANO, False, [(64, 0.0, 0.5), (67, 1.0, 1.5)])],
             sustain=[(0.25, 127), (2.0, 0)])
  write_midi(root / 'solo.mid', [(PIANO, False, scale[::-1])])
  return root


def folder_config(folder, tmp_path, **overrides):
  return configs.load_config('baseline_lstm:tiny', **{
      'data.source': str(folder), 'data.cache_dir': str(tmp_path / 'cache'), **overrides})


def note_on_pitches(config) -> set[int]:
  """Pitches with a note-on event anywhere in the source's three splits."""
  vocab = EventVocab(10, 100, 'log2')
  ids = np.concatenate([datasets.load_split(config, 'events', s).values for s in corpora.SPLITS])
  on = ids[(ids >= vocab.note_on_offset) & (ids < vocab.note_on_offset + 128)]
  return set((on - vocab.note_on_offset).tolist())


def all_events(config) -> np.ndarray:
  return np.concatenate([datasets.load_split(config, 'events', s).values for s in corpora.SPLITS])


# --------------------------------------------------------------------------------------------
# A folder of MIDI files: its options are config keys and reach the loader.


def test_source_options_are_config_keys_of_every_experiment():
  for name in configs.experiment_names():
    c = configs.load_config(name)
    assert c.data.drop_drums is True, name
    assert c.data.sustain_pedal is False and tuple(c.data.programs) == (), name
    assert c.data.frame_beats == 0.0, name
  c = configs.load_config('baseline_lstm:tiny', **{
      'data.drop_drums': False, 'data.sustain_pedal': True, 'data.programs': (0, 40),
      'data.frame_beats': 0.5})
  assert (c.data.drop_drums, c.data.sustain_pedal, tuple(c.data.programs), c.data.frame_beats) == (
      False, True, (0, 40), 0.5)
  with pytest.raises((AttributeError, KeyError), match='drop_drum'):
    configs.load_config('baseline_lstm:tiny', **{'data.drop_drum': False})


def test_load_split_drops_drums_by_default(tmp_path):
  folder = make_band_folder(tmp_path / 'midi')
  default = folder_config(folder, tmp_path)
  pitched = note_on_pitches(default)
  assert not pitched & set(DRUM_PITCHES)
  assert {60, 84} <= pitched
  # The option is part of the cache key: turning it off is not answered from the cache above.
  with_drums = note_on_pitches(folder_config(folder, tmp_path, **{'data.drop_drums': False}))
  assert with_drums == pitched | set(DRUM_PITCHES)
  assert note_on_pitches(default) == pitched  # And back: the first cache, still valid.


def test_load_split_programs_and_sustain_pedal(tmp_path):
  folder = make_band_folder(tmp_path / 'midi')
  assert 84 in note_on_pitches(folder_config(folder, tmp_path))
  piano_only = note_on_pitches(folder_config(folder, tmp_path, **{'data.programs': (PIANO,)}))
  assert 84 not in piano_only and 60 in piano_only
  violin_only = note_on_pitches(folder_config(folder, tmp_path, **{'data.programs': (VIOLIN,)}))
  assert violin_only == {84}  # The other files have no violin: skipped.
  plain = all_events(folder_config(folder, tmp_path))
  pedalled = all_events(folder_config(folder, tmp_path, **{'data.sustain_pedal': True}))
  assert not np.array_equal(plain, pedalled)  # The pedalled notes end later.


def test_source_option_that_does_not_apply_is_refused(tmp_path):
  c = configs.load_config('pianoroll_lstm:tiny', **{'data.sustain_pedal': True})
  with pytest.raises(ValueError, match=r"config.data.sustain_pedal=True does not apply to source "
                                       r"'jsb_chorales'"):
    datasets.source_options(c)
  folder = make_band_folder(tmp_path / 'midi')
  with pytest.raises(ValueError, match='config.data.frame_beats=0.5 does not apply'):
    datasets.source_options(folder_config(folder, tmp_path, **{'data.frame_beats': 0.5}))
  # drop_drums is on by default and means nothing where there are no drums.
  assert datasets.source_options(configs.load_config('pianoroll_lstm:tiny')) == {
      'max_pieces': None, 'frame_beats': None}


# --------------------------------------------------------------------------------------------
# A benchmark file of the user's: .mat or .npz rolls.


def make_rolls(rng, lengths, silent_tail=2):
  """Random binary [T, 88] rolls; the first ends in ``silent_tail`` silent frames, the last is
  silent throughout."""
  rolls = [(rng.random((n, 88)) < 0.05).astype(np.uint8) for n in lengths]
  rolls[0][:, 40] = 1
  rolls[0][-silent_tail:] = 0
  rolls[-1][:] = 0
  return rolls


def benchmark_splits(seed=0):
  rng = np.random.default_rng(seed)
  return {'train': make_rolls(rng, (9, 5, 12, 4)), 'valid': make_rolls(rng, (7, 3)),
          'test': make_rolls(rng, (6, 11, 2))}


def save_mat(path, splits, dtype=np.float64):
  cells = {}
  for split, key in corpora.MAT_SPLIT_KEYS.items():
    if split in splits:
      c = np.empty((1, len(splits[split])), dtype=object)
      for i, r in enumerate(splits[split]):
        c[0, i] = np.asarray(r, dtype)
      cells[key] = c
  scipy.io.savemat(str(path), cells)
  return path


def save_npz(path, splits, **extra):
  arrays = {}
  for split, rolls in splits.items():
    arrays[f'{split}_rolls'] = np.concatenate(rolls).astype(np.uint8)
    arrays[f'{split}_lengths'] = np.array([len(r) for r in rolls], np.int32)
  np.savez(path, lowest_pitch=21, **arrays, **extra)
  return path


def roll_config(source, tmp_path, **overrides):
  return configs.load_config('pianoroll_lstm:tiny', **{
      'data.source': str(source), 'data.cache_dir': str(tmp_path / 'cache'), **overrides})


@pytest.mark.parametrize('fmt', ['mat', 'npz'])
def test_benchmark_file_rolls_kept_as_stored(tmp_path, fmt):
  splits = benchmark_splits()
  path = tmp_path / f'mine.{fmt}'
  (save_mat if fmt == 'mat' else save_npz)(path, splits)
  config = roll_config(path, tmp_path)
  for split, rolls in splits.items():
    got = datasets.load_split(config, 'pianoroll', split)
    assert got.values.dtype == np.uint8
    assert got.lengths.tolist() == [len(r) for r in rolls]  # Silent tail, silent roll: kept.
    np.testing.assert_array_equal(got.values, np.concatenate(rolls))
    assert list(got.names) == [f'mine:{split}/{i:03d}' for i in range(len(rolls))]
  wide = datasets.load_split(roll_config(path, tmp_path, **{'data.roll.pitches': 128}),
                             'pianoroll', 'test')
  np.testing.assert_array_equal(wide.values[:, 21:109], np.concatenate(splits['test']))
  assert wide.values.shape[1] == 128 and not wide.values[:, :21].any()
  assert not wide.values[:, 109:].any()
  capped = datasets.load_split(roll_config(path, tmp_path, **{'data.max_pieces': 2}),
                               'pianoroll', 'train')
  np.testing.assert_array_equal(capped.values, np.concatenate(splits['train'][:2]))


def test_benchmark_file_cached_and_rebuilt_when_it_changes(tmp_path):
  path = save_mat(tmp_path / 'mine.mat', benchmark_splits(0))
  config = roll_config(path, tmp_path)
  before = dict(cache.BUILD_COUNTS)
  first = datasets.load_split(config, 'pianoroll', 'valid')
  again = datasets.load_split(config, 'pianoroll', 'valid')
  np.testing.assert_array_equal(first.values, again.values)
  assert cache.BUILD_COUNTS['encoded'] - before.get('encoded', 0) == 1
  changed = benchmark_splits(1)
  save_mat(path, changed)
  os.utime(path, ns=(1, 1))  # A rewrite within the same clock tick still changes the key.
  np.testing.assert_array_equal(datasets.load_split(config, 'pianoroll', 'valid').values,
                                np.concatenate(changed['valid']))


def test_benchmark_file_for_event_models_needs_its_frame_length(tmp_path):
  path = save_npz(tmp_path / 'mine.npz', benchmark_splits())
  c = configs.load_config('baseline_lstm:tiny', **{
      'data.source': str(path), 'data.cache_dir': str(tmp_path / 'cache')})
  with pytest.raises(ValueError, match=r'mine \(.*mine.npz\): encoding .events. needs the length '
                                       r'of a frame in quarter notes; set data.frame_beats'):
    datasets.load_split(c, 'events', 'train')
  c = configs.load_config('baseline_lstm:tiny', **{
      'data.source': str(path), 'data.cache_dir': str(tmp_path / 'cache'),
      'data.frame_beats': 0.5})
  events = datasets.load_split(c, 'events', 'train')
  assert len(events) == 3  # The silent roll has no events.
  vocab = EventVocab(10, 100, 'log2')
  first = events[0]
  assert vocab.note_on_offset + 40 + 21 in first.tolist()


def test_frame_rate_must_match_the_roll_step(tmp_path):
  # Nottingham's frames are eighth notes: a quarter-note roll would resample them.
  c = configs.load_config('pianoroll_lstm:tiny', **{
      'data.source': 'nottingham', 'data.cache_dir': str(tmp_path / 'cache'),
      'data.max_pieces': 3})
  with pytest.raises(ValueError, match=r'nottingham: its frames are 0.5 quarter notes '
                                       r'\(frame_beats\) but the roll step is 1 beats.*'
                                       r'set data.roll.step=0.5'):
    datasets.load_split(c, 'pianoroll', 'train')
  path = save_mat(tmp_path / 'mine.mat', benchmark_splits())
  with pytest.raises(ValueError, match=r'frames are 0.5 quarter notes .* roll step is 1 beats'):
    datasets.load_split(roll_config(path, tmp_path, **{'data.frame_beats': 0.5}), 'pianoroll',
                        'train')
  # Matching settings load.
  c = roll_config(path, tmp_path, **{'data.frame_beats': 0.5, 'data.roll.step': 0.5})
  assert len(datasets.load_split(c, 'pianoroll', 'train')) == 4
  with pytest.raises(ValueError, match='roll step is 0.25 beats'):
    cache.prepare_dataset('jsb_chorales', 'aligned', tmp_path / 'c', step=0.25, progress=False)


def test_bundled_rolls_kept_as_stored(tmp_path):
  # Two of Nottingham's training rolls end in silent frames (582: 3, 636: 2).
  for split in corpora.SPLITS:
    got = cache.load_dataset('nottingham', 'pianoroll', split, cache_dir=tmp_path, keys=88,
                             step=0.5, progress=False)
    want = corpora.load_polyphonic('nottingham', split)
    np.testing.assert_array_equal(got.offsets, want.offsets)
    np.testing.assert_array_equal(got.values, want.values)


def one_line_error(path, match):
  with pytest.raises(ValueError) as e:
    corpora.read_roll_file(path)
  text = str(e.value)
  assert text.startswith(f'benchmark file {path}: ') and '\n' not in text, text
  assert match in text, text


def test_bad_benchmark_files_are_named(tmp_path):
  good = benchmark_splits()
  bad_shape = dict(good, valid=[np.zeros((4, 87), np.uint8)])
  one_line_error(save_mat(tmp_path / 'shape.mat', bad_shape),
                 'validdata sequence 0 has shape [4, 87]; each sequence must be [frames, 88]')
  not_binary = dict(good, test=[np.full((3, 88), 0.5)])
  one_line_error(save_mat(tmp_path / 'values.mat', not_binary),
                 'testdata sequence 0 is not binary: frame 0, key 0 holds')
  one_line_error(save_mat(tmp_path / 'nosplit.mat', {'train': good['train'],
                                                     'valid': good['valid']}),
                 "no testdata (split 'test')")
  one_line_error(save_npz(tmp_path / 'nosplit.npz', {'train': good['train']}),
                 "no valid_rolls or valid_lengths (split 'valid')")
  npz = save_npz(tmp_path / 'lengths.npz', good)
  arrays = dict(np.load(npz))
  arrays['test_lengths'] = arrays['test_lengths'] + 1
  np.savez(npz, **arrays)
  one_line_error(npz, 'test_lengths must be non-negative integers')
  arrays = dict(np.load(save_npz(tmp_path / 'twos.npz', good)))
  arrays['train_rolls'][5, 7] = 2
  np.savez(tmp_path / 'twos.npz', **arrays)
  one_line_error(tmp_path / 'twos.npz', 'train_rolls is not binary: frame 5, key 7 holds 2')
  for name in ('garbage.mat', 'garbage.npz'):
    (tmp_path / name).write_bytes(b'\x00not a benchmark\n' * 20)
    one_line_error(tmp_path / name, 'unreadable')
  # Through a config: the same error, before anything is cached.
  with pytest.raises(ValueError, match=r'benchmark file .*shape.mat: validdata sequence 0'):
    datasets.load_split(roll_config(tmp_path / 'shape.mat', tmp_path), 'pianoroll', 'train')
  with pytest.raises(ValueError, match=r"unknown source '.*notes.txt': a file, but not a "
                                       r'benchmark file'):
    (tmp_path / 'notes.txt').write_text('x')
    corpora.get_source(str(tmp_path / 'notes.txt'))
