r"""Builds the preprocessing cache of a corpus and prints what went in.

  python -m launch.prepare_data --source=bach --encoding=events --out=/tmp/dsjax_cache
  python -m launch.prepare_data --source=~/midi --encoding=pianoroll --keys=88 --step=0.25

``--source`` is 'jsb_chorales', 'nottingham', 'bach', 'essen', 'ryans', 'oneills' or a folder of
MIDI files. The summary lists files kept, files skipped with their reasons, notes, events or
frames, and pieces / items per split. Encoding flags left unset take the encoding's defaults; flags
that do not apply to the chosen encoding are ignored.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time

from absl import app
from absl import flags

from dsjax.data import cache
from dsjax.data import corpora
from dsjax.data import encodings
from launch import cli

FLAGS = flags.FLAGS

flags.DEFINE_string('source', 'jsb_chorales', 'Corpus name or a folder of MIDI files.')
flags.DEFINE_enum('encoding', 'events', sorted(encodings.ENCODINGS), 'Encoding to cache.')
flags.DEFINE_string('out', None, 'Cache root (default $DSJAX_CACHE_DIR or ~/.cache/dsjax).')
flags.DEFINE_integer('max_pieces', None, 'Keep only the first N pieces (quick runs).')
flags.DEFINE_float('valid_fraction', 0.1, 'Hashed split: fraction of groups in valid.')
flags.DEFINE_float('test_fraction', 0.1, 'Hashed split: fraction of groups in test.')
flags.DEFINE_bool('transpose_to_c', False, 'Transpose every piece to C major / A minor.')
flags.DEFINE_integer('workers', None, 'Parsing processes (default: all cores).')
flags.DEFINE_bool('rebuild', False, 'Rebuild even if the cache is up to date.')
flags.DEFINE_bool('progress', True, 'Show progress bars.')
# Folder sources.
flags.DEFINE_bool('sustain_pedal', False, 'Folder: extend notes held by the sustain pedal.')
flags.DEFINE_bool('drop_drums', True, 'Folder: leave drum tracks out (--nodrop_drums keeps them).')
flags.DEFINE_string('dataset', None, 'Folder: dataset name for piece names and split hashing.')
# events.
flags.DEFINE_float('shift_ms', None, 'events: time-shift quantum in ms (default 10).')
flags.DEFINE_integer('max_shift_steps', None, 'events: largest shift in quanta (default 100).')
flags.DEFINE_enum('velocity_bins', None, ['log2', 'linear32', 'none'],
                  'events: velocity bins (default log2).')
# pianoroll / aligned.
flags.DEFINE_enum('grid', None, ['beats', 'seconds'], 'roll: grid unit (default beats).')
flags.DEFINE_float('step', None, 'roll: frame length in grid units (default 0.25).')
flags.DEFINE_enum('keys', None, ['88', '128'], 'roll: keyboard size (default 128).')
flags.DEFINE_bool('velocity_plane', None, 'pianoroll: add a velocity plane.')
flags.DEFINE_bool('onset_plane', None, 'pianoroll: add an onset plane.')
# note_duration.
flags.DEFINE_float('resolution', None, 'note_duration: grid in beats (default 0.25).')
flags.DEFINE_integer('max_duration', None, 'note_duration: longest duration in steps.')

_ENCODING_FLAGS = {
    'events': ('shift_ms', 'max_shift_steps', 'velocity_bins'),
    'pianoroll': ('grid', 'step', 'keys', 'velocity_plane', 'onset_plane'),
    'aligned': ('grid', 'step', 'keys'),
    'note_duration': ('resolution', 'max_duration', 'grid'),
}
_SOURCE_FLAGS = ('max_pieces', 'sustain_pedal', 'drop_drums', 'dataset')


def options_from_flags() -> dict:
  """Source and encoding options from the flags that were set and apply."""
  opts = {}
  for name in _ENCODING_FLAGS[FLAGS.encoding]:
    value = FLAGS[name].value
    if value is not None:
      opts[name] = int(value) if name == 'keys' else value
  allowed = corpora.source_option_names(FLAGS.source)
  for name in _SOURCE_FLAGS:
    value = FLAGS[name].value
    if name in allowed and value is not None and (FLAGS[name].present or value):
      opts[name] = value
  return opts


class _CacheSkipWarnings(logging.Filter):
  """Drops the cache's warnings that list skipped files and pieces: the summary lists them."""

  _CACHE_FILE = os.path.normcase(os.path.realpath(cache.__file__))

  def filter(self, record: logging.LogRecord) -> bool:
    from_cache = (record.funcName in ('load_notes', 'prepare_dataset')
                  and os.path.normcase(os.path.realpath(record.pathname)) == self._CACHE_FILE)
    return not (record.levelno == logging.WARNING and from_cache)


@contextlib.contextmanager
def _skip_list_printed_once():
  """While building, the skip list is left to the summary printed afterwards."""
  root, skip = logging.getLogger(), _CacheSkipWarnings()
  root.addFilter(skip)
  try:
    yield
  finally:
    root.removeFilter(skip)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  try:
    options = options_from_flags()
  except (ValueError, NotADirectoryError) as e:
    raise app.UsageError(str(e)) from e
  t0 = time.perf_counter()
  with _skip_list_printed_once():
    ds = cache.prepare_dataset(
        FLAGS.source, FLAGS.encoding, FLAGS.out, valid_fraction=FLAGS.valid_fraction,
        test_fraction=FLAGS.test_fraction, transpose_to_c=FLAGS.transpose_to_c,
        workers=FLAGS.workers, progress=FLAGS.progress, rebuild=FLAGS.rebuild, **options)
  seconds = time.perf_counter() - t0
  print(ds.summary())
  print(f'{"built" if ds.built else "reused"} in {seconds:.1f} s')


if __name__ == '__main__':
  cli.run(main)
