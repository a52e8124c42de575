"""The named-chord templates and the nearest-chord matcher, on hand-built filters."""

from __future__ import annotations

import numpy as np
import pytest

from dsjax.eval import chords


def test_templates_hold_the_chord_tones():
  np.testing.assert_array_equal(np.flatnonzero(chords.template('minor', 2)), [2, 5, 9])  # D F A
  np.testing.assert_array_equal(np.flatnonzero(chords.template('dominant 7th', 7)),
                                [2, 5, 7, 11])                                      # G B D F
  np.testing.assert_array_equal(np.flatnonzero(chords.template('diminished', 11)), [2, 5, 11])
  names, t = chords.templates()
  assert t.shape == (12 * len(chords.CHORD_TYPES), 12) and names[0] == ('major', 0)
  assert names[13] == ('minor', 1) and t[13].sum() == 3
  with pytest.raises(ValueError, match='chord kind'):
    chords.template('power', 0)


def test_correlation_by_hand():
  # C major weights against the C minor template: both mean 1/4; centred, they share +3/4 at C
  # and G, differ at E and D#, and share -1/4 at the 8 other keys:
  # (2 * 9/16 - 2 * 3/16 + 8/16) / (3 * 9/16 + 9/16) = (20/16) / (36/16) = 5/9
  w = chords.template('major', 0)
  names, _ = chords.templates()
  scores = chords.match_scores(w)
  assert scores[names.index(('minor', 0))] == pytest.approx(5 / 9)
  assert scores[names.index(('major', 0))] == pytest.approx(1.0)
  # scores of a kernel come column by column
  both = chords.match_scores(np.stack([w, chords.template('minor', 0)]))
  assert both.shape == (2, len(names)) and both[1, names.index(('minor', 0))] == pytest.approx(1)


@pytest.mark.parametrize('kind', list(chords.CHORD_TYPES))
def test_every_template_is_its_own_nearest_chord(kind):
  for root in range(12):
    match = chords.nearest_chord(chords.template(kind, root))
    assert match.score == pytest.approx(1.0)
    if kind == 'augmented':       # C aug = E aug = G# aug: the lowest root is named
      assert (match.kind, match.root) == ('augmented', root % 4)
    elif kind == 'sus4':          # C sus4 = F sus2 (same pitch classes): sus2 is named first
      assert (match.kind, match.root) == ('sus2', (root + 5) % 12)
    else:
      assert (match.kind, match.root) == (kind, root)


def test_offset_and_positive_scale_do_not_matter_and_noise_keeps_the_name():
  d_minor = chords.template('minor', 2)
  m = chords.nearest_chord(3.0 * d_minor - 1.5)
  assert m.name == 'D minor' and m.short_name == 'Dm' and m.score == pytest.approx(1.0)
  noisy = d_minor + np.random.default_rng(0).normal(0, 0.1, 12)
  m = chords.nearest_chord(noisy)
  assert m.name == 'D minor' and 0.9 < m.score < 1.0
  # a negated template is no match for it (anti-correlated)
  assert chords.match_scores(-d_minor)[chords.templates()[0].index(('minor', 2))] == (
      pytest.approx(-1.0))


def test_a_learned_looking_filter():
  # positive weights on B, D, F, G (a G dominant seventh: G B D F), small negative elsewhere
  w = np.full(12, -0.2)
  w[[11, 2, 5, 7]] = [0.9, 0.8, 0.7, 1.0]
  m = chords.nearest_chord(w)
  assert (m.kind, m.root, m.short_name) == ('dominant 7th', 7, 'G7')


def test_kernel_columns_constant_filters_and_bad_shapes():
  kernel = np.stack([chords.template('major', 9), chords.template('minor 7th', 4),
                     np.full(12, 0.3)], axis=1)          # [12, 3]
  ms = chords.nearest_chords(kernel)
  assert [m.name for m in ms[:2]] == ['A major', 'E minor 7th']
  assert ms[2].score == 0.0                              # a constant filter matches nothing
  with pytest.raises(ValueError, match=r'\[12, filters\]'):
    chords.nearest_chords(kernel.T)
  with pytest.raises(ValueError, match='shape'):
    chords.nearest_chord(np.zeros(11))
  with pytest.raises(ValueError, match=r'\[\.\.\., 12\]'):
    chords.match_scores(np.zeros((3, 13)))
