"""The event LSTM language model (the log's baseline): next-event cross-entropy over event ids."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from dsjax import losses, sampling
from dsjax.data import events as events_lib
from dsjax.data import pipeline
from dsjax.data import pianoroll as roll_lib
from dsjax.models.language_models import EventLM
from dsjax.tasks import base
from dsjax.tasks.datasets import load_split, openings
from dsjax.train.optim import make_optimizer


def event_vocab(config) -> events_lib.EventVocab:
  e = config.data.events
  return events_lib.EventVocab(shift_ms=int(e.shift_ms), max_shift_steps=int(e.max_shift_steps),
                               velocity_bins=str(e.velocity_bins))


class EventLMTask(base.Task):
  """Stacked LSTM over event ids, trained on random windows, evaluated on whole valid pieces."""

  def __init__(self, config):
    super().__init__(config)
    self.vocab = event_vocab(config)
    self.train_set = load_split(config, 'events', 'train')
    self._eval_sets = {s: load_split(config, 'events', s) for s in config.data.eval_splits}
    m = config.model
    self.model = EventLM(vocab_size=self.vocab.size, embed_dim=int(m.embed_dim),
                         hidden=tuple(m.hidden), dropout_rate=float(m.dropout_rate))
    self.tx, self.schedule = make_optimizer(config.optim, int(config.train.num_steps))
    self._sampler = None

  # -- data ---------------------------------------------------------------------------------
  def train_data(self, process_index, process_count):
    d = self.config.data
    augment = None
    if int(d.transpose) > 0:
      augment = pipeline.EventTransposition(
          max_shift=int(d.transpose), note_on_offset=self.vocab.note_on_offset,
          note_off_offset=self.vocab.note_off_offset, num_pitches=128)
    return pipeline.WindowSampler(
        self.train_set, int(d.window), int(d.batch_size), seed=int(self.config.seed),
        shifted=True, piece_weighting=str(d.piece_weighting), short='pad', augment=augment,
        process_index=process_index, process_count=process_count, prefetch=2)

  def eval_batches(self):
    d = self.config.data
    out = {}
    for split, seqs in self._eval_sets.items():
      if len(seqs):
        out[split] = list(pipeline.eval_batches(seqs, int(d.eval_batch_size),
                                                int(d.eval_max_len) or None))
    return out

  # -- steps --------------------------------------------------------------------------------
  def init(self, rng):
    tokens = jnp.zeros((1, 2), jnp.int32)
    params = self.model.init({'params': rng}, tokens)['params']
    return {'params': params, 'opt_state': self.tx.init(params)}

  def _loss(self, params, batch, rng, deterministic):
    logits, _ = self.model.apply({'params': params}, batch['inputs'],
                                 deterministic=deterministic, rngs={'dropout': rng})
    nll = losses.token_nll(logits, batch['targets'])
    return losses.masked_mean(nll, batch['mask']), nll

  def train_step(self, state, batch, rng):
    (loss, _), grads = jax.value_and_grad(self._loss, has_aux=True)(
        state['params'], batch, rng, False)
    updates, opt_state = self.tx.update(grads, state['opt_state'], state['params'])
    params = optax.apply_updates(state['params'], updates)
    metrics = {'loss': loss, 'grad_norm': optax.tree.norm(grads),
               'perplexity': jnp.exp(loss)}
    return {'params': params, 'opt_state': opt_state}, metrics

  def eval_step(self, state, batch):
    _, nll = self._loss(state['params'], batch, jax.random.key(0), True)
    mask = batch['mask']
    return {'nll_sum': (nll * mask).sum(), 'count': mask.sum()}

  def eval_summary(self, sums):
    nll = sums['nll_sum'] / max(sums['count'], 1.0)
    return {'nll_per_event': nll, 'perplexity': float(np.exp(nll)), 'events': sums['count']}

  def learning_rates(self, step):
    return {'lr': float(self.schedule(step))}

  # -- sampling -----------------------------------------------------------------------------
  def primers(self, rng: jax.Array, num: int, length: int) -> np.ndarray:
    """``[num, length]`` openings of random training pieces (length >= 1)."""
    return openings(self.train_set, rng, num, length).astype(np.int32)

  @functools.partial(jax.jit, static_argnums=(0, 4, 6, 7))
  def _sample(self, params, primer, rng, length, temperature, top_k, top_p):
    """``primer [B, K]`` -> ``[B, K + length]`` ids, one jitted scan over the generated steps."""
    model = self.model
    logits, carry = model.apply({'params': params}, primer)
    first = sampling.sample_categorical(jax.random.fold_in(rng, 2**31 - 1), logits[:, -1], temperature,
                                        top_k, top_p)

    def body(state, key):
      carry, token = state
      logits, carry = model.apply({'params': params}, token[:, None], carry)
      nxt = sampling.sample_categorical(key, logits[:, 0], temperature, top_k, top_p)
      return (carry, nxt), token

    keys = jax.random.split(rng, length)
    _, tokens = jax.lax.scan(body, (carry, first), keys)
    return jnp.concatenate([primer, tokens.T.astype(primer.dtype)], axis=1)

  def sample(self, state, rng, num, length, primer=None, temperature=None, top_k=None,
             top_p=None, **unused):
    s = self.config.sample
    k = int(s.primer) if primer is None else int(primer)
    primer_ids = self.primers(jax.random.fold_in(rng, 1), num, max(1, k))
    temperature = float(s.temperature if temperature is None else temperature)
    top_k = int(s.top_k if top_k is None else top_k)
    top_p = float(s.top_p if top_p is None else top_p)
    out = self._sample(state['params'], jnp.asarray(primer_ids), rng, int(length),
                       jnp.float32(temperature), top_k, top_p)
    return np.asarray(out)

  def to_pieces(self, samples):
    return [events_lib.decode_events_to_piece(s, self.vocab, name=f'sample_{i}',
                                              max_sustain=float(self.config.sample.max_sustain)
                                              or None)
            for i, s in enumerate(samples)]

  def to_rolls(self, samples):
    cfg = roll_lib.RollConfig(grid='seconds', step=0.05, keys=88)
    return [roll_lib.encode_pianoroll(p, cfg) for p in self.to_pieces(samples)]

  def real_rolls(self, num, length):
    return self.to_rolls(self.primers(jax.random.key(1234), num, length))
