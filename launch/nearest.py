"""Nearest events (cosine) in a skip-gram run's embedding (log 10/09).

  python -m launch.nearest --workdir=DIR [--events='C4 on,C4 off,shift 500ms'] [--k=5]
      [--table=embed|context] [--step=STEP] [--include_unseen]

Event names are the vocabulary's (``EventVocab.event_name``), with or without the angle brackets,
case-insensitive: ``C4 on`` / ``C4 off`` (C4 = MIDI 60; the log's names were an octave higher,
its <C5 on> is our <C4 on>), ``shift 250ms``, ``velocity 64``. Without ``--events`` a standard table
is printed: note-ons in several octaves, note-offs, short and long shifts and the velocities, each
kept only if it occurs in the training data. Neighbours are drawn from the events that occur in the
training data (the others keep their random initial vectors) unless ``--include_unseen``.
"""

from __future__ import annotations

import warnings

from absl import app, flags, logging

from dsjax import runtime
from launch import cli

warnings.filterwarnings('ignore', message='.*load_module.*', category=DeprecationWarning)

_WORKDIR = flags.DEFINE_string('workdir', None, 'Run folder of a skipgram run.')
_EVENTS = flags.DEFINE_string('events', None, 'Comma-separated event names (default: a standard '
                              'set).')
_K = flags.DEFINE_integer('k', 5, 'Neighbours per event.')
_TABLE = flags.DEFINE_enum('table', 'embed', ['embed', 'context'],
                           "Which table: the input (center) one, 'embed', or the output one.")
_STEP = flags.DEFINE_integer('step', None, 'Checkpoint step (default: latest).')
_UNSEEN = flags.DEFINE_bool('include_unseen', False, 'Also list events absent from the training '
                            'data as neighbours.')

# Standard queries (C4 = MIDI 60): note-ons from the bass to the soprano range, note-offs, shifts
# from a 10 ms step to a whole second, and the velocity bins.
STANDARD_EVENTS = (
    'C2 on', 'E2 on', 'G2 on', 'C3 on', 'G3 on', 'C4 on', 'E4 on', 'G4 on', 'C5 on', 'G5 on',
    'C3 off', 'C4 off', 'C5 off',
    'shift 10ms', 'shift 50ms', 'shift 120ms', 'shift 130ms', 'shift 250ms', 'shift 380ms',
    'shift 500ms', 'shift 750ms', 'shift 1000ms',
    'velocity 1', 'velocity 16', 'velocity 32', 'velocity 64',
)


def event_ids_by_name(vocab) -> dict[str, int]:
  """``'c4 on' -> 60`` etc.: lower-case vocabulary names without angle brackets."""
  return {vocab.event_name(i).strip('<>').lower(): i for i in range(vocab.size)}


def parse_events(text: str, vocab) -> list[int]:
  """``'C4 on, <C4 off>'`` -> ids; an unknown name is a ValueError naming it."""
  names = event_ids_by_name(vocab)
  out = []
  for raw in text.split(','):
    name = ' '.join(raw.strip().strip('<>').lower().split())
    if not name:
      continue
    if name not in names:
      raise ValueError(f'--events: unknown event {raw.strip()!r}; names look like '
                       f"'C4 on', 'C4 off', 'shift 250ms', "
                       f"'{vocab.event_name(vocab.size - 1).strip('<>')}'")
    out.append(names[name])
  if not out:
    raise ValueError('--events: no event names given')
  return out


def neighbour_table(table, vocab, queries, counts, k: int = 5, include_unseen: bool = False):
  """Rows ``(query id, count, [(neighbour id, cosine), ...])``; neighbours exclude the query
  and (unless ``include_unseen``) ids with zero count."""
  import numpy as np
  from dsjax.models.skipgram import cosine_neighbours
  table = np.asarray(table, np.float64)
  candidates = np.arange(vocab.size) if include_unseen else np.flatnonzero(counts > 0)
  rows = []
  for q in queries:
    sub = np.concatenate([[q], candidates[candidates != q]])
    ids, sims = cosine_neighbours(table[sub], np.array([0]), k=min(k, len(sub) - 1))
    rows.append((int(q), int(counts[q]), [(int(sub[i]), float(s))
                                          for i, s in zip(ids[0], sims[0])]))
  return rows


def format_table(rows, vocab) -> str:
  width = max(len(vocab.event_name(q)) for q, _, _ in rows) + 2
  lines = [f'{"event":{width}s}{"count":>8s}   nearest (cosine)']
  for q, count, neighbours in rows:
    note = '' if count else '   (never in the training data: an untrained vector)'
    text = ', '.join(f'{vocab.event_name(i)} {s:.2f}' for i, s in neighbours)
    lines.append(f'{vocab.event_name(q):{width}s}{count:8d}   {text}{note}')
  return '\n'.join(lines)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)
  from dsjax.train.loop import restore_for_inference
  config, trainer, state, step = restore_for_inference(_WORKDIR.value, _STEP.value)
  task = trainer.task
  if config.task != 'skipgram':
    raise app.UsageError(f'{_WORKDIR.value} is a {config.task!r} run, not a skipgram run')
  vocab = task.vocab
  if _EVENTS.value:
    queries = parse_events(_EVENTS.value, vocab)
  else:
    names = event_ids_by_name(vocab)
    queries = [names[n.lower()] for n in STANDARD_EVENTS
               if n.lower() in names and task.counts[names[n.lower()]] > 0]
  table = state['params'][_TABLE.value]['embedding'] if _TABLE.value == 'embed' or not bool(
      config.model.tied) else state['params']['embed']['embedding']
  rows = neighbour_table(table, vocab, queries, task.counts, _K.value, _UNSEEN.value)
  print(f'{_WORKDIR.value} step {step}: table {_TABLE.value} {tuple(table.shape)}, '
        f'{int((task.counts > 0).sum())} of {vocab.size} events occur in the training data')
  print(format_table(rows, vocab))


if __name__ == '__main__':
  runtime.reexec_with_huge_pages()  # before any XLA work: see dsjax/runtime.py
  flags.mark_flag_as_required('workdir')
  cli.run(main)
