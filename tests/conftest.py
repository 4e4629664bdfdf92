"""Shared fixtures. Tests never download: the model is the packaged one, the data local."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from embeddings.encoder import SentenceTransformerEncoder
from qa.ingest.annotate import Annotator
from qa.pipeline import Pipeline, build_pipeline
from qa.settings import DEFAULT_CORPUS, Settings

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
FOUNDING_Q = "How many troops did North Korea send to Russia?"


def make_settings(data_dir: Path, **kw: object) -> Settings:
    return Settings(data_dir=data_dir, **kw)  # type: ignore[arg-type]


@dataclass
class Models:
    """The ingest-time models, loaded once per session and shared by test pipelines."""

    encoder: SentenceTransformerEncoder
    annotator: Annotator

    def pipeline(self, data_dir: Path, **kw: object) -> Pipeline:
        """A pipeline over ``data_dir`` that reuses these models instead of loading its own."""
        return build_pipeline(
            make_settings(data_dir, **kw), doc_encoder=self.encoder, annotator=self.annotator
        )


@pytest.fixture(scope="session")
def models() -> Models:
    settings = Settings()
    return Models(
        SentenceTransformerEncoder(settings.model, batch_size=settings.batch_size),
        Annotator(settings.ner),
    )


@pytest.fixture(scope="session")
def corpus_index_dir(tmp_path_factory: pytest.TempPathFactory, models: Models) -> Path:
    """The shipped corpus, ingested once per test session (the slow part: ~20 s)."""
    data_dir = tmp_path_factory.mktemp("corpus-index")
    pipeline = models.pipeline(data_dir)
    report = pipeline.ingest([DEFAULT_CORPUS])
    assert report.added == 25, report.summary()
    pipeline.close()
    return data_dir


@pytest.fixture
def corpus_copy(corpus_index_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the built index, for tests that write or break it."""
    target = tmp_path / "data"
    shutil.copytree(corpus_index_dir, target)
    return target


@pytest.fixture(scope="session")
def corpus_pipeline(corpus_index_dir: Path) -> Iterator[Pipeline]:
    """A read-only pipeline over the shared built index: do not ingest into it."""
    pipeline = build_pipeline(make_settings(corpus_index_dir, auto_ingest=False))
    yield pipeline
    pipeline.close()
