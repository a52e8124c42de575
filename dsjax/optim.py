"""Optimizers from config: ``config.optim`` -> (optax transformation, learning-rate schedule), and
the one update of a train state that every task's step makes.

Every key is read as the config declares it (``configs/common.py``), without a default here.
"""

from __future__ import annotations

import optax


def make_schedule(cfg, num_steps: int):
  """``cfg``: learning_rate, schedule ('constant'|'cosine'|'linear'), warmup_steps,
  final_fraction."""
  lr = float(cfg.learning_rate)
  warmup = int(cfg.warmup_steps)
  kind = str(cfg.schedule)
  decay_steps = max(1, num_steps - warmup)
  if kind == 'constant':
    main = optax.constant_schedule(lr)
  elif kind == 'cosine':
    main = optax.cosine_decay_schedule(lr, decay_steps, alpha=float(cfg.final_fraction))
  elif kind == 'linear':
    main = optax.linear_schedule(lr, lr * float(cfg.final_fraction), decay_steps)
  else:
    raise ValueError(f'config.optim.schedule={kind!r}: expected constant, cosine or linear')
  if warmup:
    return optax.join_schedules([optax.linear_schedule(0.0, lr, warmup), main], [warmup])
  return main


def make_optimizer(cfg, num_steps: int):
  """``cfg``: name ('adam'|'adamw'|'rmsprop'|'sgd'), b1, b2, weight_decay, momentum,
  grad_clip_norm (0 = none), and the schedule's keys."""
  schedule = make_schedule(cfg, num_steps)
  name = str(cfg.name)
  if name == 'adam':
    tx = optax.adam(schedule, b1=cfg.b1, b2=cfg.b2)
  elif name == 'adamw':
    tx = optax.adamw(schedule, b1=cfg.b1, b2=cfg.b2, weight_decay=cfg.weight_decay)
  elif name == 'rmsprop':
    tx = optax.rmsprop(schedule)
  elif name == 'sgd':
    tx = optax.sgd(schedule, momentum=float(cfg.momentum) or None)
  else:
    raise ValueError(f'config.optim.name={name!r}: expected adam, adamw, rmsprop or sgd')
  clip = cfg.grad_clip_norm
  if clip:
    tx = optax.chain(optax.clip_by_global_norm(float(clip)), tx)
  return tx, schedule


def ema_update(ema, params, decay: float):
  """Polyak/EMA average of parameters: ``decay * ema + (1 - decay) * params``."""
  import jax
  return jax.tree.map(lambda e, p: decay * e + (1.0 - decay) * p, ema, params)


def apply_gradients(tx, params, opt_state, grads):
  """One optimiser update: ``(new params, new opt_state, global gradient norm)``."""
  updates, opt_state = tx.update(grads, opt_state, params)
  return optax.apply_updates(params, updates), opt_state, optax.tree.norm(grads)


def init_train_state(params, tx, ema_decay: float = 0.0, **extra) -> dict:
  """The train state every task keeps: ``params``, ``opt_state`` (``tx.init(params)``), with
  ``ema_decay`` > 0 ``ema_params`` (starting at ``params``), and any ``extra`` entries (a GAN's
  pool of fakes, a phase counter).

  Several networks with an optimiser each (a GAN): ``params`` and ``tx`` are dicts by network
  name, and ``opt_state`` is then ``{name: tx[name].init(params[name])}``.
  """
  if isinstance(tx, dict):
    opt_state = {name: t.init(params[name]) for name, t in tx.items()}
  else:
    opt_state = tx.init(params)
  state = {'params': params, 'opt_state': opt_state, **extra}
  if ema_decay:
    state['ema_params'] = params
  return state


def update_train_state(state: dict, grads, tx, ema_decay: float = 0.0):
  """Updates ``state['params']`` / ``state['opt_state']`` (of :func:`init_train_state`) (and ``state['ema_params']`` when
  ``ema_decay`` > 0) from ``grads``; other entries pass through. Returns ``(state, grad_norm)``."""
  params, opt_state, grad_norm = apply_gradients(tx, state['params'], state['opt_state'], grads)
  new = dict(state, params=params, opt_state=opt_state)
  if ema_decay:
    new['ema_params'] = ema_update(state['ema_params'], params, ema_decay)
  return new, grad_norm
