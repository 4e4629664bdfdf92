"""What every store offers the rest of ``qa/``: the contract the embedded SQLite + FAISS
store and the PostgreSQL + pgvector store both keep.

Passages are addressed by an integer id (SQLite's rowid, Postgres's identity column): the
vector index, lexical search and fusion all speak it, and ``chunks_by_rowid`` turns the
winners back into :class:`Chunk` and :class:`Article` data. A *scope* narrows a search to
the passages whose articles pass some :class:`Filters`; each store decides what a scope is
(the embedded store lists the ids, Postgres keeps the filters and pushes them into SQL).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from qa.storage.manifest import Manifest
from qa.text import RETRIEVAL_STOPWORDS
from qa.types import Article, Chunk, Filters, Span

_TOKEN = re.compile(r"\w+", re.UNICODE)

Scope = Any
"""What ``StoreReads.scope`` returns and the searches accept; ``None`` means everything."""


_FILTERS = {
    # (source: the outlet, whatever the case; author: a substring; dates: ISO text compares)
    "sqlite": ("a.source = {} COLLATE NOCASE", "a.author LIKE {}", "a.date >= {}", "a.date <= {}"),
    "postgres": (
        "lower(a.source) = lower({})",
        "a.author ILIKE {}",
        "a.date >= {}",
        "a.date <= {}",
    ),
}


def filter_where(filters: Filters, dialect: str, mark: str) -> tuple[str, list[Any]]:
    """``filters`` as a condition on the articles table aliased ``a`` (``TRUE`` for none),
    with ``mark`` as the parameter placeholder, and its parameters."""
    values = (
        filters.source,
        f"%{filters.author}%" if filters.author else None,
        filters.date_from,
        filters.date_to,
    )
    where, args = [], []
    for template, value in zip(_FILTERS[dialect], values, strict=True):
        if value:
            where.append(template.format(mark))
            args.append(value)
    return " AND ".join(where) or "TRUE", args


def spans_json(spans: Iterable[Span]) -> str:
    """Spans as stored: ``[start, end]`` or ``[start, end, label]`` each."""
    return json.dumps([[s.start, s.end, s.label] if s.label else [s.start, s.end] for s in spans])


ARTICLE_COLUMNS = (
    "id, title, author, source, url, date, path, content_hash, text, sentences, entities, "
    "date_raw, group_id"
)


def article_row(
    article: Article,
    content_hash: str,
    sentences: list[Span],
    entities: list[Span],
    group_id: str | None,
) -> tuple[Any, ...]:
    """The values of ``ARTICLE_COLUMNS`` for one article, as both stores write them."""
    return (
        article.id,
        article.title,
        article.author,
        article.source,
        article.url,
        article.date,
        article.path,
        content_hash,
        article.text,
        spans_json(sentences),
        spans_json(entities),
        article.date_raw,
        group_id,
    )


def query_terms(text: str) -> list[str]:
    """The distinct words of ``text`` that carry evidence (retrieval's stopwords dropped)."""
    seen: dict[str, None] = {}
    for tok in _TOKEN.findall(text.lower()):
        if tok not in RETRIEVAL_STOPWORDS and tok not in seen:
            seen[tok] = None
    return list(seen)


class StoreReads(Protocol):
    """Reads of articles, passages and the lexical index, each seeing committed data only."""

    def snapshot(self) -> AbstractContextManager[None]: ...
    def generation(self) -> int: ...
    def content_hash(self, article_id: str) -> str | None: ...
    def article(self, article_id: str) -> Article | None: ...
    def article_ids(self) -> set[str]: ...
    def articles(self, limit: int = 1000, offset: int = 0) -> list[Article]: ...
    def annotations(self, article_id: str) -> tuple[list[Span], list[Span]]: ...
    def chunks_by_rowid(self, rowids: Sequence[int]) -> dict[int, tuple[Chunk, Article]]: ...
    def chunks_of(self, article_id: str) -> list[Chunk]: ...
    def scope(self, filters: Filters) -> Scope: ...
    def lexical_search(
        self, query: str, k: int, allowed: Scope = None
    ) -> list[tuple[int, float]]: ...
    def document_frequencies(self, terms: Iterable[str]) -> dict[str, int]: ...
    def group_of(self, article: Article) -> list[Article]: ...
    def groups(self) -> tuple[int, int]: ...
    def signatures(self) -> list[tuple[str, str, bytes]]: ...
    def counts(self) -> tuple[int, int]: ...


class DenseSearch(Protocol):
    """Nearest passages to a unit vector by inner product."""

    kind: str

    @property
    def size(self) -> int: ...
    def search(
        self, query: np.ndarray, k: int, allowed: Scope = None
    ) -> list[tuple[int, float]]: ...
    def scores_for(self, query: np.ndarray, ids: Iterable[int]) -> dict[int, float]: ...


@dataclass(frozen=True)
class StoredArticle:
    """An article as a store keeps it: fields, hash, annotations, passages with their
    vectors, and its near-duplicate group with its signature."""

    article: Article
    content_hash: str
    sentences: list[Span]
    entities: list[Span]
    chunks: list[Chunk]
    vectors: np.ndarray
    group_id: str | None = None
    minhash: bytes | None = None


class Writer(Protocol):
    """The writes of one batch, applied inside one transaction (all or nothing)."""

    def put_article(self, stored: StoredArticle) -> None: ...
    def delete_article(self, article_id: str) -> bool: ...
    def adopt_group(self, article_id: str, group_id: str) -> None:
        """Put an article stored before groups existed into ``group_id`` (if it has none)."""
        ...


class Index(Protocol):
    """A store with its dense index and manifest: what the pipeline, ingestor and retriever
    are given by the composition root."""

    data_dir: Path
    """Local files that belong with the index (the exported question encoder)."""
    location: str
    """Where the data lives, for messages and ``ask stats`` (a folder, or a masked URL)."""

    @property
    def manifest(self) -> Manifest | None: ...
    @property
    def encoder_dir(self) -> Path: ...
    @property
    def store(self) -> StoreReads: ...
    def exists(self) -> bool: ...
    def is_empty(self) -> bool: ...
    def check_model(
        self, model: str, chunk_words: int | None = None, chunk_overlap: int | None = None
    ) -> None: ...
    def vectors(self) -> DenseSearch: ...
    def ensure_manifest(self, manifest: Manifest) -> None: ...
    def commit(self, apply: Callable[[Writer], None]) -> int: ...
    def repair(self) -> None: ...
    def sweep_temporaries(self) -> int: ...
    def size_on_disk(self) -> int: ...
    def close(self) -> None: ...
