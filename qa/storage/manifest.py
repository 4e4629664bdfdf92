"""The manifest: what an index was built with. Vectors from another model are meaningless,
so every store keeps one and refuses a mismatch with the way out."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embeddings.files import atomic_write_text
from qa import __version__
from qa.errors import CorruptIndexError, ModelMismatchError

MANIFEST = "manifest.json"


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

    @classmethod
    def from_dict(cls, raw: dict[str, Any], where: str) -> Manifest:
        try:
            return cls(
                **{k: raw[k] for k in ("model", "dimension", "chunk_words", "chunk_overlap")},
                version=raw.get("version", "?"),
            )
        except (KeyError, TypeError) as exc:
            raise CorruptIndexError(f"the manifest of {where} is unreadable ({exc})") from exc

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=2) + "\n"

    def write(self, path: Path) -> None:
        atomic_write_text(path, self.to_json())


def check_manifest(
    manifest: Manifest | None,
    where: str,
    model: str,
    chunk_words: int | None,
    chunk_overlap: int | None,
    *,
    rebuild: str,
    dimension: int | None = None,
) -> None:
    """Raise :class:`ModelMismatchError` when ``manifest`` was built otherwise than asked."""
    if manifest is None:
        return
    if manifest.model != model:
        raise ModelMismatchError(
            f"{where} was built with model {manifest.model!r}, not {model!r}. Either set "
            f"QA_MODEL={manifest.model} to use it, or rebuild it for the new model with "
            f"{rebuild}"
        )
    for name, wanted, have in (
        ("dimension", dimension, manifest.dimension),
        ("chunk_words", chunk_words, manifest.chunk_words),
        ("chunk_overlap", chunk_overlap, manifest.chunk_overlap),
    ):
        if wanted is not None and wanted != have:
            verb = "built with" if name == "dimension" else "chunked with"
            raise ModelMismatchError(
                f"{where} was {verb} {name}={have}, not {wanted}. Rebuild it with "
                f"{rebuild} to change it"
            )
