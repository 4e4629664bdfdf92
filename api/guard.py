"""Readers never see an index half-way through a write.

The store is one SQLite connection shared by every thread of the server. A write
(``ArticleIndex.commit``) runs its whole transaction on that same connection, and a
connection sees its own uncommitted rows: a question answered while a commit is open could
pair chunk rows of the new generation with the FAISS file of the old one. The guard makes
each commit exclusive against whole requests: a request reads under ``guard.read()`` from
its first look at the index to its last, and a commit waits for those to finish and holds
new ones back until the generation is published. Only the commit is exclusive: reading
files, tagging entities and encoding passages (seconds on a CPU) run beside the readers.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from qa.pipeline import Pipeline

_GUARDED = "_api_guard"


class IndexGuard:
    """A readers-writer lock that prefers the writer, so a steady stream of questions cannot
    starve an ingestion."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._waiting_writers = 0

    @contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._waiting_writers:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._waiting_writers += 1
            try:
                while self._writer or self._readers:
                    self._cond.wait()
            finally:
                self._waiting_writers -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


def guard_pipeline(pipeline: Pipeline, guard: IndexGuard) -> IndexGuard:
    """Make every commit of ``pipeline``'s index exclusive against ``guard.read()``.

    Idempotent; returns the guard already installed when there is one, so two apps over one
    pipeline (tests) share it. ``Pipeline.rebuild`` swaps the index object and is not offered
    over HTTP, so the wrapper stays in place for the life of the server.
    """
    index = pipeline.index
    installed: IndexGuard | None = getattr(index, _GUARDED, None)
    if installed is not None:
        return installed
    commit = index.commit

    def guarded_commit(apply: Any) -> int:
        with guard.write():
            return commit(apply)

    # An instance attribute shadows the method for this index only; qa/ stays unaware of
    # the server (api may import qa, never the reverse).
    setattr(index, "commit", guarded_commit)  # noqa: B010
    setattr(index, _GUARDED, guard)
    return guard
