"""The on-disk index: one data directory holding the store, the FAISS file and the manifest.

Write protocol (crash- and Ctrl-C-safe): inside one SQLite write transaction the changes are
applied, the FAISS file for the next generation is written beside the old one (temporary
file, fsync, rename), and only then is the new generation committed. A crash before the
commit leaves the old generation whole; an orphaned newer FAISS file is ignored and later
overwritten. Readers always pair the store with the FAISS file of the store's generation.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

from embeddings.vector_index import SQ8_THRESHOLD, VectorIndex, VectorIndexError, kind_for
from qa.storage.base import Writer
from qa.storage.manifest import MANIFEST, Manifest, check_manifest
from qa.storage.sqlite import SqliteWriter, Store

log = logging.getLogger(__name__)

STORE = "store.sqlite"
ENCODER_DIR = "encoder"


def vectors_path(data_dir: Path, generation: int) -> Path:
    return data_dir / f"vectors-g{generation}.faiss"


class ArticleIndex:
    """The store plus its dense index, kept in step by generation number."""

    def __init__(
        self,
        data_dir: Path,
        *,
        hnsw_threshold: int = 100_000,
        sq8_threshold: int = SQ8_THRESHOLD,
    ) -> None:
        self.data_dir = data_dir
        self.location = str(data_dir)
        self.hnsw_threshold = hnsw_threshold
        self.sq8_threshold = sq8_threshold
        self._store: Store | None = None
        self._vectors: VectorIndex | None = None
        self._loaded_generation = -1
        self._lock = threading.RLock()

    # -- state ----------------------------------------------------------------------------
    @property
    def manifest(self) -> Manifest | None:
        return Manifest.read(self.data_dir / MANIFEST)

    @property
    def encoder_dir(self) -> Path:
        return self.data_dir / ENCODER_DIR

    def exists(self) -> bool:
        return (self.data_dir / STORE).exists() and (self.data_dir / MANIFEST).exists()

    def is_empty(self) -> bool:
        return not self.exists() or self.store.counts()[1] == 0

    @property
    def store(self) -> Store:
        if self._store is None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self._store = Store(self.data_dir / STORE)
        return self._store

    def check_model(
        self, model: str, chunk_words: int | None = None, chunk_overlap: int | None = None
    ) -> None:
        """Refuse an index built for another model (its vectors would be meaningless)."""
        check_manifest(
            self.manifest,
            f"the index in {self.data_dir}",
            model,
            chunk_words,
            chunk_overlap,
            rebuild="`ask ingest --rebuild PATH...` (or point QA_DATA_DIR at a new folder)",
        )

    def vectors(self) -> VectorIndex:
        """The FAISS index matching the store's current generation, reloaded when it moves."""
        with self._lock:
            generation = self.store.generation()
            if self._vectors is not None and generation == self._loaded_generation:
                return self._vectors
            path = vectors_path(self.data_dir, generation)
            manifest = self.manifest
            try:
                vectors = VectorIndex.load(path)
                if vectors.size != self.store.counts()[1]:
                    raise VectorIndexError(
                        f"vector index {path} holds {vectors.size} vectors, the store "
                        f"{self.store.counts()[1]}"
                    )
            except VectorIndexError as exc:
                if generation == 0 and self.store.counts()[1] == 0:
                    vectors = VectorIndex.empty(manifest.dimension if manifest else 1)
                else:
                    # The store holds every vector, so a damaged FAISS file is recoverable
                    # without re-encoding; rebuild in memory and say so.
                    log.warning(
                        "%s; rebuilt it from the store (run `ask ingest --repair` to "
                        "write it back)",
                        exc,
                    )
                    vectors = self._build_vectors()
            self._vectors = vectors
            self._loaded_generation = generation
            return vectors

    def _build_vectors(self) -> VectorIndex:
        ids, vecs = self.store.vectors()
        if len(ids) == 0:
            manifest = self.manifest
            return VectorIndex.empty(manifest.dimension if manifest else 1)
        return VectorIndex.build(
            ids, vecs, hnsw_threshold=self.hnsw_threshold, sq8_threshold=self.sq8_threshold
        )

    # -- writes -------------------------------------------------------------------------
    def ensure_manifest(self, manifest: Manifest) -> None:
        if self.manifest is None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            manifest.write(self.data_dir / MANIFEST)

    def commit(self, apply: Callable[[Writer], None]) -> int:
        """Run ``apply(writer)`` and publish a new generation, all or nothing.

        The FAISS file of the new generation is the current one with the batch's removed
        passages taken out and its new ones added (see ``_next_vectors``), not a rebuild
        from every stored vector: adding a batch costs what the batch holds, plus writing
        the file."""
        with self._lock, self.store.write() as conn:
            current = self.vectors() if self.exists() else None
            writer = SqliteWriter(conn)
            apply(writer)
            old = int(conn.execute("SELECT value FROM meta WHERE key='generation'").fetchone()[0])
            new = old + 1
            self._remove_stale_temporaries()
            vectors = self._next_vectors(current, writer)
            vectors.save(vectors_path(self.data_dir, new))
            Store.set_meta(conn, "generation", str(new))
        with self._lock:
            self._vectors, self._loaded_generation = vectors, new
        self._prune(keep=new)
        return new

    def _next_vectors(self, current: VectorIndex | None, writer: SqliteWriter) -> VectorIndex:
        """The dense index after ``writer``'s changes: updated in a copy (readers keep
        searching the current one), or rebuilt from the store when the index type changes
        with the size, when passages are removed from an HNSW graph (FAISS cannot delete
        from one: the rebuild is the compaction), or when the update does not add up."""
        total = self.store.counts()[1]
        if total == 0:
            return VectorIndex.empty(self.manifest.dimension if self.manifest else 1)
        if (
            current is None
            or current.size == 0
            or current.kind != kind_for(total, self.hnsw_threshold, self.sq8_threshold)
            or (writer.removed and not current.can_remove)
        ):
            return self._build_vectors()
        ids, vecs = self.store.vectors_of(writer.added)
        updated = current.copy()
        updated.remove(writer.removed)
        updated.add(ids, vecs)
        if updated.size != total:
            log.warning(
                "incremental index update gave %d vectors, not %d; rebuilt", updated.size, total
            )
            return self._build_vectors()
        return updated

    def repair(self) -> None:
        """Rewrite the FAISS file of the current generation from the store's vectors."""
        with self._lock:
            generation = self.store.generation()
            self._build_vectors().save(vectors_path(self.data_dir, generation))
            self._vectors = None

    def _remove_stale_temporaries(self) -> int:
        """Temporary files an interrupted writer left; called holding the store's write
        lock, so no other writer can be producing one now."""
        removed = 0
        for pattern in ("vectors-g*.faiss.*.tmp", MANIFEST + ".*.tmp"):
            for path in self.data_dir.glob(pattern):
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def sweep_temporaries(self) -> int:
        """At start: remove what a crashed writer left behind (a half-written FAISS file can
        be as large as the index). Only when no other process is writing: the write lock is
        tried without waiting, and if another writer holds it the files are left to the next
        commit, which sweeps them too. Returns how many were removed."""
        if not self.exists() or not any(self.data_dir.glob("*.tmp")):
            return 0
        conn = self.store.conn
        try:
            conn.execute("PRAGMA busy_timeout = 0")
            with self._lock, self.store.write():
                return self._remove_stale_temporaries()
        except sqlite3.OperationalError:
            return 0  # another process is writing: its files are not orphans
        finally:
            conn.execute("PRAGMA busy_timeout = 30000")

    def _prune(self, keep: int) -> None:
        for path in self.data_dir.glob("vectors-g*.faiss"):
            try:
                gen = int(path.stem.split("-g", 1)[1])
            except ValueError:
                continue
            if gen < keep:
                path.unlink(missing_ok=True)

    def size_on_disk(self) -> int:
        return sum(p.stat().st_size for p in self.data_dir.rglob("*") if p.is_file())

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
