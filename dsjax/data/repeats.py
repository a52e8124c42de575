"""Repeat expansion of music21 scores: play repeats out, with implied start repeats added.

:func:`expand_score_repeats` is what the music21 corpus source (:mod:`dsjax.data.corpora`,
``expand_repeats=True``) applies to every score before reading its notes. It first marks, with
:func:`add_implied_start_repeats`, the start of every repeated section the score leaves implicit
(music21's ``expandRepeats`` would otherwise go back to the beginning), then falls back to the
score as written when music21 fails or the expansion is implausibly long. music21 is imported
only when these functions run.
"""

from __future__ import annotations


def add_implied_start_repeats(part) -> int:
  """Marks where each repeat begins when the score leaves it implicit; returns how many it added.

  In ABC (and common practice) an end repeat with no start repeat since the previous end repeat
  goes back to just after that previous end repeat (or past its 1st/2nd-ending brackets), not to
  the beginning. music21's ``expandRepeats`` goes back to the beginning, which replays every
  earlier section again and grows a tune of k such sections 2**k-fold. Works in place on the
  part's measures (left barlines).
  """
  from music21 import bar  # pylint: disable=g-import-not-at-top

  measures = list(part.getElementsByClass('Measure'))
  in_bracket = {id(m) for rb in part.spannerBundle.getByClass('RepeatBracket')
                for m in rb.getSpannedElements()}
  added, section_start, has_start = 0, 0, False
  for i, m in enumerate(measures):
    left, right = m.leftBarline, m.rightBarline
    if isinstance(left, bar.Repeat) and left.direction == 'start':
      has_start = True
    if isinstance(right, bar.Repeat) and right.direction == 'end':
      if not has_start and 0 < section_start <= i:
        measures[section_start].leftBarline = bar.Repeat(direction='start')
        added += 1
      has_start = False
      section_start = i + 1
      while section_start < len(measures) and id(measures[section_start]) in in_bracket:
        section_start += 1
    if isinstance(right, bar.Repeat) and right.direction == 'start':
      has_start = True
  return added


def expand_score_repeats(score, max_factor: float = 4.0):
  """Plays a score's repeats out; the score as written if music21 fails or the result is more
  than ``max_factor`` times as long (a malformed repeat structure)."""
  try:
    for part in list(score.parts) or [score]:
      add_implied_start_repeats(part)
    expanded = score.expandRepeats()
  except Exception:  # pylint: disable=broad-except
    return score
  written = float(score.highestTime)
  if written > 0 and float(expanded.highestTime) > max_factor * written:
    return score
  return expanded
