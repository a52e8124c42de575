"""Offline corpora: benchmark rolls, the music21 corpus, and any folder of MIDI files.

Four kinds of source, each giving :class:`Piece` objects named ``"<dataset>:<name>"``:

* **Bundled benchmarks** (``'jsb_chorales'``, ``'nottingham'``): the Boulanger-Lewandowski et al.
  (ICML 2012) piano rolls shipped in ``dsjax/data/bundled/``, with their original splits.
  :func:`load_polyphonic` gives the rolls as they are (``uint8 [T, 88]``, what the published NLLs
  are measured on); :func:`polyphonic_pieces` turns them into notes so event models can use them.
* **A benchmark file** of the user's (MuseData, Piano-midi.de, ...): ``.npz`` in the bundled
  layout or ``.mat`` with ``traindata`` / ``validdata`` / ``testdata``
  (:func:`read_roll_file`, which checks shapes and values), with its own splits.
* **music21 corpus** (``'bach'``, ``'essen'``, ``'ryans'``, ``'oneills'``): the Bach chorales
  (``bwv*`` files; every voice a separate ``part``) and three folk-melody collections in ABC. Notes
  are read straight from the score (``part.stripTies().flatten().notes``: offsets and durations in
  quarter notes, chords expanded) at a fixed tempo, after ``expandRepeats()`` where it works
  (:mod:`dsjax.data.repeats`).
* **A folder** of ``*.mid`` / ``*.midi`` files (recursive, any case), read with
  :func:`dsjax.data.midi_io.load_midi`.

Files are parsed in parallel over the cores with a progress bar
(:func:`dsjax.data.parallel.parallel_map`); a file that fails is skipped and listed with its reason
in a :class:`LoadReport`, every good file is kept. :func:`get_source` maps a name, a directory or
a benchmark file to a :class:`Source`; :mod:`dsjax.data.cache` caches what a source loads.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import importlib.resources
import os
import pathlib
import re
from typing import Sequence

import numpy as np

from dsjax.data.notes import NOTE_DTYPE, Piece, SequenceSet, make_notes
from dsjax.data.parallel import parallel_map
from dsjax.data.repeats import expand_score_repeats
from dsjax.data.split import SPLITS

POLYPHONIC = ('jsb_chorales', 'nottingham')
# Quarter-note beats per frame of the bundled rolls (inferred from held-key run lengths; README).
POLYPHONIC_FRAME_BEATS = {'jsb_chorales': 1.0, 'nottingham': 0.5}
# Short source name -> music21 corpus directory.
MUSIC21_COLLECTIONS = {
    'bach': 'bach',
    'essen': 'essenFolksong',
    'ryans': 'ryansMammoth',
    'oneills': 'oneills1850',
}
MIDI_SUFFIXES = ('.mid', '.midi')
DEFAULT_QPM = 120.0
DEFAULT_VELOCITY = 80


# ---------------------------------------------------------------------------------------------
# Reports.


@dataclasses.dataclass
class LoadReport:
  """What a source load kept and skipped.

  Attributes:
    source: the source's description (name or folder).
    kept: names of the pieces kept, in order.
    skipped: ``(path, reason)`` for every file or tune that could not be used.
  """
  source: str
  kept: list[str] = dataclasses.field(default_factory=list)
  skipped: list[tuple[str, str]] = dataclasses.field(default_factory=list)

  def summary(self, max_skipped: int | None = None) -> str:
    """One line of counts, then one line per skipped file: ``  path: reason``."""
    lines = [f'{self.source}: kept {len(self.kept)}, skipped {len(self.skipped)}']
    shown = self.skipped if max_skipped is None else self.skipped[:max_skipped]
    lines += [f'  skipped {path}: {reason}' for path, reason in shown]
    if len(shown) < len(self.skipped):
      lines.append(f'  ... and {len(self.skipped) - len(shown)} more')
    return '\n'.join(lines)

  def __str__(self) -> str:
    return self.summary()

  def to_json(self) -> dict:
    return dict(source=self.source, kept=list(self.kept),
                skipped=[list(s) for s in self.skipped])

  @classmethod
  def from_json(cls, d: dict) -> 'LoadReport':
    return cls(d['source'], list(d['kept']), [(str(p), str(r)) for p, r in d['skipped']])


def _error_reason(e: BaseException) -> str:
  reason = getattr(e, 'reason', None)
  if isinstance(reason, str) and reason:
    return reason
  text = str(e).strip().splitlines()
  return f'{type(e).__name__}: {text[0]}' if text else type(e).__name__


def _collect(results, labels: Sequence[str], report: LoadReport) -> list[Piece]:
  """Splits ``(piece | None, reason | None)`` results into kept pieces and report entries."""
  pieces = []
  for (piece, reason), label in zip(results, labels):
    if piece is None:
      report.skipped.append((label, reason))
    else:
      pieces.append(piece)
      report.kept.append(piece.name)
  return pieces


# ---------------------------------------------------------------------------------------------
# Benchmark rolls: bundled (JSB Chorales, Nottingham) and files of the user's own.


def bundled_path(name: str) -> pathlib.Path:
  """Path of a bundled benchmark file, found next to this module (no install needed)."""
  if name not in POLYPHONIC:
    raise ValueError(f'unknown bundled benchmark {name!r}; choose one of {POLYPHONIC}')
  path = pathlib.Path(str(importlib.resources.files('dsjax.data').joinpath('bundled',
                                                                            f'{name}.npz')))
  if not path.is_file():
    raise FileNotFoundError(f'bundled benchmark {name!r} is missing: {path}')
  return path


def _check_split(split: str) -> None:
  if split not in SPLITS:
    raise ValueError(f'unknown split {split!r}; choose one of {SPLITS}')


def load_polyphonic(name: str = 'jsb_chorales', split: str = 'train') -> SequenceSet:
  """The original rolls of one split: a :class:`SequenceSet` of ``uint8 [T, 88]`` (key k = MIDI
  21 + k), names ``"<name>:<split>/<index>"``."""
  _check_split(split)
  return read_roll_file(bundled_path(name), name, splits=(split,))[split]


ROLL_FILE_SUFFIXES = ('.npz', '.mat')
MAT_SPLIT_KEYS = {'train': 'traindata', 'valid': 'validdata', 'test': 'testdata'}
ROLL_KEYS = 88  # Columns of a benchmark roll: MIDI 21 (A0) .. 108 (C8).


def _bad_file(path, what: str) -> ValueError:
  text = ' '.join(str(what).split())  # One line.
  return ValueError(f'benchmark file {os.fspath(path)}: {text}')


def _checked_roll(path, label: str, roll) -> np.ndarray:
  """``roll`` as ``uint8 [T, 88]``, or a ValueError naming the file, the sequence and the fault."""
  if hasattr(roll, 'toarray'):  # A sparse matrix (MATLAB's sparse cells).
    roll = roll.toarray()
  roll = np.asarray(roll)
  if roll.dtype == object or roll.ndim != 2 or roll.shape[1] != ROLL_KEYS:
    shape = 'an object array' if roll.dtype == object else f'shape {list(roll.shape)}'
    raise _bad_file(path, f'{label} has {shape}; each sequence must be [frames, {ROLL_KEYS}] '
                          '(key k = MIDI 21 + k)')
  if roll.dtype != np.bool_ and not (np.issubdtype(roll.dtype, np.integer)
                                     or np.issubdtype(roll.dtype, np.floating)):
    raise _bad_file(path, f'{label} has dtype {roll.dtype}; rolls must hold 0 and 1')
  bad = ~((roll == 0) | (roll == 1))
  if bad.any():
    t, k = (int(i[0]) for i in np.nonzero(bad))
    raise _bad_file(path, f'{label} is not binary: frame {t}, key {k} holds '
                          f'{roll[t, k].item()!r} (rolls must hold 0 and 1)')
  return roll.astype(np.uint8)


def _read_npz_rolls(path: pathlib.Path, splits: Sequence[str]) -> dict[str, list[np.ndarray]]:
  """``{split}_rolls`` ``[total, 88]`` cut by ``{split}_lengths`` (the bundled layout)."""
  out = {}
  with np.load(path, allow_pickle=False) as z:
    if 'lowest_pitch' in z.files and int(np.asarray(z['lowest_pitch'])) != 21:
      raise _bad_file(path, f'lowest_pitch is {int(np.asarray(z["lowest_pitch"]))}; the '
                            f'{ROLL_KEYS}-key layout starts at MIDI 21 (A0)')
    for split in splits:
      keys = (f'{split}_rolls', f'{split}_lengths')
      missing = [k for k in keys if k not in z.files]
      if missing:
        raise _bad_file(path, f'no {" or ".join(missing)} (split {split!r}); an .npz benchmark '
                              f'holds train_rolls, train_lengths, valid_rolls, valid_lengths, '
                              f'test_rolls, test_lengths')
      rolls = _checked_roll(path, keys[0], z[keys[0]])
      lengths = np.asarray(z[keys[1]])
      if (lengths.ndim != 1 or not np.issubdtype(lengths.dtype, np.integer)
          or (lengths < 0).any() or int(lengths.sum()) != len(rolls)):
        raise _bad_file(path, f'{keys[1]} must be non-negative integers [num_sequences] summing to '
                              f'the {len(rolls)} frames of {keys[0]}')
      out[split] = np.split(rolls, np.cumsum(lengths)[:-1]) if len(lengths) else []
  return out


def _read_mat_rolls(path: pathlib.Path, splits: Sequence[str]) -> dict[str, list[np.ndarray]]:
  """``traindata`` / ``validdata`` / ``testdata``: cell arrays of ``[T, 88]`` multi-hot frames."""
  import scipy.io  # pylint: disable=g-import-not-at-top
  names = [MAT_SPLIT_KEYS[s] for s in splits]
  mat = scipy.io.loadmat(str(path), variable_names=names)
  out = {}
  for split, key in zip(splits, names):
    if key not in mat:
      raise _bad_file(path, f'no {key} (split {split!r}); a .mat benchmark holds traindata, '
                            f'validdata and testdata')
    cells = mat[key]
    if cells.dtype == object:
      seqs = list(cells.ravel(order='F'))  # MATLAB's order of a cell array.
    elif cells.ndim == 3:  # Sequences of one length stored as one [N, T, 88] array.
      seqs = list(cells)
    else:
      raise _bad_file(path, f'{key} has shape {list(cells.shape)}; expected a cell array of '
                            f'[frames, {ROLL_KEYS}] sequences')
    out[split] = [_checked_roll(path, f'{key} sequence {i}', r) for i, r in enumerate(seqs)]
  return out


def read_roll_file(path: str | os.PathLike, dataset: str | None = None, *,
                   splits: Sequence[str] = SPLITS) -> dict[str, SequenceSet]:
  """The splits of a benchmark file as stored: ``{split: SequenceSet of uint8 [T, 88]}``, names
  ``"<dataset>:<split>/<index>"`` (``dataset``: the file's stem by default).

  ``.npz``: the bundled layout (``{split}_rolls``, ``{split}_lengths``, optional ``lowest_pitch``
  21; ``dsjax/data/bundled/``). ``.mat``: ``traindata``, ``validdata``, ``testdata``, each a cell
  array of ``[T, 88]`` multi-hot sequences (Boulanger-Lewandowski et al.'s files). Every value
  must be 0 or 1. A missing split, a wrong shape, another value or an unreadable file is a
  one-line ValueError naming the file.
  """
  path = pathlib.Path(path)
  for split in splits:
    _check_split(split)
  suffix = path.suffix.lower()
  if suffix not in ROLL_FILE_SUFFIXES:
    raise _bad_file(path, f'unknown format {path.suffix!r}; use .npz (the bundled layout) or .mat')
  reader = _read_npz_rolls if suffix == '.npz' else _read_mat_rolls
  try:
    seqs = reader(path, splits)
  except ValueError as e:
    if str(e).startswith('benchmark file '):
      raise
    raise _bad_file(path, f'unreadable ({type(e).__name__}: {e})') from e
  except Exception as e:  # pylint: disable=broad-except
    raise _bad_file(path, f'unreadable ({type(e).__name__}: {e})') from e
  dataset = dataset or path.stem
  return {s: SequenceSet.from_list(seqs[s], [f'{dataset}:{s}/{i:03d}' for i in range(len(seqs[s]))],
                                   dtype=np.uint8, feature_shape=(ROLL_KEYS,))
          for s in splits}


def roll_to_notes(roll: np.ndarray, frame_seconds: float, *, lowest_pitch: int = 21,
                  velocity: int = DEFAULT_VELOCITY) -> np.ndarray:
  """Binary roll ``[T, keys]`` -> ``NOTE_DTYPE[n]``: each run of held frames of a key is one note."""
  active = np.asarray(roll) > 0
  keys = active.shape[1]
  padded = np.zeros((keys, active.shape[0] + 2), np.int8)
  padded[:, 1:-1] = active.T
  d = np.diff(padded, axis=1)
  on_key, on_t = np.nonzero(d == 1)  # Sorted by key then time, so onsets and offsets pair up.
  _, off_t = np.nonzero(d == -1)
  return make_notes(on_key + lowest_pitch, on_t * frame_seconds, off_t * frame_seconds,
                    velocity=velocity)


def rolls_to_pieces(rolls: SequenceSet, frame_beats: float,
                    qpm: float = DEFAULT_QPM) -> list[Piece]:
  """Benchmark rolls (names ``"<dataset>:<split>/<index>"``) as pieces: a frame lasts
  ``frame_beats`` quarter notes at ``qpm``; groups ``"<split>/<index>"``. An all-silent roll is a
  piece without notes."""
  frame_seconds = float(frame_beats) * 60.0 / qpm
  out = []
  for i, seq_name in enumerate(rolls.names):
    group = str(seq_name).split(':', 1)[1]
    out.append(Piece(str(seq_name), roll_to_notes(rolls[i], frame_seconds),
                     np.zeros(1), np.full(1, float(qpm)), group=group))
  return out


def polyphonic_pieces(name: str = 'jsb_chorales', split: str = 'train', *,
                      frame_beats: float | None = None, qpm: float = DEFAULT_QPM) -> list[Piece]:
  """The bundled rolls of one split as pieces: a frame lasts ``frame_beats`` quarter notes
  (default: 1 for JSB, 0.5 for Nottingham) at ``qpm``; groups ``"<split>/<index>"``."""
  beats = POLYPHONIC_FRAME_BEATS[name] if frame_beats is None else float(frame_beats)
  return rolls_to_pieces(load_polyphonic(name, split), beats, qpm)


# ---------------------------------------------------------------------------------------------
# music21 corpus.


def score_to_piece(score, name: str, *, group: str | None = None, qpm: float = DEFAULT_QPM,
                   expand_repeats: bool = True,
                   default_velocity: int = DEFAULT_VELOCITY) -> Piece:
  """A music21 score -> :class:`Piece` at a constant ``qpm``; part ``i`` of the score is
  ``notes['part'] == i``. Grace notes (no duration), chord symbols and unpitched notes are left
  out; chords become one note per pitch; velocity is the score's or ``default_velocity``.
  ``expand_repeats``: see :func:`~dsjax.data.repeats.expand_score_repeats`."""
  from music21 import harmony, stream  # pylint: disable=g-import-not-at-top

  if isinstance(score, stream.Opus):
    score = score.scores[0]
  if expand_repeats:
    score = expand_score_repeats(score)
  parts = list(score.parts) or [score]
  seconds_per_beat = 60.0 / float(qpm)
  cols = {k: [] for k in ('pitch', 'start', 'end', 'velocity', 'program', 'part')}
  for part_index, part in enumerate(parts):
    instrument = part.getInstrument(returnDefault=False)
    program = getattr(instrument, 'midiProgram', None)
    program = int(program) if program is not None else 0
    for n in part.stripTies().flatten().notes:
      if isinstance(n, harmony.Harmony):
        continue
      length = float(n.quarterLength)
      if length <= 0:
        continue
      start = float(n.offset) * seconds_per_beat
      end = start + length * seconds_per_beat
      velocity = n.volume.velocity if n.volume is not None else None
      velocity = int(np.clip(velocity, 1, 127)) if velocity is not None else default_velocity
      for p in n.pitches:
        midi = int(round(p.ps))
        if 0 <= midi <= 127:
          for k, v in zip(cols, (midi, start, end, velocity, program, part_index)):
            cols[k].append(v)
  if cols['pitch']:
    notes = make_notes(cols['pitch'], np.array(cols['start']), np.array(cols['end']),
                       np.array(cols['velocity']), np.array(cols['program']), False,
                       np.array(cols['part']))
  else:
    notes = np.zeros(0, NOTE_DTYPE)
  return Piece(name, notes, np.zeros(1), np.full(1, float(qpm)), group=group)


def _parse_music21_item(item: dict) -> tuple[Piece | None, str | None]:
  """Worker: ``item`` holds a file path or ABC text, name, group, qpm, expand_repeats."""
  try:
    from music21 import converter  # pylint: disable=g-import-not-at-top
    if 'abc' in item:
      score = converter.parseData(item['abc'], format='abc')
    else:
      score = converter.parse(item['path'], forceSource=True, storePickle=False)
    piece = score_to_piece(score, item['name'], group=item['group'], qpm=item['qpm'],
                           expand_repeats=item['expand_repeats'])
  except Exception as e:  # pylint: disable=broad-except
    return None, _error_reason(e)
  if not len(piece.notes):
    return None, 'no notes'
  return piece, None


def music21_corpus_root() -> pathlib.Path:
  import music21  # pylint: disable=g-import-not-at-top
  return pathlib.Path(music21.__file__).parent / 'corpus'


def bach_chorale_files() -> list[tuple[str, pathlib.Path]]:
  """``(stem, path)`` of the music21 Bach chorales (``bwv*``), one per stem (MusicXML preferred
  over Humdrum when both exist), sorted by stem."""
  from music21 import corpus  # pylint: disable=g-import-not-at-top
  preference = {'.mxl': 0, '.xml': 1, '.musicxml': 1, '.krn': 2}
  best: dict[str, pathlib.Path] = {}
  for p in map(pathlib.Path, corpus.getComposer('bach')):
    stem, suffix = p.name[:-len(p.suffix)], p.suffix.lower()
    if not p.name.startswith('bwv') or suffix not in preference:
      continue
    if stem not in best or preference[suffix] < preference[best[stem].suffix.lower()]:
      best[stem] = p
  return sorted(best.items())


def chorale_group(stem: str) -> str:
  """Chorale number without its variant suffix: ``bwv248.23-2`` -> ``bwv248.23``."""
  return stem.split('-', 1)[0]


_ABC_TUNE_START = re.compile(r'(?m)^X:')
_ABC_FIELD = re.compile(r'(?m)^([A-Za-z]):[ \t]*(.*?)[ \t]*$')
_ESSEN_SIGNATURE = re.compile(r'^([A-Za-z]+\d+)[A-Za-z]*$')


def _read_text(path: pathlib.Path) -> str:
  data = path.read_bytes()
  try:
    return data.decode('utf-8')
  except UnicodeDecodeError:
    return data.decode('latin-1')


def abc_tunes(path: pathlib.Path) -> list[tuple[str, str, dict[str, str]]]:
  """Splits an ABC file into tunes: ``(x, text, fields)`` per ``X:`` block, where ``text`` carries
  the file header too and ``fields`` holds each header field's first value."""
  text = _read_text(pathlib.Path(path))
  chunks = _ABC_TUNE_START.split(text)
  header, tunes = chunks[0], chunks[1:]
  out, seen = [], {}
  for body in tunes:
    body = 'X:' + body
    fields: dict[str, str] = {}
    for key, value in _ABC_FIELD.findall(body.split('\nK:', 1)[0] + '\n'):
      fields.setdefault(key, value)
    x = fields.get('X', '') or str(len(out) + 1)
    seen[x] = seen.get(x, 0) + 1
    if seen[x] > 1:
      x = f'{x}.{seen[x]}'
    out.append((x, header + body, fields))
  return out


def music21_items(collection: str, *, max_pieces: int | None = None, qpm: float = DEFAULT_QPM,
                  expand_repeats: bool = True) -> list[dict]:
  """Work items (one per chorale or tune, in a fixed order) for :func:`_parse_music21_item`."""
  if collection not in MUSIC21_COLLECTIONS:
    raise ValueError(f'unknown music21 collection {collection!r}; '
                     f'choose one of {tuple(MUSIC21_COLLECTIONS)}')
  common = dict(qpm=float(qpm), expand_repeats=bool(expand_repeats))
  root = music21_corpus_root()
  items = []
  if collection == 'bach':
    for stem, path in bach_chorale_files():
      if max_pieces is not None and len(items) >= max_pieces:
        break
      items.append(dict(path=str(path), name=f'bach:{stem}', group=chorale_group(stem),
                        source=path.relative_to(root).as_posix(), **common))
    return items
  from music21 import corpus  # pylint: disable=g-import-not-at-top
  files = sorted(map(pathlib.Path, corpus.getComposer(MUSIC21_COLLECTIONS[collection])))
  for path in files:
    if path.suffix.lower() != '.abc':
      continue
    for x, text, fields in abc_tunes(path):
      if max_pieces is not None and len(items) >= max_pieces:
        return items
      stem = path.name[:-len(path.suffix)]
      name = f'{stem}/{x}'
      group = name
      signature = _ESSEN_SIGNATURE.match(fields.get('N', ''))
      if collection == 'essen' and signature:
        # Essen catalogue number without its variant letter (A0004A, A0004B -> A0004): variants
        # of one song share a split.
        group = signature.group(1)
      items.append(dict(abc=text, name=f'{collection}:{name}', group=group,
                        source=f'{path.relative_to(root).as_posix()}#X:{x}', **common))
  return items


# ---------------------------------------------------------------------------------------------
# A folder of MIDI files.


def midi_files(root: str | os.PathLike) -> list[pathlib.Path]:
  """Every ``*.mid`` / ``*.midi`` file under ``root`` (recursive, any case), sorted."""
  root = pathlib.Path(root)
  if not root.is_dir():
    raise NotADirectoryError(f'not a directory: {root}')
  return sorted(p for p in root.rglob('*')
                if p.suffix.lower() in MIDI_SUFFIXES and p.is_file())


def _load_midi_item(item: dict) -> tuple[Piece | None, str | None]:
  """Worker: loads one MIDI file; returns ``(piece, None)`` or ``(None, reason)``."""
  try:
    from dsjax.data import midi_io  # pylint: disable=g-import-not-at-top
    piece = midi_io.load_midi(item['path'], name=item['name'],
                              sustain_pedal=item['sustain_pedal'], drop_drums=item['drop_drums'])
  except Exception as e:  # pylint: disable=broad-except
    return None, _error_reason(e)
  programs = item.get('programs')
  if programs:
    notes = piece.notes
    piece = piece.with_notes(notes[notes['is_drum'] | np.isin(notes['program'], programs)])
    if not len(piece.notes):
      return None, f'no notes (after keeping programs {list(programs)})'
  if not len(piece.notes):
    return None, 'no notes'
  piece.group = item['group']
  return piece, None


# ---------------------------------------------------------------------------------------------
# Sources.


@dataclasses.dataclass
class Loaded:
  """What a source load returns.

  Attributes:
    pieces: the kept pieces, in a fixed order.
    files: for each piece, where it came from (relative to the source's root).
    splits: for each piece its fixed split ('train' | 'valid' | 'test'), or None when the split
      is to be assigned by hashing (:mod:`dsjax.data.split`).
    report: kept and skipped files.
  """
  pieces: list[Piece]
  files: list[str]
  splits: list[str] | None
  report: LoadReport


class Source:
  """A corpus: ``identity()`` names its cache, ``key()`` changes whenever its content may have."""
  dataset: str

  def identity(self) -> dict:
    raise NotImplementedError

  def key(self) -> dict:
    return dict(self.identity(), format=1)

  def load(self, *, workers: int | None = None, progress: bool = True) -> Loaded:
    raise NotImplementedError

  def describe(self) -> str:
    return self.dataset


class RollSource(Source):
  """A benchmark of piano rolls with its own train / valid / test splits (bundled, or a file of
  the user's). Its rolls are kept as stored (:meth:`split_rolls`; the cache encodes a plain roll
  of the same grid from them, not from the notes); :meth:`load` gives them as notes, a frame
  lasting ``frame_beats`` quarter notes at ``qpm``.

  Subclasses are frozen dataclasses with ``frame_beats``, ``qpm`` and ``max_pieces`` (the first N
  sequences of each split), and read a whole split in :meth:`read_split`.
  """
  frame_beats: float | None
  qpm: float
  max_pieces: int | None

  def registered_frame_beats(self) -> float | None:
    """Quarter notes per frame: ``frame_beats`` if given, else the benchmark's registration
    (None where it has none)."""
    return None if self.frame_beats is None else float(self.frame_beats)

  def with_frame_beats(self, frame_beats: float) -> 'RollSource':
    return dataclasses.replace(self, frame_beats=float(frame_beats))

  def read_split(self, split: str) -> SequenceSet:
    raise NotImplementedError

  def split_rolls(self, split: str) -> SequenceSet:
    """The rolls of ``split`` as stored (``uint8 [T, 88]``), the first ``max_pieces`` of them."""
    rolls = self.read_split(split)
    if self.max_pieces is not None and len(rolls) > self.max_pieces:
      rolls = rolls.subset(range(self.max_pieces))
    return rolls

  def file_name(self) -> str:
    raise NotImplementedError

  def load(self, *, workers: int | None = None, progress: bool = True) -> Loaded:
    del workers, progress  # Instant.
    beats = self.registered_frame_beats()
    if beats is None:
      raise ValueError(f'{self.describe()}: how many quarter notes a frame lasts is not known; '
                       f'give frame_beats (config key data.frame_beats)')
    pieces, splits = [], []
    for split in SPLITS:
      p = rolls_to_pieces(self.split_rolls(split), beats, self.qpm)
      pieces += p
      splits += [split] * len(p)
    report = LoadReport(self.describe(), [p.name for p in pieces], [])
    files = [f'{self.file_name()}#{p.group}' for p in pieces]
    return Loaded(pieces, files, splits, report)


@dataclasses.dataclass(frozen=True)
class PolyphonicSource(RollSource):
  """A bundled benchmark (original splits). See :func:`polyphonic_pieces`.

  Attributes:
    dataset: 'jsb_chorales' or 'nottingham'.
    frame_beats: quarter notes per frame (default: the registration, 1 for JSB, 0.5 for
      Nottingham).
    qpm: tempo the frames are read at.
    max_pieces: keep only the first N sequences of each split (for tests and quick runs).
  """
  dataset: str = 'jsb_chorales'
  frame_beats: float | None = None
  qpm: float = DEFAULT_QPM
  max_pieces: int | None = None

  def __post_init__(self):
    if self.dataset not in POLYPHONIC:
      raise ValueError(f'unknown bundled benchmark {self.dataset!r}; choose one of {POLYPHONIC}')

  def registered_frame_beats(self) -> float:
    beats = POLYPHONIC_FRAME_BEATS[self.dataset] if self.frame_beats is None else self.frame_beats
    return float(beats)

  def identity(self) -> dict:
    return dict(source=self.dataset, frame_beats=self.registered_frame_beats(),
                qpm=float(self.qpm), max_pieces=self.max_pieces)

  def key(self) -> dict:
    return dict(super().key(), file_size=bundled_path(self.dataset).stat().st_size)

  def read_split(self, split: str) -> SequenceSet:
    return load_polyphonic(self.dataset, split)

  def file_name(self) -> str:
    return f'{self.dataset}.npz'


@dataclasses.dataclass(frozen=True)
class RollFileSource(RollSource):
  """A benchmark file of the user's (MuseData, Piano-midi.de, ...): ``.npz`` in the bundled layout
  or ``.mat`` with ``traindata`` / ``validdata`` / ``testdata`` (:func:`read_roll_file`), with its
  own splits. Pieces are named ``"<dataset>:<split>/<index>"``.

  Attributes:
    path: the file.
    dataset: name used in piece names (default: the file's stem).
    frame_beats: quarter notes per frame. A file carries no registration: None takes the roll
      encoding's step (the cache does that); event encodings need it given.
    qpm: tempo the frames are read at.
    max_pieces: keep only the first N sequences of each split.
  """
  path: str = ''
  dataset: str = ''
  frame_beats: float | None = None
  qpm: float = DEFAULT_QPM
  max_pieces: int | None = None

  def __post_init__(self):
    path = pathlib.Path(self.path).expanduser().resolve()
    if not path.is_file():
      raise FileNotFoundError(f'benchmark file not found: {self.path}')
    if path.suffix.lower() not in ROLL_FILE_SUFFIXES:
      raise _bad_file(path, f'unknown format {path.suffix!r}; use .npz (the bundled layout) or '
                            f'.mat (traindata, validdata, testdata)')
    object.__setattr__(self, 'path', str(path))
    if not self.dataset:
      object.__setattr__(self, 'dataset', path.stem or 'rolls')

  def identity(self) -> dict:
    beats = self.registered_frame_beats()
    return dict(source='roll_file', path=self.path, dataset=self.dataset, frame_beats=beats,
                qpm=float(self.qpm), max_pieces=self.max_pieces)

  def key(self) -> dict:
    st = pathlib.Path(self.path).stat()
    return dict(super().key(), file_size=st.st_size, file_mtime_ns=st.st_mtime_ns)

  def read_split(self, split: str) -> SequenceSet:
    return read_roll_file(self.path, self.dataset, splits=(split,))[split]

  def file_name(self) -> str:
    return pathlib.Path(self.path).name

  def describe(self) -> str:
    return f'{self.dataset} ({self.path})'


@dataclasses.dataclass(frozen=True)
class Music21Source(Source):
  """A music21 corpus collection ('bach', 'essen', 'ryans', 'oneills').

  Attributes:
    dataset: the collection's short name.
    max_pieces: keep only the first N chorales / tunes (in file order) - for tests and quick runs.
    qpm: the fixed tempo notes are placed at.
    expand_repeats: play repeats out (``score.expandRepeats()``; the score as written if it fails).
  """
  dataset: str = 'bach'
  max_pieces: int | None = None
  qpm: float = DEFAULT_QPM
  expand_repeats: bool = True

  def __post_init__(self):
    if self.dataset not in MUSIC21_COLLECTIONS:
      raise ValueError(f'unknown music21 collection {self.dataset!r}; '
                       f'choose one of {tuple(MUSIC21_COLLECTIONS)}')

  def identity(self) -> dict:
    return dict(source=self.dataset, max_pieces=self.max_pieces, qpm=float(self.qpm),
                expand_repeats=bool(self.expand_repeats))

  def key(self) -> dict:
    return dict(super().key(), music21=importlib.metadata.version('music21'))

  def load(self, *, workers: int | None = None, progress: bool = True) -> Loaded:
    items = music21_items(self.dataset, max_pieces=self.max_pieces, qpm=self.qpm,
                          expand_repeats=self.expand_repeats)
    results = parallel_map(_parse_music21_item, items, workers=workers, progress=progress,
                           desc=f'parsing {self.dataset}',
                           unit='file' if self.dataset == 'bach' else 'tune')
    report = LoadReport(self.dataset)
    pieces = _collect(results, [it['source'] for it in items], report)
    by_name = {it['name']: it['source'] for it in items}
    return Loaded(pieces, [by_name[p.name] for p in pieces], None, report)


@dataclasses.dataclass(frozen=True)
class FolderSource(Source):
  """Every MIDI file under a folder (recursive). Pieces are named ``"<dataset>:<relative path>"``
  and grouped by relative path, so a file's split depends only on its own path.

  Attributes:
    root: the folder.
    dataset: name used in piece names and split hashing (default: the folder's base name).
    sustain_pedal: extend notes held by the sustain pedal (CC64).
    drop_drums: leave drum tracks out (their note numbers name drums, not pitches).
    programs: keep only the notes of these General MIDI programs (0-127); empty keeps every
      program. Drum tracks follow ``drop_drums`` alone.
    max_pieces: keep only the first N files (sorted by path).
  """
  root: str = '.'
  dataset: str = ''
  sustain_pedal: bool = False
  drop_drums: bool = True
  programs: tuple[int, ...] = ()
  max_pieces: int | None = None

  def __post_init__(self):
    root = pathlib.Path(self.root).expanduser().resolve()
    if not root.is_dir():
      raise NotADirectoryError(f'MIDI folder not found: {self.root}')
    object.__setattr__(self, 'root', str(root))
    if not self.dataset:
      object.__setattr__(self, 'dataset', root.name or 'midi')
    programs = tuple(self.programs or ())
    if not all(isinstance(p, (int, np.integer)) and 0 <= p <= 127 for p in programs):
      raise ValueError(f'programs={self.programs!r}: General MIDI programs are integers 0-127')
    object.__setattr__(self, 'programs', tuple(sorted({int(p) for p in programs})))

  def files(self) -> list[pathlib.Path]:
    files = midi_files(self.root)
    return files if self.max_pieces is None else files[:self.max_pieces]

  def identity(self) -> dict:
    return dict(source='folder', root=self.root, dataset=self.dataset,
                sustain_pedal=bool(self.sustain_pedal), drop_drums=bool(self.drop_drums),
                programs=list(self.programs), max_pieces=self.max_pieces)

  def key(self) -> dict:
    """Identity plus a digest of every file's relative path, size and mtime."""
    h = hashlib.sha256()
    files = self.files()
    for p in files:
      st = p.stat()
      h.update(f'{p.relative_to(self.root).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n'.encode())
    return dict(super().key(), num_files=len(files), files_sha256=h.hexdigest())

  def describe(self) -> str:
    return f'{self.dataset} ({self.root})'

  def load(self, *, workers: int | None = None, progress: bool = True) -> Loaded:
    files = self.files()
    rel = [p.relative_to(self.root).as_posix() for p in files]
    items = [dict(path=str(p), name=f'{self.dataset}:{r}', group=r,
                  sustain_pedal=self.sustain_pedal, drop_drums=self.drop_drums,
                  programs=self.programs)
             for p, r in zip(files, rel)]
    results = parallel_map(_load_midi_item, items, workers=workers, progress=progress,
                           desc=f'loading {self.dataset}')
    report = LoadReport(self.describe())
    pieces = _collect(results, [str(p) for p in files], report)
    by_name = dict(zip((it['name'] for it in items), rel))
    return Loaded(pieces, [by_name[p.name] for p in pieces], None, report)


SOURCE_NAMES = POLYPHONIC + tuple(MUSIC21_COLLECTIONS)
SOURCE_CLASSES = (PolyphonicSource, RollFileSource, Music21Source, FolderSource)


def _source_class(name_or_path: str | os.PathLike):
  if isinstance(name_or_path, str) and name_or_path in POLYPHONIC:
    return PolyphonicSource
  if isinstance(name_or_path, str) and name_or_path in MUSIC21_COLLECTIONS:
    return Music21Source
  path = os.path.expanduser(os.fspath(name_or_path))
  if os.path.isdir(path):
    return FolderSource
  if os.path.isfile(path) and os.path.splitext(path)[1].lower() in ROLL_FILE_SUFFIXES:
    return RollFileSource
  if os.path.isfile(path):
    raise ValueError(f'unknown source {os.fspath(name_or_path)!r}: a file, but not a benchmark '
                     f'file (.npz in the bundled layout, or .mat)')
  raise ValueError(f'unknown source {os.fspath(name_or_path)!r}: not one of {SOURCE_NAMES}, '
                   f'not a directory and not a .npz / .mat benchmark file')


_PATH_FIELDS = {FolderSource: 'root', RollFileSource: 'path'}


def source_option_names(name_or_path: str | os.PathLike | Source) -> tuple[str, ...]:
  """The keyword options :func:`get_source` accepts for this source."""
  if isinstance(name_or_path, Source):
    return ()
  cls = _source_class(name_or_path)
  fixed = {_PATH_FIELDS[cls]} if cls in _PATH_FIELDS else {'dataset'}
  return tuple(f.name for f in dataclasses.fields(cls) if f.name not in fixed)


def get_source(name_or_path: str | os.PathLike | Source, **opts) -> Source:
  """'jsb_chorales', 'nottingham', 'bach', 'essen', 'ryans', 'oneills', a folder of MIDI files, or
  a benchmark file (``.npz`` in the bundled layout, or ``.mat``).

  Options: bundled ``frame_beats``, ``qpm``, ``max_pieces``; music21 ``max_pieces``, ``qpm``,
  ``expand_repeats``; folder ``dataset``, ``sustain_pedal``, ``drop_drums``, ``programs``,
  ``max_pieces``; benchmark file ``dataset``, ``frame_beats``, ``qpm``, ``max_pieces``.
  """
  if isinstance(name_or_path, Source):
    if opts:
      raise TypeError(f'options {sorted(opts)} given with a Source instance')
    return name_or_path
  cls = _source_class(name_or_path)
  allowed = source_option_names(name_or_path)
  unknown = sorted(set(opts) - set(allowed))
  if unknown:
    raise TypeError(f'unknown options {unknown} for source {os.fspath(name_or_path)!r}; '
                    f'it accepts {list(allowed)}')
  if cls in _PATH_FIELDS:
    return cls(**{_PATH_FIELDS[cls]: os.fspath(name_or_path)}, **opts)
  return cls(dataset=name_or_path, **opts)
