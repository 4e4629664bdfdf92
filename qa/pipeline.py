"""The composition root: ``build_pipeline(settings)`` wires every stage; CLI, API and eval
share it."""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from embeddings.encoder import (
    Encoder,
    EncoderUnavailable,
    OnnxEncoder,
    SentenceTransformerEncoder,
)
from embeddings.vector_index import use_threads
from qa.answer.base import AnswerContext, Answerer
from qa.citations import cite
from qa.errors import BadInputError, CorruptIndexError, QAError, TooLargeError
from qa.ingest.annotate import Annotates
from qa.ingest.files import Skip
from qa.ingest.ingestor import Ingestor, IngestReport, Progress, delete_articles
from qa.retrieval import GROUP_SLACK, HybridRetriever, one_per_group
from qa.settings import Settings
from qa.storage import open_index
from qa.storage.base import Index, StoreReads
from qa.storage.manifest import Manifest
from qa.timeframe import newest_first, read_timeframe
from qa.types import (
    Answer,
    Article,
    Chunk,
    Citation,
    Conflict,
    Draft,
    Filters,
    Hit,
    Report,
    TimeFrame,
    TimelineEntry,
)

log = logging.getLogger(__name__)

TIMELINE_ARTICLES = 10
"""Reports read for a timeline: each is one reader call (about 30 ms), so 10 stay well under
a second."""
TIMELINE_PASSAGES = 40
"""Passages retrieved to find them (one copy per story)."""


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
    """What ``ask stats`` shows: counts, index type, model, size on disk and generation."""

    data_dir: str
    articles: int
    groups: int
    """Stories: articles counted once per near-duplicate group."""
    copies: int
    """Articles beyond the first of their group (other outlets' copies)."""
    chunks: int
    index_type: str
    model: str | None
    dimension: int | None
    chunk_words: int | None
    chunk_overlap: int | None
    size_bytes: int
    generation: int


class _QueryEncoder:
    """ONNX at question time; the torch encoder only if the export is missing. An encoder
    injected by the composition root (a test's) encodes questions itself."""

    def __init__(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline
        self._onnx: OnnxEncoder | None = None

    @property
    def dimension(self) -> int:
        return self._pipeline.index.manifest.dimension if self._pipeline.index.manifest else 0

    def encode(self, texts: Sequence[str]) -> Any:
        injected = self._pipeline._doc_encoder
        if injected is not None and not isinstance(injected, SentenceTransformerEncoder):
            return injected.encode(texts)
        if self._onnx is None:
            try:
                # One thread: a question is a few dozen tokens, too little to split, and
                # extra threads only spin against other load (p50 33 ms -> 16 ms measured).
                self._onnx = OnnxEncoder(self._pipeline.index.encoder_dir, threads=1)
                return self._onnx.encode(texts)
            except EncoderUnavailable as exc:
                log.warning(
                    "%s; encoding questions with sentence-transformers instead "
                    "(run `ask ingest --repair` to export it again)",
                    exc,
                )
                self._onnx = None
                return self._pipeline.doc_encoder.encode(texts)
        return self._onnx.encode(texts)


class Pipeline:
    """Ask, search, ingest and delete over one data directory: the only way the doors (CLI,
    API, MCP, eval) reach the index."""

    def __init__(
        self,
        settings: Settings,
        index: Index,
        answerer: Answerer,
        *,
        doc_encoder: Encoder | None = None,
        annotator: Annotates | None = None,
    ) -> None:
        self.settings = settings
        self.index = index
        self.answerer = answerer
        self._doc_encoder = doc_encoder
        self._annotator = annotator
        self._model_lock = threading.Lock()
        self.query_encoder = _QueryEncoder(self)
        self.retriever = self._retriever()
        self._write_lock = threading.Lock()
        self._annotation_cache: dict[tuple[int, str], Any] = {}
        self._ingest_encoder: OnnxEncoder | None = None

    @property
    def _store(self) -> StoreReads:
        """The storage under the index; only the pipeline's own verbs read it."""
        return self.index.store

    def _retriever(self) -> HybridRetriever:
        s = self.settings
        return HybridRetriever(
            self.index,
            self.query_encoder,
            candidates=s.candidates,
            dense_weight=s.dense_weight,
            sentence_weight=s.sentence_weight,
            rerank_depth=s.rerank_depth,
        )

    # -- heavy parts, built on first ingest only (or given by the composition root) ---------
    @property
    def doc_encoder(self) -> Encoder:
        """The document encoder (sentence-transformers, torch), loaded on first use."""
        encoder = self._doc_encoder
        if encoder is None:
            with self._model_lock:
                encoder = self._doc_encoder
                if encoder is None:
                    encoder = self._doc_encoder = SentenceTransformerEncoder(
                        self.settings.model,
                        batch_size=self.settings.batch_size,
                        allow_hub=self.settings.allow_hub,
                    )
        return encoder

    @property
    def annotator(self) -> Annotates:
        """Sentences and entities (spaCy), loaded on first ingest."""
        annotator = self._annotator
        if annotator is None:
            with self._model_lock:
                annotator = self._annotator
                if annotator is None:
                    from qa.ingest.annotate import Annotator

                    annotator = self._annotator = Annotator(self.settings.ner)
        return annotator

    def _export_onnx(self, directory: Path) -> None:
        encoder = self.doc_encoder
        if not isinstance(encoder, SentenceTransformerEncoder):
            raise QAError(f"cannot export a question encoder from {type(encoder).__name__}")
        encoder.export_onnx(directory)

    def _ingestor(self) -> Ingestor:
        manifest = self.index.manifest
        if manifest is None:
            try:
                dim = self.doc_encoder.dimension
            except EncoderUnavailable as exc:
                raise QAError(str(exc)) from exc
            manifest = Manifest(
                self.settings.model, dim, self.settings.chunk_words, self.settings.chunk_overlap
            )
        return Ingestor(
            self.index,
            self._passage_encoder(),
            self.annotator,
            manifest,
            batch_chunks=self.settings.ingest_batch_chunks,
        )

    def _passage_encoder(self) -> Encoder:
        """What encodes passages at ingest: the ONNX export of the reference encoder, one
        single-threaded batch per core side by side, exported first if the index has none.
        The same vectors (to 2e-7), and it shares the cores with the annotating thread
        better than torch does: ingest 30.3 passages/s against 25.4 with
        sentence-transformers (``bench/ingest_speed.py``). An encoder injected by the
        composition root encodes passages itself."""
        encoder = self.doc_encoder
        if not isinstance(encoder, SentenceTransformerEncoder) or not self.settings.onnx_ingest:
            return encoder
        if self._ingest_encoder is not None:
            return self._ingest_encoder  # one session for every ingest (a load is about 1 s)
        directory = self.index.encoder_dir
        try:
            onnx = self._ingest_onnx(directory)
            # Loaded here, not at the first batch: a damaged model.onnx is exported again
            # instead of failing the ingest.
            usable = onnx.config.model == self.settings.model and bool(len(onnx.encode(["x"])))
        except EncoderUnavailable:
            usable = False
        if not usable:
            self._export_onnx(directory)
            onnx = self._ingest_onnx(directory)
        self._ingest_encoder = onnx
        return onnx

    def _ingest_onnx(self, directory: Path) -> OnnxEncoder:
        cores = os.cpu_count() or 1
        return OnnxEncoder(
            directory,
            threads=1,
            workers=cores,
            batch_size=self.settings.batch_size,
            spinning=False,
        )

    def _ensure_query_encoder(self) -> None:
        """Export the ONNX question encoder when the index has vectors but no usable export
        (also after an ingest interrupted between its commit and the export)."""
        if self.index.is_empty():
            return
        if not isinstance(self.doc_encoder, SentenceTransformerEncoder):
            return  # a test encoder: questions are encoded by it directly
        try:
            OnnxEncoder(self.index.encoder_dir)
        except EncoderUnavailable:
            self._export_onnx(self.index.encoder_dir)

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
    def ingest(
        self, paths: Iterable[Path], progress: Progress | None = None, *, ray: str | None = None
    ) -> IngestReport:
        """Ingest files and folders; unchanged articles are left alone. With ``ray`` (an
        address, or ``"local"``) the articles are prepared on a Ray cluster."""
        return self._ingest(lambda ingestor: ingestor.ingest_paths(paths, progress), ray=ray)

    def ingest_articles(
        self, items: Iterable[Article | Skip], progress: Progress | None = None
    ) -> IngestReport:
        """Ingest articles already read (an API body, an eval corpus)."""
        return self._ingest(lambda ingestor: ingestor.ingest(items, progress))

    def _ingest(
        self, run: Callable[[Ingestor], IngestReport], ray: str | None = None
    ) -> IngestReport:
        self.check()
        with self._write_lock, _store_errors(self.index.data_dir):
            ingestor = self._ingestor()
            if ray is None:
                report = run(ingestor)
            else:
                from qa.ingest.ray_ingest import RayPreparer

                preparer = RayPreparer(
                    ray,
                    ingestor.manifest,
                    model=self.settings.model,
                    ner=self.settings.ner,
                    batch_size=self.settings.batch_size,
                    actors=self.settings.ray_actors,
                )
                ingestor.preparer = preparer
                try:
                    report = run(ingestor)
                finally:
                    preparer.close()
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
                self._export_onnx(self.index.encoder_dir)
            self.query_encoder = _QueryEncoder(self)
            self.retriever = self._retriever()

    def delete(self, article_ids: Iterable[str]) -> IngestReport:
        """Remove articles and their passages (an unknown id is a NotFoundError)."""
        self.check()
        with self._write_lock, _store_errors(self.index.data_dir):
            report = delete_articles(self.index, article_ids)
            self._annotation_cache.clear()
            return report

    def rebuild(self, paths: Iterable[Path], progress: Progress | None = None) -> IngestReport:
        """Ingest ``paths`` into a fresh directory, then swap it in: the old index serves
        until the new one is complete, and survives if the rebuild fails."""
        if self.settings.store:
            return self._rebuild_in_database(paths, progress)
        target = self.index.data_dir
        fresh = target.with_name(target.name + ".rebuild")
        if fresh.exists():
            shutil.rmtree(fresh)
        other = build_pipeline(
            self.settings.model_copy(update={"data_dir": fresh}),
            answerer=self.answerer,
            doc_encoder=self._doc_encoder,
            annotator=self._annotator,
        )
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
            self.index = open_index(self.settings)
            self.query_encoder = _QueryEncoder(self)
            self.retriever = self._retriever()
            self._annotation_cache.clear()
        return report

    def _rebuild_in_database(
        self, paths: Iterable[Path], progress: Progress | None = None
    ) -> IngestReport:
        """On PostgreSQL: check the paths, drop article-qa's tables, ingest afresh. Unlike
        the folder swap, the old index is gone once the first batch starts (README)."""
        from qa.storage.postgres import PostgresIndex

        paths = list(paths)
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise BadInputError(f"no such file or folder: {', '.join(missing)}")
        assert isinstance(self.index, PostgresIndex)
        with self._write_lock:
            self.index.drop()
            self._annotation_cache.clear()
        return self.ingest(paths, progress)

    def ensure_corpus(self, progress: Progress | None = None) -> IngestReport | None:
        """On an empty data directory, ingest the shipped corpus so the first ask works."""
        settings = self.settings
        if settings.auto_ingest and self.index.is_empty() and settings.corpus_dir.is_dir():
            return self.ingest([self.settings.corpus_dir], progress)
        return None

    def warm_up(self) -> None:
        """Load the question encoder and the reader now, so the first question does not pay
        for loading them (a server calls this at start)."""
        if not self.index.is_empty():
            self.query_encoder.encode(["warm up"])
        self.answerer.warm_up()

    def warm_ingest(self) -> None:
        """Load the ingest models (sentence-transformers, spaCy) now, so that the first
        ingest does not pay for them inside a request (``ask serve --warm-ingest``)."""
        self._passage_encoder().encode(["warm up"])
        self.annotator.sentences("Warm up. Now.")
        self.annotator.entities(["Warm up in Seoul."])

    @property
    def threshold(self) -> float:
        """The abstention threshold: QA_ABSTAIN_THRESHOLD, else the answerer's own."""
        if self.settings.abstain_threshold is not None:
            return self.settings.abstain_threshold
        return self.answerer.threshold

    # -- reads for the doors --------------------------------------------------------------
    def exists(self) -> bool:
        """Whether the data directory holds an index at all."""
        return self.index.exists()

    def is_empty(self) -> bool:
        """No passages indexed (or no index yet)."""
        return self.index.is_empty()

    def articles(self, limit: int = 1000, offset: int = 0) -> list[Article]:
        """Indexed articles, newest first."""
        if not self.index.exists():
            return []
        with _store_errors(self.index.data_dir):
            return self._store.articles(limit=limit, offset=offset)

    def article_count(self) -> int:
        if not self.index.exists():
            return 0
        with _store_errors(self.index.data_dir):
            return self._store.counts()[0]

    def article(self, article_id: str) -> Article | None:
        if not self.index.exists():
            return None
        with _store_errors(self.index.data_dir):
            return self._store.article(article_id)

    def article_chunks(self, article_id: str) -> list[Chunk]:
        """The passages an article was split into, in order."""
        if not self.index.exists():
            return []
        with _store_errors(self.index.data_dir):
            return self._store.chunks_of(article_id)

    def article_ids(self) -> set[str]:
        if not self.index.exists():
            return set()
        with _store_errors(self.index.data_dir):
            return self._store.article_ids()

    def validate_question(self, question: str) -> str:
        """The question with its white space collapsed; empty or over-long ones are refused."""
        q = " ".join(question.split())
        if not q:
            raise BadInputError(
                "the question is empty: ask something, e.g. "
                '`ask "How many troops did North Korea send to Russia?"`'
            )
        if len(q) > self.settings.max_question_chars:
            raise TooLargeError(
                f"the question is {len(q):,} characters long; the limit is "
                f"{self.settings.max_question_chars:,} (QA_MAX_QUESTION_CHARS)"
            )
        return q

    def search(self, query: str, k: int | None = None, filters: Filters | None = None) -> list[Hit]:
        """The ``k`` best passages for ``query``, without an answer."""
        q = self.validate_question(query)
        self.check()
        with _store_errors(self.index.data_dir), self._store.snapshot():
            return self._search(q, k or self.settings.top_k, filters)

    def annotations(self, article_id: str) -> Any:
        # Keyed by generation too: a reader still on an older snapshot must not fill the
        # cache with annotations of an article's previous text.
        """An article's stored sentences and entities, cached per index generation."""
        key = (self._store.generation(), article_id)
        cached = self._annotation_cache.get(key)
        if cached is None:
            cached = self._store.annotations(article_id)
            if len(self._annotation_cache) > 4096:
                self._annotation_cache.clear()
            self._annotation_cache[key] = cached
        return cached

    def ask(
        self,
        question: str,
        top_k: int | None = None,
        filters: Filters | None = None,
        searched_query: str | None = None,
    ) -> Answer:
        """Retrieve, answer, and cite: the answer object for ``question``."""
        q = self.validate_question(question)
        self.check()
        t0 = time.perf_counter()
        # One snapshot for the whole question: passages, FAISS generation and annotations
        # all come from the same committed state, whatever an ingest is doing meanwhile.
        frame = read_timeframe(q) if self.settings.time_in_questions else None
        with _store_errors(self.index.data_dir), self._store.snapshot():
            hits, frame = self._retrieve(searched_query or q, top_k, filters, frame)
            t1 = time.perf_counter()
            context = AnswerContext(
                self.annotations, newest_first=frame is not None and frame.latest
            )
            draft = self.answerer.answer(q, hits, context)
            t2 = time.perf_counter()
        abstained = not draft.answer or draft.confidence < self.threshold
        citations = self._also_reported(cite(hits, draft))
        if abstained:
            # A declined answer has no span: its passages are the closest ones, and a link
            # or a page must not mark the candidate that was turned down as the answer.
            citations = tuple(replace(c, answer_start=None, answer_end=None) for c in citations)
        held = next((c for c in citations if c.answer_start is not None), None)
        conflicts = () if abstained else _conflicts(draft, hits, citations)
        return Answer(
            conflicts=conflicts,
            as_of=None if abstained or held is None else held.date,
            question=q,
            answer="" if abstained else draft.answer,
            abstained=abstained,
            confidence=draft.confidence,
            evidence=draft.evidence,
            citations=citations,
            timings_ms={
                "retrieve": round((t1 - t0) * 1000, 2),
                "answer": round((t2 - t1) * 1000, 2),
                "total": round((t2 - t0) * 1000, 2),
            },
            answerer=self.answerer.name,
            note=draft.note,
            searched_query=searched_query,
            timeframe=frame,
            signals=draft.signals,
        )

    def timeline(
        self, question: str, articles: int = TIMELINE_ARTICLES, filters: Filters | None = None
    ) -> tuple[TimelineEntry, ...]:
        """Each report's own answer to ``question``, oldest first (undated ones last): how a
        figure moved across the archive. Every article among the best passages is read on
        its own passages; those whose answer clears the abstention threshold are listed."""
        q = self.validate_question(question)
        self.check()
        out: list[TimelineEntry] = []
        with _store_errors(self.index.data_dir), self._store.snapshot():
            hits = self._search(q, TIMELINE_PASSAGES, filters)
            by_article: dict[str, list[Hit]] = {}
            for h in hits:
                if h.article.id in by_article or len(by_article) < articles:
                    by_article.setdefault(h.article.id, []).append(h)
            context = AnswerContext(self.annotations)
            for own in by_article.values():
                draft = self.answerer.answer(q, own, context)
                if not draft.answer or draft.confidence < self.threshold:
                    continue
                art = own[0].article
                out.append(
                    TimelineEntry(
                        answer=draft.answer,
                        confidence=draft.confidence,
                        article_id=art.id,
                        title=art.title,
                        source=art.source,
                        date=art.date,
                        url=art.url,
                        evidence=draft.evidence,
                        answer_start=draft.answer_start,
                        answer_end=draft.answer_end,
                    )
                )
        out.sort(key=lambda e: (e.date is None, e.date or ""))
        return tuple(out)

    def _search(self, query: str, k: int, filters: Filters | None) -> list[Hit]:
        """The k best passages, one copy per near-duplicate group."""
        return one_per_group(self.retriever.retrieve(query, k + GROUP_SLACK, filters), k)

    def _also_reported(self, citations: tuple[Citation, ...]) -> tuple[Citation, ...]:
        """Each citation with the other copies of its article's story."""
        out = []
        for c in citations:
            art = self._store.article(c.article_id) if c.article_id else None
            group = self._store.group_of(art) if art is not None and art.group_id else []
            others = tuple(
                Report(a.id, a.title, a.source, a.author, a.date, a.url)
                for a in group
                if a.id != c.article_id
            )
            out.append(replace(c, also_reported_by=others) if others else c)
        return tuple(out)

    def _retrieve(
        self,
        query: str,
        top_k: int | None,
        filters: Filters | None,
        frame: TimeFrame | None,
    ) -> tuple[list[Hit], TimeFrame | None]:
        """Retrieve under the question's own time (``qa.timeframe``) unless the caller's
        filters say otherwise: its date range is tried first and dropped, with a note, when
        no article of those dates has a passage for it (an undated archive, say)."""
        k = top_k or self.settings.top_k
        if (
            frame is not None
            and frame.filters
            and not (filters and (filters.date_from or filters.date_to))
        ):
            base = filters or Filters()
            dated = replace(base, date_from=frame.date_from, date_to=frame.date_to)
            hits = self._search(query, k, dated)
            if hits:
                frame = replace(frame, applied=True)
            else:
                hits = self._search(query, k, filters)
                span = " to ".join(x for x in (frame.date_from, frame.date_to) if x)
                frame = replace(
                    frame, note=f"no article dated {span} answers it; all dates searched"
                )
        else:
            hits = self._search(query, k, filters)
        if frame is not None and frame.latest:
            hits, undated = newest_first(hits)
            if undated and frame.note is None:
                frame = replace(frame, note="undated articles ranked after dated ones")
        return hits, frame

    def migrate(
        self,
        url: str,
        progress: Progress | None = None,
        *,
        sample: int = 5,
    ) -> tuple[Any, list[str]]:
        """Copy this data folder's index into the PostgreSQL database at ``url`` (stored
        vectors re-used; resumable), then check it: the same counts, and ``sample``
        questions (article titles spread over the collection) answered with the same
        answer and citations. Returns (report, the differences found)."""
        from qa.storage.embedded import ArticleIndex
        from qa.storage.migrate import migrate
        from qa.storage.postgres import PostgresIndex

        if not url.startswith(("postgresql://", "postgres://")):
            raise BadInputError(f"--to {url!r}: give a postgresql://user:password@host/db URL")
        if not isinstance(self.index, ArticleIndex):
            raise BadInputError(
                "QA_STORE already names a database; migrate copies the data folder "
                f"({self.settings.data_dir}) into one, so unset QA_STORE to run it"
            )
        self.check()
        target = PostgresIndex(url, self.settings.data_dir)
        try:
            with self._write_lock, _store_errors(self.index.data_dir):
                report = migrate(self.index, target, progress=progress)
        finally:
            target.close()
        self._ensure_query_encoder()
        other = build_pipeline(
            self.settings.model_copy(update={"store": url}),
            answerer=self.answerer,
            doc_encoder=self._doc_encoder,
            annotator=self._annotator,
        )
        problems: list[str] = []
        try:
            mine, theirs = self.stats(), other.stats()
            for name in ("articles", "chunks", "groups"):
                if getattr(mine, name) > getattr(theirs, name):
                    problems.append(
                        f"{name}: {getattr(mine, name)} here, {getattr(theirs, name)} there"
                    )
            articles = self.articles(limit=100_000)
            step = max(1, len(articles) // max(sample, 1))
            for article in articles[::step][:sample]:
                question = article.title or article.text[:80]
                a, b = self.ask(question).to_dict(), other.ask(question).to_dict()
                keys = ("answer", "abstained")
                same = all(a.get(k) == b.get(k) for k in keys) and [
                    c["chunk_id"] for c in a["citations"]
                ] == [c["chunk_id"] for c in b["citations"]]
                if not same:
                    problems.append(
                        f"{question!r}: {a.get('answer')!r} here, {b.get('answer')!r} there"
                    )
        finally:
            other.close()
        return report, problems

    def stats(self) -> Stats:
        """Counts and facts about the index (see :class:`Stats`)."""
        with _store_errors(self.index.data_dir):
            return self._stats()

    def _stats(self) -> Stats:
        manifest = self.index.manifest
        articles, chunks = self._store.counts() if self.index.exists() else (0, 0)
        groups, copies = self._store.groups() if self.index.exists() else (0, 0)
        kind = self.index.vectors().kind if self.index.exists() else "none"
        return Stats(
            data_dir=self.index.location,
            articles=articles,
            groups=groups,
            copies=copies,
            chunks=chunks,
            index_type=kind,
            model=manifest.model if manifest else None,
            dimension=manifest.dimension if manifest else None,
            chunk_words=manifest.chunk_words if manifest else None,
            chunk_overlap=manifest.chunk_overlap if manifest else None,
            size_bytes=self.index.size_on_disk() if self.index.exists() else 0,
            generation=self._store.generation() if self.index.exists() else 0,
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


def _conflicts(
    draft: Draft, hits: Sequence[Hit], citations: Sequence[Citation]
) -> tuple[Conflict, ...]:
    """The answerer's rival answers from other reports, with their citation numbers and
    dates, newest first (undated last)."""
    number = {c.chunk_id: c.number for c in citations}
    out = [
        Conflict(
            answer=text,
            citation=number[hits[i].chunk.id],
            article_id=hits[i].article.id,
            date=hits[i].article.date,
            source=hits[i].article.source,
            confidence=p,
        )
        for i, text, p in draft.rivals
        if hits[i].chunk.id in number
    ]
    out.sort(key=lambda c: c.date or "", reverse=True)
    return tuple(out)


def build_pipeline(
    settings: Settings | None = None,
    *,
    answerer: Answerer | None = None,
    doc_encoder: Encoder | None = None,
    annotator: Annotates | None = None,
) -> Pipeline:
    """The one place where stages are chosen and wired. ``doc_encoder`` and ``annotator``
    replace the ingest-time models (tests inject small deterministic ones)."""
    settings = settings or Settings()
    use_threads(1)
    index = open_index(settings)
    try:
        swept = index.sweep_temporaries()
        if swept:
            log.warning("removed %d temporary file(s) left by an interrupted write", swept)
    except OSError as exc:  # a read-only data directory: nothing to sweep, nothing to fear
        log.debug("could not sweep temporaries: %s", exc)
    if answerer is None:
        from qa.answer.rules import RuleAnswerer

        answerer = RuleAnswerer()
        reader_dir = reader_directory(settings)
        if reader_dir is not None:
            from qa.answer.extractive import ReaderAnswerer

            answerer = ReaderAnswerer(
                reader_dir,
                answerer,
                passages=settings.reader_passages,
                threads=settings.reader_threads,
                read_further=settings.reader_further,
            )
        if settings.llm_url:
            from qa.answer.llm import LLMAnswerer

            key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
            answerer = LLMAnswerer(
                answerer,
                settings.llm_url,
                model=settings.llm_model,
                api_key=key,
                timeout=settings.llm_timeout,
            )
    return Pipeline(settings, index, answerer, doc_encoder=doc_encoder, annotator=annotator)
