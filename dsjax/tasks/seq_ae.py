"""The sequence autoencoder task (log 10/22, 10/26) and its variational form (the log's to-do item
"update SeqAE to SeqVAE"; VRAE, Bowman et al. 2016, MusicVAE).

``config.data.coding``: ``'events'`` (event ids, softmax decision layer) or ``'aligned'`` (aligned
chord steps, :mod:`dsjax.data.aligned`: the multi-hot of the notes starting at each grid step,
sigmoid decision layer). Training rows are random windows of ``config.data.window`` items; the
encoder reads a window, the decoder reconstructs it from the code, teacher forced, with word
dropout (``model.word_dropout``) on its inputs. ``model.variational`` adds the KL term, weighted by
``vae.kl_weight`` ramped linearly from 0 over ``vae.kl_anneal_steps`` steps, less ``vae.free_bits``
nats per window (the KL is not pushed below it).

Evaluation (held-out windows: each eval piece cut into windows of ``data.window``) reports, per
step: the reconstruction NLL and accuracy teacher forced (``tf_*``) and free-running from the code
(``fr_*``: the decoder fed its own greedy outputs; its NLL scores the true items under the
distributions it gives along its own path), the NLL teacher forced with the code of a window of
another piece (``tf_other_code_nll``; the posterior-collapse check: a decoder that ignores its code
scores the same), the KL per window and, with a prior, the NLL with codes drawn from it
(``tf_prior_code_nll``).
Accuracy is token accuracy for events; for aligned steps, exact-step accuracy (every key right) and
the F1 of the sounding cells.

Generation (:class:`SeqAESampler`, ``launch.generate``): ``--primer=K`` encodes the first K items of
real pieces and decodes ``--length`` items (the log's "encode 100 events, decode 1000"; the first
K decoded items are the reconstruction); ``--primer=0`` decodes codes drawn from the prior (VAE
only). ``--mode=greedy|sample`` and ``--temperature``. ``launch.interpolate`` walks between two
pieces' codes.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from dsjax import losses
from dsjax.data import aligned as aligned_lib
from dsjax.data import events as events_lib
from dsjax.data import keys as keys_lib
from dsjax.data import midi_io
from dsjax.data import pianoroll as roll_lib
from dsjax.data.eval_batches import eval_batches
from dsjax.data.notes import Piece
from dsjax.models.seq_ae import SeqAE, free_run, kl_to_standard_normal, reconstruction_nll
from dsjax.optim import init_train_state, make_optimizer, update_train_state
from dsjax.tasks import base, datasets
from dsjax.tasks.event_lm import PICTURE_GRID, event_vocab

CODINGS = ('events', 'aligned')
# Decoding modes; 'threshold' and 'bernoulli' (the roll models' names) are the same two.
MODES = {'greedy': True, 'sample': False, 'threshold': True, 'bernoulli': False}


class SeqAETask(base.Task):
  """Sequence (variational) autoencoder over event ids or aligned chord steps."""

  supports_ema = True

  def __init__(self, config):
    super().__init__(config)
    d, m, v = config.data, config.model, config.vae
    self.coding = str(d.coding)
    if self.coding not in CODINGS:
      raise ValueError(f'config.data.coding={self.coding!r}: expected one of {CODINGS}')
    self.window = int(d.window)
    if self.window < 2:
      raise ValueError(f'config.data.window={self.window}: must be at least 2')
    if int(d.eval_max_len) not in (0, self.window):
      raise ValueError(f'config.data.eval_max_len={int(d.eval_max_len)}: an autoencoder is '
                       f'evaluated on windows of data.window={self.window}; leave it at 0')
    if int(d.transpose):
      raise ValueError(f'config.data.transpose={int(d.transpose)}: the autoencoders train on '
                       'pieces moved to C (data.transpose_to_c); transposition is not supported')
    if self.coding == 'events':
      self.vocab = event_vocab(config)
      encoding, size = 'events', dict(vocab_size=self.vocab.size)
    else:
      self.vocab = None
      self.roll_cfg = datasets.roll_config(config)
      encoding, size = 'aligned', dict(keys=self.roll_cfg.keys)
    self.encoding = encoding
    self.train_set = datasets.load_split(config, encoding, 'train')
    self.eval_sets = datasets.load_eval_splits(config, encoding)
    self.word_dropout = float(m.word_dropout)
    if not 0 <= self.word_dropout < 1:
      raise ValueError(f'config.model.word_dropout={self.word_dropout}: must be in [0, 1)')
    self.variational = bool(m.variational)
    self.kl_weight, self.kl_anneal_steps = float(v.kl_weight), int(v.kl_anneal_steps)
    self.free_bits = float(v.free_bits)
    for key, value in (('kl_weight', self.kl_weight), ('kl_anneal_steps', self.kl_anneal_steps),
                       ('free_bits', self.free_bits)):
      if not value >= 0:
        raise ValueError(f'config.vae.{key}={value}: must be >= 0')
    for key, value in (('kl_anneal_steps', self.kl_anneal_steps), ('free_bits', self.free_bits)):
      if value and not self.variational:
        raise ValueError(f'config.vae.{key}={value}: applies to a variational model; set '
                         'config.model.variational=True or leave it at 0')
    self.model = SeqAE(**size, embed_dim=int(m.embed_dim), encoder=tuple(m.encoder),
                       decoder=tuple(m.decoder), code_dim=int(m.code_dim),
                       variational=self.variational, code_every_step=bool(m.code_every_step))
    self.init_output_bias = bool(m.init_output_bias)
    if self.init_output_bias:  # on the host, once: init runs under jit
      self.output_bias = self._marginal_output_bias()
    self.tx, self.schedule = make_optimizer(config.optim, int(config.train.num_steps))

  def _marginal_output_bias(self) -> np.ndarray:
    """The decision layer's starting bias: the training items' marginal distribution (log
    frequency of each event id, add-one smoothed; each key's log-odds for aligned steps)."""
    values = self.train_set.values
    if self.coding == 'events':
      counts = np.bincount(values.astype(np.int64), minlength=self.vocab.size) + 1.0
      return np.log(counts / counts.sum()).astype(np.float32)
    return roll_lib.key_log_odds(values, (self.roll_cfg.keys,))

  # -- data ---------------------------------------------------------------------------------
  def train_data(self, process_index, process_count, seed=None):
    return datasets.train_stream(self.config, self.train_set, process_index, process_count,
                                 shifted=False, seed=seed)

  def eval_batches(self):
    """Each eval piece cut into windows of ``data.window`` (the last one shorter, masked)."""
    size = int(self.config.data.eval_batch_size)
    return {split: list(eval_batches(seqs, size, self.window, shifted=False))
            for split, seqs in self.eval_sets.items() if len(seqs)}

  # -- steps --------------------------------------------------------------------------------
  def init(self, rng):
    shape = (1, 2) if self.coding == 'events' else (1, 2, self.roll_cfg.keys)
    x = jnp.zeros(shape, jnp.int32 if self.coding == 'events' else jnp.float32)
    params = self.model.init({'params': rng}, x)['params']
    if self.init_output_bias:
      params = {**params, 'head': {**params['head'], 'bias': jnp.asarray(self.output_bias)}}
    # ``step`` counts updates for the KL annealing.
    return init_train_state(params, self.tx, self.ema_decay, step=jnp.zeros((), jnp.int32))

  def _targets(self, batch):
    x = batch['inputs']
    return x.astype(jnp.int32) if self.coding == 'events' else x.astype(jnp.float32)

  def kl_scale(self, step):
    """The KL term's weight at ``step``: ``kl_weight`` ramped linearly from 0 over
    ``kl_anneal_steps`` (at once when 0)."""
    if not self.kl_anneal_steps:
      return jnp.float32(self.kl_weight)
    return self.kl_weight * jnp.minimum(1.0, step / self.kl_anneal_steps)

  def _loss(self, params, batch, rng, step):
    x, mask = self._targets(batch), batch['mask']
    drop = None
    r_drop, r_z = jax.random.split(rng)
    if self.word_dropout:
      drop = jax.random.bernoulli(r_drop, self.word_dropout, mask.shape)
    logits, mu, logvar = self.model.apply({'params': params}, x, mask,
                                          r_z if self.variational else None, drop)
    nll = reconstruction_nll(self.model, logits, x)
    count = jnp.maximum(mask.sum(), 1.0)
    rec = (nll * mask).sum() / count
    metrics = {'rec_nll': rec}
    loss = rec
    if self.variational:
      rows = (mask.sum(-1) > 0).astype(jnp.float32)
      kl = kl_to_standard_normal(mu, logvar) * rows
      loss = rec + self.kl_scale(step) * (kl_penalty(kl, self.free_bits) * rows).sum() / count
      metrics.update(kl_per_window=kl.sum() / jnp.maximum(rows.sum(), 1.0),
                     kl_scale=self.kl_scale(step))
    return loss, metrics

  def train_step(self, state, batch, rng):
    (loss, metrics), grads = jax.value_and_grad(self._loss, has_aux=True)(
        state['params'], batch, rng, state['step'])
    state, grad_norm = update_train_state(state, grads, self.tx, self.ema_decay)
    state['step'] = state['step'] + 1
    return state, {'loss': loss, 'grad_norm': grad_norm, **metrics}

  def _accuracy_sums(self, pred, x, mask):
    """Sums for accuracy: tokens right, or exact steps and the cells of an F1."""
    if self.coding == 'events':
      return {'right': ((pred == x) * mask).sum()}
    m = mask[..., None]
    return {'right': ((pred == x).all(-1) * mask).sum(),
            'tp': (pred * x * m).sum(), 'fp': (pred * (1 - x) * m).sum(),
            'fn': ((1 - pred) * x * m).sum()}

  def eval_step(self, state, batch):
    params = self.eval_params(state)
    x, mask = self._targets(batch), batch['mask']
    apply = functools.partial(self.model.apply, {'params': params})
    mu, logvar = apply(x, mask, method=SeqAE.encode)
    sums = {'steps': mask.sum(), 'windows': (mask.sum(-1) > 0).sum()}

    def tf(z, prefix):
      logits = apply(z, x, method=SeqAE.teacher_forced)
      nll = reconstruction_nll(self.model, logits, x)
      sums[f'{prefix}_nll_sum'] = (nll * mask).sum()
      return logits

    logits = tf(mu, 'tf')
    pred = (jnp.argmax(logits, -1) if self.coding == 'events'
            else (logits > 0).astype(jnp.float32))
    sums.update({f'tf_{k}': v for k, v in self._accuracy_sums(pred, x, mask).items()})
    # Another piece's code: each row decoded with the code of the nearest row of another piece
    # (rows without one in the batch are left out of this figure).
    other, has_other = other_piece_rows(batch['seq_ids'])
    other_mask = mask * has_other[:, None]
    logits_other = apply(mu[other], x, method=SeqAE.teacher_forced)
    sums['tf_other_code_nll_sum'] = (reconstruction_nll(self.model, logits_other, x)
                                     * other_mask).sum()
    sums['other_steps'] = other_mask.sum()
    if self.variational:
      key = jax.random.fold_in(jax.random.key(0), jnp.maximum(batch['seq_ids'].max(), 0))
      tf(jax.random.normal(key, mu.shape), 'tf_prior_code')
      rows = (mask.sum(-1) > 0).astype(jnp.float32)
      sums['kl_sum'] = (kl_to_standard_normal(mu, logvar) * rows).sum()
    outs, _, nll = free_run(self.model, params, mu, length=x.shape[1], greedy=True, targets=x)
    sums['fr_nll_sum'] = (nll * mask).sum()
    sums.update({f'fr_{k}': v for k, v in self._accuracy_sums(outs, x, mask).items()})
    return sums

  def eval_summary(self, sums):
    steps = max(sums['steps'], 1.0)
    out = {'steps': sums['steps'], 'windows': sums['windows']}
    for prefix in ('tf', 'fr', 'tf_prior_code'):
      if f'{prefix}_nll_sum' in sums:
        out[f'{prefix}_nll'] = sums[f'{prefix}_nll_sum'] / steps
    out['tf_other_code_nll'] = sums['tf_other_code_nll_sum'] / max(sums['other_steps'], 1.0)
    for mode in ('tf', 'fr'):
      out[f'{mode}_accuracy'] = sums[f'{mode}_right'] / steps
      if f'{mode}_tp' in sums:
        tp, fp, fn = sums[f'{mode}_tp'], sums[f'{mode}_fp'], sums[f'{mode}_fn']
        out[f'{mode}_f1'] = 2 * tp / max(2 * tp + fp + fn, 1.0)
    if 'kl_sum' in sums:
      out['kl_per_window'] = sums['kl_sum'] / max(sums['windows'], 1.0)
    return out

  def learning_rates(self, step):
    return {'lr': float(self.schedule(step))}

  def hparams(self):
    return {'coding': self.coding, 'variational': self.variational,
            'word_dropout': self.word_dropout}

  # -- sampling -----------------------------------------------------------------------------
  def make_sampler(self):
    return SeqAESampler(self)


def other_piece_rows(seq_ids):
  """For each row ``r`` of an eval batch, the nearest row before it (cyclically) that holds a
  window of another piece: ``(rows [B], found [B] float)``; ``found`` is 0 for a row with no such
  row in the batch, and for padding rows (``seq_ids < 0``)."""
  b = seq_ids.shape[0]
  r = jnp.arange(b)
  if b == 1:
    return r, jnp.zeros((1,), jnp.float32)
  cand = (r[None] - jnp.arange(1, b)[:, None]) % b                  # [B - 1, B]
  ok = (seq_ids[cand] != seq_ids[None]) & (seq_ids[cand] >= 0) & (seq_ids[None] >= 0)
  return cand[jnp.argmax(ok, axis=0), r], ok.any(0).astype(jnp.float32)


def kl_penalty(kl, free_bits: float):
  """The KL term a window pays: ``max(kl - free_bits, 0)`` (no push below ``free_bits`` nats)."""
  return jnp.maximum(kl - free_bits, 0.0) if free_bits else kl


class SeqAESampler(base.Sampler):
  """Reconstruction, continuation, prior samples and interpolation of a sequence autoencoder."""

  def __init__(self, task: SeqAETask):
    super().__init__(task)
    self.defaults = task.config.sample
    self.task, self.model, self.coding = task, task.model, task.coding
    self.vocab, self.train_set, self.window = task.vocab, task.train_set, task.window
    # aligned steps: the data's grid; events: the grid of their pictures (to_rolls)
    self.roll_cfg = getattr(task, 'roll_cfg', None) or PICTURE_GRID
    self.transpose_to_c = bool(task.config.data.transpose_to_c)
    self._encode = jax.jit(lambda params, x, mask: self.model.apply(
        {'params': params}, x, mask, method=SeqAE.encode)[0])
    self._decode = jax.jit(functools.partial(_decode, self.model),
                           static_argnames=('length', 'greedy'))

  # -- codes --------------------------------------------------------------------------------
  def encode(self, state, seqs) -> np.ndarray:
    """Codes ``[N, code]`` (the posterior means) of sequences (a list of items in this run's
    coding, each at most ``data.window`` long for codes like the training ones; any length
    works)."""
    lengths = np.array([len(s) for s in seqs])
    if not len(seqs) or lengths.min() < 1:
      raise ValueError('encode: every sequence needs at least one item')
    t = int(lengths.max())
    if self.coding == 'events':
      x = np.zeros((len(seqs), t), np.int32)
    else:
      x = np.zeros((len(seqs), t, self.roll_cfg.keys), np.float32)
    for i, s in enumerate(seqs):
      x[i, :len(s)] = s
    mask = (np.arange(t)[None] < lengths[:, None]).astype(np.float32)
    return np.asarray(self._encode(self.eval_params(state), jnp.asarray(x), jnp.asarray(mask)))

  def decode(self, state, codes, length: int, rng=None, mode=None, temperature=None):
    """Free-running decodes of ``codes [N, code]``: ids ``[N, length]`` or steps
    ``[N, length, keys]`` (uint8)."""
    greedy, temperature = self._options(mode, temperature)
    rng = jax.random.key(0) if rng is None else rng
    out = self._decode(self.eval_params(state), jnp.asarray(codes, jnp.float32), rng,
                       jnp.float32(temperature), length=int(length), greedy=greedy)
    out = np.asarray(out)
    return out.astype(np.int32) if self.coding == 'events' else out.astype(np.uint8)

  def reconstruct(self, state, seqs, length: int | None = None, **options) -> np.ndarray:
    """Encode then decode (``length`` items, default the longest sequence's length)."""
    codes = self.encode(state, seqs)
    return self.decode(state, codes, length or max(len(s) for s in seqs), **options)

  def _options(self, mode, temperature):
    s = self.defaults
    mode = str(s.mode if mode is None else mode)
    if mode not in MODES:
      raise ValueError(f'--mode={mode} (config.sample.mode): an autoencoder decodes greedy (or '
                       'threshold) or sample (or bernoulli)')
    temperature = float(s.temperature if temperature is None else temperature)
    if not (np.isfinite(temperature) and temperature > 0):
      raise ValueError(f'temperature={temperature}: must be a finite number > 0')
    return MODES[mode], temperature

  # -- the Sampler interface ----------------------------------------------------------------
  def primers(self, rng, num: int, length: int) -> np.ndarray:
    return datasets.openings(self.train_set, rng, num, length)

  def sample(self, state, rng, num, length, primer=None, mode=None, temperature=None):
    """``length`` items decoded from the codes of ``primer``-item openings of random training
    pieces (the first ``primer`` decoded items reconstruct them), or from the prior with
    ``primer=0`` (variational models only)."""
    k = int(self.defaults.primer if primer is None else primer)
    if k > 0:
      codes = self.encode(state, list(self.primers(jax.random.fold_in(rng, 1), num, k)))
    elif self.model.variational:
      codes = np.asarray(jax.random.normal(jax.random.fold_in(rng, 2),
                                           (num, self.model.code_dim)))
    else:
      raise ValueError('primer=0: a plain autoencoder has no prior to draw codes from; encode '
                       'real openings with primer=K > 0 (or train with model.variational=True)')
    return self.decode(state, codes, length, rng=rng, mode=mode, temperature=temperature)

  def to_pieces(self, samples, max_sustain=None, duration_steps=None):
    """MIDI pieces: events decoded with notes cut after ``max_sustain`` seconds (default
    ``sample.max_sustain``; 0 = no limit); aligned steps with every note lasting
    ``duration_steps`` grid steps (default ``sample.duration_steps``)."""
    if self.coding == 'events':
      if duration_steps is not None:
        raise ValueError('duration_steps applies to aligned steps; event runs have their own '
                         'durations (cut with max_sustain)')
      limit = float(self.defaults.max_sustain if max_sustain is None else max_sustain)
      return [events_lib.decode_events_to_piece(s, self.vocab, name=f'sample_{i}',
                                                max_sustain=limit or None)
              for i, s in enumerate(samples)]
    if max_sustain is not None:
      raise ValueError('max_sustain applies to event runs; aligned steps have fixed durations '
                       '(duration_steps)')
    steps = int(self.defaults.duration_steps if duration_steps is None else duration_steps)
    if steps < 1:
      raise ValueError(f'duration_steps={steps}: must be at least 1')
    return [Piece(f'sample_{i}', aligned_lib.decode_aligned(s, self.roll_cfg,
                                                             duration_steps=steps))
            for i, s in enumerate(samples)]

  def to_rolls(self, samples):
    if self.coding == 'events':
      cfg = self.roll_cfg
      rolls = [roll_lib.encode_pianoroll(p, cfg) for p in self.to_pieces(samples)]
      # A decode with no notes still gets a (silent) picture.
      return [r if len(r) else np.zeros((1, cfg.keys), np.uint8) for r in rolls]
    return [np.asarray(s, np.uint8) for s in samples]

  def real_rolls(self, num, length):
    return self.to_rolls(self.primers(jax.random.key(1234), num, length))

  def statistics(self, samples):
    if self.coding == 'events':
      return {}
    samples = np.asarray(samples, np.float32)
    return {'notes_per_step': float(samples.sum(-1).mean()),
            'empty_steps': float((samples.sum(-1) == 0).mean())}

  # -- files --------------------------------------------------------------------------------
  def encode_midi(self, path: str, length: int | None = None) -> np.ndarray:
    """A MIDI file in this run's coding (moved to C as the training data when
    ``data.transpose_to_c``), its first ``length`` items (default ``data.window``)."""
    piece = midi_io.load_midi(path)
    if not len(piece.notes):
      raise ValueError(f'{path}: no notes')
    if self.transpose_to_c:
      piece, _ = keys_lib.transpose_to_c(piece)
    if self.coding == 'events':
      seq = events_lib.encode_events(piece, self.vocab)
    else:
      seq = aligned_lib.encode_aligned(piece, self.roll_cfg)
    if not len(seq):
      raise ValueError(f'{path}: nothing to encode in this run\'s coding')
    return seq[:int(length or self.window)]

  def interpolate(self, state, seq_a, seq_b, steps: int, length: int | None = None,
                  spherical: bool = False, **options) -> tuple[np.ndarray, np.ndarray]:
    """Decodes ``steps`` codes on the line from ``seq_a``'s code to ``seq_b``'s (both ends
    included): ``(decoded [steps, length, ...], fractions [steps])``. ``spherical``: slerp."""
    if steps < 2:
      raise ValueError(f'steps={steps}: an interpolation needs at least 2 (the two ends)')
    za, zb = self.encode(state, [seq_a, seq_b])
    t = np.linspace(0.0, 1.0, steps)
    codes = interpolate_codes(za, zb, t, spherical)
    codes[0], codes[-1] = za, zb  # the ends exactly (slerp's rounding aside)
    return self.decode(state, codes, length or max(len(seq_a), len(seq_b)), **options), t


def interpolate_codes(za: np.ndarray, zb: np.ndarray, t: np.ndarray,
                      spherical: bool = False) -> np.ndarray:
  """Codes ``[len(t), code]`` between ``za`` (t = 0) and ``zb`` (t = 1): linear, or along the great
  circle (slerp; linear when the two codes are parallel)."""
  za, zb = np.asarray(za, np.float64), np.asarray(zb, np.float64)
  t = np.asarray(t, np.float64)[:, None]
  if spherical:
    cos = za @ zb / max(np.linalg.norm(za) * np.linalg.norm(zb), 1e-12)
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if omega > 1e-6:
      return ((np.sin((1 - t) * omega) * za + np.sin(t * omega) * zb) / np.sin(omega)
              ).astype(np.float32)
  return ((1 - t) * za + t * zb).astype(np.float32)


def _decode(model, params, codes, rng, temperature, *, length, greedy):
  return free_run(model, params, codes, length=length, rng=rng, greedy=greedy,
                  temperature=temperature)[0]
