"""Time in questions: the forms read offline, and what the pipeline does with them (a date
filter, dropped with a note when no article of those dates answers; newest first for "the
latest"; nothing for questions that say nothing about time)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from qa.pipeline import Pipeline
from qa.timeframe import read_timeframe
from qa.types import Article, Filters
from tests.fakes import fast_pipeline


@pytest.mark.parametrize(
    ("question", "date_from", "date_to", "latest"),
    [
        ("How many troops had arrived as of January 2025?", None, "2025-01-31", False),
        ("Who won the election in 2016?", "2016-01-01", "2016-12-31", False),
        ("What happened during March 2024?", "2024-03-01", "2024-03-31", False),
        ("What happened before 3 March 2024?", None, "2024-03-02", False),
        ("What was said after 2014-05-03?", "2014-05-04", None, False),
        ("How many died since July 2015?", "2015-07-01", None, False),
        ("What was reported by 2025?", None, "2025-12-31", False),
        (
            "What happened on the 4th of July in 1776 as of March 5th, 2020?",
            None,
            "2020-03-05",
            False,
        ),
        ("What is the latest figure?", None, None, True),
        ("How many troops are in Russia now, as of 11 February 2025?", None, "2025-02-11", True),
    ],
)
def test_forms(question: str, date_from: str | None, date_to: str | None, latest: bool) -> None:
    frame = read_timeframe(question)
    assert frame is not None
    assert (frame.date_from, frame.date_to, frame.latest) == (date_from, date_to, latest)


@pytest.mark.parametrize(
    "question",
    [
        "What is the capital of Australia?",
        "Who ruled in 1066?",  # a topic, not a publication date
        "What will the city look like in 3000?",
        "How many people founded it by 1000 votes?",
    ],
)
def test_no_time(question: str) -> None:
    assert read_timeframe(question) is None


def test_an_unreadable_date_is_reported() -> None:
    frame = read_timeframe("How many troops as of Smarch 40?")
    assert frame is not None and not frame.filters
    assert frame.note and "Smarch 40" in frame.note


ARTICLES = [
    Article(
        "old",
        "Troops, 2015",
        "In 2015 the ministry said 5,000 troops were sent.",
        date="2015-06-01",
    ),
    Article(
        "new",
        "Troops, 2025",
        "In 2025 the ministry said 11,000 troops were sent.",
        date="2025-02-11",
    ),
]


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[Pipeline]:
    p = fast_pipeline(tmp_path / "data")
    p.ingest_articles(ARTICLES)
    yield p
    p.close()


def test_a_year_filters_on_publication_date(pipeline: Pipeline) -> None:
    a = pipeline.ask("How many troops did the ministry say were sent in 2015?")
    assert a.timeframe is not None and a.timeframe.applied
    assert {c.article_id for c in a.citations} == {"old"}
    assert "5,000" in a.answer and a.as_of == "2015-06-01"
    b = pipeline.ask("How many troops did the ministry say were sent as of March 2025?")
    assert b.timeframe is not None and b.timeframe.date_to == "2025-03-31"
    assert {c.article_id for c in b.citations} == {"old", "new"}


def test_no_article_of_those_dates_drops_the_filter_with_a_note(pipeline: Pipeline) -> None:
    a = pipeline.ask("How many troops did the ministry say were sent in 2019?")
    assert a.timeframe is not None and not a.timeframe.applied
    assert a.timeframe.note and "2019-01-01 to 2019-12-31" in a.timeframe.note
    assert a.citations  # answered from every article instead


def test_explicit_filters_win(pipeline: Pipeline) -> None:
    a = pipeline.ask(
        "How many troops did the ministry say were sent in 2015?",
        filters=Filters(date_from="2025-01-01"),
    )
    assert {c.article_id for c in a.citations} == {"new"}
    assert a.timeframe is not None and not a.timeframe.applied


def test_latest_reads_the_newest_first(pipeline: Pipeline) -> None:
    a = pipeline.ask("What is the latest number of troops the ministry said were sent?")
    assert a.timeframe is not None and a.timeframe.latest
    assert a.citations[0].article_id == "new" and "11,000" in a.answer


def test_switched_off(tmp_path: Path) -> None:
    p = fast_pipeline(tmp_path / "d", time_in_questions=False)
    try:
        p.ingest_articles(ARTICLES)
        a = p.ask("How many troops did the ministry say were sent in 2015?")
        assert a.timeframe is None and {c.article_id for c in a.citations} == {"old", "new"}
    finally:
        p.close()
