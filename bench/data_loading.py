"""Data-layer speed: MIDI loading, encoding, and the preprocessing cache, over the Bach chorales.

  python bench/data_loading.py            # uses (and builds if needed) the default cache
  python bench/data_loading.py --cold     # also times a cold cache build in a fresh folder

Prints one ``SUMMARY {json}`` line last, with ``midi_files_per_s``, ``midi_notes_per_s`` (serial
``load_midi``), ``folder_files_per_s`` (the parallel folder loader, all cores),
``encode_events_per_s``, ``encode_frames_per_s``, ``cache_reload_s`` and, with ``--cold``,
``cold_build_s``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))

import numpy as np  # noqa: E402

from dsjax.data import cache, corpora, midi_io  # noqa: E402
from dsjax.data.events import EventVocab, encode_events  # noqa: E402
from dsjax.data.pianoroll import RollConfig, encode_pianoroll  # noqa: E402


def timed(fn, repeats=3):
  times = []
  out = None
  for _ in range(repeats):
    t0 = time.perf_counter()
    out = fn()
    times.append(time.perf_counter() - t0)
  return float(np.median(times)), out


def main():
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument('--cold', action='store_true', help='time a cold build of the cache')
  parser.add_argument('--cache_dir', default=None)
  args = parser.parse_args()
  summary = {}

  if args.cold:
    with tempfile.TemporaryDirectory() as d:
      t0 = time.perf_counter()
      cache.prepare_dataset('bach', 'events', d, progress=False)
      summary['cold_build_s'] = time.perf_counter() - t0
      t0 = time.perf_counter()
      cache.load_dataset('bach', 'events', 'train', d)
      summary['cold_then_reload_s'] = time.perf_counter() - t0

  cache.prepare_dataset('bach', 'events', args.cache_dir, progress=False)
  t0 = time.perf_counter()
  train = cache.load_dataset('bach', 'events', 'train', args.cache_dir)
  summary['cache_reload_s'] = time.perf_counter() - t0
  summary['train_events'] = int(train.lengths.sum())

  pieces = cache.load_notes('bach', args.cache_dir, progress=False).pieces
  notes = sum(len(p.notes) for p in pieces)
  with tempfile.TemporaryDirectory() as d:
    paths = []
    for i, p in enumerate(pieces):
      path = os.path.join(d, f'{i:04d}.mid')
      midi_io.write_midi(p, path)
      paths.append(path)
    t, loaded = timed(lambda: [midi_io.load_midi(p) for p in paths], repeats=1)
    loaded_notes = sum(len(p.notes) for p in loaded)
    summary.update(midi_files=len(paths), midi_notes=loaded_notes,
                   midi_files_per_s=len(paths) / t, midi_notes_per_s=loaded_notes / t)
    source = corpora.get_source(d)
    t, result = timed(lambda: source.load(workers=os.cpu_count(), progress=False), repeats=1)
    summary['folder_files_per_s'] = len(result.pieces) / t

  vocab = EventVocab()
  t, encoded = timed(lambda: [encode_events(p, vocab) for p in pieces])
  summary['encode_events_per_s'] = sum(len(e) for e in encoded) / t
  summary['encode_notes_per_s'] = notes / t
  cfg = RollConfig(grid='beats', step=0.25, keys=128)
  t, rolls = timed(lambda: [encode_pianoroll(p, cfg) for p in pieces])
  summary['encode_frames_per_s'] = sum(len(r) for r in rolls) / t
  summary['pieces'] = len(pieces)
  summary['notes'] = notes
  for k, v in summary.items():
    print(f'{k:>24}: {v:,.3f}' if isinstance(v, float) else f'{k:>24}: {v}')
  print('SUMMARY ' + json.dumps(summary, sort_keys=True))


if __name__ == '__main__':
  main()
