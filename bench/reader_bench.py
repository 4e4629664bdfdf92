"""What the trained reader does to ranking and answers, against the pipeline without it.

    python bench/reader_bench.py [--set squad-v1.1-dev|squad-v2.0-dev|qamr-wikinews]
                                 [--data-dir DIR] [--limit N] [--reader DIR] [--check-only]

Retrieves the top 5 passages for every public question once, reads them with the reader,
and prints, side by side in the same run:

* gold paragraph (or QAMR sentence) at rank 1: retrieval order, and after the reader's
  reranking, for each retrieval weight tried;
* answer EM / F1 when answering everything, by how many passages are read;
* on SQuAD v2.0, overall F1 (unanswerable questions count as right when declined) across
  thresholds;
* warm ``ask`` latency p50 / p95, rules against the reader, on the same index.

``--check-only`` keeps to the reader's held-out check questions (one in ten by id hash).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.squad_bench import load_questions, overlaps, percentile  # noqa: E402
from qa.squad import exact_match, f1_score  # noqa: E402

EVAL = REPO.parent / "shared" / "eval"
PENALTIES = (0.0, 0.1, 0.2, 0.3, 0.5)
WEIGHTS = (0.0, 4.0, 8.0, 12.0, 16.0, 20.0, 24.0, 32.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--set", default="squad-v1.1-dev")
    ap.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="an index of the set's articles to reuse (built if missing)",
    )
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--reader", type=Path, default=None)
    ap.add_argument("--check-only", action="store_true")
    ap.add_argument("--latency", type=int, default=200, help="questions timed per answerer")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument(
        "--abstain",
        type=lambda v: tuple(float(x) for x in v.split(",")),
        action="append",
        metavar="N,W,LP",
        help="passages, retrieval weight, length penalty to sweep thresholds for",
    )
    ap.add_argument("--no-latency", action="store_true")
    ap.add_argument("--numeric-bonus", type=float, default=0.0)
    ap.add_argument(
        "--rank",
        choices=("span", "margin"),
        default="span",
        help="rank passages by span score or by span minus no-answer score",
    )
    args = ap.parse_args()

    from qa.pipeline import build_pipeline
    from qa.reader.model import SHIPPED_DIR, Reader
    from qa.settings import Settings
    from qa.training.data import is_check

    articles = EVAL / args.set / "articles.jsonl"
    qfile = EVAL / args.set / "questions.public.jsonl"
    questions = load_questions(articles, qfile, None)
    impossible = {
        json.loads(line)["id"] for line in qfile.open() if json.loads(line).get("is_impossible")
    }
    if args.check_only:
        questions = [q for q in questions if is_check(q.id)]
    if args.limit:
        questions = questions[: args.limit]
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="reader-bench-"))
    settings = Settings(
        data_dir=data_dir, store=None, auto_ingest=False, reader="none", abstain_threshold=0.0
    )
    pipeline = build_pipeline(settings)
    if pipeline.index.is_empty():
        print(f"indexing {articles} into {data_dir} ...", file=sys.stderr)
        pipeline.ingest([articles])
    reader = Reader(args.reader or SHIPPED_DIR)

    depth = 5
    rows = []
    for q in questions:
        hits = pipeline.search(q.question, k=depth)
        contexts = [h.chunk.text for h in hits]
        feats = reader.featurize(q.question, contexts)
        logits = reader.logits(feats)
        readings = {lp: reader.decode(feats, logits, contexts, lp) for lp in PENALTIES}
        gold = []
        for h in hits:
            if q.gold_span is not None:
                gold.append(
                    h.article.id == q.article_id
                    and overlaps(h.chunk.start, h.chunk.end, q.gold_span)
                )
            elif q.gold_sentence:
                gold.append(
                    h.article.id == q.article_id
                    and q.gold_sentence in " ".join(h.chunk.text.split())
                )
            else:
                gold.append(False)
        rows.append((q, hits, readings, gold))

    out: dict[str, object] = {
        "set": args.set,
        "questions": len(rows),
        "reader": str(reader.directory),
    }
    answerable = [r for r in rows if r[0].id not in impossible]
    with_gold = [r for r in answerable if any(r[3]) or r[0].gold_span or r[0].gold_sentence]
    base_rank1 = sum(r[3][0] for r in with_gold if r[3]) / max(1, len(with_gold))
    out["gold_rank1_retrieval"] = round(base_rank1, 4)
    print(f"{args.set}: {len(rows)} questions ({len(rows) - len(answerable)} unanswerable)")
    print(f"gold passage at rank 1, retrieval order: {base_rank1:.3f}")

    from qa.answer.extractive import quantity_bonus

    def pick(hits, readings, n, w, question=""):
        idx = range(min(int(n), len(hits)))

        def value(i: int) -> float:
            base = readings[i].margin if args.rank == "margin" else readings[i].span_score
            bonus = args.numeric_bonus * quantity_bonus(question, readings[i].text)
            return base + w * hits[i].score + bonus if readings[i].text else -1e9

        return max(idx, key=value)

    table = {}
    for lp in PENALTIES:
        for n in (1, 2, 3, 5):
            for w in WEIGHTS if n > 1 else (0.0,):
                r1 = f1s = ems = 0.0
                for q, hits, readings, gold in answerable:
                    if not hits:
                        continue
                    rd = readings[lp]
                    b = pick(hits, rd, n, w, q.question)
                    r1 += gold[b]
                    ems += exact_match(rd[b].text, q.answers)
                    f1s += f1_score(rd[b].text, q.answers)
                m = max(1, len(answerable))
                table[f"n{n}_w{w}_lp{lp}"] = {
                    "gold_rank1": round(r1 / m, 4),
                    "em": round(ems / m, 4),
                    "f1": round(f1s / m, 4),
                }
                print(
                    f"length penalty {lp}, read {n} passages, retrieval weight {w:>4}: "
                    f"gold rank 1 {r1 / m:.3f}, EM {ems / m:.3f}, F1 {f1s / m:.3f}"
                )
    out["answer_all"] = table

    if len(answerable) < len(rows):
        for n, w, lp in args.abstain or ():
            scored = []
            for q, hits, readings, _ in rows:
                rd = readings[lp]
                b = pick(hits, rd, n, w, q.question)
                p = rd[b].probability if rd[b].text else 0.0
                f1 = f1_score(rd[b].text, q.answers) if q.id not in impossible else 0.0
                scored.append((p, q.id in impossible, f1))
            best = None
            for t in [x / 100 for x in range(0, 100, 2)]:
                v = sum(
                    (f if p >= t else 0.0) if not imp else (1.0 if p < t else 0.0)
                    for p, imp, f in scored
                ) / len(scored)
                if best is None or v > best[0]:
                    best = (v, t)
            assert best is not None
            print(f"n{n} w{w} lp{lp}: best overall F1 {best[0]:.3f} at threshold {best[1]}")
            out[f"overall_n{n}_w{w}_lp{lp}"] = {"best": round(best[0], 4), "threshold": best[1]}

    lat: dict[str, list[float]] = {}
    if args.no_latency:
        args.latency = 0
    timed = [r[0] for r in rows[: args.latency]]
    for name in ("none", str(args.reader or "auto")) if timed else ():
        p = build_pipeline(settings.model_copy(update={"reader": name}))
        p.ask(timed[0].question)
        times = []
        for q in timed:
            t0 = time.perf_counter()
            p.ask(q.question)
            times.append((time.perf_counter() - t0) * 1000)
        label = "rules" if name == "none" else "reader"
        lat[label] = times
        print(
            f"warm ask, {label}: p50 {percentile(times, 50):.1f} ms, "
            f"p95 {percentile(times, 95):.1f} ms"
        )
        out[f"ask_ms_{label}"] = {
            "p50": round(percentile(times, 50), 1),
            "p95": round(percentile(times, 95), 1),
        }
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
