"""The on-disk index: one data directory holding the store, the FAISS file and the manifest.

Write protocol (crash- and Ctrl-C-safe): inside one SQLite write transaction the changes are
applied, the FAISS file for the next generation is written beside the old one (temporary
file, fsync, rename), and only then is the new generation committed. A crash before the
commit leaves the old generation whole; an orphaned newer FAISS file is ignored and later
overwritten. Readers always pair the store with the FAISS file of the store's generation.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embeddings.files import atomic_write_text
from embeddings.vector_index import VectorIndex, VectorIndexError
from qa import __version__
from qa.errors import CorruptIndexError, ModelMismatchError
from qa.store import Store

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
STORE = "store.sqlite"
ENCODER_DIR = "encoder"


@dataclass(frozen=True)
class Manifest:
    """What an index was built with (model, dimension, chunking); another model is refused."""

    model: str
    dimension: int
    chunk_words: int
    chunk_overlap: int
    version: str = __version__

    @classmethod
    def read(cls, path: Path) -> Manifest | None:
        if not path.exists():
            return None
        try:
            raw = json.loads(path.read_text())
            return cls(
                **{k: raw[k] for k in ("model", "dimension", "chunk_words", "chunk_overlap")},
                version=raw.get("version", "?"),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise CorruptIndexError(
                f"the manifest {path} is unreadable ({exc}); rebuild the index with "
                "`ask ingest --rebuild PATH...`"
            ) from exc

    def write(self, path: Path) -> None:
        atomic_write_text(path, json.dumps(self.__dict__, indent=2) + "\n")


def vectors_path(data_dir: Path, generation: int) -> Path:
    return data_dir / f"vectors-g{generation}.faiss"


class ArticleIndex:
    """The store plus its dense index, kept in step by generation number."""

    def __init__(self, data_dir: Path, *, hnsw_threshold: int = 100_000) -> None:
        self.data_dir = data_dir
        self.hnsw_threshold = hnsw_threshold
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
        manifest = self.manifest
        if manifest is None:
            return
        if manifest.model != model:
            raise ModelMismatchError(
                f"the index in {self.data_dir} was built with model {manifest.model!r}, "
                f"not {model!r}. Either set QA_MODEL={manifest.model} to use it, or rebuild "
                f"it for the new model with `ask ingest --rebuild PATH...` "
                f"(or point QA_DATA_DIR at a new folder)"
            )
        for name, wanted, have in (
            ("chunk_words", chunk_words, manifest.chunk_words),
            ("chunk_overlap", chunk_overlap, manifest.chunk_overlap),
        ):
            if wanted is not None and wanted != have:
                raise ModelMismatchError(
                    f"the index in {self.data_dir} was chunked with {name}={have}, not "
                    f"{wanted}. Rebuild it with `ask ingest --rebuild PATH...` to change it"
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
        return VectorIndex.build(ids, vecs, hnsw_threshold=self.hnsw_threshold)

    # -- writes -------------------------------------------------------------------------
    def ensure_manifest(self, manifest: Manifest) -> None:
        if self.manifest is None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            manifest.write(self.data_dir / MANIFEST)

    def commit(self, apply: Any) -> int:
        """Run ``apply(conn)`` and publish a new generation, all or nothing."""
        with self._lock, self.store.write() as conn:
            apply(conn)
            old = int(conn.execute("SELECT value FROM meta WHERE key='generation'").fetchone()[0])
            new = old + 1
            self._remove_stale_temporaries()
            ids, vecs = self.store.vectors()
            path = vectors_path(self.data_dir, new)
            if len(ids):
                VectorIndex.build(ids, vecs, hnsw_threshold=self.hnsw_threshold).save(path)
            else:
                VectorIndex.empty(self.manifest.dimension if self.manifest else 1).save(path)
            Store.set_meta(conn, "generation", str(new))
        self._prune(keep=new)
        return new

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
