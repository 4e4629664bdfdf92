"""The default answerer: evidence sentence, then the span that fits the question's type.

No model is needed at question time: sentences and entities were computed at ingest.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from qa.answer.base import AnswerContext
from qa.store import STOPWORDS
from qa.types import Draft, Hit, Span

_WORD = re.compile(r"\w+(?:[.,]\d+)*", re.UNICODE)
_NUMBER = re.compile(
    r"(?:(?:about|around|some|nearly|almost|over|more than|at least)\s+)?"
    r"[$€£]?\d[\d,.]*(?:\s*(?:%|percent|per cent|million|billion|thousand|hundred))?", re.I
)

NUMERIC = {"CARDINAL", "QUANTITY", "MONEY", "PERCENT"}
TEMPORAL = {"DATE", "TIME"}
PERSON = {"PERSON", "ORG", "NORP"}
PLACE = {"GPE", "LOC", "FAC"}


def stem(word: str) -> str:
    """A light suffix stripper: enough to match killed/kill, troops/troop at question time."""
    w = word.lower()
    for suffix in ("ing", "ed", "es", "s"):
        if len(w) > len(suffix) + 3 and w.endswith(suffix):
            return w[: -len(suffix)]
    return w


def content_stems(text: str) -> list[str]:
    return [stem(t) for t in _WORD.findall(text.lower()) if t not in STOPWORDS]


@dataclass(frozen=True)
class QuestionType:
    labels: frozenset[str]
    numeric: bool = False


def question_type(question: str) -> QuestionType:
    q = question.lower().strip()
    if re.search(r"\bhow (many|much)\b|\bwhat (number|percentage|amount)\b|\bhow (long|far|old|large|big|tall|high)\b", q):
        return QuestionType(frozenset(NUMERIC | {"DATE", "TIME"} if "long" in q else NUMERIC), True)
    if re.search(r"\bwhen\b|\bwhat (year|date|day|month|time|century|decade)\b|\bwhich (year|date|day|month|century)\b", q):
        return QuestionType(frozenset(TEMPORAL))
    if re.search(r"\bwho(m|se)?\b|\bwhat (company|organi[sz]ation|group|team|person|agency)\b", q):
        return QuestionType(frozenset(PERSON))
    if re.search(r"\bwhere\b|\bwhat (country|city|state|place|region|town)\b|\bwhich (country|city|state|place|region|town)\b", q):
        return QuestionType(frozenset(PLACE))
    return QuestionType(frozenset())


@dataclass(frozen=True)
class _Sentence:
    hit_index: int
    span: Span
    text: str
    score: float
    matched: frozenset[str]


class RuleAnswerer:
    name = "rules"

    def __init__(self, max_hits: int = 5) -> None:
        self.max_hits = max_hits

    def answer(self, question: str, hits: Sequence[Hit], context: AnswerContext) -> Draft:
        q_stems = set(content_stems(question))
        if not hits or not q_stems:
            return Draft("", 0.0, "", None)
        qtype = question_type(question)
        sentences = self._sentences(hits[: self.max_hits], q_stems, context)
        if not sentences:
            return Draft("", 0.0, "", None)
        best = max(sentences, key=lambda s: s.score)
        hit = hits[best.hit_index]
        _, entities = context.annotations(hit.article.id)
        span = self._extract(question, q_stems, qtype, best, entities, hit.article.text)
        coverage = len(best.matched) / len(q_stems)
        confidence = max(0.0, min(1.0, 0.6 * coverage + 0.4 * max(hit.dense, 0.0)))
        if span is None:
            span = best.span
            confidence *= 0.8
        text = hit.article.text[span.start: span.end]
        return Draft(
            answer=text, confidence=round(confidence, 4), evidence=best.text,
            hit_index=best.hit_index, answer_start=span.start, answer_end=span.end,
            evidence_start=best.span.start, evidence_end=best.span.end,
        )

    def _sentences(
        self, hits: Sequence[Hit], q_stems: set[str], context: AnswerContext
    ) -> list[_Sentence]:
        out = []
        for i, hit in enumerate(hits):
            sents, _ = context.annotations(hit.article.id)
            text = hit.article.text
            for s in sents:
                if s.start < hit.chunk.start or s.end > hit.chunk.end:
                    continue
                stems = set(content_stems(text[s.start: s.end]))
                matched = frozenset(q_stems & stems)
                score = len(matched) / len(q_stems) + 0.3 * hit.score - 0.02 * i
                out.append(_Sentence(i, s, text[s.start: s.end], score, matched))
        return out

    def _extract(
        self, question: str, q_stems: set[str], qtype: QuestionType, sent: _Sentence,
        entities: list[Span], text: str,
    ) -> Span | None:
        inside = [e for e in entities if e.start >= sent.span.start and e.end <= sent.span.end]
        candidates: list[Span] = []
        if qtype.labels:
            candidates = [e for e in inside if e.label in qtype.labels]
        if qtype.numeric and not candidates:
            candidates = [Span(sent.span.start + m.start(), sent.span.start + m.end(), "CARDINAL")
                          for m in _NUMBER.finditer(sent.text)]
        candidates = [c for c in candidates
                      if not set(content_stems(text[c.start:c.end])) <= q_stems]
        if not candidates:
            return None
        anchors = [sent.span.start + m.start() for m in _WORD.finditer(sent.text)
                   if stem(m.group()) in q_stems]

        def distance(c: Span) -> float:
            if not anchors:
                return 0.0
            return min(abs(c.start - a) for a in anchors)

        return min(candidates, key=distance)
