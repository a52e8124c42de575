"""The baseline event LSTM on a frozen skip-gram input embedding (log 10/09, original §3.3).

``model.embedding_from`` is a skip-gram workdir (``configs/skipgram.py``, task 'skipgram') whose
``params['embed']['embedding'] [vocab, dim]`` is copied into the event LSTM at init; with
``model.freeze_embedding`` it stays fixed. Its ``dim`` must equal ``model.embed_dim``.
``embedding_from`` may also be a config, ``'configs/skipgram.py:tiny'``: it is then trained once
into the preprocessing cache (``CACHE/pretrained/``) and reused.

  python -m launch.train --config=configs/skipgram.py --workdir=runs/skipgram
  python -m launch.train --config=configs/baseline_lstm_skipgram.py
  python -m launch.train --config=configs/baseline_lstm_skipgram.py \\
      --config.model.embedding_from=runs/other_skipgram --config.model.freeze_embedding=False

The ``tiny`` variant pretrains ``configs/skipgram.py:tiny`` on demand (seconds), so it needs no run.
"""

import importlib.util
import os

import ml_collections

from dsjax.train.config_base import parse_variant

VARIANTS = ('tiny', 'small')


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variant = parse_variant(arg, VARIANTS)
  path = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'baseline_lstm.py')
  spec = importlib.util.spec_from_file_location('_dsjax_baseline_lstm', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  c = module.get_config(arg)
  c.model.condition = 'none'
  c.model.condition_tau = 0.0
  c.model.embedding_from = 'configs/skipgram.py:tiny' if 'tiny' in variant else 'runs/skipgram'
  c.model.freeze_embedding = True
  return c
