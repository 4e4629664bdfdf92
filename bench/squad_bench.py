"""SQuAD benchmark: ingest speed, query latency, retrieval quality and answer EM/F1.

    python bench/squad_bench.py [--articles PATH] [--questions PATH] [--limit N]
                                [--json OUT] [--retrieval-only] [--data-dir DIR]

Ingests the articles into a temporary data directory through
``qa.pipeline.build_pipeline`` (or reuses ``--data-dir`` if it already holds an index),
then asks every question one at a time and prints a table:

* ingest chunks/s, and the same chunks encoded by sentence-transformers alone (the floor)
  in the same run, with the ratio;
* warm query latency p50/p95, retrieval only (``pipeline.search``) and full ``ask``;
* the share of questions whose SQuAD-normalised gold answer occurs in a top-5 / top-1
  passage, both as retrieved and as cited by ``ask`` (which puts the answer's passage first);
* gold paragraph at rank 1 (a chunk overlapping the gold paragraph's offsets) when the
  articles carry ``paragraph_offsets`` and the questions ``paragraph_index`` (or, for
  QAMR-style questions with a ``sentence``, a chunk holding that sentence);
* SQuAD exact match and F1 of the short answers.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from qa.squad import answer_in_text, exact_match, f1_score  # noqa: E402

DEFAULT_EVAL = REPO.parent / "shared" / "eval" / "squad-v1.1-dev"
DEFAULT_ARTICLES = DEFAULT_EVAL / "articles.jsonl"
DEFAULT_QUESTIONS = DEFAULT_EVAL / "questions.public.jsonl"


@dataclass
class Question:
    id: str
    question: str
    answers: list[str]
    article_id: str | None
    gold_span: tuple[int, int] | None = None
    gold_sentence: str | None = None
    """QAMR-style questions name their evidence sentence instead of a paragraph."""


@dataclass
class Tally:
    n: int = 0
    answerable: int = 0
    with_paragraph: int = 0
    counts: dict[str, float] = field(default_factory=dict)

    def add(self, key: str, value: float) -> None:
        self.counts[key] = self.counts.get(key, 0.0) + value

    def share(self, key: str, over: int) -> float | None:
        return round(100.0 * self.counts.get(key, 0.0) / over, 2) if over else None


def paragraph_spans(article: dict[str, Any]) -> list[tuple[int, int]]:
    """(start, end) of each gold paragraph: from its offset to the next one, trimmed."""
    text: str = article["text"]
    offsets: list[int] = article.get("paragraph_offsets") or []
    spans = []
    for i, start in enumerate(offsets):
        end = offsets[i + 1] if i + 1 < len(offsets) else len(text)
        end = start + len(text[start:end].rstrip())
        spans.append((start, end))
    return spans


def load_questions(articles: Path, questions: Path, limit: int | None) -> list[Question]:
    spans: dict[str, list[tuple[int, int]]] = {}
    with articles.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                rec = json.loads(line)
                spans[rec["id"]] = paragraph_spans(rec)
    out: list[Question] = []
    with questions.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            rec = json.loads(line)
            gold = None
            pidx = rec.get("paragraph_index")
            aid = rec.get("article_id")
            if pidx is not None and aid in spans and 0 <= pidx < len(spans[aid]):
                gold = spans[aid][pidx]
            sentence = rec.get("sentence") if gold is None else None
            out.append(
                Question(
                    rec["id"],
                    rec["question"],
                    list(rec.get("answers") or []),
                    aid,
                    gold,
                    " ".join(sentence.split()) if sentence else None,
                )
            )
            if limit and len(out) >= limit:
                break
    return out


def percentile(values: Sequence[float], p: float) -> float:
    if not values:
        return float("nan")
    xs = sorted(values)
    k = (len(xs) - 1) * p / 100.0
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def overlaps(start: int, end: int, span: tuple[int, int] | None) -> bool:
    return span is not None and start < span[1] and end > span[0]


def score_passages(
    tally: Tally, prefix: str, q: Question, passages: Sequence[tuple[str, str, int, int]]
) -> None:
    """passages: (article_id, text, start, end), best first."""
    if q.answers:
        hits = [answer_in_text(text, q.answers) for _, text, _, _ in passages]
        tally.add(f"{prefix}_ans5", float(any(hits[:5])))
        tally.add(f"{prefix}_ans1", float(any(hits[:1])))
    if q.gold_span is not None or q.gold_sentence:
        gold = [
            aid == q.article_id
            and (
                overlaps(s, e, q.gold_span)
                if q.gold_span
                else str(q.gold_sentence) in " ".join(text.split())
            )
            for aid, text, s, e in passages
        ]
        tally.add(f"{prefix}_para1", float(any(gold[:1])))
        tally.add(f"{prefix}_para5", float(any(gold[:5])))


def measure_floor(pipeline: Any) -> tuple[int, float]:
    """Encode every stored chunk's embedding text with sentence-transformers alone."""
    from qa.ingest.ingestor import embedding_text

    texts: list[str] = []
    for art in pipeline.articles(limit=10**9):
        texts.extend(embedding_text(art, c) for c in pipeline.article_chunks(art.id))
    encoder = pipeline.doc_encoder
    encoder.encode(texts[:8])  # load and warm
    t = time.perf_counter()
    encoder.encode(texts)
    return len(texts), time.perf_counter() - t


BASELINES: dict[str, dict[str, Any]] = {
    "BM25 alone": {"dense_weight": 0.0, "sentence_weight": 0.0, "candidates": 50},
    "dense alone": {"dense_weight": 1.0, "sentence_weight": 0.0, "candidates": 50},
    "0.5 dense + 0.5 BM25/max, 50 candidates (previous default)": {
        "dense_weight": 0.5,
        "sentence_weight": 0.0,
        "candidates": 50,
    },
}


def run_baselines(pipeline: Any, questions: Sequence[Question], k: int) -> dict[str, Any]:
    """Retrieval figures of other fusions over the same index and query encoder."""
    from qa.retrieval import HybridRetriever

    out: dict[str, Any] = {}
    for name, params in BASELINES.items():
        retriever = HybridRetriever(pipeline.index, pipeline.retriever.encoder, **params)
        tally = Tally()
        for q in questions:
            hits = retriever.retrieve(q.question, k)
            score_passages(
                tally,
                "ret",
                q,
                [(h.chunk.article_id, h.chunk.text, h.chunk.start, h.chunk.end) for h in hits],
            )
        a = sum(bool(q.answers) for q in questions)
        g = sum(q.gold_span is not None or bool(q.gold_sentence) for q in questions)
        out[name] = {
            "retrieved_answer_top5": tally.share("ret_ans5", a),
            "retrieved_answer_top1": tally.share("ret_ans1", a),
            "retrieved_paragraph_top1": tally.share("ret_para1", g),
        }
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    from qa.pipeline import build_pipeline
    from qa.settings import Settings

    questions = load_questions(args.articles, args.questions, args.limit)
    tmp: Path | None = None
    if args.data_dir:
        data_dir = Path(args.data_dir)
    else:
        tmp = Path(tempfile.mkdtemp(prefix="squad-bench-"))
        data_dir = tmp / "data"
    results: dict[str, Any] = {
        "articles": str(args.articles),
        "questions": str(args.questions),
        "n_questions": len(questions),
    }
    try:
        settings = Settings(data_dir=data_dir, store=None, auto_ingest=False)
        pipeline = build_pipeline(settings)
        if pipeline.index.is_empty():
            report = pipeline.ingest([args.articles])
            results["ingest"] = {
                "chunks": report.chunks,
                "seconds": round(report.seconds, 2),
                "chunks_per_s": round(report.chunks / report.seconds, 1),
            }
            if not args.no_floor:
                n, secs = measure_floor(pipeline)
                floor = n / secs
                results["floor"] = {
                    "chunks": n,
                    "seconds": round(secs, 2),
                    "chunks_per_s": round(floor, 1),
                    "ingest_over_floor": round(results["ingest"]["chunks_per_s"] / floor, 3),
                }
        stats = pipeline.stats()
        results["index"] = {
            "articles": stats.articles,
            "chunks": stats.chunks,
            "chunk_words": stats.chunk_words,
            "chunk_overlap": stats.chunk_overlap,
            "dense_weight": settings.dense_weight,
            "candidates": settings.candidates,
        }
        k = settings.top_k
        tally = Tally()
        search_ms: list[float] = []
        ask_ms: list[float] = []
        if questions:  # warm: load the ONNX session, the FAISS file and SQLite pages
            pipeline.search(questions[0].question, k)
            if not args.retrieval_only:
                pipeline.ask(questions[0].question, k)
        for q in questions:
            tally.n += 1
            tally.answerable += bool(q.answers)
            tally.with_paragraph += q.gold_span is not None or bool(q.gold_sentence)
            t = time.perf_counter()
            hits = pipeline.search(q.question, k)
            search_ms.append((time.perf_counter() - t) * 1000)
            score_passages(
                tally,
                "ret",
                q,
                [(h.chunk.article_id, h.chunk.text, h.chunk.start, h.chunk.end) for h in hits],
            )
            if args.retrieval_only:
                continue
            t = time.perf_counter()
            answer = pipeline.ask(q.question, k)
            ask_ms.append((time.perf_counter() - t) * 1000)
            score_passages(
                tally, "cite", q, [(c.article_id, c.text, c.start, c.end) for c in answer.citations]
            )
            tally.add("em", exact_match(answer.answer, q.answers))
            tally.add("f1", f1_score(answer.answer, q.answers))
            tally.add("abstained", float(answer.abstained))
        if args.baselines:
            results["baselines"] = run_baselines(pipeline, questions, k)
        pipeline.close()
    finally:
        if tmp is not None and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    results["latency_ms"] = {
        "search_p50": round(percentile(search_ms, 50), 2),
        "search_p95": round(percentile(search_ms, 95), 2),
    }
    if ask_ms:
        results["latency_ms"]["ask_p50"] = round(percentile(ask_ms, 50), 2)
        results["latency_ms"]["ask_p95"] = round(percentile(ask_ms, 95), 2)
    a, g = tally.answerable, tally.with_paragraph
    quality: dict[str, Any] = {
        "retrieved_answer_top5": tally.share("ret_ans5", a),
        "retrieved_answer_top1": tally.share("ret_ans1", a),
        "retrieved_paragraph_top1": tally.share("ret_para1", g),
        "retrieved_paragraph_top5": tally.share("ret_para5", g),
    }
    if not args.retrieval_only:
        quality.update(
            {
                "cited_answer_top5": tally.share("cite_ans5", a),
                "cited_answer_top1": tally.share("cite_ans1", a),
                "cited_paragraph_top1": tally.share("cite_para1", g),
                "exact_match": tally.share("em", tally.n),
                "f1": tally.share("f1", tally.n),
                "abstained": tally.share("abstained", tally.n),
            }
        )
    results["quality_pct"] = quality
    results["counts"] = {"questions": tally.n, "answerable": a, "with_gold_paragraph": g}
    return results


def table(results: dict[str, Any]) -> str:
    rows: list[tuple[str, str]] = []

    def fmt(v: Any, unit: str = "") -> str:
        return "n/a" if v is None else f"{v}{unit}"

    if "ingest" in results:
        ing = results["ingest"]
        rows.append(
            (
                "ingest",
                f"{ing['chunks']} chunks in {ing['seconds']} s = {ing['chunks_per_s']} chunks/s",
            )
        )
    if "floor" in results:
        fl = results["floor"]
        rows.append(
            (
                "floor (sentence-transformers alone)",
                f"{fl['chunks_per_s']} chunks/s; ingest/floor = {fl['ingest_over_floor']}",
            )
        )
    idx = results["index"]
    rows.append(
        (
            "index",
            f"{idx['articles']} articles, {idx['chunks']} chunks "
            f"(chunk_words={idx['chunk_words']}, overlap={idx['chunk_overlap']}, "
            f"dense_weight={idx['dense_weight']}, candidates={idx['candidates']})",
        )
    )
    lat = results["latency_ms"]
    rows.append(("search latency p50 / p95", f"{lat['search_p50']} / {lat['search_p95']} ms"))
    if "ask_p50" in lat:
        rows.append(("ask latency p50 / p95", f"{lat['ask_p50']} / {lat['ask_p95']} ms"))
    labels = {
        "retrieved_answer_top5": "gold answer in top-5 retrieved",
        "retrieved_answer_top1": "gold answer in top-1 retrieved",
        "retrieved_paragraph_top1": "gold paragraph at retrieved rank 1",
        "retrieved_paragraph_top5": "gold paragraph in top-5 retrieved",
        "cited_answer_top5": "gold answer in top-5 cited",
        "cited_answer_top1": "gold answer in cited passage 1",
        "cited_paragraph_top1": "gold paragraph at cited rank 1",
        "exact_match": "exact match",
        "f1": "F1",
        "abstained": "abstained",
    }
    for key, value in results["quality_pct"].items():
        rows.append((labels.get(key, key), fmt(value, "%")))
    c = results["counts"]
    rows.append(
        (
            "questions",
            f"{c['questions']} ({c['answerable']} answerable, "
            f"{c['with_gold_paragraph']} with a gold paragraph)",
        )
    )
    for name, figs in results.get("baselines", {}).items():
        rows.append(
            (
                f"baseline: {name}",
                f"answer top-5 {fmt(figs['retrieved_answer_top5'], '%')}, "
                f"answer top-1 {fmt(figs['retrieved_answer_top1'], '%')}, "
                f"paragraph rank 1 {fmt(figs['retrieved_paragraph_top1'], '%')}",
            )
        )
    width = max(len(r[0]) for r in rows)
    lines = [f"{'metric'.ljust(width)}  value", f"{'-' * width}  {'-' * 5}"]
    lines += [f"{name.ljust(width)}  {value}" for name, value in rows]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--articles", type=Path, default=DEFAULT_ARTICLES)
    parser.add_argument("--questions", type=Path, default=DEFAULT_QUESTIONS)
    parser.add_argument("--limit", type=int, default=None, help="Only the first N questions.")
    parser.add_argument(
        "--json",
        dest="json_out",
        type=Path,
        default=None,
        help="Also write the figures to this JSON file.",
    )
    parser.add_argument(
        "--retrieval-only",
        action="store_true",
        help="Skip ask (answers, EM/F1): retrieval figures and latency only.",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="Use this data directory (ingested into if empty, kept) instead of a temporary one.",
    )
    parser.add_argument(
        "--baselines",
        action="store_true",
        help="Also score BM25 alone, dense alone and the previous fusion "
        "over the same index (retrieval figures only).",
    )
    parser.add_argument("--keep", action="store_true", help="Keep the temporary data directory.")
    parser.add_argument(
        "--no-floor",
        action="store_true",
        help="Skip the sentence-transformers-only encoding floor.",
    )
    args = parser.parse_args(argv)
    results = run(args)
    print(table(results))
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
