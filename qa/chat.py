"""Multi-turn chat: conversations kept in SQLite, follow-ups resolved before retrieval.

INTERFACE PINNED (other modules build on it): ``Turn``, ``ChatReply``, ``ConversationStore``,
``resolve_followup``, ``Chat``. The resolution below is a placeholder to be replaced.
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from qa.errors import BadInputError, NotFoundError
from qa.pipeline import Pipeline
from qa.types import Answer, Filters


@dataclass(frozen=True)
class Turn:
    question: str
    searched_query: str
    answer: str


@dataclass(frozen=True)
class ChatReply:
    session_id: str
    answer: Answer
    """``answer.searched_query`` holds the query actually searched."""


class ConversationStore:
    """Sessions and their turns, in ``chat.sqlite`` beside (never inside) the index store."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.executescript(
            """
            CREATE TABLE IF NOT EXISTS sessions (
                id TEXT PRIMARY KEY,
                created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')));
            CREATE TABLE IF NOT EXISTS turns (
                session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
                n INTEGER NOT NULL, question TEXT NOT NULL, searched_query TEXT NOT NULL,
                answer TEXT NOT NULL, PRIMARY KEY (session_id, n));
            """
        )
        self.conn.commit()

    def create(self) -> str:
        sid = uuid.uuid4().hex
        with self._lock, self.conn:
            self.conn.execute("INSERT INTO sessions (id) VALUES (?)", (sid,))
        return sid

    def exists(self, session_id: str) -> bool:
        row = self.conn.execute("SELECT 1 FROM sessions WHERE id = ?", (session_id,)).fetchone()
        return row is not None

    def turns(self, session_id: str) -> list[Turn]:
        rows = self.conn.execute(
            "SELECT question, searched_query, answer FROM turns WHERE session_id = ? ORDER BY n",
            (session_id,),
        ).fetchall()
        return [Turn(*r) for r in rows]

    def append(self, session_id: str, turn: Turn) -> None:
        with self._lock, self.conn:
            n = self.conn.execute(
                "SELECT coalesce(max(n), 0) + 1 FROM turns WHERE session_id = ?", (session_id,)
            ).fetchone()[0]
            self.conn.execute(
                "INSERT INTO turns VALUES (?,?,?,?,?)",
                (session_id, n, turn.question, turn.searched_query, turn.answer),
            )

    def close(self) -> None:
        self.conn.close()


def resolve_followup(question: str, history: Sequence[Turn]) -> str:
    """The query to search for ``question`` given the earlier turns (placeholder: unchanged)."""
    return question


class Chat:
    def __init__(self, pipeline: Pipeline, store: ConversationStore) -> None:
        self.pipeline = pipeline
        self.store = store

    def reply(
        self, message: str, session_id: str | None = None, *, top_k: int | None = None,
        filters: Filters | None = None,
    ) -> ChatReply:
        if session_id is None:
            session_id = self.store.create()
        elif not self.store.exists(session_id):
            raise NotFoundError(f"no chat session {session_id!r}; omit session_id to start one")
        question = self.pipeline.validate_question(message)
        history = self.store.turns(session_id)
        query = resolve_followup(question, history)
        answer = self.pipeline.ask(question, top_k=top_k, filters=filters, searched_query=query)
        answer = replace(answer, searched_query=query)
        self.store.append(session_id, Turn(question, query, answer.answer))
        return ChatReply(session_id, answer)

    def answer_history(
        self, messages: Sequence[tuple[str, str]], *, top_k: int | None = None
    ) -> Answer:
        """OpenAI-style history as (role, content) pairs; the last user message is asked."""
        users = [content for role, content in messages if role == "user"]
        if not users:
            raise BadInputError("the messages contain no user message to answer")
        history: list[Turn] = []
        pairs = list(messages)
        for i, (role, content) in enumerate(pairs[:-1]):
            if role == "user" and content is not users[-1]:
                reply = next((c for r, c in pairs[i + 1:] if r == "assistant"), "")
                history.append(Turn(content, resolve_followup(content, history), reply))
        question = self.pipeline.validate_question(users[-1])
        query = resolve_followup(question, history)
        answer = self.pipeline.ask(question, top_k=top_k, searched_query=query)
        return replace(answer, searched_query=query)
