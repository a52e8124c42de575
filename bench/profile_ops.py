"""Where a benchmark step's time goes, per XLA op: a ``jax.profiler`` trace summed by op name.

  .venv/bin/python bench/profile_ops.py --step w2_critic|w2_gen [--calls 5] [--top 25]

Runs the step of ``bench/rnn_speed.py`` a few times under ``jax.profiler`` (a perfetto trace in a
temporary folder), then prints, for one call: its longest top-level ops (loops included, as
``while.N``) with their start and duration, and for each loop the ops inside it summed over its
iterations, with their count and mean.
Op names are those of the compiled HLO (``jax.jit(f).lower(...).compile().as_text()``), so a
fusion can be looked up there. The trace's clock includes the profiler's own overhead (a few %).
"""

from __future__ import annotations

import argparse
import collections
import glob
import gzip
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]
if __name__ == '__main__':  # huge pages for XLA's buffers, as the benchmark (dsjax/runtime.py)
  from dsjax import runtime
  runtime.reexec_with_huge_pages()

import jax  # noqa: E402
import rnn_speed  # noqa: E402


def trace_events(trace_dir: str) -> list[dict]:
  path = glob.glob(os.path.join(trace_dir, '**', '*.trace.json.gz'), recursive=True)[0]
  with gzip.open(path) as f:
    return [e for e in json.load(f)['traceEvents'] if e.get('ph') == 'X']


def summarize(events: list[dict], top: int) -> str:
  """The last complete call's top-level ops and each loop's inner ops (see the module doc)."""
  calls = sorted((e for e in events if e['name'] == 'ThunkExecutor::Execute (wait for completion)'),
                 key=lambda e: e['ts'])
  call = calls[-2] if len(calls) > 1 else calls[-1]
  t0, t1 = call['ts'], call['ts'] + call['dur']
  ops = sorted((e for e in events if t0 <= e['ts'] <= t1 and not e['name'].startswith(
      ('Thunk', 'Slinky', 'Threadpool', 'end: ', '$'))), key=lambda e: e['ts'])  # $: Python
  loops = [e for e in ops if e['name'].startswith('while')]

  def inside(e, loop):
    return e is not loop and loop['ts'] <= e['ts'] and e['ts'] + e['dur'] <= loop['ts'] + loop['dur']

  lines = [f'one call: {call["dur"] / 1e3:.1f} ms',
           f'the {top} longest top-level ops (start ms, duration ms, name):']
  top_level = [e for e in ops if not any(inside(e, l) for l in loops)]
  for e in sorted(top_level, key=lambda e: -e['dur'])[:top]:
    lines.append(f'  {(e["ts"] - t0) / 1e3:8.2f}  {e["dur"] / 1e3:7.2f}  {e["name"]}')
  for loop in loops:
    total, count = collections.Counter(), collections.Counter()
    for e in ops:
      if inside(e, loop) and not e['name'].startswith('while'):
        total[e['name']] += e['dur']
        count[e['name']] += 1
    if not total:
      continue
    lines.append(f'{loop["name"]}: {loop["dur"] / 1e3:.2f} ms')
    for name, dur in total.most_common(8):
      lines.append(f'  {dur / 1e3:7.2f} ms  {count[name]:4d} x {dur / count[name]:7.1f} us  {name}')
  return '\n'.join(lines)


def main(argv=None):
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
  ap.add_argument('--step', choices=['w2_critic', 'w2_gen'], default='w2_gen')
  ap.add_argument('--calls', type=int, default=5)
  ap.add_argument('--top', type=int, default=25)
  args = ap.parse_args(argv)
  critic_step, gen_step, state, real = rnn_speed.build_w2(rnn_speed.Placement(1))
  step = (lambda st: critic_step(st, real)) if args.step == 'w2_critic' else gen_step
  for _ in range(3):  # compile and warm up
    state, loss = step(state)
  jax.block_until_ready(loss)
  with tempfile.TemporaryDirectory() as trace_dir:
    jax.profiler.start_trace(trace_dir, create_perfetto_trace=True)
    for _ in range(args.calls):
      state, loss = step(state)
      jax.block_until_ready(loss)
    jax.profiler.stop_trace()
    print(summarize(trace_events(trace_dir), args.top))


if __name__ == '__main__':
  main()
