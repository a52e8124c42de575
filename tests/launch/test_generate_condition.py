"""launch.generate conditions a Hist-RNN run on a named key or on a MIDI file's histogram."""

from __future__ import annotations

import glob
import os
import subprocess
import sys

from tests.train.test_train import ROOT, load_config


def _generate(workdir, out, *flags):
  env = dict(os.environ, JAX_PLATFORMS='cpu')
  return subprocess.run([sys.executable, '-m', 'launch.generate', f'--workdir={workdir}',
                         '--num=2', '--length=40', f'--out={out}', *flags], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=300)


def test_generate_with_condition_key_and_midi(tmp_path):
  from dsjax.train.loop import train_and_evaluate
  workdir = str(tmp_path / 'run')
  train_and_evaluate(load_config('hist_rnn', **{'sample.num': 0, 'train.eval_every': 0,
                                                'train.num_steps': 5}), workdir)
  p = _generate(workdir, str(tmp_path / 'key'), '--condition_key=D minor')
  assert p.returncode == 0, p.stdout + p.stderr
  mids = sorted(glob.glob(str(tmp_path / 'key' / '*.mid')))
  assert len(mids) == 2
  p = _generate(workdir, str(tmp_path / 'midi'), f'--condition_midi={mids[0]}')
  assert p.returncode == 0, p.stdout + p.stderr
  from_midi = sorted(glob.glob(str(tmp_path / 'midi' / '*.mid')))
  assert len(from_midi) == 2
  # same seed, other condition: other music (the condition reaches the model)
  read = lambda path: open(path, 'rb').read()
  assert [read(a) for a in mids] != [read(b) for b in from_midi]
  p = _generate(workdir, str(tmp_path / 'key2'), '--condition_key=D minor')
  assert [read(a) for a in mids] == [read(b) for b in sorted(glob.glob(str(tmp_path / 'key2' /
                                                                              '*.mid')))]
  p = _generate(workdir, str(tmp_path / 'bad'), '--condition_key=H major')
  assert p.returncode != 0 and "not a note name: 'H'" in p.stdout + p.stderr


def test_each_sampling_flag_goes_where_it_applies_or_is_refused():
  """launch.generate passes a flag to sampler.sample, or (an event LM's max_sustain, applied when
  decoding) to sampler.to_pieces; a flag the run's task takes nowhere is a usage error naming it."""
  import numpy as np
  import pytest

  from dsjax.tasks import get_task
  from dsjax.tasks.base import split_sample_options

  event = get_task(load_config('baseline_lstm'))
  sample, decode = split_sample_options(event.sampler(), {'temperature': 0.5, 'top_k': 3,
                                                'max_sustain': 0.25})
  assert sample == {'temperature': 0.5, 'top_k': 3} and decode == {'max_sustain': 0.25}
  # the decoding limit is applied: no note of the decoded piece outlasts it
  v = event.vocab
  one_second = v.shift_offset + v.max_shift_steps - 1
  ids = np.array([[v.note_on_offset + 60] + [one_second] * 3], np.int32)
  (held,) = event.sampler().to_pieces(ids)
  (cut,) = event.sampler().to_pieces(ids, **decode)
  length = lambda piece: float((piece.notes['end'] - piece.notes['start']).max())
  assert length(held) > 0.25
  assert length(cut) == pytest.approx(0.25)

  voices = get_task(load_config('multivoice_lstm'))
  assert split_sample_options(voices.sampler(), {'temperature': 0.5}) == ({'temperature': 0.5}, {})
  tricks = {'silence_random': 0.3, 'noise_scale': '0.5,2.0', 'state_reset_prob': 0.1,
            'state_decay': '0.9,1.0'}
  assert split_sample_options(voices.sampler(), tricks) == (tricks, {})
  with pytest.raises(ValueError, match='--silence_random does not apply to this run .EventLMTask.'):
    split_sample_options(event.sampler(), {'silence_random': 0.3})
  chords = get_task(load_config('chord_reconstruction'))
  chop = {'chop': True, 'chop_min': 1, 'chop_max': 3, 'split': 'valid', 'threshold': 0.4}
  assert split_sample_options(chords.sampler(), chop) == (chop, {})
  gan = get_task(load_config('gan_lstm_cnn'))
  with pytest.raises(ValueError, match='--temperature does not apply to this run .GANTask.; '
                     'its sampling flags: --schedule, --threshold'):
    split_sample_options(gan.sampler(), {'temperature': 0.5})


def test_roll_run_generates_with_the_feedback_tricks_and_renders_wav(tmp_path):
  """A roll model's samples change with the log's feedback tricks (same seed); --wav says which
  renderer made each WAV: FluidSynth wherever it is installed (CI installs it)."""
  import soundfile

  from dsjax.data import midi_io
  from dsjax.train.loop import train_and_evaluate
  workdir = str(tmp_path / 'run')
  train_and_evaluate(load_config('pianoroll_lstm', **{'sample.num': 0, 'train.eval_every': 0,
                                                      'train.num_steps': 3}), workdir)
  p = _generate(workdir, str(tmp_path / 'plain'), '--wav')
  assert p.returncode == 0, p.stdout + p.stderr
  wavs = sorted(glob.glob(str(tmp_path / 'plain' / '*.wav')))
  assert wavs and soundfile.info(wavs[0]).samplerate == 22050
  expected = 'fluidsynth' if midi_io._fluidsynth_available() else 'sine'
  assert f'.wav ({expected})' in p.stdout
  if os.environ.get('CI') == 'true':
    assert expected == 'fluidsynth', 'CI installs FluidSynth (.ci/run)'
  p = _generate(workdir, str(tmp_path / 'tricks'), '--silence_random=0.5', '--noise_scale=0.5,2',
                '--state_reset_prob=0.2', '--state_decay=0.5,1')
  assert p.returncode == 0, p.stdout + p.stderr
  read = lambda path: open(path, 'rb').read()
  plain = [read(m) for m in sorted(glob.glob(str(tmp_path / 'plain' / '*.mid')))]
  tricks = [read(m) for m in sorted(glob.glob(str(tmp_path / 'tricks' / '*.mid')))]
  assert len(plain) == len(tricks) == 2 and plain != tricks
