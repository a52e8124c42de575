"""The 'voice_rolls' encoding: one multi-hot roll per part, exact round trips, clear rejections."""

from __future__ import annotations

import numpy as np
import pytest

from dsjax.data import encodings
from dsjax.data.notes import Piece, make_notes


def _piece(parts=(0, 1, 2)):
  # qpm 120: one beat = 0.5 s, one sixteenth frame (0.25 beat) = 0.125 s.
  pitch = [72, 74, 67, 65, 48, 72]
  start = np.array([0, 2, 0, 1, 0, 1]) * 0.125
  end = np.array([2, 4, 1, 4, 4, 2]) * 0.125
  part = [parts[0], parts[0], parts[1], parts[1], parts[2], parts[2]]
  return Piece('t:p', make_notes(pitch, start, end, velocity=80, part=part))


def test_encode_exact_values_and_shape():
  enc = encodings.get_encoding('voice_rolls', voices=3, keys=128, step=0.25)
  roll = enc.encode(_piece())
  assert roll.shape == (4, 3, 128) and roll.dtype == np.uint8
  assert enc.feature_shape == (3, 128)
  on = {(int(t), int(v), int(k)) for t, v, k in zip(*np.nonzero(roll))}
  assert on == {(0, 0, 72), (1, 0, 72), (2, 0, 74), (3, 0, 74),
                (0, 1, 67), (1, 1, 65), (2, 1, 65), (3, 1, 65),
                (0, 2, 48), (1, 2, 48), (2, 2, 48), (3, 2, 48), (1, 2, 72)}


def test_decode_gives_each_voice_its_part_and_round_trips():
  enc = encodings.get_encoding('voice_rolls', voices=3, keys=128, step=0.25)
  piece = _piece(parts=(3, 5, 9))              # any part numbers: voice v = v-th part in order
  roll = enc.encode(piece)
  out = enc.decode(roll)
  got = sorted(zip(out.notes['part'].tolist(), out.notes['pitch'].tolist(),
                   out.notes['start'].tolist(), out.notes['end'].tolist()))
  # Decoded times are in seconds at 120 qpm: frame f -> f * 0.125 s.
  want = sorted(zip([0, 0, 1, 1, 2, 2], [72, 74, 67, 65, 48, 72],
                    [0.0, 0.25, 0.0, 0.125, 0.0, 0.125], [0.25, 0.5, 0.125, 0.5, 0.5, 0.25]))
  assert got == want
  assert np.array_equal(enc.encode(out), roll)


def test_roll_round_trip_on_random_binary_rolls():
  enc = encodings.get_encoding('voice_rolls', voices=4, keys=88, step=0.25)
  rng = np.random.default_rng(0)
  for _ in range(5):
    roll = (rng.random((20, 4, 88)) < 0.05).astype(np.uint8)
    roll[-1, :, 0] = 1                        # every voice sounds in the last frame
    assert np.array_equal(enc.encode(enc.decode(roll)), roll)


def test_rejects_wrong_number_of_parts_and_shapes():
  enc = encodings.get_encoding('voice_rolls', voices=4)
  with pytest.raises(ValueError, match='t:p: 3 parts .* voices=4'):
    enc.encode(_piece())
  with pytest.raises(ValueError, match=r'expected \[T, 4, 128\]'):
    enc.decode(np.zeros((3, 128), np.uint8))
  with pytest.raises(ValueError, match='voices must be'):
    encodings.get_encoding('voice_rolls', voices=0)


def test_cache_key_and_options_rebuild_the_encoding():
  enc = encodings.get_encoding('voice_rolls', voices=4, keys=88, step=0.5)
  assert enc.cache_key() == 'voices4-roll-beats0.5-k88'
  again = encodings.get_encoding(enc.name, **enc.options())
  assert again == enc
