"""Shared fixtures. Tests never download: the model is the packaged one, the data local."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from qa.pipeline import Pipeline, build_pipeline
from qa.settings import DEFAULT_CORPUS, Settings

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
FOUNDING_Q = "How many troops did North Korea send to Russia?"


def make_settings(data_dir: Path, **kw: object) -> Settings:
    return Settings(data_dir=data_dir, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def corpus_index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped corpus, ingested once per test session (the slow part: ~20 s)."""
    data_dir = tmp_path_factory.mktemp("corpus-index")
    pipeline = build_pipeline(make_settings(data_dir))
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
