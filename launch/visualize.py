"""The research log's visualisations as PNG files.

  python -m launch.visualize --what=cells --workdir=DIR [--midi=PATH] [--cells=K | --cell=I |
      --pick=features] [--layer=L] [--state=h|c] [--start=S] [--length=N] [--best] [--step=STEP]
      [--out=DIR]
  python -m launch.visualize --what=tsne_keys [--workdir=DIR | --source=bach] [--max_pieces=N]
      [--sharpen=0.03] [--seed=S] [--perplexity=P] [--out=DIR]
  python -m launch.visualize --what=tsne_events --workdir=SKIPGRAM_RUN [--table=embed|context]
      [--include_unseen] [--seed=S] [--perplexity=P] [--out=DIR]
  python -m launch.visualize --what=code_schedule --workdir=GAN_RUN [--schedule=linspace]
      [--num=2] [--length=L] [--seed=S] [--out=DIR]

* ``cells`` (log 10/10): the MIDI file (default: the first held-out piece of the run's corpus) is
  encoded as the run encodes its data, read by the run's LSTM teacher-forced, and the ``--cells``
  most variable cells over the drawn steps (all layers, or ``--layer``), or one cell (``--cell``
  of ``--layer``, default the last layer), are drawn under the piece's labelled piano roll on one
  time axis: outputs ``h`` or memory cells ``c`` (``--state``); with ``--pick=features``, for
  each property of the music below, the cell that follows it best, as a line with the property
  drawn in grey behind it. For event LMs
  (``configs/baseline_lstm.py``, ``hist_rnn.py``) a step is one event: the roll shows the keys
  sounding after each event, a row under it the event's type, the top edge the piece's seconds.
  For roll LMs (``configs/pianoroll_*.py``) a step is one frame, with bars and beats. The command
  also prints, for each property of the music (polyphony, mean pitch, onsets, time since the
  last onset, position in the bar, event type), the cell of the whole network that follows it
  best (Pearson r; eta for the bar position), and writes them to ``cells_NAME.json``.
* ``tsne_keys`` (log 10/16): t-SNE of every piece's pitch-class histogram (note counts), and of
  the log's sharpened histogram ``softmax(h / 0.03)``, coloured by the Krumhansl-Schmuckler key;
  prints how often a piece's 5 nearest pieces on the map share its key, are its relative or
  parallel key, or a fifth away, against chance.
* ``tsne_events``: t-SNE of a skip-gram run's event embeddings (unit length; events that occur in
  the training data), labelled by event and coloured by type; prints the neighbours' type purity.
* ``code_schedule`` (log 11/14-11/15): each sample's code image, the per-step code the generator
  reads, above the piano roll it drove (the same samples as ``launch.generate --seed``).

Figures go to ``--out`` (default ``WORKDIR/visualize``, or ``./visualize`` without a workdir).
"""

from __future__ import annotations

import warnings

from absl import app, flags, logging

from dsjax import runtime
from launch import cli

warnings.filterwarnings('ignore', message='.*load_module.*', category=DeprecationWarning)

WHATS = ('cells', 'tsne_keys', 'tsne_events', 'code_schedule')
_WHAT = flags.DEFINE_string('what', None, f'Which picture: {", ".join(WHATS)}.')
_WORKDIR = flags.DEFINE_string('workdir', None, 'Run folder written by launch.train.')
_OUT = flags.DEFINE_string('out', None, 'Output folder (default WORKDIR/visualize).')
_STEP = flags.DEFINE_integer('step', None, 'Checkpoint step (default: latest).')
_BEST = flags.DEFINE_bool('best', False, 'Use the best checkpoint (train.select_by).')
_SEED = flags.DEFINE_integer('seed', 0, 't-SNE / sampling seed.')
# cells
_MIDI = flags.DEFINE_string('midi', None, 'cells: the piece (default: the first held-out piece).')
_CELLS = flags.DEFINE_integer('cells', 16, 'cells: how many of the most variable cells to draw.')
_PICK = flags.DEFINE_enum('pick', 'variable', ['variable', 'features'],
                          'cells: draw the most variable cells (a heat map), or for each property '
                          'of the music the cell that follows it best (lines, the property in '
                          'grey behind).')
_CELL = flags.DEFINE_integer('cell', None, 'cells: draw this one cell (of --layer) as a line.')
_LAYER = flags.DEFINE_integer('layer', None, 'cells: the LSTM layer (1 = the first; default: all '
                              'layers for --cells, the last for --cell).')
_STATE = flags.DEFINE_enum('state', 'h', ['h', 'c'], 'cells: the outputs h or the memory cells c.')
_START = flags.DEFINE_integer('start', 0, 'cells: first step drawn (events or frames).')
_LENGTH = flags.DEFINE_integer('length', None, 'cells: steps drawn (default: the piece, at most '
                               '600); code_schedule: frames generated (default sample.length).')
# t-SNE
_SOURCE = flags.DEFINE_string('source', None, "tsne_keys: corpus name or MIDI folder (default: "
                              "the workdir's, else 'bach').")
_MAX_PIECES = flags.DEFINE_integer('max_pieces', None, 'tsne_keys: at most this many pieces.')
_SHARPEN = flags.DEFINE_float('sharpen', 0.03, 'tsne_keys: temperature of the sharpened panel.')
_PERPLEXITY = flags.DEFINE_float('perplexity', 30.0, 't-SNE perplexity.')
_TABLE = flags.DEFINE_enum('table', 'embed', ['embed', 'context'],
                           'tsne_events: the input (center) table or the output one.')
_UNSEEN = flags.DEFINE_bool('include_unseen', False, 'tsne_events: also events absent from the '
                            'training data (untrained vectors).')
# code schedule
_SCHEDULE = flags.DEFINE_string('schedule', None, 'code_schedule: constant, linspace, ab, song '
                                '(default config.sample.schedule).')
_NUM = flags.DEFINE_integer('num', 2, 'code_schedule: number of samples.')

from launch.visualize_runs import (  # noqa: E402  (the commands' work)
    DEFAULT_MAX_STEPS, run_cells, run_code_schedule, run_tsne_events, run_tsne_keys)




# ---------------------------------------------------------------------------------------------


def _print_info(what, info) -> None:
  if what == 'cells':
    print(f'{info["piece"]}: steps {info["steps"][0]}..{info["steps"][1] - 1}, layers '
          f'{info["layer_sizes"]}; the cell that follows each property best (all cells):')
    for row in info['best_cell_per_feature']:
      kind = 'eta' if row['feature'] in ('bar_position',) else 'r'
      print(f'  {row["feature"]:22s} {row["cell"]:>9s}  {kind} = {row["value"]:+.2f}')
  elif what == 'tsne_keys':
    print(f'{info["pieces"]} pieces of {info["source"]}; keys: {info["keys"]}')
    for label, spaces in info['neighbours'].items():
      for space, rel in spaces.items():
        text = ', '.join(f'{r} {v["neighbours"]:.0%} (chance {v["chance"]:.0%})'
                         for r, v in rel.items())
        print(f'  {label} [{space}] 5 nearest: {text}')
      rows = info['nearest_key_cluster'][label]
      if rows:
        counts = {}
        for row in rows:
          counts[row['relation']] = counts.get(row['relation'], 0) + 1
        print(f'  {label} [tsne_map] nearest key cluster (keys of 3+ pieces): ' + ', '.join(
            f'{r} {n}/{len(rows)}' for r, n in counts.items()) + ' (' + ', '.join(
                f'{row["key"]}->{row["nearest"]}' for row in rows) + ')')
  elif what == 'tsne_events':
    for space in ('tsne_map', 'cosine_space'):
      n = info[space]
      text = (f'same type {n["same_type"]["neighbours"]:.0%} (chance '
              f'{n["same_type"]["chance"]:.0%})')
      if 'note_on_pitch_gap' in n:
        g = n['note_on_pitch_gap']
        text += (f', note-on to nearest note-on: median {g["nearest"]:g} semitones (random '
                 f'pair: {g["chance"]:g})')
      if 'note_on_same_pitch_class' in n:
        g = n['note_on_same_pitch_class']
        text += (f', nearest note-on of the same pitch class: {g["nearest"]:.0%} (random pair: '
                 f'{g["chance"]:.0%})')
      if 'on_off_pairs' in n:
        text += (f', note-on with its own note-off among the 5 nearest: '
                 f'{n["on_off_pairs"]["share"]:.0%} of {n["on_off_pairs"]["pairs"]}')
      print(f'  {space}: {text}')
  elif what == 'code_schedule':
    print(f'schedule {info["schedule"]}: codes {info["code_shape"]} ({info["frames_per_code"]} '
          f'frames per code step); mean |code change| per step {info["code_change_per_step"]:.3f}, '
          f'mean keys changing per frame {info["frame_change_per_step"]:.2f}')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)
  what = _WHAT.value
  if what not in WHATS:
    raise cli.UsageError(f'--what={what}: expected one of {", ".join(WHATS)}')
  if _STEP.value is not None and _BEST.value:
    raise cli.UsageError('give one of --step and --best, not both')
  common = dict(out=_OUT.value)
  if what == 'cells':
    if _CELL.value is not None and flags.FLAGS['cells'].present:
      raise cli.UsageError('give one of --cells and --cell, not both')
    path, info = run_cells(_WORKDIR.value, midi=_MIDI.value, cells=_CELLS.value,
                           cell=_CELL.value, layer=_LAYER.value, state=_STATE.value,
                           start=_START.value, length=_LENGTH.value, step=_STEP.value,
                           best=_BEST.value, pick=_PICK.value, **common)
  elif what == 'tsne_keys':
    path, info = run_tsne_keys(_WORKDIR.value, source=_SOURCE.value, max_pieces=_MAX_PIECES.value,
                               sharpen=_SHARPEN.value, seed=_SEED.value,
                               perplexity=_PERPLEXITY.value, **common)
  elif what == 'tsne_events':
    path, info = run_tsne_events(_WORKDIR.value, table=_TABLE.value,
                                 include_unseen=_UNSEEN.value, seed=_SEED.value,
                                 perplexity=_PERPLEXITY.value, step=_STEP.value, **common)
  else:
    path, info = run_code_schedule(_WORKDIR.value, schedule=_SCHEDULE.value, num=_NUM.value,
                                   length=_LENGTH.value, seed=_SEED.value, step=_STEP.value,
                                   best=_BEST.value, **common)
  _print_info(what, info)
  print(f'figure: {path}')


if __name__ == '__main__':
  runtime.reexec_with_huge_pages()  # before any XLA work: see dsjax/runtime.py
  cli.run(main, required=['what'])
