"""Continuous autoencoder task (log 10/29, 10/30, 11/01) and its code-space walks (10/29, 11/05).

Data: aligned chord steps (``datasets.load_split(config, 'aligned', split)``: ``uint8 [T, 88]``,
the notes starting at each grid step) cut into sub-sequences of ``m = config.model.subseq_len``
steps. A training row is a random window of ``config.data.window = K * m`` steps of a training
piece, reshaped to ``[K, m, 88]`` (K >= 3 consecutive sub-sequences, so the hinge sees i, i+1,
i+2). Every sub-sequence is encoded to ``c``, quantised to ``q`` (:mod:`dsjax.models.continuous_ae`)
and decoded, teacher forced, from both:

  L = L_rec + L_rec^q + alpha * L_con

``L_rec``: Bernoulli NLL of the frames decoded from ``c`` (trains encoder and decoder);
``L_rec^q``: from ``stop_gradient(q)`` (trains the decoder only); ``L_con``
(``config.loss.continuity``) on consecutive codes of a row. Both NLLs are in **nats per step**
(summed over the 88 keys, averaged over steps).

Evaluation (``config.data.eval_splits``): each held-out piece cut into consecutive sub-sequences
from its start (a last partial one dropped), rows of :data:`EVAL_ROW` consecutive sub-sequences,
one batch per split. Metrics: ``rec_nll``, ``rec_q_nll`` (nats per step), ``con`` (L_con),
``code_dist`` (squared Euclidean distance between consecutive continuous codes), ``code_hamming``
(entries that differ between consecutive quantised codes), ``key_acc`` / ``frame_acc`` (and
``_q``): cells / whole frames right in the free-running greedy reconstruction from ``c`` (``q``),
``note_recall`` / ``note_precision`` (and ``_q``): the share of the real notes it plays / of its
notes that are real; ``distinct_codes`` and ``top_code_share`` (the share of the most frequent
quantised code),
``subseqs`` (how many were evaluated).

Generation (:class:`WalkSampler`): ``sample(state, rng, num, length, walk=, flips=, ...)`` decodes
a sequence of quantised codes, ``length / m`` of them (rounded up, then cut to ``length``
steps), each free running from its code; defaults from ``config.sample``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from dsjax import losses
from dsjax.data import aligned as aligned_lib
from dsjax.data import pianoroll as roll_lib
from dsjax.data.notes import Piece
from dsjax.eval import music_stats
from dsjax.models import continuous_ae as cae
from dsjax.models.continuous_ae import ContinuousAE
from dsjax.optim import init_train_state, make_optimizer, update_train_state
from dsjax.tasks import base, datasets

EVAL_ROW = 16       # consecutive sub-sequences per eval row
WALKS = ('random', 'song')
# Decoding modes; 'greedy' and 'sample' (the sequence autoencoder's names) are the same two.
MODES = {'threshold': 'threshold', 'bernoulli': 'bernoulli', 'greedy': 'threshold',
         'sample': 'bernoulli'}


def check_config(config) -> None:
  """Refuses, naming the key, a setting the task cannot use."""
  m, lo = config.model, config.loss
  if str(m.arch) not in cae.ARCHS:
    raise ValueError(f'config.model.arch={m.arch!r}: expected one of {cae.ARCHS}')
  if str(m.cell) not in cae.CELLS:
    raise ValueError(f'config.model.cell={m.cell!r}: expected one of {cae.CELLS}')
  if str(m.quantizer) not in cae.QUANTIZERS:
    raise ValueError(f'config.model.quantizer={m.quantizer!r}: expected one of {cae.QUANTIZERS}')
  if str(lo.continuity) not in cae.CONTINUITY:
    raise ValueError(f'config.loss.continuity={lo.continuity!r}: expected one of {cae.CONTINUITY}')
  if not (float(lo.alpha) >= 0 and np.isfinite(float(lo.alpha))):
    raise ValueError(f'config.loss.alpha={lo.alpha!r}: must be a finite number >= 0')
  if not (float(m.beta) > 0 and np.isfinite(float(m.beta))):
    raise ValueError(f'config.model.beta={m.beta!r}: must be a finite number > 0')
  for key in ('subseq_len', 'code_dim'):
    if int(m[key]) < 1:
      raise ValueError(f'config.model.{key}={m[key]!r}: must be >= 1')
  sub, window = int(m.subseq_len), int(config.data.window)
  if window % sub or window // sub < 3:
    raise ValueError(f'config.data.window={window}: must be K * config.model.subseq_len '
                     f'({sub}) with K >= 3 consecutive sub-sequences (e.g. {3 * sub})')
  s = config.sample
  if str(s.walk) not in WALKS:
    raise ValueError(f'config.sample.walk={s.walk!r}: expected one of {WALKS}')
  if int(s.flips) < 0:
    raise ValueError(f'config.sample.flips={s.flips!r}: must be >= 0')
  if int(s.reset_every) < 0:
    raise ValueError(f'config.sample.reset_every={s.reset_every!r}: must be >= 0 (0 = never)')
  if not 0.0 <= float(s.reset_prob) <= 1.0:
    raise ValueError(f'config.sample.reset_prob={s.reset_prob!r}: must be in [0, 1]')
  if str(s.mode) not in MODES:
    raise ValueError(f"config.sample.mode={s.mode!r}: expected 'threshold' or 'bernoulli' "
                     "(or greedy, sample)")
  if int(config.data.transpose):
    raise ValueError(f'config.data.transpose={int(config.data.transpose)}: the autoencoders train '
                     'on pieces moved to C (data.transpose_to_c); transposition is not supported')
  if int(s.duration_steps) < 1:
    raise ValueError(f'config.sample.duration_steps={s.duration_steps!r}: must be >= 1')


def subsequence_rows(seqs, subseq_len: int, row_len: int = EVAL_ROW, rows_multiple: int = 1
                     ) -> dict[str, np.ndarray]:
  """Every piece of ``seqs`` cut into consecutive sub-sequences from its start (a last partial one
  dropped), in rows of ``row_len`` consecutive sub-sequences of one piece: ``subseqs uint8 [R,
  row_len, m, keys]``, ``mask float32 [R, row_len]`` (1 = a real sub-sequence), ``piece_ids int64
  [R]`` (-1 for padding rows); ``R`` padded up to a multiple of ``rows_multiple``."""
  keys = seqs.values.shape[-1]
  rows, masks, ids = [], [], []
  for i in range(len(seqs)):
    n = len(seqs[i]) // subseq_len
    subs = np.asarray(seqs[i][:n * subseq_len]).reshape(n, subseq_len, keys)
    for start in range(0, n, row_len):
      chunk = subs[start:start + row_len]
      pad = row_len - len(chunk)
      rows.append(np.concatenate([chunk, np.zeros((pad, subseq_len, keys), chunk.dtype)]))
      masks.append(np.concatenate([np.ones(len(chunk)), np.zeros(pad)]))
      ids.append(i)
  extra = -len(rows) % max(rows_multiple, 1)
  rows += [np.zeros((row_len, subseq_len, keys), np.uint8)] * extra
  masks += [np.zeros(row_len)] * extra
  ids += [-1] * extra
  return {'subseqs': np.stack(rows).astype(np.uint8), 'mask': np.stack(masks).astype(np.float32),
          'piece_ids': np.asarray(ids, np.int64)}


def code_counts(q: jax.Array, valid: jax.Array) -> tuple[jax.Array, jax.Array]:
  """``(number of distinct codes, share of the most frequent)`` among the valid rows of quantised
  codes ``q [N, D]`` (``valid [N]`` in {0, 1}). Exact (quantised entries compare exactly) and
  ``O(N log N)`` in time, ``O(N D)`` in memory: the rows are sorted (invalid ones last) and equal
  neighbours counted."""
  n = q.shape[0]
  valid = (valid > 0).astype(jnp.float32)
  # jnp.lexsort sorts by its last key first: validity, then the entries.
  order = jnp.lexsort(tuple(q[:, d] for d in reversed(range(q.shape[1]))) + (1.0 - valid,))
  qs, vs = q[order], valid[order]
  new = jnp.concatenate([jnp.ones((1,), bool), jnp.any(qs[1:] != qs[:-1], axis=-1)])
  new = new & (vs > 0)
  group = jnp.maximum(jnp.cumsum(new) - 1, 0)
  counts = jax.ops.segment_sum(vs, group, num_segments=n)
  return jnp.sum(new).astype(jnp.float32), jnp.max(counts) / jnp.maximum(valid.sum(), 1.0)


class ContinuousAETask(base.Task):
  """Continuous autoencoder over sub-sequences of aligned chord steps (see the module docstring)."""

  def __init__(self, config):
    super().__init__(config)
    check_config(config)
    self.roll_cfg = datasets.roll_config(config)
    self.keys = self.roll_cfg.keys
    self.train_set = datasets.load_split(config, 'aligned', 'train')
    self.eval_sets = {s: datasets.load_split(config, 'aligned', s)
                      for s in config.data.eval_splits}
    m = config.model
    self.subseq_len = int(m.subseq_len)
    self.row_subseqs = int(config.data.window) // self.subseq_len
    self.quantizer = str(m.quantizer)
    self.model = ContinuousAE(
        keys=self.keys, subseq_len=self.subseq_len, code_dim=int(m.code_dim), arch=str(m.arch),
        cell=str(m.cell), encoder_hidden=tuple(int(h) for h in m.encoder_hidden),
        decoder_hidden=tuple(int(h) for h in m.decoder_hidden),
        hourglass_hidden=tuple(int(h) for h in m.hourglass_hidden), quantizer=self.quantizer,
        beta=float(m.beta))
    self.alpha = float(config.loss.alpha)
    self.continuity = str(config.loss.continuity)
    self.margin = float(config.loss.margin)
    self.tx, self.schedule = make_optimizer(config.optim, int(config.train.num_steps))
    self.key_log_odds = roll_lib.key_log_odds(self.train_set.values, (self.keys,))

  # -- data ---------------------------------------------------------------------------------
  def train_data(self, process_index, process_count, seed=None):
    return datasets.train_stream(self.config, self.train_set, process_index, process_count,
                                 shifted=False, short='skip', seed=seed)

  def eval_batches(self):
    multiple = int(self.config.data.eval_batch_size)
    return {split: [subsequence_rows(seqs, self.subseq_len, EVAL_ROW, multiple)]
            for split, seqs in self.eval_sets.items()
            if (seqs.lengths >= self.subseq_len).any()}

  # -- pieces of the steps ------------------------------------------------------------------
  def init(self, rng):
    """Fresh parameters, the decision layer's bias at the log-odds of each key's frequency in
    the training steps (a start at the marginal instead of p = 1/2 per key)."""
    x = jnp.zeros((1, self.subseq_len, self.keys), jnp.float32)
    params = self.model.init({'params': rng}, x)['params']
    bias = jnp.tile(self.key_log_odds, params['decision']['bias'].size // self.keys)
    params = {**params, 'decision': {**params['decision'], 'bias': bias}}
    return init_train_state(params, self.tx)

  def encode(self, params, x):
    """``x [..., m, keys]`` -> continuous codes ``[..., D]``."""
    flat = x.reshape((-1,) + x.shape[-2:])
    c = self.model.apply({'params': params}, flat, method=ContinuousAE.encode)
    return c.reshape(x.shape[:-2] + c.shape[-1:])

  def decode_logits(self, params, code, x):
    """Teacher-forced logits ``[..., m, keys]`` of ``x [..., m, keys]`` from ``code [..., D]``."""
    lead = code.shape[:-1]
    logits = self.model.apply({'params': params}, code.reshape(-1, code.shape[-1]),
                              x.reshape((-1,) + x.shape[-2:]), method=ContinuousAE.decode_logits)
    return logits.reshape(lead + logits.shape[-2:])

  def decode_free(self, params, code, rng, mode='threshold', threshold=0.5):
    """Free-running frames ``[..., m, keys]`` from ``code [..., D]``."""
    lead = code.shape[:-1]
    out = self.model.apply({'params': params}, code.reshape(-1, code.shape[-1]), rng, mode,
                           threshold, method=ContinuousAE.decode_free)
    return out.reshape(lead + out.shape[-2:])

  def terms(self, params, x):
    """``x [B, K, m, keys]`` -> per-sub-sequence NLLs (nats per step) from ``c`` and from ``q``
    ``[B, K]``, the continuity terms, and ``(c, q)``."""
    c = self.encode(params, x)
    q = cae.quantize(c, self.quantizer)
    both = jnp.concatenate([c, jax.lax.stop_gradient(q)], axis=0)
    logits = self.decode_logits(params, both, jnp.concatenate([x, x], axis=0))
    nll = losses.frame_nll(logits, jnp.concatenate([x, x], axis=0)).mean(-1)   # [2B, K]
    b = x.shape[0]
    con = cae.continuity_terms(c, q, self.continuity, self.margin)
    return nll[:b], nll[b:], con, c, q

  # -- steps --------------------------------------------------------------------------------
  def _rows(self, batch):
    x = batch['inputs'].astype(jnp.float32)
    return x.reshape(x.shape[0], self.row_subseqs, self.subseq_len, x.shape[-1])

  def train_step(self, state, batch, rng):
    del rng
    x = self._rows(batch)

    def loss_fn(params):
      rec, rec_q, con, c, q = self.terms(params, x)
      rec, rec_q, con = rec.mean(), rec_q.mean(), con.mean()
      return rec + rec_q + self.alpha * con, (rec, rec_q, con, c, q)

    (loss, (rec, rec_q, con, c, q)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        state['params'])
    state, grad_norm = update_train_state(state, grads, self.tx)
    return state, {'loss': loss, 'rec_nll': rec, 'rec_q_nll': rec_q, 'con': con,
                   'code_dist': cae.sq_dist(c[:, :-1], c[:, 1:]).mean(),
                   'code_hamming': (q[:, :-1] != q[:, 1:]).sum(-1).mean(),
                   'grad_norm': grad_norm}

  def eval_step(self, state, batch):
    params = self.eval_params(state)
    x = batch['subseqs'].astype(jnp.float32)                    # [R, S, m, keys]
    mask = batch['mask']                                        # [R, S]
    rec, rec_q, con, c, q = self.terms(params, x)
    pair = mask[:, :-1] * mask[:, 1:]
    con_mask = pair[:, :-1] * mask[:, 2:] if self.continuity == 'hinge' else pair
    rng = jax.random.key(0)
    out = {'rec_nll_sum': (rec * mask).sum(), 'rec_q_nll_sum': (rec_q * mask).sum(),
           'subseqs': mask.sum(), 'con_sum': (con * con_mask).sum(), 'con_count': con_mask.sum(),
           'code_dist_sum': (cae.sq_dist(c[:, :-1], c[:, 1:]) * pair).sum(),
           'code_hamming_sum': ((q[:, :-1] != q[:, 1:]).sum(-1) * pair).sum(),
           'pairs': pair.sum()}
    on = x.sum((-1, -2))                                        # notes per sub-sequence
    for name, code in (('', c), ('_q', q)):
      frames = self.decode_free(params, code, rng)                # [R, S, m, keys]
      right = (frames == x)
      out[f'key_right{name}'] = (right.mean(-1).mean(-1) * mask).sum()
      out[f'frame_right{name}'] = (right.all(-1).mean(-1) * mask).sum()
      out[f'notes_hit{name}'] = ((frames * x).sum((-1, -2)) * mask).sum()
      out[f'notes_drawn{name}'] = (frames.sum((-1, -2)) * mask).sum()
    out['notes_real'] = (on * mask).sum()
    distinct, share = code_counts(q.reshape(-1, q.shape[-1]), mask.reshape(-1))
    out.update(distinct_codes=distinct, top_code_share=share)
    return out

  def eval_summary(self, sums):
    n = max(sums['subseqs'], 1.0)
    pairs = max(sums['pairs'], 1.0)
    return {'rec_nll': sums['rec_nll_sum'] / n, 'rec_q_nll': sums['rec_q_nll_sum'] / n,
            'con': sums['con_sum'] / max(sums['con_count'], 1.0),
            'code_dist': sums['code_dist_sum'] / pairs,
            'code_hamming': sums['code_hamming_sum'] / pairs,
            'key_acc': sums['key_right'] / n, 'frame_acc': sums['frame_right'] / n,
            'key_acc_q': sums['key_right_q'] / n, 'frame_acc_q': sums['frame_right_q'] / n,
            'note_recall': sums['notes_hit'] / max(sums['notes_real'], 1.0),
            'note_precision': sums['notes_hit'] / max(sums['notes_drawn'], 1.0),
            'note_recall_q': sums['notes_hit_q'] / max(sums['notes_real'], 1.0),
            'note_precision_q': sums['notes_hit_q'] / max(sums['notes_drawn_q'], 1.0),
            # one eval batch per split (eval_batches): these are that batch's own figures
            'distinct_codes': sums['distinct_codes'], 'top_code_share': sums['top_code_share'],
            'subseqs': sums['subseqs']}

  def learning_rates(self, step):
    return {'lr': float(self.schedule(step))}

  def hparams(self):
    return {'row_subseqs': self.row_subseqs}

  # -- sampling -----------------------------------------------------------------------------
  def make_sampler(self):
    return WalkSampler(self)


class WalkSampler(base.Sampler):
  """Composes by walking the quantised code space and decoding each code (log 10/29, 11/05).

  ``walk='random'``: the theme is the quantised code of a real opening sub-sequence (the first
  ``m`` steps of a random training piece); each step changes ``flips`` entries of the previous
  code to another level, and every ``reset_every``-th step goes back to the theme with
  probability ``reset_prob``, else makes the current code the theme (:func:`~dsjax.models.
  continuous_ae.random_walk`). ``walk='song'``: a real training piece's consecutive
  sub-sequences, encoded and quantised, each with ``flips`` entries changed (the codes repeat
  from the start when the piece is shorter than ``length``). Each code is decoded free running
  (``mode``, ``threshold``), and the sub-sequences are concatenated.
  """

  def __init__(self, task: ContinuousAETask):
    super().__init__(task)
    self.defaults = task.config.sample
    self.train_set = task.train_set
    self.roll_cfg, self.keys = task.roll_cfg, task.keys
    self.m = task.subseq_len
    self.quantizer = task.quantizer
    self._encode = jax.jit(lambda p, x: cae.quantize(task.encode(p, x), task.quantizer))
    self._compose = jax.jit(functools.partial(_compose, task),
                            static_argnames=('walk', 'num_codes', 'mode', 'reset_every'))

  def real_codes(self, params, rng, num: int, num_subseqs: int) -> tuple[np.ndarray, np.ndarray]:
    """``(frames uint8 [num, n * m, keys], quantised codes [num, n, D])`` of the openings of
    ``num`` random training pieces, ``n <= num_subseqs`` sub-sequences (fewer where no piece is
    that long)."""
    frames = datasets.openings(self.train_set, rng, num, num_subseqs * self.m)
    n = frames.shape[1] // self.m
    frames = frames[:, :n * self.m]
    x = frames.reshape(num, n, self.m, self.keys).astype(np.float32)
    return frames, np.asarray(self._encode(params, jnp.asarray(x)))

  def sample(self, state, rng, num, length, walk=None, flips=None, reset_every=None,
             reset_prob=None, mode=None, threshold=None):
    """``uint8 [num, length, keys]``: the decoded walk (see the class docstring)."""
    s = self.defaults
    walk = str(s.walk if walk is None else walk)
    flips = int(s.flips if flips is None else flips)
    reset_every = int(s.reset_every if reset_every is None else reset_every)
    reset_prob = float(s.reset_prob if reset_prob is None else reset_prob)
    mode = str(s.mode if mode is None else mode)
    if mode not in MODES:
      raise ValueError(f"--mode={mode} (config.sample.mode): expected 'threshold' or 'bernoulli' "
                       "(or greedy, sample)")
    mode = MODES[mode]
    threshold = float(s.threshold if threshold is None else threshold)
    if walk not in WALKS:
      raise ValueError(f'walk={walk!r} (config.sample.walk): expected one of {WALKS}')
    if flips < 0:
      raise ValueError(f'flips={flips} (config.sample.flips): must be >= 0')
    if not 0.0 <= reset_prob <= 1.0:
      raise ValueError(f'reset_prob={reset_prob} (config.sample.reset_prob): must be in [0, 1]')
    num_codes = -(-int(length) // self.m)
    params = self.eval_params(state)
    _, real = self.real_codes(params, jax.random.fold_in(rng, 1), num,
                              1 if walk == 'random' else num_codes)
    if walk == 'song':
      real = real[:, np.arange(num_codes) % real.shape[1]]
    else:
      real = real[:, 0]
    out = self._compose(params, jnp.asarray(real), rng, jnp.int32(flips),
                        jnp.float32(reset_prob), jnp.float32(threshold), walk=walk,
                        num_codes=num_codes, mode=mode, reset_every=reset_every)
    return np.asarray(out)[:, :int(length)].astype(np.uint8)

  def to_pieces(self, samples, duration_steps=None):
    d = int(self.defaults.duration_steps if duration_steps is None else duration_steps)
    return [Piece(f'sample_{i}', aligned_lib.decode_aligned(s, self.roll_cfg, duration_steps=d))
            for i, s in enumerate(samples)]

  def to_rolls(self, samples):
    return [np.asarray(s) for s in samples]

  def real_rolls(self, num, length):
    return list(datasets.openings(self.train_set, jax.random.key(1234), num, length))

  def statistics(self, samples):
    samples = np.asarray(samples)
    real = np.stack(self.real_rolls(len(samples), samples.shape[1]))
    out = {'note_density': music_stats.note_density(samples),
           'real_note_density': music_stats.note_density(real)}
    for name, rolls in (('', samples), ('real_', real)):
      out.update({f'{name}{k}': v for k, v in melody_moves(rolls).items()})
    return out


def melody_moves(rolls) -> dict[str, float]:
  """Shares of the melody line's moves between consecutive sounding steps of aligned steps
  ``rolls [batch, time, keys]`` (empty steps are dropped first, so a note struck again after a
  rest counts as a repeat): ``melody_up``, ``melody_down`` and ``melody_rep`` (the same top key;
  the log's "up and rep, no down", 11/05). The line is the highest key starting at each step
  (:func:`dsjax.eval.music_stats.melody_interval_counts`), so a step where only an inner voice
  starts a note reads as a move down to it."""
  counts = 0.0
  for roll in np.asarray(rolls):
    sounding = roll[roll.reshape(len(roll), -1).any(-1)]
    if len(sounding) > 1:
      counts = counts + music_stats.melody_interval_counts(sounding[None])
  if np.ndim(counts) == 0:
    return {'melody_up': 0.0, 'melody_down': 0.0, 'melody_rep': 0.0}
  bins = music_stats.MELODY_BINS
  up = sum(counts[i] for i, b in enumerate(bins) if b.endswith(' up'))
  down = sum(counts[i] for i, b in enumerate(bins) if b.endswith(' down'))
  rep = counts[bins.index('hold')]
  total = max(up + down + rep, 1.0)
  return {'melody_up': float(up / total), 'melody_down': float(down / total),
          'melody_rep': float(rep / total)}


def _compose(task: ContinuousAETask, params, start, rng, flips, reset_prob, threshold, *, walk,
             num_codes, mode, reset_every):
  """The walk's codes ``[N, num_codes, D]`` decoded to frames ``[N, num_codes * m, keys]``."""
  k_walk, k_decode = jax.random.split(rng)
  if walk == 'random':
    codes = cae.random_walk(k_walk, start, num_codes, flips, task.quantizer, reset_every,
                            reset_prob)
  else:
    codes = cae.song_walk(k_walk, start, flips, task.quantizer)
  frames = task.decode_free(params, codes, k_decode, mode, threshold)   # [N, n, m, keys]
  return frames.reshape(frames.shape[0], -1, frames.shape[-1])
