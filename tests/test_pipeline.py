"""The composition root with small deterministic models injected by constructor: fast,
and still the real store, index, retriever, reader and write protocol."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.errors import ConfigError
from qa.pipeline import build_pipeline
from qa.settings import Settings, load_settings
from qa.types import Article
from tests.fakes import HashEncoder, PlainAnnotator

ARTICLES = [
    Article(
        "troops",
        "North Korea sends troops",
        "North Korea has sent around 11,000 troops to Russia, of which 300 are believed "
        "to have been killed and another 2,700 wounded. The estimate came on Tuesday.",
        date="2025-02-11",
    ),
    Article(
        "opera",
        "The opera house",
        "The Sydney Opera House opened in 1973 after fourteen years of construction.",
        date="2015-01-01",
    ),
]


@pytest.fixture
def fast(tmp_path: Path):  # type: ignore[no-untyped-def]
    encoder = HashEncoder()
    pipeline = build_pipeline(
        Settings(data_dir=tmp_path / "data", auto_ingest=False),
        doc_encoder=encoder,
        annotator=PlainAnnotator(),
    )
    yield pipeline, encoder
    pipeline.close()


def test_injected_models_ingest_and_answer(fast) -> None:  # type: ignore[no-untyped-def]
    pipeline, encoder = fast
    assert pipeline.is_empty() and not pipeline.exists()
    report = pipeline.ingest_articles(ARTICLES)
    assert report.added == 2 and encoder.calls >= 1
    assert pipeline.article_ids() == {"troops", "opera"}
    assert pipeline.article_count() == 2
    assert [a.id for a in pipeline.articles()] == ["troops", "opera"]  # newest first
    assert pipeline.article("opera") is not None and pipeline.article("nope") is None
    assert len(pipeline.article_chunks("troops")) == 1
    calls = encoder.calls
    answer = pipeline.ask("How many troops did North Korea send to Russia?")
    # The injected encoder encodes the question too: no ONNX export was made for it.
    assert encoder.calls == calls + 1
    assert answer.answerer == "reader" and "11,000" in answer.answer, answer
    assert answer.citations[0].article_id == "troops"
    assert pipeline.threshold == pipeline.answerer.threshold


def test_rebuild_keeps_the_injected_models(fast, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pipeline, encoder = fast
    pipeline.ingest_articles(ARTICLES)
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.txt").write_text("Title: Flags\n\nNew Zealand may change its flag in 2016.\n")
    calls = encoder.calls
    report = pipeline.rebuild([folder])
    assert report.added == 1 and pipeline.article_ids() == {"a"}
    assert encoder.calls > calls  # the fresh index was built with the injected encoder
    hits = pipeline.search("flag New Zealand", 3)
    assert hits and hits[0].article.id == "a"


def test_delete_and_reads_on_an_empty_directory(fast) -> None:  # type: ignore[no-untyped-def]
    pipeline, _ = fast
    assert pipeline.articles() == [] and pipeline.article_ids() == set()
    assert pipeline.article_count() == 0 and pipeline.article("x") is None
    pipeline.ingest_articles(ARTICLES)
    pipeline.delete(["opera"])
    assert pipeline.article_ids() == {"troops"}


def test_bad_setting_is_a_config_error_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_TOP_K", "zero")
    with pytest.raises(ConfigError, match="QA_TOP_K"):
        load_settings()
    monkeypatch.setenv("QA_TOP_K", "5")
    assert load_settings().top_k == 5
