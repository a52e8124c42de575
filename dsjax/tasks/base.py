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


def split_sample_options(sampler: 'Sampler', options: Mapping[str, Any]) -> tuple[dict, dict]:
  """``(sample options, decoding options)`` for ``sampler``: each option goes to
  ``sampler.sample`` or, failing that, ``sampler.to_pieces`` (e.g. an event LM's ``max_sustain``,
  applied when decoding). An option that neither takes raises ``ValueError`` naming it
  (``launch.generate`` flags are never silently ignored)."""
  fixed = {'self', 'state', 'rng', 'num', 'length', 'samples'}
  takes = {name: set(inspect.signature(fn).parameters) - fixed
           for name, fn in (('sample', sampler.sample), ('decode', sampler.to_pieces))}
  sample, decode = {}, {}
  for k, v in options.items():
    if k in takes['sample']:
      sample[k] = v
    elif k in takes['decode']:
      decode[k] = v
    else:
      usable = sorted((takes['sample'] | takes['decode']) - {'condition', 'primer_ids'})
      raise ValueError(f'--{k} does not apply to this run ({sampler.name}); its sampling '
                       f'flags: {", ".join("--" + u for u in usable) or "none"}')
  return sample, decode


class Sampler(abc.ABC):
  """Generation for one run: what :meth:`Task.sampler` hands out. The loop's eval samples and
  ``launch.generate`` generate through it (the Hist-RNN table vmaps the event sampler's pure scan,
  ``dsjax.tasks.event_lm.sample_events``, over seeds, and decodes through it).

  ``sample`` returns sequences in the task's encoding (host numpy); ``to_pieces`` decodes them to
  notes (MIDI, audio), ``to_rolls`` to ``[time, pitch]`` pictures; ``real_rolls`` gives real music
  of about the same length to show beside them and ``statistics`` figures about a batch of
  samples (logged at eval). Its jitted functions are built once, when it is made.
  """

  def __init__(self, task: 'Task'):
    self.name = type(task).__name__
    self.eval_params = task.eval_params

  @abc.abstractmethod
  def sample(self, state: State, rng: jax.Array, num: int, length: int,
             **options) -> np.ndarray:
    """``num`` generated sequences of ``length`` steps (after any primer)."""

  @abc.abstractmethod
  def to_pieces(self, samples: np.ndarray) -> list[Piece]:
    """Decodes sampled sequences to notes (for MIDI and audio)."""

  @abc.abstractmethod
  def to_rolls(self, samples: np.ndarray) -> list[np.ndarray]:
    """``[time, pitch]`` rolls of sampled sequences, for pictures."""

  def real_rolls(self, num: int, length: int) -> list[np.ndarray]:
    """Rolls of real training music of about the same length, shown next to samples."""
    return []

  def statistics(self, samples: np.ndarray) -> dict[str, float]:
    """Figures about a batch of samples (density, diversity, ...), logged at eval."""
    return {}

  def figure_options(self) -> dict[str, Any]:
    """:func:`dsjax.viz.pianoroll_figure`'s options for :meth:`to_rolls`' rolls (the key axis's
    lowest pitch; frames per beat or seconds per frame), from ``self.roll_cfg``, the rolls' grid,
    when the sampler has one."""
    from dsjax import viz
    cfg = getattr(self, 'roll_cfg', None)
    return {} if cfg is None else viz.figure_options(cfg)


class Task(abc.ABC):
  """What one experiment implements. All array functions must be pure and jittable."""

  # Whether the task keeps ``state['ema_params']`` (``config.optim.ema_decay`` > 0) and evaluates
  # and samples with it (:meth:`eval_params`); a task that does not refuses the option.
  supports_ema = False
  # Why the loop may not vmap this task's step over seeds (``train.seeds``), or None if it may.
  seeds_refused: str | None = None

  def __init__(self, config):
    self.config = config
    # Read once: traced code (the steps) uses attributes like this one, never the live config.
    self.ema_decay = float(config.optim.ema_decay)
    if int(config.sample.num) > 0 and type(self).make_sampler is Task.make_sampler:
      raise ValueError(f'config.sample.num={int(config.sample.num)}: {type(self).__name__} '
                       'generates no music; set it to 0')
    if self.ema_decay and not self.supports_ema:
      raise ValueError(f'config.optim.ema_decay={self.ema_decay}: {type(self).__name__} keeps no '
                       'average of its parameters; set it to 0')

  def eval_params(self, state: State):
    """The parameters evaluation and sampling use (the EMA average when enabled)."""
    return state['ema_params'] if self.ema_decay else state['params']

  # -- data ---------------------------------------------------------------------------------
  @abc.abstractmethod
  def train_data(self, process_index: int, process_count: int,
                 seed: int | None = None) -> TrainData:
    """This process's slice of the training batches (``batch_size // process_count`` rows);
    ``seed`` replaces ``config.seed`` (several seeds side by side, ``train.seeds``)."""

  def eval_batches(self) -> dict[str, list[Batch]]:
    """``{split: [global batch, ...]}`` for evaluation. Each batch reaches :meth:`eval_step` whole
    (every key; the loop gives each process its rows)."""
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

  def eval_figures(self, state: State) -> dict[str, np.ndarray]:
    """``{name: RGB uint8 [height, width, 3]}`` pictures of the model itself (e.g. learned
    filters) that the loop logs to TensorBoard as ``figures/NAME`` and writes as
    ``samples/step_N/NAME.png`` at every evaluation; none by default."""
    return {}

  def learning_rates(self, step: int) -> dict[str, float]:
    """Learning rates to log at ``step``."""
    return {}

  # -- generation ---------------------------------------------------------------------------
  def sampler(self) -> Sampler | None:
    """The run's :class:`Sampler` (made by :meth:`make_sampler` on first use, then kept), or None
    for a task that makes no music."""
    if not hasattr(self, '_sampler'):
      self._sampler = self.make_sampler()
    return self._sampler

  def make_sampler(self) -> Sampler | None:
    return None

  def hparams(self) -> dict[str, Any]:
    return {}
