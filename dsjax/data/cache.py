"""Preprocessing cache: corpora parsed once into notes, notes encoded once per encoding.

Two levels, all compact ``.npz`` arrays (never pickle), each with a ``key`` JSON beside it:

* ``<root>/<dataset>-<id>/notes.npz`` + ``notes.json``: the note cache of one source
  (:func:`dsjax.data.notes.notes_to_arrays` plus each piece's file and fixed split). Its key is
  the source's options, a format version, the music21 version for the music21 corpus, for a
  folder every file's relative path, size and mtime (so an added, removed or edited file rebuilds
  it), and for a benchmark file its size and mtime.
* ``<root>/<dataset>-<id>/<encoding key>-<id>/{train,valid,test}.npz`` + ``manifest.json`` +
  ``key.json``: the encoded splits as :class:`SequenceSet` files, keyed by the note cache's key,
  the encoding's ``cache_key()``, the split fractions and key normalisation. A plain piano roll
  of a benchmark of rolls (bundled or a ``.npz`` / ``.mat`` file) is its rolls as stored, frame
  for frame; the benchmark's frame length must equal the roll's step.

A level whose stored key differs from the current one is rebuilt (with a progress bar); otherwise
it is read back as it is. The root is ``cache_dir``, else ``$DSJAX_CACHE_DIR``, else
``~/.cache/dsjax``. :func:`load_dataset` is the one call a trainer needs.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import fcntl
import hashlib
import json
import logging
import math
import os
import pathlib
import re
import shutil
from typing import Any, Sequence

import numpy as np
import tqdm

from dsjax.data import corpora, parallel
from dsjax.data import split as split_lib
from dsjax.data.encodings import Encoding, PianorollEncoding, get_encoding
from dsjax.data.notes import Piece, SequenceSet, arrays_to_notes, notes_to_arrays
from dsjax.data.pianoroll import KEYS_88_LOWEST, RollConfig

FORMAT_VERSION = 1
SPLITS = split_lib.SPLITS
# How many times each level was (re)built in this process: {'notes': n, 'encoded': m}.
BUILD_COUNTS: collections.Counter = collections.Counter()

_ALL_SOURCE_OPTIONS = frozenset(
    f.name for cls in corpora.SOURCE_CLASSES for f in dataclasses.fields(cls)) - {'root', 'path'}


def cache_root(cache_dir: str | os.PathLike | None = None) -> pathlib.Path:
  """``cache_dir``, else ``$DSJAX_CACHE_DIR``, else ``~/.cache/dsjax``."""
  if cache_dir is None:
    cache_dir = os.environ.get('DSJAX_CACHE_DIR') or os.path.join('~', '.cache', 'dsjax')
  return pathlib.Path(cache_dir).expanduser()


def _digest(obj: Any) -> str:
  return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def _read_json(path: pathlib.Path) -> dict | None:
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, json.JSONDecodeError):
    return None


def _write_json(path: pathlib.Path, obj: Any) -> None:
  tmp = path.with_name(path.name + '.tmp')
  with open(tmp, 'w') as f:
    json.dump(obj, f, indent=1)
  os.replace(tmp, path)


def _save_npz(path: pathlib.Path, **arrays) -> None:
  tmp = path.with_name(path.stem + '.tmp.npz')
  np.savez(tmp, **arrays)
  os.replace(tmp, path)


@contextlib.contextmanager
def _locked(directory: pathlib.Path):
  """An exclusive lock on a cache directory, so concurrent builders build it once."""
  directory.mkdir(parents=True, exist_ok=True)
  with open(directory / 'build.lock', 'w') as f:
    fcntl.flock(f, fcntl.LOCK_EX)
    try:
      yield
    finally:
      fcntl.flock(f, fcntl.LOCK_UN)


def source_dir(source: corpora.Source, cache_dir=None) -> pathlib.Path:
  """Directory of a source's caches: ``<root>/<dataset>-<12 hex of its identity>``."""
  safe = re.sub(r'[^A-Za-z0-9_.-]+', '_', source.dataset) or 'source'
  return cache_root(cache_dir) / f'{safe}-{_digest(source.identity())[:12]}'


# ---------------------------------------------------------------------------------------------
# Level 1: notes.


@dataclasses.dataclass
class NoteCache:
  """A source's pieces as cached.

  Attributes:
    path: the ``notes.npz`` file.
    pieces: every kept piece.
    files: where each piece came from (relative to the source root).
    splits: fixed split per piece (bundled benchmarks) or None (assigned by hashing).
    report: files kept and skipped when the cache was built.
    key: the cache key.
    built: True if this call (re)built the cache.
  """
  path: pathlib.Path
  pieces: list[Piece]
  files: list[str]
  splits: list[str] | None
  report: corpora.LoadReport
  key: dict
  built: bool


def _notes_key(source: corpora.Source) -> dict:
  return dict(source.key(), cache_format=FORMAT_VERSION)


def _read_note_cache(d: pathlib.Path, key: dict, meta: dict) -> NoteCache:
  with np.load(d / 'notes.npz', allow_pickle=False) as z:
    arrays = {k: z[k] for k in z.files}
  splits = [str(s) for s in arrays['splits']]
  return NoteCache(d / 'notes.npz', arrays_to_notes(arrays), [str(f) for f in arrays['files']],
                   splits if all(splits) else None,
                   corpora.LoadReport.from_json(meta['report']), key, built=False)


def load_notes(source: str | os.PathLike | corpora.Source, cache_dir=None, *,
               workers: int | None = None, progress: bool = True, rebuild: bool = False,
               **source_options) -> NoteCache:
  """The note cache of a source: read back if its key matches, else (re)built and written."""
  parallel.check_not_bootstrapping()
  source = corpora.get_source(source, **source_options)
  d = source_dir(source, cache_dir)
  key = _notes_key(source)
  meta = _read_json(d / 'notes.json')
  if not rebuild and meta is not None and meta.get('key') == key:
    return _read_note_cache(d, key, meta)
  with _locked(d):
    meta = _read_json(d / 'notes.json')
    if not rebuild and meta is not None and meta.get('key') == key:  # Built meanwhile.
      return _read_note_cache(d, key, meta)
    (d / 'notes.json').unlink(missing_ok=True)
    loaded = source.load(workers=workers, progress=progress)
    arrays = notes_to_arrays(loaded.pieces)
    n = len(loaded.pieces)
    arrays['files'] = np.array(loaded.files, np.str_).reshape(n)
    arrays['splits'] = np.array(loaded.splits or [''] * n, np.str_).reshape(n)
    _save_npz(d / 'notes.npz', **arrays)
    _write_json(d / 'notes.json', dict(
        key=key, source=source.describe(), num_pieces=n, num_notes=int(len(arrays['notes'])),
        report=loaded.report.to_json()))
    BUILD_COUNTS['notes'] += 1
    if loaded.report.skipped:
      logging.warning('%s', loaded.report.summary(max_skipped=20))
  return NoteCache(d / 'notes.npz', loaded.pieces, loaded.files, loaded.splits, loaded.report,
                   key, built=True)


# ---------------------------------------------------------------------------------------------
# Level 2: encoded splits.


@dataclasses.dataclass
class Dataset:
  """Encoded splits of one source.

  Attributes:
    path: the encoded cache directory.
    encoding: the encoding used.
    splits: ``{split: SequenceSet}`` for the splits asked for.
    manifest: the split manifest (``manifest['pieces']``: name, group, split, n_notes, file,
      length per piece; ``manifest['skipped']``: pieces dropped at encoding, with reasons).
    report: files kept and skipped when the notes were loaded.
    built: True if this call (re)built the encoded cache.
  """
  path: pathlib.Path
  encoding: Encoding
  splits: dict[str, SequenceSet]
  manifest: dict
  report: corpora.LoadReport
  built: bool

  def summary(self) -> str:
    """Files kept and skipped (with reasons), notes, items, and pieces / items per split."""
    m = self.manifest
    unit = {'events': 'events', 'note_duration': 'tokens'}.get(self.encoding.name, 'frames')
    records = m['pieces']
    lines = [self.report.summary(),
             f'encoding {self.encoding.cache_key()} ({self.encoding.name}): '
             f'{len(records)} pieces, {sum(r["n_notes"] for r in records)} notes, '
             f'{sum(r["length"] for r in records)} {unit}']
    for name, reason in m.get('skipped', []):
      lines.append(f'  not encoded {name}: {reason}')
    for s in SPLITS:
      rs = [r for r in records if r['split'] == s]
      lines.append(f'  {s:5s}: {len(rs):6d} pieces {sum(r["length"] for r in rs):10d} {unit}')
    lines.append(f'cache: {self.path}')
    return '\n'.join(lines)


def _encoded_key(notes_key: dict, encoding: Encoding, fixed_splits: bool, valid_fraction: float,
                 test_fraction: float, transpose_to_c: bool, stored_rolls: bool = False) -> dict:
  key = dict(
      notes=_digest(notes_key), encoding=encoding.name, encoding_key=encoding.cache_key(),
      valid_fraction=None if fixed_splits else float(valid_fraction),
      test_fraction=None if fixed_splits else float(test_fraction),
      transpose_to_c=bool(transpose_to_c), format=FORMAT_VERSION)
  if stored_rolls:
    key['rolls'] = 'stored'
  return key


def _frame_grid(encoding: Encoding) -> tuple[str, float] | None:
  """``(grid, step)`` of an encoding with one frame per grid step (piano rolls, aligned steps,
  voice rolls), else None."""
  cfg = getattr(encoding, 'cfg', None)
  return (cfg.grid, float(cfg.step)) if isinstance(cfg, RollConfig) else None


def match_frame_rate(source: corpora.Source, encoding: Encoding) -> corpora.Source:
  """A benchmark of rolls with its frame length settled against ``encoding``.

  A frame encoding must step exactly one stored frame per frame: a registered frame length
  (``frame_beats`` quarter notes at ``qpm``) other than the encoding's ``step`` is refused rather
  than resampled; a file without a registration takes the step. Other encodings need a
  registration. Sources that are not benchmark rolls are returned as they are.
  """
  if not isinstance(source, corpora.RollSource):
    return source
  beats = source.registered_frame_beats()
  grid = _frame_grid(encoding)
  if grid is None:
    if beats is None:
      raise ValueError(f'{source.describe()}: encoding {encoding.name!r} needs the length of a '
                       f'frame in quarter notes; set data.frame_beats (source option frame_beats)')
    return source
  unit, step = grid
  units_per_beat = 1.0 if unit == 'beats' else 60.0 / float(source.qpm)
  if beats is None:
    return source.with_frame_beats(step / units_per_beat)
  frame = beats * units_per_beat
  if not math.isclose(frame, step, rel_tol=1e-9):
    raise ValueError(
        f'{source.describe()}: its frames are {beats:g} quarter notes (frame_beats) but the roll '
        f'step is {step:g} {unit}, so every frame would be resampled; set data.roll.step={frame:g} '
        f'(encoding option step={frame:g}), or data.frame_beats if its frames are another length')
  return source


def _uses_stored_rolls(source: corpora.Source, encoding: Encoding, transpose_to_c: bool) -> bool:
  """A plain piano roll of a benchmark is its stored rolls (the grid matched by
  :func:`match_frame_rate`), not a round trip through notes, which would drop trailing silent
  frames and all-silent sequences."""
  return (isinstance(source, corpora.RollSource) and isinstance(encoding, PianorollEncoding)
          and encoding.cfg.planes == ('sounding',) and not transpose_to_c)


def _stored_rolls(source: corpora.RollSource, keys: int) -> dict[str, np.ndarray]:
  """``{piece name: uint8 [T, keys]}`` of every split as stored (88 keys from MIDI 21; 128 keys:
  MIDI 0..127)."""
  out = {}
  for s in SPLITS:
    rolls = source.split_rolls(s)
    for i, name in enumerate(rolls.names):
      roll = rolls[i]
      if keys == 128:
        roll = np.pad(roll, ((0, 0), (KEYS_88_LOWEST, 128 - KEYS_88_LOWEST - roll.shape[1])))
      out[str(name)] = roll
  return out


def _encoded_dir(sdir: pathlib.Path, key: dict) -> pathlib.Path:
  ident = {k: v for k, v in key.items() if k != 'notes'}
  safe = re.sub(r'[^A-Za-z0-9_.-]+', '_', key['encoding_key'])
  return sdir / f'{safe}-{_digest(ident)[:8]}'


def _read_encoded(d: pathlib.Path, encoding: Encoding, splits: Sequence[str],
                  report: corpora.LoadReport) -> Dataset:
  manifest = split_lib.read_manifest(d / 'manifest.json')
  sets = {s: SequenceSet.load(str(d / f'{s}.npz')) for s in splits}
  return Dataset(d, encoding, sets, manifest, report, built=False)


def _encode_all(pieces: Sequence[Piece], encoding: Encoding, transpose_to_c: bool,
                progress: bool) -> tuple[list[np.ndarray | None], list[tuple[str, str]]]:
  """Encodes every piece; a piece that fails or encodes to nothing is None plus a reason."""
  if transpose_to_c:
    from dsjax.data import keys  # pylint: disable=g-import-not-at-top
  arrays, skipped = [], []
  for piece in tqdm.tqdm(pieces, desc=f'encoding {encoding.name}', unit='piece',
                         disable=not progress, dynamic_ncols=True):
    try:
      if transpose_to_c:
        piece, _ = keys.transpose_to_c(piece)
      a = encoding.encode(piece)
    except Exception as e:  # pylint: disable=broad-except
      arrays.append(None)
      skipped.append((piece.name, f'encoding failed ({type(e).__name__}: {e})'))
      continue
    if len(a) == 0:
      arrays.append(None)
      skipped.append((piece.name, 'nothing left after encoding'))
    else:
      arrays.append(a)
  return arrays, skipped


def prepare_dataset(source: str | os.PathLike | corpora.Source,
                    encoding: str | Encoding = 'events', cache_dir=None, *,
                    splits: Sequence[str] = SPLITS, valid_fraction: float = 0.1,
                    test_fraction: float = 0.1, transpose_to_c: bool = False,
                    workers: int | None = None, progress: bool = True, rebuild: bool = False,
                    **options) -> Dataset:
  """Builds (if needed) and loads the encoded splits of a source.

  Args:
    source: a source name, a MIDI folder, a benchmark file (``.npz`` / ``.mat``), or a
      :class:`corpora.Source`.
    encoding: an encoding name (see :mod:`dsjax.data.encodings`) or object. On benchmark rolls a
      frame encoding must have the benchmark's frame length (:func:`match_frame_rate`), and a
      plain piano roll is the rolls as stored.
    cache_dir: cache root (default ``$DSJAX_CACHE_DIR`` or ``~/.cache/dsjax``).
    splits: which splits to load into ``Dataset.splits``.
    valid_fraction, test_fraction: hashed split fractions (ignored by benchmark rolls, bundled
      or a file, which keep their own splits).
    transpose_to_c: move every piece to C major / A minor (:func:`keys.transpose_to_c`) first.
    workers: processes for parsing (default: all cores).
    progress: show progress bars while building.
    rebuild: rebuild both levels even if their keys match.
    **options: source options (:func:`corpora.get_source`) and encoding options
      (:func:`encodings.get_encoding`).
  """
  parallel.check_not_bootstrapping()
  for s in splits:
    if s not in SPLITS:
      raise ValueError(f'unknown split {s!r}; choose from {SPLITS}')
  source_opts = {k: v for k, v in options.items() if k in _ALL_SOURCE_OPTIONS}
  if not isinstance(source, corpora.Source):  # An option left at None is a no-op for any source.
    allowed = corpora.source_option_names(source)
    source_opts = {k: v for k, v in source_opts.items() if k in allowed or v is not None}
  encoding_opts = {k: v for k, v in options.items() if k not in _ALL_SOURCE_OPTIONS}
  if isinstance(source, corpora.Source):
    allowed = ()
  else:
    allowed = corpora.source_option_names(source)
  wrong = sorted(set(source_opts) - set(allowed))
  if wrong:
    raise TypeError(f'options {wrong} do not apply to source {source!r} '
                    f'(it accepts {list(allowed)})')
  source = corpora.get_source(source, **source_opts)
  encoding = get_encoding(encoding, **encoding_opts)
  split_lib._check_fractions(valid_fraction, test_fraction)  # pylint: disable=protected-access
  source = match_frame_rate(source, encoding)
  stored = _uses_stored_rolls(source, encoding, transpose_to_c)

  sdir = source_dir(source, cache_dir)
  notes_key = _notes_key(source)
  fixed = isinstance(source, corpora.RollSource)
  key = _encoded_key(notes_key, encoding, fixed, valid_fraction, test_fraction, transpose_to_c,
                     stored)
  d = _encoded_dir(sdir, key)

  def cached_report():
    meta = _read_json(sdir / 'notes.json')
    return corpora.LoadReport.from_json(meta['report']) if meta else corpora.LoadReport('?')

  if not rebuild and _read_json(d / 'key.json') == key:
    return _read_encoded(d, encoding, splits, cached_report())
  with _locked(d):
    if not rebuild and _read_json(d / 'key.json') == key:  # Built meanwhile.
      return _read_encoded(d, encoding, splits, cached_report())
    (d / 'key.json').unlink(missing_ok=True)
    nc = load_notes(source, cache_dir, workers=workers, progress=progress, rebuild=rebuild)
    if nc.splits is not None:
      assigned = nc.splits
    else:
      assigned = split_lib.assign_splits(nc.pieces, valid_fraction, test_fraction)
    if stored:
      rolls = _stored_rolls(source, encoding.cfg.keys)
      arrays, skipped = [rolls[p.name] for p in nc.pieces], []
    else:
      arrays, skipped = _encode_all(nc.pieces, encoding, transpose_to_c, progress)
    keep = [i for i, a in enumerate(arrays) if a is not None]
    sets = {}
    for s in SPLITS:
      idx = [i for i in keep if assigned[i] == s]
      sets[s] = SequenceSet.from_list([arrays[i] for i in idx], [nc.pieces[i].name for i in idx],
                                      dtype=encoding.dtype, feature_shape=encoding.feature_shape)
      tmp = d / f'{s}.tmp.npz'
      sets[s].save(str(tmp))
      os.replace(tmp, d / f'{s}.npz')
    manifest = split_lib.write_manifest(
        d / 'manifest.json', [nc.pieces[i] for i in keep], [assigned[i] for i in keep],
        [nc.files[i] for i in keep], columns=dict(length=[len(arrays[i]) for i in keep]),
        source=source.describe(), source_identity=source.identity(), encoding=encoding.name,
        encoding_key=encoding.cache_key(), encoding_options=encoding.options(),
        vocab_size=encoding.vocab_size, feature_shape=list(encoding.feature_shape),
        dtype=encoding.dtype.name, valid_fraction=key['valid_fraction'],
        test_fraction=key['test_fraction'], transpose_to_c=bool(transpose_to_c),
        stored_rolls=bool(stored), skipped=[list(s) for s in skipped])
    _write_json(d / 'key.json', key)
    BUILD_COUNTS['encoded'] += 1
    if skipped:
      logging.warning('%d pieces not encoded, e.g. %s: %s', len(skipped), *skipped[0])
  return Dataset(d, encoding, {s: sets[s] for s in splits}, manifest, nc.report, built=True)


def load_dataset(source: str | os.PathLike | corpora.Source, encoding: str | Encoding = 'events',
                 split: str = 'train', cache_dir=None, **opts) -> SequenceSet:
  """One split of an encoded corpus (built into the cache on first use).

  ``opts`` are those of :func:`prepare_dataset` (source options, encoding options,
  ``valid_fraction``, ``test_fraction``, ``transpose_to_c``, ``workers``, ``progress``).
  """
  return prepare_dataset(source, encoding, cache_dir, splits=(split,), **opts).splits[split]


def clear_cache(source: str | os.PathLike | corpora.Source, cache_dir=None,
                **source_options) -> None:
  """Deletes every cache level of a source."""
  d = source_dir(corpora.get_source(source, **source_options), cache_dir)
  shutil.rmtree(d, ignore_errors=True)
