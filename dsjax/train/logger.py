"""TensorBoard logging (process 0 only): scalars, piano-roll images, audio, hparams."""

from __future__ import annotations

import os
from typing import Any, Mapping

import jax
import numpy as np
from absl import logging


class MetricWriter:
  """A thin wrapper over ``tensorboardX.SummaryWriter`` that is silent on processes other than 0."""

  def __init__(self, logdir: str, enabled: bool | None = None):
    self.enabled = (jax.process_index() == 0) if enabled is None else enabled
    self._writer = None
    if self.enabled:
      from tensorboardX import SummaryWriter
      os.makedirs(logdir, exist_ok=True)
      self._writer = SummaryWriter(logdir, flush_secs=10)

  def scalars(self, step: int, metrics: Mapping[str, Any], prefix: str = '') -> None:
    if not self.enabled:
      return
    for k, v in metrics.items():
      v = np.asarray(v)
      if v.ndim == 0 and np.issubdtype(v.dtype, np.number):
        self._writer.add_scalar(f'{prefix}{k}', float(v), step)

  def image(self, step: int, tag: str, image: np.ndarray) -> None:
    """``image``: uint8 ``[height, width]`` or RGB ``[height, width, 3]``."""
    if self.enabled:
      image = np.asarray(image)
      self._writer.add_image(tag, image, step, dataformats='HWC' if image.ndim == 3 else 'HW')

  def audio(self, step: int, tag: str, samples: np.ndarray, sample_rate: int) -> None:
    """``samples``: float ``[frames]`` in [-1, 1]."""
    if self.enabled and len(samples):
      try:
        self._writer.add_audio(tag, np.asarray(samples, np.float32), step, sample_rate=sample_rate)
      except Exception as e:  # pylint: disable=broad-except
        logging.warning('audio summary %s failed: %s', tag, e)

  def hparams(self, hparams: Mapping[str, Any], metrics: Mapping[str, float]) -> None:
    if not self.enabled:
      return
    flat = {k: (v if isinstance(v, (int, float, str, bool)) else str(v))
            for k, v in hparams.items()}
    self._writer.add_hparams(flat, {f'hparam/{k}': float(v) for k, v in metrics.items()},
                             name='hparams')

  def flush(self) -> None:
    if self.enabled:
      self._writer.flush()

  def close(self) -> None:
    if self.enabled:
      self._writer.close()
