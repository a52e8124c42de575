"""The 10/16 table: vmapped seeds train exactly like single runs; --quick writes the tables."""

from __future__ import annotations

import json
import math
import os

import jax
import numpy as np

from dsjax.tables import hist_rnn


def test_vmapped_seeds_match_a_single_seed_run(tmp_path):
  from dsjax.train.loop import purpose_keys
  s = hist_rnn.settings(quick=True, steps=2)
  task, params, _, _ = hist_rnn._train_model('hist', s, [0, 1], lambda m: None, 0.0,
                                             str(tmp_path / 'hist'))
  keys = purpose_keys(1)
  state = jax.jit(task.init)(keys['init'])
  data = task.train_data(0, 1, seed=1)
  step = jax.jit(task.train_step)
  for i in range(2):
    state, _ = step(state, next(data), jax.random.fold_in(keys['train'], i))
  data.close()
  jax.tree.map(lambda a, b: np.testing.assert_allclose(np.asarray(a)[1], np.asarray(b),
                                                       rtol=1e-4, atol=1e-6),
               params, state['params'])


def test_quick_table_writes_markdown_and_raw(tmp_path):
  out = str(tmp_path / 'table')
  md = hist_rnn.run(out, seeds=2, quick=True, steps=2)
  assert open(os.path.join(out, 'table.md')).read() == md
  raw = json.load(open(os.path.join(out, 'raw.json')))
  for table in ('table1', 'table2'):
    for row in hist_rnn.ROWS:
      r = raw['results'][table][row]
      assert len(r['ce']) == len(r['js']) == 2
      assert all(0 <= v <= math.log(2) for v in r['js'])
      assert all(np.isfinite(r['ce']))
    assert raw['results'][table]['Random']['ce'] == [math.log(363)] * 2
  for row in hist_rnn.ROWS:
    assert md.count(f'| {row} |') == 2
  assert '| Random | 5.894 ± 0.000 |' in md
  assert set(raw['configs']) == {'Baseline', 'Hist-RNN', 'Patch-Hist RNN'}
  assert raw['configs']['Hist-RNN']['model']['condition'] == 'hist'
  import pretty_midi
  for row in ('Baseline', 'Hist_RNN', 'Patch_Hist_RNN'):
    folder = os.path.join(out, 'samples', row)
    assert os.path.exists(os.path.join(folder, 'pianoroll.png'))
    mids = sorted(f for f in os.listdir(folder) if f.endswith('.mid'))
    assert len(mids) == min(4, raw['info']['eval_pieces'])
    pretty_midi.PrettyMIDI(os.path.join(folder, mids[0]))  # reads back
