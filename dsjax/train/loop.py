"""One generic training loop for every experiment: ``train_and_evaluate(config, workdir)``.

Seeds: ``jax.random.key(config.seed)`` is split once by purpose (init, train, sample); the train
step gets ``fold_in(train_key, step)``, the data stream is a pure function of (seed, step), so a
resumed run continues exactly where the interrupted one would have gone.
"""

from __future__ import annotations

import json
import os
import signal
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
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


def changed_settings(old: dict, new: dict) -> dict[str, tuple[Any, Any]]:
  """``{dotted key: (old, new)}`` for every setting that differs between two config dicts."""
  a, b = _flatten(old), _flatten(new)
  return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}


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


class Trainer:
  """Builds everything a run needs; ``train_and_evaluate`` drives it."""

  def __init__(self, config, workdir: str):
    self.config = config
    self.workdir = os.path.abspath(workdir)
    self.task = get_task(config)
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

    task = self.task
    train_key = self.keys['train']

    def step_fn(state, batch, step):
      return task.train_step(state, batch, jax.random.fold_in(train_key, step))

    self._init = jax.jit(task.init, out_shardings=self.repl)
    self._step = jax.jit(step_fn, in_shardings=(self.repl, self.data_sharding, self.repl),
                         out_shardings=(self.repl, self.repl), donate_argnums=(0,))
    self._eval = jax.jit(task.eval_step, in_shardings=(self.repl, self.data_sharding),
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
    """Evaluates every split of ``{split: [global batch, ...]}``; metrics named ``split/name``."""
    out = {}
    for split, batches in batches_by_split.items():
      sums: dict[str, float] = {}
      local = len(next(iter(batches[0].values()))) // jax.process_count()
      lo = jax.process_index() * local
      for batch in batches:
        local_batch = {k: v[lo:lo + local] for k, v in batch.items()
                       if k in ('inputs', 'targets', 'mask', 'condition')}
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
    rng = jax.random.fold_in(self.keys['sample'], step)
    samples = self.task.sample(state, rng, num, length)
    stats = self.task.sample_statistics(samples)
    if jax.process_index() != 0:
      return stats
    from dsjax import viz
    from dsjax.data import midi_io
    pieces = self.task.to_pieces(samples)
    if out_dir:
      os.makedirs(out_dir, exist_ok=True)
      for i, piece in enumerate(pieces):
        if len(piece.notes):
          midi_io.write_midi(piece, os.path.join(out_dir, f'sample_{i:02d}.mid'))
    if writer is not None:
      rolls = self.task.to_rolls(samples)
      real = self.task.real_rolls(min(num, 4), length)
      panel = viz.rolls_panel(rolls[:4], real)
      writer.image(step, 'samples/pianoroll_left_generated_right_real', panel)
      if out_dir:
        viz.save_png(panel, os.path.join(out_dir, 'pianoroll.png'))
      for i, piece in enumerate(pieces[:int(self.config.sample.num_audio)]):
        if len(piece.notes):
          sr = int(self.config.sample.audio_rate)
          audio = midi_io.synthesize(piece, fs=sr)
          writer.audio(step, f'samples/audio_{i}', audio[:sr * 30], sr)
      writer.scalars(step, stats, prefix='samples/')
    return stats


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
  trainer = Trainer(config, workdir)
  task = trainer.task
  previous = os.path.join(trainer.workdir, 'config.json')
  if os.path.exists(previous) and jax.process_index() == 0:
    with open(previous) as f:
      changed = changed_settings(json.load(f), json.loads(config.to_json_best_effort()))
    if changed:  # e.g. a longer num_steps also stretches the learning-rate schedule
      lines = '\n'.join(f'  {k}: {a!r} -> {b!r}' for k, a, b in
                        ((k, *v) for k, v in changed.items()))
      logging.warning('workdir %s was started with other settings; a resumed run is no longer '
                      'the uninterrupted one:\n%s', trainer.workdir, lines)
      print(f'Settings changed since this workdir was started (resuming is not exact):\n{lines}',
            flush=True)
  write_config(config, workdir)
  tcfg = config.train
  num_steps = int(tcfg.num_steps)
  ckpt_dir = os.path.join(trainer.workdir, 'checkpoints')
  # Several processes save synchronously: orbax's background save thread meets the other
  # processes at barriers of its own, which can interleave with the training step's collectives.
  async_save = jax.process_count() == 1
  checkpointer = ckpt_lib.Checkpointer(ckpt_dir, every=int(tcfg.checkpoint_every),
                                       keep=int(tcfg.keep_checkpoints),
                                       async_save=async_save)
  data = task.train_data(jax.process_index(), jax.process_count())

  start_step, restored_meta = 0, {}
  if checkpointer.latest_step() is not None:
    state, restored_meta, start_step = checkpointer.restore(trainer.abstract_state())
    data.restore(restored_meta['data'])
    logging.info('resumed from step %d in %s', start_step, ckpt_dir)
    print(f'Resuming from checkpoint at step {start_step} in {ckpt_dir}', flush=True)
  else:
    state = trainer.fresh_state()
  last_good = start_step if checkpointer.latest_step() is not None else None

  writer = logger_lib.MetricWriter(os.path.join(trainer.workdir, 'tensorboard'))
  metrics_path = os.path.join(trainer.workdir, 'metrics.jsonl')
  is_main = jax.process_index() == 0

  def log_json(record):
    if is_main:
      with open(metrics_path, 'a') as f:
        f.write(json.dumps(record, sort_keys=True) + '\n')

  def meta(step, eval_pending=False):
    # eval_pending: the checkpoint's step was due an evaluation that SIGTERM cut short; the
    # resumed run evaluates it first.
    return {'step': step, 'data': data.state(), 'seed': int(config.seed),
            'train_key': np.asarray(jax.random.key_data(trainer.keys['train'])).tolist(),
            'eval_pending': bool(eval_pending)}

  eval_batches = task.eval_batches() if int(tcfg.eval_every) > 0 else {}
  # Model selection: the eval with the best ``train.select_by`` metric is kept in checkpoints_best/
  # and its metrics (all splits, e.g. the test NLL at the best validation NLL) in best.json.
  select_by = str(tcfg.select_by)
  best_path = os.path.join(trainer.workdir, 'best.json')
  best = {}
  if select_by and os.path.exists(best_path):
    with open(best_path) as f:
      best = json.load(f)
  best_ckpt = (ckpt_lib.Checkpointer(os.path.join(trainer.workdir, 'checkpoints_best'), every=1,
                                     keep=1, async_save=async_save) if select_by else None)
  log_every = max(1, int(tcfg.log_every))
  eval_every = int(tcfg.eval_every)
  history: list[dict] = []
  pending: list = []
  pending_first = start_step
  t_last, step_last = time.time(), start_step
  final: dict[str, Any] = {}

  def flush_pending(step):
    nonlocal pending, pending_first, t_last, step_last
    if not pending:
      return
    host = [jax.tree.map(np.asarray, m) for m in jax.device_get(pending)]
    _check_finite(host, pending_first, last_good, ckpt_dir)
    for i, m in enumerate(host):
      if tcfg.log_every_step_to_json:
        log_json({'step': pending_first + i + 1, **{k: float(v) for k, v in m.items()}})
    history.extend(host)
    pending, pending_first = [], step

  def evaluate(step):
    """Evaluates and samples ``state`` at ``step``; logs it; keeps the best by ``select_by``."""
    nonlocal best, final
    _check_state_finite(state, step, last_good, ckpt_dir)
    ev = trainer.evaluate(state, eval_batches)
    sample_dir = os.path.join(trainer.workdir, 'samples', f'step_{step:07d}')
    ev.update(trainer.generate(state, step, writer, sample_dir))
    writer.scalars(step, ev, prefix='eval/')
    log_json({'step': step, 'split': 'eval', **ev})
    bar.write(f'step {step}: ' + ', '.join(f'{k}={v:.4f}' for k, v in ev.items()))
    final = dict(ev)
    if select_by:
      if select_by not in ev:
        raise KeyError(f'config.train.select_by={select_by!r} is not an eval metric; '
                       f'eval metrics: {sorted(ev)}')
      sign = -1.0 if str(tcfg.select_mode) == 'min' else 1.0
      if not best or sign * ev[select_by] > sign * best[select_by]:
        best = {'step': step, **ev}
        best_ckpt.save(step, state, meta(step), force=True)
        if is_main:
          with open(best_path, 'w') as f:
            json.dump(best, f, indent=1, sort_keys=True)

  import tqdm as tqdm_lib
  tqdm_lib.tqdm.monitor_interval = 0  # no monitor thread: nothing may write to stderr at exit
  bar = tqdm_lib.tqdm(total=num_steps, initial=start_step,
                      disable=not is_main or tcfg.quiet, dynamic_ncols=True,
                      mininterval=1.0, desc=os.path.basename(trainer.workdir))
  step = start_step
  with _SigtermFlag() as sigterm:
    try:
      if restored_meta.get('eval_pending') and eval_every > 0:
        evaluate(step)
      while step < num_steps:
        batch = shd.shard_batch(next(data), trainer.mesh)
        state, metrics = trainer._step(state, batch, jnp.asarray(step, jnp.int32))
        pending.append(metrics)
        step += 1
        bar.update(1)
        if step % log_every == 0 or step == num_steps:
          flush_pending(step)
          now = time.time()
          rate = (step - step_last) / max(now - t_last, 1e-9)
          scalars = _mean_metrics(history)
          scalars.update(steps_per_s=rate, examples_per_s=rate * trainer.global_batch)
          scalars.update({f'lr/{k}': v for k, v in task.learning_rates(step).items()})
          writer.scalars(step, scalars, prefix='train/')
          log_json({'step': step, 'split': 'train', **scalars})
          bar.set_postfix(loss=f"{scalars['loss']:.4f}")
          history, t_last, step_last = [], now, step
        eval_due = eval_every > 0 and (step % eval_every == 0 or step == num_steps)
        if eval_due and not sigterm.raised:
          flush_pending(step)
          evaluate(step)
        # After the evaluation: a run that dies while evaluating step S resumes before S and
        # evaluates S again. SIGTERM saves first and leaves the evaluation to the resumed run.
        if step % int(tcfg.checkpoint_every) == 0 or step == num_steps or sigterm.raised:
          flush_pending(step)
          _check_state_finite(state, step, last_good, ckpt_dir)
          checkpointer.save(step, state, meta(step, eval_pending=eval_due and sigterm.raised),
                            force=True)
          last_good = step
        if sigterm.raised:
          print(f'SIGTERM: checkpoint written at step {step}; exiting.', flush=True)
          break
    finally:
      bar.close()
      if hasattr(data, 'close'):
        data.close()
      checkpointer.close()
      if best_ckpt is not None:
        best_ckpt.close()
      writer.flush()
  final['step'] = step
  final.update({f'best/{k}': v for k, v in best.items()})
  if is_main and step == num_steps:
    hp = {k: v for k, v in _flatten(config.to_dict()).items()}
    hp.update(task.hparams())
    writer.hparams(hp, {k: v for k, v in final.items() if isinstance(v, float)})
  writer.close()
  return final


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


