"""Deterministic train / valid / test splits by hashing, and the manifest that records them.

A piece's split depends only on its own ``"<dataset>:<group>"`` string: sha256 of it, read as a
number ``u`` in [0, 1), sends ``u < test_fraction`` to test, the next ``valid_fraction`` to valid,
the rest to train. Adding, removing or reordering other files never moves a piece, and variants of
one piece (one group) always land together.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Sequence

from dsjax.data.notes import Piece

SPLITS = ('train', 'valid', 'test')
MANIFEST_FORMAT = 1


def _check_fractions(valid_fraction: float, test_fraction: float) -> None:
  if not (0 <= valid_fraction <= 1 and 0 <= test_fraction <= 1
          and valid_fraction + test_fraction <= 1):
    raise ValueError(f'split fractions must be in [0, 1] with a sum <= 1, got '
                     f'valid_fraction={valid_fraction}, test_fraction={test_fraction}')


def split_key(dataset: str, group: str) -> str:
  return f'{dataset}:{group}'


def hash_fraction(key: str) -> float:
  """sha256 of ``key`` as a number in [0, 1) (its first 8 bytes, big-endian, over 2**64)."""
  digest = hashlib.sha256(key.encode('utf-8')).digest()
  return int.from_bytes(digest[:8], 'big') / 2.0**64


def assign_split(dataset: str, group: str, valid_fraction: float = 0.1,
                 test_fraction: float = 0.1) -> str:
  """'test' for the lowest ``test_fraction`` of hashes, 'valid' for the next, else 'train'."""
  _check_fractions(valid_fraction, test_fraction)
  u = hash_fraction(split_key(dataset, group))
  if u < test_fraction:
    return 'test'
  if u < test_fraction + valid_fraction:
    return 'valid'
  return 'train'


def piece_dataset(piece: Piece) -> str:
  """The ``<dataset>`` prefix of a piece name ``"<dataset>:<name>"`` ('' if there is none)."""
  return piece.name.split(':', 1)[0] if ':' in piece.name else ''


def assign_splits(pieces: Sequence[Piece], valid_fraction: float = 0.1,
                  test_fraction: float = 0.1) -> list[str]:
  """:func:`assign_split` of every piece, from its name's dataset prefix and its group."""
  return [assign_split(piece_dataset(p), p.group, valid_fraction, test_fraction) for p in pieces]


def write_manifest(path: str | os.PathLike, pieces: Sequence[Piece], splits: Sequence[str],
                   files: Sequence[str] | None = None, *,
                   columns: dict[str, Sequence] | None = None, **meta) -> dict:
  """Writes a JSON manifest: ``meta`` (e.g. source, fractions) and one record per piece with
  ``name, group, split, n_notes, file`` plus any per-piece ``columns`` (e.g. encoded lengths).
  Returns what it wrote."""
  columns = dict(columns or {})
  if files is not None:
    columns = dict(file=files, **columns)
  for col, values in [('splits', splits)] + list(columns.items()):
    if len(values) != len(pieces):
      raise ValueError(f'{len(pieces)} pieces but {len(values)} {col}')
  bad = sorted(set(splits) - set(SPLITS))
  if bad:
    raise ValueError(f'unknown split names {bad}; expected {SPLITS}')
  records = []
  for i, (p, s) in enumerate(zip(pieces, splits)):
    record = dict(name=p.name, group=p.group, split=s, n_notes=int(len(p.notes)))
    record.update({col: _json_scalar(values[i]) for col, values in columns.items()})
    records.append(record)
  manifest = dict(format=MANIFEST_FORMAT, **meta,
                  counts={s: sum(r['split'] == s for r in records) for s in SPLITS},
                  pieces=records)
  tmp = f'{os.fspath(path)}.tmp'
  with open(tmp, 'w') as f:
    json.dump(manifest, f, indent=1)
  os.replace(tmp, path)
  return manifest


def _json_scalar(x):
  return x.item() if hasattr(x, 'item') else x


def read_manifest(path: str | os.PathLike) -> dict:
  """Reads a manifest written by :func:`write_manifest` (``manifest['pieces']`` is the list)."""
  try:
    with open(path) as f:
      manifest = json.load(f)
  except (OSError, json.JSONDecodeError) as e:
    raise ValueError(f'cannot read split manifest {os.fspath(path)}: {e}') from e
  if manifest.get('format') != MANIFEST_FORMAT or 'pieces' not in manifest:
    raise ValueError(f'{os.fspath(path)} is not a format-{MANIFEST_FORMAT} split manifest')
  return manifest


def manifest_splits(manifest: dict) -> dict[str, str]:
  """``{piece name: split}`` from a manifest."""
  return {r['name']: r['split'] for r in manifest['pieces']}
