"""Per-question scores and the set's metrics, at any abstention threshold.

Conventions (every metric a fraction in [0, 1], latency aside):

- ``exact_match``, ``f1``: SQuAD normalisation and token F1 (``qa.squad``), best over the gold
  answers, over answerable questions; a question the bot abstains on scores 0.
- ``answer_in_citations@k``: a normalised gold answer occurs, on token boundaries, in one of the
  first k cited passages (in the order the bot shows them), over answerable questions.
- ``article_recall@5``, ``article_mrr``: rank of the first cited passage from a gold article,
  over questions that name gold articles.
- ``abstain_*``: "no answer" is the positive class, over all questions;
  ``false_abstention_rate``: share of answerable questions the bot abstained on.
- ``overall_f1``, ``overall_exact_match``: SQuAD v2.0's official way, over all questions: an
  unanswerable question scores 1 if the bot abstained and 0 otherwise, an answerable one its
  F1 / EM (0 if abstained).
- ``ece``: expected calibration error of the confidence (10 equal-width bins), over every
  question with a candidate answer, whatever the threshold; a candidate is right when the
  question is answerable and its token F1 is at least 0.5. ``right_at_0.9``: the share of
  those candidates with confidence >= 0.9 that are right.

A metric with nothing to measure (``abstain_recall`` on a set without unanswerable questions)
is ``None``, shown as "n/a".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from qa.eval.runner import Record
from qa.squad import answer_in_text, exact_match, f1_score

CITATION_KS = (1, 3, 5)

METRICS: dict[str, str] = {
    "exact_match": "answerable",
    "f1": "answerable",
    "answer_in_citations@1": "answerable",
    "answer_in_citations@3": "answerable",
    "answer_in_citations@5": "answerable",
    "article_recall@5": "with gold article",
    "article_mrr": "with gold article",
    "abstain_precision": "abstained",
    "abstain_recall": "unanswerable",
    "abstain_f1": "all",
    "false_abstention_rate": "answerable",
    "overall_exact_match": "all",
    "overall_f1": "all",
    "ece": "with a candidate",
    "right_at_0.9": "confidence >= 0.9",
}
"""Metric name -> the questions it is computed over. All are fractions in [0, 1]."""

LOWER_IS_BETTER = {"false_abstention_rate", "ece"}
RIGHT_F1 = 0.5
"""A candidate answer is right from this token F1 on."""
BINS = 10


@dataclass(frozen=True)
class Candidate:
    """Threshold-independent scores of a record's candidate answer, computed once."""

    record: Record
    em: float
    f1: float
    in_citations: tuple[bool, ...]
    """answer_in_citations at each k of CITATION_KS (answerable questions; else all False)."""
    article_rank: int | None
    """1-based rank of the first cited passage from a gold article; None if none is cited."""


@dataclass(frozen=True)
class Scored:
    """A record scored at one threshold."""

    candidate: Candidate
    abstained: bool
    em: float | None
    """None for an unanswerable question (not counted in exact_match / f1)."""
    f1: float | None
    overall_em: float
    overall_f1: float

    @property
    def record(self) -> Record:
        return self.candidate.record

    @property
    def answer(self) -> str:
        return "" if self.abstained else self.record.candidate

    def to_dict(self) -> dict[str, Any]:
        c = self.candidate
        q = self.record.question
        out: dict[str, Any] = {
            "exact_match": self.em,
            "f1": self.f1,
            "overall_exact_match": self.overall_em,
            "overall_f1": round(self.overall_f1, 4),
        }
        if q.answerable:
            out.update(
                {
                    f"answer_in_citations@{k}": hit
                    for k, hit in zip(CITATION_KS, c.in_citations, strict=True)
                }
            )
        if q.article_ids:
            out["article_rank"] = c.article_rank
        return out


def candidate(record: Record) -> Candidate:
    """Score a record's candidate answer once, whatever threshold is applied later."""
    q = record.question
    golds = list(q.answers)
    if q.answerable and record.candidate:
        em, f1 = exact_match(record.candidate, golds), f1_score(record.candidate, golds)
    else:
        em = f1 = 0.0
    in_cit = tuple(
        q.answerable and any(answer_in_text(p.text, golds) for p in record.passages[:k])
        for k in CITATION_KS
    )
    rank = None
    if q.article_ids:
        gold = set(q.article_ids)
        rank = next((i for i, p in enumerate(record.passages, 1) if p.article_id in gold), None)
    return Candidate(record, em, f1, in_cit, rank)


def score(c: Candidate, threshold: float) -> Scored:
    """The record as it scores at ``threshold``."""
    abstained = c.record.abstains_at(threshold)
    if c.record.question.answerable:
        em = 0.0 if abstained else c.em
        f1 = 0.0 if abstained else c.f1
        return Scored(c, abstained, em, f1, em, f1)
    right = 1.0 if abstained else 0.0
    return Scored(c, abstained, None, None, right, right)


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def metrics(scored: Sequence[Scored]) -> dict[str, float | None]:
    """The set's metrics (see the module docstring), in METRICS order."""
    answerable = [s for s in scored if s.record.question.answerable]
    with_article = [s for s in scored if s.record.question.article_ids]
    tp = sum(1 for s in scored if s.abstained and not s.record.question.answerable)
    predicted = sum(1 for s in scored if s.abstained)
    positives = len(scored) - len(answerable)
    precision, recall = _ratio(tp, predicted), _ratio(tp, positives)
    out: dict[str, float | None] = {
        "exact_match": _mean([s.em or 0.0 for s in answerable]),
        "f1": _mean([s.f1 or 0.0 for s in answerable]),
    }
    for i, k in enumerate(CITATION_KS):
        out[f"answer_in_citations@{k}"] = _mean(
            [float(s.candidate.in_citations[i]) for s in answerable]
        )
    ranks = [s.candidate.article_rank for s in with_article]
    out["article_recall@5"] = _mean([float(r is not None and r <= 5) for r in ranks])
    out["article_mrr"] = _mean([1.0 / r if r else 0.0 for r in ranks])
    out["abstain_precision"] = precision
    out["abstain_recall"] = recall
    # 2TP / (2TP + FP + FN): the harmonic mean of precision and recall where both are
    # defined, 0 where one side is empty; with no unanswerable question and no abstention
    # there is nothing to measure.
    out["abstain_f1"] = _ratio(2 * tp, predicted + positives)
    out["false_abstention_rate"] = _mean([float(s.abstained) for s in answerable])
    out["overall_exact_match"] = _mean([s.overall_em for s in scored])
    out["overall_f1"] = _mean([s.overall_f1 for s in scored])
    rel = reliability([s.candidate for s in scored])
    out["ece"] = rel.ece
    out["right_at_0.9"] = rel.right_at_90
    return {name: (round(v, 6) if v is not None else None) for name, v in out.items()}


@dataclass(frozen=True)
class Reliability:
    """How far the confidence is from the share of right answers, bin by bin."""

    bins: tuple[tuple[float, float, int], ...]
    """(mean confidence, share right, count) per equal-width bin, empty bins left out."""
    ece: float | None
    right_at_90: float | None
    at_90: int


def is_right(c: Candidate) -> bool:
    return c.record.question.answerable and c.f1 >= RIGHT_F1


def reliability(candidates: Sequence[Candidate]) -> Reliability:
    """Confidence against the share of right answers, in equal-width bins, with the ECE."""
    return reliability_of(
        [(c.record.confidence, is_right(c)) for c in candidates if c.record.candidate]
    )


def reliability_of(pairs: Sequence[tuple[float, bool]]) -> Reliability:
    """The same for plain (confidence, right) pairs: the one ECE of the project, used by
    ``ask eval`` and by ``ask calibrate-reader``."""
    pairs = [(min(max(p, 0.0), 1.0), r) for p, r in pairs]
    if not pairs:
        return Reliability((), None, None, 0)
    bins: list[tuple[float, float, int]] = []
    ece = 0.0
    for b in range(BINS):
        lo, hi = b / BINS, (b + 1) / BINS
        inside = [(p, r) for p, r in pairs if lo <= p < hi or (b == BINS - 1 and p == 1.0)]
        if not inside:
            continue
        conf = sum(p for p, _ in inside) / len(inside)
        acc = sum(1 for _, r in inside if r) / len(inside)
        bins.append((round(conf, 4), round(acc, 4), len(inside)))
        ece += len(inside) * abs(conf - acc)
    high = [r for p, r in pairs if p >= 0.9]
    return Reliability(
        tuple(bins), ece / len(pairs), (sum(high) / len(high)) if high else None, len(high)
    )


# -- latency --------------------------------------------------------------------------------
def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return 0.0
    xs = sorted(values)
    pos = (len(xs) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _summary(values: Sequence[float]) -> dict[str, float]:
    return {
        "p50": round(percentile(values, 0.5), 2),
        "p95": round(percentile(values, 0.95), 2),
        "max": round(max(values, default=0.0), 2),
    }


def latency(records: Sequence[Record]) -> dict[str, Any]:
    """p50/p95/max of the whole ask, and of each stage the pipeline timed."""
    out: dict[str, Any] = _summary([r.latency_ms for r in records])
    stages: dict[str, list[float]] = {}
    for r in records:
        for name, ms in r.stages_ms.items():
            stages.setdefault(name, []).append(float(ms))
    out["stages"] = {name: _summary(v) for name, v in stages.items()}
    return out


# -- calibration ----------------------------------------------------------------------------
@dataclass(frozen=True)
class SweepRow:
    """The metrics at one abstention threshold."""

    threshold: float
    answered: float
    """Share of all questions the bot answers at this threshold."""
    em_answered: float | None
    """Exact match over the answered questions (an answered unanswerable one scores 0)."""
    f1_answered: float | None
    abstain_f1: float | None
    overall_f1: float | None
    overall_exact_match: float | None

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def grid(step: float = 0.05) -> list[float]:
    n = round(1 / step)
    return [round(i * step, 4) for i in range(n + 1)]


def sweep(candidates: Sequence[Candidate], thresholds: Sequence[float]) -> list[SweepRow]:
    """The metrics at each threshold of ``thresholds``."""
    rows = []
    for t in thresholds:
        scored = [score(c, t) for c in candidates]
        answered = [s for s in scored if not s.abstained]
        m = metrics(scored)
        rows.append(
            SweepRow(
                threshold=t,
                answered=len(answered) / len(scored) if scored else 0.0,
                em_answered=_mean([s.candidate.em for s in answered]),
                f1_answered=_mean([s.candidate.f1 for s in answered]),
                abstain_f1=m["abstain_f1"],
                overall_f1=m["overall_f1"],
                overall_exact_match=m["overall_exact_match"],
            )
        )
    return rows


def best_threshold(rows: Sequence[SweepRow]) -> SweepRow:
    """The row with the highest overall F1; ties go to the lowest threshold."""
    return max(rows, key=lambda r: (r.overall_f1 or 0.0, -r.threshold))


def coverage_curve(candidates: Sequence[Candidate]) -> list[SweepRow]:
    """The sweep at every distinct confidence (and 0 and 1): the accuracy/coverage curve."""
    confs = sorted({round(c.record.confidence, 4) for c in candidates if c.record.candidate})
    points = sorted({0.0, *confs, 1.0 + 1e-9})
    if len(points) > 200:
        step = len(points) / 200
        points = sorted({points[int(i * step)] for i in range(200)} | {0.0, points[-1]})
    return sweep(candidates, points)
