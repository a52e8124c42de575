"""Tests for dsjax.viz: the plain strips and the labelled matplotlib figures."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from dsjax import viz
from dsjax.data.pianoroll import RollConfig

NOTE_RGB = (0x17, 0x37, 0x8c)      # viz.NOTE_COLOUR
WHITE = (255, 255, 255)


def roll(time, keys, notes):
  """``[time, keys]`` sounding key k over frames [start, end) for each (k, start, end)."""
  r = np.zeros((time, keys), np.uint8)
  for k, start, end in notes:
    r[start:end, k] = 1
  return r


def test_plain_strips_unchanged():
  r = roll(5, 8, [(0, 0, 1), (7, 4, 5)])
  img = viz.roll_image(r, scale=2)
  assert img.dtype == np.uint8 and img.shape == (16, 10)
  assert img[-1, 0] == 255 and img[0, -1] == 255 and img[0, 0] == 0   # low keys at the bottom
  panel = viz.rolls_panel([r, r], [r])
  assert panel.shape == (2 * 16 + 4, 2 * 10 + 8)


def test_pitch_names_and_key_labels():
  assert [viz.pitch_name(p) for p in (60, 61, 69, 21, 0, 127)] == [
      'C4', 'C#4', 'A4', 'A0', 'C-1', 'G9']
  assert viz.key_labels(55, 74) == [(60, 'C4'), (72, 'C5')]
  assert viz.key_labels(48, 60) == [(48, 'C3'), (60, 'C4')]          # both ends inclusive
  assert viz.key_labels(61, 71) == []
  assert viz.key_labels(21, 108)[0] == (24, 'C1') and viz.key_labels(21, 108)[-1] == (108, 'C8')


def test_shown_pitches():
  r = roll(4, 128, [(50, 0, 1), (70, 2, 3)])
  assert viz.shown_pitches([r]) == (48, 72)                          # used 50..70, margin 2
  assert viz.shown_pitches([r], crop=False) == (0, 127)
  # two rolls share one range; 88 keys start at MIDI 21
  assert viz.shown_pitches([roll(2, 88, [(39, 0, 1)]), roll(2, 88, [(60, 0, 1)])],
                           lowest_pitch=21) == (58, 83)
  # a narrow range widens to an octave (keys 39..43 + 2 = 37..45, then 35..47)
  assert viz.shown_pitches([roll(2, 88, [(39, 0, 1), (43, 1, 2)])], lowest_pitch=21) == (56, 68)
  assert viz.shown_pitches([roll(2, 88, [(0, 0, 1)])], lowest_pitch=21) == (21, 33)
  assert viz.shown_pitches([np.zeros((3, 88))], lowest_pitch=21) == (21, 108)   # silent: all


def test_figure_options():
  assert viz.figure_options(RollConfig(step=0.25, keys=88)) == {
      'lowest_pitch': 21, 'frames_per_beat': 4.0}
  assert viz.figure_options(RollConfig(grid='seconds', step=0.05)) == {
      'lowest_pitch': 0, 'seconds_per_frame': 0.05}


def test_figure_labels_notes_and_pixels():
  # 88 keys: key 39 = C4 (MIDI 60) at frame 3; key 43 = E4 held over frames 20..27
  sample = roll(64, 88, [(39, 3, 4), (43, 20, 28)])
  real = roll(48, 88, [(51, 0, 8)])                                  # C5, in the first bar
  fig = viz.draw_pianorolls([sample, np.zeros((64, 88))], [real], lowest_pitch=21,
                            frames_per_beat=4, real_titles=['chorale 7'])
  image = viz.figure_image(fig)
  assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
  assert [ax.get_title() for ax in fig.axes] == ['sample 0', 'sample 1', 'chorale 7']
  ax = fig.axes[0]
  assert [t.get_text() for t in ax.get_yticklabels()] == ['C4', 'C5']
  np.testing.assert_array_equal(ax.get_yticks(), [60, 72])
  assert ax.get_ylim() == (57.5, 74.5)           # keys 39..51 used, +2 margin: MIDI 58..74
  # bars of 16 frames numbered at their starts, on the longest roll's time scale
  assert [t.get_text() for t in ax.get_xticklabels()] == ['1', '2', '3', '4']
  np.testing.assert_array_equal(ax.get_xticks(), [0, 16, 32, 48])
  assert fig.axes[2].get_xlim() == (0, 64)

  def pixel(a, t, pitch):
    return tuple(image[viz.data_to_pixel(a, t + 0.5, pitch)])      # the centre of cell (t, pitch)

  assert pixel(ax, 3, 60) == NOTE_RGB
  assert pixel(ax, 24, 64) == NOTE_RGB and pixel(ax, 20, 64) == NOTE_RGB
  assert pixel(ax, 4, 60) == WHITE and pixel(ax, 3, 61) == WHITE and pixel(ax, 10, 60) == WHITE
  assert pixel(fig.axes[2], 5, 72) == NOTE_RGB and pixel(fig.axes[2], 8, 72) == WHITE
  # the silent panel has no note colour at all
  r0, c0 = viz.data_to_pixel(fig.axes[1], 0, 74.5)
  r1, c1 = viz.data_to_pixel(fig.axes[1], 64, 57.5)
  inside = image[r0 + 1:r1, c0 + 1:c1].reshape(-1, 3)
  assert inside.size and not np.all(inside == NOTE_RGB, axis=1).any()
  # a note is at least 2 pixels wide and 3 tall
  top, left = viz.data_to_pixel(ax, 3, 60.5)
  bottom, right = viz.data_to_pixel(ax, 4, 59.5)
  assert right - left >= 2 and bottom - top >= 3


def test_figure_size_grows_with_panels_and_pictures_edge_cases():
  one = viz.pianoroll_figure([roll(16, 12, [(0, 0, 4)])], lowest_pitch=60, frames_per_beat=4)
  two = viz.pianoroll_figure([roll(16, 12, [(0, 0, 4)])] * 2, [roll(16, 12, [(5, 2, 3)])] * 2,
                             lowest_pitch=60, frames_per_beat=4)
  assert two.shape[0] > one.shape[0] and two.shape[1] > one.shape[1]
  # all silent, and one frame: drawn without error
  silent = viz.pianoroll_figure([np.zeros((32, 88))], lowest_pitch=21, frames_per_beat=4)
  assert silent.shape[2] == 3 and not np.all(silent == NOTE_RGB, axis=-1).any()
  fig = viz.draw_pianorolls([roll(1, 88, [(39, 0, 1)])], lowest_pitch=21, frames_per_beat=4)
  image = viz.figure_image(fig)
  assert tuple(image[viz.data_to_pixel(fig.axes[0], 0.5, 60)]) == NOTE_RGB
  # {-1, +1} rolls and [time, keys, planes] rolls read as roll_image reads them
  planes = np.zeros((4, 12, 2))
  planes[1, 5, 0] = 1
  fig = viz.draw_pianorolls([planes, 2 * planes[..., 0] - 1], lowest_pitch=60)
  image = viz.figure_image(fig)
  for ax in fig.axes:
    assert tuple(image[viz.data_to_pixel(ax, 1.5, 65)]) == NOTE_RGB
    assert tuple(image[viz.data_to_pixel(ax, 2.5, 65)]) == WHITE
    assert ax.get_xlabel() == 'frame'
  fig = viz.draw_pianorolls([roll(40, 12, [(0, 0, 4)])], seconds_per_frame=0.05)
  assert fig.axes[0].get_xlabel() == 'seconds'
  assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ['0', '1', '2']


def test_save_and_refusals(tmp_path):
  path = str(tmp_path / 'rolls.png')
  image = viz.save_pianoroll_figure(path, [roll(8, 12, [(3, 0, 2)])], lowest_pitch=60,
                                    frames_per_beat=2, title='samples')
  np.testing.assert_array_equal(np.asarray(Image.open(path).convert('RGB')), image)
  with pytest.raises(ValueError, match='no rolls'):
    viz.pianoroll_figure([])
  with pytest.raises(ValueError, match='titles'):
    viz.pianoroll_figure([roll(4, 12, [])], sample_titles=['a', 'b'])
  with pytest.raises(ValueError, match='frames_per_beat'):
    viz.pianoroll_figure([roll(4, 12, [])], frames_per_beat=0)
  with pytest.raises(ValueError, match='beats_per_bar'):
    viz.pianoroll_figure([roll(4, 12, [])], frames_per_beat=4, beats_per_bar=0)
