"""The task interface: what an experiment gives the generic loop.

An experiment is a model + a task + a config. The loop (``dsjax.train.loop``) owns seeds, sharding,
checkpoints, logging and progress; a task owns its data, its state pytree and its pure step
functions. A GAN's critic/generator alternation, or a SeqGAN rollout, lives inside its own
``train_step`` so that one jitted call is one training step whatever the experiment.
"""

from __future__ import annotations

import abc
import inspect
from typing import Any, Iterator, Mapping

import jax
import numpy as np

from dsjax.data.notes import Piece

State = Any          # a pytree of arrays
Batch = Mapping[str, np.ndarray]
Metrics = Mapping[str, jax.Array]


class TrainData(abc.ABC):
  """A deterministic stream of host batches whose position can be checkpointed."""

  @abc.abstractmethod
  def __next__(self) -> Batch:
    ...

  def __iter__(self) -> Iterator[Batch]:
    return self

  @abc.abstractmethod
  def state(self) -> dict:
    ...

  @abc.abstractmethod
  def restore(self, state: dict) -> None:
    ...


def split_sample_options(task: 'Task', options: Mapping[str, Any]) -> tuple[dict, dict]:
  """``(sample options, decoding options)`` for ``task``: each option goes to ``task.sample`` or,
  failing that, ``task.to_pieces`` (e.g. an event LM's ``max_sustain``, applied when decoding).
  An option that neither takes raises ``ValueError`` naming it (``launch.generate`` flags are
  never silently ignored)."""
  fixed = {'self', 'state', 'rng', 'num', 'length', 'samples'}
  takes = {name: set(inspect.signature(fn).parameters) - fixed
           for name, fn in (('sample', task.sample), ('decode', task.to_pieces))}
  sample, decode = {}, {}
  for k, v in options.items():
    if k in takes['sample']:
      sample[k] = v
    elif k in takes['decode']:
      decode[k] = v
    else:
      usable = sorted((takes['sample'] | takes['decode']) - {'condition', 'primer_ids'})
      raise ValueError(f'--{k} does not apply to this run ({type(task).__name__}); its sampling '
                       f'flags: {", ".join("--" + u for u in usable) or "none"}')
  return sample, decode


class Task(abc.ABC):
  """What one experiment implements. All array functions must be pure and jittable."""

  # Whether the task keeps ``state['ema_params']`` (``config.optim.ema_decay`` > 0) and evaluates
  # and samples with it (:meth:`eval_params`); a task that does not refuses the option.
  supports_ema = False

  def __init__(self, config):
    self.config = config
    if self.ema_decay and not self.supports_ema:
      raise ValueError(f'config.optim.ema_decay={self.ema_decay}: {type(self).__name__} keeps no '
                       'average of its parameters; set it to 0')

  @property
  def ema_decay(self) -> float:
    return float(self.config.optim.ema_decay)

  def eval_params(self, state: State):
    """The parameters evaluation and sampling use (the EMA average when enabled)."""
    return state['ema_params'] if self.ema_decay else state['params']

  # -- data ---------------------------------------------------------------------------------
  @abc.abstractmethod
  def train_data(self, process_index: int, process_count: int) -> TrainData:
    """This process's slice of the training batches (``batch_size // process_count`` rows)."""

  def eval_batches(self) -> dict[str, list[Batch]]:
    """``{split: [global batch, ...]}`` for evaluation (the loop gives each process its rows)."""
    return {}

  # -- state and steps ----------------------------------------------------------------------
  @abc.abstractmethod
  def init(self, rng: jax.Array) -> State:
    """A fresh train state. Jitted by the loop with replicated outputs."""

  @abc.abstractmethod
  def train_step(self, state: State, batch: Batch, rng: jax.Array) -> tuple[State, Metrics]:
    """One optimisation step; ``metrics`` must hold a scalar ``loss`` (checked for NaN/Inf)."""

  def eval_step(self, state: State, batch: Batch) -> Metrics:
    """Sums over the batch (e.g. ``nll_sum`` and ``count``); the loop adds them up."""
    raise NotImplementedError

  def eval_summary(self, sums: Mapping[str, float]) -> dict[str, float]:
    """Turns summed eval quantities into reported metrics."""
    return dict(sums)

  def learning_rates(self, step: int) -> dict[str, float]:
    """Learning rates to log at ``step``."""
    return {}

  # -- generation ---------------------------------------------------------------------------
  def sample(self, state: State, rng: jax.Array, num: int, length: int,
             **options) -> np.ndarray:
    """Generated sequences in the task's encoding (host numpy)."""
    raise NotImplementedError

  def to_pieces(self, samples: np.ndarray) -> list[Piece]:
    """Decodes sampled sequences to notes (for MIDI and audio)."""
    raise NotImplementedError

  def to_rolls(self, samples: np.ndarray) -> list[np.ndarray]:
    """``[time, pitch]`` rolls of sampled sequences, for pictures."""
    raise NotImplementedError

  def real_rolls(self, num: int, length: int) -> list[np.ndarray]:
    """Rolls of real training music of about the same length, shown next to samples."""
    return []

  def sample_statistics(self, samples: np.ndarray) -> dict[str, float]:
    """Optional figures about a batch of samples (density, diversity, ...), logged at eval."""
    return {}

  def hparams(self) -> dict[str, Any]:
    return {}
