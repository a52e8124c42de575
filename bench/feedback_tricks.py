"""The log's feedback tricks (09/16-09/18) on a trained roll model: statistics of its samples
under each setting, next to real windows (the README's figures for ``pianoroll_lstm``).

  python bench/feedback_tricks.py WORKDIR [FRAMES]      # e.g. a pianoroll_lstm run, 60 frames

Prints a Markdown table: silent frames, notes a frame, share of frames that change, diversity and
melody-interval JS against real windows, 16 samples after a 4-frame real opening, seed 0.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import numpy as np  # noqa: E402

from dsjax.eval import music_stats as ms  # noqa: E402
from dsjax.train.loop import restore_for_inference  # noqa: E402

wd = sys.argv[1]
config, trainer, state, step = restore_for_inference(wd)
sampler = trainer.sampler
num, length = 16, int(sys.argv[2]) if len(sys.argv) > 2 else 256
real = np.stack(sampler.real_rolls(num, length + 4))
settings = {
    'plain': {},
    'max_sustain=4': {'max_sustain': 4},
    'silence_random=0.3': {'silence_random': 0.3},
    'noise_scale=0.5,2': {'noise_scale': (0.5, 2.0)},
    'state_reset_prob=0.05': {'state_reset_prob': 0.05},
    'state_decay=0.5,1': {'state_decay': (0.5, 1.0)},
    'threshold 0.5': {'mode': 'threshold'},
    'threshold 0.5 + silence_random=0.3': {'mode': 'threshold', 'silence_random': 0.3},
    'threshold 0.5 + noise_scale=0.5,2': {'mode': 'threshold', 'noise_scale': (0.5, 2.0)},
    'threshold 0.5 + max_sustain=4': {'mode': 'threshold', 'max_sustain': 4},
    'threshold 0.5 + max_sustain=4 + silence_random=0.3': {'mode': 'threshold', 'max_sustain': 4,
                                                           'silence_random': 0.3},
    'threshold 0.5 + max_sustain=4 + silence_random=0.3 + noise_scale=0.5,2': {
        'mode': 'threshold', 'max_sustain': 4, 'silence_random': 0.3, 'noise_scale': (0.5, 2.0)},
}
print(f'{wd} step {step}; {num} samples x {length} frames after a 4-frame primer, seed 0')
print('| setting | silent frames | notes/frame | frame changes | diversity | melody JS |')
print('|---|---|---|---|---|---|')
def row(name, r):
  print(f'| {name} | {ms.silent_fraction(r):.3f} | {ms.note_density(r):.2f} | '
        f'{ms.frame_change_rate(r):.3f} | {ms.mean_pairwise_distance(r):.4f} | '
        f'{ms.melody_js(r, real[:, 4:]):.4f} |', flush=True)
row('real windows', real[:, 4:])
for name, opts in settings.items():
  s = sampler.sample(state, jax.random.key(0), num, length, primer=4, **opts)[:, 4:]
  row(name, s)
