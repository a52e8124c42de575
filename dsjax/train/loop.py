"""One generic training loop for every experiment: ``train_and_evaluate(config, workdir)``.

Seeds: ``jax.random.key(config.seed)`` is split once by purpose (init, train, sample); the train
step gets ``fold_in(train_key, step)``, the data stream is a pure function of (seed, step), so a
resumed run continues exactly where the interrupted one would have gone.
"""

from __future__ import annotations

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


# Settings that change what a run prints or records about itself, never what it trains.
NOT_TRAINING = ('train.quiet', 'train.log_every_step_to_json', 'train.profile_steps')


def changed_settings(old: dict, new: dict) -> dict[str, tuple[Any, Any]]:
  """``{dotted key: (old, new)}`` for every setting that differs between two config dicts
  (leaving out :data:`NOT_TRAINING`)."""
  a, b = _flatten(old), _flatten(new)
  return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b))
          if a.get(k) != b.get(k) and k not in NOT_TRAINING}


def load_config(workdir: str):
  """The resolved config a run wrote to its workdir."""
  import ml_collections
  path = os.path.join(workdir, 'config.json')
  if not os.path.exists(path):
    raise FileNotFoundError(f'{path}: not a dsjax workdir (no config.json)')
  with open(path) as f:
    return ml_collections.ConfigDict(json.load(f))


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
  """What changes as a run goes: the train state and step, the last checkpointed step, the best
  evaluation so far (by ``train.select_by``) and the latest evaluation's metrics."""
  state: Any
  step: int
  last_good: int | None = None
  best: dict = dataclasses.field(default_factory=dict)
  final: dict = dataclasses.field(default_factory=dict)


class Trainer:
  """One run of ``config`` in ``workdir``: builds the task, its sampler, the mesh and the jitted
  steps; :meth:`train` drives them (``train_and_evaluate``). ``restore_for_inference`` builds one
  to restore a workdir's state (``launch.generate`` then samples with ``trainer.sampler``).

  The train step is ``(state, batch, step) -> (state, metrics)``; besides the task's metrics it
  logs ``param_norm`` (global norm of ``state['params']`` after the step) and ``update_norm``
  (global norm of the change the step made to them).
  """

  def __init__(self, config, workdir: str):
    self.config = config
    self.workdir = os.path.abspath(workdir)
    self.task = get_task(config)
    self.sampler = self.task.sampler()
    self.mesh = shd.make_mesh()
    self.global_batch = int(config.data.batch_size)
    shd.check_batch_size(self.global_batch, self.mesh)
    if int(config.train.eval_every) > 0 and 'eval_batch_size' in config.data:
      shd.check_batch_size(int(config.data.eval_batch_size), self.mesh,
                           'config.data.eval_batch_size')
    if int(config.train.checkpoint_every) < 1:
      raise ValueError(f'config.train.checkpoint_every={config.train.checkpoint_every}: must be at '
                       'least 1 (a checkpoint is also written at the end and on SIGTERM)')
    self.keys = purpose_keys(int(config.seed))
    self.repl = shd.replicated(self.mesh)
    self.data_sharding = shd.batch_sharding(self.mesh)
    self.ckpt_dir = os.path.join(self.workdir, 'checkpoints')
    self.is_main = jax.process_index() == 0
    self._tracing = False
    self._init = jax.jit(self.task.init, out_shardings=self.repl)
    self._step = jax.jit(train_step_fn(self.task.train_step, self.keys['train']),
                         in_shardings=(self.repl, self.data_sharding, self.repl),
                         out_shardings=(self.repl, self.repl), donate_argnums=(0,))
    self._eval = jax.jit(self.task.eval_step, in_shardings=(self.repl, self.data_sharding),
                         out_shardings=self.repl)

  # -- state --------------------------------------------------------------------------------
  def abstract_state(self):
    shapes = jax.eval_shape(self.task.init, self.keys['init'])
    return jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=self.repl),
                        shapes)

  def fresh_state(self):
    return self._init(self.keys['init'])

  # -- evaluation ---------------------------------------------------------------------------
  def evaluate(self, state, batches_by_split) -> dict[str, float]:
    """Evaluates every split of ``{split: [global batch, ...]}``; metrics named ``split/name``.
    Each batch reaches the task's ``eval_step`` whole (this process's rows of every key)."""
    out = {}
    for split, batches in batches_by_split.items():
      sums: dict[str, float] = {}
      local = len(next(iter(batches[0].values()))) // jax.process_count()
      lo = jax.process_index() * local
      for batch in batches:
        local_batch = {k: v[lo:lo + local] for k, v in batch.items()}
        result = jax.device_get(self._eval(state, shd.shard_batch(local_batch, self.mesh)))
        for k, v in result.items():
          sums[k] = sums.get(k, 0.0) + float(v)
      out.update({f'{split}/{k}': v for k, v in self.task.eval_summary(sums).items()})
    return out

  def generate(self, state, step: int, writer: logger_lib.MetricWriter | None,
               out_dir: str | None) -> dict[str, float]:
    """Samples, writes MIDI, logs piano-roll pictures (samples next to real data) and audio."""
    cfg = self.config.sample
    num, length = int(cfg.num), int(cfg.length)
    if num <= 0:
      return {}
    sampler = self.sampler
    rng = jax.random.fold_in(self.keys['sample'], step)
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
      panel = viz.rolls_panel(rolls[:4], real)
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

  # -- a run --------------------------------------------------------------------------------
  def train(self) -> dict[str, Any]:
    """Trains to ``train.num_steps`` (resuming from the latest checkpoint), returns the final
    metrics (the last evaluation, ``step`` and ``best/*``)."""
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
        if self.restored_meta.get('eval_pending') and eval_every > 0:
          self.evaluate_and_log(run.step)
        while run.step < num_steps:
          self._profile_start(profile, run.step + 1)
          batch = shd.shard_batch(next(self.data), self.mesh)
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

  def _warn_changed_settings(self):
    previous = os.path.join(self.workdir, 'config.json')
    if not (os.path.exists(previous) and self.is_main):
      return
    with open(previous) as f:
      changed = changed_settings(json.load(f), json.loads(self.config.to_json_best_effort()))
    if changed:  # e.g. a longer num_steps also stretches the learning-rate schedule
      lines = '\n'.join(f'  {k}: {a!r} -> {b!r}' for k, a, b in
                        ((k, *v) for k, v in changed.items()))
      logging.warning('workdir %s was started with other settings; a resumed run is no longer '
                      'the uninterrupted one:\n%s', self.workdir, lines)
      print(f'Settings changed since this workdir was started (resuming is not exact):\n{lines}',
            flush=True)

  def _open(self):
    """Checkpointers, the data stream, the writer and the run state (restored or fresh)."""
    tcfg = self.config.train
    # Several processes save synchronously: orbax's background save thread meets the other
    # processes at barriers of its own, which can interleave with the training step's collectives.
    async_save = jax.process_count() == 1
    self.checkpointer = ckpt_lib.Checkpointer(self.ckpt_dir, every=int(tcfg.checkpoint_every),
                                              keep=int(tcfg.keep_checkpoints),
                                              async_save=async_save)
    self.data = self.task.train_data(jax.process_index(), jax.process_count())
    self.restored_meta = {}
    if self.checkpointer.latest_step() is not None:
      state, self.restored_meta, step = self.checkpointer.restore(self.abstract_state())
      self.data.restore(self.restored_meta['data'])
      logging.info('resumed from step %d in %s', step, self.ckpt_dir)
      print(f'Resuming from checkpoint at step {step} in {self.ckpt_dir}', flush=True)
      self.run = RunState(state, step, last_good=step)
    else:
      self.run = RunState(self.fresh_state(), 0)
    self.writer = logger_lib.MetricWriter(os.path.join(self.workdir, 'tensorboard'))
    self.metrics_path = os.path.join(self.workdir, 'metrics.jsonl')
    self.eval_batches = self.task.eval_batches() if int(tcfg.eval_every) > 0 else {}
    # Model selection: the eval with the best ``train.select_by`` metric is kept in
    # checkpoints_best/ and its metrics (all splits, e.g. the test NLL at the best validation NLL)
    # in best.json.
    self.select_by = str(tcfg.select_by)
    self.best_path = os.path.join(self.workdir, 'best.json')
    if self.select_by and os.path.exists(self.best_path):
      with open(self.best_path) as f:
        self.run.best = json.load(f)
    self.best_ckpt = (ckpt_lib.Checkpointer(os.path.join(self.workdir, 'checkpoints_best'),
                                            every=1, keep=1, async_save=async_save)
                      if self.select_by else None)
    self.history: list[dict] = []       # host metrics of the steps since the last train log
    self.pending: list = []             # device metrics not yet fetched
    self.pending_first = self.run.step  # the step before pending[0]
    self.t_last, self.step_last = time.time(), self.run.step

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

  def log_json(self, record: dict):
    if self.is_main:
      with open(self.metrics_path, 'a') as f:
        f.write(json.dumps(record, sort_keys=True) + '\n')

  def flush_pending(self, step: int):
    """Fetches the pending steps' metrics, checks them for NaN/Inf and logs each step's record
    (with ``train.log_every_step_to_json``)."""
    if not self.pending:
      return
    host = [jax.tree.map(np.asarray, m) for m in jax.device_get(self.pending)]
    _check_finite(host, self.pending_first, self.run.last_good, self.ckpt_dir)
    if self.config.train.log_every_step_to_json:
      for i, m in enumerate(host):
        self.log_json({'step': self.pending_first + i + 1, **{k: float(v) for k, v in m.items()}})
    self.history.extend(host)
    self.pending, self.pending_first = [], step

  def log_train(self, step: int):
    """The mean of the metrics since the last log, the rates and learning rates."""
    self.flush_pending(step)
    now = time.time()
    rate = (step - self.step_last) / max(now - self.t_last, 1e-9)
    scalars = _mean_metrics(self.history)
    scalars.update(steps_per_s=rate, examples_per_s=rate * self.global_batch)
    scalars.update({f'lr/{k}': v for k, v in self.task.learning_rates(step).items()})
    self.writer.scalars(step, scalars, prefix='train/')
    self.log_json({'step': step, 'split': 'train', **scalars})
    self.bar.set_postfix(loss=f"{scalars['loss']:.4f}")
    self.history, self.t_last, self.step_last = [], now, step

  def evaluate_and_log(self, step: int):
    """Evaluates and samples the state at ``step``; logs it; keeps the best by ``select_by``."""
    run, tcfg = self.run, self.config.train
    _check_state_finite(run.state, step, run.last_good, self.ckpt_dir)
    ev = self.evaluate(run.state, self.eval_batches)
    sample_dir = os.path.join(self.workdir, 'samples', f'step_{step:07d}')
    ev.update(self.generate(run.state, step, self.writer, sample_dir))
    self.writer.scalars(step, ev, prefix='eval/')
    self.log_json({'step': step, 'split': 'eval', **ev})
    self.bar.write(f'step {step}: ' + ', '.join(f'{k}={v:.4f}' for k, v in ev.items()))
    run.final = dict(ev)
    if not self.select_by:
      return
    if self.select_by not in ev:
      raise KeyError(f'config.train.select_by={self.select_by!r} is not an eval metric; '
                     f'eval metrics: {sorted(ev)}')
    sign = -1.0 if str(tcfg.select_mode) == 'min' else 1.0
    if not run.best or sign * ev[self.select_by] > sign * run.best[self.select_by]:
      run.best = {'step': step, **ev}
      self.best_ckpt.save(step, run.state, self._meta(step), force=True)
      if self.is_main:
        with open(self.best_path, 'w') as f:
          json.dump(run.best, f, indent=1, sort_keys=True)

  def _meta(self, step: int, eval_pending: bool = False) -> dict:
    # eval_pending: the checkpoint's step was due an evaluation that SIGTERM cut short; the
    # resumed run evaluates it first.
    return {'step': step, 'data': self.data.state(), 'seed': int(self.config.seed),
            'train_key': np.asarray(jax.random.key_data(self.keys['train'])).tolist(),
            'eval_pending': bool(eval_pending)}

  def save(self, step: int, eval_pending: bool = False):
    """Checkpoints the (finite) state at ``step``."""
    self.flush_pending(step)
    _check_state_finite(self.run.state, step, self.run.last_good, self.ckpt_dir)
    self.checkpointer.save(step, self.run.state, self._meta(step, eval_pending), force=True)
    self.run.last_good = step

  def _close(self):
    self.bar.close()
    if hasattr(self.data, 'close'):
      self.data.close()
    self.checkpointer.close()
    if self.best_ckpt is not None:
      self.best_ckpt.close()
    self.writer.flush()

  def _finish(self, num_steps: int) -> dict[str, Any]:
    run = self.run
    final = dict(run.final, step=run.step)
    final.update({f'best/{k}': v for k, v in run.best.items()})
    if self.is_main and run.step == num_steps:
      hp = dict(_flatten(self.config.to_dict()))
      hp.update(self.task.hparams())
      self.writer.hparams(hp, {k: v for k, v in final.items() if isinstance(v, float)})
    self.writer.close()
    return final


def train_step_fn(task_step, train_key):
  """The loop's step around a task's ``train_step``: its rng is ``fold_in(train_key, step)``, and
  ``param_norm`` / ``update_norm`` of ``state['params']`` join its metrics."""
  def step_fn(state, batch, step):
    new, metrics = task_step(state, batch, jax.random.fold_in(train_key, step))
    change = jax.tree.map(jnp.subtract, new['params'], state['params'])
    return new, dict(metrics, param_norm=optax.tree.norm(new['params']),
                     update_norm=optax.tree.norm(change))
  return step_fn


def _mean_metrics(history: list[dict[str, np.ndarray]]) -> dict[str, float]:
  keys = history[0].keys()
  return {k: float(np.mean([h[k] for h in history])) for k in keys}


def _stop_non_finite(what: str, last_good: int | None, ckpt_dir: str):
  where = (f'the last good checkpoint is step {last_good} in {ckpt_dir}'
           if last_good is not None else 'no checkpoint was written yet')
  raise NonFiniteLossError(
      f'{what}; stopping. {where}; resume from it with a lower learning rate or gradient clipping '
      f'(--config.optim.learning_rate, --config.optim.grad_clip_norm).')


def _check_finite(history, first_step: int, last_good: int | None, ckpt_dir: str):
  for i, m in enumerate(history):
    for k in ('loss', 'grad_norm'):
      if k in m and not np.all(np.isfinite(m[k])):
        _stop_non_finite(f'{k} became {float(m[k])} at step {first_step + i + 1}', last_good,
                         ckpt_dir)


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
  """Trains ``config`` in ``workdir`` (resuming from its latest checkpoint), returns final metrics."""
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
  trainer = Trainer(config, workdir)
  folder = 'checkpoints_best' if best else 'checkpoints'
  checkpointer = ckpt_lib.Checkpointer(os.path.join(trainer.workdir, folder), every=1)
  state, _, step = checkpointer.restore(trainer.abstract_state(), step)
  checkpointer.close()
  return config, trainer, state, step


