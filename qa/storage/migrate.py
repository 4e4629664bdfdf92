"""``ask migrate --to postgresql://...``: copy an embedded index (SQLite + FAISS) into
PostgreSQL, re-using the stored vectors (nothing is re-read or re-encoded).

Resumable: articles go over in batches, one transaction each, in the order they were first
stored (so near-duplicate groups keep their representatives); an article already in the
database with the same content hash is skipped, so a run stopped half-way is finished by
running it again. The source is only read.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from qa.errors import BadInputError
from qa.storage.base import StoredArticle, Writer
from qa.storage.embedded import ArticleIndex
from qa.storage.postgres import PostgresIndex

BATCH_ARTICLES = 200
"""Articles per transaction: at 5 to 6 passages each about 1,100 rows, a second or so."""


@dataclass
class MigrationReport:
    copied: int = 0
    already: int = 0
    chunks: int = 0
    extra: list[str] = field(default_factory=list)
    """Articles in the database that the source does not hold (left alone, reported)."""
    seconds: float = 0.0

    def summary(self) -> str:
        extra = f", {len(self.extra)} in the database only (left alone)" if self.extra else ""
        return (
            f"{self.copied} articles copied ({self.chunks} passages, their stored vectors), "
            f"{self.already} already there{extra}, in {self.seconds:.1f}s"
        )


def migrate(
    source: ArticleIndex,
    target: PostgresIndex,
    *,
    batch: int = BATCH_ARTICLES,
    progress: Callable[[int, int], None] | None = None,
) -> MigrationReport:
    """Copy every article of ``source`` into ``target``; see the module's docstring."""
    manifest = source.manifest
    if manifest is None or not source.exists():
        raise BadInputError(f"nothing to migrate: there is no index in {source.data_dir}")
    started = time.perf_counter()
    target.ensure_manifest(manifest)  # refuses a database made for another model
    report = MigrationReport()
    store = source.store
    have = {aid: target.store.content_hash(aid) for aid in target.store.article_ids()}
    ids = store.ids_in_order()
    report.extra = sorted(set(have) - set(ids))
    pending: list[StoredArticle] = []

    def flush() -> None:
        items = list(pending)

        def apply(writer: Writer) -> None:
            for s in items:
                writer.put_article(s)

        target.commit(apply)
        report.copied += len(items)
        report.chunks += sum(len(s.chunks) for s in items)
        pending.clear()

    for n, aid in enumerate(ids, 1):
        stored = store.stored(aid)
        if stored is None:
            continue  # deleted while we read
        if have.get(aid) == stored.content_hash:
            report.already += 1
        else:
            pending.append(stored)
            if len(pending) >= batch:
                flush()
        if progress:
            progress(n, report.chunks)
    if pending:
        flush()
    report.seconds = time.perf_counter() - started
    return report
