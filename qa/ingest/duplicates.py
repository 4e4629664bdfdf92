"""Near-duplicate articles: the same wire story under several outlets, grouped at ingest.

Each article gets a MinHash signature of its word 5-shingles (``datasketch``); an article
whose estimated Jaccard similarity to one already stored is at least ``THRESHOLD`` joins
that article's group (the group is named by its representative, the first copy stored).
Answers then cite one copy per group and list the others as "also reported by".
``bench/duplicates.py`` measures the grouping on edited copies of the public Wikinews
articles (reworded lead, added paragraph, other byline) and on articles that only share a
topic, which must stay apart.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import numpy as np

SHINGLE = 5
"""Words per shingle: 5-word runs are rare enough that two different texts on one topic
share almost none (bench/duplicates.py: Jaccard at most 0.016 between the two halves of one
Wikipedia article, 0.000 between distinct Wikinews reports)."""
NUM_PERM = 128
"""Hash functions per signature: the Jaccard estimate's standard error is about
sqrt(J(1-J)/128), 0.04 at J = 0.5."""
THRESHOLD = 0.5
"""Chosen on bench/duplicates.py: edited copies (a reworded lead, an added paragraph, another
byline, all at once with the end cut) score 0.547 to 1.0 and same-topic texts at most
0.016, so 0.5 groups all 172 copies and none of the 951 other pairs; 0.6 would lose 3
copies, 0.3 gains nothing and halves the margin for the estimate's error."""
SCHEME = "affine32"
"""datasketch's hashing scheme, named so that stored signatures read back the same."""
_WORD = re.compile(r"\w+", re.UNICODE)


def shingles(text: str) -> set[bytes]:
    """The text's word 5-shingles, lower-cased (a text shorter than that is one shingle)."""
    words = [w.lower() for w in _WORD.findall(text)]
    if len(words) < SHINGLE:
        return {" ".join(words).encode("utf-8")} if words else set()
    return {
        " ".join(words[i : i + SHINGLE]).encode("utf-8") for i in range(len(words) - SHINGLE + 1)
    }


def signature(text: str) -> Any:
    """The MinHash of ``text`` (seeded: the same text always gets the same signature)."""
    from datasketch import MinHash

    m = MinHash(num_perm=NUM_PERM, seed=1, scheme=SCHEME)
    m.update_batch(list(shingles(text)))
    return m


def to_bytes(m: Any) -> bytes:
    return np.asarray(m.hashvalues, dtype=np.uint64).tobytes()


def from_bytes(data: bytes) -> Any:
    from datasketch import MinHash

    values = np.frombuffer(data, dtype=np.uint64)
    return MinHash(num_perm=NUM_PERM, seed=1, hashvalues=values.copy(), scheme=SCHEME)


class Grouper:
    """Assigns articles to groups against the signatures already stored and those assigned
    in this run (so two copies in one batch group too)."""

    def __init__(self, stored: Iterable[tuple[str, str, bytes]], threshold: float = THRESHOLD):
        from datasketch import MinHashLSH

        self.threshold = threshold
        self._lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
        self._sig: dict[str, Any] = {}
        self._group: dict[str, str] = {}
        for article_id, group_id, data in stored:
            self._add(article_id, group_id, from_bytes(data))

    def _add(self, article_id: str, group_id: str, m: Any) -> None:
        if article_id in self._sig:
            self._lsh.remove(article_id)
        self._lsh.insert(article_id, m)
        self._sig[article_id] = m
        self._group[article_id] = group_id

    def assign(self, article_id: str, m: Any, own: str) -> tuple[str, str | None, float]:
        """The group ``article_id`` joins (``own``, a new group's label, when it copies
        nothing), the article it matched (None for none) and their similarity."""
        best, best_j = None, 0.0
        for other in self._lsh.query(m):
            if other == article_id:
                continue
            j = float(m.jaccard(self._sig[other]))
            if j >= self.threshold and (j > best_j or (j == best_j and str(other) < str(best))):
                best, best_j = other, j
        group = self._group[best] if best is not None else own
        self._add(article_id, group, m)
        return group, best, best_j

    def forget(self, article_id: str) -> None:
        if article_id in self._sig:
            self._lsh.remove(article_id)
            del self._sig[article_id]
            del self._group[article_id]
