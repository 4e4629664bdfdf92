"""The rule answerer on small hand-made texts, then end to end on the shipped corpus."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from qa.answer.base import AnswerContext
from qa.answer.question import Kind, analyse
from qa.answer.rules import RuleAnswerer
from qa.pipeline import Pipeline, build_pipeline
from qa.settings import Settings
from qa.text import related, stem, tokenize
from qa.types import Article, Chunk, Draft, Hit, Span

SPY = (
    "The estimate comes after South Korean spy agency's previous estimation that North Korea "
    "had sent around 11,000 troops to support Russia, of which 300 are believed to have been "
    "killed and another 2,700 wounded."
)
ARTILLERY = (
    "The South Korean Defence Ministry estimated on Tuesday that North Korea has sent about "
    "200 long-range artillery pieces to Russia and is likely to send more troops."
)
ZELENSKYY = (
    "Volodymyr Zelenskyy says that hundreds of Russian and North Korean soldiers were killed."
)
PROJECTION = (
    "Analysts said that the new deployment of North Korea troops would sustain losses that "
    "could reach 30,000 to 45,000 killed and wounded per month."
)


def _entities(text: str, pairs: list[tuple[str, str]]) -> list[Span]:
    """Entity spans by surface string, as spaCy would have stored them at ingest."""
    out = []
    for surface, label in pairs:
        at = text.index(surface)
        out.append(Span(at, at + len(surface), label))
    return out


def _article(
    sentences: list[str], pairs: list[tuple[str, str]], title: str = "News", article_id: str = "a1"
) -> tuple[Hit, AnswerContext]:
    text = " ".join(sentences)
    spans = []
    pos = 0
    for s in sentences:
        at = text.index(s, pos)
        spans.append(Span(at, at + len(s)))
        pos = at + len(s)
    ents = _entities(text, pairs)
    article = Article(id=article_id, title=title, text=text)
    chunk = Chunk(
        id=f"{article_id}:0", article_id=article_id, index=0, start=0, end=len(text), text=text
    )
    hit = Hit(chunk=chunk, article=article, score=0.8, dense=0.6, lexical=1.0)
    return hit, AnswerContext(lambda _id: (spans, ents))


@pytest.fixture
def founding() -> tuple[Hit, AnswerContext]:
    return _article(
        [ARTILLERY, SPY, ZELENSKYY, PROJECTION],
        [
            ("around 11,000", "CARDINAL"),
            ("300", "CARDINAL"),
            ("another 2,700", "CARDINAL"),
            ("about 200", "CARDINAL"),
            ("hundreds", "CARDINAL"),
            ("Volodymyr Zelenskyy", "PERSON"),
            ("North Korea", "GPE"),
            ("Russia", "GPE"),
            ("Tuesday", "DATE"),
            ("30,000 to 45,000", "CARDINAL"),
        ],
    )


def _ask(question: str, hit: Hit, ctx: AnswerContext) -> Draft:
    return RuleAnswerer().answer(question, [hit], ctx)


# -- text helpers ---------------------------------------------------------------------------
def test_stem_meets_inflections() -> None:
    assert stem("killed") == stem("kill")
    assert stem("troops") == stem("troop") == stem("soldiers")
    assert stem("cities") == stem("city")
    assert stem("sent") == stem("send")
    assert stem("states") == stem("state")
    assert related("korea", "korean") and related("russia", "russian")
    assert not related("kill", "killer")


def test_tokens_keep_numbers_whole_and_offsets() -> None:
    toks = tokenize("about 11,000 troops, 3.5%", offset=10)
    assert [t.text for t in toks] == ["about", "11,000", "troops", ",", "3.5", "%"]
    assert toks[1].start == 16 and toks[1].end == 22


# -- question analysis ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("How many troops did North Korea send to Russia?", Kind.NUMBER),
        ("When did the war start?", Kind.DATE),
        ("What year was it founded?", Kind.DATE),
        ("Who reported the shipment?", Kind.PERSON),
        ("Where is the mosque?", Kind.PLACE),
        ("Which city does the Hollywood district belong to?", Kind.PLACE),
        ("Which company built it?", Kind.ENTITY),
        ("Why did they leave?", Kind.REASON),
        ("What did Baran develop?", Kind.OTHER),
    ],
)
def test_question_kind(question: str, kind: Kind) -> None:
    assert analyse(question).kind is kind


def test_question_focus_is_the_counted_noun() -> None:
    q = analyse("How many North Korean soldiers have been killed?")
    assert stem("soldiers") in q.focus
    assert stem("killed") in q.terms and stem("killed") not in q.focus


# -- numbers: the words next to the number decide ------------------------------------------
@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("How many troops did North Korea send to Russia?", "11,000"),
        ("How many North Korean soldiers have been killed?", "300"),
        ("How many North Korean soldiers were wounded?", "2,700"),
        ("How many artillery pieces has North Korea sent to Russia?", "200"),
    ],
)
def test_number_chosen_by_its_neighbours(
    founding: tuple[Hit, AnswerContext], question: str, expected: str
) -> None:
    draft = _ask(question, *founding)
    assert expected in draft.answer
    assert re.sub(r"^(about|around|some)\s+", "", draft.answer) == expected
    assert draft.confidence >= RuleAnswerer.threshold


def test_answer_offsets_point_into_the_article(founding: tuple[Hit, AnswerContext]) -> None:
    hit, ctx = founding
    draft = _ask("How many North Korean soldiers were wounded?", hit, ctx)
    assert draft.answer_start is not None and draft.answer_end is not None
    assert hit.article.text[draft.answer_start : draft.answer_end] == draft.answer
    assert draft.evidence == SPY


def test_vague_count_loses_to_a_number(founding: tuple[Hit, AnswerContext]) -> None:
    assert _ask("How many North Korean soldiers were killed?", *founding).answer != "hundreds"


# -- typed and phrase answers ------------------------------------------------------------------
def test_who_when_where() -> None:
    sentences = [
        "Later, US Ambassador to NATO Julianne Smith reported that North Korea had shipped "
        "more than 1,000 ammunition containers to Russia.",
        "On 7 February, Zelenskyy said that Russian troops had deployed North Korean troops "
        "to Kursk Oblast.",
    ]
    hit, ctx = _article(
        sentences,
        [
            ("US", "GPE"),
            ("NATO", "ORG"),
            ("Julianne Smith", "PERSON"),
            ("North Korea", "GPE"),
            ("more than 1,000", "CARDINAL"),
            ("Russia", "GPE"),
            ("7 February", "DATE"),
            ("Zelenskyy", "PERSON"),
            ("Russian", "NORP"),
            ("North Korean", "NORP"),
            ("Kursk Oblast", "GPE"),
        ],
    )
    assert (
        _ask("Who reported that North Korea shipped ammunition containers?", hit, ctx).answer
        == "Julianne Smith"
    )
    assert (
        _ask("When did Zelenskyy say North Korean troops were deployed?", hit, ctx).answer
        == "7 February"
    )
    assert _ask("Where were North Korean troops deployed?", hit, ctx).answer == "Kursk Oblast"
    assert (
        _ask("How many ammunition containers did North Korea ship?", hit, ctx).answer
        == "more than 1,000"
    )


def test_what_question_takes_the_words_between_the_question_words() -> None:
    sentences = [
        "Baran developed the concept of distributed adaptive message block switching during "
        "his research at the RAND Corporation.",
        "The network was later extended to other universities.",
    ]
    hit, ctx = _article(sentences, [("Baran", "PERSON"), ("the RAND Corporation", "ORG")])
    draft = _ask("What did Baran develop during research at RAND?", hit, ctx)
    assert "distributed adaptive message block switching" in draft.answer
    assert "RAND" not in draft.answer


def test_kind_of_question_takes_the_modifier() -> None:
    hit, ctx = _article(["Cicadas make a high-pitched buzz that can be heard from far away."], [])
    q = analyse("What kind of buzz do cicadas make?")
    assert q.kind is Kind.OTHER and q.kind_of == stem("buzz")
    assert _ask("What kind of buzz do cicadas make?", hit, ctx).answer == "high-pitched"


def test_hedged_number_loses_to_a_count(founding: tuple[Hit, AnswerContext]) -> None:
    # "could reach 30,000 to 45,000 killed" is a projection; "300 ... killed" is the count.
    assert _ask("How many North Korean soldiers have been killed?", *founding).answer == "300"


def test_unrelated_question_is_abstained(founding: tuple[Hit, AnswerContext]) -> None:
    draft = _ask("What is the capital of Australia?", *founding)
    assert draft.confidence < RuleAnswerer.threshold


def test_no_hits_no_answer() -> None:
    draft = RuleAnswerer().answer("How many troops?", [], AnswerContext(lambda _id: ([], [])))
    assert draft.answer == "" and draft.confidence == 0.0


# -- end to end on the shipped corpus --------------------------------------------------------
@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("How many troops did North Korea send to Russia?", "11,000"),
        ("How many North Korean soldiers have been killed?", "300"),
        ("How many North Korean soldiers were wounded?", "2,700"),
    ],
)
@pytest.mark.parametrize("answerer", ["auto", "none"])
def test_founding_questions(
    corpus_index_dir: Path, question: str, expected: str, answerer: str
) -> None:
    """The founding answers, from the trained reader (the default) and from the rules."""
    pipeline = build_pipeline(
        Settings(data_dir=corpus_index_dir, auto_ingest=False, reader=answerer)
    )
    try:
        answer = pipeline.ask(question)
    finally:
        pipeline.close()
    assert answer.answerer == ("rules" if answerer == "none" else "reader")
    assert not answer.abstained
    assert expected in answer.answer
    assert re.sub(r"^(about|around|some)\s+", "", answer.answer) == expected
    assert answer.citations[0].article_id == "north-korea-troops-to-russia-2025-02-11"


def test_bare_follow_up_is_answered_from_one_article(corpus_pipeline: Pipeline) -> None:
    """ "How many were wounded?" on its own names no event: the founding article (2,700) and
    the 2015 Mecca crane collapse (238 wounded) both answer it. Either will do, quoted from
    its own article; in a chat it follows the troops question and is rewritten first."""
    answer = corpus_pipeline.ask("How many were wounded?")
    assert not answer.abstained and answer.answer in ("2,700", "238", "another 2,700")
    first = answer.citations[0]
    assert first.answer_start is not None and first.answer_end is not None
    assert first.text[first.answer_start : first.answer_end] == answer.answer


def test_founding_unanswerable_is_abstained(corpus_pipeline: Pipeline) -> None:
    answer = corpus_pipeline.ask("What is the capital of Australia?")
    assert answer.abstained
    assert answer.answer == ""


@pytest.mark.parametrize(
    ("text", "span", "expected"),
    [
        ("sent around 11,000 troops", "11,000", "around 11,000"),
        ("and another 2,700 wounded", "2,700", "2,700"),
        ("rescued over 700 people", "700", "over 700"),
        ("of which 300 died", "300", "300"),
        ("about the 300 soldiers", "soldiers", "soldiers"),  # not a figure: left alone
        ("costing about $26 million", "$26 million", "about $26 million"),
    ],
)
def test_hedged_figures_keep_their_hedge(text: str, span: str, expected: str) -> None:
    from qa.answer.extractive import hedged

    start = text.index(span)
    assert text[hedged(text, start) : start + len(span)] == expected
