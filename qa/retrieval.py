"""Hybrid retrieval: dense (FAISS) and lexical (SQLite FTS5 BM25), fused by weighted scores."""

from __future__ import annotations

from typing import Any, Protocol

from qa.index import ArticleIndex
from qa.types import Filters, Hit


class Retriever(Protocol):
    def retrieve(self, query: str, k: int, filters: Filters | None = None) -> list[Hit]:
        """The ``k`` best chunks for ``query``, best first."""
        ...


class HybridRetriever:
    """Convex combination of the dense cosine and the max-normalised BM25 score.

    Both retrievers propose ``candidates`` chunks; every proposed chunk then gets an exact
    dense score (the vector is in the index) so no candidate is ranked on half its evidence.
    """

    def __init__(
        self, index: ArticleIndex, encoder: Any, *, candidates: int = 50, dense_weight: float = 0.5
    ) -> None:
        self.index = index
        self.encoder = encoder
        self.candidates = candidates
        self.dense_weight = dense_weight

    def retrieve(self, query: str, k: int, filters: Filters | None = None) -> list[Hit]:
        store = self.index.store
        vectors = self.index.vectors()
        if vectors.size == 0:
            return []
        allowed = store.filtered_rowids(filters) if filters and filters.active() else None
        if allowed is not None and not allowed:
            return []
        qvec = self.encoder.encode([query])[0]
        n = max(self.candidates, k)
        dense = dict(vectors.search(qvec, n, allowed))
        lexical = dict(store.lexical_search(query, n, allowed))
        missing = [i for i in lexical if i not in dense]
        dense.update(vectors.scores_for(qvec, missing))
        top_lex = max(lexical.values(), default=0.0) or 1.0
        w = self.dense_weight
        fused = {
            i: w * dense.get(i, 0.0) + (1 - w) * (lexical.get(i, 0.0) / top_lex)
            for i in dense.keys() | lexical.keys()
        }
        best = sorted(fused, key=lambda i: (-fused[i], i))[:k]
        rows = store.chunks_by_rowid(best)
        return [
            Hit(chunk=rows[i][0], article=rows[i][1], score=fused[i], dense=dense.get(i, 0.0),
                lexical=lexical.get(i, 0.0) / top_lex)
            for i in best if i in rows
        ]
