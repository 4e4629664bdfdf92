"""Our own news question sets (tests/eval/): well formed, and each question's first gold
answer really in its article, so that a mistyped gold answer cannot mark a right one wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.eval.loaders import load_jsonl
from qa.ingest.files import iter_articles
from qa.squad import answer_in_text
from qa.types import Article

REPO = Path(__file__).resolve().parent.parent
SETS = sorted((REPO / "tests" / "eval").glob("*.jsonl"))


def _articles() -> dict[str, Article]:
    return {a.id: a for a in iter_articles([REPO / "corpus"]) if isinstance(a, Article)}


@pytest.mark.parametrize("path", SETS, ids=[p.name for p in SETS])
def test_news_set_is_sound(path: Path) -> None:
    qs = load_jsonl(path, path.read_text(encoding="utf-8"))
    assert not qs.skipped and len(qs.questions) >= 60
    assert len({q.id for q in qs.questions}) == len(qs.questions)
    assert len({q.question for q in qs.questions}) == len(qs.questions)
    unanswerable = len(qs.questions) - qs.answerable
    assert unanswerable >= len(qs.questions) // 4, "a quarter at least are near misses"
    articles = _articles()
    for q in qs.questions:
        if not q.answerable:
            assert not q.article_ids, q.id
            continue
        (article_id,) = q.article_ids
        text = articles[article_id].text
        # Other ways of writing it ("some 200" for "about 200") may follow.
        assert answer_in_text(text, [q.answers[0]]), (q.id, q.answers[0])


def test_the_sets_ask_of_different_reports() -> None:
    """The held-out set asks only of reports the first set never asks about."""
    first, held = (
        load_jsonl(p, p.read_text(encoding="utf-8"))
        for p in (REPO / "tests/eval/news-questions.jsonl", REPO / "tests/eval/news-held-out.jsonl")
    )
    asked = {a for q in first.questions for a in q.article_ids}
    assert not asked & {a for q in held.questions for a in q.article_ids}
