"""Ingest throughput against sentence-transformers alone on the same passages.

    python bench/ingest_speed.py [--articles PATH ...] [--limit N] [--repeat R]

Ingests the articles into fresh temporary data directories through
``qa.pipeline.build_pipeline`` three ways, then encodes the very passages they stored with
sentence-transformers alone (all at once, its own length-sorted batches: the floor the
issue measures against), all in the same run:

The floor is sentence-transformers at the configured batch size (``QA_BATCH_SIZE``, 8: its
fastest here), and at 32 (its own default, and ours before) for reference.

* ``ingest``: the default (passages encoded with the index's ONNX export, annotation of the
  next group of articles in a second thread while the encoder runs);
* ``ingest, QA_ONNX_INGEST=0``: the same with sentence-transformers encoding the passages;
* ``ingest before``: sentence-transformers, and annotation and encoding one after the other
  (what ingest did before; rebuilt here from ``prepare_articles`` and the encoder).

Also the ONNX encoder alone, and whether its vectors equal sentence-transformers' (largest
absolute difference). Each figure is the best of ``--repeat`` runs; prints chunks/s and the
ratio to the floor. The index's first ingest exports the ONNX encoder (a few seconds of
torch export); that export is made beforehand and kept out of every timing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

DEFAULT_ARTICLES = [
    REPO.parent / "shared" / "eval" / "wikinews-articles" / "articles.jsonl",
    REPO.parent / "shared" / "eval" / "squad-v1.1-dev" / "articles.jsonl",
]


def _articles(paths: list[Path], limit: int) -> list[Any]:
    from qa.ingest.files import iter_articles
    from qa.types import Article

    out = [a for a in iter_articles(paths) if isinstance(a, Article)]
    return out[:limit] if limit else out


def _pipeline(data_dir: Path, **overrides: Any) -> Any:
    from qa.pipeline import build_pipeline
    from qa.settings import Settings

    return build_pipeline(Settings(data_dir=data_dir, **overrides))


class _Sequential:
    """What ingest did before: annotate the whole batch, then encode it, in one thread."""

    def __init__(self, encoder: Any, annotator: Any, manifest: Any) -> None:
        self.encoder, self.annotator, self.manifest = encoder, annotator, manifest

    def prepare(self, articles: list[Any], encoded: Any = None) -> list[Any]:
        import numpy as np

        from qa.ingest.ingestor import Prepared, embedding_text, prepare_articles

        annotated = prepare_articles(articles, self.annotator, self.manifest)
        texts = [
            embedding_text(a, c)
            for a, (_, _, cs) in zip(articles, annotated, strict=True)
            for c in cs
        ]
        vectors = (
            self.encoder.encode(texts)
            if texts
            else np.zeros((0, self.manifest.dimension), dtype=np.float32)
        )
        out, pos = [], 0
        for sents, ents, chunks in annotated:
            out.append(Prepared(sents, ents, chunks, vectors[pos : pos + len(chunks)]))
            pos += len(chunks)
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--articles", type=Path, nargs="+", default=DEFAULT_ARTICLES)
    ap.add_argument("--limit", type=int, default=0, help="at most this many articles")
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()

    import numpy as np

    from qa.settings import Settings

    articles = _articles(args.articles, args.limit)
    work = Path(tempfile.mkdtemp(prefix="ingest-speed-"))
    try:
        # Load every model once, outside the timings, and keep one ONNX export to copy.
        warm = _pipeline(work / "warm")
        warm.ingest_articles(articles[:2])
        encoder_dir = warm.index.encoder_dir
        st = warm.doc_encoder
        annotator = warm.annotator

        def run(name: str, overrides: dict[str, Any], sequential: bool = False) -> float:
            best = float("inf")
            for r in range(args.repeat):
                d = work / f"{name.replace(' ', '-')}-{r}"
                pipe = _pipeline(d, **overrides)
                pipe._doc_encoder, pipe._annotator = st, annotator
                shutil.copytree(encoder_dir, pipe.index.encoder_dir)
                if sequential:
                    ingestor = pipe._ingestor()
                    ingestor.preparer = _Sequential(st, annotator, ingestor.manifest)
                    t = time.perf_counter()
                    with pipe._write_lock:
                        ingestor.ingest(articles)
                else:
                    t = time.perf_counter()
                    pipe.ingest_articles(articles)
                best = min(best, time.perf_counter() - t)
                pipe.close()
            return best

        t_new = run("ingest", {})
        t_st = run("ingest st", {"onnx_ingest": False})
        t_before = run("ingest before", {"onnx_ingest": False}, sequential=True)

        probe = _pipeline(work / "ingest-0")
        texts: list[str] = []
        from qa.ingest.ingestor import embedding_text

        for art in probe.articles(limit=10**9):
            texts.extend(embedding_text(art, c) for c in probe.article_chunks(art.id))
        probe.close()
        n = len(texts)

        def best_of(fn: Any) -> float:
            best = float("inf")
            for _ in range(args.repeat):
                t = time.perf_counter()
                fn()
                best = min(best, time.perf_counter() - t)
            return best

        onnx = warm._ingest_onnx(encoder_dir)
        onnx.encode(texts[:8])
        t_floor = best_of(lambda: st.encode(texts))
        from embeddings.encoder import SentenceTransformerEncoder

        st32 = SentenceTransformerEncoder(warm.settings.model, batch_size=32)
        st32._model = st._load()
        t_st32 = best_of(lambda: st32.encode(texts))
        t_onnx = best_of(lambda: onnx.encode(texts))
        diff = float(np.abs(onnx.encode(texts) - st.encode(texts)).max())
        warm.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    floor = n / t_floor
    batch = Settings().batch_size
    print(f"{len(articles)} articles, {n} passages; best of {args.repeat}; {os.cpu_count()} CPUs")
    print(f"{'':48} {'passages/s':>11} {'x floor':>8}")
    rows = [
        (f"sentence-transformers alone, batch {batch} (the floor)", t_floor),
        ("sentence-transformers alone, batch 32", t_st32),
        ("ONNX export alone", t_onnx),
        ("ingest (ONNX, annotation overlapped)", t_new),
        ("ingest, QA_ONNX_INGEST=0 (overlapped)", t_st),
        ("ingest before (torch, one after the other)", t_before),
    ]
    for name, t in rows:
        print(f"{name:48} {n / t:11.1f} {n / t / floor:8.2f}")
    print(f"largest |ONNX - sentence-transformers| in a vector component: {diff:.2e}")


if __name__ == "__main__":
    main()
