"""How tasks get their data from a config: one place that maps ``config.data`` to a SequenceSet."""

from __future__ import annotations

from dsjax.data.notes import SequenceSet


def encoding_options(config, encoding: str) -> dict:
  d = config.data
  if encoding == 'events':
    e = d.events
    return dict(shift_ms=int(e.shift_ms), max_shift_steps=int(e.max_shift_steps),
                velocity_bins=str(e.velocity_bins))
  if encoding in ('pianoroll', 'aligned'):
    r = d.roll
    return dict(grid=str(r.grid), step=float(r.step), keys=int(r.pitches))
  raise ValueError(f'unknown encoding {encoding!r}')


def load_split(config, encoding: str, split: str) -> SequenceSet:
  """The ``split`` of ``config.data.source`` in ``encoding``, from the preprocessing cache."""
  from dsjax.data import cache
  d = config.data
  return cache.load_dataset(d.source, encoding, split, cache_dir=d.cache_dir or None,
                            max_pieces=int(d.max_pieces) or None,
                            **encoding_options(config, encoding))


def openings(seqs: SequenceSet, rng, num: int, length: int):
  """The first ``length`` items of ``num`` distinct random pieces ``[num, length, ...]`` (primers).

  ``length`` is capped at the longest piece; pieces shorter than it are never drawn. ``rng`` is a
  jax key (its key data seeds numpy, so the choice is reproducible).
  """
  import jax
  import numpy as np
  g = np.random.default_rng(np.asarray(jax.random.key_data(rng)).ravel().tolist())
  length = min(length, int(seqs.lengths.max()))
  candidates = np.flatnonzero(seqs.lengths >= length)
  picks = g.choice(candidates, size=num, replace=len(candidates) < num)
  return np.stack([seqs[int(i)][:length] for i in picks])
