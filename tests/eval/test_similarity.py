"""BLEU against hand-computed values; LCS against a reference DP and known cases; LCS speed."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from dsjax.data.events import EventVocab, encode_events
from dsjax.data.notes import make_notes
from dsjax.eval import similarity as sim


def _lcs_reference(a, b) -> int:
  dp = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
  for i, x in enumerate(a):
    for j, y in enumerate(b):
      dp[i + 1][j + 1] = dp[i][j] + 1 if x == y else max(dp[i][j + 1], dp[i + 1][j])
  return dp[-1][-1]


def test_bleu_identical_is_one():
  seq = [1, 2, 3, 4, 5, 6]
  r = sim.corpus_bleu([seq], [seq])
  assert r.bleu == pytest.approx(1.0)
  assert r.brevity_penalty == 1.0
  assert r.matches == (6, 5, 4, 3) and r.totals == (6, 5, 4, 3)


def test_bleu_hand_computed_with_brevity_penalty():
  # p1 = 5/6, p2 = 4/5, p3 = 3/4, p4 = 2/3 -> geometric mean (1/3)**(1/4); c = 6 < r = 7.
  r = sim.corpus_bleu([[1, 2, 3, 4, 5, 9]], [[1, 2, 3, 4, 5, 6, 7]])
  assert r.precisions == pytest.approx((5 / 6, 4 / 5, 3 / 4, 2 / 3))
  assert r.brevity_penalty == pytest.approx(math.exp(1 - 7 / 6))
  assert r.bleu == pytest.approx(math.exp(1 - 7 / 6) * (1 / 3) ** 0.25)


def test_bleu_clipping_and_zero():
  # The classic "the the the ..." case: unigram precision clipped to 2/7, no bigram match -> 0.
  r = sim.corpus_bleu([['the'] * 7], [['the', 'cat', 'is', 'on', 'the', 'mat']])
  assert r.matches[0] == 2 and r.totals[0] == 7
  assert r.matches[1] == 0 and r.bleu == 0.0


def test_bleu_is_corpus_level_and_takes_several_references():
  # Sentence 1: hyp [1,2,3,4] vs ref [1,2,3,4]: all 4+3+2+1 n-grams match.
  # Sentence 2: hyp [5,6,7,8,9] vs refs [5,6,7,0,9] (len 5) and [6,7,8] (len 3):
  #   unigrams 5 of 5 (5,6,7,9 from ref 1, 8 from ref 2); bigrams (5,6),(6,7),(7,8) = 3 of 4;
  #   trigrams (5,6,7),(6,7,8) = 2 of 3; 4-grams 0 of 2. Closest ref length 5.
  hyps = [[1, 2, 3, 4], [5, 6, 7, 8, 9]]
  refs = [[1, 2, 3, 4], [[5, 6, 7, 0, 9], [6, 7, 8]]]
  r = sim.corpus_bleu(hyps, refs)
  assert r.matches == (9, 6, 4, 1) and r.totals == (9, 7, 5, 3)
  assert r.hyp_length == 9 and r.ref_length == 9 and r.brevity_penalty == 1.0
  expected = (9 / 9 * 6 / 7 * 4 / 5 * 1 / 3) ** 0.25
  assert r.bleu == pytest.approx(expected)
  # Sentence-level 2 alone has no 4-gram match: its BLEU is 0, the corpus BLEU is not.
  assert sim.sentence_bleu(hyps[1], refs[1]) == 0.0
  # Arrays work as token sequences; max_n = 2 uses bigrams only.
  r2 = sim.corpus_bleu([np.array(h) for h in hyps], [np.array(refs[0]), refs[1]], max_n=2)
  assert r2.bleu == pytest.approx((6 / 7) ** 0.5)


def test_bleu_closest_reference_length_prefers_shorter_on_ties():
  # hyp length 4; refs of length 3 and 5 are equally close -> r = 3 (no penalty since c >= r).
  r = sim.corpus_bleu([[1, 2, 3, 4]], [[[1, 2, 3], [1, 2, 3, 4, 5]]])
  assert r.ref_length == 3 and r.brevity_penalty == 1.0


def test_bleu_errors():
  with pytest.raises(ValueError, match='hypotheses'):
    sim.corpus_bleu([[1]], [])


def test_lcs_known_values():
  # Cormen et al.'s example: ABCBDAB vs BDCABA -> 4.
  a = [ord(c) for c in 'ABCBDAB']
  b = [ord(c) for c in 'BDCABA']
  assert sim.lcs_length(a, b) == 4
  assert sim.lcs_length([], b) == 0
  assert sim.lcs_length(a, []) == 0
  assert sim.lcs_length([1, 2, 3], [3, 2, 1]) == 1
  assert list(sim.lcs_lengths([60, 62, 64], [[60, 62, 64], [64, 62], [0], []])) == [3, 1, 0, 0]


def test_lcs_matches_reference_dp():
  rng = np.random.default_rng(0)
  for _ in range(30):
    a = rng.integers(0, 5, rng.integers(0, 25))
    refs = [rng.integers(0, 5, rng.integers(0, 30)) for _ in range(4)]
    want = [_lcs_reference(a.tolist(), r.tolist()) for r in refs]
    assert sim.lcs_lengths(a, refs).tolist() == want
    assert sim.lcs_lengths(a, refs, chunk_size=1).tolist() == want     # chunks of any size
    assert sim.lcs_lengths(a, refs, chunk_size=3).tolist() == want


def test_plagiarism_check_finds_the_copied_piece():
  rng = np.random.default_rng(1)
  train = [rng.integers(40, 80, n) for n in (50, 80, 60)]
  copied = train[1][10:40]
  r = sim.plagiarism_check(copied, train, names=['a', 'b', 'c'])
  assert r.max_ratio == 1.0 and r.index == 1 and r.name == 'b'
  assert r.lcs[1] == 30 and r.ratios.shape == (3,)
  with pytest.raises(ValueError, match='no notes'):
    sim.plagiarism_check([], train)


def test_pitch_extraction():
  notes = make_notes([64, 60, 67], [0.5, 0.0, 0.5], [1.0, 0.5, 1.0])
  vocab = EventVocab()
  ids = encode_events(notes, vocab)
  assert sim.note_on_pitches(ids, vocab).tolist() == [60, 64, 67]
  assert sim.piece_pitches(notes).tolist() == [60, 64, 67]


def test_lcs_speed_400_pieces_500_notes():
  rng = np.random.default_rng(2)
  train = [rng.integers(36, 84, rng.integers(300, 700)) for _ in range(399)]
  train.append(rng.integers(36, 84, 4000))      # one long piece (as in the Bach corpus)
  generated = rng.integers(36, 84, 500)
  t = time.perf_counter()
  r = sim.plagiarism_check(generated, train)
  elapsed = time.perf_counter() - t
  assert 0 < r.max_ratio < 1
  assert elapsed < 10.0, elapsed


def _run_reference(a, b) -> int:
  """Longest common substring by brute force."""
  best = 0
  for i in range(len(a)):
    for j in range(len(b)):
      n = 0
      while i + n < len(a) and j + n < len(b) and a[i + n] == b[j + n]:
        n += 1
      best = max(best, n)
  return best


def test_longest_common_runs_known_values_and_reference():
  assert sim.longest_common_runs([1, 2, 3, 9, 4, 5], [[0, 1, 2, 3, 4, 5], [9], [7, 8], []]
                                 ).tolist() == [3, 1, 0, 0]
  # a subsequence is no run: LCS 4, longest run 1
  assert sim.lcs_length([1, 2, 3, 4], [1, 0, 2, 0, 3, 0, 4]) == 4
  assert sim.longest_common_runs([1, 2, 3, 4], [[1, 0, 2, 0, 3, 0, 4]]).tolist() == [1]
  assert sim.longest_common_runs([], [[1]]).tolist() == [0]
  rng = np.random.default_rng(3)
  for _ in range(20):
    a = rng.integers(0, 3, rng.integers(1, 12))
    refs = [rng.integers(0, 3, rng.integers(0, 15)) for _ in range(5)]
    want = [_run_reference(a.tolist(), r.tolist()) for r in refs]
    assert sim.longest_common_runs(a, refs, chunk_size=2).tolist() == want


def test_longest_copy_finds_the_copied_passage():
  rng = np.random.default_rng(4)
  train = [rng.integers(40, 80, n) for n in (50, 80, 60)]
  generated = np.concatenate([[1, 2], train[2][5:25], [3]])
  r = sim.longest_copy(generated, train, names=['a', 'b', 'c'])
  assert (r.length, r.index, r.name) == (20, 2, 'c') and r.ratio == 20 / 23
  with pytest.raises(ValueError, match='no notes'):
    sim.longest_copy([], train)
  with pytest.raises(ValueError, match='2 names for 3'):
    sim.longest_copy(generated, train, names=['a', 'b'])
