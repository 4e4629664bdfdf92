"""Retrieval fusion and the SQuAD answer metrics."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.pipeline import Pipeline
from qa.squad import answer_in_text, exact_match, f1_score, normalize_answer
from qa.storage.sqlite import Store


# -- metrics ---------------------------------------------------------------------------------
def test_normalize_answer_follows_squad() -> None:
    assert normalize_answer("The  Eiffel Tower!") == "eiffel tower"
    assert normalize_answer("an apple, a pear") == "apple pear"
    assert normalize_answer("Theatre") == "theatre"  # articles only as whole words


def test_normalize_answer_folds_unicode_dashes_and_spaces() -> None:
    assert normalize_answer("1990\u20131995") == normalize_answer("1990-1995")
    assert normalize_answer("10\u00a0km") == "10 km"
    assert normalize_answer("a\u2009b") == "b"  # thin space splits "a" off as an article


def test_exact_match_best_over_golds() -> None:
    assert exact_match("Denver Broncos", ["the Denver Broncos", "Broncos"]) == 1.0
    assert exact_match("Broncos.", ["Denver"]) == 0.0


def test_f1_best_over_golds() -> None:
    assert f1_score("the big cat", ["a big dog"]) == pytest.approx(0.5)
    assert f1_score("big cat", ["dog", "big cat"]) == 1.0
    assert f1_score("", ["x"]) == 0.0


def test_unanswerable_golds() -> None:
    assert exact_match("", []) == 1.0
    assert f1_score("", []) == 1.0
    assert exact_match("something", []) == 0.0
    assert f1_score("something", []) == 0.0


def test_answer_in_text_respects_token_boundaries() -> None:
    assert answer_in_text("It cost $3 per barrel.", ["$3"])
    assert not answer_in_text("It cost $30 per barrel.", ["3"])


# -- sentence coverage -------------------------------------------------------------------------
def test_sentence_coverage_prefers_one_sentence_holding_the_words() -> None:
    from qa.retrieval import sentence_coverage

    weights = {"genghi": 2.0, "tangut": 3.0, "attack": 1.0}
    together = "Filler text here. Genghis Khan attacked the Tanguts in 1226. More filler."
    apart = "Genghis Khan rode west. The Tanguts waited. Someone attacked someone."
    assert sentence_coverage(together, weights) == pytest.approx(1.0)
    assert sentence_coverage(apart, weights) == pytest.approx(0.5)
    assert sentence_coverage("nothing relevant", weights) == 0.0
    assert sentence_coverage("anything", {}) == 0.0


def test_term_weights_rarer_terms_weigh_more() -> None:
    from qa.retrieval import term_weights

    w = term_weights(["tangut", "army"], {"tangut": 2, "army": 200}, 1000)
    assert w["tangut"] > w["army"] > 0


def test_store_document_frequencies(corpus_index_dir: Path) -> None:
    store = Store(corpus_index_dir / "store.sqlite", readonly=True)
    try:
        df = store.document_frequencies(["korea", "zzzunknownzzz"])
        assert 0 < df["korea"] <= store.counts()[1]
        assert df["zzzunknownzzz"] == 0
    finally:
        store.close()


# -- the retriever -------------------------------------------------------------------------------
def test_retrieve_is_ranked_and_bounded(corpus_pipeline: Pipeline) -> None:
    hits = corpus_pipeline.search("How many troops did North Korea send to Russia?", k=4)
    assert 0 < len(hits) <= 4
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert len({h.chunk.id for h in hits}) == len(hits)
    assert hits[0].article.id == "north-korea-troops-to-russia-2025-02-11"


def test_sentence_weight_zero_is_plain_fusion(corpus_pipeline: Pipeline) -> None:
    from qa.retrieval import HybridRetriever

    r = corpus_pipeline.retriever
    plain = HybridRetriever(
        r.index,
        r.encoder,
        candidates=r.candidates,
        dense_weight=r.dense_weight,
        sentence_weight=0.0,
    )
    hits = plain.retrieve("North Korean troops Kursk", 5)
    assert hits
    for h in hits:
        expected = plain.dense_weight * h.dense + (1 - plain.dense_weight) * h.lexical
        assert h.score == pytest.approx(expected)


def test_stopword_only_query_still_uses_dense(corpus_pipeline: Pipeline) -> None:
    hits = corpus_pipeline.search("what is it that they did", k=3)
    assert len(hits) == 3
    assert all(h.lexical == 0.0 for h in hits)


@pytest.mark.slow
def test_squad_bench_small(tmp_path: Path) -> None:
    """The bench end to end on two SQuAD articles and their public questions."""
    import json
    import subprocess
    import sys

    repo = Path(__file__).resolve().parent.parent
    squad = repo.parent / "shared" / "eval" / "squad-v1.1-dev"
    if not squad.is_dir():
        pytest.skip("no shared SQuAD data")
    questions = [json.loads(line) for line in (squad / "questions.public.jsonl").open()]
    keep = sorted({q["article_id"] for q in questions})[:2]
    articles = tmp_path / "articles.jsonl"
    articles.write_text(
        "".join(
            line for line in (squad / "articles.jsonl").open() if json.loads(line)["id"] in keep
        )
    )
    subset = tmp_path / "questions.jsonl"
    subset.write_text("".join(json.dumps(q) + "\n" for q in questions if q["article_id"] in keep))
    out = tmp_path / "bench.json"
    subprocess.run(
        [
            sys.executable,
            str(repo / "bench" / "squad_bench.py"),
            "--articles",
            str(articles),
            "--questions",
            str(subset),
            "--limit",
            "40",
            "--no-floor",
            "--json",
            str(out),
        ],
        check=True,
    )
    res = json.loads(out.read_text())
    assert res["quality_pct"]["retrieved_answer_top5"] >= 80


def test_bench_helpers() -> None:
    import importlib.util
    import sys

    path = Path(__file__).resolve().parent.parent / "bench" / "squad_bench.py"
    spec = importlib.util.spec_from_file_location("squad_bench", path)
    assert spec and spec.loader
    bench = importlib.util.module_from_spec(spec)
    sys.modules["squad_bench"] = bench  # dataclasses look their module up there
    try:
        spec.loader.exec_module(bench)
    finally:
        sys.modules.pop("squad_bench", None)
    text = "First para.\n\nSecond one.  \n\nThird."
    spans = bench.paragraph_spans({"text": text, "paragraph_offsets": [0, 13, 28]})
    assert [text[s:e] for s, e in spans] == ["First para.", "Second one.", "Third."]
    assert bench.percentile([1.0, 2.0, 3.0, 4.0], 50) == pytest.approx(2.5)
    assert bench.overlaps(5, 20, (13, 24)) and not bench.overlaps(0, 11, (13, 24))
