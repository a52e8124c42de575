"""Orbax checkpoints of the train state plus JSON metadata (data-pipeline state, keys, step).

Everything orbax-specific lives here so that a move to another checkpoint API touches one file.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import orbax.checkpoint as ocp
from absl import logging


class Checkpointer:
  """Saves every ``every`` steps (and on demand), keeps the newest ``keep``, restores the latest.

  The state pytree is saved with ``StandardSave``; ``meta`` is a JSON-able dict (the data
  pipeline's state, the run's key data, the step).
  """

  def __init__(self, directory: str, every: int, keep: int = 3, async_save: bool = True):
    self.directory = os.path.abspath(directory)
    self.every = every
    self._manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(
            save_interval_steps=max(1, every), max_to_keep=keep, create=True,
            enable_async_checkpointing=async_save))

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def all_steps(self) -> list[int]:
    """The steps of the checkpoints kept, oldest first."""
    return sorted(self._manager.all_steps())

  def save(self, step: int, state: Any, meta: dict, force: bool = False) -> bool:
    saved = self._manager.save(
        step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                      meta=ocp.args.JsonSave(_jsonable(meta))),
        force=force)
    if saved:
      logging.info('checkpoint saving at step %d in %s', step, self.directory)
    return saved

  def restore(self, abstract_state: Any, step: int | None = None) -> tuple[Any, dict, int]:
    """Restores ``(state, meta, step)``; ``abstract_state`` carries shapes, dtypes and shardings."""
    step = self.latest_step() if step is None else step
    if step is None:
      raise FileNotFoundError(f'no checkpoint in {self.directory}')
    try:
      restored = self._manager.restore(
          step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract_state),
                                        meta=ocp.args.JsonRestore()))
    except ValueError as e:
      saved = self._saved_keys(step)
      want = sorted(abstract_state) if isinstance(abstract_state, dict) else None
      if saved is not None and want is not None and saved != want:
        raise ValueError(
            f'{self.directory}: the checkpoint of step {step} holds a train state with entries '
            f'{saved}, this run needs {want} (a workdir saved by an older dsjax whose state '
            f'layout differs; train it anew in a fresh workdir)') from e
      raise
    return restored['state'], dict(restored['meta']), step

  def _saved_keys(self, step: int) -> list[str] | None:
    """The top-level entries of the state saved at ``step`` (None if they cannot be read)."""
    try:
      meta = self._manager.item_metadata(step)
      return sorted(meta['state'])
    except Exception:  # pylint: disable=broad-except
      return None

  def restore_saved(self, step: int | None = None) -> tuple[Any, int]:
    """``(state, step)`` as saved, without a target: arrays of the saved shapes and dtypes on the
    default device. For reading parts of another run (a pretrained table), not for resuming."""
    step = self.latest_step() if step is None else step
    if step is None:
      raise FileNotFoundError(f'no checkpoint in {self.directory}')
    restored = self._manager.restore(
        step, args=ocp.args.Composite(state=ocp.args.StandardRestore()))
    return restored['state'], step

  def wait(self) -> None:
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.wait_until_finished()
    self._manager.close()


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
