"""Skip-gram event embedding (log 10/09): negative sampling over windows of event ids
(:mod:`dsjax.models.skipgram`). Generates no music (``config.sample.num`` must be 0); its input
table ``params['embed']['embedding'] [vocab, dim]`` is what ``launch.nearest`` reads and what an
event LM can start from (``model.embedding_from``)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from dsjax.models import skipgram as sg
from dsjax.optim import init_train_state, make_optimizer, update_train_state
from dsjax.tasks import base, datasets
from dsjax.tasks.event_lm import event_vocab


class SkipGramTask(base.Task):
  """Skip-gram with negative sampling over event ids (the default corpus's event encoding)."""

  def __init__(self, config):
    super().__init__(config)
    m = config.model
    self.vocab = event_vocab(config)
    self.train_set = datasets.load_split(config, 'events', 'train')
    self.eval_sets = datasets.load_eval_splits(config, 'events')
    self.window, self.num_negatives = int(m.window), int(m.num_negatives)
    self.dynamic_window = bool(m.dynamic_window)
    if self.window < 1 or self.num_negatives < 1:
      raise ValueError(f'config.model.window={self.window} and config.model.num_negatives='
                       f'{self.num_negatives} must be >= 1')
    self.model = sg.SkipGram(vocab_size=self.vocab.size, embed_dim=int(m.embed_dim),
                             tied=bool(m.tied))
    self.counts = np.bincount(self.train_set.values.astype(np.int64),
                              minlength=self.vocab.size)[:self.vocab.size]
    self.noise = sg.noise_distribution(self.counts, float(m.noise_power))
    self.tx, self.schedule = make_optimizer(config.optim, int(config.train.num_steps))

  def train_data(self, process_index, process_count, seed=None):
    return datasets.train_stream(
        self.config, self.train_set, process_index, process_count, shifted=False,
        transposition=datasets.event_transposition(self.config, self.vocab), seed=seed)

  def eval_batches(self):
    return datasets.eval_stream(self.config, self.eval_sets, shifted=False)

  def init(self, rng):
    return init_train_state(self.model.init({'params': rng}, jnp.zeros((1,), jnp.int32))['params'],
                            self.tx)

  def train_step(self, state, batch, rng):
    centers = batch['inputs'].astype(jnp.int32)
    contexts, valid, negatives = sg.training_pairs(
        rng, centers, batch['mask'], self.window, self.dynamic_window,
        jnp.asarray(np.cumsum(self.noise), jnp.float32), self.num_negatives)

    def loss_fn(params):
      per_pair = sg.sgns_loss(self.model.apply({'params': params}, centers), contexts, negatives)
      return (per_pair * valid).sum() / jnp.maximum(valid.sum(), 1.0)

    loss, grads = jax.value_and_grad(loss_fn)(state['params'])
    state, grad_norm = update_train_state(state, grads, self.tx)
    return state, {'loss': loss, 'grad_norm': grad_norm, 'pairs': valid.sum()}

  def eval_step(self, state, batch):
    tokens = batch['inputs'].astype(jnp.int32)
    contexts, valid = sg.context_pairs(tokens, batch['mask'], self.window)
    scores = self.model.apply({'params': state['params']}, tokens)
    return sg.held_out_sums(scores, contexts, valid, jnp.asarray(self.noise, jnp.float32),
                            self.num_negatives)

  def eval_summary(self, sums):
    pairs = max(sums['pairs'], 1.0)
    return {'sgns_loss': sums['loss_sum'] / pairs,
            'beats_noise': sums['beats_noise_sum'] / pairs, 'pairs': sums['pairs']}

  def learning_rates(self, step):
    return {'lr': float(self.schedule(step))}

  def embedding(self, state) -> np.ndarray:
    """The input (center) table ``[vocab, dim]``."""
    return np.asarray(state['params']['embed']['embedding'])

  def hparams(self):
    return {'noise_support': int((self.noise > 0).sum())}
