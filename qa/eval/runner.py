"""Ask every question of a set through the pipeline, and record what came back.

The pipeline runs with ``abstain_threshold = 0`` so that each record keeps the answer the bot
*would* give and its confidence; the configured threshold (or any other, for ``--sweep``) is
applied afterwards, exactly as ``Pipeline.ask`` applies it:
``abstained = not answer or confidence < threshold``. No question is asked twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qa.errors import QAError
from qa.eval.loaders import EvalQuestion
from qa.ingest.files import Skip
from qa.types import Answer

if TYPE_CHECKING:
    from qa.chat.chat import Chat
    from qa.pipeline import Pipeline

TURNS_MODE = (
    "each turn asked through qa.chat.Chat.answer_history with the earlier turns as "
    "history: the earlier questions and the bot's own earlier answers (not the gold "
    "ones; an empty answer where it abstained, as a stored chat session keeps it)"
)


@dataclass(frozen=True)
class Passage:
    """A cited passage, as the bot showed it."""

    article_id: str
    chunk_id: str
    title: str | None
    text: str
    score: float
    answer_start: int | None = None
    answer_end: int | None = None


@dataclass(frozen=True)
class Record:
    """One question asked: the candidate answer before any threshold, and how it was found."""

    question: EvalQuestion
    candidate: str
    """The answer the bot gives when it does not abstain ("" when it has none)."""
    confidence: float
    passages: tuple[Passage, ...]
    latency_ms: float
    """Wall time of the whole ask (``Pipeline.ask`` or ``Chat.answer_history``)."""
    stages_ms: dict[str, float] = field(default_factory=dict)
    searched_query: str | None = None
    signals: dict[str, float] = field(default_factory=dict)
    """What the confidence was computed from: a calibration can be refitted from a run."""
    history_turns: int = 0
    """Earlier turns given as chat history (0 for a lone question)."""

    def abstains_at(self, threshold: float) -> bool:
        return not self.candidate or self.confidence < threshold


def record_from_answer(
    q: EvalQuestion, answer: Answer, latency_ms: float, history_turns: int = 0
) -> Record:
    """The record of one asked question, from the pipeline's answer."""
    passages = tuple(
        Passage(c.article_id, c.chunk_id, c.title, c.text, c.score, c.answer_start, c.answer_end)
        for c in answer.citations
    )
    return Record(
        question=q,
        candidate=answer.answer if not answer.abstained else "",
        confidence=float(answer.confidence),
        passages=passages,
        latency_ms=round(latency_ms, 3),
        stages_ms=dict(answer.timings_ms),
        searched_query=answer.searched_query,
        signals=dict(answer.signals),
        history_turns=history_turns,
    )


Tick = Callable[[Record | None], None]
"""Called after each question with its record (None when the pipeline refused it)."""


def run_questions(
    pipeline: Pipeline,
    questions: Sequence[EvalQuestion],
    *,
    k: int,
    threshold: float,
    chat_dir: Path | None = None,
    tick: Tick | None = None,
) -> tuple[list[Record], list[Skip]]:
    """Ask each question (conversation turns with their history) and record the answers.

    ``threshold`` only decides what the bot "said" in earlier turns of a conversation.
    A question the pipeline refuses (too long, say) is skipped and reported.
    """
    records: list[Record] = []
    refused: list[Skip] = []
    chat: Any = None
    history: list[tuple[str, str]] = []
    current: str | None = None
    for q in questions:
        try:
            if q.conversation is None:
                started = time.perf_counter()
                answer = pipeline.ask(q.question, top_k=k)
                rec = record_from_answer(q, answer, (time.perf_counter() - started) * 1000)
            else:
                if chat is None:
                    chat = _chat(pipeline, chat_dir)
                if q.conversation != current:
                    current, history = q.conversation, []
                messages = [*history, ("user", q.question)]
                started = time.perf_counter()
                answer = (
                    chat.answer_history(messages, top_k=k)
                    if _takes_top_k(chat)
                    else chat.answer_history(messages)
                )
                rec = record_from_answer(
                    q,
                    answer,
                    (time.perf_counter() - started) * 1000,
                    history_turns=len(history) // 2,
                )
                history = [*messages, ("assistant", _shown(rec, threshold))]
        except QAError as exc:
            where = q.where.rsplit(":", 1)
            line = int(where[1]) if len(where) == 2 and where[1].isdigit() else None
            refused.append(Skip(where[0] or q.id, line, f"question {q.id!r} not asked: {exc}"))
            if tick:
                tick(None)
            continue
        records.append(rec)
        if tick:
            tick(rec)
    return records, refused


def _shown(rec: Record, threshold: float) -> str:
    """What the bot said, as ``Chat.reply`` stores it: the answer, or "" if it abstained."""
    return "" if rec.abstains_at(threshold) else rec.candidate


def _takes_top_k(chat: Any) -> bool:
    """The pinned interface is ``answer_history(messages)``; ``top_k`` is used when offered."""
    import inspect

    return "top_k" in inspect.signature(chat.answer_history).parameters


def _chat(pipeline: Pipeline, chat_dir: Path | None) -> Chat:
    import tempfile

    from qa.chat.chat import Chat
    from qa.chat.sessions import ConversationStore

    base = chat_dir or Path(tempfile.mkdtemp(prefix="ask-eval-chat-"))
    return Chat(pipeline, ConversationStore(base / "chat.sqlite"))
