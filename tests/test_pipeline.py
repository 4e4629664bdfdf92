"""The composition root with small deterministic models injected by constructor: fast,
and still the real store, index, retriever, reader and write protocol."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.errors import ConfigError
from qa.pipeline import Pipeline, build_pipeline
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


def test_an_unreadable_date_is_kept_raw_and_warned(fast, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pipeline, _ = fast
    src = tmp_path / "in.jsonl"
    src.write_text(
        '{"id": "a", "text": "One article with a date.", "date": "the ides of March"}\n'
        '{"id": "b", "text": "Another, dated properly.", "date": "11 February 2025"}\n'
        '{"id": "c", "text": "An impossible day.", "date": "2025-02-30"}\n'
        '{"id": "d", "text": "From the future.", "date": "2199-01-01"}\n'
    )
    report = pipeline.ingest([src])
    assert report.added == 4 and not report.skipped
    assert [w.reason for w in report.warnings] == [
        "article 'a': date 'the ides of March' is not a date; kept as written (date_raw) "
        "and treated as undated",
        "article 'c': date '2025-02-30' is not a date; kept as written (date_raw) "
        "and treated as undated",
        "article 'd': date 2199-01-01 is in the future; kept as given (it ranks as the "
        "newest report)",
    ]
    assert "3 warnings" in report.summary()
    a, b = pipeline.article("a"), pipeline.article("b")
    assert a is not None and a.date is None and a.date_raw == "the ides of March"
    assert b is not None and b.date == "2025-02-11" and b.date_raw is None
    again = pipeline.ingest([src])  # the raw date is part of identity: nothing changes
    assert again.unchanged == 4 and again.added == again.replaced == 0


def test_control_characters_in_ids_are_refused(fast, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pipeline, _ = fast
    pipeline.ingest_articles(ARTICLES)
    src = tmp_path / "in.jsonl"
    src.write_text(
        '{"id": "bad\\nid", "text": "A forged log line."}\n'
        '{"id": "esc\\u001b[31m", "text": "A terminal escape."}\n'
        '{"id": "good", "text": "A fine article."}\n'
    )
    report = pipeline.ingest([src])
    assert report.added == 1 and len(report.skipped) == 2
    assert all("control character" in s.reason for s in report.skipped)
    assert "U+000A" in report.skipped[0].reason and "U+001B" in report.skipped[1].reason
    assert pipeline.article_ids() == {"troops", "opera", "good"}  # nothing else lost


def test_orphan_temporaries_are_swept_at_start(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", auto_ingest=False)
    first = build_pipeline(settings, doc_encoder=HashEncoder(), annotator=PlainAnnotator())
    first.ingest_articles(ARTICLES)
    first.close()
    data = tmp_path / "data"
    orphans = [data / "vectors-g7.faiss.abc123.tmp", data / "manifest.json.x1.tmp"]
    for p in orphans:
        p.write_bytes(b"half a file")
    kept = data / "notes.tmp"  # not ours: left alone
    kept.write_text("someone else's")
    again = build_pipeline(settings, doc_encoder=HashEncoder(), annotator=PlainAnnotator())
    try:
        assert not any(p.exists() for p in orphans) and kept.exists()
        assert again.article_count() == 2
        assert "11,000" in again.ask("How many troops did North Korea send to Russia?").answer
    finally:
        again.close()


def test_as_of_is_the_answer_sources_date(fast) -> None:  # type: ignore[no-untyped-def]
    pipeline, _ = fast
    pipeline.ingest_articles(
        [*ARTICLES, Article("undated", "Bees", "About 40,000 bees live in one hive.")]
    )
    dated = pipeline.ask("How many troops did North Korea send to Russia?")
    assert "11,000" in dated.answer and dated.as_of == "2025-02-11"
    undated = pipeline.ask("How many bees live in one hive?")
    assert "40,000" in undated.answer and undated.as_of is None


def test_a_declined_answer_marks_no_span_in_its_passages(corpus_pipeline: Pipeline) -> None:
    """The closest passages of "not in the articles" carry no answer offsets, so no link
    or reading page highlights the turned-down candidate as if it were the answer."""
    answer = corpus_pipeline.ask("Who won the 2022 World Cup?")
    assert answer.abstained and answer.citations
    assert all(c.answer_start is None and c.answer_end is None for c in answer.citations)
