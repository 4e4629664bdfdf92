"""The trained reader as answerer: it reads the top passages, reorders them by how well they
answer, picks the span, and abstains when "no answer" wins.

When the reader cannot be loaded (file missing, damaged, or made for another tokenizer) the
rule answerer answers instead, and every answer says so in its note.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from pathlib import Path

from qa.answer.base import AnswerContext, Answerer
from qa.answer.confidence import (
    READ_FURTHER,
    CalibrationUnavailable,
    Calibrator,
    Candidate,
    expected_type,
    signals,
    type_match,
)
from qa.reader.model import Reader, ReaderUnavailable, Reading, Span, sigmoid
from qa.squad import normalize_answer
from qa.text import datelines
from qa.types import Draft, Hit

log = logging.getLogger(__name__)

RETRIEVAL_WEIGHT = 20.0
"""How much the retrieval score (about 0..1.4) adds to the reader's span score (a sum of two
logits, about 0..25) when passages are ranked. Chosen on the reader's held-out check
questions with `bench/reader_bench.py --check-only`: on SQuAD v1.1, gold passage first
0.823 by retrieval, 0.749 by the reader alone, 0.866 at 20-24; QAMR 0.744, 0.675, 0.793."""


QUANTITY_BONUS = 5.0
"""Added to the rank of a passage whose span holds a figure, for how-many/how-much questions.
On the check questions it changed nothing (0 to 8 tried, `bench/reader_bench.py
--numeric-bonus`); it settles the founding article's "hundreds of Russian and North Korean
soldiers were killed" against "of which 300 are believed to have been killed"."""

DATE_BONUS = 5.0
"""The same for a when-question's passage whose span is a date. A passage whose reader has no
date to offer answers with its best span of any kind ("Saturday Night" for "When did the
festival start?"), and that must not outrank one that gives a year. Over the public check
sets, the unseen articles and the news set (2,189 questions, `ask eval` runs, README) it
changed two answers, each a wrong one for another; on the held-out news set it keeps "1990"
once the dateline is no answer."""

TYPE_WINDOW = 2.0
"""How far (in span-score logits) a runner-up of the asked-for type may trail the best span
and still be preferred to it."""

CONFLICT_CONFIDENCE = 0.5
"""A rival report's answer is shown as a conflict only when the calibrated confidence would
give it at least even odds of being right: above the abstention threshold (0.4), so that a
weak second passage does not flag every single-answer question (measured in
tests/test_conflicts.py and on the news set, see README)."""

_QUANTITY = re.compile(r"\bhow\s+(many|much)\b", re.IGNORECASE)


_HEDGE = re.compile(
    r"\b(?:around|about|approximately|roughly|nearly|almost|some|over|more than|fewer than|"
    r"less than|up to|at least|at most|an estimated)\s+$",
    re.IGNORECASE,
)
_FIGURE_START = re.compile(r"[$£€]?\d")


def hedged(text: str, start: int) -> int:
    """The start of a figure's span moved back over the hedge before it ("around 11,000",
    not "11,000"): an estimate stated as an exact figure is a wrong fact. SQuAD's annotators
    are split on it (of 1,107 train answers that are a hedged figure, 561 include the hedge
    and 546 do not), so the measured F1 hardly moves either way; a reader of news needs it.
    ("another 2,700" is no hedge: "another" relates the figure to an earlier one.)"""
    if not _FIGURE_START.match(text, start):
        return start
    m = _HEDGE.search(text, max(0, start - 24), start)
    return m.start() if m else start


def quantity_bonus(question: str, span: str) -> float:
    """1 when a how-many/how-much question meets a span with a figure in it: "300" over
    "hundreds" when two passages both answer."""
    return 1.0 if _QUANTITY.search(question) and any(c.isdigit() for c in span) else 0.0


def date_bonus(question: str, span: str) -> float:
    """1 when a when-question meets a span that is a date."""
    return 1.0 if expected_type(question) == "date" and type_match("date", span) == 1.0 else 0.0


def as_candidates(
    spans: Sequence[Span | None],
    readings: Sequence[Reading],
    read: Sequence[Hit],
    ranks: Sequence[float],
) -> list[Candidate]:
    """Each read passage's best span as the confidence sees it (``ranks``: the passages'
    rank scores)."""
    return [
        Candidate(
            x.text if x else "",
            (x.score - r.null_score) if x else -20.0,
            x.score if x else -20.0,
            r.null_score,
            r.runner_up,
            ranks[i] if x else -1e3,
            h.score,
            h.dense,
            h.lexical,
        )
        for i, (x, r, h) in enumerate(zip(spans, readings, read, strict=True))
    ]


class ReaderAnswerer:
    """Extractive answers from a trained span reader, with the rules as the fallback."""

    def __init__(
        self,
        directory: Path,
        fallback: Answerer,
        *,
        passages: int = 3,
        threads: int = 2,
        retrieval_weight: float = RETRIEVAL_WEIGHT,
        calibrated: bool = True,
        read_further: bool = True,
    ) -> None:
        self.directory = directory
        self.read_further = read_further
        """Read the calibration's ``further_passages`` more passages when the first ones'
        answer falls below the calibration's threshold (whatever QA_ABSTAIN_THRESHOLD says:
        `ask eval` records every answer at threshold 0, and must read as `ask` does)."""
        self.fallback = fallback
        self.passages = passages
        self.threads = threads
        self.retrieval_weight = retrieval_weight
        self.calibrated = calibrated
        """False only while fitting the calibration: confidence is then the reader's own
        sigmoid(span - no answer)."""
        self._reader: Reader | None = None
        self._calibrator: Calibrator | None = None
        self._failure: str | None = None
        self._lock = threading.Lock()

    def _load(self) -> Reader | None:
        if self._reader is not None or self._failure is not None:
            return self._reader
        with self._lock:
            if self._reader is None and self._failure is None:
                try:
                    reader = Reader(self.directory, threads=self.threads)
                    if self.calibrated:
                        self._calibrator = Calibrator.load(
                            self.directory, reader.manifest.get("onnx_sha256")
                        )
                    self._reader = reader
                except (ReaderUnavailable, CalibrationUnavailable) as exc:
                    self._failure = str(exc)
                    log.warning("%s; answering with the rule answerer instead", exc)
        return self._reader

    def warm_up(self) -> None:
        self._load()
        self.fallback.warm_up()

    @property
    def name(self) -> str:
        return "reader" if self._load() is not None else self.fallback.name

    @property
    def threshold(self) -> float:
        """The abstention threshold calibrated for this answerer's confidences."""
        reader = self._load()
        if reader is None:
            return self.fallback.threshold
        if self._calibrator is not None:
            return self._calibrator.threshold
        return reader.threshold

    @property
    def failure(self) -> str | None:
        self._load()
        return self._failure

    def answer(self, question: str, hits: Sequence[Hit], context: AnswerContext) -> Draft:
        """The reader's span from the best of the top passages, with the calibrated confidence."""
        reader = self._load()
        if reader is None:
            draft = self.fallback.answer(question, hits, context)
            note = f"answered by the rule answerer: {self._failure}"
            return Draft(
                draft.answer,
                draft.confidence,
                draft.evidence,
                draft.hit_index,
                draft.answer_start,
                draft.answer_end,
                draft.evidence_start,
                draft.evidence_end,
                note=note,
                order=draft.order,
            )
        read = list(hits[: self.passages])
        if not read:
            return Draft("", 0.0, "", None)
        readings = self._read(reader, question, read, context)
        calibrator = self._calibrator
        draft = self._decide(question, read, readings, context, calibrator, len(hits))
        further = calibrator.further if calibrator is not None and self.read_further else None
        if (
            further is not None
            and calibrator is not None
            and draft.confidence < calibrator.threshold
            and len(hits) > len(read)
        ):
            # The answer would be declined: its passage may be further down. Only with a
            # calibration fitted `--further N`; measured with 2 (README): a few more right
            # answers where every question has one, but slower and less well calibrated
            # where half have none, so the shipped calibration has no such fit.
            more = list(hits[len(read) : len(read) + calibrator.further_passages])
            readings += self._read(reader, question, more, context)
            draft = self._decide(question, read + more, readings, context, further, len(hits), True)
        return draft

    def calibration_drafts(
        self, question: str, hits: Sequence[Hit], context: AnswerContext, further: int
    ) -> tuple[Draft, Draft | None]:
        """For ``ask calibrate-reader``: the uncalibrated draft from the first passages, and
        the one from ``further`` more passages as well (None when there are none), with one
        reading of each passage, batched as :meth:`answer` batches them (the int8 reader's
        dynamic quantisation scales a batch as a whole: a passage's scores move by up to
        half a logit with the passages read beside it)."""
        reader = self._load()
        if reader is None:
            raise ReaderUnavailable(self._failure or "no reader")
        read = list(hits[: self.passages])
        if not read:
            return Draft("", 0.0, "", None), None
        more = list(hits[len(read) : len(read) + further])
        readings = self._read(reader, question, read, context)
        readings += self._read(reader, question, more, context)
        first = self._decide(question, read, readings[: len(read)], context, None, len(hits))
        wider = (
            self._decide(question, read + more, readings, context, None, len(hits), True)
            if more
            else None
        )
        return first, wider

    def _read(
        self, reader: Reader, question: str, read: list[Hit], context: AnswerContext
    ) -> list[Reading]:
        if not read:
            return []
        # A dateline is no answer: "Until when does the festival run?" read "March 5, 2007",
        # the report's own date, from the held-out news set's first run (tests/eval/README).
        return reader.read(
            question,
            [h.chunk.text for h in read],
            breaks=[self._breaks(h, context) for h in read],
            skip=[datelines(h.chunk.text) for h in read],
        )

    def _decide(
        self,
        question: str,
        read: list[Hit],
        readings: list[Reading],
        context: AnswerContext,
        calibrator: Calibrator | None,
        total: int,
        further: bool = False,
    ) -> Draft:
        """The answer from the passages read (of ``total`` found): the best-ranked span and
        its confidence (``calibrator``'s, or the reader's own sigmoid without one);
        ``further`` when they are more than the first ones."""
        kind = expected_type(question)
        spans = [self._typed(r, kind) for r in readings]
        scores = [self._rank_score(question, sp, h) for sp, h in zip(spans, read, strict=True)]
        ranked = sorted(range(len(read)), key=lambda i: -scores[i])
        if context.newest_first:
            answering = [
                i
                for i, (x, rr) in enumerate(zip(spans, readings, strict=True))
                if x is not None and x.score > rr.null_score
            ]
            if answering:
                ranked.remove(answering[0])
                ranked.insert(0, answering[0])
        best = ranked[0]
        sp, r = spans[best], readings[best]
        order = tuple(ranked) + tuple(range(len(read), total))
        if sp is None:
            return Draft("", 0.0, "", best, order=order)
        hit = read[best]
        start, end = hit.chunk.start + hedged(hit.chunk.text, sp.start), hit.chunk.start + sp.end
        ev_start, ev_end = self._sentence(hit, start, end, context)
        candidates = as_candidates(spans, readings, read, scores)
        features = signals(
            question,
            best,
            candidates,
            hit.article.text[ev_start:ev_end],
            hit.chunk.text,
            hit.article.title,
        )
        confidence = (
            calibrator.probability(features)
            if calibrator is not None
            else sigmoid(sp.score - r.null_score)
        )
        rivals = (
            self._rivals(question, kind, best, spans, candidates, read, context, calibrator)
            if calibrator is not None and kind
            else ()
        )
        return Draft(
            rivals=rivals,
            answer=hit.article.text[start:end],
            confidence=round(confidence, 4),
            evidence=hit.article.text[ev_start:ev_end],
            hit_index=best,
            answer_start=start,
            answer_end=end,
            evidence_start=ev_start,
            evidence_end=ev_end,
            order=order,
            signals=(*features.items(), (READ_FURTHER, float(further))),
        )

    def _rivals(
        self,
        question: str,
        kind: str,
        best: int,
        spans: list[Span | None],
        candidates: list[Candidate],
        read: list[Hit],
        context: AnswerContext,
        calibrator: Calibrator,
    ) -> tuple[tuple[int, str, float], ...]:
        """Answers of the asked-for type from *other articles'* passages that the calibrated
        confidence would also give (at least CONFLICT_CONFIDENCE) and that differ from the
        best one: two reports giving two figures."""
        top = spans[best]
        chosen = normalize_answer(top.text if top is not None else "")
        out = []
        for i, (sp, h) in enumerate(zip(spans, read, strict=True)):
            if i == best or sp is None or h.article.id == read[best].article.id:
                continue
            if type_match(kind, sp.text) < 1.0:
                continue
            text = normalize_answer(sp.text)
            if not text or text in chosen or chosen in text:
                continue  # "11,000" and "around 11,000" agree
            s, e = h.chunk.start + sp.start, h.chunk.start + sp.end
            ev_s, ev_e = self._sentence(h, s, e, context)
            feats = signals(
                question, i, candidates, h.article.text[ev_s:ev_e], h.chunk.text, h.article.title
            )
            p = calibrator.probability(feats)
            if p >= CONFLICT_CONFIDENCE:
                out.append((i, h.article.text[s:e], round(p, 4)))
        return tuple(out)

    @staticmethod
    def _typed(reading: Reading, kind: str) -> Span | None:
        """The best span, or a close runner-up of the type the question asks for (a figure
        for how-many, a name for who) when the best is not of that type."""
        if not reading.candidates:
            return None
        best = reading.candidates[0]
        if not kind or type_match(kind, best.text) == 1.0:
            return best
        for c in reading.candidates[1:]:
            if c.score < best.score - TYPE_WINDOW:
                break
            if type_match(kind, c.text) == 1.0:
                return c
        return best

    @staticmethod
    def _breaks(hit: Hit, context: AnswerContext) -> list[int]:
        """Where the passage's stored sentences start, in passage offsets."""
        sentences, _ = context.annotations(hit.article.id)
        lo, hi = hit.chunk.start, hit.chunk.end
        return [s.start - lo for s in sentences if lo < s.start < hi]

    def _rank_score(self, question: str, span: Span | None, hit: Hit) -> float:
        if span is None:
            return -1e9
        return (
            span.score
            + self.retrieval_weight * hit.score
            + QUANTITY_BONUS * quantity_bonus(question, span.text)
            + DATE_BONUS * date_bonus(question, span.text)
        )

    @staticmethod
    def _sentence(hit: Hit, start: int, end: int, context: AnswerContext) -> tuple[int, int]:
        """The stored sentence holding the answer (the evidence quoted with it)."""
        sentences, _ = context.annotations(hit.article.id)
        for s in sentences:
            if s.start <= start < s.end:
                return s.start, max(s.end, end)
        return hit.chunk.start, hit.chunk.end
