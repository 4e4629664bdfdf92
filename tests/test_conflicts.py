"""Conflicting reports: two articles giving two figures for one question are shown side by
side, newest first, instead of one being picked silently; single-answer questions are not
flagged. The real reader and calibration, with a small deterministic encoder."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from qa.pipeline import Pipeline
from qa.types import Article
from tests.fakes import fast_pipeline

FEB = Article(
    "feb",
    "Seoul: 11,000 North Korean troops in Russia",
    "North Korea has sent around 11,000 troops to Russia, South Korea's spy agency said. "
    "Of them, about 300 are believed to have been killed and 2,700 wounded.",
    source="Wire",
    date="2025-02-11",
)
DEC = Article(
    "dec",
    "Kyiv: North Korea's deployment grows",
    "Ukrainian intelligence said North Korea had sent 12,000 troops to Russia by December, "
    "most of them to the Kursk region.",
    source="Daily",
    date="2024-12-20",
)
Q = "How many troops has North Korea sent to Russia?"


def _pipeline(tmp_path: Path, articles: list[Article]) -> Pipeline:
    p = fast_pipeline(tmp_path / "data")
    p.ingest_articles(articles)
    return p


@pytest.fixture
def two_reports(tmp_path: Path) -> Iterator[Pipeline]:
    p = _pipeline(tmp_path, [FEB, DEC])
    yield p
    p.close()


def test_two_figures_are_shown_side_by_side(two_reports: Pipeline) -> None:
    a = two_reports.ask(Q)
    assert a.answerer == "reader" and not a.abstained
    figures = {a.answer, *(c.answer for c in a.conflicts)}
    assert any("11,000" in f for f in figures) and any("12,000" in f for f in figures)
    assert len(a.conflicts) == 1
    conflict = a.conflicts[0]
    cited = {c.number: c.article_id for c in a.citations}
    assert cited[conflict.citation] == conflict.article_id
    assert conflict.article_id != a.citations[0].article_id
    assert conflict.date in ("2024-12-20", "2025-02-11")


def test_a_single_answer_question_is_not_flagged(two_reports: Pipeline) -> None:
    # Only the February report gives a figure for the killed: nothing to set against it.
    a = two_reports.ask("How many of the troops are believed to have been killed?")
    assert "300" in a.answer and a.conflicts == ()


def test_an_edited_copy_with_another_figure_is_a_conflict_not_a_copy(tmp_path: Path) -> None:
    changed = replace(
        FEB,
        id="feb-copy",
        source="Herald",
        date="2025-02-12",
        text=FEB.text.replace("11,000", "12,000"),
    )
    p = _pipeline(tmp_path, [FEB, changed])
    try:
        assert p.stats().copies == 1  # grouped as a copy of the story...
        a = p.ask(Q)
        figures = {a.answer, *(c.answer for c in a.conflicts)}
        # ...but its other figure is shown, newest first, not hidden as a copy's.
        assert any("12,000" in f for f in figures) and any("11,000" in f for f in figures)
        killed = p.ask("How many of the troops are believed to have been killed?")
        assert "300" in killed.answer
    finally:
        p.close()


def test_timeline_lists_each_report_oldest_first(two_reports: Pipeline, tmp_path: Path) -> None:
    entries = two_reports.timeline(Q)
    assert [e.article_id for e in entries] == ["dec", "feb"]
    assert "12,000" in entries[0].answer and "11,000" in entries[1].answer
    assert entries[0].date == "2024-12-20" and entries[0].source == "Daily"
    feb = next(a for a in (FEB,) if a.id == entries[1].article_id)
    s, e = entries[1].answer_start, entries[1].answer_end
    assert s is not None and e is not None and feb.text[s:e] == entries[1].answer

    from fastapi.testclient import TestClient

    from tests.test_api import _app, assert_error

    client = TestClient(_app(two_reports, tmp_path))
    r = client.get("/timeline", params={"q": Q})
    assert r.status_code == 200
    assert [x["date"] for x in r.json()["entries"]] == ["2024-12-20", "2025-02-11"]
    assert_error(client.get("/timeline", params={"q": ""}), 422)
    assert_error(client.get("/timeline", params={"q": Q, "k": 0}), 422)
