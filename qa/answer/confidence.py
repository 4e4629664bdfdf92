"""A confidence that is a probability of being right.

``sigmoid(span - no answer)`` from the reader alone was near 1.0 on most wrong answers: it
says how much a span beats "no answer" *in that passage*, not whether the passage is about
what was asked. The calibrated confidence combines what the pipeline knows about one
answer into a logistic regression fitted on questions the reader never saw
(``ask calibrate-reader``): the reader's scores, the margin to the next span and the next
passage, agreement between passages, the retrieval scores, whether the question's content
words, names and numbers occur in the evidence sentence and its passage ("How many troops
did China send?" answered from a passage that never names China is no answer), and whether
the span is of the type the question asks for.

Plain Python and numpy: nothing here loads a model.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from qa.reader.model import sigmoid
from qa.text import MONTHS, NUMBER_WORDS, STOPWORDS, wordset

CALIBRATION_FILE = "calibration.json"

FEATURES = (
    "margin",
    "span_score",
    "null_score",
    "runner_up",
    "passage_gap",
    "other_margin",
    "agreement",
    "retrieval",
    "dense",
    "lexical",
    "rank",
    "q_sentence",
    "q_passage",
    "missing_names",
    "names",
    "missing_share",
    "type_known",
    "type_match",
    "answer_in_question",
    "span_words",
    "missing_numbers",
    "unit_missing",
)
"""The signals, in the order the fitted weights expect them."""
READ_FURTHER = "read_further"
"""Recorded beside the signals: 1 when the answer was read from the further passages."""

_WORD = re.compile(r"[^\W_]+(?:[.,'’][^\W_]+)*", re.UNICODE)
_PREFIX = 5
_WH = frozenset(["what", "which", "who", "whom", "whose", "when", "where", "why", "how"])


# "How much did it cost?" asks for a sum of money, not any figure ("15 meter" is no
# price). Of the 369 SQuAD v1.1 train questions this matches, 336 (91%) have a gold answer
# with a currency in it; the rest are mostly "free" and percentages.
_MONEY_QUESTION = re.compile(
    r"\bhow\s+much\b(?!\s+(?:of|time|land|area|water|weight|energy|power|more|less)\b)"
    r"[^?]*\b(?:cost|costs|costing|pay|paid|pays|spend|spent|spends|worth|price|priced|charge"
    r"|charged|earn|earned|earns|raise|raised|owe|owed|owes|fund|funding|invest|invested|sell"
    r"|sold|budget|revenue|money|profit|fine|fined|donate|donated|salary|income)\b"
)
_CURRENCY = re.compile(
    r"[$€£¥₹]|\b(?:dollars?|euros?|pounds?|yen|yuan|rupees?|francs?|marks?|cents?|pesos?"
    r"|rubles?|roubles?|lira|lire|crowns?|shillings?|guineas?|usd|gbp|eur|sterling|dirhams?"
    r"|million|billion|trillion|bn)\b",
    re.IGNORECASE,
)
# Words that make one place of another ("South Korea" is not "North Korea"): never taken
# as the short form's missing first word.
_QUALIFIERS = wordset(
    "north south east west northern southern eastern western central new old upper lower "
    "great greater little saint st"
)
_ACRONYM = re.compile(r"[A-Z]{2,8}s?")
_ACRONYM_LINKS = frozenset(["of", "and", "the", "for", "de", "du", "la", "on", "in"])


class CalibrationUnavailable(Exception):
    """The calibration file is missing, damaged or made for another reader."""


def words(text: str) -> list[str]:
    """The words and numbers of ``text`` (numbers keep their separators)."""
    return _WORD.findall(text)


def _stems(text: str) -> set[str]:
    return {w.lower()[:_PREFIX] for w in words(text)}


def expected_type(question: str) -> str:
    """What kind of answer the question asks for: money, number, date, name, or "" (any)."""
    q = question.lower()
    if _MONEY_QUESTION.search(q):
        return "money"
    if re.search(r"\bhow\s+(many|much|old|long|far|large|big|tall|high)\b", q) or re.search(
        r"\bwhat\s+(percentage|percent|share|number|amount)\b", q
    ):
        return "number"
    if re.search(r"\b(when|what\s+year|which\s+year|in\s+what\s+year|what\s+date)\b", q):
        return "date"
    if re.search(r"\b(who|whom|whose)\b", q):
        return "name"
    if re.search(r"\bwhere\b", q):
        return "place"
    return ""


def type_match(kind: str, span: str) -> float:
    """1 when ``span`` looks like the kind of answer asked for, 0 when it does not."""
    if not kind:
        return 0.5
    toks = words(span)
    low = [t.lower() for t in toks]
    has_number = any(any(c.isdigit() for c in t) for t in toks) or any(
        t in NUMBER_WORDS for t in low
    )
    if kind == "money":
        return 1.0 if _CURRENCY.search(span) else 0.0
    if kind == "number":
        return 1.0 if has_number else 0.0
    if kind == "date":
        return 1.0 if has_number or any(t in MONTHS for t in low) else 0.0
    capitalised = any(t[:1].isupper() for t in toks)
    return 1.0 if capitalised and not all(any(c.isdigit() for c in t) for t in toks) else 0.0


_UNIT = re.compile(r"\bhow\s+(?:many|much)\s+([^\W\d_][\w-]*)", re.UNICODE)


def counted_noun(question: str) -> str | None:
    """What a how-many or how-much question counts ("tanks" in "How many tanks has ...?");
    None for other questions and for "how much did ..." (no noun)."""
    m = _UNIT.search(question.lower())
    if not m or m.group(1) in STOPWORDS:
        return None
    return m.group(1)


def question_names(question: str) -> list[str]:
    """Names and figures in the question: capitalised words past the first, and numbers."""
    toks = words(question)
    out = []
    for i, t in enumerate(toks):
        low = t.lower()
        if low in STOPWORDS or low in _WH:
            continue
        if any(c.isdigit() for c in t) or (i > 0 and t[:1].isupper()):
            out.append(t)
    return out


def content_words(question: str) -> list[str]:
    """The question's words that carry its topic (stopwords and wh-words dropped)."""
    return [t for t in words(question) if t.lower() not in STOPWORDS and t.lower() not in _WH]


def _spells(acronym: str, text: str) -> bool:
    """Whether the capitals of ``acronym`` ("NEMISIS") are the initials of consecutive
    capitalised words of ``text`` ("National Enforcement Management Information System and
    Intelligence System"), linking words skipped."""
    letters = acronym.rstrip("s")
    toks = words(text)
    for i, t in enumerate(toks):
        if t[:1] != letters[0]:
            continue
        k, j = 0, i
        while j < len(toks) and k < len(letters):
            w = toks[j]
            if k and w.lower() in _ACRONYM_LINKS:
                j += 1
            elif w[:1] == letters[k]:
                k, j = k + 1, j + 1
            else:
                break
        if k == len(letters):
            return True
    return False


def absent_names(question: str, passage: str, title: str | None = None) -> list[str]:
    """The question's names and figures (``question_names``) that the passage and its
    article's title do not hold in any form. News
    and encyclopaedias name a person in full once and then by surname ("Margaret Atwood",
    then "Atwood"), and an organisation by its initials: a first name whose surname the
    passage has, or an acronym the passage spells out, is not missing. Of 10,000 SQuAD v1.1
    train questions, 727 had a name their own paragraph lacks without these two forms, and
    150 of those (21%) have one fewer with them."""
    text = f"{title or ''}\n{passage}"
    return _absent(question, question_names(question), _stems(text), text)


def _absent(question: str, names: list[str], hay: set[str], text: str) -> list[str]:
    """``absent_names`` for the question's ``names``, given the stems ``hay`` of ``text``."""
    chosen = set(names)
    absent = [n for n in names if n.lower()[:_PREFIX] not in hay]
    if not absent:
        return absent
    # Runs of consecutive non-numeric names ("Margaret Atwood"), in question order.
    runs: list[list[str]] = []
    run: list[str] = []
    for t in words(question):
        if t in chosen and not any(c.isdigit() for c in t):
            run.append(t)
        elif run:
            runs.append(run)
            run = []
    if run:
        runs.append(run)
    out = []
    for n in absent:
        head = next((r for r in runs if n in r[:-1] and len(r) > 1), None)
        if head is not None and n.lower() not in _QUALIFIERS and head[-1].lower()[:_PREFIX] in hay:
            continue
        if _ACRONYM.fullmatch(n) and _spells(n, text):
            continue
        out.append(n)
    return out


def _share(needles: Sequence[str], hay: set[str]) -> float:
    if not needles:
        return 1.0
    return sum(1 for n in needles if n.lower()[:_PREFIX] in hay) / len(needles)


def _norm(text: str) -> str:
    return " ".join(w.lower() for w in words(text) if w.lower() not in ("the", "a", "an"))


@dataclass(frozen=True)
class Candidate:
    """One passage's best answer, as the confidence sees it."""

    span: str
    margin: float
    span_score: float
    null_score: float
    runner_up: float
    rank_score: float
    retrieval: float
    dense: float
    lexical: float


def signals(
    question: str,
    chosen: int,
    candidates: Sequence[Candidate],
    sentence: str,
    passage: str,
    title: str | None = None,
) -> dict[str, float]:
    """The features of answering ``candidates[chosen].span`` (others: the other passages
    read), for the calibrated confidence."""
    c = candidates[chosen]
    others = [o for i, o in enumerate(candidates) if i != chosen and o.span]
    ranks = sorted((o.rank_score for o in others), reverse=True)
    gap = c.rank_score - ranks[0] if ranks else 30.0
    mine = _norm(c.span)
    agree = sum(
        1
        for o in others
        if mine and (_norm(o.span) == mine or mine in _norm(o.span) or _norm(o.span) in mine)
    )
    q_content = content_words(question)
    names = question_names(question)
    hay = _stems(passage) | _stems(title or "")
    absent = _absent(question, names, hay, f"{title or ''}\n{passage}")
    missing = len(absent)
    # A figure or year of the question that the passage lacks ("the 1990 stampede" read from
    # a report of 2006's) is a near miss far more often than a missing name, which questions
    # paraphrase ("the US" for "United States").
    missing_numbers = sum(1 for n in absent if any(ch.isdigit() for ch in n))
    # A figure from a sentence that never names what was counted ("How many tanks?" read as
    # the troops' 11,000) is a quantity near miss, the commonest kind in the news questions.
    in_sentence = _stems(sentence)
    unit = counted_noun(question)
    unit_missing = 1.0 if unit and unit[:_PREFIX] not in in_sentence else 0.0
    kind = expected_type(question)
    span_words = words(c.span)
    q_stems = _stems(question)
    in_q = (
        sum(1 for w in span_words if w.lower()[:_PREFIX] in q_stems) / len(span_words)
        if span_words
        else 0.0
    )
    clip = lambda x, lo, hi: max(lo, min(hi, x))  # noqa: E731
    return {
        "margin": clip(c.margin, -20.0, 30.0),
        "span_score": clip(c.span_score, -20.0, 40.0),
        "null_score": clip(c.null_score, -20.0, 40.0),
        "runner_up": clip(c.runner_up, 0.0, 10.0),
        "passage_gap": clip(gap, 0.0, 30.0),
        "other_margin": clip(max((o.margin for o in others), default=-20.0), -20.0, 30.0),
        "agreement": float(agree),
        "retrieval": c.retrieval,
        "dense": c.dense,
        "lexical": c.lexical,
        "rank": float(chosen),
        "q_sentence": _share(q_content, in_sentence),
        "q_passage": _share(q_content, hay),
        "missing_names": float(min(missing, 4)),
        "names": float(min(len(names), 6)),
        "missing_share": missing / len(names) if names else 0.0,
        "type_known": 0.0 if not kind else 1.0,
        "type_match": type_match(kind, c.span),
        "answer_in_question": in_q,
        "span_words": math.log1p(len(span_words)),
        "missing_numbers": float(min(missing_numbers, 2)),
        "unit_missing": unit_missing,
    }


@dataclass(frozen=True)
class Tree:
    """One regression tree of the boosted confidence, as parallel node lists: node ``i``
    splits on ``feature[i]`` (an index into the calibrator's names) at ``threshold[i]``
    (value <= threshold goes left), or is a leaf (feature -1) adding ``value[i]`` to the
    logistic margin. Node 0 is the root."""

    feature: tuple[int, ...]
    threshold: tuple[float, ...]
    left: tuple[int, ...]
    right: tuple[int, ...]
    value: tuple[float, ...]

    def value_of(self, row: Sequence[float]) -> float:
        i = 0
        while self.feature[i] >= 0:
            i = self.left[i] if row[self.feature[i]] <= self.threshold[i] else self.right[i]
        return self.value[i]

    def to_json(self) -> dict[str, list[float] | list[int]]:
        return {
            "feature": list(self.feature),
            "threshold": list(self.threshold),
            "left": list(self.left),
            "right": list(self.right),
            "value": list(self.value),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object], features: int) -> Tree:
        """A tree from its JSON form; raises ValueError unless every node is well formed
        and every path from the root ends in a leaf (no cycles, no dangling children)."""

        def nodes(key: str) -> list[object]:
            v = data[key]
            if not isinstance(v, list):
                raise ValueError(f"a tree's {key} is not a list")
            return v

        tree = cls(
            tuple(int(v) for v in nodes("feature")),  # type: ignore[call-overload]
            tuple(float(v) for v in nodes("threshold")),  # type: ignore[arg-type]
            tuple(int(v) for v in nodes("left")),  # type: ignore[call-overload]
            tuple(int(v) for v in nodes("right")),  # type: ignore[call-overload]
            tuple(float(v) for v in nodes("value")),  # type: ignore[arg-type]
        )
        n = len(tree.feature)
        if not n or not all(len(v) == n for v in (tree.threshold, tree.left, tree.right)):
            raise ValueError("a tree's node lists differ in length")
        if len(tree.value) != n or not all(math.isfinite(v) for v in tree.value):
            raise ValueError("a tree's leaf values are missing or not finite")
        seen: set[int] = set()
        todo = [0]
        while todo:
            i = todo.pop()
            if i in seen:
                raise ValueError("a tree's nodes form a cycle")
            seen.add(i)
            f = tree.feature[i]
            if f < 0:
                continue
            if f >= features or not math.isfinite(tree.threshold[i]):
                raise ValueError(f"a tree splits on feature {f} of {features}")
            for child in (tree.left[i], tree.right[i]):
                if not 0 < child < n:
                    raise ValueError(f"a tree's node {i} has child {child} of {n}")
                todo.append(child)
        return tree


@dataclass(frozen=True)
class Calibrator:
    """Logistic regression over standardised :data:`FEATURES`, plus (format 2) boosted
    trees added to its margin; its output is the probability that the answer is right
    (token F1 >= 0.5 against a gold answer)."""

    names: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    threshold: float
    """Abstain below this probability: chosen on the calibration questions (best overall
    F1), recorded with the fit."""
    reader_sha256: str = ""
    """The reader (its ONNX file) the fit was made for."""
    trees: tuple[Tree, ...] = ()
    """Boosted trees over the raw signals (in ``names`` order), added to the margin."""
    further: Calibrator | None = None
    """The confidence of an answer chosen after reading ``further_passages`` more passages,
    when this one's answer would have been declined: its signals (margins to the other
    passages, agreement, rank) are those of a wider reading, so it has its own fit."""
    further_passages: int = 0

    def probability(self, features: Mapping[str, float]) -> float:
        """The probability that the answer with these signals is right."""
        z = self.bias
        row = [features.get(name, 0.0) for name in self.names]
        for v, m, sd, w in zip(row, self.mean, self.scale, self.weights, strict=True):
            z += w * (v - m) / sd
        for tree in self.trees:
            z += tree.value_of(row)
        return sigmoid(z)

    def recorded(self, signals: Mapping[str, float]) -> float:
        """The confidence of an answer from its recorded signals (an `ask eval` row, the
        API's ``signals``): the further fit's for one read from the further passages."""
        further = self.further if signals.get(READ_FURTHER) else None
        return (further or self).probability(signals)

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {
            "format": 2 if self.trees else 1,
            "names": list(self.names),
            "mean": list(self.mean),
            "scale": list(self.scale),
            "weights": list(self.weights),
            "bias": self.bias,
            "threshold": self.threshold,
            "reader_sha256": self.reader_sha256,
        }
        if self.trees:
            data["trees"] = [t.to_json() for t in self.trees]
        if self.further is not None:
            inner = self.further.to_json()
            for key in ("threshold", "reader_sha256", "format"):
                inner.pop(key, None)
            data["further"] = {**inner, "passages": self.further_passages}
        return data

    @classmethod
    def _parse(cls, data: Mapping[str, Any], threshold: float, reader_sha256: str) -> Calibrator:
        """One fitted model from its JSON form; ValueError (or KeyError, TypeError) when
        damaged."""
        cal = cls(
            tuple(data["names"]),
            tuple(map(float, data["mean"])),
            tuple(map(float, data["scale"])),
            tuple(map(float, data["weights"])),
            float(data["bias"]),
            threshold,
            reader_sha256,
            tuple(Tree.from_json(t, len(data["names"])) for t in data.get("trees", [])),
        )
        if not (len(cal.names) == len(cal.mean) == len(cal.scale) == len(cal.weights)):
            raise ValueError("lists of different lengths")
        if any(sd <= 0 or not math.isfinite(sd) for sd in cal.scale):
            raise ValueError("a scale is not positive")
        unknown = set(cal.names) - set(FEATURES)
        if unknown:
            raise ValueError(f"unknown features {sorted(unknown)}")
        return cal

    @classmethod
    def load(cls, directory: Path, reader_sha256: str | None = None) -> Calibrator:
        """The calibration in ``directory``; missing, damaged or fitted for another reader
        raises CalibrationUnavailable."""
        path = directory / CALIBRATION_FILE
        if not path.is_file():
            raise CalibrationUnavailable(
                f"no confidence calibration in {directory} ({CALIBRATION_FILE} is missing; "
                "write one with `ask calibrate-reader`)"
            )
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format", 1) not in (1, 2):
                raise ValueError(f"unknown format {data.get('format')!r}")
            cal = cls._parse(data, float(data["threshold"]), str(data.get("reader_sha256", "")))
            if data.get("further") is not None:
                more = data["further"]
                passages = int(more["passages"])
                if not 1 <= passages <= 20:
                    raise ValueError(f"further passages {passages} outside 1..20")
                inner = cls._parse(more, cal.threshold, cal.reader_sha256)
                cal = replace(cal, further=inner, further_passages=passages)
        except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
            raise CalibrationUnavailable(f"{path} is damaged ({exc})") from exc
        if reader_sha256 and cal.reader_sha256 and cal.reader_sha256 != reader_sha256:
            raise CalibrationUnavailable(
                f"{path} was fitted for another reader (reader {reader_sha256[:12]}, "
                f"calibration {cal.reader_sha256[:12]}); refit it with "
                "`ask calibrate-reader`"
            )
        return cal
