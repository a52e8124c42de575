"""Piano-roll pictures: ``[time, pitch]`` rolls to images (low pitches at the bottom) and PNG files."""

from __future__ import annotations

from typing import Sequence

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
  from PIL import Image
  Image.fromarray(np.asarray(image, np.uint8)).save(path)
