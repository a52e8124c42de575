"""Evaluation reports: a run's samples scored against held-out real music of its corpus.

``python -m launch.evaluate --workdir=DIR`` calls :func:`evaluate_run`, which restores the run,
draws seeded samples through its :class:`~dsjax.tasks.base.Sampler` and writes ``report.json``,
``report.md`` and the figures. The pieces it is made of are plain functions that a table or a test
can call on their own:

* :func:`windows_of`: the real music a report compares with: a window of ``length`` steps of each
  of ``num`` pieces of a split (in the run's encoding), starting at step ``start`` (after the
  sampler's primer, so that real and generated windows sit at the same place in a piece).
* :func:`music_of_pieces`: pieces (notes) -> :class:`Music`, their rolls and onset rolls on the
  statistics grid (:func:`statistics_grid`: a beat grid, so that beats and bars mean the same
  for every run; event runs' pieces are read at their 120 qpm).
* :func:`music_statistics`: :func:`dsjax.eval.music_stats.describe` of a :class:`Music` (note
  density, polyphony and its rate, pitch range, which C-RNN-GAN calls tone span, pitch classes
  used, pitch-class entropy, scale consistency, empty-beat rate, groove consistency, repetition
  rate), plus notes per piece and the mean pairwise distance (diversity).
* :func:`pitch_class_histogram` / :func:`melody_interval_histogram` of a :class:`Music` (rolls of
  any lengths) and :func:`divergences`: their Jensen-Shannon divergences (nats) between two sets.
* :func:`plagiarism`: for each note sequence, the largest LCS ratio against every training piece
  and that piece's name (:func:`dsjax.eval.similarity.plagiarism_check`), and the longest run of
  consecutive notes copied from one training piece; :func:`summarize`.
* :func:`continuation_bleu`: BLEU of generated continuations against the true ones (the log's
  10/15 protocol: prime with the first ``k`` events of held-out windows, generate the rest).
* :func:`reference_scores`: frame NLL of two sets of pieces under a reference density model
  (:class:`dsjax.eval.reference.ReferenceModel`), on its own grid.
* :func:`markdown`: the report as Markdown; :func:`histogram_figure`: the histograms as a picture.

Every figure of ``report.json`` is a plain number (``null`` where undefined, e.g. groove
consistency of pieces shorter than two bars).
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import os
from typing import Any, Sequence

import numpy as np

from dsjax.data import pianoroll as roll_lib
from dsjax.data.notes import Piece, SequenceSet
from dsjax.eval import music_stats, similarity

BEATS_PER_BAR = 4             # bars of the statistics (every corpus read as 4/4)
EVENT_STATS_STEP = 0.25       # beats: the grid of runs whose own grid is not one of beats
BLEU_MAX_N = 4


# ---------------------------------------------------------------------------------------------
# Real music to compare with.


def windows_of(seqs: SequenceSet, num: int, start: int, length: int, seed: int = 0
               ) -> tuple[list[np.ndarray], list[str]]:
  """Items ``[start, start + length)`` of ``num`` distinct pieces of ``seqs``, and their names.

  The pieces are drawn at random (numpy, ``seed``) among those at least ``start + length`` items
  long. When fewer are that long, all of them are taken and then the longest of the others, whose
  windows are shorter (pieces of ``start`` items or fewer are never taken); fewer than ``num``
  windows come back only when the split has fewer such pieces.
  """
  if num < 1 or length < 1 or start < 0:
    raise ValueError(f'windows_of: num={num}, length={length}, start={start}: need num >= 1, '
                     'length >= 1, start >= 0')
  lengths = seqs.lengths
  full = np.flatnonzero(lengths >= start + length)
  g = np.random.default_rng(seed)
  if len(full) >= num:
    picks = np.sort(g.choice(full, size=num, replace=False))
  else:
    rest = np.flatnonzero((lengths < start + length) & (lengths > start))
    rest = rest[np.argsort(-lengths[rest], kind='stable')]
    picks = np.concatenate([full, rest[:num - len(full)]]).astype(np.int64)
  return ([np.asarray(seqs[int(i)][start:start + length]) for i in picks],
          [str(seqs.names[int(i)]) for i in picks])


# ---------------------------------------------------------------------------------------------
# Music on the statistics grid.


def statistics_grid(roll_cfg: roll_lib.RollConfig | None) -> roll_lib.RollConfig:
  """The grid statistics are computed on: the run's own grid when it is one of beats (a roll
  model's frames, frame for frame), else sixteenth notes (:data:`EVENT_STATS_STEP` beats) over
  the same keys (88 without a grid); always with an onset plane (re-struck notes stay notes)."""
  if roll_cfg is not None and roll_cfg.grid == 'beats':
    return roll_lib.RollConfig(grid='beats', step=float(roll_cfg.step), keys=int(roll_cfg.keys),
                               onset_plane=True)
  keys = int(roll_cfg.keys) if roll_cfg is not None else 88
  return roll_lib.RollConfig(grid='beats', step=EVENT_STATS_STEP, keys=keys, onset_plane=True)


def frames_per_beat(cfg: roll_lib.RollConfig) -> int:
  """Whole frames per beat of a beat grid (a step of 0.25 beats: 4); a ValueError for a grid
  whose beat is not a whole number of frames."""
  if cfg.grid != 'beats':
    raise ValueError(f'frames_per_beat: {cfg} is not a grid of beats')
  fpb = 1.0 / float(cfg.step)
  if abs(fpb - round(fpb)) > 1e-6 or round(fpb) < 1:
    raise ValueError(f'frames_per_beat: a step of {cfg.step} beats is not a whole number of '
                     'frames per beat')
  return int(round(fpb))


@dataclasses.dataclass
class Music:
  """Pieces and their rolls on one grid.

  Attributes:
    pieces: the notes.
    titles: a name per piece (for the report and the figures).
    rolls: sounding keys, ``uint8 [time, keys]`` per piece (lengths may differ).
    onsets: note starts, ``uint8 [time, keys]`` per piece.
    cfg: the grid (a :class:`~dsjax.data.pianoroll.RollConfig` of beats).
  """
  pieces: list[Piece]
  titles: list[str]
  rolls: list[np.ndarray]
  onsets: list[np.ndarray]
  cfg: roll_lib.RollConfig

  def __len__(self) -> int:
    return len(self.pieces)


def music_of_pieces(pieces: Sequence[Piece], titles: Sequence[str] | None,
                    cfg: roll_lib.RollConfig,
                    num_frames: int | Sequence[int] | None = None) -> Music:
  """Encodes ``pieces`` on ``cfg`` (which needs an onset plane, see :func:`statistics_grid`).

  ``num_frames``: every roll cut or padded with silence to that many frames (a roll model's
  window), or one such count per piece; None: each up to its last note's end, at least one frame
  (a silent piece has one silent frame).
  """
  if not cfg.onset_plane or cfg.velocity_plane:
    raise ValueError(f'music_of_pieces: {cfg} needs an onset plane and no velocity plane')
  pieces = list(pieces)
  titles = list(titles) if titles is not None else [p.name for p in pieces]
  if len(titles) != len(pieces):
    raise ValueError(f'{len(titles)} titles for {len(pieces)} pieces')
  onset = cfg.plane_index('onset')
  if num_frames is None or np.ndim(num_frames) == 0:
    num_frames = [num_frames] * len(pieces)
  if len(num_frames) != len(pieces):
    raise ValueError(f'{len(num_frames)} frame counts for {len(pieces)} pieces')
  rolls, onsets = [], []
  for p, frames in zip(pieces, num_frames):
    r = roll_lib.encode_pianoroll(p, cfg, num_frames=None if frames is None else int(frames))
    if len(r) == 0:
      r = np.zeros((1,) + cfg.frame_shape, cfg.dtype)
    rolls.append(np.ascontiguousarray(r[..., 0]))
    onsets.append(np.ascontiguousarray(r[..., onset]))
  return Music(pieces, titles, rolls, onsets, cfg)


def _cropped(rolls: Sequence[np.ndarray]) -> np.ndarray:
  """``[n, shortest, keys]``: every roll cut to the shortest one's frames."""
  t = min(len(r) for r in rolls)
  return np.stack([r[:t] for r in rolls])


def music_statistics(m: Music, beats_per_bar: int = BEATS_PER_BAR) -> dict[str, float]:
  """:func:`~dsjax.eval.music_stats.describe` of ``m`` (each figure the mean over pieces), plus
  ``notes`` (notes per piece), ``frames`` (frames per piece) and, for two pieces or more,
  ``diversity``: the mean pairwise distance of the rolls cut to the shortest one (0 when every
  piece is the same: mode collapse)."""
  if not len(m):
    raise ValueError('music_statistics: no pieces')
  out = music_stats.describe(m.rolls, lowest_pitch=m.cfg.lowest_pitch,
                             frames_per_beat=frames_per_beat(m.cfg),
                             beats_per_bar=beats_per_bar, onsets=m.onsets)
  out['notes'] = float(np.mean([len(p.notes) for p in m.pieces]))
  out['frames'] = float(np.mean([len(r) for r in m.rolls]))
  if len(m) >= 2:
    out['diversity'] = music_stats.mean_pairwise_distance(_cropped(m.rolls))
  return out


STATISTICS = music_stats.DESCRIBE_KEYS + ('notes', 'frames', 'diversity')
STATISTIC_LABELS = {
    'note_density': 'note density (keys sounding per frame)',
    'polyphony': 'polyphony (keys per sounding frame)',
    'polyphony_rate': 'polyphony rate (sounding frames with 2+ keys)',
    'pitch_range': 'pitch range = tone span (semitones)',
    'pitch_classes_used': 'pitch classes used (of 12)',
    'pitch_class_entropy': 'pitch-class entropy (bits)',
    'scale_consistency': 'scale consistency',
    'empty_beat_rate': 'empty-beat rate',
    'groove_consistency': 'groove consistency',
    'repetition_rate': 'repetitions (bars repeating an earlier bar)',
    'notes': 'notes per piece',
    'frames': 'frames per piece',
    'diversity': 'diversity (mean pairwise distance)',
}


def pitch_class_histogram(m: Music) -> np.ndarray:
  """``[12]``: the pitch-class histogram of every sounding cell of every roll of ``m``
  (:func:`~dsjax.eval.music_stats.pitch_class_histogram_of_rolls`; uniform when all silent)."""
  frames = np.concatenate(m.rolls)[None]
  return music_stats.pitch_class_histogram_of_rolls(frames, m.cfg.lowest_pitch)


def melody_interval_histogram(m: Music) -> np.ndarray:
  """``[len(MELODY_BINS)]``: the melody line's frame-to-frame moves, counted within each roll
  (never across two), over every roll of ``m``, normalised; ValueError when no roll has two
  frames."""
  counts = sum(music_stats.melody_interval_counts(r[None]) for r in m.rolls)
  if counts.sum() <= 0:
    raise ValueError('melody_interval_histogram: no roll has two frames')
  return counts / counts.sum()


def divergences(a: Music, b: Music) -> dict[str, float]:
  """``pitch_class_js`` and ``melody_js``: JS divergences (nats, at most ln 2) between the
  :func:`pitch_class_histogram` and :func:`melody_interval_histogram` of ``a`` and ``b``."""
  return {'pitch_class_js': music_stats.js_divergence(pitch_class_histogram(a),
                                                      pitch_class_histogram(b)),
          'melody_js': music_stats.js_divergence(melody_interval_histogram(a),
                                                 melody_interval_histogram(b))}


# ---------------------------------------------------------------------------------------------
# Plagiarism (LCS) and BLEU.


def note_sequences(pieces: Sequence[Piece]) -> list[np.ndarray]:
  """The pitches of each piece's notes in onset order (:func:`~dsjax.eval.similarity.
  piece_pitches`): what the LCS check compares."""
  return [similarity.piece_pitches(p) for p in pieces]


def plagiarism(queries: Sequence[np.ndarray], train: Sequence[np.ndarray],
               train_names: Sequence[str]) -> list[dict[str, Any]]:
  """For each query note sequence, the training piece sharing the longest common subsequence:
  ``{'notes', 'ratio' (lcs / notes), 'lcs', 'closest' (its name), 'closest_index'}``, and the
  longest run of consecutive notes found in one training piece
  (:func:`~dsjax.eval.similarity.longest_copy`): ``'copy'`` (notes), ``'copy_ratio'`` (copy /
  notes) and ``'copy_from'`` (that piece's name). A query without notes gets ratios None."""
  rows = []
  for q in queries:
    q = np.asarray(q).reshape(-1)
    if not len(q):
      rows.append({'notes': 0, 'ratio': None, 'lcs': 0, 'closest': None, 'closest_index': None,
                   'copy': 0, 'copy_ratio': None, 'copy_from': None})
      continue
    r = similarity.plagiarism_check(q, train, train_names)
    c = similarity.longest_copy(q, train, train_names)
    rows.append({'notes': int(len(q)), 'ratio': r.max_ratio, 'lcs': int(r.lcs[r.index]),
                 'closest': r.name, 'closest_index': r.index, 'copy': c.length,
                 'copy_ratio': c.ratio, 'copy_from': c.name})
  return rows


def summarize(rows: Sequence[dict]) -> dict[str, Any]:
  """``mean``, ``min`` and ``max`` of the :func:`plagiarism` LCS ratios and ``copy_mean``,
  ``copy_max`` of the copied-run ratios (over queries with notes; None without any),
  ``copy_longest`` (notes of the longest copied run), ``count`` of those queries, and ``rows``."""
  kept = [r for r in rows if r['ratio'] is not None]
  ratios = [r['ratio'] for r in kept]
  copies = [r['copy_ratio'] for r in kept]
  stats = {'mean': None, 'min': None, 'max': None, 'copy_mean': None, 'copy_max': None,
           'copy_longest': None}
  if kept:
    stats = {'mean': float(np.mean(ratios)), 'min': float(np.min(ratios)),
             'max': float(np.max(ratios)), 'copy_mean': float(np.mean(copies)),
             'copy_max': float(np.max(copies)), 'copy_longest': max(r['copy'] for r in kept)}
  return {**stats, 'count': len(kept), 'rows': list(rows)}


def bleu_windows(seqs: SequenceSet, num: int, length: int, seed: int = 0, *,
                 with_starts: bool = False):
  """``(windows int [num, length], piece indices [num])``: random windows of ``length`` items
  of ``seqs`` (a piece at random among those at least that long, with replacement, then a start
  in it; numpy ``seed``); the log's 10/15 test drew 100 windows of 55 events. With
  ``with_starts``, also each window's start in its piece ``[num]``."""
  candidates = np.flatnonzero(seqs.lengths >= length)
  if not len(candidates):
    raise ValueError(f'bleu_windows: no piece has {length} items (longest: '
                     f'{int(seqs.lengths.max()) if len(seqs) else 0})')
  g = np.random.default_rng(seed)
  picks = candidates[g.integers(len(candidates), size=num)]
  out, starts = [], []
  for i in picks:
    start = int(g.integers(0, seqs.lengths[i] - length + 1))
    out.append(np.asarray(seqs[int(i)])[start:start + length])
    starts.append(start)
  if with_starts:
    return np.stack(out), picks, np.asarray(starts, np.int64)
  return np.stack(out), picks


def other_piece_partners(picks: np.ndarray) -> np.ndarray | None:
  """For each window ``i`` (of piece ``picks[i]``), the next window in order (cyclically) that
  comes from another piece: ``int [num]``; None when every window is of one piece."""
  picks = np.asarray(picks)
  n = len(picks)
  out = np.empty(n, np.int64)
  for i in range(n):
    j = next((int((i + k) % n) for k in range(1, n) if picks[(i + k) % n] != picks[i]), None)
    if j is None:
      return None
    out[i] = j
  return out


def continuation_bleu(hypotheses: Sequence[Sequence[int]], references: Sequence[Sequence[int]],
                      max_n: int = BLEU_MAX_N) -> dict[str, Any]:
  """BLEU of each generated continuation against its true continuation (one reference each):
  ``corpus_bleu`` (:func:`~dsjax.eval.similarity.corpus_bleu`), ``sentence_bleu_mean`` (the
  mean of per-window BLEU, the original's ``nltk.bleu([reference], hypothesis)``), the corpus'
  n-gram ``precisions`` and ``brevity_penalty``."""
  if len(hypotheses) != len(references) or not len(hypotheses):
    raise ValueError(f'continuation_bleu: {len(hypotheses)} hypotheses, {len(references)} '
                     'references (need the same number, at least one)')
  refs = [[tuple(np.asarray(r).tolist())] for r in references]
  hyps = [tuple(np.asarray(h).tolist()) for h in hypotheses]
  corpus = similarity.corpus_bleu(hyps, refs, max_n)
  sentence = [similarity.corpus_bleu([h], [r], max_n).bleu for h, r in zip(hyps, refs)]
  return {'corpus_bleu': corpus.bleu, 'sentence_bleu_mean': float(np.mean(sentence)),
          'precisions': list(corpus.precisions), 'brevity_penalty': corpus.brevity_penalty}


# ---------------------------------------------------------------------------------------------
# The reference density model.


def reference_scores(model, sets: dict[str, Sequence[Piece]], num_frames: int | None = None
                     ) -> dict[str, Any]:
  """Frame NLL (nats per predicted frame) of each set of pieces under ``model`` (a
  :class:`~dsjax.eval.reference.ReferenceModel`), on the model's own grid: each piece encoded
  there and cut (or padded with silence) to ``num_frames``, or by default to the shortest piece
  of all sets (at least 2 frames). ``{set: nll, ..., 'frames': F, 'grid': ...}``."""
  cfg = model.roll_cfg
  rolls = {k: [roll_lib.encode_pianoroll(p, cfg) for p in v] for k, v in sets.items()}
  if num_frames is None:
    num_frames = max(2, min(len(r) for v in rolls.values() for r in v))
  out: dict[str, Any] = {}
  for k, v in rolls.items():
    x = np.zeros((len(v), num_frames, cfg.keys), np.uint8)
    for i, r in enumerate(v):
      x[i, :min(len(r), num_frames)] = r[:num_frames]
    out[k] = model.frame_nll(x)
  out['frames'] = int(num_frames)
  out['grid'] = f'{cfg.grid} of {cfg.step:g}, {cfg.keys} keys'
  out['model'] = model.describe()
  return out


# ---------------------------------------------------------------------------------------------
# A whole run.


def check_reference(workdir: str) -> None:
  """Refuses (a ValueError naming ``--reference``), from its ``config.json`` alone, a reference
  that is not a piano-roll LM run."""
  from dsjax.eval.reference import REFERENCE_TASK
  from dsjax.train.loop import load_config
  if not os.path.exists(os.path.join(workdir, 'config.json')):
    raise FileNotFoundError(f'--reference={workdir}: not a dsjax workdir (no config.json); train '
                            'one with python -m launch.train '
                            '--config=configs/pianoroll_pitchrnn.py:reference')
  task = str(load_config(workdir).task)
  if task != REFERENCE_TASK:
    raise ValueError(f'--reference={workdir}: a {task!r} run; the reference must be a '
                     f'{REFERENCE_TASK!r} run')


def _held_out_split(task) -> tuple[str, SequenceSet]:
  """The held-out split in the run's encoding: ``test`` if the task evaluates on it, else its
  first eval split; a GAN (no eval splits) reads its ``test`` rolls."""
  sets = getattr(task, 'eval_sets', None) or {}
  sets = {k: v for k, v in sets.items() if len(v)}
  if 'test' in sets:
    return 'test', sets['test']
  if sets:
    split = next(iter(sets))
    return split, sets[split]
  if str(task.config.task) == 'gan':
    from dsjax.tasks import datasets
    return 'test', datasets.load_split(task.config, 'pianoroll', 'test')
  raise ValueError(f'{task.config.task}: no held-out split to compare with '
                   '(config.data.eval_splits is empty)')


def _jsonable(x):
  """NaN and infinities -> None, numpy scalars and arrays -> Python, recursively."""
  if isinstance(x, dict):
    return {str(k): _jsonable(v) for k, v in x.items()}
  if isinstance(x, (list, tuple)):
    return [_jsonable(v) for v in x]
  if isinstance(x, np.ndarray):
    return _jsonable(x.tolist())
  if isinstance(x, (np.integer,)):
    return int(x)
  if isinstance(x, (float, np.floating)):
    return float(x) if math.isfinite(float(x)) else None
  return x


def _takes(fn, name: str) -> bool:
  return name in inspect.signature(fn).parameters


def evaluate_run(workdir: str, *, num: int = 16, length: int | None = None, best: bool = False,
                 seed: int = 0, out: str | None = None, reference: str | None = None,
                 bleu_windows_num: int = 100, bleu_primer: int = 5, bleu_length: int = 50,
                 figure_rows: int = 4, log=print) -> dict[str, Any]:
  """Restores ``workdir`` (its best checkpoint with ``best``), samples ``num`` pieces of
  ``length`` steps (default ``config.sample.length``) with ``fold_in(key(seed), step)``, scores
  them against as many held-out windows, writes ``report.json``, ``report.md``,
  ``pianoroll.png`` and ``histograms.png`` into ``out`` (default ``WORKDIR/evaluate/step_N``)
  and returns the report. ``reference``: a piano-roll LM workdir whose frame NLL of samples and
  real windows is reported. BLEU (event runs whose sampler takes ``primer_ids``):
  ``bleu_windows_num`` held-out windows, ``bleu_primer`` primer events, ``bleu_length`` generated.
  """
  import jax
  from dsjax import viz
  from dsjax.train.loop import restore_for_inference

  if num < 1:
    raise ValueError(f'--num={num}: must be at least 1')
  if not os.path.exists(os.path.join(workdir, 'config.json')):
    raise FileNotFoundError(f'--workdir={workdir}: not a dsjax workdir (no config.json)')
  if reference:
    check_reference(reference)
  config, trainer, state, step = restore_for_inference(workdir, best=best)
  sampler, task = trainer.sampler, trainer.task
  if sampler is None:
    raise ValueError(f'--workdir={workdir}: its {config.task} run makes no music to evaluate '
                     '(its task has no sampler)')
  length = int(config.sample.length if length is None else length)
  if length < 2:
    raise ValueError(f'--length={length}: must be at least 2')
  out = out or os.path.join(workdir, 'evaluate', f'step_{step:07d}')
  os.makedirs(out, exist_ok=True)
  report: dict[str, Any] = {
      'workdir': os.path.abspath(workdir), 'task': str(config.task), 'step': int(step),
      'checkpoint': 'best' if best else 'latest', 'seed': int(seed), 'num': int(num),
      'length': length}

  # Held-out NLL: the trainer's own evaluation of the task's eval batches.
  batches = task.eval_batches()
  if batches:
    log(f'held-out evaluation: {", ".join(batches)}')
    report['held_out_metrics'] = dict(trainer.evaluate(state, batches))
  else:
    report['held_out_metrics'] = None

  # Samples; the primer's steps (real music) are cut off.
  log(f'sampling {num} x {length} steps')
  rng = jax.random.fold_in(jax.random.key(seed), step)
  samples = np.asarray(sampler.sample(state, rng, num, length))
  primer = int(samples.shape[1] - length)
  if primer < 0:
    raise RuntimeError(f'{sampler.name}.sample returned {samples.shape[1]} steps for length '
                       f'{length}')
  generated = samples[:, primer:]
  report['primer_steps'] = primer

  split, held = _held_out_split(task)
  real_items, real_names = windows_of(held, num, primer, length, seed)
  train_items, train_names = windows_of(task.train_set, num, primer, length, seed + 1)
  report['real'] = {'split': split, 'windows': len(real_items), 'start': primer,
                    'lengths': [int(len(x)) for x in real_items], 'pieces': real_names,
                    'train_windows': len(train_items)}

  roll_cfg = getattr(sampler, 'roll_cfg', None)
  grid = statistics_grid(roll_cfg)
  own_grid = roll_cfg is not None and roll_cfg.grid == 'beats'
  frames = length if own_grid else None
  sample_pieces = sampler.to_pieces(generated)
  music = {
      'samples': music_of_pieces(sample_pieces, [f'sample {i}' for i in range(num)], grid, frames),
      # a real window shorter than the samples (a short piece) is not padded with silence
      'real': music_of_pieces(sampler.to_pieces(real_items), real_names, grid,
                              frames and [min(frames, len(x)) for x in real_items]),
      'train': music_of_pieces(sampler.to_pieces(train_items), train_names, grid,
                               frames and [min(frames, len(x)) for x in train_items])}
  report['statistics_grid'] = {'step_beats': grid.step, 'keys': grid.keys,
                               'frames_per_beat': frames_per_beat(grid),
                               'beats_per_bar': BEATS_PER_BAR,
                               'from': 'the run\'s rolls' if own_grid else 'decoded notes'}
  report['statistics'] = {k: music_statistics(m) for k, m in music.items()}
  report['divergences'] = {'samples_vs_real': divergences(music['samples'], music['real']),
                           'train_vs_real': divergences(music['train'], music['real'])}
  report['pitch_class_histograms'] = {k: pitch_class_histogram(m).tolist()
                                      for k, m in music.items()}
  report['melody_interval_histograms'] = {k: melody_interval_histogram(m).tolist()
                                          for k, m in music.items()}
  report['melody_bins'] = list(music_stats.MELODY_BINS)

  # Plagiarism: each sample's and each held-out window's notes against every training piece.
  log(f'LCS against {len(task.train_set)} training pieces')
  train_pieces = sampler.to_pieces([task.train_set[i] for i in range(len(task.train_set))])
  train_seqs = note_sequences(train_pieces)
  train_all_names = [str(n) for n in task.train_set.names]
  report['plagiarism'] = {
      'train_pieces': len(train_seqs),
      'samples': summarize(plagiarism(note_sequences(music['samples'].pieces), train_seqs,
                                      train_all_names)),
      'real': summarize(plagiarism(note_sequences(music['real'].pieces), train_seqs,
                                   train_all_names))}

  # BLEU (log 10/15): event runs whose sampler continues given primer ids.
  report['bleu'] = None
  if _takes(sampler.sample, 'primer_ids'):
    log(f'BLEU: {bleu_windows_num} held-out windows, {bleu_primer} + {bleu_length} events')
    windows, picks, starts = bleu_windows(held, bleu_windows_num, bleu_primer + bleu_length,
                                          seed, with_starts=True)
    options = {}
    cond = getattr(sampler, 'cond', None)
    if cond is not None and cond.kind != 'none':
      # the piece's statistics without the continuation being scored
      def without_truth(i, start):
        piece = np.asarray(held[int(i)])
        cut = start + bleu_primer
        return np.concatenate([piece[:cut], piece[cut + bleu_length:]])
      options['condition'] = np.stack([sampler.condition_from_events(without_truth(i, st))
                                       for i, st in zip(picks, starts)])
    out_ids = np.asarray(sampler.sample(state, jax.random.fold_in(rng, 15), len(windows),
                                        bleu_length, primer_ids=windows[:, :bleu_primer],
                                        **options))
    truth = windows[:, bleu_primer:]
    partners = other_piece_partners(picks)
    report['bleu'] = {
        'windows': len(windows), 'pieces': int(len(set(picks.tolist()))),
        'primer': bleu_primer, 'length': bleu_length,
        'max_n': BLEU_MAX_N,
        'samples': continuation_bleu(out_ids[:, bleu_primer:], truth),
        # another piece's true continuation: what real music that ignores the primer scores
        'other_real': (None if partners is None
                       else continuation_bleu(truth[partners], truth))}

  # The reference density model.
  report['reference'] = None
  if reference:
    from dsjax.eval.reference import ReferenceModel
    log(f'reference model {reference}')
    model = ReferenceModel(reference, key='--reference')
    same = (roll_cfg is not None and (roll_cfg.grid, float(roll_cfg.step), roll_cfg.keys)
            == (model.roll_cfg.grid, float(model.roll_cfg.step), model.roll_cfg.keys))
    report['reference'] = reference_scores(
        model, {k: m.pieces for k, m in music.items()}, length if same else None)

  # Figures.
  k = min(figure_rows, num)
  options = sampler.figure_options()
  plag = report['plagiarism']['samples']['rows']
  titles = [f'sample {i}' + (f' (closest: {r["closest"]}, LCS {r["ratio"]:.2f}; longest copied '
                             f'run {r["copy"]} notes)' if r['ratio'] is not None else
                             ' (no notes)')
            for i, r in enumerate(plag[:k])]
  real_titles = [f'{n} (held out, {split})' for n in real_names[:k]]
  image = viz.pianoroll_figure(
      sampler.to_rolls(generated[:k]), sampler.to_rolls(real_items[:k]), sample_titles=titles,
      real_titles=real_titles, title=f'{os.path.basename(os.path.abspath(workdir))}, step {step}:'
      f' samples (left) and held-out real music (right)', **options)
  viz.save_png(image, os.path.join(out, 'pianoroll.png'))
  viz.save_png(histogram_figure(report), os.path.join(out, 'histograms.png'))
  report['figures'] = ['pianoroll.png', 'histograms.png']

  report = _jsonable(report)
  with open(os.path.join(out, 'report.json'), 'w') as f:
    json.dump(report, f, indent=1)
  with open(os.path.join(out, 'report.md'), 'w') as f:
    f.write(markdown(report))
  report['out'] = out
  return report


# ---------------------------------------------------------------------------------------------
# Presentation.


def _fmt(x, digits: int = 3) -> str:
  if x is None:
    return '-'
  if isinstance(x, float):
    return f'{x:.{digits}f}'
  return str(x)


def markdown(report: dict) -> str:
  """The report (as :func:`evaluate_run` returns it) as Markdown."""
  r = report
  lines = [f"# Evaluation of {r['workdir']}", '',
           f"Task `{r['task']}`, {r['checkpoint']} checkpoint (step {r['step']}); {r['num']} "
           f"samples of {r['length']} steps (seed {r['seed']}), after a primer of "
           f"{r['primer_steps']} real steps (cut off). Real music: {r['real']['windows']} "
           f"windows of held-out `{r['real']['split']}` pieces from step {r['real']['start']} "
           f"(lengths {min(r['real']['lengths'])} to {max(r['real']['lengths'])}); train: "
           f"{r['real']['train_windows']} windows of training pieces at the same place.", '']
  if r.get('held_out_metrics'):
    lines += ['## Held-out evaluation (teacher forced)', '', '| metric | value |', '|---|---|']
    lines += [f'| {k} | {_fmt(v, 4)} |' for k, v in r['held_out_metrics'].items()]
    lines.append('')
  g = r['statistics_grid']
  lines += ['## Music statistics (mean over pieces)', '',
            f"On a grid of {g['step_beats']:g} beats ({g['frames_per_beat']} frames per beat, "
            f"bars of {g['beats_per_bar']} beats, from {g['from']}); pitch range is C-RNN-GAN's "
            'tone span.', '',
            '| statistic | samples | held-out real | train |', '|---|---|---|---|']
  s = r['statistics']
  for key in STATISTICS:
    if key in s['samples']:
      lines.append(f"| {STATISTIC_LABELS[key]} | {_fmt(s['samples'].get(key))} | "
                   f"{_fmt(s['real'].get(key))} | {_fmt(s['train'].get(key))} |")
  d = r['divergences']
  lines += ['', '## Histogram divergences (Jensen-Shannon, nats; at most ln 2 = 0.693)', '',
            '| histogram | samples vs held-out | train vs held-out (floor) |', '|---|---|---|',
            f"| pitch classes | {_fmt(d['samples_vs_real']['pitch_class_js'], 4)} | "
            f"{_fmt(d['train_vs_real']['pitch_class_js'], 4)} |",
            f"| melody intervals | {_fmt(d['samples_vs_real']['melody_js'], 4)} | "
            f"{_fmt(d['train_vs_real']['melody_js'], 4)} |", '']
  if r.get('bleu'):
    b = r['bleu']
    lines += ['## BLEU (log 10/15)', '',
              f"{b['windows']} random held-out windows: primed with the first {b['primer']} "
              f"events, {b['length']} events generated and scored against the true "
              f"continuation (n-grams up to {b['max_n']}); a conditioned run is conditioned on "
              "its piece without that continuation. 'Other real': the true continuation of a "
              'window of another piece, scored the same way.', '',
              '| continuation | corpus BLEU | mean sentence BLEU | precisions 1-4 | BP |',
              '|---|---|---|---|---|']
    for name, label in (('samples', 'generated'), ('other_real', 'other real')):
      x = b[name]
      if x is None:
        lines.append(f'| {label} | – (every window is of one piece) | | | |')
        continue
      lines.append(f"| {label} | {_fmt(x['corpus_bleu'], 4)} | "
                   f"{_fmt(x['sentence_bleu_mean'], 4)} | "
                   f"{' / '.join(_fmt(p, 3) for p in x['precisions'])} | "
                   f"{_fmt(x['brevity_penalty'], 3)} |")
    lines.append('')
  p = r['plagiarism']
  lines += ['## Plagiarism (LCS of note sequences against every training piece)', '',
            f"LCS ratio: the largest LCS / notes of the piece against each of "
            f"{p['train_pieces']} training pieces (the log 10/20; pitches in onset order). A "
            'subsequence may skip any notes of a long piece, so short windows of any music in '
            'the style score high: compare with the held-out row. Copied run: the longest run '
            'of consecutive notes also found, as a run, in one training piece.', '',
            '| pieces | LCS ratio mean | min | max | copied run / notes, mean | max | '
            'longest copied run (notes) |', '|---|---|---|---|---|---|---|']
  for name, label in (('samples', 'samples'), ('real', 'held-out real')):
    x = p[name]
    lines.append(f"| {label} | {_fmt(x['mean'])} | {_fmt(x['min'])} | {_fmt(x['max'])} | "
                 f"{_fmt(x['copy_mean'])} | {_fmt(x['copy_max'])} | {_fmt(x['copy_longest'])} |")
  lines += ['', '| piece | notes | LCS | ratio | closest training piece | copied run | from |',
            '|---|---|---|---|---|---|---|']
  for rows, names in ((p['samples']['rows'], None), (p['real']['rows'], r['real']['pieces'])):
    for i, row in enumerate(rows):
      name = f'sample {i}' if names is None else f'{names[i]} (held out)'
      lines.append(f"| {name} | {row['notes']} | {row['lcs']} | {_fmt(row['ratio'])} | "
                   f"{row['closest'] or '-'} | {row['copy']} | {row['copy_from'] or '-'} |")
  lines.append('')
  if r.get('reference'):
    x = r['reference']
    lines += ['## Reference density model', '',
              f"Frame NLL (nats per predicted frame, teacher forced from each window's first "
              f"frame) under {x['model']}, on its grid ({x['grid']}), windows of {x['frames']} "
              'frames.', '', '| pieces | frame NLL |', '|---|---|',
              f"| samples | {_fmt(x['samples'], 4)} |",
              f"| held-out real | {_fmt(x['real'], 4)} |",
              f"| train | {_fmt(x['train'], 4)} |", '']
  lines += ['## Figures', '', '![piano rolls](pianoroll.png)', '',
            '![histograms](histograms.png)', '']
  return '\n'.join(lines)


def histogram_figure(report: dict) -> np.ndarray:
  """RGB uint8 ``[height, width, 3]``: the pitch-class and melody-interval histograms of the
  samples, the held-out real windows and the training windows, side by side as bars."""
  from matplotlib.backends.backend_agg import FigureCanvasAgg
  from matplotlib.figure import Figure
  from dsjax import viz
  fig = Figure(figsize=(12, 3.6), dpi=100)
  FigureCanvasAgg(fig)
  sets = (('samples', viz.NOTE_COLOUR), ('real', '#d95f02'), ('train', '#999999'))
  labels = {'samples': 'samples', 'real': 'held-out real', 'train': 'train'}
  d = report['divergences']['samples_vs_real']
  panels = ((report['pitch_class_histograms'], list(viz.PITCH_NAMES),
             f"pitch classes (JS samples vs real {_fmt(d['pitch_class_js'], 3)} nats)"),
            (report['melody_interval_histograms'], list(report['melody_bins']),
             f"melody moves (JS samples vs real {_fmt(d['melody_js'], 3)} nats)"))
  for i, (hists, names, title) in enumerate(panels):
    ax = fig.add_axes((0.05 + 0.5 * i, 0.32, 0.42, 0.58))
    x = np.arange(len(names))
    for j, (key, colour) in enumerate(sets):
      ax.bar(x + (j - 1) * 0.27, hists[key], width=0.27, color=colour, label=labels[key])
    ax.set_xticks(x, names, rotation=60 if len(names) > 12 else 0, ha='right' if len(names) > 12
                  else 'center', fontsize=7)
    ax.tick_params(labelsize=7)
    ax.set_ylabel('share', fontsize=8)
    ax.set_title(title, fontsize=9)
    if i == 0:
      ax.legend(fontsize=7)
  return viz.figure_image(fig)
