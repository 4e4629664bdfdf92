"""The answerer protocol: one verb (and the threshold its confidences are calibrated
for), so a trained reader or an LLM can replace the rules."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from qa.types import Draft, Hit, Span


@dataclass(frozen=True)
class AnswerContext:
    """What an answerer may look at besides the passages: ingest-time annotations."""

    annotations: Callable[[str], tuple[list[Span], list[Span]]]
    """article id -> (sentences, entities), both in article character offsets."""
    newest_first: bool = False
    """The question asks for the latest, and the passages come newest first: the first one
    that answers it is the answer, even when an older report's figure scores higher."""


class Answerer(Protocol):
    """Chooses the answer span from retrieved passages; ``threshold`` is the confidence below
    which its answers become abstentions."""

    @property
    def name(self) -> str:
        """Which answerer answered ("rules", "reader", "llm"), as reported with answers."""
        ...

    @property
    def threshold(self) -> float:
        """The abstention threshold calibrated for this answerer's confidences."""
        ...

    def warm_up(self) -> None:
        """Load whatever the answerer loads lazily (a model), so a server's first question
        does not pay for it."""
        ...

    def answer(self, question: str, hits: Sequence[Hit], context: AnswerContext) -> Draft:
        """Pick the answer span (or none) from ``hits``; never invent text."""
        ...
