"""Throughput of the batch pipeline (dsjax.data.windows.WindowSampler).

Workloads (global batch 32, one process, no prefetch thread):
  event:    event ids, windows of 257 ids (inputs and targets [32, 256]) from a synthetic corpus of
            400 sequences of 2000 to 20000 ids (vocab 388, int32).
  roll:     piano rolls, windows of 65 frames (inputs and targets [32, 64, 88]) from the JSB
            Chorales train split (many pieces are shorter than 65 frames: padded and masked).
  roll_aug: the same with transposition augmentation (RollTransposition, +-6 semitones).
  event_aug: the event workload with EventTransposition (+-6 semitones).

Each figure is the median (with min and max) of several timed runs after a warm-up. The ratio is how
much faster than the W1 training step of the speed reference (32 x 256 tokens at --w1_tokens_per_s)
the batches come; the project's bar is 20.

Usage: python bench/data_pipeline.py [--seconds=0.5] [--repeats=5] [--jsb=PATH]
The last line is ``SUMMARY {json}``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dsjax.data.augment import (  # pylint: disable=wrong-import-position
    EventTransposition, RollTransposition)
from dsjax.data.notes import SequenceSet  # pylint: disable=wrong-import-position
from dsjax.data.windows import WindowSampler  # pylint: disable=wrong-import-position

DEFAULT_JSB = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'dsjax', 'data', 'bundled', 'jsb_chorales.npz')
BATCH = 32


def _busy_and_self_ticks():
  """(ticks all cores were busy, ticks this process used) from /proc."""
  with open('/proc/stat') as f:
    vals = [int(x) for x in f.readline().split()[1:9]]
  busy = sum(vals) - vals[3] - vals[4]
  with open('/proc/self/stat') as f:
    fields = f.read().rsplit(')', 1)[1].split()
  return busy, int(fields[11]) + int(fields[12])


def synthetic_events(num_seqs=400, min_len=2000, max_len=20000, vocab=388, seed=0) -> SequenceSet:
  rng = np.random.default_rng(seed)
  lengths = rng.integers(min_len, max_len + 1, size=num_seqs)
  values = rng.integers(0, vocab, size=int(lengths.sum()), dtype=np.int32)
  offsets = np.concatenate([[0], np.cumsum(lengths)])
  return SequenceSet(values, offsets, np.array([f'synthetic:{i}' for i in range(num_seqs)]))


def jsb_train(path: str) -> SequenceSet:
  if not os.path.exists(path):
    raise FileNotFoundError(f'JSB Chorales file not found: {path}')
  with np.load(path, allow_pickle=False) as z:
    for key in ('train_rolls', 'train_lengths'):
      if key not in z.files:
        raise KeyError(f'{path} has no {key!r} (keys: {z.files})')
    rolls, lengths = z['train_rolls'], z['train_lengths'].astype(np.int64)
  offsets = np.concatenate([[0], np.cumsum(lengths)])
  return SequenceSet(rolls, offsets, np.array([f'jsb:train:{i}' for i in range(len(lengths))]))


def measure(sampler: WindowSampler, seconds: float, repeats: int) -> dict:
  """Batches per second of ``next(sampler)``: median, min and max over ``repeats`` timed runs."""
  for _ in range(5):
    next(sampler)
  t0 = time.perf_counter()
  n = 0
  while time.perf_counter() - t0 < 0.2:
    next(sampler)
    n += 1
  per_run = max(5, int(n / (time.perf_counter() - t0) * seconds))
  rates, foreign = [], []
  clk = os.sysconf('SC_CLK_TCK')
  for _ in range(repeats):
    busy0, self0 = _busy_and_self_ticks()
    t0 = time.perf_counter()
    for _ in range(per_run):
      next(sampler)
    wall = time.perf_counter() - t0
    busy1, self1 = _busy_and_self_ticks()
    rates.append(per_run / wall)
    foreign.append(max(0.0, ((busy1 - busy0) - (self1 - self0)) / clk / wall))
  return dict(batches_per_s=statistics.median(rates), min=min(rates), max=max(rates),
              batches_per_run=per_run, foreign_cores=statistics.median(foreign))


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--jsb', default=DEFAULT_JSB, help='jsb_chorales.npz')
  parser.add_argument('--seconds', type=float, default=0.5, help='length of one timed run')
  parser.add_argument('--repeats', type=int, default=5)
  parser.add_argument('--max_shift', type=int, default=6, help='transposition range, semitones')
  parser.add_argument('--w1_tokens_per_s', type=float, default=6000.0,
                      help='W1 training speed the pipeline must outrun (32 x 256 tokens a step)')
  args = parser.parse_args(argv)

  w1_step_s = BATCH * 256 / args.w1_tokens_per_s
  events = synthetic_events()
  rolls = jsb_train(args.jsb)
  print(f'event corpus: {len(events)} sequences, {len(events.values)} ids; '
        f'JSB train: {len(rolls)} pieces, {len(rolls.values)} frames '
        f'({int((rolls.lengths < 65).sum())} shorter than a 65-frame window)')
  workloads = {
      'event': WindowSampler(events, 256, BATCH, seed=0),
      'event_aug': WindowSampler(
          events, 256, BATCH, seed=0, augment=EventTransposition(args.max_shift)),
      'roll': WindowSampler(rolls, 64, BATCH, seed=0),
      'roll_aug': WindowSampler(
          rolls, 64, BATCH, seed=0, augment=RollTransposition(args.max_shift)),
  }
  summary = {'batch': BATCH, 'w1_step_s': round(w1_step_s, 4)}
  for name, sampler in workloads.items():
    b = next(sampler)
    r = measure(sampler, args.seconds, args.repeats)
    ratio = r['batches_per_s'] * w1_step_s
    print(f'{name:10s} inputs {tuple(b["inputs"].shape)} {b["inputs"].dtype}: '
          f'{r["batches_per_s"]:9.1f} batches/s (min {r["min"]:.1f}, max {r["max"]:.1f}), '
          f'{r["batches_per_s"] * BATCH:10.0f} windows/s, {ratio:7.1f}x the W1 step '
          f'(bar 20: {"ok" if ratio >= 20 else "MISSED"}), foreign cores {r["foreign_cores"]:.2f}')
    summary[f'{name}_batches_per_s'] = round(r['batches_per_s'], 1)
    summary[f'{name}_windows_per_s'] = round(r['batches_per_s'] * BATCH, 1)
    summary[f'{name}_ratio_vs_w1'] = round(ratio, 1)
    summary[f'{name}_foreign_cores'] = round(r['foreign_cores'], 2)
  summary['min_ratio_vs_w1'] = min(v for k, v in summary.items() if k.endswith('_ratio_vs_w1'))
  print('SUMMARY ' + json.dumps(summary))


if __name__ == '__main__':
  main()
