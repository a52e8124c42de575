"""A reference density model: piano rolls scored by their frame NLL under a trained roll LM.

A quality measure that sees structure: generated windows get the mean negative log-likelihood per
frame that a piano-roll language model trained on the same data gives them, next to the same
figure for held-out real windows of the same length (``configs/pianoroll_pitchrnn.py:reference``
trains one on the GAN configs' Nottingham rolls; the GAN task reads it as
``config.gan.reference_model``).

The model is a workdir, read as data (its ``config.json`` and a checkpoint, through
:func:`dsjax.train.loop.restore_for_inference`; nothing in it is run), of the ``pianoroll_lm``
task. Rolls ``[N, T, keys]`` are scored teacher-forced by the task's own ``eval_step``: frame t
from frames < t for t = 1..T-1 of each roll, the NLL summed over keys and predicted frames and
divided by the number of predicted frames (nats per frame), so the figure means what the model's
``valid/frame_nll`` means, except that every window starts from the model's initial state (a
window of a real piece scores a little worse than the same frames inside the whole piece).
"""

from __future__ import annotations

import json
import os

import jax
import numpy as np

REFERENCE_TASK = 'pianoroll_lm'


def _has_checkpoint(folder: str) -> bool:
  """Whether ``folder`` holds a saved step (a run without evaluations leaves its best folder
  empty)."""
  return os.path.isdir(folder) and any(name.isdigit() for name in os.listdir(folder))


def _describe(grid: tuple[str, float, int]) -> str:
  return f'grid={grid[0]!r}, step={grid[1]:g}, {grid[2]} keys'


def check_reference_workdir(workdir: str, roll_cfg, key: str = 'reference model') -> dict:
  """Checks, from its ``config.json`` alone, that ``workdir`` is a piano-roll LM run on the grid
  and keys of ``roll_cfg`` (a :class:`~dsjax.data.pianoroll.RollConfig`); returns its config as
  a dict. ``key`` names the setting in the errors (e.g. ``config.gan.reference_model``)."""
  path = os.path.join(workdir, 'config.json')
  if not os.path.exists(path):
    raise FileNotFoundError(
        f'{key}={workdir!r}: not a run (no {path}); train one with python -m launch.train '
        f'--config=configs/pianoroll_pitchrnn.py:reference --workdir={workdir}')
  with open(path) as f:
    config = json.load(f)
  if config.get('task') != REFERENCE_TASK:
    raise ValueError(f'{key}={workdir!r}: a {config.get("task")!r} run; the reference must be a '
                     f'{REFERENCE_TASK!r} run (e.g. configs/pianoroll_pitchrnn.py:reference)')
  roll = config['data']['roll']
  theirs = (str(roll['grid']), float(roll['step']), int(roll['pitches']))
  ours = (str(roll_cfg.grid), float(roll_cfg.step), int(roll_cfg.keys))
  if theirs != ours:
    raise ValueError(f'{key}={workdir!r}: the reference model was trained on rolls of '
                     f'{_describe(theirs)}; the rolls to score are {_describe(ours)}')
  return config


class ReferenceModel:
  """A trained piano-roll LM that scores rolls (:meth:`frame_nll`) and samples them
  (:meth:`sample`).

  ``workdir``: the run. ``best``: its best checkpoint (``train.select_by``) when it has one, else
  the latest (``best=False``: always the latest). ``roll_cfg``: if given, the grid and keys of the
  rolls it will score, checked against the run's (a ``ValueError`` naming both). ``batch_size``:
  rolls per jitted scoring call (the last batch is padded and masked out).
  """

  def __init__(self, workdir: str, roll_cfg=None, *, best: bool = True, batch_size: int = 32,
               key: str = 'reference model'):
    from dsjax.train.loop import restore_for_inference
    if roll_cfg is not None:
      check_reference_workdir(workdir, roll_cfg, key)
    use_best = best and _has_checkpoint(os.path.join(workdir, 'checkpoints_best'))
    config, trainer, state, step = restore_for_inference(workdir, best=use_best)
    if str(config.task) != REFERENCE_TASK:
      raise ValueError(f'{key}={workdir!r}: a {config.task!r} run; the reference must be a '
                       f'{REFERENCE_TASK!r} run')
    self.workdir, self.config, self.step, self.best = workdir, config, int(step), use_best
    self.task, self.sampler = trainer.task, trainer.sampler
    self.roll_cfg, self.keys = self.task.roll_cfg, self.task.keys
    self.batch_size = int(batch_size)
    # The parameters alone, on one device: scoring needs no optimiser state and no mesh.
    device = jax.devices()[0]
    self.state = {k: jax.device_put(state[k], device) for k in ('params', 'ema_params')
                  if k in state}
    self._eval = jax.jit(self.task.eval_step)

  def describe(self) -> str:
    which = 'best' if self.best else 'latest'
    return f'{self.workdir} ({self.config.task}, {which} checkpoint, step {self.step})'

  def _check(self, rolls) -> np.ndarray:
    r = np.asarray(rolls)
    if r.ndim != 3 or r.shape[-1] != self.keys or r.shape[1] < 2:
      raise ValueError(f'rolls: expected [num, time >= 2, {self.keys}] for the reference model '
                       f'{self.workdir}, got shape {r.shape}')
    return (r > 0.5).astype(np.float32)

  def frame_nll(self, rolls) -> float:
    """Mean NLL per predicted frame (nats) of ``rolls [num, time, keys]`` (values > 0.5 are on),
    teacher forced, each roll from the model's initial state (see the module docstring)."""
    r = self._check(rolls)
    n, t = r.shape[0], r.shape[1]
    b = min(self.batch_size, n)
    pad = -n % b
    r = np.concatenate([r, np.zeros((pad,) + r.shape[1:], np.float32)])
    mask = np.concatenate([np.ones((n, t - 1), np.float32), np.zeros((pad, t - 1), np.float32)])
    nll, frames = 0.0, 0.0
    for i in range(0, n + pad, b):
      batch = {'inputs': r[i:i + b, :-1], 'targets': r[i:i + b, 1:], 'mask': mask[i:i + b]}
      sums = jax.device_get(self._eval(self.state, batch))
      nll += float(sums['nll_sum'])
      frames += float(sums['frames'])
    return nll / frames

  def sample(self, rng, num: int, length: int, **options) -> np.ndarray:
    """``uint8 [num, length, keys]`` sampled by the model's own sampler after one real opening
    frame of a training piece (not returned): every returned frame is sampled. ``options`` go to
    the sampler (``temperature``, ...)."""
    out = self.sampler.sample(self.state, rng, int(num), int(length), primer=1, **options)
    return np.asarray(out[:, 1:])
