"""Optimizers from config: ``config.optim`` -> (optax transformation, learning-rate schedule)."""

from __future__ import annotations

import optax


def make_schedule(cfg, num_steps: int):
  """``cfg``: learning_rate, schedule ('constant'|'cosine'|'linear'), warmup_steps."""
  lr = float(cfg.learning_rate)
  warmup = int(cfg.get('warmup_steps', 0))
  kind = cfg.get('schedule', 'constant')
  decay_steps = max(1, num_steps - warmup)
  if kind == 'constant':
    main = optax.constant_schedule(lr)
  elif kind == 'cosine':
    main = optax.cosine_decay_schedule(lr, decay_steps, alpha=float(cfg.get('final_fraction', 0.0)))
  elif kind == 'linear':
    main = optax.linear_schedule(lr, lr * float(cfg.get('final_fraction', 0.0)), decay_steps)
  else:
    raise ValueError(f'config.optim.schedule={kind!r}: expected constant, cosine or linear')
  if warmup:
    return optax.join_schedules([optax.linear_schedule(0.0, lr, warmup), main], [warmup])
  return main


def make_optimizer(cfg, num_steps: int):
  """``cfg``: name ('adam'|'adamw'|'rmsprop'|'sgd'), b1, b2, weight_decay, grad_clip_norm."""
  schedule = make_schedule(cfg, num_steps)
  name = cfg.get('name', 'adam')
  if name == 'adam':
    tx = optax.adam(schedule, b1=cfg.get('b1', 0.9), b2=cfg.get('b2', 0.999))
  elif name == 'adamw':
    tx = optax.adamw(schedule, b1=cfg.get('b1', 0.9), b2=cfg.get('b2', 0.999),
                     weight_decay=cfg.get('weight_decay', 1e-4))
  elif name == 'rmsprop':
    tx = optax.rmsprop(schedule)
  elif name == 'sgd':
    tx = optax.sgd(schedule, momentum=cfg.get('momentum', None))
  else:
    raise ValueError(f'config.optim.name={name!r}: expected adam, adamw, rmsprop or sgd')
  clip = cfg.get('grad_clip_norm', None)
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


def update_train_state(state: dict, grads, tx, ema_decay: float = 0.0):
  """Updates ``state['params']`` / ``state['opt_state']`` (and ``state['ema_params']`` when
  ``ema_decay`` > 0) from ``grads``; other entries pass through. Returns ``(state, grad_norm)``."""
  params, opt_state, grad_norm = apply_gradients(tx, state['params'], state['opt_state'], grads)
  new = dict(state, params=params, opt_state=opt_state)
  if ema_decay:
    new['ema_params'] = ema_update(state['ema_params'], params, ema_decay)
  return new, grad_norm
