"""Write MIDI (and WAV) from a run's latest checkpoint.

  python -m launch.generate --workdir=DIR [--num=N] [--length=L] [--temperature=T] [--out=DIR]
      [--wav] [--top_k=K] [--top_p=P] [--matmul_dtype=bfloat16] [--primer=K]
      [--mode=bernoulli|threshold|greedy|sample] [--threshold=X] [--max_sustain=F] [--noise=P]
      [--seed=S]
      [--step=STEP] [--walk=random|song] [--flips=K] [--reset_every=N] [--reset_prob=P]
      [--duration_steps=N] [--silence_random=P] [--noise_scale=A,B] [--state_reset_prob=P]
      [--state_decay=A,B] [--chop] [--chop_min=N] [--chop_max=N] [--split=NAME] [--refine=DIR]
      [--condition_midi=PATH | --condition_key='D minor']

Sampling runs inside one jitted ``lax.scan``. An option the run's task does not take is refused
(a usage error naming the flags it does take).
A conditioned event LM (``configs/hist_rnn.py``) takes its condition from a MIDI file's pitch-class
histogram (``--condition_midi``) or a named key (``--condition_key``); without either, from the
primers' training pieces.
"""

from __future__ import annotations

import math
import os
import warnings

from absl import app, flags, logging

from dsjax import runtime
from launch import cli

warnings.filterwarnings('ignore', message='.*load_module.*', category=DeprecationWarning)

_WORKDIR = flags.DEFINE_string('workdir', None, 'Run folder written by launch.train.')
_NUM = flags.DEFINE_integer('num', 4, 'Number of pieces.')
_LENGTH = flags.DEFINE_integer('length', None, 'Generated steps (events or frames).')
_OUT = flags.DEFINE_string('out', None, 'Output folder (default: WORKDIR/generated/step_N).')
_WAV = flags.DEFINE_bool('wav', False, 'Also render WAV files.')
_SEED = flags.DEFINE_integer('seed', 0, 'Sampling seed.')
_STEP = flags.DEFINE_integer('step', None, 'Checkpoint step (default: latest).')
_BEST = flags.DEFINE_bool('best', False, 'Use the best checkpoint (train.select_by) instead.')
_TEMPERATURE = flags.DEFINE_float('temperature', None, 'Softmax / sigmoid temperature.')
_TOP_K = flags.DEFINE_integer('top_k', None, 'Top-k filter for events (0 = off).')
_TOP_P = flags.DEFINE_float('top_p', None, 'Nucleus filter for events (1 = off).')
_MATMUL_DTYPE = flags.DEFINE_enum(
    'matmul_dtype', None, ['float32', 'bfloat16'],
    'Event LMs: dtype of the sampler\'s matmul inputs (bfloat16: faster, float32 accumulation).')
_PRIMER = flags.DEFINE_integer('primer', None, 'Prime with the first K items of a real piece.')
_MODE = flags.DEFINE_enum('mode', None, ['bernoulli', 'threshold', 'greedy', 'sample'],
                          'Multi-hot sampling mode: threshold or bernoulli (autoencoders also '
                          'take greedy = threshold and sample = bernoulli).')
_THRESHOLD = flags.DEFINE_float('threshold', None, 'Threshold for multi-hot outputs.')
_MAX_SUSTAIN = flags.DEFINE_float('max_sustain', None,
                                  'Maximum sustain (frames for rolls, seconds for events).')
_NOISE = flags.DEFINE_float('noise', None, 'Flip probability on the fed-back frame.')
_SCHEDULE = flags.DEFINE_string('schedule', None,
                                'GAN code schedule: constant, linspace, ab, song.')
_WALK = flags.DEFINE_enum(
    'walk', None, ['random', 'song'], 'Continuous autoencoders: compose by walking the quantised '
    'code space (random: bit flips from a real opening\'s code, with resets to it; song: a real '
    'song\'s codes with noise).')
_FLIPS = flags.DEFINE_integer('flips', None, 'Continuous autoencoders: code bits changed per walk '
                              'step (random) or per code (song).')
_RESET_EVERY = flags.DEFINE_integer('reset_every', None, 'Continuous autoencoders\' random walk: '
                                    'every this many steps, back to the theme or a new theme '
                                    '(0: never).')
_RESET_PROB = flags.DEFINE_float('reset_prob', None, 'Continuous autoencoders\' random walk: the '
                                 'probability that a reset goes back to the theme.')
_DURATION_STEPS = flags.DEFINE_integer('duration_steps', None, 'Aligned chord steps (autoencoders):'
                                       ' every decoded note lasts this many grid steps.')
_SILENCE_RANDOM = flags.DEFINE_float(
    'silence_random', None, 'Roll models: after a silent frame, feed the model a random '
    'Bernoulli(P) frame instead (the log\'s "randomize the input when silent"; 0 = off).')
_NOISE_SCALE = flags.DEFINE_string(
    'noise_scale', None, 'Roll models: multiply the fed-back frame key by key by U(A, B) noise, '
    'given as A,B (the original: 0.5,2.0).')
_STATE_RESET_PROB = flags.DEFINE_float(
    'state_reset_prob', None, 'Roll models: at each step, zero each sample\'s recurrent state '
    'with this probability.')
_STATE_DECAY = flags.DEFINE_string(
    'state_decay', None, 'Roll models: at each step, multiply each sample\'s recurrent state by a '
    'U(A, B) factor, given as A,B (the log\'s "random decay").')
_CHOP = flags.DEFINE_bool('chop', None, 'Chord reconstruction: reconstruct real windows whose '
                          'chords are held for random lengths (the log\'s rhythm chopping).')
_CHOP_MIN = flags.DEFINE_integer('chop_min', None, 'Chord reconstruction: shortest chopped chord '
                                 '(frames).')
_CHOP_MAX = flags.DEFINE_integer('chop_max', None, 'Chord reconstruction: longest chopped chord '
                                 '(frames).')
_SPLIT = flags.DEFINE_string('split', None, 'Chord reconstruction: the split whose windows are '
                             'reconstructed (e.g. valid, test, train).')
_REFINE = flags.DEFINE_string(
    'refine', None, 'A refiner\'s workdir (configs/refine_duration.py or refine_velocity.py): '
    'every sample passes through it before it is written (onsets and pitches kept).')
_CONDITION_MIDI = flags.DEFINE_string(
    'condition_midi', None, 'Condition on the pitch-class histogram (or window statistics) of this '
    'MIDI file (runs with config.model.condition != none).')
_CONDITION_KEY = flags.DEFINE_string(
    'condition_key', None, "Condition on a key's scale histogram, e.g. 'C major', 'a minor', "
    "'F# minor' (runs with config.model.condition != none).")


def condition_option(sampler) -> dict:
  """``{'condition': stats}`` from --condition_midi / --condition_key, or ``{}``."""
  midi, key = _CONDITION_MIDI.value, _CONDITION_KEY.value
  if midi is None and key is None:
    return {}
  if midi is not None and key is not None:
    raise app.UsageError('give one of --condition_midi and --condition_key, not both')
  if not hasattr(sampler, 'condition_from_key'):
    raise app.UsageError(f'--condition_midi/--condition_key: the {sampler.name} of this run '
                         f'takes no condition')
  from dsjax.data.midi_io import MidiLoadError
  try:
    stats = (sampler.condition_from_midi(midi) if midi is not None
             else sampler.condition_from_key(key))
  except (ValueError, OSError, MidiLoadError) as e:
    raise app.UsageError(str(e)) from None
  return {'condition': stats}


def check_flag_values() -> None:
  """Refuses, naming the flag, a value no run can sample with (before any work starts)."""
  cli.positive_int('num', _NUM.value)
  cli.positive_int('length', _LENGTH.value)
  cli.positive_int('top_k', _TOP_K.value, allow_zero=True)
  cli.positive_int('primer', _PRIMER.value, allow_zero=True)
  cli.positive_int('step', _STEP.value, allow_zero=True)
  cli.positive_int('flips', _FLIPS.value, allow_zero=True)
  cli.positive_int('reset_every', _RESET_EVERY.value, allow_zero=True)
  cli.positive_int('duration_steps', _DURATION_STEPS.value)
  cli.positive_int('chop_min', _CHOP_MIN.value)
  cli.positive_int('chop_max', _CHOP_MAX.value)
  cli.finite_float('reset_prob', _RESET_PROB.value, low=0, high=1)
  temperature = _TEMPERATURE.value
  if temperature is not None and not (math.isfinite(temperature) and temperature > 0):
    raise cli.UsageError(f'--temperature={temperature}: must be a finite number > 0 (for the '
                         'most likely choice at each step, --top_k=1)')
  cli.finite_float('top_p', _TOP_P.value, low=0, low_open=True, high=1)
  cli.finite_float('threshold', _THRESHOLD.value, low=0, high=1)
  cli.finite_float('noise', _NOISE.value, low=0, high=1)
  cli.finite_float('max_sustain', _MAX_SUSTAIN.value, low=0, allow_inf=True)
  cli.finite_float('silence_random', _SILENCE_RANDOM.value, low=0, high=1)
  cli.finite_float('state_reset_prob', _STATE_RESET_PROB.value, low=0, high=1)
  from dsjax.sampling import FeedbackTricks
  for name, flag in (('noise_scale', _NOISE_SCALE), ('state_decay', _STATE_DECAY)):
    if flag.value is not None:
      try:
        FeedbackTricks(**{name: flag.value})
      except ValueError as e:
        raise cli.UsageError(f'--{e}') from None
  if _STEP.value is not None and _BEST.value:
    raise cli.UsageError('give one of --step and --best, not both')


def main(argv):
  del argv
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)
  import jax
  import numpy as np
  from dsjax import viz
  from dsjax.data import midi_io
  from dsjax.tasks.base import split_sample_options
  from dsjax.train.loop import restore_for_inference

  check_flag_values()  # before the workdir is read
  config, trainer, state, step = restore_for_inference(_WORKDIR.value, _STEP.value,
                                                       best=_BEST.value)
  sampler = trainer.sampler
  if sampler is None:
    raise app.UsageError(f'{_WORKDIR.value}: its {config.task} run makes no music to generate')
  refiner = None
  if _REFINE.value:
    from dsjax.tasks.refine import load_refiner
    try:
      refiner = load_refiner(_REFINE.value)
    except (ValueError, FileNotFoundError) as e:
      raise app.UsageError(f'--refine: {e}') from None
  options = {k: f.value for k, f in dict(
      temperature=_TEMPERATURE, top_k=_TOP_K, top_p=_TOP_P, matmul_dtype=_MATMUL_DTYPE,
      primer=_PRIMER, mode=_MODE, threshold=_THRESHOLD, max_sustain=_MAX_SUSTAIN, noise=_NOISE,
      schedule=_SCHEDULE, walk=_WALK, flips=_FLIPS, reset_every=_RESET_EVERY,
      reset_prob=_RESET_PROB, duration_steps=_DURATION_STEPS, silence_random=_SILENCE_RANDOM,
      noise_scale=_NOISE_SCALE, state_reset_prob=_STATE_RESET_PROB,
      state_decay=_STATE_DECAY, chop=_CHOP, chop_min=_CHOP_MIN, chop_max=_CHOP_MAX,
      split=_SPLIT).items()
             if f.value is not None}
  options.update(condition_option(sampler))
  length = _LENGTH.value if _LENGTH.value is not None else int(config.sample.length)
  rng = jax.random.fold_in(jax.random.key(_SEED.value), step)
  try:
    sample_options, decode_options = split_sample_options(sampler, options)
  except ValueError as e:
    raise app.UsageError(str(e)) from None
  if 'max_sustain' in sample_options:  # a roll model's sampler: whole frames
    frames = sample_options['max_sustain']
    if math.isinf(frames):
      frames = 0
    elif frames != int(frames):
      raise cli.UsageError(f'--max_sustain={frames}: this run counts it in frames (a whole '
                           'number; 0 or inf: no limit)')
    sample_options['max_sustain'] = int(frames)
  try:
    samples = sampler.sample(state, rng, _NUM.value, length, **sample_options)
  except ValueError as e:  # a value this run cannot sample with (named by the sampler)
    raise app.UsageError(str(e)) from None
  pieces = sampler.to_pieces(samples, **decode_options)
  if refiner is not None:
    pieces = refiner.refine(pieces)
    print(f'refined ({refiner.attribute}) by {_REFINE.value}', flush=True)
  out = _OUT.value or os.path.join(_WORKDIR.value, 'generated', f'step_{step:07d}')
  os.makedirs(out, exist_ok=True)
  for i, piece in enumerate(pieces):
    path = os.path.join(out, f'sample_{i:02d}.mid')
    midi_io.write_midi(piece, path)
    msg = f'{path}: {len(piece.notes)} notes, {piece.end_time:.1f} s'
    if _WAV.value and len(piece.notes):
      import soundfile
      wav = os.path.join(out, f'sample_{i:02d}.wav')
      audio, renderer = midi_io.render_audio(piece, fs=22050)
      soundfile.write(wav, audio, 22050)
      msg += f' -> {wav} ({renderer})'
    print(msg, flush=True)
  viz.save_pianoroll_figure(os.path.join(out, 'pianoroll.png'), sampler.to_rolls(samples),
                            sampler.real_rolls(min(_NUM.value, 4), length),
                            **sampler.figure_options())
  print(f'piano rolls: {os.path.join(out, "pianoroll.png")}')
  del np


if __name__ == '__main__':
  runtime.reexec_with_huge_pages()  # before any XLA work: see dsjax/runtime.py
  cli.run(main, required=['workdir'])
