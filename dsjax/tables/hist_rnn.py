"""The log's 10/16 tables: Random / Baseline / Hist-RNN / Patch-Hist RNN, cross-entropy and JS.

``python -m launch.ablate --table=hist_rnn [--seeds=3] [--quick] [--steps=N]``

Three event LSTMs (``configs/hist_rnn.py`` with ``condition`` 'none', 'hist', 'patch_hist'; the
histogram as is, ``tau = 0``) are trained on the default corpus (Bach chorales, the events of
``configs/baseline_lstm.py``), each for every seed at once through the generic loop's
``train.seeds`` (the task's step vmapped over a state stacked by seed, one jitted program; each
seed's run is a workdir, ``OUT/runs/ROW/seed_S``); evaluation and sampling are vmapped over the
seeds the same way.

Evaluation pieces: the valid and test splits together.

* Table 1 (from scratch). Cross-entropy: nats per event, teacher forced over every eval piece
  (in chunks of the training window, so a patch is a window as in training). JS: for each eval
  piece, generate from its first event conditioned on its whole-piece histogram (both conditioned
  models); JS divergence between the pitch-class histogram of the generated events and that piece
  histogram.
* Table 2 (with a primer). The eval pieces long enough for a ``primer``-event opening and a
  ``continuation``-event continuation. Cross-entropy: nats per event of the true continuation given
  the primer. JS: generate ``continuation`` events after the primer, conditioned on the piece
  histogram (Hist-RNN) or on the histogram of the true continuation (Patch-Hist RNN, the original's
  oracle ``h_answer``); JS against the histogram of the true continuation.
* Random: ids uniform over the vocabulary (cross-entropy ln V), same lengths.

Histograms count note-ons. JS is the true Jensen-Shannon divergence in nats
(``dsjax.eval.music_stats.js_divergence``, at most ln 2); the log's "JS" was the symmetric KL of
histograms that also counted note-offs, so only the orderings compare. Sampling at temperature 1.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from configs import load_config
from dsjax.tables import mean_std

ROWS = ('Random', 'Baseline', 'Hist-RNN', 'Patch-Hist RNN')
CONDITIONS = {'Baseline': 'none', 'Hist-RNN': 'hist', 'Patch-Hist RNN': 'patch_hist'}
# The log's figures (10/16): (cross-entropy, "JS" = symmetric KL); None where it gave none.
LOG_TABLE1 = {'Random': (5.89, 0.162), 'Baseline': (1.90, 0.414), 'Hist-RNN': (2.91, 0.251),
              'Patch-Hist RNN': (1.75, 0.287)}
LOG_TABLE2 = {'Random': (5.89, 0.251), 'Baseline': (1.90, 0.301), 'Hist-RNN': (None, None),
              'Patch-Hist RNN': (1.75, 0.161)}


@dataclasses.dataclass(frozen=True)
class Settings:
  """What the table trains and measures."""
  steps: int = 1000
  window: int = 128
  batch_size: int = 16
  embed_dim: int = 64
  hidden: tuple[int, ...] = (128,)
  dropout_rate: float = 0.0
  learning_rate: float = 3e-3
  generate: int = 512          # table 1: events generated from scratch
  primer: int = 500            # table 2: primer events
  continuation: int = 128      # table 2: generated / predicted events after the primer
  max_pieces: int = 0
  variant: str = ''


def settings(quick: bool = False, steps: int | None = None) -> Settings:
  s = Settings()
  if quick:
    s = Settings(steps=6, window=32, batch_size=4, embed_dim=8, hidden=(16,),
                 learning_rate=1e-2, generate=24, primer=16, continuation=16, max_pieces=12,
                 variant='tiny')
  if steps is not None:
    s = dataclasses.replace(s, steps=int(steps))
  return s


def _config(condition: str, s: Settings, seed: int = 0, tau: float = 0.0):
  c = load_config(f'hist_rnn:{s.variant}')
  c.seed = seed
  c.model.condition = condition
  c.model.condition_tau = float(tau)
  c.model.embed_dim = s.embed_dim
  c.model.hidden = tuple(s.hidden)
  c.model.dropout_rate = s.dropout_rate
  c.data.window = s.window
  c.data.batch_size = s.batch_size
  c.data.max_pieces = s.max_pieces
  c.data.eval_splits = ('valid', 'test')
  c.data.eval_max_len = s.window
  c.data.eval_batch_size = 32
  c.optim.learning_rate = s.learning_rate
  c.optim.schedule = 'cosine'
  c.optim.warmup_steps = min(100, s.steps // 10)
  c.train.num_steps = s.steps
  return c


def _js_rows(generated: np.ndarray, reference: np.ndarray, vocab) -> np.ndarray:
  """JS divergence per row: ``generated [..., N, T]`` ids vs ``reference [N, 12]`` -> ``[..., N]``."""
  from dsjax.data.keys import event_pitch_class_histogram
  from dsjax.eval.music_stats import js_divergence
  hist = event_pitch_class_histogram(generated, vocab, empty='uniform')
  ref = np.broadcast_to(reference, hist.shape)
  flat = [js_divergence(p, q) for p, q in zip(hist.reshape(-1, 12), ref.reshape(-1, 12))]
  return np.array(flat).reshape(hist.shape[:-1])


def _stack(batches):
  return {k: np.stack([b[k] for b in batches]) for k in batches[0]}


def _eval_pieces(task):
  """The eval pieces (valid then test): list of id arrays and their whole-piece histograms."""
  pieces, hists = [], []
  for split in task.config.data.eval_splits:
    seqs = task.eval_sets[split]
    pieces += [np.asarray(seqs[i]) for i in range(len(seqs))]
    hists.append(task.piece_histograms(split))
  return pieces, np.concatenate(hists)


def _train_model(condition: str, s: Settings, seeds: list[int], log, tau: float,
                 workdir: str):
  """Trains ``condition``'s model for every seed in one vmapped program through the generic loop
  (``train.seeds``; each seed a workdir ``workdir/seed_S``, so a rerun into the same folder
  reuses finished runs); returns (task, params stacked over seeds, per-seed train losses at each
  log, seconds)."""
  from dsjax.train.loop import Trainer
  config = _config(condition, s, seed=seeds[0], tau=tau)
  config.train.seeds = len(seeds)
  config.train.eval_every = 0
  config.train.log_every = max(1, s.steps // 10)
  config.train.checkpoint_every = s.steps
  config.train.quiet = True
  config.sample.num = 0
  trainer = Trainer(config, workdir)
  t0 = time.time()
  trainer.train()
  secs = time.time() - t0
  per_seed = []
  for lane in trainer.lanes:
    with open(os.path.join(lane.workdir, 'metrics.jsonl')) as f:
      records = [json.loads(line) for line in f]
    per_seed.append({r['step']: r['loss'] for r in records if r.get('split') == 'train'})
  losses = [(step, [seed_losses[step] for seed_losses in per_seed])
            for step in sorted(per_seed[0])]
  for step, values in losses:
    log(f'  {condition}: step {step}/{s.steps}, train loss per seed '
        f'{np.round(values, 3).tolist()}')
  return trainer.task, trainer.run.state['params'], losses, secs


def _eval_ce(task, params, batches) -> np.ndarray:
  """Nats per event ``[seeds]`` over ``batches`` (vmapped over the seeds)."""
  veval = jax.jit(jax.vmap(lambda p, b: task.eval_step({'params': p}, b), in_axes=(0, None)))
  nll, count = 0.0, 0.0
  for b in batches:
    out = jax.device_get(veval(params, b))
    nll = nll + np.asarray(out['nll_sum'], np.float64)
    count = count + np.asarray(out['count'], np.float64)
  return nll / np.maximum(count, 1.0)


def _generate(task, params, primer, condition, length, seeds):
  """``[seeds, N, K + length]`` ids, every seed's model sampled at once (temperature 1)."""
  from dsjax.tasks.event_lm import sample_events
  sampler = task.sampler()
  cond = None if task.condition == 'none' else sampler.sample_condition(condition, len(primer))
  keys = jnp.stack([jax.random.fold_in(jax.random.key(seed), 7) for seed in seeds])
  primer = jnp.asarray(primer, jnp.int32)
  fn = jax.jit(jax.vmap(lambda p, k: sample_events(
      task.model, p, primer, k, jnp.float32(1.0), cond, length=length, top_k=0, top_p=1.0)))
  return np.asarray(fn(params, keys))


def _primer_batch(windows: np.ndarray, primer: int, hists: np.ndarray) -> dict:
  """Teacher-forced batch over ``windows [N, P + G]`` predicting only the continuation."""
  inputs, targets = windows[:, :-1], windows[:, 1:]
  mask = np.zeros(targets.shape, np.float32)
  mask[:, primer - 1:] = 1.0       # targets[t] is item t + 1: items P .. P + G - 1
  return dict(inputs=inputs.astype(np.int32), targets=targets.astype(np.int32), mask=mask,
              condition=hists.astype(np.float32))


def _fmt(values, digits=3) -> str:
  return mean_std(values, digits)


def _markdown(results: dict, s: Settings, n_seeds: int, info: dict) -> str:
  def log_fig(x):
    return '—' if x is None else f'{x:g}'

  lines = [f'# Hist-RNN tables (log 10/16), {n_seeds} seed(s), mean ± std over seeds', '']
  lines += [f"Bach chorales events (vocabulary {info['vocab']}); LSTM {list(s.hidden)}, embedding "
            f'{s.embed_dim}, window {s.window}, batch {s.batch_size}, {s.steps} steps, Adam '
            f'{s.learning_rate:g} cosine; eval pieces: valid + test ({info["eval_pieces"]}). '
            f'JS: true Jensen-Shannon divergence in nats of note-on pitch-class histograms; the '
            f"log's \"JS\" was a symmetric KL (only orderings compare). Conditions: "
            + (f"softmax(h / {info['tau']:g})" if info['tau'] > 0 else 'the histogram as is')
            + '.', '']
  lines += [f"Table 1: from scratch ({s.generate} events generated per eval piece from its "
            f'first event); JS against the piece histogram used as the condition.', '',
            '| Method | Cross-entropy | JS (piece histogram) | log: CE | log: JS |',
            '|---|---|---|---|---|']
  for row in ROWS:
    r = results['table1'][row]
    ce, js = LOG_TABLE1[row]
    lines.append(f"| {row} | {_fmt(r['ce'])} | {_fmt(r['js'])} | {log_fig(ce)} | {log_fig(js)} |")
  lines += ['', f"Table 2: with a {info['primer']}-event primer, {s.continuation} events after "
            f"it ({info['primer_pieces']} eval pieces long enough); cross-entropy of the true "
            f'continuation given the primer; JS against the histogram of the true continuation '
            f'(Patch-Hist RNN is conditioned on it, Hist-RNN on the piece histogram).', '',
            '| Method | Cross-entropy | JS (patch histogram) | log: CE | log: JS |',
            '|---|---|---|---|---|']
  for row in ROWS:
    r = results['table2'][row]
    ce, js = LOG_TABLE2[row]
    lines.append(f"| {row} | {_fmt(r['ce'])} | {_fmt(r['js'])} | {log_fig(ce)} | {log_fig(js)} |")
  lines += ['', f"Training time: {', '.join(f'{k} {v:.0f} s' for k, v in info['train_s'].items())}"
            f" (all seeds of a model in one vmapped program); total {info['total_s']:.0f} s."]
  return '\n'.join(lines) + '\n'


def _write_samples(folder: str, task, generated: np.ndarray, real) -> None:
  """Seed 0's table-1 generations as MIDI and one piano-roll PNG (samples left, real pieces
  right), so that every row of the table can be listened to and looked at."""
  from dsjax import viz
  from dsjax.data import midi_io
  os.makedirs(folder, exist_ok=True)
  sampler = task.sampler()
  for i, piece in enumerate(sampler.to_pieces(generated)):
    midi_io.write_midi(piece, os.path.join(folder, f'sample_{i}.mid'))
  real = [np.asarray(p[:generated.shape[1]]) for p in real]
  viz.save_pianoroll_figure(os.path.join(folder, 'pianoroll.png'), sampler.to_rolls(generated),
                            sampler.to_rolls(real), **sampler.figure_options())


def run(out_dir: str, *, seeds: int = 3, quick: bool = False, steps: int | None = None,
        tau: float = 0.0) -> str:
  """Writes ``table.md``, ``raw.json`` and ``samples/ROW/`` (MIDI and a piano-roll PNG of seed 0's
  generations per trained row); ``tau > 0`` sharpens both conditions as softmax(h / tau)
  (the log's ** figures used 1e-2)."""
  from dsjax.data.keys import event_pitch_class_histogram
  t_start = time.time()
  s = settings(quick, steps)
  seed_list = list(range(int(seeds)))
  if not seed_list:
    raise ValueError(f'seeds={seeds}: need at least one')
  os.makedirs(out_dir, exist_ok=True)
  log_path = os.path.join(out_dir, 'log.txt')

  def log(msg):
    print(msg, flush=True)
    with open(log_path, 'a') as f:
      f.write(msg + '\n')

  log(f'hist_rnn table: {s}, seeds {seed_list}')
  results = {'table1': {r: {} for r in ROWS}, 'table2': {r: {} for r in ROWS}}
  info = {'train_s': {}, 'train_loss': {}}
  context = None
  for row, condition in CONDITIONS.items():
    task, params, losses, secs = _train_model(
        condition, s, seed_list, log, tau,
        os.path.join(out_dir, 'runs', row.replace(' ', '_').replace('-', '_')))
    info['train_s'][row], info['train_loss'][row] = secs, losses
    if context is None:
      pieces, piece_hists = _eval_pieces(task)
      vocab = task.vocab
      first = np.array([[p[0]] for p in pieces], np.int32)
      longest = max(len(p) for p in pieces)
      primer = min(s.primer, longest - s.continuation)
      if primer < 1:
        raise ValueError(f'no eval piece has {s.continuation + 1} events for table 2')
      long_ids = [i for i, p in enumerate(pieces) if len(p) >= primer + s.continuation]
      windows = np.stack([pieces[i][:primer + s.continuation] for i in long_ids]).astype(np.int32)
      cont = windows[:, primer:]
      cont_hists = event_pitch_class_histogram(cont, vocab).astype(np.float32)
      long_piece_hists = piece_hists[long_ids]
      info.update(vocab=vocab.size, eval_pieces=len(pieces), primer=primer,
                  primer_pieces=len(long_ids))
      context = True
      # Random rows: ids uniform over the vocabulary.
      g = np.random.default_rng(0)
      rand1 = np.stack([g.integers(0, vocab.size, (len(pieces), s.generate)) for _ in seed_list])
      rand2 = np.stack([g.integers(0, vocab.size, cont.shape) for _ in seed_list])
      ln_v = [math.log(vocab.size)] * len(seed_list)
      results['table1']['Random'] = {'ce': ln_v, 'js': _js_rows(rand1, piece_hists,
                                                                 vocab).mean(-1).tolist()}
      results['table2']['Random'] = {'ce': ln_v, 'js': _js_rows(rand2, cont_hists,
                                                                 vocab).mean(-1).tolist()}
    # Table 1.
    eval_batches = [b for split in task.eval_batches().values() for b in split]
    ce1 = _eval_ce(task, params, eval_batches)
    gen1 = _generate(task, params, first, piece_hists, s.generate, seed_list)[:, :, 1:]
    js1 = _js_rows(gen1, piece_hists, vocab).mean(-1)
    # Table 2.
    ce2 = _eval_ce(task, params, [_primer_batch(windows, primer, long_piece_hists)])
    cond2 = cont_hists if condition == 'patch_hist' else long_piece_hists
    gen2 = _generate(task, params, windows[:, :primer], cond2, s.continuation,
                     seed_list)[:, :, primer:]
    js2 = _js_rows(gen2, cont_hists, vocab).mean(-1)
    _write_samples(os.path.join(out_dir, 'samples', row.replace(' ', '_').replace('-', '_')),
                   task, gen1[0, :4], pieces[:4])
    results['table1'][row] = {'ce': ce1.tolist(), 'js': js1.tolist()}
    results['table2'][row] = {'ce': ce2.tolist(), 'js': js2.tolist()}
    log(f'  {row}: table 1 CE {np.round(ce1, 3).tolist()} JS {np.round(js1, 4).tolist()}; '
        f'table 2 CE {np.round(ce2, 3).tolist()} JS {np.round(js2, 4).tolist()}')
    del params
  info['total_s'] = time.time() - t_start
  info['tau'] = float(tau)
  table = _markdown(results, s, len(seed_list), info)
  with open(os.path.join(out_dir, 'table.md'), 'w') as f:
    f.write(table)
  raw = {'results': results, 'info': info, 'settings': dataclasses.asdict(s), 'seeds': seed_list,
         'log_table1': LOG_TABLE1, 'log_table2': LOG_TABLE2,
         'configs': {row: _config(c, s, tau=tau).to_dict() for row, c in CONDITIONS.items()}}
  with open(os.path.join(out_dir, 'raw.json'), 'w') as f:
    json.dump(raw, f, indent=1, default=str)
  return table
