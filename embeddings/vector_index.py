"""A FAISS inner-product index over unit vectors, keyed by int64 ids, saved atomically."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from embeddings.files import atomic_write

FLAT = "flat"
HNSW = "hnsw"


def use_threads(threads: int) -> None:
    """Set FAISS's OpenMP threads for the process, once, at start (it is a process-wide
    setting: toggled per search it races under a threaded server). One query is far too
    little work to share: extra threads only spin against each other and any other load,
    turning a 0.5 ms flat search into tens of ms."""
    faiss.omp_set_num_threads(threads)


def kind_for(size: int, hnsw_threshold: int) -> str:
    """The index type for ``size`` vectors (see :class:`VectorIndex`)."""
    return HNSW if size >= hnsw_threshold else FLAT


class VectorIndexError(RuntimeError):
    """The index file is missing, truncated or unreadable."""


class VectorIndex:
    """Exact search while small, HNSW from ``hnsw_threshold`` vectors on.

    Exact inner product is linear in the corpus: at 100,000 384-d vectors it reads 150 MB
    per question, which is where it stops fitting a 30 ms budget on a laptop core. HNSW
    (M=32, efSearch=128) answers in about a millisecond at high recall past that; its build
    time is paid at ingest, not per question.
    """

    def __init__(self, index: Any, kind: str) -> None:
        self._index = index
        self.kind = kind

    @classmethod
    def build(
        cls, ids: np.ndarray, vectors: np.ndarray, *, hnsw_threshold: int = 100_000
    ) -> VectorIndex:
        """A FAISS index over ``vectors`` (exact, or HNSW from ``hnsw_threshold`` vectors on)."""
        dim = vectors.shape[1] if vectors.ndim == 2 and vectors.shape[0] else 0
        if dim == 0:
            raise ValueError("cannot build an index from no vectors; use VectorIndex.empty")
        kind = kind_for(len(ids), hnsw_threshold)
        inner: Any
        if kind == HNSW:
            inner = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efConstruction = 80
            inner.hnsw.efSearch = 128
        else:
            inner = faiss.IndexFlatIP(dim)
        index = faiss.IndexIDMap2(inner)
        index.add_with_ids(
            np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64)
        )
        return cls(index, kind)

    @classmethod
    def empty(cls, dim: int) -> VectorIndex:
        return cls(faiss.IndexIDMap2(faiss.IndexFlatIP(dim)), FLAT)

    @property
    def can_remove(self) -> bool:
        """Whether ``remove`` works: FAISS deletes from flat indexes, not from HNSW graphs."""
        return self.kind == FLAT

    def copy(self) -> VectorIndex:
        """An independent copy to update while readers keep searching this one."""
        return VectorIndex(faiss.clone_index(self._index), self.kind)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self._index.add_with_ids(
                np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64)
            )

    def remove(self, ids: Iterable[int]) -> None:
        wanted = np.fromiter(ids, dtype=np.int64)
        if wanted.size:
            if not self.can_remove:
                raise VectorIndexError("an HNSW index cannot remove vectors; rebuild it")
            self._index.remove_ids(faiss.IDSelectorBatch(wanted))

    @property
    def size(self) -> int:
        return int(self._index.ntotal)

    @property
    def dimension(self) -> int:
        return int(self._index.d)

    def search(
        self, query: np.ndarray, k: int, allowed: Iterable[int] | None = None
    ) -> list[tuple[int, float]]:
        """The ``k`` nearest ids to ``query`` with their inner products, among ``allowed`` when
        given."""
        if self.size == 0 or k <= 0:
            return []
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        params = None
        if allowed is not None:
            allowed_ids = np.fromiter(allowed, dtype=np.int64)
            if allowed_ids.size == 0:
                return []
            # Keep ``sel`` referenced until the search returns: the SWIG parameter objects do
            # not own it, and a collected selector crashes the process.
            sel = faiss.IDSelectorBatch(allowed_ids)
            params = (
                faiss.SearchParametersHNSW(sel=sel, efSearch=max(128, k))  # type: ignore[attr-defined]
                if self.kind == HNSW
                else faiss.SearchParameters(sel=sel)  # type: ignore[call-arg]
            )
        scores, ids = self._index.search(q, min(k, self.size), params=params)
        del params
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i != -1]

    def scores_for(self, query: np.ndarray, ids: Iterable[int]) -> dict[int, float]:
        """Exact similarity for chosen ids, so fusion never guesses a missing dense score."""
        out: dict[int, float] = {}
        q = query.reshape(-1).astype(np.float32)
        for i in ids:
            try:
                out[i] = float(self._index.reconstruct(int(i)) @ q)
            except RuntimeError:
                continue
        return out

    def save(self, path: Path) -> None:
        """Write to a temporary file in the same folder, fsync, then rename over ``path``."""
        atomic_write(path, lambda tmp: faiss.write_index(self._index, tmp))

    @classmethod
    def load(cls, path: Path) -> VectorIndex:
        """Read a FAISS file written by :meth:`save`."""
        if not path.exists():
            raise VectorIndexError(f"vector index {path} is missing")
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as exc:
            raise VectorIndexError(f"vector index {path} is unreadable: {exc}") from exc
        inner = faiss.downcast_index(index.index) if hasattr(index, "index") else index
        kind = HNSW if isinstance(inner, faiss.IndexHNSW) else FLAT
        return cls(index, kind)
