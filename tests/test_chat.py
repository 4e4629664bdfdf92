"""Multi-turn chat: follow-up resolution, the conversation store, and whole conversations.

The rewrite tests need no index. The end-to-end tests use the shared read-only
``corpus_pipeline``; ``test_turn_accuracy`` scores ``tests/conversations.jsonl``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from qa.chat.chat import Chat
from qa.chat.dangling import dangling_pronoun
from qa.chat.followup import Turn, resolve_followup
from qa.chat.sessions import ConversationStore
from qa.errors import BadInputError, NotFoundError, TooLargeError
from qa.pipeline import Pipeline
from qa.settings import Settings
from qa.squad import f1_score, normalize_answer
from qa.types import Answer, Filters, Hit
from tests.conftest import FOUNDING_Q

CONVERSATIONS = Path(__file__).with_name("conversations.jsonl")
FOUNDING_ARTICLE = "north-korea-troops-to-russia-2025-02-11"
NK_KILLED = "How many of the troops North Korea sent to Russia were killed?"
NK_WOUNDED = "How many of the troops North Korea sent to Russia were wounded?"
TURN_ACCURACY_FLOOR = 0.45
"""Measured 23/45 = 0.51 with the rule answerer as of this commit (27/45 with an earlier
revision of it; most misses are its abstentions on where/who questions whose passage was
found). The answers are the answerer's to get right, so the floor leaves it room to move;
the retrieval floor below holds the resolver itself to account."""
TOP_ARTICLE_FLOOR = 0.95
"""Measured 45/45: the searched query ranks the turn's article first."""


def chain(*turns: tuple[str, str]) -> list[Turn]:
    """History as the chat stores it: each question resolved against the turns before it."""
    history: list[Turn] = []
    for question, answer in turns:
        history.append(Turn(question, resolve_followup(question, history), answer))
    return history


# -- the rewrite -----------------------------------------------------------------------------
NK = (FOUNDING_Q, "around 11,000")
NK_THEM = ("How many of them were killed?", "300")
DISCOVERY = ("Where will Discovery be displayed?", "the Udvar-Hazy Center")
CRANE = ("How many people were killed in the Mecca crane collapse?", "107")


@pytest.mark.parametrize(
    ("history", "message", "expected"),
    [
        # the three conversations of the issue
        ([NK], "How many of them were killed?", NK_KILLED),
        ([NK, NK_THEM], "And wounded?", NK_WOUNDED),
        ([DISCOVERY], "What about Endeavour?", "Where will Endeavour be displayed?"),
        # other ways of saying the same follow-up
        ([NK, NK_THEM], "and wounded", NK_WOUNDED),
        ([NK, NK_THEM], "What about the wounded?", NK_WOUNDED),
        ([NK, NK_THEM], "And how many were wounded?", NK_WOUNDED),
        ([NK], "How many were wounded?", NK_WOUNDED),
        ([NK], "And wounded?", NK_WOUNDED),
        ([NK], "How many of those were killed?", NK_KILLED),
        (
            [NK],
            "How many of these troops were killed?",
            "How many of these troops were killed (the troops North Korea sent to Russia)?",
        ),
        (
            [NK, ("How many of them are believed to have been killed?", "300")],
            "And how many wounded?",
            "How many of the troops North Korea sent to Russia are believed to have been wounded?",
        ),
        ([DISCOVERY], "How about Endeavour?", "Where will Endeavour be displayed?"),
        ([DISCOVERY], "And Endeavour?", "Where will Endeavour be displayed?"),
        ([DISCOVERY], "Ok, and what about Endeavour?", "Where will Endeavour be displayed?"),
        (
            [DISCOVERY],
            "what of endeavour's sister, Atlantis?",
            "Where will endeavour's sister Atlantis be displayed?",
        ),
        ([DISCOVERY], "Endeavour?", "Where will Endeavour be displayed?"),
        ([DISCOVERY], "And the Enterprise?", "Where will the Enterprise be displayed?"),
        ([DISCOVERY], "And when?", "When will Discovery be displayed?"),
        ([DISCOVERY], "When was it retired?", "When was Discovery retired?"),
        (
            [DISCOVERY, ("What about Endeavour?", "California Science Center")],
            "And Atlantis?",
            "Where will Atlantis be displayed?",
        ),
        (
            [("Where will the retired shuttles be displayed?", "")],
            "What about the trainer?",
            "Where will the trainer be displayed?",
        ),
        # a common noun takes the place of the counted head
        ([NK], "What about missiles?", "How many missiles did North Korea send to Russia?"),
        ([NK], "And when?", "When did North Korea send troops to Russia?"),
        ([NK], "And the artillery?", "How many artillery did North Korea send to Russia?"),
        (
            [("How many people did the crane kill?", "107")],
            "What about the stampede?",
            "How many people did the stampede kill?",
        ),
        # an uncapitalised subject still finds its verb
        (
            [("how many troops did north korea send to russia?", "11,000")],
            "how many of them were killed?",
            "How many of the troops north korea sent to russia were killed?",
        ),
        (
            [
                ("How many asylum seekers did fishermen rescue off Indonesia?", "over 700"),
                ("And the Indonesian Navy?", "200"),
            ],
            "When?",
            "When did the Indonesian Navy rescue asylum seekers off Indonesia?",
        ),
        # a name takes the place of the subject, not of a name in a phrase
        (
            [("How many asylum seekers did fishermen rescue off Indonesia?", "over 700")],
            "What about the Indonesian Navy?",
            "How many asylum seekers did the Indonesian Navy rescue off Indonesia?",
        ),
        # predicates, phrases and years
        ([CRANE], "And injured?", "How many people were injured in the Mecca crane collapse?"),
        (
            [CRANE],
            "And how many were wounded?",
            "How many people were wounded in the Mecca crane collapse?",
        ),
        (
            [("How many asylum seekers were rescued by fishermen?", "700")],
            "And by the navy?",
            "How many asylum seekers were rescued by the navy?",
        ),
        (
            [("How many people visited the Fan Expo in 2015?", "")],
            "And 2016?",
            "How many people visited the Fan Expo in 2016?",
        ),
        (
            [("What is the population of Taipei?", "")],
            "What about in 2015?",
            "What is the population of Taipei in 2015?",
        ),
        # pronouns
        ([CRANE], "What caused it?", "What caused the Mecca crane collapse?"),
        (
            [("How many ammunition containers did North Korea ship to Russia?", "1,000")],
            "Who reported it?",
            "Who reported the ammunition containers North Korea shipped to Russia?",
        ),
        (
            [("How many ammunition containers did North Korea ship to Russia?", "1,000")],
            "What is its capital?",
            "What is North Korea's capital?",
        ),
        (
            [("Where did the stampede happen?", "Jamarat Bridge")],
            "How many pilgrims died there?",
            "How many pilgrims died in Jamarat Bridge?",
        ),
        (
            [("Who was arrested after bringing a clock to school?", "Ahmed Mohamed")],
            "How old is he?",
            "How old is Ahmed Mohamed?",
        ),
        (
            [("Who was arrested after bringing a clock to school?", "Ahmed Mohamed")],
            "Which company invited him to its science fair?",
            "Which company invited Ahmed Mohamed to its science fair?",
        ),
        (
            [("Which shuttle was lost in 2003?", "Columbia")],
            "When did it disintegrate?",
            "When did Columbia disintegrate?",
        ),
        (
            [("What did Senator John Cornyn say?", "")],
            "Which state is he from?",
            "Which state is Senator John Cornyn from?",
        ),
        (
            [("What medal did the Afghan robotics team win?", "silver")],
            "Who is their coach?",
            "Who is the Afghan robotics team's coach?",
        ),
        # a referent two turns back, when the last turn has none that agrees
        (
            [
                ("Who announced the new homes for the retired shuttles?", "Charles Bolden"),
                ("What did he say about the decision?", ""),
            ],
            "Where will they be displayed?",
            "Where will the retired shuttles be displayed?",
        ),
        # a question that leans on the topic without naming it gets the topic appended
        (
            [CRANE],
            "And what was the death toll?",
            "What was the death toll (the people killed in the Mecca crane collapse)?",
        ),
        (
            [
                ("What caused the Mecca crane collapse?", "a storm"),
                ("And what was the death toll?", "107"),
            ],
            "What about the Hajj stampede?",
            "What was the death toll (the Hajj stampede)?",
        ),
        (
            [
                ("Which space shuttle was lost in 2003?", "Columbia"),
                ("How many astronauts were killed?", "seven"),
            ],
            "What about Challenger?",
            "How many astronauts were killed (Challenger)?",
        ),
        ([NK], "Why?", "Why did North Korea send troops to Russia?"),
        ([NK], "And?", FOUNDING_Q),
        (
            [NK],
            "According to whom?",
            "How many troops did North Korea send to Russia, according to whom?",
        ),
        ([NK], "What about them?", "What about the troops North Korea sent to Russia?"),
        (
            [NK],
            "Tell me more about them.",
            "Tell me more about the troops North Korea sent to Russia?",
        ),
        (
            [("What did NASA announce?", "new homes for the retired shuttles")],
            "And who announced it?",
            "Who announced new homes for the retired shuttles?",
        ),
        (
            [("What share of the market did Internet Explorer have in 2009?", "70 percent")],
            "And today?",
            "What share of the market did Internet Explorer have today?",
        ),
        (
            [("What share of the market did Internet Explorer have in 2009?", "70 percent")],
            "Which browser is its main rival?",
            "Which browser is Internet Explorer's main rival?",
        ),
        (
            [("Who attacked the Church of Scientology website?", "hackers")],
            "When was the attack launched?",
            "When was the attack launched (the Church of Scientology website)?",
        ),
        (
            [CRANE],
            "Were there any injuries?",
            "Were there any injuries (the people killed in the Mecca crane collapse)?",
        ),
    ],
)
def test_resolve_followup(history: list[tuple[str, str]], message: str, expected: str) -> None:
    assert resolve_followup(message, chain(*history)) == expected


@pytest.mark.parametrize(
    ("history", "message"),
    [
        ([], "How many of them were killed?"),  # nothing to resolve against
        ([NK], "Where will Atlantis be displayed?"),  # a new topic
        ([NK], "Who is the US Ambassador to NATO?"),
        ([DISCOVERY], "Did Discovery complete its 39th mission?"),  # its = Discovery
        ([DISCOVERY], "How many astronauts did Columbia carry when it was lost?"),
        ([NK], "Where will the Intrepid Sea-Air-Space Museum display the Enterprise?"),
    ],
)
def test_self_contained_questions_are_unchanged(
    history: list[tuple[str, str]], message: str
) -> None:
    assert resolve_followup(message, chain(*history)) == message


def test_compact_form_is_what_the_answerer_gets() -> None:
    """The answerer sees the short referent: "sent ... Russia" would anchor 11,000 again."""
    history = chain(NK)
    assert resolve_followup("How many of them were killed?", history, compact=True) == (
        "How many of the troops were killed?"
    )
    history = chain(NK, NK_THEM)
    assert resolve_followup("And wounded?", history, compact=True) == (
        "How many of the troops were wounded?"
    )
    assert resolve_followup("And how many were wounded?", chain(CRANE), compact=True) == (
        "How many people were wounded?"
    )
    # names and predicates are the frame, not context: they stay
    assert resolve_followup("What about Endeavour?", chain(DISCOVERY), compact=True) == (
        "Where will Endeavour be displayed?"
    )
    assert resolve_followup("Where will Atlantis be displayed?", history, compact=True) == (
        "Where will Atlantis be displayed?"
    )


def test_an_abstention_or_a_bare_number_is_no_referent() -> None:
    abstained = chain(
        ("Who is the NASA administrator?", "The articles do not answer this question.")
    )
    assert resolve_followup("What did he announce?", abstained) == (
        "What did the NASA administrator announce?"
    )
    numeric = chain(("Which shuttle was lost in 2003?", "1"))
    assert resolve_followup("When did it disintegrate?", numeric) == (
        "When did the shuttle disintegrate?"
    )


def test_an_unanswered_who_question_describes_its_person() -> None:
    history = chain(("Who was arrested after bringing a clock to school?", ""))
    assert resolve_followup("How old is he?", history) == (
        "How old is the person who was arrested after bringing a clock to school?"
    )


def test_the_existential_there_is_not_a_place() -> None:
    history = chain(("Where did the stampede happen?", "Jamarat Bridge"))
    assert "Jamarat" not in resolve_followup("Were there any survivors?", history)
    assert "Jamarat" not in resolve_followup("There were how many victims?", history)
    assert resolve_followup("Who was there?", history) == "Who was in Jamarat Bridge?"


def test_resolution_is_fast() -> None:
    """No model on this path: a long history resolves in well under a millisecond a turn."""
    history = chain(NK, NK_THEM, ("And wounded?", "2,700"), DISCOVERY) * 25
    start = time.process_time()  # CPU time: other processes on the machine do not count
    for _ in range(200):
        resolve_followup("What about Endeavour?", history)
        resolve_followup("How many of them were killed?", history, compact=True)
    assert time.process_time() - start < 1.0  # about 0.15 s measured


# -- the store and the Chat wiring, without an index ------------------------------------------
@dataclass
class FakePipeline:
    """Records what Chat asks; answers with the question it was given."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    settings: Settings = field(default_factory=lambda: Settings(max_question_chars=300))

    def validate_question(self, question: str) -> str:
        q = " ".join(question.split())
        if not q:
            raise BadInputError("the question is empty")
        if len(q) > self.settings.max_question_chars:
            raise TooLargeError("the question is too long")
        return q

    def search(self, query: str, k: int | None = None, filters: Filters | None = None) -> list[Hit]:
        return []

    def ask(
        self,
        question: str,
        top_k: int | None = None,
        filters: Filters | None = None,
        searched_query: str | None = None,
    ) -> Answer:
        self.validate_question(question)
        self.calls.append(
            {
                "question": question,
                "searched_query": searched_query,
                "top_k": top_k,
                "filters": filters,
            }
        )
        return Answer(
            question=question,
            answer=f"answer {len(self.calls)}",
            abstained=False,
            confidence=1.0,
            evidence="",
            citations=(),
            searched_query=searched_query,
        )


def fake_chat(tmp_path: Path) -> tuple[Chat, FakePipeline]:
    fake = FakePipeline()
    return Chat(fake, ConversationStore(tmp_path / "chat.sqlite")), fake  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("question", "word"),
    [
        ("How many of them were killed?", "them"),
        ("When did he die?", "he"),
        ("What is its capital?", "its"),
        ("And how many of those were wounded?", "those"),
        ("Where was it built?", "it"),
        ("What did they say?", "they"),
        ("How many soldiers did Russia say they lost?", None),
        ("How long does it take to fly to Seoul?", None),
        ("Is it true that Sweden won?", None),
        ("How many of those troops died?", None),
        ("How many troops did North Korea send to Russia?", None),
    ],
)
def test_dangling_pronouns(question: str, word: str | None) -> None:
    assert dangling_pronoun(question) == word


def test_a_first_message_pronoun_asks_instead_of_guessing(tmp_path: Path) -> None:
    chat, fake = fake_chat(tmp_path)
    reply = chat.reply("How many of them were killed?")
    assert fake.calls == []  # nothing retrieved, no figure guessed
    a = reply.answer
    assert a.abstained and a.answer == "" and a.confidence == 0.0 and a.unclear == "them"
    assert a.note and "them" in a.note and "mean" in a.note
    assert chat.store.turns(reply.session_id)  # the turn is kept, so the next one can refer
    history = chat.answer_history([("user", "When did he resign?")])
    assert history.unclear == "he" and fake.calls == []
    # With something to refer to, the pronoun is resolved and the question asked.
    chat.answer_history(
        [
            ("user", FOUNDING_Q),
            ("assistant", "around 11,000 [1]"),
            ("user", "How many of them were killed?"),
        ]
    )
    assert fake.calls and "them" not in fake.calls[-1]["searched_query"].split()


def test_a_new_session_is_created_and_turns_are_kept(tmp_path: Path) -> None:
    chat, fake = fake_chat(tmp_path)
    first = chat.reply(FOUNDING_Q)
    assert first.session_id and chat.store.exists(first.session_id)
    assert first.answer.searched_query == FOUNDING_Q
    second = chat.reply("  How many of them   were killed? ", first.session_id)
    assert second.session_id == first.session_id
    # the user's words stay the question; what was searched and answered is resolved
    assert second.answer.question == "How many of them were killed?"
    assert second.answer.searched_query == NK_KILLED
    assert fake.calls[-1] == {
        "question": "How many of the troops were killed?",
        "searched_query": NK_KILLED,
        "top_k": None,
        "filters": None,
    }
    assert chat.store.turns(first.session_id) == [
        Turn(FOUNDING_Q, FOUNDING_Q, "answer 1"),
        Turn("How many of them were killed?", NK_KILLED, "answer 2"),
    ]
    # another session does not see this one's history
    other = chat.reply("How many of them were killed?")
    assert other.session_id != first.session_id
    assert other.answer.unclear == "them"  # nothing in this session for "them" to refer to


def test_unknown_session_is_not_found_and_nothing_is_stored(tmp_path: Path) -> None:
    chat, fake = fake_chat(tmp_path)
    with pytest.raises(NotFoundError):
        chat.reply("And wounded?", "no-such-session")
    assert fake.calls == []
    assert not chat.store.exists("no-such-session")


def test_empty_message_is_bad_input_and_not_stored(tmp_path: Path) -> None:
    chat, _ = fake_chat(tmp_path)
    sid = chat.store.create()
    with pytest.raises(BadInputError):
        chat.reply("   ", sid)
    assert chat.store.turns(sid) == []
    # nor does a failed first message leave an empty session behind
    with pytest.raises(BadInputError):
        chat.reply("   ")
    assert chat.store.conn.execute("SELECT count(*) FROM sessions").fetchone()[0] == 1


def test_turns_survive_a_new_store_on_the_same_file(tmp_path: Path) -> None:
    chat, _ = fake_chat(tmp_path)
    sid = chat.reply(FOUNDING_Q).session_id
    chat.reply("How many of them were killed?", sid)
    chat.store.close()
    chat2, _ = fake_chat(tmp_path)
    assert chat2.store.exists(sid)
    assert [t.question for t in chat2.store.turns(sid)] == [
        FOUNDING_Q,
        "How many of them were killed?",
    ]
    # and the conversation goes on from where it was
    assert chat2.reply("And wounded?", sid).answer.searched_query == NK_WOUNDED
    assert len(chat2.store.turns(sid)) == 3
    chat2.store.close()


def test_a_rewrite_never_makes_a_message_too_long(tmp_path: Path) -> None:
    chat, fake = fake_chat(tmp_path)
    long_q = "How many troops did North Korea send to Russia " + "and Ukraine " * 20 + "?"
    sid = chat.reply(long_q).session_id
    reply = chat.reply("How many of them were killed?", sid)  # within the limit, as typed
    # the full rewrite would be over the limit: the compact one is searched instead
    assert len(resolve_followup("How many of them were killed?", chat.store.turns(sid)[:1])) > 300
    assert reply.answer.searched_query == "How many of the troops were killed?"
    assert fake.calls[-1]["question"] == "How many of the troops were killed?"


def test_answer_history_resolves_like_a_session(tmp_path: Path) -> None:
    chat, fake = fake_chat(tmp_path)
    answer = chat.answer_history(
        [
            ("system", "You answer from news articles."),
            ("user", FOUNDING_Q),
            ("assistant", "around 11,000 [1]"),
            ("user", "How many of them were killed?"),
            ("assistant", "300 [1]"),
            ("user", "And wounded?"),
        ]
    )
    assert answer.question == "And wounded?"
    assert answer.searched_query == NK_WOUNDED
    assert fake.calls[-1]["question"] == "How many of the troops were wounded?"
    # a repeated message is still a turn of its own
    again = chat.answer_history(
        [("user", "And wounded?"), ("assistant", "?"), ("user", "And wounded?")]
    )
    assert again.searched_query == "And wounded?"
    with pytest.raises(BadInputError):
        chat.answer_history([("system", "hello"), ("assistant", "hi")])


def test_answer_history_reads_the_answer_out_of_a_rendered_reply(tmp_path: Path) -> None:
    """Chat clients send back the reply text with its markers, quote and Sources list."""
    chat, _ = fake_chat(tmp_path)
    rendered = (
        "Ahmed Mohamed [1]\n\n> Ahmed Mohamed, a 14-year-old boy from Irving, Texas, "
        "was arrested at his school [1]\n\nSources:\n[1] Texas student Ahmed Mohamed "
        "inspires social movement (2015-09-22)"
    )
    answer = chat.answer_history(
        [
            ("user", "Who was arrested after bringing a clock to school?"),
            ("assistant", rendered),
            ("user", "How old is he?"),
        ]
    )
    assert answer.searched_query == "How old is Ahmed Mohamed?"


# -- whole conversations over the shipped corpus --------------------------------------------
def correct(answer: str, golds: Sequence[str]) -> bool:
    """A gold answer contained in the bot's (normalised), or token F1 >= 0.5."""
    got = normalize_answer(answer)
    if not got:
        return False
    return (
        any(normalize_answer(g) and normalize_answer(g) in got for g in golds)
        or f1_score(answer, list(golds)) >= 0.5
    )


def ask_conversation(chat: Chat, questions: Sequence[str]) -> list[Answer]:
    sid: str | None = None
    answers = []
    for q in questions:
        reply = chat.reply(q, sid)
        sid = reply.session_id
        answers.append(reply.answer)
    return answers


@pytest.fixture
def corpus_chat(corpus_pipeline: Pipeline, tmp_path: Path) -> Chat:
    return Chat(corpus_pipeline, ConversationStore(tmp_path / "chat.sqlite"))


def first_retrieved(pipeline: Pipeline, answer: Answer) -> str | None:
    """The article the searched query ranks first (citation [1] is the answerer's pick)."""
    hits = pipeline.search(answer.searched_query or answer.question, 1)
    return hits[0].article.id if hits else None


def test_founding_follow_ups(corpus_chat: Chat) -> None:
    first, killed, wounded = ask_conversation(
        corpus_chat, [FOUNDING_Q, "How many of them were killed?", "And wounded?"]
    )
    assert killed.searched_query == NK_KILLED
    assert wounded.searched_query == NK_WOUNDED
    for answer in (first, killed, wounded):
        assert first_retrieved(corpus_chat.pipeline, answer) == FOUNDING_ARTICLE
        assert answer.citations[0].article_id == FOUNDING_ARTICLE
    assert correct(killed.answer, ["300"]), killed.answer
    assert correct(wounded.answer, ["2,700"]), wounded.answer


def test_what_about_endeavour_carries_displayed(corpus_chat: Chat) -> None:
    _, endeavour = ask_conversation(
        corpus_chat, ["Where will Discovery be displayed?", "What about Endeavour?"]
    )
    assert endeavour.question == "What about Endeavour?"
    assert endeavour.searched_query == "Where will Endeavour be displayed?"
    assert first_retrieved(corpus_chat.pipeline, endeavour) == "GUM_news_nasa"
    assert any("California Science Center" in c.text for c in endeavour.citations)


def test_a_short_new_topic_is_not_dragged_back(corpus_chat: Chat) -> None:
    """A short question gets the previous topic appended only if it finds that topic's
    article on its own too."""
    _, election, _ = ask_conversation(
        corpus_chat, [FOUNDING_Q, "Who won the election?", "How many people were killed?"]
    )
    assert election.searched_query == "Who won the election?"
    assert first_retrieved(corpus_chat.pipeline, election) == "GUM_news_election"
    _, toll = ask_conversation(
        corpus_chat, ["What caused the Mecca crane collapse?", "What was the death toll?"]
    )
    assert toll.searched_query == "What was the death toll (the Mecca crane collapse)?"
    assert first_retrieved(corpus_chat.pipeline, toll) == "GUM_news_crane"


def load_conversations() -> list[dict[str, Any]]:
    return [json.loads(line) for line in CONVERSATIONS.read_text().splitlines() if line.strip()]


def test_conversation_set_is_well_formed() -> None:
    conversations = load_conversations()
    assert len(conversations) >= 10
    assert sum(len(c["turns"]) for c in conversations) >= 25
    assert len({c["id"] for c in conversations}) == len(conversations)
    for conv in conversations:
        for turn in conv["turns"]:
            assert turn["question"].strip() and turn["answers"]


def test_turn_accuracy(corpus_pipeline: Pipeline, tmp_path: Path) -> None:
    """Every turn of tests/conversations.jsonl, asked in its conversation through Chat."""
    chat = Chat(corpus_pipeline, ConversationStore(tmp_path / "chat.sqlite"))
    right = found = total = follow_ups = follow_ups_right = 0
    misses = []
    for conv in load_conversations():
        turns = conv["turns"]
        answers = ask_conversation(chat, [t["question"] for t in turns])
        for i, (turn, answer) in enumerate(zip(turns, answers, strict=True)):
            total += 1
            ok = not answer.abstained and correct(answer.answer, turn["answers"])
            right += ok
            follow_ups += i > 0
            follow_ups_right += ok and i > 0
            top = first_retrieved(corpus_pipeline, answer)
            hit = top == turn.get("article_id", top)
            found += hit
            if not ok or not hit:
                misses.append(
                    f"{conv['id']}: {turn['question']!r} -> searched "
                    f"{answer.searched_query!r}, answered {answer.answer!r}"
                    + ("" if hit else f", retrieved first {top}")
                )
    accuracy, retrieval = right / total, found / total
    print(
        f"\nturn accuracy {right}/{total} = {accuracy:.1%} (follow-up turns "
        f"{follow_ups_right}/{follow_ups}); turn's article retrieved first {found}/{total} = "
        f"{retrieval:.1%}"
    )
    print("\n".join(misses))
    assert retrieval >= TOP_ARTICLE_FLOOR, misses
    assert accuracy >= TURN_ACCURACY_FLOOR, misses
