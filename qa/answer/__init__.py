"""Answerers: turn a question and retrieved passages into a short answer (a ``Draft``)."""

from qa.answer.base import AnswerContext, Answerer

__all__ = ["AnswerContext", "Answerer"]
