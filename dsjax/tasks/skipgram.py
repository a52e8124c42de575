"""Skip-gram event embedding (log 10/09): negative sampling over windows of event ids.

Training windows come from :class:`~dsjax.data.windows.WindowSampler` (unshifted); the jitted
train step turns each window into (center, context) pairs (offsets ``1..window``, optionally a
dynamic per-center radius) and draws ``num_negatives`` noise ids per pair from unigram ** 0.75 of
the training set. Evaluation reports the expected negative-sampling loss per pair on the held-out
splits (the sum over negatives replaced by its exact expectation, so it is deterministic) and
``beats_noise``, the probability that a true context scores above a noise draw (0.5 = chance).

The task generates no music: ``config.sample.num`` must be 0 (the loop then skips sampling).
The input table ``params['embed']['embedding'] [vocab, dim]`` is what ``launch.nearest`` reads and
what an event LM can load as its (frozen) embedding.
"""

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
    if int(config.sample.num) != 0:
      raise ValueError(f'config.sample.num={int(config.sample.num)}: the skipgram task generates '
                       'no music; set it to 0')
    self.vocab = event_vocab(config)
    self.train_set = datasets.load_split(config, 'events', 'train')
    self.eval_sets = datasets.load_eval_splits(config, 'events')
    m = config.model
    self.window = int(m.window)
    self.num_negatives = int(m.num_negatives)
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

  # -- data ---------------------------------------------------------------------------------
  def train_data(self, process_index, process_count):
    return datasets.train_stream(
        self.config, self.train_set, process_index, process_count, shifted=False,
        transposition=datasets.event_transposition(self.config, self.vocab))

  def eval_batches(self):
    return datasets.eval_stream(self.config, self.eval_sets, shifted=False)

  # -- steps --------------------------------------------------------------------------------
  def init(self, rng):
    params = self.model.init({'params': rng}, jnp.zeros((1,), jnp.int32))['params']
    return init_train_state(params, self.tx)

  def _pairs(self, batch, rng):
    tokens = batch['inputs'].astype(jnp.int32)
    radius = None
    if self.dynamic_window:
      radius = jax.random.randint(rng, tokens.shape, 1, self.window + 1)
    return sg.context_pairs(tokens, batch['mask'], self.window, radius)

  def train_step(self, state, batch, rng):
    k_window, k_neg = jax.random.split(rng)
    contexts, valid = self._pairs(batch, k_window)                  # [B, T, 2w]
    cdf = jnp.asarray(np.cumsum(self.noise), jnp.float32)
    negatives = sg.sample_negatives(k_neg, cdf, contexts.shape + (self.num_negatives,))
    centers = batch['inputs'].astype(jnp.int32)

    def loss_fn(params):
      scores = self.model.apply({'params': params}, centers)       # [B, T, vocab]
      per_pair = sg.sgns_loss(scores, contexts, negatives)
      return (per_pair * valid).sum() / jnp.maximum(valid.sum(), 1.0)

    loss, grads = jax.value_and_grad(loss_fn)(state['params'])
    state, grad_norm = update_train_state(state, grads, self.tx)
    return state, {'loss': loss, 'grad_norm': grad_norm, 'pairs': valid.sum()}

  def eval_step(self, state, batch):
    contexts, valid = sg.context_pairs(batch['inputs'].astype(jnp.int32), batch['mask'],
                                       self.window)
    scores = self.model.apply({'params': state['params']}, batch['inputs'].astype(jnp.int32))
    noise = jnp.asarray(self.noise, jnp.float32)
    per_pair = sg.expected_sgns_loss(scores, contexts, noise, self.num_negatives)
    # P(a true context outscores a noise draw) = sum_v noise[v] [score_v < score_context].
    pos = jnp.take_along_axis(scores, contexts, axis=-1)                   # [B, T, 2w]
    beaten = jnp.einsum('btpv,v->btp', (scores[:, :, None, :] < pos[..., None]).astype(
        jnp.float32), noise)
    return {'loss_sum': (per_pair * valid).sum(), 'pairs': valid.sum(),
            'beats_noise_sum': (beaten * valid).sum()}

  def eval_summary(self, sums):
    pairs = max(sums['pairs'], 1.0)
    return {'sgns_loss': sums['loss_sum'] / pairs,
            'beats_noise': sums['beats_noise_sum'] / pairs, 'pairs': sums['pairs']}

  def learning_rates(self, step):
    return {'lr': float(self.schedule(step))}

  # -- analysis -----------------------------------------------------------------------------
  def embedding(self, state) -> np.ndarray:
    """The input (center) table ``[vocab, dim]``."""
    return np.asarray(state['params']['embed']['embedding'])

  def hparams(self):
    return {'noise_support': int((self.noise > 0).sum())}
