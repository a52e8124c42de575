"""Piano-roll pictures: ``[time, pitch]`` rolls to images (low pitches at the bottom) and PNG files.

Two kinds:

* Plain strips, no axes (:func:`roll_image`, :func:`stack_images`, :func:`rolls_panel`): uint8
  ``[height, width]``, one pixel block per cell, cheap.
* Labelled figures drawn with matplotlib (:func:`pianoroll_figure`): one panel per roll with its
  title, pitch names on the key axis (every C: C3, C4, ...), bar and beat lines and bar numbers on
  the time axis, generated rolls in the left column and real ones in the right, all panels on one
  time and pitch scale. They come back as RGB uint8 ``[height, width, 3]`` (for TensorBoard's
  ``add_image(..., dataformats='HWC')``); :func:`save_png` writes either kind::

    from dsjax import viz
    image = viz.pianoroll_figure(samples, real, real_titles=names,
                                 **viz.figure_options(roll_cfg))   # lowest pitch, beat grid
    viz.save_png(image, 'pianoroll.png')

  :func:`draw_pianorolls` gives the matplotlib ``Figure`` itself (to add to it), and
  :func:`figure_image` renders a figure. Drawing uses the Agg canvas directly: no display, no
  pyplot state.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np


def roll_image(roll: np.ndarray, *, scale: int = 2, crop: bool = False) -> np.ndarray:
  """``[time, pitch]`` values in [0, 1] (or {-1, +1}) -> uint8 image ``[pitch*scale, time*scale]``.

  White = sounding. With ``crop`` the pitch axis is trimmed to the used range (plus a margin).
  """
  roll = np.asarray(roll, np.float32)
  if roll.ndim == 3:  # [time, pitch, planes]: show the sounding plane
    roll = roll[..., 0]
  if roll.min() < 0:
    roll = (roll + 1.0) / 2.0
  roll = np.clip(roll, 0.0, 1.0)
  if crop and roll.any():
    used = np.nonzero(roll.max(0) > 0)[0]
    lo, hi = max(0, used[0] - 2), min(roll.shape[1], used[-1] + 3)
    roll = roll[:, lo:hi]
  img = (roll.T[::-1] * 255).astype(np.uint8)
  if scale > 1:
    img = np.repeat(np.repeat(img, scale, 0), scale, 1)
  return img


def stack_images(images: Sequence[np.ndarray], *, gap: int = 4, axis: int = 0,
                 fill: int = 96) -> np.ndarray:
  """Stacks 2-D uint8 images with a grey gap, padding the other axis to the largest."""
  images = [np.asarray(i, np.uint8) for i in images]
  other = 1 - axis
  size = max(i.shape[other] for i in images)
  parts = []
  for k, img in enumerate(images):
    pad = [(0, 0), (0, 0)]
    pad[other] = (0, size - img.shape[other])
    parts.append(np.pad(img, pad, constant_values=fill))
    if k < len(images) - 1:
      shape = [0, 0]
      shape[axis], shape[other] = gap, size
      parts.append(np.full(shape, fill, np.uint8))
  return np.concatenate(parts, axis=axis)


def rolls_panel(samples: Sequence[np.ndarray], real: Sequence[np.ndarray] = (),
                scale: int = 2) -> np.ndarray:
  """One picture: generated rolls on the left column, real rolls on the right column."""
  left = stack_images([roll_image(r, scale=scale) for r in samples]) if len(samples) else None
  if not len(real):
    return left
  right = stack_images([roll_image(r, scale=scale) for r in real])
  return stack_images([left, right], axis=1, gap=8)


def save_png(image: np.ndarray, path: str) -> None:
  """Writes a uint8 image, grey ``[height, width]`` or RGB ``[height, width, 3]``, as a PNG."""
  from PIL import Image
  Image.fromarray(np.asarray(image, np.uint8)).save(path)


# ---------------------------------------------------------------------------------------------
# Labelled figures (matplotlib).

PITCH_NAMES = ('C', 'C#', 'D', 'D#', 'E', 'F', 'F#', 'G', 'G#', 'A', 'A#', 'B')
NOTE_COLOUR = '#17378c'
_GRID = dict(beat=('#d9d9d9', 0.5), bar=('#8c8c8c', 0.9), octave=('#e6e6e6', 0.5))


def pitch_name(pitch: int) -> str:
  """MIDI pitch -> scientific pitch name: 60 -> ``'C4'`` (middle C), 69 -> ``'A4'``, 21 ->
  ``'A0'``, 0 -> ``'C-1'``."""
  pitch = int(pitch)
  return f'{PITCH_NAMES[pitch % 12]}{pitch // 12 - 1}'


def key_labels(low: int, high: int) -> list[tuple[int, str]]:
  """The key axis' labels: ``(pitch, name)`` of every C among MIDI pitches ``low..high``
  (inclusive), lowest first; e.g. ``key_labels(55, 74)`` -> ``[(60, 'C4'), (72, 'C5')]``."""
  first = -(-int(low) // 12) * 12
  return [(p, pitch_name(p)) for p in range(first, int(high) + 1, 12)]


def figure_options(roll_cfg) -> dict[str, Any]:
  """The :func:`pianoroll_figure` options of rolls encoded with a
  :class:`dsjax.data.pianoroll.RollConfig`: ``lowest_pitch``, and ``frames_per_beat`` on a beat
  grid or ``seconds_per_frame`` on a seconds grid."""
  options: dict[str, Any] = {'lowest_pitch': int(roll_cfg.lowest_pitch)}
  if roll_cfg.grid == 'beats':
    options['frames_per_beat'] = 1.0 / float(roll_cfg.step)
  else:
    options['seconds_per_frame'] = float(roll_cfg.step)
  return options


def _roll_values(roll) -> np.ndarray:
  """A roll as float ``[time, keys]`` in [0, 1] (as :func:`roll_image` reads it)."""
  r = np.asarray(roll, np.float32)
  if r.ndim == 3:   # [time, keys, planes]: the sounding plane
    r = r[..., 0]
  if r.ndim != 2:
    raise ValueError(f'roll: expected [time, keys] or [time, keys, planes], got shape {r.shape}')
  if r.size and r.min() < 0:
    r = (r + 1.0) / 2.0
  return np.clip(r, 0.0, 1.0)


def shown_pitches(rolls: Sequence[np.ndarray], lowest_pitch: int = 0, *, crop: bool = True,
                  margin: int = 2) -> tuple[int, int]:
  """The MIDI pitches ``(low, high)`` (inclusive) drawn for all of ``rolls``: the full key range,
  or with ``crop`` the sounding range widened by ``margin`` keys each side and then to at least an
  octave (so one C is labelled), within the keys the rolls have. Silent rolls show every key."""
  rolls = [_roll_values(r) for r in rolls]
  keys = max((r.shape[1] for r in rolls), default=0)
  if keys == 0:
    raise ValueError('shown_pitches: no keys to draw')
  lo, hi = 0, keys - 1
  used = np.zeros(keys, bool)
  for r in rolls:
    used[:r.shape[1]] |= (r > 0).any(0)
  if crop and used.any():
    on = np.flatnonzero(used)
    lo, hi = max(0, on[0] - margin), min(keys - 1, on[-1] + margin)
    short = 12 - (hi - lo)
    if short > 0:
      lo = max(0, lo - (short + 1) // 2)
      hi = min(keys - 1, lo + 12)
      lo = max(0, hi - 12)
  return int(lowest_pitch) + lo, int(lowest_pitch) + hi


def _clamp(x: float, low: float, high: float) -> float:
  return min(high, max(low, x))


def _time_axis(ax, frames: int, frame_px: float, frames_per_beat, beats_per_bar: int,
               seconds_per_frame) -> None:
  """Beat and bar lines with bar numbers (or seconds, or frames) on the time axis of ``ax``;
  beat lines closer than 4 pixels are left out."""
  if frames_per_beat:
    fpb = float(frames_per_beat)
    beats = np.arange(0.0, frames + 1e-9, fpb)
    bars = beats[::int(beats_per_bar)]
    if fpb * frame_px >= 4:
      ax.vlines(beats, 0, 1, transform=ax.get_xaxis_transform(), colors=_GRID['beat'][0],
                linewidths=_GRID['beat'][1], zorder=0)
    ax.vlines(bars, 0, 1, transform=ax.get_xaxis_transform(), colors=_GRID['bar'][0],
              linewidths=_GRID['bar'][1], zorder=0)
    starts = bars[bars < frames]                                # bar k's number at its start
    every = max(1, math.ceil(len(starts) / 16))                 # at most 16 bar numbers
    ax.set_xticks(starts[::every], [str(1 + i) for i in range(0, len(starts), every)])
    ax.set_xlabel('bar', fontsize=7, labelpad=1)
  elif seconds_per_frame:
    seconds = frames * float(seconds_per_frame)
    step = next((s for s in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600) if seconds / s <= 16),
                math.ceil(seconds / 16))                        # at most 16 marks
    marks = np.arange(0.0, seconds + 1e-9, step)
    ax.vlines(marks / float(seconds_per_frame), 0, 1, transform=ax.get_xaxis_transform(),
              colors=_GRID['beat'][0], linewidths=_GRID['beat'][1], zorder=0)
    ax.set_xticks(marks / float(seconds_per_frame), [f'{m:g}' for m in marks])
    ax.set_xlabel('seconds', fontsize=7, labelpad=1)
  else:
    ax.set_xlabel('frame', fontsize=7, labelpad=1)


def draw_pianorolls(samples: Sequence[np.ndarray], real: Sequence[np.ndarray] = (), *,
                    lowest_pitch: int = 0, frames_per_beat: float | None = None,
                    beats_per_bar: int = 4, seconds_per_frame: float | None = None,
                    sample_titles: Sequence[str] | None = None,
                    real_titles: Sequence[str] | None = None, crop: bool = True,
                    margin: int = 2, title: str | None = None):
  """Draws labelled piano rolls; returns the matplotlib ``Figure`` (see :func:`pianoroll_figure`
  for the arguments). Panel ``i`` of the samples is ``figure.axes[i]``, then the real ones."""
  from matplotlib.backends.backend_agg import FigureCanvasAgg
  from matplotlib.colors import LinearSegmentedColormap
  from matplotlib.figure import Figure

  samples = [_roll_values(r) for r in samples]
  real = [_roll_values(r) for r in real]
  if not samples and not real:
    raise ValueError('draw_pianorolls: no rolls to draw')
  if frames_per_beat is not None and not float(frames_per_beat) > 0:
    raise ValueError(f'frames_per_beat must be positive, got {frames_per_beat!r}')
  if not (int(beats_per_bar) == beats_per_bar and beats_per_bar >= 1):
    raise ValueError(f'beats_per_bar must be a positive whole number, got {beats_per_bar!r}')
  sample_titles = list(sample_titles or [f'sample {i}' for i in range(len(samples))])
  real_titles = list(real_titles or [f'real {i}' for i in range(len(real))])
  if len(sample_titles) != len(samples) or len(real_titles) != len(real):
    raise ValueError(f'{len(sample_titles)} sample titles for {len(samples)} samples, '
                     f'{len(real_titles)} real titles for {len(real)} real rolls')
  rolls = samples + real
  low, high = shown_pitches(rolls, lowest_pitch, crop=crop, margin=margin)
  frames = max(1, max(r.shape[0] for r in rolls))
  columns = [c for c in (list(zip(samples, sample_titles)), list(zip(real, real_titles))) if c]
  rows = max(len(c) for c in columns)

  # Pixels per cell: 2 to 8 wide and 3 to 8 tall, for panels near 900 x 300 pixels (wider for
  # rolls of more than 450 frames).
  keys = high - low + 1
  frame_px = _clamp(900.0 / frames, 2.0, 8.0)
  key_px = _clamp(300.0 / keys, 3.0, 8.0)
  dpi = 100
  panel_w, panel_h = frames * frame_px, keys * key_px
  width = len(columns) * (panel_w + 70) + 10
  top = 24 if title else 8
  height = rows * (panel_h + 50) + top
  # Panels are placed by hand, in pixels (a layout engine costs about a third of the drawing
  # time, and the loop draws a figure at every evaluation): each cell of the grid is the panel
  # plus 48 px on its left for the key names, 16 px above for its title and 34 px below for the
  # time axis.
  fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
  FigureCanvasAgg(fig)
  # silent cells are masked and transparent: the grid lines below them show
  cmap = LinearSegmentedColormap.from_list('roll', ['#ffffff', NOTE_COLOUR]).with_extremes(
      bad=(1.0, 1.0, 1.0, 0.0))
  labels = key_labels(low, high)
  for c, column in enumerate(columns):
    for r, (roll, name) in enumerate(column):
      left = 5 + c * (panel_w + 70) + 48
      bottom = top + r * (panel_h + 50) + 16 + panel_h            # from the figure's top
      ax = fig.add_axes((left / width, 1 - bottom / height, panel_w / width, panel_h / height))
      cells = np.ma.masked_less_equal(roll.T, 0.0)   # [keys, time]
      ax.imshow(cells, origin='lower', aspect='auto', interpolation='nearest', cmap=cmap,
                vmin=0.0, vmax=1.0, zorder=1,
                extent=(0, roll.shape[0], lowest_pitch - 0.5, lowest_pitch + roll.shape[1] - 0.5))
      ax.set_xlim(0, frames)
      ax.set_ylim(low - 0.5, high + 0.5)
      ax.hlines([p - 0.5 for p, _ in labels], 0, 1, transform=ax.get_yaxis_transform(),
                colors=_GRID['octave'][0], linewidths=_GRID['octave'][1], zorder=0)
      ax.set_yticks([p for p, _ in labels], [n for _, n in labels])
      _time_axis(ax, frames, frame_px, frames_per_beat, beats_per_bar, seconds_per_frame)
      ax.tick_params(labelsize=7, length=2, pad=1)
      ax.set_title(name, fontsize=8, pad=2)
  if title:
    fig.suptitle(title, fontsize=9, y=1 - 4 / height, va='top')
  return fig


def figure_image(fig) -> np.ndarray:
  """Renders a matplotlib figure (with an Agg canvas) -> RGB uint8 ``[height, width, 3]``."""
  fig.canvas.draw()
  return np.array(fig.canvas.buffer_rgba())[..., :3]


def data_to_pixel(ax, time: float, pitch: float) -> tuple[int, int]:
  """The ``(row, column)`` of :func:`figure_image`'s image at time ``time`` (frames) and MIDI pitch
  ``pitch`` of panel ``ax``, after the figure is drawn. Cell (t, key k) is centred at
  ``(t + 0.5, lowest_pitch + k)``."""
  x, y = ax.transData.transform((time, pitch))
  height = ax.figure.canvas.get_width_height()[1]
  return int(math.floor(height - y)), int(math.floor(x))


def pianoroll_figure(samples: Sequence[np.ndarray], real: Sequence[np.ndarray] = (),
                     **options) -> np.ndarray:
  """Labelled piano rolls as one RGB uint8 image ``[height, width, 3]``.

  Args:
    samples: rolls ``[time, keys]`` (values in [0, 1], or {-1, +1}; grey levels are drawn as
      paler notes; ``[time, keys, planes]`` shows plane 0), drawn down the left column.
    real: rolls of real music, down the right column (none: one column).
    lowest_pitch: MIDI pitch of key 0 (``RollConfig.lowest_pitch``; 21 for 88 keys).
    frames_per_beat: with it the time axis has beat lines, bar lines and bar numbers; without it,
      ``seconds_per_frame`` gives a seconds axis, and neither a frame axis.
    beats_per_bar: beats between bar lines (4).
    sample_titles / real_titles: a title per panel (default ``sample i`` / ``real i``).
    crop: draw only the sounding pitch range of all rolls (plus ``margin`` keys, at least an
      octave); every panel shares the pitch and time scale.
    title: a title over the whole figure.

  A cell is 2 to 8 pixels wide and 3 to 8 tall, for panels about 900 x 300 pixels: rolls longer
  than 450 frames give wider images (pass windows). The image grows with the number of panels.
  """
  fig = draw_pianorolls(samples, real, **options)
  return figure_image(fig)


def save_pianoroll_figure(path: str, samples: Sequence[np.ndarray],
                          real: Sequence[np.ndarray] = (), **options) -> np.ndarray:
  """Writes :func:`pianoroll_figure` as a PNG at ``path`` and returns the image."""
  image = pianoroll_figure(samples, real, **options)
  save_png(image, path)
  return image
