"""How tasks get their data from a config: splits from the cache, training streams, eval batches.

Every task reads ``config.data`` through these functions, so the source options, window, batch
size, piece weighting, transposition and per-host slicing mean the same in every experiment::

  train = load_split(config, 'events', 'train')
  stream = train_stream(config, train, process_index, process_count, shifted=True,
                        transposition=event_transposition(config, vocab))
  batches = eval_stream(config, load_eval_splits(config, 'events'))
"""

from __future__ import annotations

from dsjax.data import pianoroll as roll_lib
from dsjax.data.augment import EventTransposition, RollTransposition
from dsjax.data.eval_batches import eval_batches
from dsjax.data.notes import SequenceSet
from dsjax.data.windows import WindowSampler


def roll_config(config) -> roll_lib.RollConfig:
  """The piano-roll grid of ``config.data.roll``."""
  r = config.data.roll
  return roll_lib.RollConfig(grid=str(r.grid), step=float(r.step), keys=int(r.pitches))


def encoding_options(config, encoding: str) -> dict:
  d = config.data
  if encoding == 'events':
    e = d.events
    return dict(shift_ms=int(e.shift_ms), max_shift_steps=int(e.max_shift_steps),
                velocity_bins=str(e.velocity_bins))
  if encoding in ('pianoroll', 'aligned'):
    r = d.roll
    return dict(grid=str(r.grid), step=float(r.step), keys=int(r.pitches))
  if encoding == 'voice_rolls':
    r = d.roll
    return dict(voices=int(d.voices), grid=str(r.grid), step=float(r.step), keys=int(r.pitches),
                include_drums=False)
  raise ValueError(f'unknown encoding {encoding!r}')


def source_options(config) -> dict:
  """The options of ``config.data`` that ``config.data.source`` takes (:func:`corpora.get_source`).

  ``max_pieces`` and, for a folder, ``drop_drums``, ``sustain_pedal``, ``programs``; for benchmark
  rolls ``frame_beats``. A source option set away from its default for a source that has no such
  option is an error (``drop_drums``, on by default, only applies where there are drums).
  """
  from dsjax.data import corpora
  d = config.data
  opts = dict(max_pieces=int(d.max_pieces) or None, drop_drums=bool(d.drop_drums),
              sustain_pedal=bool(d.sustain_pedal), programs=tuple(int(p) for p in d.programs),
              frame_beats=float(d.frame_beats) or None)
  allowed = corpora.source_option_names(d.source)
  for name, value in opts.items():
    if name not in allowed and name != 'drop_drums' and value:
      raise ValueError(f'config.data.{name}={d[name]!r} does not apply to source {d.source!r} '
                       f'(its options: {", ".join(allowed)})')
  return {k: v for k, v in opts.items() if k in allowed}


def load_split(config, encoding: str, split: str) -> SequenceSet:
  """The ``split`` of ``config.data.source`` in ``encoding``, from the preprocessing cache (its
  key holds the source options, so changing one rebuilds it); ``config.data.transpose_to_c``
  moves every piece to C major / A minor first."""
  from dsjax.data import cache
  d = config.data
  extra = {'transpose_to_c': True} if bool(d.transpose_to_c) else {}
  return cache.load_dataset(d.source, encoding, split, cache_dir=d.cache_dir or None, **extra,
                            **source_options(config), **encoding_options(config, encoding))


def load_eval_splits(config, encoding: str) -> dict[str, SequenceSet]:
  """``{split: SequenceSet}`` for every split of ``config.data.eval_splits``."""
  return {s: load_split(config, encoding, s) for s in config.data.eval_splits}


def event_transposition(config, vocab) -> EventTransposition | None:
  """Train-only transposition of event ids by up to ``config.data.transpose`` semitones."""
  t = int(config.data.transpose)
  if t <= 0:
    return None
  return EventTransposition(max_shift=t, note_on_offset=vocab.note_on_offset,
                            note_off_offset=vocab.note_off_offset, num_pitches=128)


def roll_transposition(config) -> RollTransposition | None:
  """Train-only transposition of rolls by up to ``config.data.transpose`` keys."""
  t = int(config.data.transpose)
  return RollTransposition(t) if t > 0 else None


def train_stream(config, seqs: SequenceSet, process_index: int, process_count: int, *,
                 shifted: bool, transposition=None, short: str = 'pad', seed: int | None = None,
                 with_info: bool = False) -> WindowSampler:
  """This process's slice of random training windows of ``seqs``.

  ``config.data``: window, batch_size (global), piece_weighting. ``shifted``: batches hold
  ``inputs``/``targets`` one step apart (language models) or ``inputs`` only (GANs, skip-gram).
  ``short``: 'pad' (shorter pieces padded and masked) or 'skip' (never drawn). ``seed`` replaces
  ``config.seed`` (several seeds side by side); ``with_info`` adds ``piece_ids`` and ``starts``.
  """
  d = config.data
  return WindowSampler(
      seqs, int(d.window), int(d.batch_size), seed=int(config.seed if seed is None else seed),
      shifted=shifted, piece_weighting=str(d.piece_weighting), short=short,
      augment=transposition, process_index=process_index, process_count=process_count,
      prefetch=2, with_info=with_info)


def eval_stream(config, eval_sets: dict[str, SequenceSet], *, shifted: bool = True
                ) -> dict[str, list[dict]]:
  """``{split: [padded, masked batches of whole pieces]}`` for the splits that have pieces
  (``config.data``: eval_batch_size, eval_max_len; 0 = whole pieces, batched longest first so
  each batch pads only to its own longest piece; chunks of eval_max_len: one shape)."""
  d = config.data
  max_len = int(d.eval_max_len) or None
  return {split: list(eval_batches(seqs, int(d.eval_batch_size), max_len, shifted=shifted,
                                   by_length=max_len is None))
          for split, seqs in eval_sets.items() if len(seqs)}


def openings(seqs: SequenceSet, rng, num: int, length: int, *, with_ids: bool = False):
  """The first ``length`` items of ``num`` distinct random pieces ``[num, length, ...]`` (primers);
  with ``with_ids``, also the pieces' indices ``[num]``.

  ``length`` is capped at the longest piece; pieces shorter than it are never drawn. ``rng`` is a
  jax key (its key data seeds numpy, so the choice is reproducible).
  """
  import jax
  import numpy as np
  g = np.random.default_rng(np.asarray(jax.random.key_data(rng)).ravel().tolist())
  length = min(length, int(seqs.lengths.max()))
  candidates = np.flatnonzero(seqs.lengths >= length)
  picks = g.choice(candidates, size=num, replace=len(candidates) < num)
  out = np.stack([seqs[int(i)][:length] for i in picks])
  return (out, picks) if with_ids else out
