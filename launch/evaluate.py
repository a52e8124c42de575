"""Score a run's samples against held-out real music: ``report.md``, ``report.json``, figures.

  python -m launch.evaluate --workdir=DIR [--num=N] [--length=L] [--best] [--seed=S] [--out=DIR]
      [--reference=WORKDIR] [--bleu_windows=100] [--bleu_primer=5] [--bleu_length=50]

For any run that makes music (event and roll language models, multi-voice, GANs, SeqGAN,
autoencoders): restores the latest (or ``--best``) checkpoint, draws ``--num`` samples of
``--length`` steps (default ``config.sample.length``; seeded) and writes into ``--out`` (default
``WORKDIR/evaluate/step_N``), where they apply: the held-out split's NLL (the trainer's own
evaluation), music statistics of samples, held-out real windows and training windows, the
pitch-class and melody-interval JS divergences, BLEU of continuations of held-out windows (log
10/15; event runs), the LCS plagiarism check of samples and held-out windows against every
training piece, the frame NLL under a reference density model (``--reference``, a piano-roll LM
workdir such as ``configs/pianoroll_pitchrnn.py:reference``), ``pianoroll.png`` (labelled
samples beside held-out real music) and ``histograms.png``. What each figure means:
``dsjax/eval/report.py``.
"""

from __future__ import annotations

import os
import warnings

from absl import flags, logging

from dsjax import runtime
from launch import cli

warnings.filterwarnings('ignore', message='.*load_module.*', category=DeprecationWarning)

_WORKDIR = flags.DEFINE_string('workdir', None, 'Run folder written by launch.train.')
_NUM = flags.DEFINE_integer('num', 16, 'Number of samples (and of held-out windows).')
_LENGTH = flags.DEFINE_integer('length', None, 'Generated steps (events or frames; default '
                               'config.sample.length).')
_BEST = flags.DEFINE_bool('best', False, 'Use the best checkpoint (train.select_by).')
_SEED = flags.DEFINE_integer('seed', 0, 'Sampling seed (and the choice of real windows).')
_OUT = flags.DEFINE_string('out', None, 'Output folder (default: WORKDIR/evaluate/step_N).')
_REFERENCE = flags.DEFINE_string('reference', None, 'A piano-roll LM workdir: report the frame NLL '
                                 'of samples and real windows under it.')
_BLEU_WINDOWS = flags.DEFINE_integer('bleu_windows', 100, 'Event runs: held-out windows for BLEU.')
_BLEU_PRIMER = flags.DEFINE_integer('bleu_primer', 5, 'Event runs: primer events of a BLEU window.')
_BLEU_LENGTH = flags.DEFINE_integer('bleu_length', 50, 'Event runs: events generated and scored '
                                    'per BLEU window.')


def main(argv):
  del argv
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)
  cli.positive_int('num', _NUM.value)
  cli.positive_int('length', _LENGTH.value)
  cli.positive_int('bleu_windows', _BLEU_WINDOWS.value)
  cli.positive_int('bleu_primer', _BLEU_PRIMER.value)
  cli.positive_int('bleu_length', _BLEU_LENGTH.value)
  if _LENGTH.value is not None and _LENGTH.value < 2:
    raise cli.UsageError(f'--length={_LENGTH.value}: must be at least 2 (melody moves need two '
                         'steps)')
  workdir = _WORKDIR.value
  if not os.path.exists(os.path.join(workdir, 'config.json')):
    raise cli.UsageError(f'--workdir={workdir}: not a dsjax workdir (no config.json)')
  from dsjax.eval import report as report_lib
  report = report_lib.evaluate_run(
      workdir, num=_NUM.value, length=_LENGTH.value, best=_BEST.value, seed=_SEED.value,
      out=_OUT.value, reference=_REFERENCE.value, bleu_windows_num=_BLEU_WINDOWS.value,
      bleu_primer=_BLEU_PRIMER.value, bleu_length=_BLEU_LENGTH.value,
      log=lambda msg: print(msg, flush=True))
  print(f"report: {os.path.join(report['out'], 'report.md')}", flush=True)


if __name__ == '__main__':
  runtime.reexec_with_huge_pages()  # before any XLA work: see dsjax/runtime.py
  cli.run(main, required=['workdir'])
