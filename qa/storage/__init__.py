"""Storage: articles, passages, vectors and lexical search behind one protocol
(``qa.storage.base``), with the embedded SQLite + FAISS store as the default and
PostgreSQL + pgvector when ``QA_STORE`` names a database."""

from __future__ import annotations

from qa.settings import Settings
from qa.storage.base import Index


def open_index(settings: Settings) -> Index:
    """The store ``settings`` choose: ``QA_STORE=postgresql://...``, else the data folder."""
    if settings.store:
        from qa.storage.postgres import PostgresIndex

        return PostgresIndex(settings.store, settings.data_dir)
    from qa.storage.embedded import ArticleIndex

    return ArticleIndex(
        settings.data_dir,
        hnsw_threshold=settings.hnsw_threshold,
        sq8_threshold=settings.sq8_threshold,
    )
