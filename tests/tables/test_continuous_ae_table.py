"""The continuous AE's alpha x beta table: cells train in one vmapped program per cell, finished
cells are read back, and the log's claims are judged from the figures."""

from __future__ import annotations

import json
import os

from dsjax.tables import continuous_ae as table


def _fake_record(beta, alpha, rec, rec_q, hamming, dist, first_dist, distinct, share):
  metrics = {k: [0.5, 0.5] for k in table.RECORDED}
  metrics.update(rec_nll=[rec, rec], rec_q_nll=[rec_q, rec_q], code_hamming=[hamming, hamming],
                 code_dist=[dist, dist], distinct_codes=[distinct, distinct],
                 top_code_share=[share, share])
  return {'beta': beta, 'alpha': alpha, 'seeds': 2, 'steps': table.QUICK_STEPS, 'seconds': 1.0,
          'metrics': metrics, 'first_code_dist': [first_dist, first_dist],
          'config': table.cell_config(beta, alpha, 2, True, None).to_dict()}


def test_quick_table_trains_a_cell_reads_back_the_others_and_judges_the_claims(tmp_path):
  out = str(tmp_path / 'cae')
  # Every cell but one finished before (the log's picture, made up): read back, not retrained.
  made_up = {}
  for beta in table.BETAS:
    for alpha in table.ALPHAS:
      collapsed = beta == 1.0 or alpha == 100.0
      made_up[beta, alpha] = _fake_record(
          beta, alpha, rec=6.0 if alpha == 100.0 else 4.0, rec_q=6.0 if collapsed else 4.2,
          hamming=0.0 if collapsed else 3.0 + (alpha == 0.01),
          dist=2.0 if beta == 100.0 else 1.0 + (alpha == 0.01), first_dist=2.0,
          distinct=1.0 if collapsed else 300.0, share=1.0 if collapsed else 0.01)
  trained = (10.0, 1.0)
  for key, record in made_up.items():
    if key != trained:
      folder = os.path.join(out, table.cell_name(*key))
      os.makedirs(folder)
      with open(os.path.join(folder, 'table_record.json'), 'w') as f:
        json.dump(record, f)
  md = table.run(out, seeds=2, quick=True)
  assert open(os.path.join(out, 'table.md')).read() == md
  # the one cell trained: both seeds in one program (seed_0, seed_1 of one workdir)
  cell = os.path.join(out, table.cell_name(*trained))
  config = json.load(open(os.path.join(cell, 'config.json')))
  assert config['train']['seeds'] == 2 and config['model']['beta'] == 10.0
  assert config['loss']['alpha'] == 1.0
  for s in (0, 1):
    assert os.path.exists(os.path.join(cell, f'seed_{s}', 'metrics.jsonl'))
  raw = json.load(open(os.path.join(out, 'raw.json')))
  assert len(raw['cells']) == 9
  record = next(c for c in raw['cells'] if c['name'] == table.cell_name(*trained))
  last = [json.loads(l) for l in open(os.path.join(cell, 'seed_1', 'metrics.jsonl'))
          if '"eval"' in l][-1]
  assert record['metrics']['rec_nll'][1] == last['valid/rec_nll']
  row = next(l for l in md.splitlines() if l.startswith('| 10 | 1 |'))
  assert table.mean_std(record['metrics']['rec_nll'], 3) in row
  # a read-back cell's figures are in the table as written
  assert '| 1 | 100 | 6.000 ± 0.000 | 6.000 ± 0.000 | 0.00 ± 0.00 |' in md
  # the log's table is quoted, and each claim judged
  assert table.LOG_TABLE in md
  claims = [l for l in md.splitlines() if l.startswith('- **')]
  assert len(claims) == 13
  verdicts = {l.split('**')[1]: l.split('— ')[1].split('.')[0] for l in claims}
  assert verdicts['β ≤ 1 (β=1): d equals 0'] == 'holds'
  assert verdicts['β ≤ 1 (β=1): * the most frequent sub-sequence (one quantised code)'] == 'holds'
  assert verdicts['α ≫ 1 (α=100): d equals 0'] == 'holds'
  assert verdicts['β ≫ 1 (β=100): d fails to converge'] == 'holds'      # 2.0 -> 2.0
  assert verdicts['α ≪ 1 (α=0.01): d converges slowly (the restriction is too relaxed)'] == (
      'holds at β=1, β=10; not at β=100')                                # 2 vs 2 at beta 100
  # running again reads every cell back
  assert table.run(out, seeds=2, quick=True) == md
