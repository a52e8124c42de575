"""Orbax checkpoints of the train state plus JSON metadata (data-pipeline state, keys, step).

Everything orbax-specific lives here so that a move to another checkpoint API touches one file.

Integrity: each save records a CRC-32 of every array of the state (and of the metadata) in the
metadata; :meth:`Checkpointer.restore` recomputes them and checks that every floating-point
array is finite, so a damaged checkpoint (a truncated or missing file, flipped bytes) raises
:class:`CheckpointDamaged` instead of passing as good. :meth:`Checkpointer.set_aside` moves such
a checkpoint out of the way (into ``<folder>_damaged/``, never deleted) so that the next older one
becomes the latest.
"""

from __future__ import annotations

import json
import os
import shutil
import zlib
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
from absl import logging


class CheckpointDamaged(Exception):
  """A checkpoint that does not restore, or restores to other values than were saved."""

  def __init__(self, path: str, step: int, reason: str):
    super().__init__(f'checkpoint {path}: {reason}')
    self.path, self.step, self.reason = path, step, reason


class Checkpointer:
  """Saves every ``every`` steps (and on demand), keeps the newest ``keep``, restores the latest.

  The state pytree is saved with ``StandardSave``; ``meta`` is a JSON-able dict (the data
  pipeline's state, the run's key data, the step) to which the save adds ``integrity``, the
  checksums :meth:`restore` verifies.
  """

  def __init__(self, directory: str, every: int, keep: int = 3, async_save: bool = True):
    self.directory = os.path.abspath(directory)
    self.every = every
    self._manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(
            save_interval_steps=max(1, every), max_to_keep=keep, create=True,
            enable_async_checkpointing=async_save),
        item_handlers={'state': ocp.StandardCheckpointHandler(),
                       'meta': ocp.JsonCheckpointHandler()})

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def all_steps(self) -> list[int]:
    """The steps of the checkpoints kept, oldest first."""
    return sorted(self._manager.all_steps())

  def step_path(self, step: int) -> str:
    return os.path.join(self.directory, str(step))

  def save(self, step: int, state: Any, meta: dict, force: bool = False) -> bool:
    meta = _jsonable(meta)
    meta['integrity'] = integrity_record(state, meta)
    saved = self._manager.save(
        step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                      meta=ocp.args.JsonSave(meta)),
        force=force)
    if saved:
      logging.info('checkpoint saving at step %d in %s', step, self.directory)
    return saved

  def restore(self, abstract_state: Any, step: int | None = None) -> tuple[Any, dict, int]:
    """Restores ``(state, meta, step)`` (the latest step by default) and verifies it;
    ``abstract_state`` carries shapes, dtypes and shardings.

    Raises :class:`CheckpointDamaged` when the checkpoint does not restore, its checksums differ
    from those written at save time or the state is not finite; ``ValueError`` when it holds a
    state of another layout or other shapes than ``abstract_state`` (another config: not damage).
    """
    step = self._step_or_latest(step)
    try:
      restored = self._manager.restore(
          step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract_state),
                                        meta=ocp.args.JsonRestore()))
    except Exception as e:  # pylint: disable=broad-except
      self._raise_mismatch(step, abstract_state, e)
      raise CheckpointDamaged(self.step_path(step), step, 'does not restore '
                              f'({type(e).__name__}: {_first_line(e)})') from e
    state, meta = restored['state'], dict(restored['meta'])
    # orbax casts to the target's dtype without a word: another dtype is another config, not
    # damage (its checksums would differ)
    self._raise_mismatch(step, abstract_state, None)
    self.verify(step, state, meta)
    return state, meta, step

  def restore_saved(self, step: int | None = None) -> tuple[Any, int]:
    """``(state, step)`` as saved, without a target: arrays of the saved shapes and dtypes on the
    default device, verified as by :meth:`restore`. For reading parts of another run (a
    pretrained table), not for resuming."""
    step = self._step_or_latest(step)
    device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    try:  # onto one device, whatever the devices of the run that saved it
      target = jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device),
                            self._manager.item_metadata(step)['state'])
      restored = self._manager.restore(
          step, args=ocp.args.Composite(state=ocp.args.StandardRestore(target),
                                        meta=ocp.args.JsonRestore()))
    except Exception as e:  # pylint: disable=broad-except
      raise CheckpointDamaged(self.step_path(step), step, 'does not restore '
                              f'({type(e).__name__}: {_first_line(e)})') from e
    self.verify(step, restored['state'], dict(restored['meta']))
    return restored['state'], step

  def verify(self, step: int, state: Any, meta: dict) -> None:
    """Raises :class:`CheckpointDamaged` unless ``state`` and ``meta`` match the checksums saved
    with them (checkpoints written before the record existed are checked for finiteness only)
    and every floating-point array of ``state`` is finite."""
    path = self.step_path(step)
    host = jax.tree.map(_host_array, state)  # one copy for the checksums and the finiteness
    record = meta.get('integrity')
    if record is not None:
      now = integrity_record(host, meta)
      if now['meta'] != record.get('meta'):
        raise CheckpointDamaged(path, step, 'its metadata differs from what was saved '
                                '(checksum mismatch)')
      bad = sorted(k for k in set(now['state']) | set(record.get('state', {}))
                   if now['state'].get(k) != record.get('state', {}).get(k))
      if bad:
        raise CheckpointDamaged(path, step, f'{len(bad)} array(s) differ from what was saved '
                                f'(checksum mismatch: {", ".join(bad[:3])}'
                                f'{", ..." if len(bad) > 3 else ""})')
    nonfinite = non_finite_arrays(host)
    if nonfinite:
      raise CheckpointDamaged(path, step, f'non-finite values in {", ".join(nonfinite[:3])}'
                              f'{", ..." if len(nonfinite) > 3 else ""}')

  def set_aside(self, step: int) -> str:
    """Moves the checkpoint of ``step`` to ``<folder>_damaged/<step>`` (a new name if taken) so
    that it is no longer restored, and returns where it went."""
    aside = self.directory + '_damaged'
    os.makedirs(aside, exist_ok=True)
    dest = os.path.join(aside, str(step))
    n = 1
    while os.path.exists(dest):
      dest = os.path.join(aside, f'{step}.{n}')
      n += 1
    shutil.move(self.step_path(step), dest)
    self._manager.reload()
    return dest

  def reload(self) -> None:
    """Re-reads the folder (after another process moved a checkpoint aside)."""
    self._manager.reload()

  def _step_or_latest(self, step: int | None) -> int:
    if step is None:
      step = self.latest_step()
      if step is None:
        raise FileNotFoundError(f'no checkpoint in {self.directory}')
    elif step not in self._manager.all_steps():
      kept = self.all_steps()
      raise FileNotFoundError(f'no checkpoint of step {step} in {self.directory} (it has '
                              f'{", ".join(map(str, kept)) if kept else "none"})')
    return step

  def _raise_mismatch(self, step: int, abstract_state: Any, error: Exception | None) -> None:
    """Raises ``ValueError`` if the checkpoint of ``step`` holds a readable state of another
    layout or shapes than ``abstract_state``; returns if it matches or cannot be read."""
    try:
      saved_tree = self._manager.item_metadata(step)['state']
      leaves = jax.tree_util.tree_leaves(saved_tree)
      saved = _leaf_specs(saved_tree)
    except Exception:  # pylint: disable=broad-except
      return
    if not leaves or any(getattr(x, 'shape', None) is None or getattr(x, 'dtype', None) is None
                         for x in leaves):
      return  # no array metadata to compare with: the checkpoint is damaged, not another model
    want = _leaf_specs(abstract_state)
    if saved == want:
      return
    if isinstance(abstract_state, dict) and set(_top(saved)) != set(_top(want)):
      raise ValueError(
          f'{self.directory}: the checkpoint of step {step} holds a train state with entries '
          f'{sorted(_top(saved))}, this run needs {sorted(_top(want))} (a workdir saved by an '
          f'older dsjax whose state layout differs; train it anew in a fresh workdir)') from error
    diff = sorted(k for k in set(saved) | set(want) if saved.get(k) != want.get(k))
    k = diff[0]
    raise ValueError(
        f'{self.directory}: the checkpoint of step {step} holds another model than this config '
        f'builds ({len(diff)} array(s) differ; {k}: saved {_spec_str(saved.get(k))}, needed '
        f'{_spec_str(want.get(k))}); resume with the settings it was started with') from error

  def wait(self) -> None:
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.wait_until_finished()
    self._manager.close()


def _host_array(x) -> np.ndarray:
  if isinstance(x, jax.Array):
    if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
      x = jax.random.key_data(x)
    if not x.is_fully_addressable:  # replicated over hosts: this host's copy is the whole array
      x = x.addressable_data(0)
  return np.ascontiguousarray(np.asarray(x))


def _path_str(path) -> str:
  """A tree path as ``a/b/0/c``: the same for a namedtuple, a dict or a list on either side of
  a save (orbax stores named tuples as dicts and tuples as lists)."""
  parts = []
  for p in path:
    for attr in ('key', 'name', 'idx'):
      if hasattr(p, attr):
        parts.append(str(getattr(p, attr)))
        break
    else:
      parts.append(str(p))
  return '/'.join(parts)


def integrity_record(state: Any, meta: dict) -> dict:
  """``{'state': {path: 'crc32:dtype:shape'}, 'meta': crc32}`` of a state and its metadata (the
  metadata without its ``integrity`` entry)."""
  leaves = jax.tree_util.tree_flatten_with_path(state)[0]
  sums = {}
  for path, x in leaves:
    a = _host_array(x)
    sums[_path_str(path)] = f'{zlib.crc32(a.tobytes()):08x}:{a.dtype}:{list(a.shape)}'
  body = {k: v for k, v in meta.items() if k != 'integrity'}
  text = json.dumps(_jsonable(body), sort_keys=True)
  return {'state': sums, 'meta': f'{zlib.crc32(text.encode()):08x}'}


def non_finite_arrays(state: Any) -> list[str]:
  """The paths of the floating-point arrays of ``state`` that hold a NaN or Inf."""
  out = []
  for path, x in jax.tree_util.tree_flatten_with_path(state)[0]:
    a = _host_array(x)
    if jax.numpy.issubdtype(a.dtype, jax.numpy.inexact) and not np.all(np.isfinite(a)):
      out.append(_path_str(path))
  return out


def _leaf_specs(tree) -> dict[str, tuple]:
  return {_path_str(p): (tuple(getattr(x, 'shape', ())), str(getattr(x, 'dtype', '')))
          for p, x in jax.tree_util.tree_flatten_with_path(tree)[0]}


def _top(specs: dict) -> set[str]:
  return {k.split('/')[0] for k in specs}


def _spec_str(spec) -> str:
  return 'nothing' if spec is None else f'{spec[1]}{list(spec[0])}'


def _first_line(e: Exception) -> str:
  text = str(e).strip().splitlines()
  return text[0][:200] if text else ''


def _jsonable(obj):
  if isinstance(obj, dict):
    return {str(k): _jsonable(v) for k, v in obj.items()}
  if isinstance(obj, (list, tuple)):
    return [_jsonable(v) for v in obj]
  if isinstance(obj, np.ndarray):
    return obj.tolist()
  if isinstance(obj, np.generic):
    return obj.item()
  return obj
