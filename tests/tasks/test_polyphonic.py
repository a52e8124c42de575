"""The multi-hot LM task with each output head, its configs, and the polyphonic benchmark table."""

from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.train.test_train import load_config


@pytest.mark.parametrize('name,context', [('pianoroll_nade', 0), ('pianoroll_pitchrnn', 2)])
def test_autoregressive_sample_is_greedy_decode_of_full_forward(name, context):
  """Near-zero temperature: every generated key is on iff the teacher-forced conditional logit of
  the whole generated sequence (one parallel forward pass) is > 0: the jitted time x pitch scan
  samples the same model that training scores."""
  from dsjax.models.language_models import MultiHotLM
  from dsjax.tasks import get_task
  task = get_task(load_config(name, **{'model.pitch_context': context}))
  assert task.model.head == {'pianoroll_nade': 'nade', 'pianoroll_pitchrnn': 'pitch_rnn'}[name]
  state = task.init(jax.random.key(0))
  out = task.sampler().sample(state, jax.random.key(1), 2, 8, primer=3, temperature=1e-6)
  assert out.shape == (2, 11, 88) and set(np.unique(out)) <= {0, 1}
  seq = jnp.asarray(out, jnp.float32)
  logits, _ = task.model.apply({'params': task.eval_params(state)}, seq[:, :-1], seq[:, 1:],
                               method=MultiHotLM.key_logits)
  np.testing.assert_array_equal(out[:, 3:], (np.asarray(logits)[:, 2:] > 0).astype(np.uint8))
  with pytest.raises(ValueError, match='temperature'):
    task.sampler().sample(state, jax.random.key(1), 1, 2, temperature=0.0)


def test_eval_nll_is_exact_frame_nll_and_sigmoid_head_unchanged():
  """eval_step sums -log p(frame) over the masked-in predicted frames; for the sigmoid head it is
  the old sum of per-key binary cross-entropies."""
  from dsjax import losses
  from dsjax.tasks import get_task
  task = get_task(load_config('pianoroll_lstm'))
  state = task.init(jax.random.key(0))
  batch = next(iter(task.eval_batches()['test']))
  out = task.eval_step(state, {k: jnp.asarray(v) for k, v in batch.items()})
  logits, _ = task.model.apply({'params': task.eval_params(state)}, jnp.asarray(batch['inputs']))
  nll = np.asarray(losses.frame_nll(logits, jnp.asarray(batch['targets'])))
  np.testing.assert_allclose(float(out['nll_sum']), float((nll * batch['mask']).sum()), rtol=1e-5)
  assert float(out['frames']) == float(batch['mask'].sum())


@pytest.mark.parametrize('name', ['pianoroll_nade', 'pianoroll_pitchrnn'])
def test_configs_transpose_train_only(name):
  from dsjax.data.augment import RollTransposition
  from dsjax.tasks import get_task
  for variant in ('jsb', 'nottingham'):
    config = load_config(name, variant)
    assert config.data.transpose > 0 and config.model.head in ('nade', 'pitch_rnn')
  task = get_task(load_config(name))
  data = task.train_data(0, 1)
  assert isinstance(data.augment, RollTransposition)
  assert data.augment.max_shift == task.config.data.transpose
  data.close()
  # evaluation sees the test split as stored: the first row is the first test sequence, untouched
  batch = next(iter(task.eval_batches()['test']))
  first = task.eval_sets['test'][0]
  n = int(batch['mask'][0].sum())
  np.testing.assert_array_equal(batch['inputs'][0, :n], first[:n])
  np.testing.assert_array_equal(batch['targets'][0, :n], first[1:n + 1])


def test_format_table_mean_std_next_to_published():
  from dsjax.tables import polyphonic
  runs = [dict(head='nade', dataset='jsb', test_nll=v, seconds=s)
          for v, s in ((5.0, 100.0), (5.2, 300.0))]
  runs.append(dict(head='pitch_rnn', dataset='nottingham', test_nll=2.25, seconds=50.0))
  table = polyphonic.format_table(runs, seeds=2)
  assert '| LSTM + NADE head (RNN-NADE) | 5.10 ± 0.14 | - | 200 / - |' in table
  assert '| LSTM + GRU across pitch | - | 2.25 (1 seed) | - / 50 |' in table
  assert '| RNN-NADE | 5.56 | 2.31 |' in table
  assert '| LSTM (sigmoid outputs) | 8.45 | 3.29 |' in table


def test_table_quick_run_writes_table_and_raw(tmp_path):
  from dsjax.tables import get_table
  run = get_table('polyphonic')
  out = str(tmp_path / 'table')
  table = run(out, seeds=1, quick=True, steps=2, heads=('nade',), datasets=('jsb',))
  with open(os.path.join(out, 'raw.json')) as f:
    raw = json.load(f)
  (rec,) = raw['runs']
  assert rec['head'] == 'nade' and rec['dataset'] == 'jsb' and rec['steps'] == 2
  assert np.isfinite(rec['test_nll']) and rec['test_nll'] > 0
  assert f"| LSTM + NADE head (RNN-NADE) | {rec['test_nll']:.2f} |" in table
  assert open(os.path.join(out, 'table.md')).read() == table
  # a finished run is read back, not retrained
  again = run(out, seeds=1, quick=True, steps=2, heads=('nade',), datasets=('jsb',))
  assert again == table
  # a later call for another dataset keeps the first call's row, from its record
  with open(os.path.join(out, 'nade-jsb-seed0', 'table_record.json')) as f:
    assert json.load(f)['test_nll'] == rec['test_nll']
  more = run(out, seeds=1, quick=True, steps=2, heads=('nade',), datasets=('nottingham',))
  with open(os.path.join(out, 'raw.json')) as f:
    cells = [(r['head'], r['dataset']) for r in json.load(f)['runs']]
  assert sorted(cells) == [('nade', 'jsb'), ('nade', 'nottingham')]
  row = next(l for l in more.splitlines() if l.startswith('| LSTM + NADE head'))
  assert row.startswith(f"| LSTM + NADE head (RNN-NADE) | {rec['test_nll']:.2f} | ")
  assert '| - |' not in row
