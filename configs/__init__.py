"""Experiment configs: one module per experiment, each with ``get_config(variant)``.

``load_config('iwgan_lstm:cpu,tiny')`` is how code (a table, a test, another config) loads one;
the command line gives the file (``--config=configs/iwgan_lstm.py:cpu``). Shared builders live in
the helper modules :data:`HELPERS` (``common``: the base sections every config has; ``gan_base``
and ``pianoroll_base``: the families' shared settings). Nothing here imports JAX or dsjax.
"""

from __future__ import annotations

import importlib
import os

import ml_collections

from configs.common import override

HELPERS = ('common', 'gan_base', 'pianoroll_base')
_DIR = os.path.dirname(os.path.abspath(__file__))


def experiment_names() -> list[str]:
  """The names ``load_config`` takes: every module of this folder but the helpers."""
  return sorted(f[:-3] for f in os.listdir(_DIR)
                if f.endswith('.py') and not f.startswith('_') and f[:-3] not in HELPERS)


def load_config(spec: str, **overrides) -> ml_collections.ConfigDict:
  """``'NAME[:variant]'`` -> ``configs/NAME.py``'s ``get_config(variant)``, locked (existing keys
  can be set, a misspelt one raises), with ``overrides`` of dotted keys set as ``--config.KEY=VALUE``
  does: ``load_config('pianoroll_lstm:tiny', **{'train.num_steps': 4})``."""
  name, _, variant = spec.partition(':')
  if name not in experiment_names():
    raise FileNotFoundError(f'no config {os.path.join(_DIR, name + ".py")} (configs: '
                            f'{", ".join(experiment_names())})')
  module = importlib.import_module(f'configs.{name}')
  config = module.get_config(variant or None)
  config.lock()
  return override(config, overrides)
