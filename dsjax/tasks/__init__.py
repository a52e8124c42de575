"""Task registry: ``config.task`` names the experiment family."""

from __future__ import annotations

import importlib

_TASKS = {
    'event_lm': 'dsjax.tasks.event_lm:EventLMTask',
    'pianoroll_lm': 'dsjax.tasks.pianoroll_lm:PianorollLMTask',
    'gan': 'dsjax.tasks.gan:GANTask',
    'seqgan': 'dsjax.tasks.seqgan:SeqGANTask',
    'skipgram': 'dsjax.tasks.skipgram:SkipGramTask',
    'multivoice_lm': 'dsjax.tasks.multivoice:MultiVoiceLMTask',
    'seq_ae': 'dsjax.tasks.seq_ae:SeqAETask',
    'continuous_ae': 'dsjax.tasks.continuous_ae:ContinuousAETask',
    'chord_reconstruction': 'dsjax.tasks.chord_reconstruction:ChordReconstructionTask',
    'fill': 'dsjax.tasks.fill:FillTask',
    'refine': 'dsjax.tasks.refine:RefineTask',
}


def get_task(config):
  name = config.task
  if name not in _TASKS:
    raise ValueError(f'config.task={name!r} is not a known task; known: {sorted(_TASKS)}')
  module, cls = _TASKS[name].split(':')
  return getattr(importlib.import_module(module), cls)(config)
