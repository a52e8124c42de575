"""The event LSTM language model (the log's baseline): next-event cross-entropy over event ids.

Conditioning (the Hist-RNN family, log 10/16; ``config.model.condition``):

* ``'none'``: the baseline.
* ``'hist'``: Hist-RNN. The 12-bin pitch-class histogram of the whole piece (note-ons) joined to
  every input step. It comes from the data pipeline as ``batch['condition'] [B, 12]``.
* ``'patch_hist'``: Patch-Hist RNN. The histogram of the training window itself (the events the
  loss is taken over, plus the first input), computed from the batch's ids inside the step.
* ``'window_stats'``: the conditional stacked LSTM's per-step condition (original §3.5): for each
  target, over a 50-event window centred on it (shifted to stay inside the valid events), a one-hot
  mean-pitch bin [10], a one-hot note-density bin [10] and the pitch-class histogram [12].

Histograms are optionally sharpened as ``softmax(h / tau)`` with ``config.model.condition_tau > 0``
(the log's e^{h/0.03}; 0 = the normalised histogram as is). Only note-ons are counted (the original
counted note-ons and note-offs, which pair up). At sampling time the condition is a fixed vector per
sample: a histogram (or stats vector) from a piece, a MIDI file or a named key.

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
from dsjax.data import keys as keys_lib
from dsjax.data import pianoroll as roll_lib
from dsjax.data import pipeline
from dsjax.models.language_models import EventLM, event_lm_stepper
from dsjax.optim import make_optimizer, update_train_state
from dsjax.tasks import base
from dsjax.tasks.datasets import load_split

CONDITIONS = ('none', 'hist', 'patch_hist', 'window_stats')
CONDITION_DIMS = {'none': 0, 'hist': 12, 'patch_hist': 12, 'window_stats': 32}
STATS_SPAN = 50          # events per window of the 'window_stats' condition (original §3.5)
PITCH_BINS = 10
DENSITY_BINS = 10


def event_vocab(config) -> events_lib.EventVocab:
  e = config.data.events
  return events_lib.EventVocab(shift_ms=int(e.shift_ms), max_shift_steps=int(e.max_shift_steps),
                               velocity_bins=str(e.velocity_bins))


# ---------------------------------------------------------------------------------------------
# Conditions as pure jittable functions of event ids.


def _note_on_pitch(ids, note_on_offset: int):
  """``(is_note_on, pitch)`` of ids ``[...]`` (pitch 0 where not a note-on)."""
  pitch = ids.astype(jnp.int32) - note_on_offset
  on = (pitch >= 0) & (pitch < 128)
  return on, jnp.where(on, pitch, 0)


def pitch_class_counts(ids, valid, note_on_offset: int = 0):
  """Note-on counts per pitch class: ``ids [..., T]``, ``valid [..., T]`` -> ``float32 [..., 12]``."""
  on, pitch = _note_on_pitch(ids, note_on_offset)
  on = on & (valid > 0)
  return (jax.nn.one_hot(pitch % 12, 12) * on[..., None]).sum(-2)


def normalise(counts):
  """Counts ``[..., k]`` -> distributions; all zeros stay zeros (like ``keys.py``'s default)."""
  total = counts.sum(-1, keepdims=True)
  return jnp.where(total > 0, counts / jnp.where(total > 0, total, 1.0), 0.0)


def sharpen(hist, tau: float):
  """``softmax(hist / tau)`` over the last axis (``tau <= 0``: ``hist`` unchanged)."""
  if tau <= 0:
    return hist
  return jax.nn.softmax(hist / tau, axis=-1)


def window_ids(batch):
  """The training window ``[B, T + 1]`` of a shifted batch and its validity ``[B, T + 1]``.

  Item 0 (the first input) counts when its target does; the others when they are predicted.
  """
  mask = batch['mask'].astype(jnp.float32)
  ids = jnp.concatenate([batch['inputs'][:, :1], batch['targets']], axis=1)
  valid = jnp.concatenate([mask[:, :1], mask], axis=1)
  return ids, valid


def window_stats(ids, valid, note_on_offset: int = 0, span: int = STATS_SPAN):
  """The original's per-position condition ``[B, T, 32]`` of event ids ``[B, T]``.

  For position ``t`` the window holds ``span`` valid items centred on ``t`` (shifted to stay inside
  the row's valid prefix, or all of it when shorter). Columns: one-hot mean-pitch bin
  ``round((clip(mean / 10, 5, 9) - 5) / 4 * 9)`` (all zero without notes), one-hot density bin
  ``round((clip(10 * ons / span, 1, 2) - 1) * 9)``, normalised pitch-class histogram.
  """
  on, pitch = _note_on_pitch(ids, note_on_offset)
  on = (on & (valid > 0)).astype(jnp.float32)
  n = valid.sum(-1, keepdims=True).astype(jnp.int32)                      # [B, 1]
  pc = jax.nn.one_hot(pitch % 12, 12) * on[..., None]                     # [B, T, 12]
  per_item = jnp.concatenate([on[..., None], (pitch * on)[..., None], pc], -1)  # [B, T, 14]
  cum = jnp.concatenate([jnp.zeros_like(per_item[:, :1]), jnp.cumsum(per_item, 1)], 1)
  pos = jnp.arange(ids.shape[1])[None]
  start = jnp.clip(pos - span // 2, 0, jnp.maximum(n - span, 0))
  end = jnp.minimum(start + span, n)
  take = lambda i: jnp.take_along_axis(cum, i[..., None], axis=1)
  sums = take(end) - take(start)                                          # [B, T, 14]
  count, pitch_sum, hist = sums[..., 0], sums[..., 1], sums[..., 2:]
  mean = pitch_sum / jnp.maximum(count, 1.0)
  pitch_bin = jnp.round((jnp.clip(mean / 10.0, 5.0, 9.0) - 5.0) / 4.0 * (PITCH_BINS - 1))
  pitch_1h = jax.nn.one_hot(pitch_bin.astype(jnp.int32), PITCH_BINS) * (count > 0)[..., None]
  density = jnp.clip(count / span * 10.0, 1.0, 2.0)
  density_bin = jnp.round((density - 1.0) * (DENSITY_BINS - 1)).astype(jnp.int32)
  density_1h = jax.nn.one_hot(density_bin, DENSITY_BINS)
  return jnp.concatenate([pitch_1h, density_1h, normalise(hist)], -1)


def piece_histograms(seqs, note_on_offset: int = 0) -> np.ndarray:
  """Pitch-class histogram (note-ons) of every whole sequence: ``float32 [len(seqs), 12]``."""
  values = np.asarray(seqs.values).astype(np.int64) - note_on_offset
  owner = np.repeat(np.arange(len(seqs)), seqs.lengths)
  on = (values >= 0) & (values < 128)
  counts = np.zeros((len(seqs), 12))
  np.add.at(counts, (owner[on], values[on] % 12), 1.0)
  total = counts.sum(-1, keepdims=True)
  return np.where(total > 0, counts / np.where(total > 0, total, 1), 0).astype(np.float32)


def key_histogram(name: str) -> np.ndarray:
  """A histogram ``float32 [12]`` for a named key (``'C major'``, ``'d minor'``, ``'F#'``): the
  scale's pitch classes (keys.py ``SCALES``; natural minor), tonic weighted 2, normalised (the
  original's C-major prior ``norm([2,0,1,0,1,1,0,1,0,1,0,1])``)."""
  key = keys_lib.Key.from_name(name)
  hist = np.zeros(12)
  hist[keys_lib.scale_pitch_classes(key)] = 1.0
  hist[key.tonic] = 2.0
  return (hist / hist.sum()).astype(np.float32)


class _PieceConditioned(base.TrainData):
  """A WindowSampler whose batches carry ``condition [B, 12]``: the histogram of each row's piece."""

  def __init__(self, sampler: pipeline.WindowSampler, histograms: np.ndarray):
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
    self.train_set = load_split(config, 'events', 'train')
    self._eval_sets = {s: load_split(config, 'events', s) for s in config.data.eval_splits}
    m = config.model
    self.condition = str(m.condition)
    if self.condition not in CONDITIONS:
      raise ValueError(f'config.model.condition={self.condition!r}: expected one of {CONDITIONS}')
    self.condition_tau = float(m.condition_tau)
    self.condition_dim = CONDITION_DIMS[self.condition]
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
      seqs = self.train_set if split == 'train' else self._eval_sets[split]
      self._piece_hists[split] = piece_histograms(seqs, self.vocab.note_on_offset)
    return self._piece_hists[split]

  # -- data ---------------------------------------------------------------------------------
  def train_data(self, process_index, process_count, seed: int | None = None):
    """``seed`` overrides ``config.seed`` for the windows (several seeds side by side)."""
    d = self.config.data
    augment = None
    if int(d.transpose) > 0:
      augment = pipeline.EventTransposition(
          max_shift=int(d.transpose), note_on_offset=self.vocab.note_on_offset,
          note_off_offset=self.vocab.note_off_offset, num_pitches=128)
    sampler = pipeline.WindowSampler(
        self.train_set, int(d.window), int(d.batch_size),
        seed=int(self.config.seed if seed is None else seed),
        shifted=True, piece_weighting=str(d.piece_weighting), short='pad', augment=augment,
        process_index=process_index, process_count=process_count, prefetch=2,
        with_info=self.condition == 'hist')
    if self.condition == 'hist':
      return _PieceConditioned(sampler, self.piece_histograms('train'))
    return sampler

  def eval_batches(self):
    d = self.config.data
    out = {}
    for split, seqs in self._eval_sets.items():
      if len(seqs):
        batches = list(pipeline.eval_batches(seqs, int(d.eval_batch_size),
                                             int(d.eval_max_len) or None))
        if self.condition == 'hist':
          hists = np.concatenate([self.piece_histograms(split), np.zeros((1, 12), np.float32)])
          for b in batches:
            b['condition'] = hists[b['seq_ids']]      # seq_ids -1 (padding rows) -> zeros
        out[split] = batches
    return out

  # -- conditions ---------------------------------------------------------------------------
  def condition_features(self, stats):
    """Raw conditioning statistics ``[..., C]`` -> model inputs (histograms sharpened by tau)."""
    stats = jnp.asarray(stats, jnp.float32)
    if self.condition in ('hist', 'patch_hist'):
      return sharpen(stats, self.condition_tau)
    if self.condition == 'window_stats':
      return jnp.concatenate([stats[..., :20], sharpen(stats[..., 20:], self.condition_tau)], -1)
    return stats

  def batch_condition(self, batch):
    """The per-step condition ``[B, T, C]`` of a batch, or None for the baseline."""
    if self.condition == 'none':
      return None
    b, t = batch['inputs'].shape[:2]
    if self.condition == 'hist':
      if 'condition' not in batch:
        raise KeyError("condition='hist' needs batch['condition'] [batch, 12] (piece histograms)")
      hist = batch['condition']
    elif self.condition == 'patch_hist':
      ids, valid = window_ids(batch)
      hist = normalise(pitch_class_counts(ids, valid, self.vocab.note_on_offset))
    else:
      ids, valid = window_ids(batch)
      stats = window_stats(ids, valid, self.vocab.note_on_offset)[:, 1:]
      return self.condition_features(stats)
    return jnp.broadcast_to(self.condition_features(hist)[:, None], (b, t, self.condition_dim))

  def _require_condition(self, what: str):
    if self.condition == 'none':
      raise ValueError(f'{what}: this run has no condition (config.model.condition=\'none\'); '
                       f"train with condition 'hist', 'patch_hist' or 'window_stats'")

  def condition_from_events(self, ids) -> np.ndarray:
    """Conditioning statistics ``[C]`` of one event-id sequence (the whole of it)."""
    self._require_condition('condition_from_events')
    ids = np.asarray(ids).reshape(1, -1)
    if self.condition in ('hist', 'patch_hist'):
      return np.asarray(keys_lib.event_pitch_class_histogram(ids[0], self.vocab), np.float32)
    n = ids.shape[1]
    stats = window_stats(jnp.asarray(ids), jnp.ones((1, n)), self.vocab.note_on_offset, span=n)
    return np.asarray(stats[0, 0])

  def condition_from_midi(self, path: str) -> np.ndarray:
    """Conditioning statistics ``[C]`` of a MIDI file (encoded with this run's vocabulary)."""
    self._require_condition(f'condition from {path}')
    from dsjax.data import midi_io
    ids = events_lib.encode_events(midi_io.load_midi(path), self.vocab)
    if not (ids < 128).any():
      raise ValueError(f'{path}: no notes to take a pitch-class histogram from')
    return self.condition_from_events(ids)

  def condition_from_key(self, name: str) -> np.ndarray:
    """Conditioning statistics ``[C]`` for a named key (see :func:`key_histogram`); for
    'window_stats' with the original generator's default bins (mean pitch 0, density 5)."""
    self._require_condition(f'condition from key {name!r}')
    hist = key_histogram(name)
    if self.condition == 'window_stats':
      return np.concatenate([np.eye(PITCH_BINS)[0], np.eye(DENSITY_BINS)[5], hist]).astype(
          np.float32)
    return hist

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
    state = {'params': params, 'opt_state': self.tx.init(params)}
    if self.ema_decay:
      state['ema_params'] = params
    return state

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

  # -- sampling -----------------------------------------------------------------------------
  def _pick_openings(self, rng: jax.Array, num: int, length: int):
    """``(openings [num, length], piece ids [num])`` of distinct random training pieces."""
    seqs = self.train_set
    g = np.random.default_rng(np.asarray(jax.random.key_data(rng)).ravel().tolist())
    length = min(length, int(seqs.lengths.max()))
    candidates = np.flatnonzero(seqs.lengths >= length)
    picks = g.choice(candidates, size=num, replace=len(candidates) < num)
    return np.stack([seqs[int(i)][:length] for i in picks]).astype(np.int32), picks

  def primers(self, rng: jax.Array, num: int, length: int) -> np.ndarray:
    """``[num, length]`` openings of random training pieces (length >= 1)."""
    return self._pick_openings(rng, num, length)[0]

  @functools.partial(jax.jit, static_argnums=(0, 4, 6, 7, 9))
  def _sample(self, params, primer, rng, length, temperature, top_k, top_p, condition=None,
              matmul_dtype=None):
    """``primer [B, K]`` -> ``[B, K + length]`` ids, one jitted scan over the generated steps.

    ``condition [B, C]`` (model inputs, already sharpened) is joined to every step. One uniform per
    draw, all drawn before the scan (inverse-CDF sampling). ``matmul_dtype``: see
    :func:`dsjax.models.language_models.event_lm_stepper`.
    """
    model = self.model
    b, k = primer.shape
    cond = lambda t: None if condition is None else jnp.broadcast_to(
        condition[:, None].astype(jnp.float32), (b, t, condition.shape[-1]))
    logits, carry = model.apply({'params': params}, primer, condition=cond(k))
    first = sampling.sample_categorical(jax.random.fold_in(rng, 2**31 - 1), logits[:, -1], temperature,
                                        top_k, top_p)

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

  def sample_condition(self, condition, num: int, piece_ids=None):
    """Model inputs ``[num, C]`` for sampling: from ``condition`` (``[C]`` or ``[num, C]`` raw
    statistics: a histogram, or a window_stats vector) or else from the primers' training pieces."""
    if self.condition == 'none':
      if condition is not None:
        self._require_condition('sample(condition=...)')
      return None
    if condition is None:
      seqs = self.train_set
      condition = np.stack([self.condition_from_events(seqs[int(i)]) for i in piece_ids])
    condition = np.asarray(condition, np.float32)
    if condition.ndim == 1:
      condition = np.broadcast_to(condition, (num, condition.shape[0]))
    if condition.shape != (num, self.condition_dim):
      raise ValueError(f'condition of shape {condition.shape}: expected [{self.condition_dim}] or '
                       f'[num={num}, {self.condition_dim}] for condition={self.condition!r}')
    return self.condition_features(condition)

  def sample(self, state, rng, num, length, primer=None, temperature=None, top_k=None,
             top_p=None, condition=None, primer_ids=None, matmul_dtype=None):
    """``[num, K + length]`` ids. ``primer``: K openings of random training pieces (K >= 1);
    ``primer_ids [num, K]`` gives them instead. ``condition``: see :meth:`sample_condition`
    (default: the statistics of the primers' whole pieces)."""
    s = self.config.sample
    piece_ids = None
    if primer_ids is None:
      k = int(s.primer) if primer is None else int(primer)
      primer_ids, piece_ids = self._pick_openings(jax.random.fold_in(rng, 1), num, max(1, k))
    elif condition is None and self.condition != 'none':
      raise ValueError('sample(primer_ids=...) of a conditioned model needs condition=...')
    primer_ids = np.asarray(primer_ids, np.int32)
    if primer_ids.shape[0] != num:
      raise ValueError(f'primer_ids has {primer_ids.shape[0]} rows, num={num}')
    cond = self.sample_condition(condition, num, piece_ids)
    temperature = float(s.temperature if temperature is None else temperature)
    top_k = int(s.top_k if top_k is None else top_k)
    top_p = float(s.top_p if top_p is None else top_p)
    matmul_dtype = str(s.matmul_dtype if matmul_dtype is None else matmul_dtype)
    if matmul_dtype not in ('float32', 'bfloat16'):
      raise ValueError(f'sample.matmul_dtype={matmul_dtype!r}: expected float32 or bfloat16')
    out = self._sample(self.eval_params(state), jnp.asarray(primer_ids), rng, int(length),
                       jnp.float32(temperature), top_k, top_p, cond,
                       None if matmul_dtype == 'float32' else jnp.bfloat16)
    return np.asarray(out)

  def to_pieces(self, samples, max_sustain=None):
    """MIDI pieces of sampled ids; notes held longer than ``max_sustain`` seconds (default
    ``config.sample.max_sustain``; 0 = no limit) are cut there."""
    limit = float(self.config.sample.max_sustain if max_sustain is None else max_sustain)
    return [events_lib.decode_events_to_piece(s, self.vocab, name=f'sample_{i}',
                                              max_sustain=limit or None)
            for i, s in enumerate(samples)]

  def to_rolls(self, samples):
    cfg = roll_lib.RollConfig(grid='seconds', step=0.05, keys=88)
    return [roll_lib.encode_pianoroll(p, cfg) for p in self.to_pieces(samples)]

  def real_rolls(self, num, length):
    return self.to_rolls(self.primers(jax.random.key(1234), num, length))

  def hparams(self):
    return {'condition': self.condition, 'condition_tau': self.condition_tau,
            'embedding_from': self.embedding_from, 'freeze_embedding': self.freeze_embedding}
