"""Tests for dsjax.data.split: hashed splits and manifests."""

from __future__ import annotations

import hashlib
import json
import random

import numpy as np
import pytest

from dsjax.data import split
from dsjax.data.notes import Piece, make_notes


def _piece(name, group=None, n=3):
  return Piece(name, make_notes(np.arange(60, 60 + n), np.arange(n) * 0.5,
                                np.arange(n) * 0.5 + 0.5), group=group)


def test_hash_fraction_is_sha256_prefix():
  key = 'bach:bwv66.6'
  expected = int(hashlib.sha256(key.encode()).hexdigest()[:16], 16) / 2**64
  assert split.hash_fraction(key) == expected
  assert 0.0 <= expected < 1.0


def test_assign_split_thresholds():
  u = split.hash_fraction('bach:bwv66.6')
  eps = 1e-12
  assert split.assign_split('bach', 'bwv66.6', valid_fraction=0.0, test_fraction=u + eps) == 'test'
  assert split.assign_split('bach', 'bwv66.6', valid_fraction=0.0, test_fraction=u - eps) == 'train'
  assert split.assign_split('bach', 'bwv66.6', valid_fraction=2 * eps,
                            test_fraction=u - eps) == 'valid'
  assert split.assign_split('bach', 'bwv66.6', 0.0, 0.0) == 'train'
  assert split.assign_split('bach', 'bwv66.6', 0.0, 1.0) == 'test'
  with pytest.raises(ValueError, match='split fractions'):
    split.assign_split('bach', 'x', 0.6, 0.6)
  with pytest.raises(ValueError, match='split fractions'):
    split.assign_split('bach', 'x', -0.1, 0.1)


def test_dataset_is_part_of_the_hash():
  groups = [f'g{i}' for i in range(200)]
  a = [split.assign_split('essen', g) for g in groups]
  b = [split.assign_split('ryans', g) for g in groups]
  assert a != b


def test_fractions_are_respected_on_many_groups():
  splits = [split.assign_split('folder', f'piece{i:05d}.mid') for i in range(20000)]
  counts = {s: splits.count(s) for s in split.SPLITS}
  # Binomial sd is 0.002 of 20000 here; 0.01 is five sd.
  assert abs(counts['test'] / 20000 - 0.1) < 0.01
  assert abs(counts['valid'] / 20000 - 0.1) < 0.01
  custom = [split.assign_split('folder', f'piece{i:05d}.mid', 0.3, 0.2) for i in range(20000)]
  assert abs(custom.count('test') / 20000 - 0.2) < 0.015
  assert abs(custom.count('valid') / 20000 - 0.3) < 0.015
  # Growing the test fraction only moves pieces into test, never out of it.
  for s_small, s_big in zip(splits, custom):
    if s_small == 'test':
      assert s_big == 'test'


def test_split_stable_when_files_are_added_or_reordered():
  pieces = [_piece(f'mine:song{i}.mid', f'song{i}.mid') for i in range(300)]
  before = dict(zip([p.name for p in pieces], split.assign_splits(pieces)))
  assert set(before.values()) == set(split.SPLITS)
  more = pieces + [_piece(f'mine:extra{i}.mid', f'extra{i}.mid') for i in range(500)]
  random.Random(0).shuffle(more)
  after = dict(zip([p.name for p in more], split.assign_splits(more)))
  assert {n: after[n] for n in before} == before
  # Removing files does not move the others either.
  fewer = more[::3]
  again = dict(zip([p.name for p in fewer], split.assign_splits(fewer)))
  assert all(again[n] == after[n] for n in again)


def test_variants_of_one_group_share_a_split():
  variants = [_piece('bach:bwv248.23', 'bwv248.23'), _piece('bach:bwv248.23-2', 'bwv248.23'),
              _piece('bach:bwv248.23-s', 'bwv248.23')]
  assigned = split.assign_splits(variants, 0.45, 0.45)
  assert len(set(assigned)) == 1
  assert assigned[0] == split.assign_split('bach', 'bwv248.23', 0.45, 0.45)


def test_manifest_round_trip(tmp_path):
  pieces = [_piece('bach:a', 'a', 2), _piece('bach:b-2', 'b', 5), _piece('bach:c', 'c', 1)]
  path = tmp_path / 'manifest.json'
  written = split.write_manifest(path, pieces, ['train', 'test', 'train'],
                                 ['bach/a.mxl', 'bach/b-2.mxl', 'bach/c.mxl'],
                                 columns=dict(length=np.array([7, 11, 3])), source='bach',
                                 valid_fraction=0.1, test_fraction=0.1)
  m = split.read_manifest(path)
  assert m == written
  assert m['source'] == 'bach' and m['counts'] == dict(train=2, valid=0, test=1)
  assert m['pieces'][1] == dict(name='bach:b-2', group='b', split='test', n_notes=5,
                                file='bach/b-2.mxl', length=11)
  assert split.manifest_splits(m) == {'bach:a': 'train', 'bach:b-2': 'test', 'bach:c': 'train'}
  assert json.loads(path.read_text())['pieces'][0]['n_notes'] == 2


def test_manifest_errors(tmp_path):
  pieces = [_piece('x:a')]
  with pytest.raises(ValueError, match='1 pieces but 2 splits'):
    split.write_manifest(tmp_path / 'm.json', pieces, ['train', 'test'])
  with pytest.raises(ValueError, match="unknown split names \\['dev'\\]"):
    split.write_manifest(tmp_path / 'm.json', pieces, ['dev'])
  (tmp_path / 'bad.json').write_text('{"not": "a manifest"}')
  with pytest.raises(ValueError, match='bad.json is not a format-1 split manifest'):
    split.read_manifest(tmp_path / 'bad.json')
  with pytest.raises(ValueError, match='cannot read split manifest .*missing.json'):
    split.read_manifest(tmp_path / 'missing.json')
