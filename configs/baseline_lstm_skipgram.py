"""The baseline event LSTM on a frozen skip-gram input embedding (log 10/09, original §3.3).

``model.embedding_from`` is a skip-gram workdir (``configs/skipgram.py``, task 'skipgram') whose
``params['embed']['embedding'] [vocab, dim]`` is copied into the event LSTM at init; with
``model.freeze_embedding`` it stays fixed. Its ``dim`` must equal ``model.embed_dim``. Train the
skip-gram run first (the default workdirs: ``runs/skipgram``, and ``runs/skipgram-tiny`` for the
``tiny`` variant):

  python -m launch.train --config=configs/skipgram.py --workdir=runs/skipgram
  python -m launch.train --config=configs/baseline_lstm_skipgram.py
  python -m launch.train --config=configs/skipgram.py:tiny --workdir=runs/skipgram-tiny
  python -m launch.train --config=configs/baseline_lstm_skipgram.py:tiny
  python -m launch.train --config=configs/baseline_lstm_skipgram.py \\
      --config.model.embedding_from=runs/other_skipgram --config.model.freeze_embedding=False
"""

import ml_collections

from configs import baseline_lstm
from configs.common import parse_variant

VARIANTS = ('tiny', 'small')


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variant = parse_variant(arg, VARIANTS)
  c = baseline_lstm.get_config(arg)
  c.model.embedding_from = 'runs/skipgram-tiny' if 'tiny' in variant else 'runs/skipgram'
  c.model.freeze_embedding = True
  return c
