"""Finish-me-with-beats task (log 04/26/2018): fill a gap of a melody, its rhythm given.

Data: each piece's melody as one token per grid step (:mod:`dsjax.models.fill`: silence, sustain,
or a note of key ``k`` starts), read from its piano roll and its aligned onsets on
``config.data.roll``'s grid (:func:`melody_tokens`: the top sounding key; a step is an attack
where that key starts a note or the top key changes). Every piece gets ``C`` silent steps in front
(``C = data.context_beats / step``), so a gap can sit anywhere, even at the start.

Training row: a random window of ``C + G_max`` steps of a piece (``G = data.gap_beats / step``);
its gap starts at step ``C`` and its length is drawn in the train step, uniform in ``[G_min,
G_max]`` (cut to the piece's end). Loss: cross entropy of the gap's tokens, teacher forced, in
nats per gap step (``arch='fill'``), or of every next token of the window (``arch='lm'``).

Evaluation (``data.eval_splits``): ``data.eval_gaps_per_piece`` gaps of every held-out piece,
lengths and places drawn once with a fixed seed (the same for every run). Reported, per gap step
or attack step:

* ``nll``: teacher-forced cross entropy of the gap's tokens (nats per step; the LM's too);
* the fill with the rhythm kept (greedy pitches at the attack steps, :func:`~dsjax.models.fill.
  fill_tokens`, ``constrained=True``): ``pitch_acc`` (attack steps whose pitch is the
  original's), ``note_precision`` / ``note_recall`` / ``note_f1`` (notes matched on onset step and
  pitch), ``attack_kept`` / ``silence_kept`` / ``rhythm_kept`` (share of the original's attack
  steps where the fill starts a note, of its silent steps where nothing sounds, of both together);
* ``free_*``: the same of the free fill (any token at any step; the rhythm only conditions the
  model): how often the asked-for rhythm is kept when it is not forced (log: "the attack and
  silence sometimes are not strong enough");
* ``repeat_*``: the baseline that plays the previous span again (the ``G`` steps before the gap).

For ``arch='lm'`` the plain metrics are the LM with the rhythm forced and ``free_*`` its own
continuation of the context (the unconditioned baseline).

:meth:`FillTask.fill_span` fills a span of any piece (``launch.fill``).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from dsjax import losses
from dsjax.data import aligned as aligned_lib
from dsjax.data import pianoroll as roll_lib
from dsjax.data.notes import NOTE_DTYPE, Piece, SequenceSet
from dsjax.data.windows import WindowSampler
from dsjax.models import fill as fill_lib
from dsjax.models.fill import ATTACK, SILENCE, SUSTAIN, FillModel
from dsjax.optim import init_train_state, make_optimizer, update_train_state
from dsjax.tasks import base, datasets

EVAL_SEED = 426           # the eval gaps' draw (04/26): the same gaps for every run and seed
PREFIXES = ('', 'free_', 'repeat_')
FIGURE_GAPS = 4           # held-out gaps drawn in the eval figure


def steps_of(beats: float, step: float, name: str) -> int:
  """``beats`` as a whole number of grid steps; a ValueError naming ``name`` otherwise."""
  n = float(beats) / float(step)
  if not (np.isfinite(n) and abs(n - round(n)) < 1e-6 and round(n) >= 1):
    raise ValueError(f'{name}={beats!r}: must be a positive whole number of grid steps of '
                     f'{step} beats')
  return int(round(n))


def check_config(config) -> None:
  """Refuses, naming the key, a setting the task cannot use."""
  d, m = config.data, config.model
  if str(m.arch) not in fill_lib.ARCHS:
    raise ValueError(f'config.model.arch={m.arch!r}: expected one of {fill_lib.ARCHS}')
  if str(d.roll.grid) != 'beats':
    raise ValueError(f"config.data.roll.grid={d.roll.grid!r}: the fill task works on a beat grid "
                     "('beats')")
  if int(d.window):
    raise ValueError(f'config.data.window={int(d.window)}: unused by the fill task (a row is '
                     'data.context_beats + data.gap_beats[1] long); leave it 0')
  if int(d.transpose):
    raise ValueError(f'config.data.transpose={int(d.transpose)}: not supported by the fill task '
                     '(data.transpose_to_c moves every piece to C instead)')
  step = float(d.roll.step)
  context = steps_of(d.context_beats, step, 'config.data.context_beats')
  if len(tuple(d.gap_beats)) != 2:
    raise ValueError(f'config.data.gap_beats={tuple(d.gap_beats)!r}: expected (shortest, longest)')
  lo, hi = (steps_of(b, step, 'config.data.gap_beats') for b in d.gap_beats)
  if lo > hi:
    raise ValueError(f'config.data.gap_beats={tuple(d.gap_beats)!r}: the shortest is longer than '
                     'the longest')
  if hi > context:
    raise ValueError(f'config.data.gap_beats={tuple(d.gap_beats)!r}: the longest gap must not be '
                     f'longer than data.context_beats={d.context_beats} (the repeat baseline '
                     'plays the span before the gap)')
  if int(d.eval_gaps_per_piece) < 1:
    raise ValueError(f'config.data.eval_gaps_per_piece={d.eval_gaps_per_piece!r}: must be >= 1')
  if not float(config.sample.temperature) >= 0:
    raise ValueError(f'config.sample.temperature={config.sample.temperature!r}: must be >= 0 '
                     '(0 = greedy)')
  for key in ('embed_dim', 'rhythm_dim', 'context_dim', 'structure_hidden', 'structure_dim'):
    if int(m[key]) < 1:
      raise ValueError(f'config.model.{key}={m[key]!r}: must be >= 1')


# ---------------------------------------------------------------------------------------------
# Melody tokens.


def melody_tokens(roll: np.ndarray, onsets: np.ndarray) -> np.ndarray:
  """The melody (top line) of a piano roll ``[T, keys]`` and its onsets ``[T', keys]`` (aligned
  steps of the same grid; ``T' <= T``) as ``int32 [T]`` tokens: silence where nothing sounds,
  else the top sounding key, an attack where that key starts a note (or the top key changed, or
  the step before was silent), a sustain otherwise."""
  roll = np.asarray(roll) > 0
  t, keys = roll.shape
  on = np.zeros((t, keys), bool)
  n = min(t, len(onsets))
  on[:n] = np.asarray(onsets[:n]) > 0
  sounding = roll.any(-1)
  top = keys - 1 - np.argmax(roll[:, ::-1], axis=-1)
  prev_top = np.concatenate([[-1], np.where(sounding, top, -1)[:-1]])
  attack = sounding & (on[np.arange(t), top] | (top != prev_top))
  return np.where(~sounding, SILENCE, np.where(attack, ATTACK + top, SUSTAIN)).astype(np.int32)


def melody_of_piece(piece: Piece, roll_cfg: roll_lib.RollConfig) -> np.ndarray:
  """A piece's melody tokens on ``roll_cfg``'s grid (the same as the training data's)."""
  roll = roll_lib.encode_pianoroll(piece, roll_cfg)
  return melody_tokens(roll, aligned_lib.encode_aligned(piece, roll_cfg))


def tokens_to_notes(tokens: np.ndarray, roll_cfg: roll_lib.RollConfig,
                    piece: Piece | None = None, velocity: int = 80) -> np.ndarray:
  """Melody tokens ``[T]`` -> ``NOTE_DTYPE`` notes, step ``t`` at beat ``t * step`` (through
  ``piece``'s tempo map, else at 120 qpm). A sustain after a silence plays nothing."""
  tokens = np.asarray(tokens)
  keys = np.asarray(fill_lib.sounding_keys(jnp.asarray(tokens)))
  starts = np.flatnonzero(tokens >= ATTACK)
  ends = []
  for s in starts:
    e = s + 1
    while e < len(tokens) and tokens[e] == SUSTAIN:
      e += 1
    ends.append(e)
  beats = lambda steps: np.asarray(steps, np.float64) * float(roll_cfg.step)
  p = piece if piece is not None else Piece('melody', np.zeros(0, NOTE_DTYPE))
  notes = np.zeros(len(starts), NOTE_DTYPE)
  notes['pitch'] = keys[starts] + roll_cfg.lowest_pitch
  notes['start'] = p.beats_to_seconds(beats(starts))
  notes['end'] = p.beats_to_seconds(beats(ends))
  notes['velocity'] = velocity
  return notes


def token_roll(tokens: np.ndarray, keys: int) -> np.ndarray:
  """``float32 [T, keys]`` picture of melody tokens: 1 where a note starts, 0.55 where it is held
  (paler in :func:`dsjax.viz.pianoroll_figure`, so repeated notes stay apart)."""
  tokens = np.asarray(tokens)
  k = np.asarray(fill_lib.sounding_keys(jnp.asarray(tokens)))
  roll = np.zeros((len(tokens), keys), np.float32)
  on = k >= 0
  roll[np.flatnonzero(on), k[on]] = np.where(tokens[on] >= ATTACK, 1.0, 0.55)
  return roll


def melody_set(config, split: str, pad_front: int, required: bool = True
               ) -> SequenceSet | None:
  """The melodies of ``split`` (pieces without a note left out), each with ``pad_front`` silent
  steps in front; None for a split without one, unless ``required`` (then a ValueError)."""
  rolls = datasets.load_split(config, 'pianoroll', split)
  onsets = datasets.load_split(config, 'aligned', split)
  by_name = {n: i for i, n in enumerate(onsets.names)}
  seqs, names = [], []
  for i, name in enumerate(rolls.names):
    if name not in by_name or not len(rolls[i]):
      continue
    tokens = melody_tokens(rolls[i], onsets[by_name[name]])
    if (tokens >= ATTACK).any():
      seqs.append(np.concatenate([np.zeros(pad_front, np.int32), tokens]))
      names.append(name)
  if not seqs and not required:
    return None
  if not seqs:
    raise ValueError(f'config.data.source={config.data.source!r}: no melody in split {split!r}')
  return SequenceSet.from_list(seqs, names, dtype=np.int32)


def eval_gaps(melodies: SequenceSet, context: int, gap_range: tuple[int, int], per_piece: int,
              multiple: int, seed: int = EVAL_SEED) -> dict[str, np.ndarray]:
  """Fixed random gaps of every melody (``context`` silent steps in front of each):
  ``tokens int32 [N, context + G_max]`` (context then gap, silence after a gap's end),
  ``gap_len int32 [N]`` (0 for padding rows), ``piece_ids`` and ``starts`` (the gap's first step in
  the piece, without the silent front); ``N`` padded up to a multiple of ``multiple``."""
  g = np.random.default_rng(seed)
  lo, hi = gap_range
  rows, lens, ids, starts = [], [], [], []
  for i in range(len(melodies)):
    seq = melodies[i]
    n = len(seq) - context
    if n < lo:
      continue
    for _ in range(per_piece):
      length = int(g.integers(lo, min(hi, n) + 1))
      start = int(g.integers(0, n - length + 1))
      row = np.zeros(context + hi, np.int32)
      row[:context + length] = seq[start:start + context + length]
      rows.append(row)
      lens.append(length)
      ids.append(i)
      starts.append(start)
  extra = -len(rows) % max(int(multiple), 1)
  rows += [np.zeros(context + hi, np.int32)] * extra
  lens += [0] * extra
  ids += [-1] * extra
  starts += [0] * extra
  return {'tokens': np.stack(rows), 'gap_len': np.asarray(lens, np.int32),
          'piece_ids': np.asarray(ids, np.int64), 'starts': np.asarray(starts, np.int64)}


def gap_counts(context: jax.Array, pred: jax.Array, true: jax.Array, valid: jax.Array
               ) -> dict[str, jax.Array]:
  """Counts of a fill ``pred [B, G]`` of gaps ``true [B, G]`` (``valid [B, G]``: inside the gap)
  after ``context [B, C]`` (a sustain at the gap's start holds the context's last note)."""
  c = context.shape[1]
  key_pred = fill_lib.sounding_keys(jnp.concatenate([context, pred], 1))[:, c:]
  key_true = fill_lib.sounding_keys(jnp.concatenate([context, true], 1))[:, c:]
  valid = valid > 0
  att = valid & (true >= ATTACK)
  sil = valid & (true == SILENCE)
  f = lambda x: jnp.sum(x).astype(jnp.float32)
  return {'pitch_right': f(att & (key_pred == key_true)), 'attacks': f(att), 'silences': f(sil),
          'notes_hit': f(att & (pred == true)), 'notes_pred': f(valid & (pred >= ATTACK)),
          'attack_kept': f(att & (pred >= ATTACK)), 'silence_kept': f(sil & (key_pred < 0))}


def summarize(sums, prefix: str = '') -> dict[str, float]:
  """Shares from :func:`gap_counts` sums (keys ``prefix + name``)."""
  s = lambda k: float(sums[prefix + k])
  attacks, silences = max(s('attacks'), 1.0), max(s('silences'), 1.0)
  precision = s('notes_hit') / max(s('notes_pred'), 1.0)
  recall = s('notes_hit') / attacks
  f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
  kept = (s('attack_kept') + s('silence_kept')) / max(s('attacks') + s('silences'), 1.0)
  return {f'{prefix}pitch_acc': s('pitch_right') / attacks,
          f'{prefix}note_precision': precision, f'{prefix}note_recall': recall,
          f'{prefix}note_f1': f1, f'{prefix}attack_kept': s('attack_kept') / attacks,
          f'{prefix}silence_kept': s('silence_kept') / silences, f'{prefix}rhythm_kept': kept}


def repeat_previous(tokens: jax.Array, context: int, gap_len: jax.Array) -> jax.Array:
  """The repeat baseline ``[B, G]``: the ``gap_len`` steps before each gap played again."""
  g = tokens.shape[1] - context
  idx = context - gap_len[:, None] + jnp.arange(g)[None, :]
  rep = jnp.take_along_axis(tokens, jnp.clip(idx, 0, tokens.shape[1] - 1), axis=1)
  return jnp.where(jnp.arange(g)[None, :] < gap_len[:, None], rep, SILENCE)


class FillTask(base.Task):
  """Fill a melody's gap, its rhythm given (see the module docstring)."""

  def __init__(self, config):
    super().__init__(config)
    check_config(config)
    d, m = config.data, config.model
    self.roll_cfg = datasets.roll_config(config)
    self.keys = self.roll_cfg.keys
    self.vocab = ATTACK + self.keys
    step = float(d.roll.step)
    self.context = steps_of(d.context_beats, step, 'config.data.context_beats')
    self.gap_range = tuple(steps_of(b, step, 'config.data.gap_beats') for b in d.gap_beats)
    self.window = self.context + self.gap_range[1]
    self.arch = str(m.arch)
    self.temperature = float(config.sample.temperature)
    self.transpose_to_c = bool(d.transpose_to_c)
    self.train_set = melody_set(config, 'train', self.context)
    self.eval_sets = {s: melody_set(config, s, self.context, required=False)
                      for s in d.eval_splits}
    self.eval_sets = {s: v for s, v in self.eval_sets.items() if v is not None}
    self.model = FillModel(
        vocab=self.vocab, arch=self.arch, embed_dim=int(m.embed_dim),
        rhythm_dim=int(m.rhythm_dim), context_hidden=tuple(int(h) for h in m.context_hidden),
        context_dim=int(m.context_dim), structure_hidden=int(m.structure_hidden),
        structure_dim=int(m.structure_dim),
        decoder_hidden=tuple(int(h) for h in m.decoder_hidden))
    self.tx, self.schedule = make_optimizer(config.optim, int(config.train.num_steps))
    self._fill = jax.jit(self.fill, static_argnames=('temperature', 'constrained'))

  # -- data ---------------------------------------------------------------------------------
  def train_data(self, process_index, process_count, seed=None):
    d = self.config.data
    return WindowSampler(
        self.train_set, self.window, int(d.batch_size),
        seed=int(self.config.seed if seed is None else seed), shifted=False,
        piece_weighting=str(d.piece_weighting), short='pad', pad_value=SILENCE,
        process_index=process_index, process_count=process_count, prefetch=2)

  def eval_gap_rows(self, split: str) -> dict[str, np.ndarray]:
    d = self.config.data
    return eval_gaps(self.eval_sets[split], self.context, self.gap_range,
                     int(d.eval_gaps_per_piece), int(d.eval_batch_size))

  def eval_batches(self):
    size = int(self.config.data.eval_batch_size)
    out = {}
    for split in self.eval_sets:
      rows = self.eval_gap_rows(split)
      if not (rows['gap_len'] > 0).any():
        continue
      out[split] = [{k: v[i:i + size] for k, v in rows.items() if k in ('tokens', 'gap_len')}
                    for i in range(0, len(rows['gap_len']), size)]
    return out

  # -- model --------------------------------------------------------------------------------
  def init(self, rng):
    ctx = jnp.zeros((1, self.context), jnp.int32)
    gap = jnp.zeros((1, self.gap_range[1]), jnp.int32)
    params = self.model.init({'params': rng}, ctx, gap, gap)['params']
    return init_train_state(params, self.tx)

  def split(self, tokens, gap_len):
    """Rows ``[B, C + G_max]`` -> ``(context [B, C], gap [B, G_max], valid [B, G_max])``."""
    gap = tokens[:, self.context:]
    valid = jnp.arange(gap.shape[1])[None, :] < gap_len[:, None]
    return tokens[:, :self.context], gap, valid

  def gap_nll(self, params, tokens, gap_len):
    """Teacher-forced NLL of each gap step ``[B, G_max]`` and the gap mask."""
    context, gap, valid = self.split(tokens, gap_len)
    prev = tokens[:, self.context - 1:-1]
    logits = self.model.apply({'params': params}, context, fill_lib.rhythm_of(gap, valid), prev)
    return losses.token_nll(logits, gap), valid

  def fill(self, params, tokens, gap_len, rng, temperature=0.0, constrained=True):
    """The fill ``[B, G_max]`` of rows' gaps. It reads the context and the gap's rhythm only."""
    context, gap, valid = self.split(tokens, gap_len)
    return fill_lib.fill_tokens(self.model, params, context, fill_lib.rhythm_of(gap, valid), rng,
                                temperature, constrained)

  # -- steps --------------------------------------------------------------------------------
  def train_step(self, state, batch, rng):
    tokens = batch['inputs'].astype(jnp.int32)
    mask = batch['mask']
    lo, hi = self.gap_range
    gap_len = jax.random.randint(rng, (tokens.shape[0],), lo, hi + 1)
    gap_len = jnp.minimum(gap_len, mask[:, self.context:].sum(-1).astype(jnp.int32))

    def loss_fn(params):
      if self.arch == 'lm':
        logits, _ = self.model.apply({'params': params}, tokens[:, :-1], method=FillModel.lm)
        return losses.masked_mean(losses.token_nll(logits, tokens[:, 1:]), mask[:, 1:])
      nll, valid = self.gap_nll(params, tokens, gap_len)
      return losses.masked_mean(nll, valid)

    loss, grads = jax.value_and_grad(loss_fn)(state['params'])
    state, grad_norm = update_train_state(state, grads, self.tx)
    return state, {'loss': loss, 'grad_norm': grad_norm}

  def eval_step(self, state, batch):
    params = self.eval_params(state)
    tokens = batch['tokens'].astype(jnp.int32)
    gap_len = batch['gap_len'].astype(jnp.int32)
    nll, valid = self.gap_nll(params, tokens, gap_len)
    context, gap, _ = self.split(tokens, gap_len)
    rng = jax.random.key(0)
    fills = {'': self.fill(params, tokens, gap_len, rng, self.temperature, True),
             'free_': self.fill(params, tokens, gap_len, rng, self.temperature, False),
             'repeat_': repeat_previous(tokens, self.context, gap_len)}
    out = {'nll_sum': jnp.sum(nll * valid), 'gap_steps': jnp.sum(valid).astype(jnp.float32),
           'gaps': jnp.sum(gap_len > 0).astype(jnp.float32)}
    for prefix, pred in fills.items():
      out.update({prefix + k: v for k, v in gap_counts(context, pred, gap, valid).items()})
    return out

  def eval_summary(self, sums):
    out = {'nll': sums['nll_sum'] / max(sums['gap_steps'], 1.0), 'gaps': sums['gaps'],
           'attacks': sums['attacks']}
    for prefix in PREFIXES:
      out.update(summarize(sums, prefix))
    return out

  def eval_figures(self, state):
    """``fills``: the first held-out gaps, each filled (rhythm kept) above its original."""
    from dsjax import viz
    split = next(iter(self.eval_sets), None)
    if split is None:
      return {}
    rows = self.eval_gap_rows(split)
    keep = np.flatnonzero(rows['gap_len'] > 0)[:FIGURE_GAPS]
    if not len(keep):
      return {}
    tokens, gap_len = rows['tokens'][keep], rows['gap_len'][keep]
    filled = np.asarray(self._fill(self.eval_params(state), jnp.asarray(tokens),
                                   jnp.asarray(gap_len), jax.random.key(0)))
    rolls, titles = [], []
    for i, row in enumerate(tokens):
      end = self.context + int(gap_len[i])
      mine = np.concatenate([row[:self.context], filled[i, :gap_len[i]]])
      name = self.eval_sets[split].names[rows['piece_ids'][keep[i]]]
      rolls += [token_roll(mine, self.keys), token_roll(row[:end], self.keys)]
      titles += [f'{name} filled from step {self.context}', f'{name} original']
    return {'fills': viz.pianoroll_figure(rolls, sample_titles=titles,
                                          **viz.figure_options(self.roll_cfg))}

  def learning_rates(self, step):
    return {'lr': float(self.schedule(step))}

  def hparams(self):
    return {'context_steps': self.context, 'gap_min_steps': self.gap_range[0],
            'gap_max_steps': self.gap_range[1]}

  # -- filling a user's span ----------------------------------------------------------------
  def fill_span(self, state, piece: Piece, start: float, end: float,
                rhythm_piece: Piece | None = None, rng=None, temperature: float | None = None
                ) -> dict:
    """Fills beats ``[start, end)`` of ``piece``'s melody (its top line on the run's grid),
    keeping the rhythm of that span of ``piece`` or of ``rhythm_piece``. Returns ``tokens``
    (the melody), ``filled`` (the melody with the span filled), ``rhythm_tokens`` (the melody
    the rhythm came from), ``start`` / ``end`` (the span in steps). A ValueError names what is
    wrong (an empty piece, ``start >= end``, a span outside the piece)."""
    step = float(self.roll_cfg.step)
    if not (np.isfinite(start) and np.isfinite(end)) or start < 0:
      raise ValueError(f'--start={start}, --end={end}: beats must be finite and >= 0')
    s, e = int(round(start / step)), int(round(end / step))
    if s >= e:
      raise ValueError(f'--start={start} --end={end}: the span is empty (start must come before '
                       f'end, at least one grid step of {step} beats apart)')
    tokens = self._melody(piece, 'the piece')
    if e > len(tokens):
      raise ValueError(f'--end={end}: the span ends after the piece\'s melody '
                       f'({len(tokens) * step:g} beats)')
    source = tokens if rhythm_piece is None else self._melody(rhythm_piece, 'the rhythm piece')
    if e > len(source):
      raise ValueError(f'--end={end}: the span ends after the rhythm piece\'s melody '
                       f'({len(source) * step:g} beats)')
    context = np.concatenate([np.zeros(self.context, np.int32), tokens[:s]])[-self.context:]
    rhythm_part = source[s:e].copy()
    if rhythm_part[0] == SUSTAIN and tokens[s - 1:s].tolist() in ([], [SILENCE]):
      rhythm_part[0] = ATTACK   # a held note from before the span where nothing sounds: a start
    row = np.concatenate([context, rhythm_part])[None].astype(np.int32)
    temp = self.temperature if temperature is None else float(temperature)
    filled_gap = np.asarray(self._fill(
        self.eval_params(state), jnp.asarray(row), jnp.asarray([e - s], jnp.int32),
        jax.random.key(0) if rng is None else rng, temperature=temp))[0, :e - s]
    filled = tokens.copy()
    filled[s:e] = filled_gap
    if e < len(tokens) and tokens[e] == SUSTAIN:
      # a note held across the span's end starts again at the end (its start was filled over)
      k = int(fill_lib.sounding_keys(jnp.asarray(tokens))[e])
      filled[e] = ATTACK + k if k >= 0 else SILENCE
    return {'tokens': tokens, 'filled': filled, 'rhythm_tokens': source, 'rhythm': rhythm_part,
            'start': s, 'end': e}

  def _melody(self, piece: Piece, what: str) -> np.ndarray:
    if self.transpose_to_c:
      raise ValueError('this run was trained on pieces moved to C (data.transpose_to_c); '
                       'launch.fill takes runs trained in the pieces\' own keys')
    tokens = melody_of_piece(piece, self.roll_cfg)
    if not (tokens >= ATTACK).any():
      raise ValueError(f'{what} ({piece.name}): no notes inside the run\'s {self.keys} keys')
    return tokens
