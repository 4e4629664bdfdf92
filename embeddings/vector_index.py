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
HNSW_SQ8 = "hnsw-sq8"
SQ8_THRESHOLD = 500_000
"""From here on the graph's vectors are 8-bit scalar-quantised: HNSW over float32 costs
about 1.8 KB per 384-d passage (1.5 KB vector, 0.3 KB graph at M=32), past 1 GB at about
560,000 passages; over SQ8 it costs about 0.65 KB (bench/scale.py has the figures)."""


def use_threads(threads: int) -> None:
    """Set FAISS's OpenMP threads for the process, once, at start (it is a process-wide
    setting: toggled per search it races under a threaded server). One query is far too
    little work to share: extra threads only spin against each other and any other load,
    turning a 0.5 ms flat search into tens of ms."""
    faiss.omp_set_num_threads(threads)


EF_SEARCH = {HNSW: 128, HNSW_SQ8: 256}
"""Candidates an HNSW search keeps. The quantised graph needs the wider beam: at 1M
passages (bench/scale.py) recall@10 against exact search is 0.93 at 128 and 0.97 at 256,
for 0.26 against 0.37 ms a question."""

EXACT_FILTERED = 10_000
"""A filter allowing at most this many passages is searched exactly (15 MB of vectors
decoded, a few ms) rather than through the graph."""


def kind_for(size: int, hnsw_threshold: int, sq8_threshold: int = SQ8_THRESHOLD) -> str:
    """The index type for ``size`` vectors (see :class:`VectorIndex`)."""
    if size >= max(sq8_threshold, hnsw_threshold):
        return HNSW_SQ8
    return HNSW if size >= hnsw_threshold else FLAT


def _new(kind: str, dim: int, sample: np.ndarray) -> Any:
    """An empty FAISS index of ``kind`` (trained on ``sample`` where it needs training)."""
    if kind == FLAT:
        return faiss.IndexFlatIP(dim)
    inner: Any
    if kind == HNSW:
        inner = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
    else:
        qt: Any = faiss.ScalarQuantizer.QT_8bit
        inner = faiss.IndexHNSWSQ(dim, qt, 32, faiss.METRIC_INNER_PRODUCT)
        # The quantiser's per-dimension ranges; later additions outside them are clipped,
        # which costs little for unit vectors from one model.
        inner.train(sample)
    inner.hnsw.efConstruction = 80
    inner.hnsw.efSearch = EF_SEARCH[kind]
    return inner


class VectorIndexError(RuntimeError):
    """The index file is missing, truncated or unreadable."""


class VectorIndex:
    """Exact search while small, HNSW from ``hnsw_threshold`` vectors on, HNSW over 8-bit
    scalar-quantised vectors from ``sq8_threshold`` on.

    Exact inner product is linear in the corpus: at 100,000 384-d vectors it reads 150 MB
    per question, which is where it stops fitting a 30 ms budget on a laptop core. HNSW
    (M=32, efSearch=128) answers in about a millisecond at high recall past that; its build
    time is paid at ingest, not per question. Its float32 vectors then dominate memory,
    which quantising to 8 bits cuts by four (``SQ8_THRESHOLD``).
    """

    def __init__(self, index: Any, kind: str) -> None:
        self._index = index
        self.kind = kind

    @classmethod
    def build(
        cls,
        ids: np.ndarray,
        vectors: np.ndarray,
        *,
        hnsw_threshold: int = 100_000,
        sq8_threshold: int = SQ8_THRESHOLD,
        kind: str | None = None,
    ) -> VectorIndex:
        """A FAISS index over ``vectors``: of ``kind``, or the one their number calls for."""
        dim = vectors.shape[1] if vectors.ndim == 2 and vectors.shape[0] else 0
        if dim == 0:
            raise ValueError("cannot build an index from no vectors; use VectorIndex.empty")
        kind = kind or kind_for(len(ids), hnsw_threshold, sq8_threshold)
        vecs = np.ascontiguousarray(vectors, dtype=np.float32)
        index = faiss.IndexIDMap2(_new(kind, dim, vecs[:100_000]))
        index.add_with_ids(vecs, np.asarray(ids, dtype=np.int64))
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
            if self.kind != FLAT and allowed_ids.size <= EXACT_FILTERED:
                return self._exact_among(q[0], k, allowed_ids)
            # Keep ``sel`` referenced until the search returns: the SWIG parameter objects do
            # not own it, and a collected selector crashes the process.
            sel = faiss.IDSelectorBatch(allowed_ids)
            params = (
                faiss.SearchParametersHNSW(sel=sel, efSearch=max(EF_SEARCH[self.kind], k))  # type: ignore[attr-defined]
                if self.kind in (HNSW, HNSW_SQ8)
                else faiss.SearchParameters(sel=sel)  # type: ignore[call-arg]
            )
        scores, ids = self._index.search(q, min(k, self.size), params=params)
        del params
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i != -1]

    def _exact_among(self, q: np.ndarray, k: int, ids: np.ndarray) -> list[tuple[int, float]]:
        """Exact search over a few chosen ids. A graph search with a selective filter walks
        mostly filtered-out nodes and can return fewer than k of the allowed ones."""
        try:
            vecs = self._index.reconstruct_batch(ids)
        except RuntimeError:  # an id not in the index: keep those that are
            pairs = self.scores_for(q, ids)
            return sorted(pairs.items(), key=lambda x: (-x[1], x[0]))[:k]
        scores = vecs @ q
        order = np.argsort(-scores, kind="stable")[:k]
        return [(int(ids[i]), float(scores[i])) for i in order]

    def scores_for(self, query: np.ndarray, ids: Iterable[int]) -> dict[int, float]:
        """Exact similarity for chosen ids, so fusion never guesses a missing dense score."""
        out: dict[int, float] = {}
        q = query.reshape(-1).astype(np.float32)
        for i in ids:
            try:
                out[int(i)] = float(self._index.reconstruct(int(i)) @ q)
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
        if isinstance(inner, faiss.IndexHNSWSQ):
            kind = HNSW_SQ8
        elif isinstance(inner, faiss.IndexHNSW):
            kind = HNSW
        else:
            kind = FLAT
        return cls(index, kind)
