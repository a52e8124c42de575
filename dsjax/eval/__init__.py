"""Evaluation figures computed on generated and real music (pure numpy)."""

from __future__ import annotations

from dsjax.eval.music_stats import (
    js_divergence,
    mean_pairwise_distance,
    note_density,
    pitch_class_histogram_of_rolls,
    polyphony,
    silent_fraction,
)

__all__ = ['js_divergence', 'mean_pairwise_distance', 'note_density',
           'pitch_class_histogram_of_rolls', 'polyphony', 'silent_fraction']
