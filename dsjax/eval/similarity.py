"""How close generated music is to real music: BLEU (log 10/10, 10/15) and the LCS plagiarism
check (log 10/15, 10/20).

* :func:`corpus_bleu`: Papineni et al.'s BLEU over token sequences (event ids or names):
  clipped n-gram precisions for n = 1..``max_n`` summed over the whole corpus, their geometric mean
  (uniform weights), times the brevity penalty ``exp(1 - r / c)`` when the total hypothesis length
  ``c`` is below the total closest-reference length ``r``. No smoothing: a corpus without a single
  matching n-gram for some n scores 0 (as ``nltk.translate.bleu_score.corpus_bleu``). The original
  code used ``nltk.bleu([reference], hypothesis)`` per sentence; :func:`sentence_bleu` is that.
* :func:`lcs_lengths` / :func:`plagiarism_check`: the longest common subsequence of a generated
  note (pitch) sequence with every training piece, as a ratio of the generated length (the
  original printed raw counts only). The DP runs one row per generated note over all pieces at
  once (pieces sorted by length, in chunks padded to their longest), using
  ``row_i[j] = max_{k <= j} max(row_{i-1}[k], row_{i-1}[k-1] + [a_i == b_k])``, i.e. a cumulative
  max: ~400 pieces x ~500 notes take well under a second.
* :func:`longest_common_runs` / :func:`longest_copy`: the longest run of consecutive notes a
  generated sequence shares with each training piece (longest common substring). The LCS ratio
  of a short sequence against a long piece is high for any music of the same style (a
  subsequence may skip any notes of the piece), so the longest copied run is the stronger sign of
  copying.
"""

from __future__ import annotations

import collections
import dataclasses
import math
from typing import Hashable, Sequence

import numpy as np

from dsjax.data.events import EventVocab
from dsjax.data.notes import Piece

# --------------------------------------------------------------------------------------------
# BLEU.


def _tokens(seq) -> tuple:
  if isinstance(seq, np.ndarray):
    if seq.ndim != 1:
      raise ValueError(f'a token sequence must be 1-D, got shape {seq.shape}')
    return tuple(seq.tolist())
  return tuple(seq)


def _ngrams(tokens: tuple, n: int) -> collections.Counter:
  return collections.Counter(tokens[i:i + n] for i in range(len(tokens) - n + 1))


@dataclasses.dataclass(frozen=True)
class BleuResult:
  """Corpus BLEU and its parts.

  Attributes:
    bleu: the score in [0, 1].
    precisions: clipped n-gram precision for n = 1..max_n (``matches / totals``; 0 when empty).
    matches, totals: clipped matching n-grams and hypothesis n-grams, summed over the corpus.
    brevity_penalty: ``exp(1 - r / c)`` if ``c < r`` else 1 (0 for an empty corpus).
    hyp_length, ref_length: ``c`` and ``r`` (closest reference length per hypothesis, the shorter
      one on ties).
  """
  bleu: float
  precisions: tuple[float, ...]
  matches: tuple[int, ...]
  totals: tuple[int, ...]
  brevity_penalty: float
  hyp_length: int
  ref_length: int


def corpus_bleu(hypotheses: Sequence[Sequence[Hashable]],
                references: Sequence[Sequence[Sequence[Hashable]]] | Sequence[Sequence[Hashable]],
                max_n: int = 4) -> BleuResult:
  """Corpus-level BLEU of ``hypotheses[i]`` against ``references[i]``.

  Args:
    hypotheses: generated token sequences (lists, tuples or 1-D arrays of hashable tokens).
    references: per hypothesis, either one reference sequence or a list of reference sequences
      (a list whose items are themselves sequences is read as several references; a 2-D array as
      several references of equal length).
    max_n: largest n-gram order (uniform weights ``1 / max_n``).
  """
  if len(hypotheses) != len(references):
    raise ValueError(f'{len(hypotheses)} hypotheses but {len(references)} reference entries')
  if max_n < 1:
    raise ValueError(f'max_n must be >= 1, got {max_n}')
  matches = [0] * max_n
  totals = [0] * max_n
  c = r = 0
  for hyp, refs in zip(hypotheses, references):
    hyp = _tokens(hyp)
    refs = _reference_list(refs)
    c += len(hyp)
    r += min((len(x) for x in refs), key=lambda L: (abs(L - len(hyp)), L))
    for n in range(1, max_n + 1):
      counts = _ngrams(hyp, n)
      if not counts:
        continue
      max_ref: collections.Counter = collections.Counter()
      for ref in refs:
        max_ref |= _ngrams(ref, n)
      matches[n - 1] += sum(min(k, max_ref[g]) for g, k in counts.items())
      totals[n - 1] += sum(counts.values())
  precisions = tuple(m / t if t else 0.0 for m, t in zip(matches, totals))
  if c == 0:
    bp = 0.0
  else:
    bp = 1.0 if c >= r else math.exp(1.0 - r / c)
  if min(matches) == 0:
    bleu = 0.0
  else:
    bleu = bp * math.exp(sum(math.log(p) for p in precisions) / max_n)
  return BleuResult(bleu, precisions, tuple(matches), tuple(totals), bp, c, r)


def _reference_list(refs) -> list[tuple]:
  if isinstance(refs, np.ndarray):
    if refs.ndim == 1:
      return [_tokens(refs)]
    if refs.ndim == 2:
      return [_tokens(x) for x in refs]
    raise ValueError(f'references must be 1-D or 2-D arrays, got shape {refs.shape}')
  refs = list(refs)
  if refs and all(isinstance(x, (list, tuple, np.ndarray)) for x in refs):
    return [_tokens(np.asarray(x) if isinstance(x, np.ndarray) else x) for x in refs]
  if not refs:
    raise ValueError('empty reference list')
  return [tuple(refs)]


def sentence_bleu(hypothesis: Sequence[Hashable], references, max_n: int = 4) -> float:
  """BLEU of one hypothesis (the original's ``nltk.bleu([reference], hypothesis)``)."""
  return corpus_bleu([hypothesis], [references], max_n).bleu


# --------------------------------------------------------------------------------------------
# LCS plagiarism check.


def note_on_pitches(ids, vocab: EventVocab = EventVocab()) -> np.ndarray:
  """The pitches of the note-on events of an event sequence, in order: ``int64 [n_notes]``
  (what the original's LCS check kept: ids below 128)."""
  ids = np.asarray(ids).reshape(-1)
  on = (ids >= vocab.note_on_offset) & (ids < vocab.note_on_offset + 128)
  return (ids[on] - vocab.note_on_offset).astype(np.int64)


def piece_pitches(piece: Piece | np.ndarray) -> np.ndarray:
  """The pitches of a piece's notes in onset order (ties by pitch): ``int64 [n_notes]``."""
  notes = piece.notes if isinstance(piece, Piece) else np.asarray(piece)
  order = np.lexsort((notes['pitch'], notes['start']))
  return notes['pitch'][order].astype(np.int64)


def _int_sequence(seq, what: str) -> np.ndarray:
  arr = np.asarray(seq).reshape(-1)
  if arr.size and arr.dtype.kind not in 'iub':
    raise ValueError(f'{what}: LCS needs integer sequences, got dtype {arr.dtype}')
  return arr.astype(np.int64)


def lcs_length(a: Sequence[int], b: Sequence[int]) -> int:
  """Length of the longest common subsequence of two integer sequences."""
  return int(lcs_lengths(a, [b])[0])


def lcs_lengths(query: Sequence[int], references: Sequence[Sequence[int]], *,
                chunk_size: int = 32) -> np.ndarray:
  """LCS length of ``query [n]`` with each of ``references`` (ragged): ``int64 [len(references)]``.

  One DP row per query item over ``chunk_size`` references at once (sorted by length, each chunk
  padded to its longest): memory ``O(chunk_size * max_len)``, time about ``O(n * total_len)``.
  """
  return _over_chunks(_lcs_padded, query, references, chunk_size)


def _over_chunks(padded_fn, query, references, chunk_size: int) -> np.ndarray:
  """``padded_fn(q, table)`` over the references in chunks: ``int64 [len(references)]``.

  References are sorted by length and cut into chunks of ``chunk_size``, each padded to its own
  longest (the padded cells stay close to the total length even when one piece is much longer
  than the others) with a value below every item, so that padding never matches: ``table
  int64 [chunk, width]``, at least one column wide."""
  q = _int_sequence(query, 'query')
  refs = [_int_sequence(r, f'reference {i}') for i, r in enumerate(references)]
  out = np.zeros(len(refs), np.int64)
  if not refs or len(q) == 0:
    return out
  order = np.argsort([len(r) for r in refs], kind='stable')
  for chunk in np.array_split(order, max(1, -(-len(order) // chunk_size))):
    rows = [refs[i] for i in chunk]
    width = max(len(r) for r in rows)
    if width == 0:
      continue
    pad = int(min(q.min(), min((int(r.min()) for r in rows if len(r)), default=0))) - 1
    table = np.full((len(rows), width), pad, np.int64)
    for i, r in enumerate(rows):
      table[i, :len(r)] = r
    out[chunk] = padded_fn(q, table)
  return out


def _lcs_padded(q: np.ndarray, table: np.ndarray) -> np.ndarray:
  width = table.shape[1]
  dtype = np.int16 if len(q) < 2**15 else np.int32
  row = np.zeros((len(table), width + 1), dtype)   # row[:, j + 1] = LCS(query[:i], ref[:j + 1])
  for x in q:
    diag = row[:, :-1] + (table == x)
    t = np.maximum(row[:, 1:], diag)
    np.maximum.accumulate(t, axis=1, out=row[:, 1:])
  return row[:, -1].astype(np.int64)


@dataclasses.dataclass(frozen=True)
class PlagiarismResult:
  """LCS of a generated note sequence with every training piece.

  Attributes:
    max_ratio: the largest ``lcs / len(generated)``.
    index: the training piece that reaches it (the first one on ties).
    name: its name (``''`` when no names were given).
    lcs: ``int64 [pieces]`` LCS lengths.
    ratios: ``float64 [pieces]`` = ``lcs / len(generated)``.
  """
  max_ratio: float
  index: int
  name: str
  lcs: np.ndarray
  ratios: np.ndarray


def plagiarism_check(generated: Sequence[int], train_pieces: Sequence[Sequence[int]],
                     names: Sequence[str] | None = None) -> PlagiarismResult:
  """The training piece whose pitch sequence shares the longest common subsequence with
  ``generated`` (a pitch sequence, e.g. :func:`note_on_pitches` of a sample).

  A ratio near 1 means the generated notes appear, in order, inside one training piece (the log's
  "plagiarism?"). Raises ValueError for an empty ``generated`` or no training pieces.
  """
  generated = np.asarray(generated).reshape(-1)
  if len(generated) == 0:
    raise ValueError('plagiarism_check: the generated sequence has no notes')
  if len(train_pieces) == 0:
    raise ValueError('plagiarism_check: no training pieces')
  if names is not None and len(names) != len(train_pieces):
    raise ValueError(f'{len(names)} names for {len(train_pieces)} training pieces')
  lcs = lcs_lengths(generated, train_pieces)
  ratios = lcs / float(len(generated))
  i = int(np.argmax(ratios))
  return PlagiarismResult(float(ratios[i]), i, str(names[i]) if names is not None else '', lcs,
                          ratios)


def longest_common_runs(query: Sequence[int], references: Sequence[Sequence[int]], *,
                        chunk_size: int = 32) -> np.ndarray:
  """Length of the longest run of consecutive items ``query [n]`` shares with each of
  ``references`` (longest common substring): ``int64 [len(references)]``. One DP row per query
  item over ``chunk_size`` references at once, as :func:`lcs_lengths`:
  ``row_i[j] = row_{i-1}[j-1] + 1`` where ``query[i] == ref[j]``, else 0."""
  return _over_chunks(_runs_padded, query, references, chunk_size)


def _runs_padded(q: np.ndarray, table: np.ndarray) -> np.ndarray:
  row = np.zeros((len(table), table.shape[1] + 1), np.int32)   # row[:, j + 1]: run ending at ref[j]
  best = np.zeros(table.shape[0], np.int32)
  for x in q:
    row[:, 1:] = np.where(table == x, row[:, :-1] + 1, 0)
    np.maximum(best, row.max(1), out=best)
  return best.astype(np.int64)


@dataclasses.dataclass(frozen=True)
class CopyResult:
  """The longest run of a generated note sequence found in a training piece.

  Attributes:
    length: the run's length in notes.
    ratio: ``length / len(generated)``.
    index: the training piece that holds it (the first one on ties).
    name: its name (``''`` when no names were given).
  """
  length: int
  ratio: float
  index: int
  name: str


def longest_copy(generated: Sequence[int], train_pieces: Sequence[Sequence[int]],
                 names: Sequence[str] | None = None) -> CopyResult:
  """The longest run of consecutive notes of ``generated`` (a pitch sequence) that appears, as
  a run, in one of ``train_pieces`` (:func:`longest_common_runs`). Raises ValueError for an empty
  ``generated`` or no training pieces."""
  generated = np.asarray(generated).reshape(-1)
  if len(generated) == 0:
    raise ValueError('longest_copy: the generated sequence has no notes')
  if len(train_pieces) == 0:
    raise ValueError('longest_copy: no training pieces')
  if names is not None and len(names) != len(train_pieces):
    raise ValueError(f'{len(names)} names for {len(train_pieces)} training pieces')
  runs = longest_common_runs(generated, train_pieces)
  i = int(np.argmax(runs))
  return CopyResult(int(runs[i]), float(runs[i]) / len(generated), i,
                    str(names[i]) if names is not None else '')
