"""Small deterministic stand-ins for the ingest-time models, for fast unit tests.

They are real implementations of the protocols (``embeddings.encoder.Encoder``,
``qa.ingest.annotate.Annotates``), only cheap: a hashing bag-of-words encoder and a
punctuation sentence splitter. End-to-end tests use the real model and spaCy.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from qa.types import Span

if TYPE_CHECKING:
    from qa.pipeline import Pipeline

_WORD = re.compile(r"\w+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'])|\n+")


class HashEncoder:
    """Unit vectors from hashed words: texts sharing words are close, the same text always
    gets the same vector."""

    def __init__(self, dimension: int = 384) -> None:
        self._dimension = dimension
        self.calls = 0

    @property
    def dimension(self) -> int:
        return self._dimension

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), self._dimension), dtype=np.float32)
        for i, text in enumerate(texts):
            for w in _WORD.findall(text.lower()):
                h = int.from_bytes(hashlib.blake2b(w.encode(), digest_size=8).digest(), "little")
                out[i, h % self._dimension] += 1.0 if (h >> 32) & 1 else -1.0
            norm = float(np.linalg.norm(out[i]))
            out[i] = out[i] / norm if norm else out[i]
            if not norm:
                out[i, 0] = 1.0
        return out


class PlainAnnotator:
    """Sentences split at end punctuation and line breaks; capitalised runs as entities."""

    def sentences(self, text: str) -> list[Span]:
        spans, start = [], 0
        for m in _SENTENCE_END.finditer(text):
            if text[start : m.start()].strip():
                spans.append(Span(start, m.start()))
            start = m.end()
        if text[start:].strip():
            spans.append(Span(start, len(text.rstrip())))
        return spans

    def entities(self, texts: list[str]) -> list[list[Span]]:
        return [
            [
                Span(m.start(), m.end(), "ORG")
                for m in re.finditer(r"(?<!^)(?<![.!?]\s)\b[A-Z][a-z]+(?: [A-Z][a-z]+)*", t)
            ]
            for t in texts
        ]


def fast_pipeline(data_dir: Path, **settings: Any) -> Pipeline:
    """The real pipeline (store, index, retriever, reader) with these stand-ins injected."""
    from qa.pipeline import build_pipeline
    from qa.settings import Settings

    return build_pipeline(
        Settings(data_dir=data_dir, auto_ingest=False, **settings),
        doc_encoder=HashEncoder(),
        annotator=PlainAnnotator(),
    )
