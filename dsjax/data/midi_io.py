"""MIDI files in and out (pretty_midi), and audio renderings of pieces for logs.

``load_midi`` reads every instrument's notes into a :class:`~dsjax.data.notes.Piece`
(``part`` = instrument index in the file), optionally extending notes held by the sustain
pedal (CC64). Any failure to read a file is one exception type, :class:`MidiLoadError`,
naming the file and the cause.
"""

from __future__ import annotations

import io
import logging
import os
import warnings
from typing import Union

import numpy as np
import pretty_midi

from dsjax.data.notes import NOTE_DTYPE, Piece, check_qpm, sort_notes

_log = logging.getLogger(__name__)

PathOrBytes = Union[str, os.PathLike, bytes, bytearray, memoryview]
SUSTAIN_CC = 64


class MidiLoadError(Exception):
  """A MIDI file that cannot be used: ``str(e) == 'PATH: reason'``."""

  def __init__(self, path: str, reason: str):
    super().__init__(f'{path}: {reason}')
    self.path = path
    self.reason = reason

  def __reduce__(self):  # picklable across worker processes
    return (MidiLoadError, (self.path, self.reason))


def _sustain_intervals(instrument: pretty_midi.Instrument, end_time: float) -> np.ndarray:
  """Pedal-down intervals ``[k, 2]`` (down, up) in seconds from CC64 (value >= 64 is down)."""
  ccs = sorted((c for c in instrument.control_changes if c.number == SUSTAIN_CC),
               key=lambda c: c.time)
  intervals, down_at = [], None
  for c in ccs:
    if c.value >= 64 and down_at is None:
      down_at = c.time
    elif c.value < 64 and down_at is not None:
      intervals.append((down_at, c.time))
      down_at = None
  if down_at is not None:
    intervals.append((down_at, max(end_time, down_at)))
  return np.asarray(intervals, np.float64).reshape(-1, 2)


def _apply_sustain(pitch, start, end, intervals) -> np.ndarray:
  """New note ends ``[n]``: a note released while the pedal is down lasts until the pedal is
  released, but not past the next onset of the same pitch (and it is never shortened)."""
  if len(intervals) == 0 or len(pitch) == 0:
    return end
  k = np.searchsorted(intervals[:, 0], end, side='right') - 1
  held = (k >= 0) & (end < intervals[np.maximum(k, 0), 1])
  release = np.where(held, intervals[np.maximum(k, 0), 1], end)
  order = np.lexsort((start, pitch))
  p, s = pitch[order], start[order]
  # The next strictly later onset of the same pitch: the first note of the next (pitch, start) run.
  run_first = np.ones(len(p), bool)
  run_first[1:] = (p[1:] != p[:-1]) | (s[1:] != s[:-1])
  run_starts = np.flatnonzero(run_first)
  nxt_run = np.append(run_starts[1:], len(p))[np.cumsum(run_first) - 1]
  ok = nxt_run < len(p)
  nr = np.minimum(nxt_run, len(p) - 1)
  next_start = np.where(ok & (p[nr] == p), s[nr], np.inf)
  nxt = np.empty(len(p))
  nxt[order] = next_start
  return np.maximum(end, np.minimum(release, nxt))


def _open(path_or_bytes: PathOrBytes, name: str | None):
  """Returns (display path, file object or filename, piece name)."""
  if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
    label = name or '<bytes>'
    data = bytes(path_or_bytes)
    if not data:
      raise MidiLoadError(label, 'empty file (0 bytes)')
    return label, io.BytesIO(data), name or 'bytes'
  path = os.fspath(path_or_bytes)
  stem = os.path.splitext(os.path.basename(path))[0]
  if not os.path.exists(path):
    raise MidiLoadError(path, 'file not found')
  if os.path.isdir(path):
    raise MidiLoadError(path, 'is a directory, not a MIDI file')
  try:
    size = os.path.getsize(path)
  except OSError as e:
    raise MidiLoadError(path, f'cannot stat: {e}') from e
  if size == 0:
    raise MidiLoadError(path, 'empty file (0 bytes)')
  return path, path, name or stem


def load_midi(path_or_bytes: PathOrBytes, *, name: str | None = None,
              sustain_pedal: bool = False, drop_drums: bool = False) -> Piece:
  """Reads a MIDI file (path or raw bytes) into a :class:`Piece`.

  Notes of every instrument keep ``program``, ``is_drum`` and ``part`` (= the instrument's index
  in pretty_midi's list, counted before any drum is dropped). Zero-length notes (end <= start)
  are dropped. With ``sustain_pedal=True`` a note released while CC64 is down (value >= 64) of
  its instrument lasts until the pedal goes up, but not past the next onset of the same pitch on
  that instrument. The tempo map is pretty_midi's ``get_tempo_changes()``.

  Args:
    path_or_bytes: a file path or the file's bytes.
    name: the piece name (default: the file name without extension; 'bytes' for raw bytes).
  Raises:
    MidiLoadError: missing, empty, truncated or corrupt file, or a file with no notes.
  """
  label, source, piece_name = _open(path_or_bytes, name)
  try:
    with warnings.catch_warnings():
      warnings.simplefilter('ignore')  # pretty_midi warns on tempo events off track 0, etc.
      pm = pretty_midi.PrettyMIDI(source)
  except MidiLoadError:
    raise
  except EOFError as e:
    raise MidiLoadError(label, f'truncated file ({str(e) or "unexpected end of data"})') from e
  except MemoryError as e:
    raise MidiLoadError(label, 'corrupt file (needs too much memory to read)') from e
  except Exception as e:  # mido/pretty_midi raise OSError, ValueError, KeyError, IndexError...
    raise MidiLoadError(label, f'not a readable MIDI file ({type(e).__name__}: {e})') from e

  end_time = 0.0
  for inst in pm.instruments:
    for n in inst.notes:
      end_time = max(end_time, n.end)
    for c in inst.control_changes:
      end_time = max(end_time, c.time)

  chunks = []
  for part, inst in enumerate(pm.instruments):
    if (drop_drums and inst.is_drum) or not inst.notes:
      continue
    cols = np.array([(n.pitch, n.start, n.end, n.velocity) for n in inst.notes], np.float64)
    pitch, start, end = cols[:, 0].astype(np.int64), cols[:, 1], cols[:, 2]
    if sustain_pedal:
      end = _apply_sustain(pitch, start, end, _sustain_intervals(inst, end_time))
    keep = end > start
    notes = np.zeros(int(keep.sum()), NOTE_DTYPE)
    notes['pitch'] = pitch[keep]
    notes['start'] = start[keep]
    notes['end'] = end[keep]
    notes['velocity'] = np.clip(cols[keep, 3], 1, 127)
    notes['program'] = inst.program
    notes['is_drum'] = inst.is_drum
    notes['part'] = part
    chunks.append(notes)
  notes = np.concatenate(chunks) if chunks else np.zeros(0, NOTE_DTYPE)
  if len(notes) == 0:
    what = 'no notes' if not drop_drums else 'no notes (after dropping drums)'
    raise MidiLoadError(label, what)

  times, qpm = pm.get_tempo_changes()
  times, qpm = np.asarray(times, np.float64), np.asarray(qpm, np.float64)
  if len(times) == 0:
    times, qpm = np.zeros(1), np.full(1, 120.0)
  elif times[0] > 0:
    times, qpm = np.concatenate([[0.0], times]), np.concatenate([[120.0], qpm])
  return Piece(name=piece_name, notes=sort_notes(notes), tempo_times=times, tempo_qpm=qpm)


def _as_piece(piece_or_notes) -> Piece:
  if isinstance(piece_or_notes, Piece):
    return piece_or_notes
  return Piece(name='notes', notes=sort_notes(np.asarray(piece_or_notes, NOTE_DTYPE)))


def piece_to_pretty_midi(piece: Piece | np.ndarray, *, default_program: int = 0,
                         resolution: int = 480) -> pretty_midi.PrettyMIDI:
  """A :class:`Piece` (or a bare ``NOTE_DTYPE`` array) -> ``PrettyMIDI``.

  One instrument per distinct ``(part, program, is_drum)``, in that sorted order. Notes whose
  program lies outside 0..127 (e.g. -1 for "unset") get ``default_program``. Only the piece's
  initial tempo is written (note times in seconds are kept exactly up to one tick).
  Velocities are clipped to 1..127. Raises ValueError for an initial tempo that is not a finite
  number > 0.
  """
  piece = _as_piece(piece)
  notes = piece.notes
  qpm = check_qpm(piece.tempo_qpm[0], 'tempo_qpm[0]') if len(piece.tempo_qpm) else 120.0
  pm = pretty_midi.PrettyMIDI(resolution=resolution, initial_tempo=qpm)
  program = notes['program'].astype(np.int64)
  program = np.where((program < 0) | (program > 127), default_program, program)
  keys = np.stack([notes['part'].astype(np.int64), program,
                   notes['is_drum'].astype(np.int64)], axis=1)
  if len(notes) == 0:
    return pm
  uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
  inverse = inverse.reshape(-1)
  for k, (part, prog, drum) in enumerate(uniq):
    inst = pretty_midi.Instrument(program=int(prog), is_drum=bool(drum), name=f'part {part}')
    sel = notes[inverse == k]
    vel = np.clip(sel['velocity'], 1, 127)
    for p, s, e, v in zip(sel['pitch'].tolist(), sel['start'].tolist(), sel['end'].tolist(),
                          vel.tolist()):
      inst.notes.append(pretty_midi.Note(velocity=int(v), pitch=int(p), start=s, end=e))
    pm.instruments.append(inst)
  return pm


def write_midi(piece_or_notes: Piece | np.ndarray, path: str | os.PathLike, **kw) -> None:
  """Writes a piece (or a bare ``NOTE_DTYPE`` array) as a ``.mid`` file; ``kw`` as in
  :func:`piece_to_pretty_midi`."""
  piece_to_pretty_midi(piece_or_notes, **kw).write(os.fspath(path))


_NOTICE_GIVEN = False
# Where General MIDI soundfonts live when Debian's packages are installed (libfluidsynth3 brings
# timgm6mb-soundfont, whose TimGM6mb.sf2 is default-GM.sf2; fluid-soundfont-gm is FluidR3_GM).
SYSTEM_SOUNDFONTS = ('/usr/share/sounds/sf2/FluidR3_GM.sf2', '/usr/share/sounds/sf2/default-GM.sf2')
SOUNDFONT_ENV = 'DSJAX_SOUNDFONT'
INSTALL_HINT = 'apt-get install libfluidsynth3 (pyfluidsynth is in requirements.txt)'


def _fluidsynth_available() -> bool:
  """Whether pyfluidsynth imports (it needs the FluidSynth shared library too)."""
  try:
    import fluidsynth  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
  except Exception:  # pylint: disable=broad-except
    return False
  return True


def soundfont_path() -> str | None:
  """The General MIDI soundfont FluidSynth renders with: ``$DSJAX_SOUNDFONT`` when set (a missing
  file is a ValueError naming it), else the first of :data:`SYSTEM_SOUNDFONTS` that exists, else
  None (pretty_midi's bundled TimGM6mb.sf2)."""
  path = os.environ.get(SOUNDFONT_ENV)
  if path:
    if not os.path.isfile(path):
      raise ValueError(f'{SOUNDFONT_ENV}={path}: no such soundfont file')
    return path
  return next((p for p in SYSTEM_SOUNDFONTS if os.path.isfile(p)), None)


def render_audio(piece: Piece | np.ndarray, fs: int = 16000) -> tuple[np.ndarray, str]:
  """``(audio, renderer)``: a piece as mono audio ``float32[samples]`` with peak <= 1, and which
  renderer made it, ``'fluidsynth'`` or ``'sine'``.

  FluidSynth with a General MIDI soundfont (:func:`soundfont_path`) when pyfluidsynth and the
  FluidSynth library are installed (one line: :data:`INSTALL_HINT`); else pretty_midi's sine-wave
  synthesis (drums silent), saying so once per process. An empty piece gives ``(zeros(0),
  'none')``.
  """
  global _NOTICE_GIVEN
  pm = piece_to_pretty_midi(piece)
  if not any(inst.notes for inst in pm.instruments):
    return np.zeros(0, np.float32), 'none'
  audio, renderer = None, 'sine'
  if _fluidsynth_available():
    font = soundfont_path()   # a $DSJAX_SOUNDFONT that is not there is an error, not a fallback
    try:
      audio = pm.fluidsynth(fs=fs, synthesizer=font, normalize=False)
      renderer = 'fluidsynth'
    except Exception as e:  # pylint: disable=broad-except
      if not _NOTICE_GIVEN:
        _log.warning('fluidsynth rendering failed (%s); audio uses sine-wave synthesis', e)
        _NOTICE_GIVEN = True
  elif not _NOTICE_GIVEN:
    _log.warning('FluidSynth not installed (%s): audio uses sine-wave synthesis', INSTALL_HINT)
    _NOTICE_GIVEN = True
  if audio is None:
    audio = pm.synthesize(fs=fs, normalize=False)
  audio = np.asarray(audio, np.float64)
  peak = np.abs(audio).max() if audio.size else 0.0
  if peak > 0:
    audio = audio / peak
  return audio.astype(np.float32), renderer


def synthesize(piece: Piece | np.ndarray, fs: int = 16000) -> np.ndarray:
  """A piece as mono audio ``float32[samples]`` with peak <= 1 (:func:`render_audio`'s audio)."""
  return render_audio(piece, fs)[0]
