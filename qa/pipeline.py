"""The composition root: ``build_pipeline(settings)`` wires every stage; CLI, API and eval
share it."""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from embeddings.encoder import (
    EncoderUnavailable,
    OnnxEncoder,
    SentenceTransformerEncoder,
)
from qa.answer.base import AnswerContext, Answerer
from qa.citations import cite
from qa.errors import BadInputError, CorruptIndexError, QAError, TooLargeError
from qa.index import ArticleIndex, Manifest
from qa.ingest import Ingestor, IngestReport, Progress, delete_articles
from qa.readers import Skip
from qa.retrieval import HybridRetriever
from qa.settings import Settings
from qa.types import Answer, Article, Filters, Hit

log = logging.getLogger(__name__)


@contextmanager
def _store_errors(data_dir: Path) -> Iterator[None]:
    """A damaged SQLite page surfaces only when a query reads it: report it as a corrupt
    index with the way out, not as a traceback. (Locking errors are not corruption.)"""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        if isinstance(exc, sqlite3.OperationalError):
            raise
        raise CorruptIndexError(
            f"the document store in {data_dir} is damaged ({exc}); rebuild it with "
            "`ask ingest --rebuild PATH...` (or remove the data directory and ingest again)"
        ) from exc


@dataclass(frozen=True)
class Stats:
    data_dir: str
    articles: int
    chunks: int
    index_type: str
    model: str | None
    dimension: int | None
    chunk_words: int | None
    chunk_overlap: int | None
    size_bytes: int
    generation: int


class _QueryEncoder:
    """ONNX at question time; the torch encoder only if the export is missing."""

    def __init__(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline
        self._onnx: OnnxEncoder | None = None

    @property
    def dimension(self) -> int:
        return self._pipeline.index.manifest.dimension if self._pipeline.index.manifest else 0

    def encode(self, texts: list[str]) -> Any:
        if self._onnx is None:
            try:
                # One thread: a question is a few dozen tokens, too little to split, and
                # extra threads only spin against other load (p50 33 ms -> 16 ms measured).
                self._onnx = OnnxEncoder(self._pipeline.index.encoder_dir, threads=1)
                return self._onnx.encode(texts)
            except EncoderUnavailable as exc:
                log.warning("%s; encoding questions with sentence-transformers instead "
                            "(run `ask ingest --repair` to export it again)", exc)
                self._onnx = None
                return self._pipeline.doc_encoder.encode(texts)
        return self._onnx.encode(texts)


class Pipeline:
    """Ask, search, ingest and delete over one data directory."""

    def __init__(self, settings: Settings, index: ArticleIndex, answerer: Answerer) -> None:
        self.settings = settings
        self.index = index
        self.answerer = answerer
        self.query_encoder = _QueryEncoder(self)
        self.retriever = HybridRetriever(
            index, self.query_encoder, candidates=settings.candidates,
            dense_weight=settings.dense_weight, sentence_weight=settings.sentence_weight,
            rerank_depth=settings.rerank_depth,
        )
        self._write_lock = threading.Lock()
        self._annotation_cache: dict[tuple[int, str], Any] = {}

    # -- heavy parts, built on first ingest only --------------------------------------------
    @cached_property
    def doc_encoder(self) -> SentenceTransformerEncoder:
        return SentenceTransformerEncoder(
            self.settings.model, batch_size=self.settings.batch_size,
            allow_hub=self.settings.allow_hub,
        )

    @cached_property
    def annotator(self) -> Any:
        """Sentences and entities (spaCy, loaded once per pipeline, on first ingest)."""
        from qa.annotate import Annotator

        return Annotator(self.settings.ner)

    def _ingestor(self) -> Ingestor:
        manifest = self.index.manifest
        if manifest is None:
            try:
                dim = self.doc_encoder.dimension
            except EncoderUnavailable as exc:
                raise QAError(str(exc)) from exc
            manifest = Manifest(self.settings.model, dim, self.settings.chunk_words,
                                self.settings.chunk_overlap)
        return Ingestor(self.index, self.doc_encoder, self.annotator, manifest,
                        batch_chunks=self.settings.ingest_batch_chunks)

    def _ensure_query_encoder(self) -> None:
        """Export the ONNX question encoder when the index has vectors but no usable export
        (also after an ingest interrupted between its commit and the export)."""
        if self.index.is_empty():
            return
        try:
            OnnxEncoder(self.index.encoder_dir)
        except EncoderUnavailable:
            self.doc_encoder.export_onnx(self.index.encoder_dir)

    # -- checks ---------------------------------------------------------------------------
    def check(self) -> None:
        """Refuse a data directory built for another model or chunking."""
        explicit = self.settings.model_fields_set
        self.index.check_model(
            self.settings.model,
            self.settings.chunk_words if "chunk_words" in explicit else None,
            self.settings.chunk_overlap if "chunk_overlap" in explicit else None,
        )

    # -- verbs ----------------------------------------------------------------------------
    def ingest(self, paths: Iterable[Path], progress: Progress | None = None) -> IngestReport:
        return self._ingest(lambda ingestor: ingestor.ingest_paths(paths, progress))

    def ingest_articles(
        self, items: Iterable[Article | Skip], progress: Progress | None = None
    ) -> IngestReport:
        return self._ingest(lambda ingestor: ingestor.ingest(items, progress))

    def _ingest(self, run: Callable[[Ingestor], IngestReport]) -> IngestReport:
        self.check()
        with self._write_lock, _store_errors(self.index.data_dir):
            report = run(self._ingestor())
            self._ensure_query_encoder()
            self._annotation_cache.clear()
            return report

    def repair(self) -> None:
        """Rewrite the FAISS file from the store's vectors and re-export an unusable ONNX
        question encoder; nothing is re-read or re-encoded."""
        self.check()
        with self._write_lock, _store_errors(self.index.data_dir):
            self.index.repair()
            if self.index.is_empty():
                return
            try:
                OnnxEncoder(self.index.encoder_dir).encode(["repair check"])
            except EncoderUnavailable as exc:
                log.warning("%s; exporting it again", exc)
                self.doc_encoder.export_onnx(self.index.encoder_dir)
            self.query_encoder = _QueryEncoder(self)
            self.retriever.encoder = self.query_encoder

    def delete(self, article_ids: Iterable[str]) -> IngestReport:
        self.check()
        with self._write_lock, _store_errors(self.index.data_dir):
            report = delete_articles(self.index, article_ids)
            self._annotation_cache.clear()
            return report

    def rebuild(self, paths: Iterable[Path], progress: Progress | None = None) -> IngestReport:
        """Ingest ``paths`` into a fresh directory, then swap it in: the old index serves
        until the new one is complete, and survives if the rebuild fails."""
        target = self.index.data_dir
        fresh = target.with_name(target.name + ".rebuild")
        if fresh.exists():
            shutil.rmtree(fresh)
        other = build_pipeline(self.settings.model_copy(update={"data_dir": fresh}),
                               answerer=self.answerer)
        try:
            report = other.ingest(paths, progress)
        except BaseException:
            other.close()
            shutil.rmtree(fresh, ignore_errors=True)
            raise
        other.close()
        with self._write_lock:
            self.index.close()
            old = target.with_name(target.name + ".old")
            if old.exists():
                shutil.rmtree(old)
            if target.exists():
                os.replace(target, old)
            os.replace(fresh, target)
            shutil.rmtree(old, ignore_errors=True)
            self.index = ArticleIndex(target, hnsw_threshold=self.settings.hnsw_threshold)
            self.retriever.index = self.index
            self.query_encoder = _QueryEncoder(self)
            self.retriever.encoder = self.query_encoder
            self._annotation_cache.clear()
        return report

    def ensure_corpus(self) -> IngestReport | None:
        """On an empty data directory, ingest the shipped corpus so the first ask works."""
        settings = self.settings
        if settings.auto_ingest and self.index.is_empty() and settings.corpus_dir.is_dir():
            return self.ingest([self.settings.corpus_dir])
        return None

    @property
    def threshold(self) -> float:
        """The abstention threshold: QA_ABSTAIN_THRESHOLD, else the answerer's own."""
        if self.settings.abstain_threshold is not None:
            return self.settings.abstain_threshold
        return float(getattr(self.answerer, "threshold", 0.2))

    def validate_question(self, question: str) -> str:
        q = " ".join(question.split())
        if not q:
            raise BadInputError("the question is empty: ask something, e.g. "
                                '`ask "How many troops did North Korea send to Russia?"`')
        if len(q) > self.settings.max_question_chars:
            raise TooLargeError(
                f"the question is {len(q):,} characters long; the limit is "
                f"{self.settings.max_question_chars:,} (QA_MAX_QUESTION_CHARS)"
            )
        return q

    def search(self, query: str, k: int | None = None,
               filters: Filters | None = None) -> list[Hit]:
        q = self.validate_question(query)
        self.check()
        with _store_errors(self.index.data_dir), self.index.store.snapshot():
            return self.retriever.retrieve(q, k or self.settings.top_k, filters)

    def annotations(self, article_id: str) -> Any:
        # Keyed by generation too: a reader still on an older snapshot must not fill the
        # cache with annotations of an article's previous text.
        key = (self.index.store.generation(), article_id)
        cached = self._annotation_cache.get(key)
        if cached is None:
            cached = self.index.store.annotations(article_id)
            if len(self._annotation_cache) > 4096:
                self._annotation_cache.clear()
            self._annotation_cache[key] = cached
        return cached

    def ask(
        self, question: str, top_k: int | None = None, filters: Filters | None = None,
        searched_query: str | None = None,
    ) -> Answer:
        q = self.validate_question(question)
        self.check()
        t0 = time.perf_counter()
        # One snapshot for the whole question: passages, FAISS generation and annotations
        # all come from the same committed state, whatever an ingest is doing meanwhile.
        with _store_errors(self.index.data_dir), self.index.store.snapshot():
            hits = self.retriever.retrieve(searched_query or q, top_k or self.settings.top_k,
                                           filters)
            t1 = time.perf_counter()
            draft = self.answerer.answer(q, hits, AnswerContext(self.annotations))
            t2 = time.perf_counter()
        abstained = not draft.answer or draft.confidence < self.threshold
        citations = cite(hits, draft)
        return Answer(
            question=q,
            answer="" if abstained else draft.answer,
            abstained=abstained,
            confidence=draft.confidence,
            evidence=draft.evidence,
            citations=citations,
            timings_ms={"retrieve": round((t1 - t0) * 1000, 2),
                        "answer": round((t2 - t1) * 1000, 2),
                        "total": round((t2 - t0) * 1000, 2)},
            answerer=self.answerer.name,
            note=draft.note,
            searched_query=searched_query,
        )

    def stats(self) -> Stats:
        with _store_errors(self.index.data_dir):
            return self._stats()

    def _stats(self) -> Stats:
        manifest = self.index.manifest
        articles, chunks = self.index.store.counts() if self.index.exists() else (0, 0)
        kind = self.index.vectors().kind if self.index.exists() else "none"
        return Stats(
            data_dir=str(self.index.data_dir), articles=articles, chunks=chunks,
            index_type=kind, model=manifest.model if manifest else None,
            dimension=manifest.dimension if manifest else None,
            chunk_words=manifest.chunk_words if manifest else None,
            chunk_overlap=manifest.chunk_overlap if manifest else None,
            size_bytes=self.index.size_on_disk() if self.index.data_dir.exists() else 0,
            generation=self.index.store.generation() if self.index.exists() else 0,
        )

    def close(self) -> None:
        self.index.close()


def reader_directory(settings: Settings) -> Path | None:
    """Where the reader lives, or None when the rule answerer was asked for."""
    choice = settings.reader.strip()
    if choice.lower() in ("none", "rules", "off", ""):
        return None
    if choice.lower() == "auto":
        from qa.reader.model import SHIPPED_DIR

        return SHIPPED_DIR
    return Path(choice).expanduser()


def build_pipeline(settings: Settings | None = None, *,
                   answerer: Answerer | None = None) -> Pipeline:
    """The one place where stages are chosen and wired."""
    settings = settings or Settings()
    index = ArticleIndex(settings.data_dir, hnsw_threshold=settings.hnsw_threshold)
    if answerer is None:
        from qa.answer.rules import RuleAnswerer

        answerer = RuleAnswerer()
        reader_dir = reader_directory(settings)
        if reader_dir is not None:
            from qa.answer.reader import ReaderAnswerer

            answerer = ReaderAnswerer(reader_dir, answerer, passages=settings.reader_passages,
                                      threads=settings.reader_threads)
        if settings.llm_url:
            from qa.answer.llm import LLMAnswerer

            key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
            answerer = LLMAnswerer(answerer, settings.llm_url, model=settings.llm_model,
                                   api_key=key, timeout=settings.llm_timeout)
    return Pipeline(settings, index, answerer)
