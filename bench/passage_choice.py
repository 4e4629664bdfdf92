"""Which read passage's span to answer with, and what more the confidence could know: every
read passage's reading, recorded, then compared offline.

    python bench/passage_choice.py record-calibration OUT.jsonl [--reader DIR] [--passages 5]
    python bench/passage_choice.py record QUESTIONS --corpus ARTICLES OUT.jsonl [--passages 5]
    python bench/passage_choice.py compare CAL.jsonl [RECORDED.jsonl...]

Both ``record`` commands take ``--widen WORDS``: each passage grown by whole sentences of its
article up to that many words before it is read (measured, not kept: README).

``record-calibration`` asks `ask calibrate-reader`'s questions (the same seeded draw: every
kind, answerable and not) and ``record`` a question file over a fresh index of ARTICLES,
each with the uncalibrated reader reading ``--passages`` passages, and write one line a
question: every read passage's span and its sentence, its reader scores, retrieval scores and the
confidence's signals as if it were chosen, and how right it is against the gold answers.

``compare`` then prints, answering every answerable question:
- the shipped choice (span score + 20 x retrieval + the figure bonus, over the first 3
  passages) against the same rule over 4 and 5 passages and against the best passage each
  time (the oracle);
- a learned listwise ranker (softmax over the read passages, fitted on the calibration
  file's answerable questions; two-fold cross-validated there, and fitted on all of them
  for the recorded sets);
- the calibrated confidence refitted with four more signals from all read passages (the
  chosen span's log-probability under one softmax over every passage's span and "no
  answer" scores, its score against the passages' pooled "no answer", the lowest "no
  answer" score, and how many passages have a span above their "no answer"): five-fold
  held-out log loss and ECE on the calibration questions, with and without them.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from qa.answer.base import AnswerContext  # noqa: E402
from qa.answer.confidence import FEATURES, expected_type, signals  # noqa: E402
from qa.answer.extractive import (  # noqa: E402
    DATE_BONUS,
    QUANTITY_BONUS,
    RETRIEVAL_WEIGHT,
    ReaderAnswerer,
    as_candidates,
    date_bonus,
    hedged,
    quantity_bonus,
)
from qa.answer.rules import RuleAnswerer  # noqa: E402
from qa.eval.scoring import reliability_of  # noqa: E402
from qa.reader.model import SHIPPED_DIR  # noqa: E402
from qa.squad import f1_score  # noqa: E402
from qa.training.calibrate import (  # noqa: E402
    REFERENCE_CREDIT,
    RIGHT_F1,
    CalibrationConfig,
    _questions,
    fit_logistic,
)
from qa.training.data import LoadReport  # noqa: E402
from qa.types import Hit  # noqa: E402

TRAIN = REPO.parent / "shared" / "train" / "squad-v1.1-train"
FIRST = 3
"""Passages the shipped question path reads (``QA_READER_PASSAGES``)."""
Passage = dict[str, Any]
Question = dict[str, Any]


def recorded(
    answerer: ReaderAnswerer, question: str, hits: Sequence[Hit], context: AnswerContext
) -> list[Passage | None]:
    """Every read passage's typed best span, scores and signals (None: no span)."""
    reader = answerer._load()
    assert reader is not None, answerer.failure
    read = list(hits[: answerer.passages])
    # The first passages in one batch and the rest in another, as the question path reads
    # them: the int8 reader's scores depend on the batch (README).
    readings = [
        reading
        for part in (read[:FIRST], read[FIRST:])
        if part
        for reading in reader.read(
            question,
            [h.chunk.text for h in part],
            breaks=[answerer._breaks(h, context) for h in part],
        )
    ]
    kind = expected_type(question)
    spans = [answerer._typed(r, kind) for r in readings]
    ranks = [answerer._rank_score(question, sp, h) for sp, h in zip(spans, read, strict=True)]
    cands = as_candidates(spans, readings, read, ranks)
    out: list[Passage | None] = []
    for i, (sp, r, h) in enumerate(zip(spans, readings, read, strict=True)):
        if sp is None:
            out.append(None)
            continue
        s, e = h.chunk.start + hedged(h.chunk.text, sp.start), h.chunk.start + sp.end
        es, ee = answerer._sentence(h, s, e, context)
        texts = (h.article.text[es:ee], h.chunk.text, h.article.title)
        out.append(
            {
                "answer": h.article.text[s:e],
                "sentence": texts[0],
                "span": sp.score,
                "null": r.null_score,
                "ret": h.score,
                "qb": quantity_bonus(question, sp.text),
                "db": date_bonus(question, sp.text),
                "features": signals(question, i, cands, *texts),
                # As the question path computes them, reading only the first FIRST passages.
                **(
                    {"first_features": signals(question, i, cands[:FIRST], *texts)}
                    if i < FIRST
                    else {}
                ),
            }
        )
    return out


def widen(hit: Hit, context: AnswerContext, words: int) -> Hit:
    """The hit's passage grown by whole sentences of its article, one before and one after
    in turn, while it stays within ``words`` words (0: as retrieved)."""
    from dataclasses import replace

    from qa.ingest.chunking import count_words

    sentences, _ = context.annotations(hit.article.id)
    inside = [
        i for i, x in enumerate(sentences) if hit.chunk.start <= x.start and x.end <= hit.chunk.end
    ]
    if not words or not inside:
        return hit
    text = hit.article.text
    lo, hi = inside[0], inside[-1]
    total = count_words(hit.chunk.text)
    grew = True
    while grew:
        grew = False
        for j in (lo - 1, hi + 1):
            if 0 <= j < len(sentences):
                w = count_words(text[sentences[j].start : sentences[j].end])
                if total + w <= words:
                    total += w
                    lo, hi, grew = min(lo, j), max(hi, j), True
    start = min(sentences[lo].start, hit.chunk.start)
    end = max(sentences[hi].end, hit.chunk.end)
    return replace(hit, chunk=replace(hit.chunk, start=start, end=end, text=text[start:end]))


def _pipeline(reader: Path, passages: int, work: Path) -> tuple[Any, ReaderAnswerer]:
    from qa.pipeline import build_pipeline
    from qa.settings import Settings

    answerer = ReaderAnswerer(reader, RuleAnswerer(), passages=passages, calibrated=False)
    if answerer.failure:
        raise SystemExit(f"cannot read: {answerer.failure}")
    settings = Settings(data_dir=work, store=None, auto_ingest=False, reader=str(reader))
    return build_pipeline(settings, answerer=answerer), answerer


def _write(out: Path, rows: list[dict[str, Any]]) -> None:
    out.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    print(f"{len(rows)} questions recorded in {out}")


def record_calibration(out: Path, reader: Path, passages: int, words: int = 0) -> None:
    cfg = CalibrationConfig(reader_dir=reader, train_dir=TRAIN, work_dir=Path("."))
    docs, asked = _questions(cfg, LoadReport())
    with tempfile.TemporaryDirectory() as work:
        pipeline, answerer = _pipeline(reader, passages, Path(work))
        try:
            pipeline.ingest_articles(docs)
            context = AnswerContext(pipeline.annotations)
            rows = []
            for ex, kind in asked:
                hits = [widen(h, context, words) for h in pipeline.search(ex.question, 5)]
                rows.append(
                    {
                        "question": ex.question,
                        "kind": kind,
                        "gold": list(ex.answers) if ex.answerable else [],
                        "passages": recorded(answerer, ex.question, hits, context),
                    }
                )
        finally:
            pipeline.close()
    _write(out, rows)


def record_set(
    questions: Path, corpus: Path, out: Path, reader: Path, passages: int, words: int = 0
) -> None:
    from qa.eval.loaders import load_questions
    from qa.ingest.files import iter_articles
    from qa.types import Article

    qs = load_questions(questions).questions
    with tempfile.TemporaryDirectory() as work:
        pipeline, answerer = _pipeline(reader, passages, Path(work))
        try:
            pipeline.ingest_articles([a for a in iter_articles([corpus]) if isinstance(a, Article)])
            context = AnswerContext(pipeline.annotations)
            rows = []
            for q in qs:
                hits = [widen(h, context, words) for h in pipeline.search(q.question, 5)]
                rows.append(
                    {
                        "question": q.question,
                        "kind": "answerable" if q.answers else "unanswerable",
                        "gold": list(q.answers),
                        "passages": recorded(answerer, q.question, hits, context),
                    }
                )
        finally:
            pipeline.close()
    _write(out, rows)


# -- offline comparison -----------------------------------------------------------------------
def load(path: Path) -> list[Question]:
    rows = [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]
    for r in rows:
        for p in r["passages"]:
            if p is not None:
                p["f1"] = f1_score(p["answer"], r["gold"]) if r["gold"] else 0.0
    return rows


def shipped(p: Passage, i: int) -> float:
    """``ReaderAnswerer._rank_score`` (recordings from before the date bonus have no "db")."""
    return float(
        p["span"]
        + RETRIEVAL_WEIGHT * p["ret"]
        + QUANTITY_BONUS * p["qb"]
        + DATE_BONUS * p.get("db", 0.0)
    )


def choose(q: Question, k: int, score: Callable[[Passage, int], float]) -> int | None:
    best, top = None, -math.inf
    for i, p in enumerate(q["passages"][:k]):
        if p is not None and score(p, i) > top:
            best, top = i, score(p, i)
    return best


def answer_all(qs: list[Question], k: int, score: Callable[[Passage, int], float]) -> float:
    """F1 answering every answerable question with the chosen passage's span."""
    total = 0.0
    for q in qs:
        c = choose(q, k, score)
        total += q["passages"][c]["f1"] if c is not None else 0.0
    return total / max(len(qs), 1)


def oracle(qs: list[Question], k: int) -> float:
    best = [max([p["f1"] for p in q["passages"][:k] if p] + [0.0]) for q in qs]
    return sum(best) / max(len(qs), 1)


_RANK_SIGNALS = (
    "q_sentence",
    "q_passage",
    "missing_names",
    "missing_share",
    "missing_numbers",
    "unit_missing",
    "type_match",
    "answer_in_question",
    "span_words",
    "agreement",
    "names",
    "runner_up",
    "dense",
    "lexical",
)


def rank_vector(p: Passage, i: int) -> list[float]:
    f = p["features"]
    return (
        [p["span"], p["null"], p["span"] - p["null"], p["ret"], p["qb"]]
        + [float(f[n]) for n in _RANK_SIGNALS]
        + [float(i == j) for j in range(3)]
    )


def fit_ranker(qs: list[Question], k: int, l2: float = 1.0) -> Callable[[Passage, int], float]:
    """Softmax over the read passages, the right ones (F1 >= 0.5) the target, by Adam."""
    rows: list[list[float]] = []
    groups: list[tuple[int, int, np.ndarray]] = []
    for q in qs:
        idx = [i for i, p in enumerate(q["passages"][:k]) if p is not None]
        right = np.array([float(q["passages"][i]["f1"] >= RIGHT_F1) for i in idx])
        if len(idx) < 2 or right.sum() in (0, len(idx)):
            continue  # nothing to choose between
        groups.append((len(rows), len(rows) + len(idx), right / right.sum()))
        rows += [rank_vector(q["passages"][i], i) for i in idx]
    x = np.array(rows)
    mean, sd = x.mean(0), x.std(0)
    sd[sd < 1e-6] = 1.0
    z = (x - mean) / sd
    w, m, v = np.zeros(z.shape[1]), np.zeros(z.shape[1]), np.zeros(z.shape[1])
    for it in range(1, 301):
        s = z @ w
        g = l2 * w / len(groups)
        for a, b, target in groups:
            e = np.exp(s[a:b] - s[a:b].max())
            g += z[a:b].T @ (e / e.sum() - target) / len(groups)
        m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g
        w -= 0.1 * (m / (1 - 0.9**it)) / (np.sqrt(v / (1 - 0.999**it)) + 1e-8)
    return lambda p, i: float(((np.array(rank_vector(p, i)) - mean) / sd) @ w)


def confidence_vector(q: Question, c: int, extra: bool) -> list[float]:
    """The shipped signals of passage ``c`` over the first FIRST passages, and optionally
    the four pooled ones."""
    ps = q["passages"][:FIRST]
    p = ps[c]
    assert p is not None
    x = [float(p["first_features"][n]) for n in FEATURES]
    if extra:
        read = [o for o in ps if o is not None]
        nulls = np.array([o["null"] for o in read])
        pooled = np.array([o["span"] for o in read] + nulls.tolist())
        lse = pooled.max() + math.log(float(np.exp(pooled - pooled.max()).sum()))
        lse_null = nulls.max() + math.log(float(np.exp(nulls - nulls.max()).sum()))
        above = sum(1 for o in read if o["span"] > o["null"])
        x += [max(p["span"] - lse, -20.0), p["span"] - lse_null, float(nulls.min()), float(above)]
    return x


Vector = Callable[[Question, int], list[float]]


def _label(q: Question, c: int) -> float:
    """Right (F1 >= 0.5), partly right when it shares words with the one reference, as
    ``ask calibrate-reader`` counts it."""
    f1 = q["passages"][c]["f1"]
    return 1.0 if f1 >= RIGHT_F1 else (REFERENCE_CREDIT if q["gold"] and f1 > 0 else 0.0)


def answered(qs: list[Question]) -> list[tuple[Question, int]]:
    """Each question with a span and the passage the shipped rule answers from."""
    return [(q, c) for q in qs if (c := choose(q, FIRST, shipped)) is not None]


def fit_confidence(
    chosen: list[tuple[Question, int]], vector: Vector
) -> Callable[[Question, int], float]:
    """The logistic confidence over ``vector``, fitted on the calibration questions' chosen
    answers; returns the probability of passage ``c``'s answer of a question."""
    x = np.array([vector(q, c) for q, c in chosen])
    mean, sd = x.mean(0), x.std(0)
    sd[sd < 1e-6] = 1.0
    w, b = fit_logistic((x - mean) / sd, np.array([_label(q, c) for q, c in chosen]))

    def probability(q: Question, c: int) -> float:
        z = float(((np.array(vector(q, c)) - mean) / sd) @ w + b)
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    return probability


def confidence_check(cal: list[Question], vector: Vector, folds: int = 5) -> tuple[float, float]:
    """Held-out log loss and ECE of the logistic confidence on the calibration questions."""
    chosen = answered(cal)
    order = list(range(len(chosen)))
    random.Random(5).shuffle(order)
    losses, eces = [], []
    for fold in range(folds):
        held = set(order[fold::folds])
        prob = fit_confidence([qc for i, qc in enumerate(chosen) if i not in held], vector)
        test = [chosen[i] for i in sorted(held)]
        p = np.clip(np.array([prob(q, c) for q, c in test]), 1e-6, 1 - 1e-6)
        y = np.array([_label(q, c) for q, c in test])
        losses.append(float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean()))
        right = [q["passages"][c]["f1"] >= RIGHT_F1 for q, c in test]
        eces.append(reliability_of(list(zip(p.tolist(), right, strict=True))).ece or 0.0)
    return float(np.mean(losses)), float(np.mean(eces))


def compare(cal_path: Path, sets: list[Path]) -> None:
    cal = load(cal_path)
    answerable = [q for q in cal if q["gold"]]
    half = len(answerable) // 2
    print(f"calibration questions: {len(cal)}, answerable {len(answerable)}")
    print(
        "answering every answerable question, F1 (shipped rule over 3 / 4 / 5 passages, "
        "learned ranker over 3 / 4 / 5, oracle over 3 / 5):"
    )
    for name, train, test in (
        ("cal fold 1", answerable[:half], answerable[half:]),
        ("cal fold 2", answerable[half:], answerable[:half]),
    ):
        rankers = [fit_ranker(train, k) for k in (3, 4, 5)]
        _row(name, test, rankers)
    rankers = [fit_ranker(answerable, k) for k in (3, 4, 5)]
    for path in sets:
        _row(path.stem, [q for q in load(path) if q["gold"]], rankers)
    for extra in (False, True):

        def vector(q: Question, c: int, extra: bool = extra) -> list[float]:
            return confidence_vector(q, c, extra)

        loss, ece = confidence_check(cal, vector)
        label = "with the pooled signals" if extra else "shipped signals"
        print(f"confidence, {label}: held-out log loss {loss:.4f}, ECE {ece:.4f}")


def _row(name: str, qs: list[Question], rankers: list[Callable[[Passage, int], float]]) -> None:
    cells = [answer_all(qs, k, shipped) for k in (3, 4, 5)]
    cells += [answer_all(qs, k, r) for k, r in zip((3, 4, 5), rankers, strict=True)]
    cells += [oracle(qs, FIRST), oracle(qs, 5)]
    print(f"  {name:24} n={len(qs):5}  " + "  ".join(f"{c:.4f}" for c in cells))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    rc = sub.add_parser("record-calibration")
    rc.add_argument("out", type=Path)
    rs = sub.add_parser("record")
    rs.add_argument("questions", type=Path)
    rs.add_argument("--corpus", type=Path, required=True)
    rs.add_argument("out", type=Path)
    for p in (rc, rs):
        p.add_argument("--reader", type=Path, default=SHIPPED_DIR)
        p.add_argument("--passages", type=int, default=5)
        p.add_argument("--widen", type=int, default=0, help="grow passages to this many words")
    cp = sub.add_parser("compare")
    cp.add_argument("calibration", type=Path)
    cp.add_argument("recorded", type=Path, nargs="*")
    args = ap.parse_args()
    if args.cmd == "record-calibration":
        record_calibration(args.out, args.reader, args.passages, args.widen)
    elif args.cmd == "record":
        record_set(args.questions, args.corpus, args.out, args.reader, args.passages, args.widen)
    else:
        compare(args.calibration, args.recorded)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
