"""SQuAD v1.1 train questions and the hard "no answer" examples made from them.

The reader that shipped before this was trained on 9,000 public questions; on articles it had
never seen it answered near-miss questions (another country, another quantity) with the span
of the right type about something else, at confidence near 1. These kinds teach it the
difference, in the manner SQuAD v2.0 was written:

* ``similar``: the question with the most similar *other* paragraph of its own article (BM25)
  that does not contain its answer: same topic, same names, no answer.
* ``swap``: the question's key entity or number (one that occurs in its paragraph) replaced
  by another of the same type from another article, paired with its own paragraph:
  "How many troops did North Korea send?" becomes "How many troops did China send?".
* ``foreign``: the question with the most similar paragraph of *another* article, what
  retrieval hands the reader when the collection does not hold the answer.
* ``cut``: the question with its own paragraph, the sentence that holds its answer cut out:
  every name of the question is still there, only the fact is gone. This is SQuAD v2.0's own
  recipe, and its adversarial questions were the open trust failure of reader stage 5 (81%
  right at confidence >= 0.9 on held-out v2.0 questions).

One SQuAD train article in ten (by a hash of its id) is never trained on: those questions
fit the confidence calibrator (``qa.training.calibrate``) on articles the reader never saw.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.text import STOPWORDS
from qa.training.data import Example, LoadReport, read_jsonl

NEGATIVE_KINDS = ("similar", "swap", "foreign", "cut", "near")
CALIBRATION_SHARE = 10
"""One SQuAD train article in this many is kept for calibration, never trained on."""

_WORD = re.compile(r"\w+")


def is_calibration_article(article_id: str) -> bool:
    """Whether a SQuAD train article is kept for calibration (one in ten, by a hash of its id)."""
    digest = hashlib.sha256(article_id.encode("utf-8")).digest()
    return digest[0] % CALIBRATION_SHARE == 0


@dataclass(frozen=True)
class Paragraph:
    """One SQuAD train paragraph."""

    id: str
    article_id: str
    text: str


@dataclass
class SquadTrain:
    """The train set's paragraphs and answerable questions, split into training and
    calibration articles."""

    paragraphs: dict[str, Paragraph]
    train: list[Example]
    calibration: list[Example]
    paragraph_of: dict[str, str]
    """Example id -> paragraph id."""


def load_squad_train(directory: Path, report: LoadReport) -> SquadTrain:
    """SQuAD v1.1 train: paragraphs and answerable questions, split into training and
    calibration articles."""
    paragraphs: dict[str, Paragraph] = {}
    for row in read_jsonl(directory / "paragraphs.jsonl", report):
        if isinstance(row.get("id"), str) and isinstance(row.get("text"), str):
            paragraphs[row["id"]] = Paragraph(row["id"], str(row.get("article_id")), row["text"])
    train: list[Example] = []
    calib: list[Example] = []
    paragraph_of: dict[str, str] = {}
    for row in read_jsonl(directory / "questions.jsonl", report):
        where = row["_where"]
        q, pid, qid = row.get("question"), row.get("paragraph_id"), row.get("id")
        answers = [a for a in row.get("answers") or [] if isinstance(a, str) and a.strip()]
        starts = row.get("answer_starts") or []
        if not isinstance(q, str) or not q.strip() or not isinstance(qid, str):
            report.skip(where, "no question or id")
            continue
        para = paragraphs.get(pid) if isinstance(pid, str) else None
        if para is None:
            report.skip(where, f"paragraph {pid!r} not in paragraphs.jsonl")
            continue
        if not answers or not starts or not isinstance(starts[0], int):
            report.skip(where, "no answer with an offset")
            continue
        start, text = starts[0], answers[0]
        if para.text[start : start + len(text)] != text:
            report.skip(where, "answer offset does not match the paragraph")
            continue
        report.read += 1
        ex = Example(f"train:{qid}", q, para.text, start, text, "squad1.1-train", tuple(answers))
        paragraph_of[ex.id] = para.id
        (calib if is_calibration_article(para.article_id) else train).append(ex)
    return SquadTrain(paragraphs, train, calib, paragraph_of)


def _terms(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS]


class BM25:
    """Okapi BM25 over a fixed list of texts (k1 1.2, b 0.75, the usual defaults)."""

    def __init__(self, texts: list[str]) -> None:
        self.postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        self.lengths = []
        for i, t in enumerate(texts):
            tf = Counter(_terms(t))
            self.lengths.append(sum(tf.values()))
            for w, n in tf.items():
                self.postings[w].append((i, n))
        self.avg = sum(self.lengths) / max(1, len(self.lengths))
        self.n = len(texts)

    def top(self, query: str, k: int = 10, allowed: Iterable[int] | None = None) -> list[int]:
        """The ``k`` best texts for ``query`` (indexes), among ``allowed`` when given."""
        scores: dict[int, float] = defaultdict(float)
        keep = set(allowed) if allowed is not None else None
        for w in set(_terms(query)):
            plist = self.postings.get(w)
            if not plist:
                continue
            idf = math.log(1 + (self.n - len(plist) + 0.5) / (len(plist) + 0.5))
            for i, n in plist:
                if keep is not None and i not in keep:
                    continue
                norm = n + 1.2 * (0.25 + 0.75 * self.lengths[i] / self.avg)
                scores[i] += idf * n * 2.2 / norm
        return sorted(scores, key=lambda i: -scores[i])[:k]


def _lacks(text: str, answers: Iterable[str]) -> bool:
    low = text.lower()
    return all(a.lower() not in low for a in answers)


_SWAP_LABELS = frozenset(
    {
        "PERSON",
        "ORG",
        "GPE",
        "LOC",
        "NORP",
        "FAC",
        "DATE",
        "CARDINAL",
        "MONEY",
        "PERCENT",
        "QUANTITY",
        "EVENT",
        "WORK_OF_ART",
        "PRODUCT",
        "LANGUAGE",
        "LAW",
        "ORDINAL",
    }
)


def make_negatives(
    data: SquadTrain, pool: list[Example], *, counts: dict[str, int], seed: int, nlp: Any | None
) -> list[Example]:
    """Hard no-answer examples from ``pool`` (training questions only), ``counts[kind]``
    of each kind in NEGATIVE_KINDS."""
    rng = random.Random(seed)
    paras = list(data.paragraphs.values())
    by_article: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(paras):
        by_article[p.article_id].append(i)
    calib_articles = {p.article_id for p in paras if is_calibration_article(p.article_id)}
    bm25 = BM25([p.text for p in paras]) if counts.get("similar") or counts.get("foreign") else None
    order = pool[:]
    rng.shuffle(order)
    out: list[Example] = []

    def own(ex: Example) -> Paragraph:
        return data.paragraphs[data.paragraph_of[ex.id]]

    def nearest(
        kind: str,
        examples: list[Example],
        depth: int,
        allowed: Callable[[Paragraph], list[int]],
        fits: Callable[[Paragraph, Paragraph], bool],
    ) -> None:
        """Pair each question with its best BM25 paragraph among ``allowed`` that ``fits``
        and lacks its answer, until ``counts[kind]`` are made."""
        assert bm25 is not None
        made = 0
        for ex in examples:
            if made >= counts[kind]:
                break
            p = own(ex)
            for j in bm25.top(ex.question, depth, allowed(p)):
                if fits(p, paras[j]) and _lacks(paras[j].text, ex.answers):
                    out.append(
                        Example(
                            f"neg:{kind}:{ex.id}",
                            ex.question,
                            paras[j].text,
                            -1,
                            "",
                            f"negative:{kind}",
                        )
                    )
                    made += 1
                    break

    if counts.get("similar") and bm25 is not None:
        nearest("similar", order, 5, lambda p: by_article[p.article_id], lambda p, q: q.id != p.id)
    if counts.get("foreign") and bm25 is not None:
        train_idx = [i for i, p in enumerate(paras) if p.article_id not in calib_articles]
        nearest(
            "foreign",
            list(reversed(order)),
            10,
            lambda p: train_idx,
            lambda p, q: q.article_id != p.article_id,
        )
    if counts.get("swap") and nlp is not None:
        out += swapped_questions(order, own, counts["swap"], rng, nlp)
    if counts.get("cut"):
        # From the middle of the order, so cuts mostly reuse no question similar or foreign used.
        middle = len(order) // 2
        out += cut_questions(order[middle:] + order[:middle], own, counts["cut"])
    if counts.get("near") and nlp is not None:
        # From the other end of the order, so that mostly questions swap did not use are
        # swapped: the same question with two swaps would teach the entity, not the fact.
        out += swapped_questions(order[::-1], own, counts["near"], rng, nlp, kind="near")
    return out


_SHORTEST_CUT = 150
"""Characters a cut paragraph keeps at least: shorter leftovers are one clause, too little
context to teach that the fact is missing rather than the topic."""


def cut_questions(order: list[Example], own: Any, limit: int) -> list[Example]:
    """Up to ``limit`` questions of ``order`` paired with their own paragraph (their
    ``answer_start`` counts in it) less the answer's sentence (see ``cut``); skipped where
    the answer is said again elsewhere in it."""
    out: list[Example] = []
    for ex in order:
        if len(out) >= limit:
            break
        shorter = without_sentence(own(ex).text, ex)
        if len(shorter) >= _SHORTEST_CUT and _lacks(shorter, ex.answers):
            out.append(Example(f"neg:cut:{ex.id}", ex.question, shorter, -1, "", "negative:cut"))
    return out


_SENTENCE_END = re.compile(r"[.!?][\"”’)]*\s+")


def without_sentence(text: str, ex: Example) -> str:
    """``text`` with the sentence that holds ``ex``'s answer cut out."""
    if ex.answer_start < 0:
        return text
    end_of_answer = ex.answer_start + len(ex.answer_text)
    start = 0
    for m in _SENTENCE_END.finditer(text, 0, ex.answer_start):
        start = m.end()
    after = _SENTENCE_END.search(text, end_of_answer)
    end = after.end() if after else len(text)
    return (text[:start] + text[end:]).strip()


def _names_something(entity: str) -> bool:
    """Whether a question's entity names a thing ("Bolivia", "1990") rather than asks for one
    ("what year", "annually"): of 30 same-article swaps read by hand, most of those that read
    as nonsense had such an entity. (Other-article swaps predate this filter and keep their
    recipe, so that shipped readers stay reproducible.)"""
    first = entity.split()[0]
    return (first[:1].isupper() or first[:1].isdigit()) and not any(
        w.lower() in ("what", "which", "how", "when", "where", "who") for w in entity.split()
    )


def swapped_questions(
    order: list[Example],
    own: Any,
    limit: int,
    rng: random.Random,
    nlp: Any,
    *,
    kind: str = "swap",
) -> list[Example]:
    """Up to ``limit`` questions of ``order`` with their key entity swapped (see ``swap``);
    ``own(example)`` is the example's paragraph. Kind ``near`` takes the new entity from
    another question of the same article instead ("the 1990 stampede" asked of a report on
    2006's that mentions 1990): the passage then still names everything the question
    does."""
    same_article = kind == "near"
    # Parse about three questions per swap wanted: about half have a usable entity.
    sample = order[: limit * 3]
    docs = list(nlp.pipe((ex.question for ex in sample), batch_size=256))
    pools: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for ex, doc in zip(sample, docs, strict=True):
        art = own(ex).article_id
        for ent in doc.ents:
            if ent.label_ in _SWAP_LABELS:
                pools[ent.label_].append((ent.text, art))
    out: list[Example] = []
    for ex, doc in zip(sample, docs, strict=True):
        if len(out) >= limit:
            break
        para = own(ex)
        low = para.text.lower()
        answer = ex.answer_text.lower()
        # The entity must ground the question in its paragraph and must not be the answer.
        keys = [
            e
            for e in doc.ents
            if e.label_ in _SWAP_LABELS and e.text.lower() in low and e.text.lower() not in answer
        ]
        if not keys:
            continue
        ent = rng.choice(keys)
        options = [
            t
            for t, art in pools[ent.label_]
            if (art == para.article_id) == same_article
            and t.lower() not in low
            and t.lower() != ent.text.lower()
            and (not same_article or _names_something(t))
        ]
        if not options:
            continue
        new = rng.choice(options)
        q = ex.question[: ent.start_char] + new + ex.question[ent.end_char :]
        out.append(Example(f"neg:{kind}:{ex.id}", q, ex.context, -1, "", f"negative:{kind}"))
    return out
