"""The event LSTM language model (the log's baseline): next-event cross-entropy over event ids.

Conditioning (the Hist-RNN family, log 10/16): ``config.model.condition`` and
``config.model.condition_tau``, defined in :mod:`dsjax.tasks.conditions` ('none', 'hist',
'patch_hist', 'window_stats'); training and sampling compute the statistics with the same code.

Pretrained input embedding (log 10/09): ``config.model.embedding_from`` names a skip-gram workdir
whose ``params['embed']['embedding'] [vocab, dim]`` replaces the fresh table at init;
``config.model.freeze_embedding`` keeps it fixed (its updates are zero). The table is read when the
task is built (init runs under jit), so restoring such a run also needs that workdir. Pre-training
is a run of its own (``configs/skipgram.py``), made before this one.
"""

from __future__ import annotations

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax

from dsjax import losses, sampling
from dsjax.data import events as events_lib
from dsjax.data import pianoroll as roll_lib
from dsjax.data.windows import WindowSampler
from dsjax.models.language_models import EventLM, event_lm_stepper
from dsjax.optim import init_train_state, make_optimizer, update_train_state
from dsjax.tasks import base, datasets
from dsjax.tasks.conditions import Condition, piece_histograms

# The grid of an event sampler's pictures (``to_rolls``): 50 ms frames over the 88 piano keys.
PICTURE_GRID = roll_lib.RollConfig(grid='seconds', step=0.05, keys=88)


def event_vocab(config) -> events_lib.EventVocab:
  e = config.data.events
  return events_lib.EventVocab(shift_ms=int(e.shift_ms), max_shift_steps=int(e.max_shift_steps),
                               velocity_bins=str(e.velocity_bins))


class _PieceConditioned(base.TrainData):
  """A WindowSampler whose batches carry ``condition [B, 12]``: the histogram of each row's piece."""

  def __init__(self, sampler: WindowSampler, histograms: np.ndarray):
    self.sampler, self.histograms = sampler, histograms

  def __next__(self):
    batch = dict(next(self.sampler))
    batch['condition'] = self.histograms[batch.pop('piece_ids')]
    batch.pop('starts', None)
    return batch

  def state(self):
    return self.sampler.state()

  def restore(self, state):
    self.sampler.restore(state)

  def close(self):
    self.sampler.close()


def load_embedding(workdir: str) -> np.ndarray:
  """``params['embed']['embedding'] [vocab, dim]`` of a skip-gram run's latest checkpoint in
  ``workdir`` (``config.model.embedding_from``: a workdir, read as data; train it first with
  ``python -m launch.train --config=configs/skipgram.py --workdir=DIR``)."""
  from dsjax.train import checkpoint as ckpt_lib
  key = f'config.model.embedding_from={workdir!r}'
  folder = os.path.join(workdir, 'checkpoints')
  if not os.path.isdir(folder):
    raise FileNotFoundError(f'{key}: no skip-gram run there (no {folder}); train one with '
                            f'python -m launch.train --config=configs/skipgram.py --workdir={workdir}')
  checkpointer = ckpt_lib.Checkpointer(folder, every=1)
  try:
    state, _ = checkpointer.restore_saved()
  except Exception as e:  # pylint: disable=broad-except
    raise ValueError(f'{key}: cannot restore a checkpoint from {folder} '
                     f'({type(e).__name__}: {e})') from e
  finally:
    checkpointer.close()
  try:
    table = state['params']['embed']['embedding']
  except (KeyError, TypeError):
    raise ValueError(f"{key}: the params of {workdir} have no ['embed']['embedding'] table"
                     ) from None
  return np.asarray(jax.device_get(table), np.float32)


class EventLMTask(base.Task):
  """Stacked LSTM over event ids, trained on random windows, evaluated on whole valid pieces."""

  supports_ema = True

  def __init__(self, config):
    super().__init__(config)
    self.vocab = event_vocab(config)
    self.train_set = datasets.load_split(config, 'events', 'train')
    self.eval_sets = datasets.load_eval_splits(config, 'events')
    m = config.model
    self.cond = Condition(str(m.condition), float(m.condition_tau), self.vocab)
    self.condition, self.condition_tau, self.condition_dim = (
        self.cond.kind, self.cond.tau, self.cond.dim)
    if self.condition == 'hist' and int(config.data.transpose) > 0:
      raise ValueError("config.model.condition='hist' uses each piece's histogram, which a "
                       "transposed window no longer matches: set config.data.transpose=0 (or use "
                       "'patch_hist', computed from the transposed window)")
    self.model = EventLM(vocab_size=self.vocab.size, embed_dim=int(m.embed_dim),
                         hidden=tuple(m.hidden), dropout_rate=float(m.dropout_rate))
    self.embedding_from = str(m.embedding_from)
    self.freeze_embedding = bool(m.freeze_embedding)
    if self.freeze_embedding and not self.embedding_from:
      raise ValueError('config.model.freeze_embedding=True needs config.model.embedding_from '
                       '(a skip-gram workdir)')
    self._pretrained = None
    if self.embedding_from:  # eagerly: init runs under jit, where no checkpoint can be read
      self._pretrained = self._load_pretrained()
    self.tx, self.schedule = self.make_tx(int(config.train.num_steps))
    self._piece_hists = {}

  @staticmethod
  def _param_labels(params):
    """'frozen' for the input embedding table, 'train' for everything else."""
    def label(path, _):
      names = [getattr(p, 'key', None) for p in path]
      return 'frozen' if names[-2:] == ['embed', 'embedding'] else 'train'
    return jax.tree_util.tree_map_with_path(label, params)

  def piece_histograms(self, split: str) -> np.ndarray:
    """``[pieces, 12]`` whole-piece histograms of ``split`` ('train' or an eval split)."""
    if split not in self._piece_hists:
      seqs = self.train_set if split == 'train' else self.eval_sets[split]
      self._piece_hists[split] = piece_histograms(seqs, self.vocab)
    return self._piece_hists[split]

  # -- data ---------------------------------------------------------------------------------
  def train_data(self, process_index, process_count, seed=None):
    sampler = datasets.train_stream(
        self.config, self.train_set, process_index, process_count, shifted=True,
        transposition=datasets.event_transposition(self.config, self.vocab), seed=seed,
        with_info=self.condition == 'hist')
    if self.condition == 'hist':
      return _PieceConditioned(sampler, self.piece_histograms('train'))
    return sampler

  def eval_batches(self):
    out = datasets.eval_stream(self.config, self.eval_sets)
    if self.condition == 'hist':
      for split, batches in out.items():
        hists = np.concatenate([self.piece_histograms(split), np.zeros((1, 12), np.float32)])
        for b in batches:
          b['condition'] = hists[b['seq_ids']]      # seq_ids -1 (padding rows) -> zeros
    return out

  # -- conditions ---------------------------------------------------------------------------
  def condition_features(self, stats):
    """Raw conditioning statistics ``[..., C]`` -> model inputs (histograms sharpened by tau)."""
    return self.cond.features(stats)

  def batch_condition(self, batch):
    """The per-step condition ``[B, T, C]`` of a batch, or None for the baseline."""
    return self.cond.of_batch(batch)

  # -- steps --------------------------------------------------------------------------------
  def make_tx(self, num_updates: int):
    """``(optimizer, schedule)`` from ``config.optim`` for ``num_updates`` updates (a frozen
    embedding gets no update)."""
    tx, schedule = make_optimizer(self.config.optim, num_updates)
    if self.freeze_embedding:
      tx = optax.multi_transform({'train': tx, 'frozen': optax.set_to_zero()},
                                 self._param_labels)
    return tx, schedule

  def _load_pretrained(self) -> np.ndarray:
    table = load_embedding(self.embedding_from)
    want = (self.vocab.size, int(self.config.model.embed_dim))
    if table.shape != want:
      raise ValueError(f'config.model.embedding_from={self.embedding_from!r}: embedding shape '
                       f'{table.shape}, this model needs [vocab, embed_dim] = {list(want)}')
    return table

  def init(self, rng):
    tokens = jnp.zeros((1, 2), jnp.int32)
    cond = (jnp.zeros((1, 2, self.condition_dim), jnp.float32) if self.condition_dim else None)
    params = self.model.init({'params': rng}, tokens, condition=cond)['params']
    if self.embedding_from:
      params = dict(params)
      params['embed'] = dict(params['embed'], embedding=jnp.asarray(self._pretrained))
    return init_train_state(params, self.tx, self.ema_decay)

  def _loss(self, params, batch, rng, deterministic):
    logits, _ = self.model.apply({'params': params}, batch['inputs'],
                                 condition=self.batch_condition(batch),
                                 deterministic=deterministic, rngs={'dropout': rng})
    nll = losses.token_nll(logits, batch['targets'])
    return losses.masked_mean(nll, batch['mask']), nll

  def train_step(self, state, batch, rng):
    (loss, _), grads = jax.value_and_grad(self._loss, has_aux=True)(
        state['params'], batch, rng, False)
    state, grad_norm = update_train_state(state, grads, self.tx, self.ema_decay)
    return state, {'loss': loss, 'grad_norm': grad_norm, 'perplexity': jnp.exp(loss)}

  def eval_step(self, state, batch):
    _, nll = self._loss(self.eval_params(state), batch, jax.random.key(0), True)
    mask = batch['mask']
    return {'nll_sum': (nll * mask).sum(), 'count': mask.sum()}

  def eval_summary(self, sums):
    nll = sums['nll_sum'] / max(sums['count'], 1.0)
    return {'nll_per_event': nll, 'perplexity': float(np.exp(nll)), 'events': sums['count']}

  def learning_rates(self, step):
    return {'lr': float(self.schedule(step))}

  def hparams(self):
    return {'condition': self.condition, 'condition_tau': self.condition_tau,
            'embedding_from': self.embedding_from, 'freeze_embedding': self.freeze_embedding}

  # -- sampling -----------------------------------------------------------------------------
  def make_sampler(self):
    return EventSampler(self)


class EventSampler(base.Sampler):
  """Samples an event LM after a real opening (or given primer ids), optionally conditioned."""

  def __init__(self, task: EventLMTask):
    super().__init__(task)
    self.defaults = task.config.sample
    self.vocab, self.train_set, self.cond = task.vocab, task.train_set, task.cond
    self.model = task.model
    self.roll_cfg = PICTURE_GRID  # the grid of to_rolls
    self.scan = jax.jit(functools.partial(sample_events, task.model),
                        static_argnames=('length', 'top_k', 'top_p', 'matmul_dtype'))

  # -- conditions ---------------------------------------------------------------------------
  def condition_from_events(self, ids) -> np.ndarray:
    """Conditioning statistics ``[C]`` of one event-id sequence (the whole of it)."""
    return self.cond.of_events(ids)

  def condition_from_midi(self, path: str) -> np.ndarray:
    """Conditioning statistics ``[C]`` of a MIDI file (encoded with this run's vocabulary)."""
    self.cond.require(f'condition from {path}')
    from dsjax.data import midi_io
    ids = events_lib.encode_events(midi_io.load_midi(path), self.vocab)
    if not (ids < 128).any():
      raise ValueError(f'{path}: no notes to take a pitch-class histogram from')
    return self.condition_from_events(ids)

  def condition_from_key(self, name: str) -> np.ndarray:
    """Conditioning statistics ``[C]`` for a named key (:meth:`Condition.of_key`)."""
    return self.cond.of_key(name)

  def sample_condition(self, condition, num: int, piece_ids=None):
    """Model inputs ``[num, C]`` for sampling: from ``condition`` (``[C]`` or ``[num, C]`` raw
    statistics: a histogram, or a window_stats vector) or else from the primers' training pieces."""
    if self.cond.kind == 'none':
      if condition is not None:
        self.cond.require('sample(condition=...)')
      return None
    if condition is None:
      seqs = self.train_set
      condition = np.stack([self.condition_from_events(seqs[int(i)]) for i in piece_ids])
    condition = np.asarray(condition, np.float32)
    if condition.ndim == 1:
      condition = np.broadcast_to(condition, (num, condition.shape[0]))
    if condition.shape != (num, self.cond.dim):
      raise ValueError(f'condition of shape {condition.shape}: expected [{self.cond.dim}] or '
                       f'[num={num}, {self.cond.dim}] for condition={self.cond.kind!r}')
    return self.cond.features(condition)

  # -- sampling -----------------------------------------------------------------------------
  def _pick_openings(self, rng: jax.Array, num: int, length: int):
    """``(openings [num, length], piece ids [num])`` of distinct random training pieces."""
    ids, picks = datasets.openings(self.train_set, rng, num, length, with_ids=True)
    return ids.astype(np.int32), picks

  def primers(self, rng: jax.Array, num: int, length: int) -> np.ndarray:
    """``[num, length]`` openings of random training pieces (length >= 1)."""
    return self._pick_openings(rng, num, length)[0]

  def sample(self, state, rng, num, length, primer=None, temperature=None, top_k=None,
             top_p=None, condition=None, primer_ids=None, matmul_dtype=None):
    """``[num, K + length]`` ids. ``primer``: K openings of random training pieces (K >= 1);
    ``primer_ids [num, K]`` gives them instead. ``condition``: see :meth:`sample_condition`
    (default: the statistics of the primers' whole pieces)."""
    s = self.defaults
    piece_ids = None
    if primer_ids is None:
      k = int(s.primer) if primer is None else int(primer)
      primer_ids, piece_ids = self._pick_openings(jax.random.fold_in(rng, 1), num, max(1, k))
    elif condition is None and self.cond.kind != 'none':
      raise ValueError('sample(primer_ids=...) of a conditioned model needs condition=...')
    primer_ids = np.asarray(primer_ids, np.int32)
    if primer_ids.shape[0] != num:
      raise ValueError(f'primer_ids has {primer_ids.shape[0]} rows, num={num}')
    cond = self.sample_condition(condition, num, piece_ids)
    temperature = float(s.temperature if temperature is None else temperature)
    top_k = int(s.top_k if top_k is None else top_k)
    top_p = float(s.top_p if top_p is None else top_p)
    if not (np.isfinite(temperature) and temperature > 0):
      raise ValueError(f'temperature={temperature}: must be a finite number > 0 (for the most '
                       'likely event at each step, top_k=1)')
    if not 0 < top_p <= 1:
      raise ValueError(f'top_p={top_p}: must be in (0, 1]')
    matmul_dtype = str(s.matmul_dtype if matmul_dtype is None else matmul_dtype)
    if matmul_dtype not in ('float32', 'bfloat16'):
      raise ValueError(f'sample.matmul_dtype={matmul_dtype!r}: expected float32 or bfloat16')
    out = self.scan(self.eval_params(state), jnp.asarray(primer_ids), rng, jnp.float32(temperature),
                    cond, length=int(length), top_k=top_k, top_p=top_p,
                    matmul_dtype=None if matmul_dtype == 'float32' else jnp.bfloat16)
    return np.asarray(out)

  def to_pieces(self, samples, max_sustain=None):
    """MIDI pieces of sampled ids; notes held longer than ``max_sustain`` seconds (default
    ``config.sample.max_sustain``; 0 = no limit) are cut there."""
    limit = float(self.defaults.max_sustain if max_sustain is None else max_sustain)
    return [events_lib.decode_events_to_piece(s, self.vocab, name=f'sample_{i}',
                                              max_sustain=limit or None)
            for i, s in enumerate(samples)]

  def to_rolls(self, samples):
    return [roll_lib.encode_pianoroll(p, self.roll_cfg) for p in self.to_pieces(samples)]

  def real_rolls(self, num, length):
    return self.to_rolls(self.primers(jax.random.key(1234), num, length))


def sample_events(model, params, primer, rng, temperature, condition=None, *, length, top_k,
                  top_p, matmul_dtype=None):
  """``primer [B, K]`` -> ``[B, K + length]`` ids of an :class:`EventLM`: one scan over the
  generated steps (jit it with ``length``, ``top_k``, ``top_p`` and ``matmul_dtype`` static).

  ``condition [B, C]`` (model inputs, already sharpened) is joined to every step. One uniform per
  draw, all drawn before the scan (inverse-CDF sampling). ``matmul_dtype``: see
  :func:`dsjax.models.language_models.event_lm_stepper`.
  """
  b, k = primer.shape
  cond = lambda t: None if condition is None else jnp.broadcast_to(
      condition[:, None].astype(jnp.float32), (b, t, condition.shape[-1]))
  logits, carry = model.apply({'params': params}, primer, condition=cond(k))
  first = sampling.sample_categorical(jax.random.fold_in(rng, 2**31 - 1), logits[:, -1],
                                      temperature, top_k, top_p)

  step = event_lm_stepper(params, None if condition is None else condition.astype(jnp.float32),
                          compute_dtype=matmul_dtype)

  def body(state, u):
    carry, token = state
    logits, carry = step(carry, token)
    nxt = sampling.sample_categorical(None, logits, temperature, top_k, top_p, u=u)
    return (carry, nxt), token

  uniforms = jax.random.uniform(rng, (length, b))
  _, tokens = jax.lax.scan(body, (carry, first), uniforms)
  return jnp.concatenate([primer, tokens.T.astype(primer.dtype)], axis=1)
