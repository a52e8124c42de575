"""One generic training loop for every experiment: ``train_and_evaluate(config, workdir)``.

Seeds: ``jax.random.key(config.seed)`` is split once by purpose (init, train, sample); the train
step gets ``fold_in(train_key, step)``, the data stream is a pure function of (seed, step), so a
resumed run continues exactly where the interrupted one would have gone.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import logging

from dsjax.tasks import get_task
from dsjax.train import checkpoint as ckpt_lib
from dsjax.train import logger as logger_lib
from dsjax.train import sharding as shd
from dsjax.train import workdir_lock


def check_train_settings(config) -> None:
  """Refuses, naming the key, a loop setting no run can use (before any data is loaded)."""
  t = config.train

  def at_least(key, low, what=''):
    value = t[key]
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
      raise ValueError(f'config.train.{key}={value!r}: must be an integer >= {low}{what}')

  at_least('num_steps', 1, ' (the number of training steps)')
  at_least('checkpoint_every', 1, ' (a checkpoint is also written at the end and on SIGTERM)')
  at_least('keep_checkpoints', 1)
  at_least('log_every', 1)
  at_least('eval_every', 0, ' (0: no evaluation)')
  at_least('seeds', 0, ' (0: one run in the workdir; N: N seeds side by side)')
  batch = config.data.batch_size
  if not isinstance(batch, int) or batch < 1:
    raise ValueError(f'config.data.batch_size={batch!r}: must be an integer >= 1')


class NonFiniteLossError(RuntimeError):
  """Raised when a loss or gradient norm becomes NaN or Inf."""


def purpose_keys(seed: int) -> dict[str, jax.Array]:
  init, train, sample, data = jax.random.split(jax.random.key(seed), 4)
  return dict(init=init, train=train, sample=sample, data=data)


def write_config(config, workdir: str) -> None:
  if jax.process_index() != 0:
    return
  os.makedirs(workdir, exist_ok=True)
  with open(os.path.join(workdir, 'config.json'), 'w') as f:
    f.write(config.to_json_best_effort(indent=2, sort_keys=True))


# Settings that change what a run prints, records or measures about itself, never what it trains.
NOT_TRAINING = ('train.quiet', 'train.log_every_step_to_json', 'train.profile_steps',
                'gan.reference_model')


def changed_settings(old: dict, new: dict) -> dict[str, tuple[Any, Any]]:
  """``{dotted key: (old, new)}`` for every setting that differs between two config dicts
  (leaving out :data:`NOT_TRAINING`)."""
  a, b = _flatten(old), _flatten(new)
  return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b))
          if a.get(k) != b.get(k) and k not in NOT_TRAINING}


def with_base_defaults(saved: dict) -> dict:
  """``saved`` (a config dict a run wrote) with the keys of ``configs.common.base_config()`` it
  lacks (the shared keys added since that run was made) at their defaults, and those of its
  family's shared builder (the GANs' ``configs.gan_base``, the roll LMs' ``configs.pianoroll_base``).
  A key added later defaults to what the code did before it existed, so the run reads as made."""
  from configs.common import base_config
  from configs.gan_base import base_gan_config
  from configs.pianoroll_base import roll_lm_config

  def merge(base, over):
    out = dict(base)
    for k, v in over.items():
      out[k] = merge(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return out
  family = {'gan': base_gan_config, 'pianoroll_lm': roll_lm_config}.get(saved.get('task'))
  base = base_config().to_dict()
  if family is not None:
    base = merge(base, family().to_dict())
  return merge(base, saved)


def load_config(workdir: str):
  """The resolved config a run wrote to its workdir (shared keys added since at their defaults)."""
  import ml_collections
  path = os.path.join(workdir, 'config.json')
  if not os.path.exists(path):
    raise FileNotFoundError(f'{path}: not a dsjax workdir (no config.json)')
  with open(path) as f:
    return ml_collections.ConfigDict(with_base_defaults(json.load(f)))


class _SigtermFlag:
  """Turns SIGTERM into a flag the loop checks between steps (main thread only)."""

  def __init__(self):
    self.raised = False
    self._previous = None

  def __enter__(self):
    try:
      self._previous = signal.signal(signal.SIGTERM, self._handle)
    except ValueError:  # not in the main thread
      self._previous = None
    return self

  def _handle(self, signum, frame):
    del signum, frame
    self.raised = True

  def __exit__(self, *exc):
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)


@dataclasses.dataclass
class RunState:
  """What changes as a run goes: the train state (stacked over seeds with ``train.seeds``) and
  the step, and the last checkpointed step."""
  state: Any
  step: int
  last_good: int | None = None


@dataclasses.dataclass
class Lane:
  """One seed's share of a run: its workdir and everything written there (checkpoints, the best
  checkpoint, metrics.jsonl, TensorBoard, samples), its keys and data stream, its best and latest
  evaluation. A plain run has one lane, the workdir itself; ``train.seeds = N`` has N, in
  ``WORKDIR/seed_S``."""
  seed: int
  workdir: str
  keys: dict
  data: Any = None
  checkpointer: Any = None
  best_ckpt: Any = None
  writer: Any = None
  history: list = dataclasses.field(default_factory=list)
  best: dict = dataclasses.field(default_factory=dict)
  final: dict = dataclasses.field(default_factory=dict)

  @property
  def ckpt_dir(self) -> str:
    return os.path.join(self.workdir, 'checkpoints')


class Trainer:
  """One run of ``config`` in ``workdir``: builds the task, its sampler, the mesh and the jitted
  steps; :meth:`train` drives them (``train_and_evaluate``). ``restore_for_inference`` builds one
  to restore a workdir's state (``launch.generate`` then samples with ``trainer.sampler``).

  The train step is ``(state, batch, step) -> (state, metrics)``; besides the task's metrics it
  logs ``param_norm`` (global norm of ``state['params']`` after the step) and ``update_norm``
  (global norm of the change the step made to them).

  Several seeds (``train.seeds = N`` > 0): seeds ``config.seed + i`` (i < N) train side by side
  in one jitted program, the task's step vmapped over a state stacked on a leading seed axis and
  per-seed batches ``[N, batch, ...]`` (each seed its own data stream and keys, as its own run
  would have). Each seed is a workdir of its own, ``WORKDIR/seed_S`` (its config.json names seed
  S and ``train.seeds = 0``, so ``launch.generate`` and ``restore_for_inference`` read it as any
  run), with its own checkpoints, metrics, pictures and best checkpoint. The seeds run on one
  device, in one process.
  """

  def __init__(self, config, workdir: str):
    check_train_settings(config)
    self.config = config
    self.workdir = os.path.abspath(workdir)
    self.task = get_task(config)
    self.sampler = self.task.sampler()
    self.num_seeds = int(config.train.seeds)
    # Several seeds run on one device: on XLA:CPU a vmapped step over the devices of a larger
    # mesh (batch split or replicated) hung after a few steps.
    self.mesh = shd.make_mesh(1 if self.num_seeds > 0 else None)
    self.global_batch = int(config.data.batch_size)
    shd.check_batch_size(self.global_batch, self.mesh)
    if int(config.train.eval_every) > 0 and 'eval_batch_size' in config.data:
      shd.check_batch_size(int(config.data.eval_batch_size), self.mesh,
                           'config.data.eval_batch_size')
    if self.num_seeds and self.task.seeds_refused:
      raise ValueError(f'config.train.seeds={self.num_seeds}: {type(self.task).__name__} cannot '
                       f'train several seeds in one program ({self.task.seeds_refused}); set it '
                       'to 0')
    self.stacked = self.num_seeds > 0
    seeds = [int(config.seed) + i for i in range(max(1, self.num_seeds))]
    self.lanes = [Lane(seed, os.path.join(self.workdir, f'seed_{seed}') if self.stacked
                       else self.workdir, purpose_keys(seed)) for seed in seeds]
    self.keys = self.lanes[0].keys
    self.ckpt_dir = self.lanes[0].ckpt_dir
    self.repl = shd.replicated(self.mesh)
    self.data_sharding = shd.batch_sharding(self.mesh)
    self.is_main = jax.process_index() == 0
    self._tracing = False
    task = self.task
    if not self.stacked:
      self._init = jax.jit(task.init, out_shardings=self.repl)
      self._step = jax.jit(train_step_fn(task.train_step, self.keys['train']),
                           in_shardings=(self.repl, self.data_sharding, self.repl),
                           out_shardings=(self.repl, self.repl), donate_argnums=(0,))
      self._eval = jax.jit(task.eval_step, in_shardings=(self.repl, self.data_sharding),
                           out_shardings=self.repl)
      return
    if jax.process_count() > 1:
      raise ValueError(f'config.train.seeds={self.num_seeds}: several seeds train in one process '
                       f'(this run has {jax.process_count()}); set it to 0')
    self.seed_batches = seed_batches = self.repl
    self._init = jax.jit(jax.vmap(task.init), out_shardings=self.repl)
    train_keys = jnp.stack([lane.keys['train'] for lane in self.lanes])
    step = jax.jit(jax.vmap(lambda state, batch, key, i: with_norms(
        task.train_step, state, batch, jax.random.fold_in(key, i)), in_axes=(0, 0, 0, None)),
                   in_shardings=(self.repl, seed_batches, self.repl, self.repl),
                   out_shardings=(self.repl, self.repl), donate_argnums=(0,))
    self._step = lambda state, batch, i: step(state, batch, train_keys, i)
    self._eval = jax.jit(jax.vmap(task.eval_step, in_axes=(0, None)),
                         in_shardings=(self.repl, self.data_sharding), out_shardings=self.repl)

  # -- state --------------------------------------------------------------------------------
  def _init_keys(self):
    if not self.stacked:
      return self.keys['init']
    return jnp.stack([lane.keys['init'] for lane in self.lanes])

  def abstract_state(self, one_seed: bool = False):
    """Shapes, dtypes and shardings of the train state (of one seed's with ``one_seed``)."""
    init = self.task.init if (one_seed or not self.stacked) else jax.vmap(self.task.init)
    keys = self.keys['init'] if (one_seed or not self.stacked) else self._init_keys()
    shapes = jax.eval_shape(init, keys)
    return jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=self.repl),
                        shapes)

  def fresh_state(self):
    return self._init(self._init_keys())

  def seed_state(self, state, index: int):
    """Seed ``index``'s train state (the state itself in a plain run)."""
    return jax.tree.map(lambda x: x[index], state) if self.stacked else state

  # -- evaluation ---------------------------------------------------------------------------
  def evaluate(self, state, batches_by_split) -> dict[str, float] | list[dict[str, float]]:
    """Evaluates every split of ``{split: [global batch, ...]}``; metrics named ``split/name``
    (a list of them, one per seed, with ``train.seeds``). Each batch reaches the task's
    ``eval_step`` whole (this process's rows of every key)."""
    out = [{} for _ in self.lanes]
    for split, batches in batches_by_split.items():
      sums = [{} for _ in self.lanes]
      local = len(next(iter(batches[0].values()))) // jax.process_count()
      lo = jax.process_index() * local
      for batch in batches:
        local_batch = {k: v[lo:lo + local] for k, v in batch.items()}
        result = jax.device_get(self._eval(state, shd.shard_batch(local_batch, self.mesh)))
        for i, lane_sums in enumerate(sums):
          for k, v in result.items():
            lane_sums[k] = lane_sums.get(k, 0.0) + float(v[i] if self.stacked else v)
      for lane_out, lane_sums in zip(out, sums):
        lane_out.update({f'{split}/{k}': v for k, v in self.task.eval_summary(lane_sums).items()})
    return out if self.stacked else out[0]

  def generate(self, state, step: int, writer: logger_lib.MetricWriter | None,
               out_dir: str | None, keys: dict | None = None) -> dict[str, float]:
    """Samples (with ``fold_in(keys['sample'], step)``; this run's keys by default), writes MIDI,
    logs piano-roll pictures (samples next to real data) and audio."""
    cfg = self.config.sample
    num, length = int(cfg.num), int(cfg.length)
    if num <= 0:
      return {}
    sampler = self.sampler
    rng = jax.random.fold_in((keys or self.keys)['sample'], step)
    samples = sampler.sample(state, rng, num, length)
    stats = sampler.statistics(samples)
    if jax.process_index() != 0:
      return stats
    from dsjax import viz
    from dsjax.data import midi_io
    pieces = sampler.to_pieces(samples)
    if out_dir:
      os.makedirs(out_dir, exist_ok=True)
      for i, piece in enumerate(pieces):
        if len(piece.notes):
          midi_io.write_midi(piece, os.path.join(out_dir, f'sample_{i:02d}.mid'))
    if writer is not None:
      rolls = sampler.to_rolls(samples)
      real = sampler.real_rolls(min(num, 4), length)
      panel = viz.pianoroll_figure(rolls[:4], real, title=f'step {step}',
                                   **sampler.figure_options())
      writer.image(step, 'samples/pianoroll_left_generated_right_real', panel)
      if out_dir:
        viz.save_png(panel, os.path.join(out_dir, 'pianoroll.png'))
      for i, piece in enumerate(pieces[:int(cfg.num_audio)]):
        if len(piece.notes):
          sr = int(cfg.audio_rate)
          audio = midi_io.synthesize(piece, fs=sr)
          writer.audio(step, f'samples/audio_{i}', audio[:sr * 30], sr)
      writer.scalars(step, stats, prefix='samples/')
    return stats

  def log_figures(self, state, step: int, writer: logger_lib.MetricWriter | None,
                  out_dir: str | None) -> None:
    """Logs and writes the task's :meth:`~dsjax.tasks.base.Task.eval_figures` of ``state`` (made
    on every process, since they may run jitted code on the global state; written by the first)."""
    figures = self.task.eval_figures(state)
    if jax.process_index() != 0 or not figures:
      return
    from dsjax import viz
    for name, image in figures.items():
      if writer is not None:
        writer.image(step, f'figures/{name}', image)
      if out_dir:
        os.makedirs(out_dir, exist_ok=True)
        viz.save_png(image, os.path.join(out_dir, f'{name}.png'))

  # -- a run --------------------------------------------------------------------------------
  def train(self) -> dict[str, Any]:
    """Trains to ``train.num_steps`` (resuming from the latest checkpoint), returns the final
    metrics (the last evaluation, ``step`` and ``best/*``; with ``train.seeds``, ``step`` and
    ``seeds``, a list of each seed's). Holds the workdir's lock (one run per workdir)."""
    with self._workdir_lock():
      return self._train()

  @contextlib.contextmanager
  def _workdir_lock(self):
    """The workdir's lock, and each seed workdir's with ``train.seeds`` (a run started in one
    of them is refused too)."""
    if not self.is_main:  # the processes of one multi-host run share the workdir
      yield
      return
    with contextlib.ExitStack() as stack:
      stack.enter_context(workdir_lock.hold(self.workdir))
      for lane in self.lanes if self.stacked else ():
        stack.enter_context(workdir_lock.hold(lane.workdir))
      yield

  def _train(self) -> dict[str, Any]:
    self._warn_changed_settings()
    write_config(self.config, self.workdir)
    self._open()
    tcfg = self.config.train
    num_steps = int(tcfg.num_steps)
    log_every, eval_every = max(1, int(tcfg.log_every)), int(tcfg.eval_every)
    run = self.run
    import tqdm as tqdm_lib
    tqdm_lib.tqdm.monitor_interval = 0  # no monitor thread: nothing may write to stderr at exit
    self.bar = tqdm_lib.tqdm(total=num_steps, initial=run.step,
                             disable=not self.is_main or tcfg.quiet, dynamic_ncols=True,
                             mininterval=1.0, desc=os.path.basename(self.workdir))
    # The profiler window: from this run's second step (its first compiles), profile_steps steps.
    profile_steps = int(tcfg.profile_steps)
    profile = ((run.step + 2, run.step + 1 + profile_steps) if profile_steps > 0 else None)
    with _SigtermFlag() as sigterm:
      try:
        if self.eval_pending and eval_every > 0:
          self.evaluate_and_log(run.step)
        while run.step < num_steps:
          self._profile_start(profile, run.step + 1)
          batch = shd.shard_batch(self._next_batch(), self.mesh,
                                  self.seed_batches if self.stacked else None)
          run.state, metrics = self._step(run.state, batch, jnp.asarray(run.step, jnp.int32))
          self.pending.append(metrics)
          run.step += 1
          step = run.step
          self._profile_stop(profile, step)
          self.bar.update(1)
          if step % log_every == 0 or step == num_steps:
            self.log_train(step)
          eval_due = eval_every > 0 and (step % eval_every == 0 or step == num_steps)
          if eval_due and not sigterm.raised:
            self.flush_pending(step)
            self.evaluate_and_log(step)
          # After the evaluation: a run that dies while evaluating step S resumes before S and
          # evaluates S again. SIGTERM saves first and leaves the evaluation to the resumed run.
          if step % int(tcfg.checkpoint_every) == 0 or step == num_steps or sigterm.raised:
            self.save(step, eval_pending=eval_due and sigterm.raised)
          if sigterm.raised:
            print(f'SIGTERM: checkpoint written at step {step}; exiting.', flush=True)
            break
      finally:
        try:
          self._profile_stop(profile)   # a run that ends or fails inside the window
        finally:
          self._close()
    return self._finish(num_steps)

  def _next_batch(self):
    if not self.stacked:
      return next(self.lanes[0].data)
    batches = [next(lane.data) for lane in self.lanes]
    return {k: np.stack([b[k] for b in batches]) for k in batches[0]}

  def _warn_changed_settings(self):
    previous = os.path.join(self.workdir, 'config.json')
    if not (os.path.exists(previous) and self.is_main):
      return
    with open(previous) as f:
      changed = changed_settings(with_base_defaults(json.load(f)),
                                 json.loads(self.config.to_json_best_effort()))
    if changed:  # e.g. a longer num_steps also stretches the learning-rate schedule
      lines = '\n'.join(f'  {k}: {a!r} -> {b!r}' for k, a, b in
                        ((k, *v) for k, v in changed.items()))
      logging.warning('workdir %s was started with other settings; a resumed run is no longer '
                      'the uninterrupted one:\n%s', self.workdir, lines)
      print(f'Settings changed since this workdir was started (resuming is not exact):\n{lines}',
            flush=True)

  def _open(self):
    """Each lane's checkpointers, data stream and writer, and the run state (restored or fresh)."""
    tcfg = self.config.train
    # Several processes save synchronously: orbax's background save thread meets the other
    # processes at barriers of its own, which can interleave with the training step's collectives.
    async_save = jax.process_count() == 1
    # Model selection: the eval with the best ``train.select_by`` metric is kept in
    # checkpoints_best/ and its metrics (all splits, e.g. the test NLL at the best validation NLL)
    # in best.json.
    self.select_by = str(tcfg.select_by)
    for lane in self.lanes:
      if self.stacked:
        write_config(self.seed_config(lane.seed), lane.workdir)
      lane.checkpointer = ckpt_lib.Checkpointer(lane.ckpt_dir, every=int(tcfg.checkpoint_every),
                                                keep=int(tcfg.keep_checkpoints),
                                                async_save=async_save)
      lane.data = self.task.train_data(jax.process_index(), jax.process_count(),
                                       **({'seed': lane.seed} if self.stacked else {}))
      lane.writer = logger_lib.MetricWriter(os.path.join(lane.workdir, 'tensorboard'))
      best_path = os.path.join(lane.workdir, 'best.json')
      if self.select_by and os.path.exists(best_path):
        with open(best_path) as f:
          lane.best = json.load(f)
      if self.select_by:
        lane.best_ckpt = ckpt_lib.Checkpointer(os.path.join(lane.workdir, 'checkpoints_best'),
                                               every=1, keep=1, async_save=async_save)
    self.eval_pending = False
    restored = self._restore_newest_good()
    if restored is not None:
      step, per_lane = restored
      for lane, (_, meta, _) in zip(self.lanes, per_lane):
        lane.data.restore(meta['data'])
        lane.history = _window_from_json(meta.get('train_window'))
        self.eval_pending = bool(meta.get('eval_pending'))
        self._truncate_metrics(lane, step, drop_eval_at_step=self.eval_pending)
      states = [state for state, _, _ in per_lane]
      state = states[0] if not self.stacked else jax.device_put(
          jax.tree.map(lambda *xs: jnp.stack(xs), *states), self.repl)
      logging.info('resumed from step %d in %s', step, self.workdir)
      where = self.ckpt_dir if not self.stacked else os.path.join(self.workdir, 'seed_*')
      print(f'Resuming from checkpoint at step {step} in {where}', flush=True)
      self.run = RunState(state, step, last_good=step)
    else:
      for lane in self.lanes:
        self._truncate_metrics(lane, 0)
      self.run = RunState(self.fresh_state(), 0)
    self.eval_batches = self.task.eval_batches() if int(tcfg.eval_every) > 0 else {}
    self.pending: list = []             # device metrics not yet fetched
    self.pending_first = self.run.step  # the step before pending[0]
    self.t_last, self.step_last = time.time(), self.run.step

  def _restore_newest_good(self):
    """``(step, [(state, meta, step) per lane])`` of the newest step every lane has an intact
    checkpoint of, or None (start afresh). A damaged checkpoint is moved aside
    (``checkpoints_damaged/``, kept) with one line saying which and why, and the next older one
    is tried."""
    abstract = self.abstract_state(one_seed=True)
    set_aside = []
    while True:
      step = self._resume_step()
      if step is None:
        if set_aside:  # never start afresh over checkpoints that were there: say so instead
          raise ValueError(f'{self.workdir}: no checkpoint restores (steps {sorted(set_aside)} '
                           f'set aside into checkpoints_damaged/); move them back to retry, or '
                           f'train in a new --workdir')
        return None
      try:
        restored = [lane.checkpointer.restore(abstract, step) for lane in self.lanes]
      except ckpt_lib.CheckpointDamaged as e:
        set_aside.append(step)
        lane = next(lane for lane in self.lanes if e.path.startswith(lane.ckpt_dir + os.sep))
        moved = self._set_aside(lane, step)
        print(f'Skipping the checkpoint of step {step}: {e.reason}; moved to {moved}',
              flush=True)
        continue
      # A seed whose newer checkpoint was set aside leaves the others' newer ones: they would be
      # written again (orbax refuses a step that exists), so they go aside too.
      for lane in self.lanes:
        for newer in [s for s in lane.checkpointer.all_steps() if s > step]:
          moved = self._set_aside(lane, newer)
          print(f'Setting aside the checkpoint of step {newer} in {lane.ckpt_dir} (newer than '
                f'step {step}, which every seed resumes from): moved to {moved}', flush=True)
      return step, restored

  def _set_aside(self, lane: 'Lane', step: int) -> str:
    """Moves ``lane``'s checkpoint of ``step`` aside (process 0, between barriers; the others
    re-read the folder); where it went ('?' on the other processes)."""
    _sync_processes(f'dsjax_set_aside_{lane.seed}_{step}')
    moved = lane.checkpointer.set_aside(step) if self.is_main else '?'
    _sync_processes(f'dsjax_set_aside_{lane.seed}_{step}_done')
    if not self.is_main:
      lane.checkpointer.reload()
    return moved

  def _truncate_metrics(self, lane: 'Lane', step: int, drop_eval_at_step: bool = False):
    """Drops the records of ``metrics.jsonl`` after ``step`` (a resumed run writes them again),
    the eval record of ``step`` itself when the resumed run evaluates it again, and a last line
    cut short by a crash."""
    path = os.path.join(lane.workdir, 'metrics.jsonl')
    if not (self.is_main and os.path.exists(path)):
      return
    kept, dropped = [], 0
    with open(path) as f:
      for line in f:
        try:
          record = json.loads(line)
        except ValueError:
          dropped += 1
          continue
        at = record.get('step', 0) if isinstance(record, dict) else None
        if not isinstance(at, (int, float)):
          dropped += 1
          continue
        if at < step or (at == step and not (drop_eval_at_step
                                             and record.get('split') == 'eval')):
          kept.append(line if line.endswith('\n') else line + '\n')
        else:
          dropped += 1
    if dropped:
      tmp = path + '.tmp'
      with open(tmp, 'w') as f:
        f.writelines(kept)
      os.replace(tmp, path)

  def _resume_step(self) -> int | None:
    """The newest step every lane has a checkpoint of (None: start afresh)."""
    steps = [set(lane.checkpointer.all_steps()) for lane in self.lanes]
    common = set.intersection(*steps)
    if common:
      return max(common)
    if any(steps):
      raise ValueError(f'{self.workdir}: its seeds have no checkpoint step in common '
                       f'({[sorted(s) for s in steps]}); resume is not possible')
    return None

  def seed_config(self, seed: int):
    """The config of seed ``seed``'s own workdir: this one with ``seed`` and ``train.seeds = 0``."""
    config = self.config.copy_and_resolve_references()
    with config.unlocked():
      config.seed = seed
      config.train.seeds = 0
    return config

  def _profile_start(self, window, step: int):
    """Starts a ``jax.profiler`` trace (into ``WORKDIR/tensorboard``) before step ``window[0]``
    (steps numbered from 1, as logged); ``step`` is the step about to run."""
    if window is not None and self.is_main and step == window[0] and not self._tracing:
      jax.profiler.start_trace(os.path.join(self.workdir, 'tensorboard'))
      self._tracing = True

  def _profile_stop(self, window, step: int | None = None):
    """Stops the trace after step ``window[1]`` (``step`` None: now, whatever the step)."""
    if not self._tracing or (step is not None and step != window[1]):
      return
    self._tracing = False
    jax.block_until_ready(self.run.state)
    jax.profiler.stop_trace()
    print(f'profile of steps {window[0]}..{self.run.step} written to '
          f'{os.path.join(self.workdir, "tensorboard")}', flush=True)

  def log_json(self, lane: Lane, record: dict):
    if self.is_main:
      with open(os.path.join(lane.workdir, 'metrics.jsonl'), 'a') as f:
        f.write(json.dumps(record, sort_keys=True) + '\n')

  def _lane_metrics(self, metrics: dict, index: int) -> dict:
    return {k: v[index] for k, v in metrics.items()} if self.stacked else metrics

  def flush_pending(self, step: int):
    """Fetches the pending steps' metrics, checks them for NaN/Inf and logs each step's record
    (with ``train.log_every_step_to_json``)."""
    if not self.pending:
      return
    host = [jax.tree.map(np.asarray, m) for m in jax.device_get(self.pending)]
    for i, lane in enumerate(self.lanes):
      lane_host = [self._lane_metrics(m, i) for m in host]
      what = f'seed {lane.seed}: ' if self.stacked else ''
      _check_finite(lane_host, self.pending_first, self.run.last_good, lane.ckpt_dir, what)
      if self.config.train.log_every_step_to_json:
        for j, m in enumerate(lane_host):
          self.log_json(lane, {'step': self.pending_first + j + 1,
                               **{k: float(v) for k, v in m.items()}})
      lane.history.extend(lane_host)
    self.pending, self.pending_first = [], step

  def log_train(self, step: int):
    """The mean of the metrics since the last log, the rates and learning rates."""
    self.flush_pending(step)
    now = time.time()
    rate = (step - self.step_last) / max(now - self.t_last, 1e-9)
    rates = {f'lr/{k}': v for k, v in self.task.learning_rates(step).items()}
    losses = []
    for lane in self.lanes:
      scalars = _mean_metrics(lane.history)
      scalars.update(steps_per_s=rate, examples_per_s=rate * self.global_batch)
      scalars.update(rates)
      lane.writer.scalars(step, scalars, prefix='train/')
      self.log_json(lane, {'step': step, 'split': 'train', **scalars})
      losses.append(scalars['loss'])
      lane.history = []
    self.bar.set_postfix(loss=' '.join(f'{x:.4f}' for x in losses))
    self.t_last, self.step_last = now, step

  def evaluate_and_log(self, step: int):
    """Evaluates and samples each seed's state at ``step``; logs it; keeps the best by
    ``select_by``."""
    run, tcfg = self.run, self.config.train
    _check_state_finite(run.state, step, run.last_good, self.ckpt_dir)
    evs = self.evaluate(run.state, self.eval_batches)
    for i, lane in enumerate(self.lanes):
      ev = evs[i] if self.stacked else evs
      state = self.seed_state(run.state, i)
      sample_dir = os.path.join(lane.workdir, 'samples', f'step_{step:07d}')
      ev.update(self.generate(state, step, lane.writer, sample_dir, lane.keys))
      self.log_figures(state, step, lane.writer, sample_dir)
      lane.writer.scalars(step, ev, prefix='eval/')
      self.log_json(lane, {'step': step, 'split': 'eval', **ev})
      self.bar.write((f'seed {lane.seed}, ' if self.stacked else '') + f'step {step}: '
                     + ', '.join(f'{k}={v:.4f}' for k, v in ev.items()))
      lane.final = dict(ev)
      if not self.select_by:
        continue
      if self.select_by not in ev:
        raise KeyError(f'config.train.select_by={self.select_by!r} is not an eval metric; '
                       f'eval metrics: {sorted(ev)}')
      sign = -1.0 if str(tcfg.select_mode) == 'min' else 1.0
      if not lane.best or sign * ev[self.select_by] > sign * lane.best[self.select_by]:
        lane.best = {'step': step, **ev}
        lane.best_ckpt.save(step, state, self._meta(lane, step), force=True)
        if self.is_main:
          with open(os.path.join(lane.workdir, 'best.json'), 'w') as f:
            json.dump(lane.best, f, indent=1, sort_keys=True)

  def _meta(self, lane: Lane, step: int, eval_pending: bool = False) -> dict:
    # eval_pending: the checkpoint's step was due an evaluation that SIGTERM cut short; the
    # resumed run evaluates it first.
    return {'step': step, 'data': lane.data.state(), 'seed': lane.seed,
            'train_key': np.asarray(jax.random.key_data(lane.keys['train'])).tolist(),
            'eval_pending': bool(eval_pending),
            'train_window': _window_to_json(lane.history)}

  def save(self, step: int, eval_pending: bool = False):
    """Checkpoints each seed's (finite) state at ``step``."""
    self.flush_pending(step)
    _check_state_finite(self.run.state, step, self.run.last_good, self.ckpt_dir)
    for i, lane in enumerate(self.lanes):
      lane.checkpointer.save(step, self.seed_state(self.run.state, i),
                             self._meta(lane, step, eval_pending), force=True)
    self.run.last_good = step

  def _close(self):
    self.bar.close()
    for lane in self.lanes:
      if hasattr(lane.data, 'close'):
        lane.data.close()
      lane.checkpointer.close()
      if lane.best_ckpt is not None:
        lane.best_ckpt.close()
      lane.writer.flush()

  def _finish(self, num_steps: int) -> dict[str, Any]:
    finals = []
    for lane in self.lanes:
      final = dict(lane.final, step=self.run.step)
      final.update({f'best/{k}': v for k, v in lane.best.items()})
      if self.is_main and self.run.step == num_steps:
        config = self.seed_config(lane.seed) if self.stacked else self.config
        hp = dict(_flatten(config.to_dict()))
        hp.update(self.task.hparams())
        lane.writer.hparams(hp, {k: v for k, v in final.items() if isinstance(v, float)})
      lane.writer.close()
      finals.append(final)
    if self.stacked:
      return {'step': self.run.step, 'seeds': finals}
    return finals[0]


def with_norms(task_step, state, batch, rng):
  """A task's ``train_step``, with ``param_norm`` / ``update_norm`` of ``state['params']`` added
  to its metrics."""
  new, metrics = task_step(state, batch, rng)
  change = jax.tree.map(jnp.subtract, new['params'], state['params'])
  return new, dict(metrics, param_norm=optax.tree.norm(new['params']),
                   update_norm=optax.tree.norm(change))


def train_step_fn(task_step, train_key):
  """The loop's step around a task's ``train_step``: its rng is ``fold_in(train_key, step)``, and
  ``param_norm`` / ``update_norm`` of ``state['params']`` join its metrics."""
  def step_fn(state, batch, step):
    return with_norms(task_step, state, batch, jax.random.fold_in(train_key, step))
  return step_fn


def _window_to_json(history: list[dict]) -> dict:
  """The per-step train metrics since the last train log (a checkpoint off the ``log_every``
  grid carries them, so that the resumed run's next record averages the whole window)."""
  if not history:
    return {}
  return {k: {'dtype': str(np.asarray(history[0][k]).dtype),
              'values': [np.asarray(h[k]).tolist() for h in history]} for k in history[0]}


def _window_from_json(window: dict | None) -> list[dict]:
  if not window:
    return []
  n = len(next(iter(window.values()))['values'])
  return [{k: np.asarray(v['values'][i], dtype=v['dtype']) for k, v in window.items()}
          for i in range(n)]


def _sync_processes(name: str):
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils
    multihost_utils.sync_global_devices(name)


def _mean_metrics(history: list[dict[str, np.ndarray]]) -> dict[str, float]:
  keys = history[0].keys()
  return {k: float(np.mean([h[k] for h in history])) for k in keys}


def _stop_non_finite(what: str, last_good: int | None, ckpt_dir: str):
  where = (f'the last good checkpoint is step {last_good} in {ckpt_dir}'
           if last_good is not None else 'no checkpoint was written yet')
  raise NonFiniteLossError(
      f'{what}; stopping. {where}; resume from it with a lower learning rate or gradient clipping '
      f'(--config.optim.learning_rate, --config.optim.grad_clip_norm).')


def _check_finite(history, first_step: int, last_good: int | None, ckpt_dir: str,
                  what: str = ''):
  for i, m in enumerate(history):
    for k in ('loss', 'grad_norm'):
      if k in m and not np.all(np.isfinite(m[k])):
        _stop_non_finite(f'{what}{k} became {float(m[k])} at step {first_step + i + 1}',
                         last_good, ckpt_dir)


@jax.jit
def _all_finite(state) -> jax.Array:
  """Whether every floating-point leaf of the train state is finite (a scalar bool)."""
  leaves = [x for x in jax.tree.leaves(state) if jnp.issubdtype(jnp.asarray(x).dtype, jnp.floating)]
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves])) if leaves else jnp.bool_(True)


def _check_state_finite(state, step: int, last_good: int | None, ckpt_dir: str):
  """Refuses to checkpoint a state whose parameters or optimiser moments overflowed (an update can
  do that even when the loss and gradient of its step were finite)."""
  if not bool(_all_finite(state)):
    _stop_non_finite(f'the train state became non-finite at step {step} (not saved)', last_good,
                     ckpt_dir)


def train_and_evaluate(config, workdir: str) -> dict[str, Any]:
  """Trains ``config`` in ``workdir`` (resuming from its newest intact checkpoint), returns final
  metrics. The workdir's lock is taken first: a second run on it fails at once."""
  if jax.process_index() != 0:
    return Trainer(config, workdir).train()
  with workdir_lock.hold(workdir):
    return Trainer(config, workdir).train()


def _flatten(d: dict, prefix: str = '') -> dict[str, Any]:
  out = {}
  for k, v in d.items():
    if isinstance(v, dict):
      out.update(_flatten(v, f'{prefix}{k}.'))
    elif v is None or isinstance(v, (int, float, str, bool)):
      out[f'{prefix}{k}'] = v if v is not None else 'None'
    else:
      out[f'{prefix}{k}'] = str(v)
  return out


def restore_for_inference(workdir: str, step: int | None = None, best: bool = False):
  """(config, trainer, state, step) of a workdir's latest (or given, or best) checkpoint."""
  config = load_config(workdir)
  if int(config.train.seeds):
    seeds = int(config.seed) + np.arange(int(config.train.seeds))
    raise ValueError(f'{workdir}: a run of {len(seeds)} seeds side by side; give one of its '
                     f'seed workdirs ({", ".join(f"seed_{s}" for s in seeds)})')
  trainer = Trainer(config, workdir)
  folder = os.path.join(trainer.workdir, 'checkpoints_best' if best else 'checkpoints')
  if best and not os.path.isdir(folder):
    raise FileNotFoundError(f'{workdir}: no best checkpoint ({folder} does not exist: the run '
                            f'keeps one when train.select_by names an eval metric, at its first '
                            f'evaluation)')
  checkpointer = ckpt_lib.Checkpointer(folder, every=1)
  try:
    if step is not None:
      state, _, step = checkpointer.restore(trainer.abstract_state(), step)
      return config, trainer, state, step
    steps = checkpointer.all_steps()
    if not steps:
      raise FileNotFoundError(f'{workdir}: no checkpoint in {folder} (train the run first)')
    for step in reversed(steps):  # the newest intact one; a damaged one is skipped, not moved
      try:
        state, _, step = checkpointer.restore(trainer.abstract_state(), step)
        return config, trainer, state, step
      except ckpt_lib.CheckpointDamaged as e:
        print(f'Skipping the checkpoint of step {step}: {e.reason}', flush=True)
    raise ValueError(f'{workdir}: no intact checkpoint in {folder} (steps {steps} all damaged)')
  finally:
    checkpointer.close()


