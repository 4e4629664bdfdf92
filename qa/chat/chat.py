"""Multi-turn chat: conversations kept in SQLite, follow-ups resolved before retrieval.

``Chat.reply`` resolves a follow-up into a self-contained question (``qa.chat.followup``), then
retrieves *and* answers that question (``Answer.question`` stays the user's message,
``Answer.searched_query`` shows what was searched).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from qa.chat.dangling import clarification, dangling_pronoun
from qa.chat.followup import Turn, only_topic_appended, resolve_followup
from qa.chat.sessions import ConversationStore
from qa.errors import BadInputError, NotFoundError
from qa.pipeline import Pipeline
from qa.types import Answer, Filters


@dataclass(frozen=True)
class ChatReply:
    """One turn's reply: the session it belongs to and the answer."""

    session_id: str
    answer: Answer
    """``answer.searched_query`` holds the query actually searched."""


# ---------------------------------------------------------------------------------------------
# Follow-up resolution. No model is available at question time on this path (it must stay
# well under a millisecond of plain Python), so a follow-up is rewritten into a self-contained
# question by a shallow parse of the previous *resolved* question:
#
#     wh-phrase   head             aux    body
#     How many    troops           did    North Korea send to Russia
#     How many    of the troops..  were   killed
#     Where       -                will   Discovery be displayed
#
# and three rewrites: pronouns are replaced by a referent taken from that parse (or from the
# previous answer), a fragment ("And wounded?", "What about Endeavour?", "In 2016?") replaces
# the slot of the previous question it fits (predicate, entity, head noun, prepositional
# phrase, wh-word), and a short or "and"-led question with no topic of its own gets the
# previous topic appended. Because the previous turn is itself resolved, chains compose.
# ---------------------------------------------------------------------------------------------


_MARKER = re.compile(r"\s*\[\d+\]")


def _reply_answer(reply: str) -> str:
    """The answer in an assistant message as a chat client sends it back: the first
    paragraph without its ``[n]`` markers ("11,000 [1]\n\n> evidence [1]\n\nSources: ..."
    -> "11,000")."""
    first = reply.strip().split("\n\n", 1)[0]
    return " ".join(_MARKER.sub("", first).split())


class Chat:
    """Conversations over one pipeline: each message is resolved against the session's
    earlier turns, then retrieved and answered as that self-contained question."""

    def __init__(self, pipeline: Pipeline, store: ConversationStore) -> None:
        self.pipeline = pipeline
        self.store = store

    def _ask(
        self, question: str, history: Sequence[Turn], top_k: int | None, filters: Filters | None
    ) -> Answer:
        searched = resolve_followup(question, history)
        word = dangling_pronoun(question) if searched == question else None
        if word is not None:
            # Nothing in the history (or no history) says what the pronoun stands for: ask,
            # rather than answer whichever article retrieval happens to find.
            return Answer(
                question=question,
                answer="",
                abstained=True,
                confidence=0.0,
                evidence="",
                citations=(),
                timings_ms={"total": 0.0},
                answerer="chat",
                note=clarification(word),
                unclear=word,
            )
        # The answerer gets a resolved question too ("And wounded?" alone cannot pick 2,700
        # over 11,000), in its compact form: see resolve_followup.
        asked = resolve_followup(question, history, compact=True)
        # A rewrite may not turn a message within the length limit into one over it.
        limit = self.pipeline.settings.max_question_chars
        asked = asked if len(asked) <= limit else question
        searched = searched if len(searched) <= limit else asked
        if only_topic_appended(searched, question):
            # Only the previous topic was appended, on the guess that a short question leans
            # on it. Keep it only if the question alone also finds that topic's article:
            # "Who won the election?" after the troops is a new topic, and the note would
            # drag it back to the troops article.
            k = top_k or self.pipeline.settings.top_k
            own = {h.article.id for h in self.pipeline.search(question, k, filters)}
            noted = self.pipeline.search(searched, 1, filters)
            if own and noted and noted[0].article.id not in own:
                searched = asked = question
        answer = self.pipeline.ask(asked, top_k=top_k, filters=filters, searched_query=searched)
        return replace(answer, question=question, searched_query=searched)

    def reply(
        self,
        message: str,
        session_id: str | None = None,
        *,
        top_k: int | None = None,
        filters: Filters | None = None,
    ) -> ChatReply:
        """Answer ``message`` as the next turn of ``session_id`` (a new session when None), and
        record the turn."""
        if session_id is not None and not self.store.exists(session_id):
            raise NotFoundError(f"no chat session {session_id!r}; omit session_id to start one")
        question = self.pipeline.validate_question(message)
        history = self.store.turns(session_id) if session_id is not None else []
        answer = self._ask(question, history, top_k, filters)
        # A session is created only once its first turn has an answer to keep: a message
        # that fails (empty, too long, a broken index) leaves no empty session behind.
        if session_id is None:
            session_id = self.store.create()
        self.store.append(
            session_id, Turn(question, answer.searched_query or question, answer.answer)
        )
        return ChatReply(session_id, answer)

    def answer_history(
        self,
        messages: Sequence[tuple[str, str]],
        *,
        top_k: int | None = None,
        filters: Filters | None = None,
    ) -> Answer:
        """OpenAI-style history as (role, content) pairs; the last user message is asked.

        Each earlier user message is resolved in turn, so a chain of follow-ups composes the
        same way as in a stored session; its answer is the next assistant message, if any."""
        pairs = list(messages)
        users = [i for i, (role, _) in enumerate(pairs) if role == "user"]
        if not users:
            raise BadInputError("the messages contain no user message to answer")
        history: list[Turn] = []
        for i in users[:-1]:
            content = " ".join(pairs[i][1].split())
            if not content:
                continue
            nxt_user = next(j for j in users if j > i)
            reply = next((c for r, c in pairs[i + 1 : nxt_user] if r == "assistant"), "")
            history.append(Turn(content, resolve_followup(content, history), _reply_answer(reply)))
        question = self.pipeline.validate_question(pairs[users[-1]][1])
        return self._ask(question, history, top_k, filters)
