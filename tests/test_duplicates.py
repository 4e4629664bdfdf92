"""Near-duplicate grouping at ingest (MinHash LSH): copies of one story are cited once and
listed as "also reported by"; articles that only share a topic stay apart; deleting the
representative promotes the next copy; nothing stored is lost or mis-grouped."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from qa.ingest.duplicates import Grouper, signature
from qa.pipeline import Pipeline
from qa.types import Article
from tests.fakes import fast_pipeline

STORY = (
    "North Korea has sent around 11,000 troops to Russia, South Korea's spy agency said on "
    "Tuesday. About 300 of them are believed to have been killed and another 2,700 wounded "
    "in fighting in the Kursk region, lawmakers told reporters after a closed briefing. The "
    "agency said the soldiers lacked experience of modern warfare and drones. Pyongyang has "
    "not confirmed sending troops, and Moscow has neither confirmed nor denied it."
)
WIRE = Article("wire", "Spy agency: 11,000 troops", STORY, source="Wire", date="2025-02-11")
COPY = Article(
    "copy",
    "North Korean losses mount",
    "SEOUL - "
    + STORY.replace("South Korea's spy agency said on Tuesday", "Seoul's spies said")
    + "\n\nThe briefing came a day after new satellite images were published.",
    source="Herald",
    author="Kim Reporter",
    date="2025-02-12",
)
TOPIC = Article(
    "topic",
    "Troops in Kursk",
    "Ukraine says it has captured two North Korean soldiers in the Kursk region. President "
    "Zelensky offered to exchange them for Ukrainians held in Russia. The soldiers were "
    "questioned by the security service, and one of them said he had thought he was going "
    "to a training exercise.",
    source="Daily",
    date="2025-01-12",
)
Q = "How many troops has North Korea sent to Russia?"


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[Pipeline]:
    p = fast_pipeline(tmp_path / "data")
    yield p
    p.close()


def test_an_edited_copy_joins_the_group_and_is_cited_once(pipeline: Pipeline) -> None:
    first = pipeline.ingest_articles([WIRE, TOPIC])
    assert first.copies == 0
    second = pipeline.ingest_articles([COPY])
    assert second.copies == 1 and "1 copies of stored articles grouped" in second.summary()
    stats = pipeline.stats()
    assert (stats.articles, stats.groups, stats.copies) == (3, 2, 1)
    answer = pipeline.ask(Q)
    cited = {c.article_id for c in answer.citations}
    assert len(cited & {"wire", "copy"}) == 1  # one copy of the story fills the slots
    story = next(c for c in answer.citations if c.article_id in ("wire", "copy"))
    others = [r.article_id for r in story.also_reported_by]
    assert others == sorted({"wire", "copy"} - {story.article_id})
    assert story.also_reported_by[0].source in ("Wire", "Herald")
    topic = [c for c in answer.citations if c.article_id == "topic"]
    assert all(not c.also_reported_by for c in topic)  # a topic is not a copy


def test_two_identical_articles_in_one_batch_group(pipeline: Pipeline) -> None:
    twin = replace(WIRE, id="twin", source="Other Outlet")
    report = pipeline.ingest_articles([WIRE, twin])
    assert report.added == 2 and report.copies == 1
    hits = pipeline.search(Q, 5)
    assert len({h.article.id for h in hits} & {"wire", "twin"}) == 1


def test_deleting_the_representative_promotes_a_copy(pipeline: Pipeline) -> None:
    pipeline.ingest_articles([WIRE, TOPIC])
    pipeline.ingest_articles([COPY])
    pipeline.delete(["wire"])
    answer = pipeline.ask(Q)
    assert answer.citations[0].article_id == "copy" and not answer.citations[0].also_reported_by
    stats = pipeline.stats()
    assert (stats.articles, stats.groups, stats.copies) == (2, 2, 0)
    # A new copy joins the promoted one.
    pipeline.ingest_articles([replace(WIRE, id="wire-again")])
    again = pipeline.ask(Q)
    story = next(c for c in again.citations if c.article_id in ("copy", "wire-again"))
    assert [r.article_id for r in story.also_reported_by] == sorted(
        {"copy", "wire-again"} - {story.article_id}
    )
    pipeline.delete(["copy", "wire-again"])  # every copy: the story is gone, the rest stays
    assert pipeline.article_ids() == {"topic"} and pipeline.stats().copies == 0


def test_a_replaced_article_is_grouped_afresh(pipeline: Pipeline) -> None:
    pipeline.ingest_articles([WIRE, COPY])
    rewritten = replace(COPY, text="A wholly different report about rainfall in Seoul, " * 5)
    report = pipeline.ingest_articles([rewritten])
    assert report.replaced == 1 and report.copies == 0
    assert pipeline.stats().copies == 0
    unchanged = pipeline.ingest_articles([WIRE, rewritten])
    assert unchanged.unchanged == 2


def test_grouper_threshold() -> None:
    g = Grouper([])
    a, _, _ = g.assign("a", signature(STORY), own="g:a")
    b, matched, j = g.assign("b", signature(COPY.text), own="g:b")
    c, none, _ = g.assign("c", signature(TOPIC.text), own="g:c")
    assert a == b == "g:a" and matched == "a" and 0.5 <= j < 1.0
    assert c == "g:c" and none is None


def test_the_corpus_ingested_twice_answers_from_one_copy(pipeline: Pipeline) -> None:
    from qa.ingest.files import iter_articles
    from qa.settings import REPO_ROOT

    corpus = [a for a in iter_articles([REPO_ROOT / "corpus"]) if isinstance(a, Article)]
    pipeline.ingest_articles(corpus)
    again = pipeline.ingest_articles(
        [replace(a, id="copy/" + a.id, source="Copy Outlet") for a in corpus]
    )
    assert again.added == len(corpus) and again.copies == len(corpus)
    stats = pipeline.stats()
    assert (stats.groups, stats.copies) == (len(corpus), len(corpus))
    answer = pipeline.ask("How many troops did North Korea send to Russia?")
    assert "11,000" in answer.answer and answer.as_of == "2025-02-11"
    stories = [c.article_id.removeprefix("copy/") for c in answer.citations]
    numbers = {c.number for c in answer.citations}
    assert len(set(stories)) == len(numbers)  # no story twice under two numbers
    first = answer.citations[0]
    assert [r.article_id.removeprefix("copy/") for r in first.also_reported_by] == [
        first.article_id.removeprefix("copy/")
    ]
