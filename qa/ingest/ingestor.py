"""Ingestion: read, split into sentences, tag entities, chunk, embed, and commit in batches."""

from __future__ import annotations

import datetime
import hashlib
import json
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from embeddings.encoder import Encoder
from qa.errors import BadInputError, NotFoundError
from qa.ingest.annotate import Annotates
from qa.ingest.chunking import make_chunks
from qa.ingest.duplicates import Grouper, signature, to_bytes
from qa.ingest.files import Skip, id_problem, iter_articles, text_problem
from qa.storage.base import Index, StoredArticle, Writer
from qa.storage.manifest import Manifest
from qa.types import Article, Chunk, Span

Progress = Callable[[int, int], None]
"""Called with (articles done, chunks done) after each committed batch."""


@dataclass
class IngestReport:
    """What an ingest did: articles added, replaced, unchanged, deleted, passages written, and
    what was skipped."""

    added: int = 0
    unchanged: int = 0
    replaced: int = 0
    deleted: int = 0
    chunks: int = 0
    skipped: list[Skip] = field(default_factory=list)
    copies: int = 0
    """Articles that joined another article's near-duplicate group (``duplicates``)."""
    warnings: list[Skip] = field(default_factory=list)
    """Articles ingested with something to say about them (a date that is not a date)."""
    seconds: float = 0.0

    def summary(self) -> str:
        rate = (
            f", {self.chunks / self.seconds:.0f} chunks/s" if self.seconds and self.chunks else ""
        )
        return (
            f"{self.added} added, {self.unchanged} unchanged, {self.replaced} replaced, "
            f"{self.deleted} deleted, {len(self.skipped)} skipped{self._reasons()}"
            f"{f', {len(self.warnings)} warnings' if self.warnings else ''}"
            f"{f', {self.copies} copies of stored articles grouped' if self.copies else ''} "
            f"({self.chunks} chunks in {self.seconds:.1f}s{rate})"
        )

    def _reasons(self) -> str:
        """``: 2 not valid JSON, 1 empty file``: skip reasons counted, details dropped."""
        counts: dict[str, int] = {}
        for skip in self.skipped:
            kind = skip.reason.split(":", 1)[0].split(" (", 1)[0].split(";", 1)[0].strip()
            counts[kind] = counts.get(kind, 0) + 1
        return (": " + ", ".join(f"{n} {kind}" for kind, n in counts.items())) if counts else ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "unchanged": self.unchanged,
            "replaced": self.replaced,
            "deleted": self.deleted,
            "chunks": self.chunks,
            "copies": self.copies,
            "seconds": round(self.seconds, 3),
            "skipped": [{"path": s.path, "line": s.line, "reason": s.reason} for s in self.skipped],
            "warnings": [
                {"path": s.path, "line": s.line, "reason": s.reason} for s in self.warnings
            ],
        }


def _tomorrow() -> str:
    """A day's margin for time zones: an article dated tomorrow is not yet suspicious."""
    return (datetime.date.today() + datetime.timedelta(days=1)).isoformat()


def content_hash(article: Article) -> str:
    """Identity of what the index would hold; the path is left out so a move is a no-op."""
    meta = [article.title, article.author, article.source, article.url, article.date]
    if article.date_raw is not None:
        meta.append(article.date_raw)  # only then: every other article keeps its hash
    return hashlib.sha256(json.dumps([meta, article.text]).encode("utf-8")).hexdigest()


def embedding_text(article: Article, chunk: Chunk) -> str:
    """What the encoder sees for a chunk. Kept in one place: ingest and evaluation agree."""
    return chunk.text


@dataclass
class Prepared:
    """An article made ready to store: its sentences, entities, passages and their vectors."""

    sentences: list[Span]
    entities: list[Span]
    chunks: list[Chunk]
    vectors: np.ndarray


class Prepares(Protocol):
    """Annotate, chunk and encode a batch of articles (here, or on a cluster). An article
    that fails comes back as the reason, and the rest of the batch is still prepared."""

    def prepare(
        self, articles: list[Article], encoded: Callable[[int], None] | None = None
    ) -> list[Prepared | str]: ...


def prepare_articles(
    articles: list[Article], annotator: Annotates, manifest: Manifest
) -> list[tuple[list[Span], list[Span], list[Chunk]]]:
    """Sentences, entities and passages of each article: the annotation every preparer
    shares, so a cluster ingest stores exactly what a local one does."""
    sentences = [annotator.sentences(a.text) for a in articles]
    entities = annotator.entities([a.text for a in articles])
    return [
        (
            sents,
            ents,
            make_chunks(
                article.id,
                article.text,
                sents,
                chunk_words=manifest.chunk_words,
                overlap=manifest.chunk_overlap,
            ),
        )
        for article, sents, ents in zip(articles, sentences, entities, strict=True)
    ]


class LocalPreparer:
    """Prepares in this process with the given models, annotating one group of articles in
    a second thread while the encoder works on the one before: the encoder (onnxruntime)
    releases the GIL, so sentence splitting and entity tagging mostly hide behind it
    (``bench/ingest_speed.py``)."""

    STEP = 256
    """About this many passages per group and encoder call: small enough for a moving
    progress bar, large enough for the encoder's length-sorted batches."""

    def __init__(self, encoder: Encoder, annotator: Annotates, manifest: Manifest) -> None:
        self.encoder = encoder
        self.annotator = annotator
        self.manifest = manifest

    def _groups(self, articles: list[Article]) -> list[list[Article]]:
        # A passage holds about chunk_words - overlap new words.
        m = self.manifest
        words_per_group = self.STEP * max(1, m.chunk_words - m.chunk_overlap)
        groups: list[list[Article]] = [[]]
        words = 0
        for article in articles:
            # The first group is small: nothing hides its annotation, the encoder waits.
            limit = words_per_group // 4 if len(groups) == 1 else words_per_group
            if groups[-1] and words >= limit:
                groups.append([])
                words = 0
            groups[-1].append(article)
            words += len(article.text.split())
        return [g for g in groups if g]

    def prepare(
        self, articles: list[Article], encoded: Callable[[int], None] | None = None
    ) -> list[Prepared | str]:
        out: list[Prepared | str] = []
        done = 0
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="annotate")
        try:
            # One worker, so the annotator's models are only ever used by one thread.
            groups = self._groups(articles)
            futures = [
                pool.submit(prepare_articles, group, self.annotator, self.manifest)
                for group in groups
            ]
            for group, future in zip(groups, futures, strict=True):
                annotated = future.result()
                texts = [
                    embedding_text(a, c)
                    for a, (_, _, cs) in zip(group, annotated, strict=True)
                    for c in cs
                ]
                vectors = (
                    self.encoder.encode(texts)
                    if texts
                    else np.zeros((0, self.manifest.dimension), dtype=np.float32)
                )
                pos = 0
                for sents, ents, chunks in annotated:
                    out.append(Prepared(sents, ents, chunks, vectors[pos : pos + len(chunks)]))
                    pos += len(chunks)
                done += len(texts)
                if encoded:
                    encoded(done)
        finally:
            # An interrupt or a failure abandons the groups not yet started.
            pool.shutdown(wait=False, cancel_futures=True)
        return out


class Ingestor:
    """Reads, annotates, chunks and encodes articles, and commits them in batches (one
    transaction and one FAISS generation each)."""

    def __init__(
        self,
        index: Index,
        encoder: Encoder,
        annotator: Annotates,
        manifest: Manifest,
        *,
        batch_chunks: int = 2000,
        preparer: Prepares | None = None,
    ) -> None:
        self.index = index
        self.manifest = manifest
        self.preparer = preparer or LocalPreparer(encoder, annotator, manifest)
        self.batch_chunks = batch_chunks
        self._progress: Progress | None = None
        self._done_articles = 0
        self._grouper: Grouper | None = None

    def ingest_paths(self, paths: Iterable[Path], progress: Progress | None = None) -> IngestReport:
        """Ingest every supported file under ``paths``."""
        paths = list(paths)
        # Checked before anything is read, so a typo in the last path commits nothing.
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise BadInputError(f"no such file or folder: {', '.join(missing)}")
        return self.ingest(iter_articles(paths), progress)

    def ingest(
        self, items: Iterable[Article | Skip], progress: Progress | None = None
    ) -> IngestReport:
        """Ingest articles (and report skips) from ``items``, batch by batch."""
        report = IngestReport()
        started = time.perf_counter()
        store = self.index.store
        seen: set[str] = set()
        pending: list[tuple[Article, str, bool]] = []
        pending_words = 0
        done_articles = 0
        self._progress = progress
        self._done_articles = 0
        self._grouper = None  # loaded from the store at this run's first batch
        for item in items:
            if isinstance(item, Skip):
                report.skipped.append(item)
                continue
            problem = id_problem(item.id) or text_problem(item)
            if problem is not None:
                report.skipped.append(Skip(item.path or "?", None, problem))
                continue
            if item.id in seen:
                report.skipped.append(
                    Skip(item.path or "?", None, f"duplicate article id {item.id!r} in this run")
                )
                continue
            seen.add(item.id)
            if item.date is not None and item.date > _tomorrow():
                report.warnings.append(
                    Skip(
                        item.path or "?",
                        None,
                        f"article {item.id!r}: date {item.date} is in the future; kept as "
                        "given (it ranks as the newest report)",
                    )
                )
            if item.date_raw is not None:
                report.warnings.append(
                    Skip(
                        item.path or "?",
                        None,
                        f"article {item.id!r}: date {item.date_raw!r} is not a date; kept as "
                        "written (date_raw) and treated as undated",
                    )
                )
            digest = content_hash(item)
            existing = store.content_hash(item.id)
            if existing == digest:
                report.unchanged += 1
                done_articles += 1
                continue
            pending.append((item, digest, existing is not None))
            pending_words += len(item.text.split())
            if pending_words >= self.batch_chunks * self.manifest.chunk_words // 2:
                done_articles += self._flush(pending, report)
                self._done_articles = done_articles
                pending, pending_words = [], 0
        if pending:
            done_articles += self._flush(pending, report)
        if progress:
            progress(done_articles, report.chunks)
        report.seconds = time.perf_counter() - started
        return report

    def _flush(self, batch: list[tuple[Article, str, bool]], report: IngestReport) -> int:
        chunks_before = report.chunks

        def encoded(n: int) -> None:
            if self._progress:
                self._progress(self._done_articles, chunks_before + n)

        results = self.preparer.prepare([a for a, _, _ in batch], encoded)
        kept: list[tuple[Article, str, bool, Prepared]] = []
        for (article, digest, existed), result in zip(batch, results, strict=True):
            if isinstance(result, str):
                report.skipped.append(Skip(article.path or article.id, None, result))
            else:
                kept.append((article, digest, existed, result))
        if not kept:
            return len(batch)
        self.index.ensure_manifest(self.manifest)
        if self._grouper is None:
            self._grouper = Grouper(self.index.store.signatures())
        grouper = self._grouper
        grouped: list[tuple[str, str | None, bytes]] = []
        for article, digest, _, _ in kept:
            sig = signature(article.text)
            grouper.forget(article.id)  # a replaced article is grouped afresh
            group, matched, _ = grouper.assign(article.id, sig, own="g:" + digest[:16])
            grouped.append((group, matched, to_bytes(sig)))

        def apply(writer: Writer) -> None:
            for (article, digest, _, p), (group, matched, sig) in zip(kept, grouped, strict=True):
                writer.put_article(
                    StoredArticle(
                        article,
                        digest,
                        p.sentences,
                        p.entities,
                        p.chunks,
                        p.vectors,
                        group_id=group,
                        minhash=sig,
                    )
                )
                if matched is not None:
                    # A copy of an article stored before groups existed: it founds the group.
                    writer.adopt_group(matched, group)

        self.index.commit(apply)
        report.copies += sum(1 for _, matched, _ in grouped if matched is not None)
        for _, _, existed, p in kept:
            report.chunks += len(p.chunks)
            if existed:
                report.replaced += 1
            else:
                report.added += 1
        return len(batch)


def delete_articles(index: Index, article_ids: Iterable[str]) -> IngestReport:
    """Remove articles and their chunks in one generation; unknown ids fail the whole call."""
    report = IngestReport()
    ids = list(dict.fromkeys(article_ids))
    missing = [i for i in ids if not index.exists() or index.store.content_hash(i) is None]
    if missing:
        raise NotFoundError(
            f"no article with id {', '.join(map(repr, missing))}; `ask stats --articles` lists them"
        )

    def apply(writer: Writer) -> None:
        for aid in ids:
            writer.delete_article(aid)

    index.commit(apply)
    report.deleted = len(ids)
    return report
