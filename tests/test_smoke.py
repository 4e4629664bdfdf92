from qa.pipeline import Pipeline
from tests.conftest import FOUNDING_Q


def test_founding_question_cites_founding_article(corpus_pipeline: Pipeline) -> None:
    answer = corpus_pipeline.ask(FOUNDING_Q)
    assert answer.citations
    assert answer.citations[0].article_id == "north-korea-troops-to-russia-2025-02-11"
    assert answer.citations[0].author == "Stanislav Pohorilov"
    assert answer.citations[0].date == "2025-02-11"
