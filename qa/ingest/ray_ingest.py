"""Ingestion on Ray Data: annotation, chunking and encoding run in actors (one model load
per actor), and the driver keeps what must stay in one place: content hashes, duplicate
grouping and the one-transaction-per-batch commit to the configured store. So a cluster
ingest stores exactly what a local one does, and an interrupted one commits nothing half.

``ask ingest PATH... --ray`` starts a local Ray (2 CPUs, loopback, dashboard off, a small
object store); ``--ray ADDRESS`` joins a running cluster, whose workers must have
article-qa installed (the same version: the chunking and the model must agree).
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from qa.errors import QAError
from qa.ingest.ingestor import Prepared, prepare_articles
from qa.storage.manifest import Manifest
from qa.types import Article, Chunk, Span

log = logging.getLogger(__name__)

LOCAL = "local"
OBJECT_STORE_BYTES = 256 * 1024 * 1024
"""A local cluster's object store: batches of articles and their vectors are a few MB; the
default (30% of RAM) would claim gigabytes of shared memory for nothing."""
ARTICLES_PER_TASK = 16


class RayUnavailableError(QAError):
    """The Ray cluster cannot be reached or started."""

    exit_code = 4
    http_status = 503


def looks_like_address(value: str) -> bool:
    """``local``, ``auto``, ``host:port`` or ``ray://host:port``; an existing path, or
    anything else, is taken for a path (``ask ingest --ray corpus/``)."""
    return (value in ("auto", LOCAL) or ":" in value) and not Path(value).exists()


def _reachable(address: str) -> None:
    """Fail in seconds, naming the address, rather than after Ray's own long retries."""
    if address in ("auto", LOCAL):
        return
    parts = urlsplit(address if "://" in address else "ray://" + address)
    host, port = parts.hostname, parts.port
    if not host or not port:
        raise RayUnavailableError(f"--ray {address!r}: give host:port or ray://host:port")
    try:
        with socket.create_connection((host, port), timeout=5):
            pass
    except OSError as exc:
        raise RayUnavailableError(
            f"the Ray cluster at {host}:{port} does not answer ({exc.strerror or exc}); is "
            "it running (`ray start --head`), and is the address right?"
        ) from exc


def _spans(items: list[Span]) -> list[list[Any]]:
    return [[s.start, s.end, s.label] if s.label else [s.start, s.end] for s in items]


class _Worker:
    """A Ray Data actor: loads the models once, then prepares batches of articles."""

    def __init__(self, model: str, ner: bool, manifest: dict[str, Any], batch_size: int) -> None:
        from embeddings.encoder import SentenceTransformerEncoder
        from qa.ingest.annotate import Annotator

        self.encoder = SentenceTransformerEncoder(model, batch_size=batch_size)
        self.annotator = Annotator(ner)
        self.manifest = Manifest.from_dict(manifest, "the driver's manifest")

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list[Any]]:
        from qa.ingest.ingestor import embedding_text

        out: dict[str, list[Any]] = {"pos": [], "result": [], "vectors": [], "error": []}
        for pos, raw in zip(batch["pos"], batch["article"], strict=True):
            out["pos"].append(int(pos))
            try:
                article = Article(**json.loads(str(raw)))
                [(sents, ents, chunks)] = prepare_articles([article], self.annotator, self.manifest)
                vecs = self.encoder.encode([embedding_text(article, c) for c in chunks])
                out["result"].append(
                    json.dumps(
                        {
                            "sentences": _spans(sents),
                            "entities": _spans(ents),
                            "chunks": [
                                [c.id, c.article_id, c.index, c.start, c.end, c.text]
                                for c in chunks
                            ],
                        }
                    )
                )
                out["vectors"].append(np.asarray(vecs, dtype=np.float32).tobytes())
                out["error"].append("")
            except Exception as exc:
                out["result"].append("")
                out["vectors"].append(b"")
                out["error"].append(f"failed on the Ray worker: {type(exc).__name__}: {exc}")
        return out


class RayPreparer:
    """:class:`qa.ingest.ingestor.Prepares` on a Ray cluster."""

    def __init__(
        self,
        address: str,
        manifest: Manifest,
        *,
        model: str,
        ner: bool,
        batch_size: int,
        actors: int = 2,
    ) -> None:
        self.address = address
        self.manifest = manifest
        self.model = model
        self.ner = ner
        self.batch_size = batch_size
        self.actors = actors
        self._started = False

    def start(self) -> None:
        try:
            import ray
        except ImportError as exc:
            raise RayUnavailableError(
                "Ray is not installed: pip install 'article-qa[ray]' (or `ray[data]`)"
            ) from exc
        _reachable(self.address)
        try:
            if self.address == LOCAL:
                ray.init(
                    num_cpus=2,
                    include_dashboard=False,
                    object_store_memory=OBJECT_STORE_BYTES,
                    _node_ip_address="127.0.0.1",
                    log_to_driver=False,
                    configure_logging=False,
                )
            else:
                ray.init(address=self.address, log_to_driver=False, configure_logging=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise RayUnavailableError(
                f"could not start or join Ray at {self.address}: {exc}"
            ) from exc
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        ctx.print_on_execution_start = False
        # Ray Data logs each dataset's plan at INFO; our own progress bar says enough.
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        self._started = True

    def close(self) -> None:
        if self._started:
            import ray

            ray.shutdown()
            self._started = False

    def prepare(
        self, articles: list[Article], encoded: Callable[[int], None] | None = None
    ) -> list[Prepared | str]:
        import ray

        if not self._started:
            self.start()
        rows = [{"pos": i, "article": json.dumps(a.__dict__)} for i, a in enumerate(articles)]
        ds = ray.data.from_items(rows, override_num_blocks=max(1, len(rows) // ARTICLES_PER_TASK))
        done = ds.map_batches(
            _Worker,
            fn_constructor_kwargs={
                "model": self.model,
                "ner": self.ner,
                "manifest": json.loads(self.manifest.to_json()),
                "batch_size": self.batch_size,
            },
            batch_size=ARTICLES_PER_TASK,
            compute=ray.data.ActorPoolStrategy(min_size=1, max_size=self.actors),
            num_cpus=1,
            batch_format="numpy",
        )
        out: list[Prepared | str] = ["not prepared by the cluster"] * len(articles)
        chunks_done = 0
        for row in done.iter_rows():
            pos = int(row["pos"])
            if row["error"]:
                out[pos] = str(row["error"])
                continue
            data = json.loads(str(row["result"]))
            chunks = [Chunk(*c) for c in data["chunks"]]
            vecs = np.frombuffer(bytes(row["vectors"]), dtype=np.float32)
            vecs = vecs.reshape(len(chunks), self.manifest.dimension)
            out[pos] = Prepared(
                [Span(*s) for s in data["sentences"]],
                [Span(*s) for s in data["entities"]],
                chunks,
                vecs,
            )
            chunks_done += len(chunks)
            if encoded:
                encoded(chunks_done)
        return out
