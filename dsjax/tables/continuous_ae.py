"""The alpha x beta table of the continuous autoencoder (log 10/29, follow-up 1).

  python -m launch.ablate --table=continuous_ae [--seeds=3] [--steps=N] [--quick]

Grid: the code's slope ``beta`` (``config.model.beta``: ``sigmoid(beta x)``) in {1, 10, 100} x the
continuity weight ``alpha`` (``config.loss.alpha``) in {0.01, 1, 100}, every other setting as
``configs/continuous_ae.py`` (the 10/29 model: ternary codes, hinge continuity loss), at
:data:`STEPS` training steps (``--steps``), or its ``tiny`` variant with ``--quick``. Each cell's
seeds train side by side in ONE vmapped program (``config.train.seeds``), in ``OUT/CELL/seed_S``;
a finished cell leaves ``OUT/CELL/table_record.json`` and is read back, not retrained (an
unfinished one resumes from its checkpoints).

Reported, mean ± std over seeds, on the held-out split (``valid``, pieces cut into consecutive
sub-sequences): ``L_rec`` and ``L_rec^q`` (nats per step), the distance of consecutive codes as the
Hamming distance of the quantised codes and the squared Euclidean ``d`` of the continuous ones,
``L_con`` (the hinge), the number of distinct quantised codes and the share of the most frequent
one. Under the table: the log's qualitative table, verbatim, and for each of its claims the
measured criterion and whether it holds.

The log's table (10/29, follow-up 1), quoted::

  |          | L_rec                     | L_rec^q                          | d(x_i, x_i+1)           |
  | beta >> 1| converges                 | converges                        | fails to converge       |
  |          |                           |                                  | because it takes a huge |
  |          |                           |                                  | gradient to flip a bit. |
  | beta <= 1| converges                 | converges slowly because the     | equals to 0             |
  |          |                           | original code space is not       |                         |
  |          |                           | sparse enough*                   |                         |
  |alpha >> 1| fails to converge because | fails to converge because all    | equals to 0             |
  |          | all the coding remain the | the coding remain the same       |                         |
  |          | same                      |                                  |                         |
  |alpha << 1| converges                 | converges                        | converges slowly        |
  |          |                           |                                  | because the restriction |
  |          |                           |                                  | is too relax            |

  *: It actually learns to generate the most frequent subsequence because the quantized code is
  the same.
"""

from __future__ import annotations

import json
import os
import time

import numpy as np

from configs import load_config
from dsjax.tables import mean_std

BETAS = (1.0, 10.0, 100.0)
ALPHAS = (0.01, 1.0, 100.0)
STEPS = 1500          # per cell: the 9 cells x 3 seeds fit ~25 min on 2 CPU cores
QUICK_STEPS = 4
# (eval metric, column header, digits)
COLUMNS = (('rec_nll', 'L_rec', 3), ('rec_q_nll', 'L_rec^q', 3),
           ('code_hamming', 'Hamming(q_i, q_i+1)', 2), ('code_dist', 'd(c_i, c_i+1)', 3),
           ('con', 'L_con', 3), ('distinct_codes', 'distinct codes', 1),
           ('top_code_share', 'top code share', 3))
RECORDED = tuple(c[0] for c in COLUMNS) + ('key_acc', 'frame_acc', 'key_acc_q', 'frame_acc_q',
                                           'subseqs')

LOG_TABLE = """\
|  | L_rec | L_rec^q | d(x̂_i, x̂_i+1) |
|---|---|---|---|
| β ≫ 1 | converges | converges | fails to converge because it takes a huge gradient to flip a bit. |
| β ≤ 1 | converges | converges slowly because the original code space is not sparse enough* | equals to 0 |
| α ≫ 1 | fails to converge because all the coding remain the same | fails to converge because all the coding remain the same | equals to 0 |
| α ≪ 1 | converges | converges | converges slowly because the restriction is too relax |

*: It actually learns to generate the most frequent subsequence because the quantized code is the same.
"""

# Operational criteria for the log's claims (means over seeds; "first" is the first of the
# run's evaluations, at a quarter of its steps):
#   converges (beta >> 1, beta <= 1, alpha << 1): the loss is within 10% of the reference cell's
#     (beta = 10 at the same alpha; alpha = 1 at the same beta for alpha << 1);
#   L_rec^q converges slowly (beta <= 1): the quantisation gap L_rec^q - L_rec exceeds beta = 10's;
#   d fails to converge (beta >> 1): d(c_i, c_i+1) at the last evaluation is >= 90% of the first;
#   d equals 0 / all codes the same: consecutive quantised codes differ in < 0.5 entries;
#   the most frequent sub-sequence: the most frequent quantised code is >= half the sub-sequences;
#   fails to converge because all codes remain the same (alpha >> 1): L_rec (L_rec^q) is >= 10%
#     above alpha = 0.01's (same beta) and the most frequent code is >= half the sub-sequences;
#   d converges slowly (alpha << 1): d(c_i, c_i+1) is larger than at alpha = 1 (same beta).


def cell_name(beta: float, alpha: float) -> str:
  return f'beta{beta:g}-alpha{alpha:g}'


def cell_config(beta: float, alpha: float, seeds: int, quick: bool, steps: int | None):
  c = load_config('continuous_ae:tiny' if quick else 'continuous_ae')
  c.model.beta = float(beta)
  c.loss.alpha = float(alpha)
  c.seed = 0
  c.train.seeds = int(seeds)
  c.train.num_steps = int(steps if steps is not None else (QUICK_STEPS if quick else STEPS))
  c.train.eval_every = max(1, c.train.num_steps // 4)
  c.train.checkpoint_every = max(1, c.train.num_steps // 2)
  c.train.quiet = True
  c.sample.num = 0
  return c


def _evals(workdir: str) -> list[dict]:
  out = []
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    for line in f:
      r = json.loads(line)
      if r.get('split') == 'eval':
        out.append(r)
  if not out:
    raise RuntimeError(f'{workdir}: no evaluation record in metrics.jsonl')
  return out


def train_cell(out_dir: str, beta: float, alpha: float, seeds: int, quick: bool,
               steps: int | None) -> dict:
  """Trains (or reads back) one cell's seeds; returns its record (every seed's last evaluation
  and first-evaluation ``code_dist``, the settings, the wall time)."""
  from dsjax.train.loop import train_and_evaluate
  config = cell_config(beta, alpha, seeds, quick, steps)
  workdir = os.path.join(out_dir, cell_name(beta, alpha))
  path = os.path.join(workdir, 'table_record.json')
  if os.path.exists(path):
    with open(path) as f:
      record = json.load(f)
    now = json.loads(json.dumps(config.to_dict(), default=str))
    if record.get('config') != now:
      changed = sorted(k for k in set(now) | set(record.get('config') or {})
                       if now.get(k) != (record.get('config') or {}).get(k))
      raise ValueError(f'{workdir}: finished with other settings (config sections that differ: '
                       f'{", ".join(changed)}); give another --out for this table')
    return record
  t0 = time.time()
  train_and_evaluate(config, workdir)
  seconds = time.time() - t0
  record = {'beta': beta, 'alpha': alpha, 'seeds': int(seeds),
            'steps': int(config.train.num_steps), 'seconds': seconds,
            'metrics': {k: [] for k in RECORDED}, 'first_code_dist': [],
            'config': config.to_dict()}
  for s in range(int(seeds)):
    evals = _evals(os.path.join(workdir, f'seed_{s}'))
    for k in RECORDED:
      record['metrics'][k].append(float(evals[-1][f'valid/{k}']))
    record['first_code_dist'].append(float(evals[0]['valid/code_dist']))
  with open(path, 'w') as f:
    json.dump(record, f, indent=1, default=str)
  print(f'{cell_name(beta, alpha)}: L_rec {np.mean(record["metrics"]["rec_nll"]):.3f}, '
        f'L_rec^q {np.mean(record["metrics"]["rec_q_nll"]):.3f}, {seconds:.0f} s', flush=True)
  return record


def _m(records, beta, alpha, key):
  r = records.get((beta, alpha))
  if r is None:
    return float('nan')
  values = r['first_code_dist'] if key == 'first_code_dist' else r['metrics'][key]
  return float(np.mean(values))


def _verdict(oks: dict) -> str:
  """'holds' / 'does not hold' / 'holds at ..., not at ...' over the cells checked."""
  yes = [k for k, v in oks.items() if v]
  no = [k for k, v in oks.items() if not v]
  if not no:
    return 'holds'
  if not yes:
    return 'does not hold'
  return f'holds at {", ".join(yes)}; not at {", ".join(no)}'


def claims(records: dict) -> list[str]:
  """One line per claim of the log's table: the claim, the measured figures, the verdict."""
  g = lambda b, a, k: _m(records, b, a, k)  # noqa: E731
  lines = []

  def add(claim, oks, figures):
    lines.append(f'- **{claim}** — {_verdict(oks)}. {figures}')

  hi_b, lo_b, ref_b = max(BETAS), min(BETAS), 10.0
  hi_a, lo_a, ref_a = max(ALPHAS), min(ALPHAS), 1.0
  a_lab = lambda a: f'α={a:g}'  # noqa: E731
  b_lab = lambda b: f'β={b:g}'  # noqa: E731
  for key, name in (('rec_nll', 'L_rec'), ('rec_q_nll', 'L_rec^q')):
    add(f'β ≫ 1 ({b_lab(hi_b)}): {name} converges',
        {a_lab(a): g(hi_b, a, key) <= 1.1 * g(ref_b, a, key) for a in ALPHAS},
        f'{name} at β={hi_b:g} vs β={ref_b:g}: ' + ', '.join(
            f'{a_lab(a)} {g(hi_b, a, key):.3f} vs {g(ref_b, a, key):.3f}' for a in ALPHAS)
        + ' (converges: within 10%).')
  add(f'β ≫ 1 ({b_lab(hi_b)}): d fails to converge',
      {a_lab(a): g(hi_b, a, 'code_dist') >= 0.9 * g(hi_b, a, 'first_code_dist') for a in ALPHAS},
      'd(c_i, c_i+1) first → last evaluation: ' + ', '.join(
          f'{a_lab(a)} {g(hi_b, a, "first_code_dist"):.3f} → {g(hi_b, a, "code_dist"):.3f}'
          for a in ALPHAS) + ' (fails: the last is >= 90% of the first).')
  add(f'β ≤ 1 ({b_lab(lo_b)}): L_rec converges',
      {a_lab(a): g(lo_b, a, 'rec_nll') <= 1.1 * g(ref_b, a, 'rec_nll') for a in ALPHAS},
      f'L_rec at β={lo_b:g} vs β={ref_b:g}: ' + ', '.join(
          f'{a_lab(a)} {g(lo_b, a, "rec_nll"):.3f} vs {g(ref_b, a, "rec_nll"):.3f}'
          for a in ALPHAS) + ' (within 10%).')
  gap = lambda b, a: g(b, a, 'rec_q_nll') - g(b, a, 'rec_nll')  # noqa: E731
  add(f'β ≤ 1 ({b_lab(lo_b)}): L_rec^q converges slowly (the code space is not sparse)',
      {a_lab(a): gap(lo_b, a) > gap(ref_b, a) for a in ALPHAS},
      f'L_rec^q - L_rec at β={lo_b:g} vs β={ref_b:g}: ' + ', '.join(
          f'{a_lab(a)} {gap(lo_b, a):.3f} vs {gap(ref_b, a):.3f}' for a in ALPHAS) + '.')
  add(f'β ≤ 1 ({b_lab(lo_b)}): d equals 0',
      {a_lab(a): g(lo_b, a, 'code_hamming') < 0.5 for a in ALPHAS},
      'Hamming(q_i, q_i+1): ' + ', '.join(
          f'{a_lab(a)} {g(lo_b, a, "code_hamming"):.2f}' for a in ALPHAS)
      + ' (0: < 0.5 entries).')
  add(f'β ≤ 1 ({b_lab(lo_b)}): * the most frequent sub-sequence (one quantised code)',
      {a_lab(a): g(lo_b, a, 'top_code_share') >= 0.5 for a in ALPHAS},
      'share of the most frequent code (distinct codes): ' + ', '.join(
          f'{a_lab(a)} {g(lo_b, a, "top_code_share"):.3f} ({g(lo_b, a, "distinct_codes"):.0f})'
          for a in ALPHAS) + ' (holds: >= 0.5).')
  for key, name in (('rec_nll', 'L_rec'), ('rec_q_nll', 'L_rec^q')):
    add(f'α ≫ 1 ({a_lab(hi_a)}): {name} fails to converge because all the codes remain the same',
        {b_lab(b): (g(b, hi_a, key) >= 1.1 * g(b, lo_a, key)
                    and g(b, hi_a, 'top_code_share') >= 0.5) for b in BETAS},
        f'{name} at α={hi_a:g} vs α={lo_a:g}: ' + ', '.join(
            f'{b_lab(b)} {g(b, hi_a, key):.3f} vs {g(b, lo_a, key):.3f}' for b in BETAS)
        + f' (fails: >= 10% higher); share of the most frequent code (distinct codes) at '
        f'α={hi_a:g}: ' + ', '.join(
            f'{b_lab(b)} {g(b, hi_a, "top_code_share"):.3f} ({g(b, hi_a, "distinct_codes"):.0f})'
            for b in BETAS) + ' (the same: >= 0.5).')
  add(f'α ≫ 1 ({a_lab(hi_a)}): d equals 0',
      {b_lab(b): g(b, hi_a, 'code_hamming') < 0.5 for b in BETAS},
      'Hamming(q_i, q_i+1): ' + ', '.join(
          f'{b_lab(b)} {g(b, hi_a, "code_hamming"):.2f}' for b in BETAS) + '.')
  for key, name in (('rec_nll', 'L_rec'), ('rec_q_nll', 'L_rec^q')):
    add(f'α ≪ 1 ({a_lab(lo_a)}): {name} converges',
        {b_lab(b): g(b, lo_a, key) <= 1.1 * g(b, ref_a, key) for b in BETAS},
        f'{name} at α={lo_a:g} vs α={ref_a:g}: ' + ', '.join(
            f'{b_lab(b)} {g(b, lo_a, key):.3f} vs {g(b, ref_a, key):.3f}' for b in BETAS)
        + ' (within 10%).')
  add(f'α ≪ 1 ({a_lab(lo_a)}): d converges slowly (the restriction is too relaxed)',
      {b_lab(b): g(b, lo_a, 'code_dist') > g(b, ref_a, 'code_dist') for b in BETAS},
      f'd(c_i, c_i+1) at α={lo_a:g} vs α={ref_a:g}: ' + ', '.join(
          f'{b_lab(b)} {g(b, lo_a, "code_dist"):.3f} vs {g(b, ref_a, "code_dist"):.3f}'
          for b in BETAS) + '.')
  return lines


def format_table(records: dict, seeds: int, quick: bool) -> str:
  any_record = next(iter(records.values()))
  c = any_record['config']
  m = c['model']
  lines = [
      f'# Continuous AE: α × β (log 10/29), {seeds} seed(s), {any_record["steps"]} steps per '
      f'cell{" (quick: tiny shapes)" if quick else ""}, mean ± std over seeds',
      '',
      f'{c["data"]["source"]} aligned chord steps (eighths, keys moved to C), sub-sequences of '
      f'{m["subseq_len"]} steps, {c["data"]["window"] // m["subseq_len"]} per training row, batch '
      f'{c["data"]["batch_size"]}; {m["cell"].upper()} encoder {tuple(m["encoder_hidden"])} / '
      f'decoder {tuple(m["decoder_hidden"])}, code {m["code_dim"]} × sigmoid(βx) quantised to '
      f'{{0, 0.5, 1}}, L = L_rec + L_rec^q + α L_con ({c["loss"]["continuity"]}, margin '
      f'{c["loss"]["margin"]:g}), Adam {c["optim"]["learning_rate"]:g}, clip '
      f'{c["optim"]["grad_clip_norm"]:g}. Held-out split `valid`: L_rec, L_rec^q in nats per step '
      '(sum over the 88 keys); Hamming: entries that differ between consecutive quantised codes; '
      'd: squared Euclidean distance of consecutive continuous codes; L_con: the hinge.',
      '',
      '| β | α | ' + ' | '.join(h for _, h, _ in COLUMNS) + ' | train s |',
      '|---|---|' + '---|' * (len(COLUMNS) + 1),
  ]
  for beta in BETAS:
    for alpha in ALPHAS:
      r = records.get((beta, alpha))
      if r is None:
        lines.append(f'| {beta:g} | {alpha:g} | ' + ' | '.join('-' for _ in COLUMNS) + ' | |')
        continue
      cells = [mean_std(r['metrics'][k], d) for k, _, d in COLUMNS]
      lines.append(f'| {beta:g} | {alpha:g} | ' + ' | '.join(cells) + f' | {r["seconds"]:.0f} |')
  lines += ['', "The log's table (10/29, follow-up 1):", '', LOG_TABLE]
  if len(records) == len(BETAS) * len(ALPHAS):
    lines += ["Its claims, measured (means over seeds; criteria in the table's module):", '']
    lines += claims(records)
  return '\n'.join(lines) + '\n'


def run(out_dir: str, *, seeds: int = 3, quick: bool = False, steps: int | None = None) -> str:
  """Trains every (beta, alpha) cell (all seeds in one program), writes ``table.md`` and
  ``raw.json``, returns the table."""
  if int(seeds) < 1:
    raise ValueError(f'seeds={seeds}: need at least one')
  os.makedirs(out_dir, exist_ok=True)
  records = {}
  for beta in BETAS:
    for alpha in ALPHAS:
      records[beta, alpha] = train_cell(out_dir, beta, alpha, seeds, quick, steps)
      _write(out_dir, records, seeds, quick)
  return _write(out_dir, records, seeds, quick)


def _write(out_dir: str, records: dict, seeds: int, quick: bool) -> str:
  with open(os.path.join(out_dir, 'raw.json'), 'w') as f:
    json.dump({'seeds': seeds, 'quick': quick,
               'cells': [dict(r, name=cell_name(*k)) for k, r in records.items()]},
              f, indent=1, default=str)
  table = format_table(records, seeds, quick)
  with open(os.path.join(out_dir, 'table.md'), 'w') as f:
    f.write(table)
  return table
