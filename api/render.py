"""Answers as chat text: ``[n]`` markers and a Sources list, for clients that show only text
(OpenAI-compatible chat apps, MCP clients). The structured citations travel beside it."""

from __future__ import annotations

from qa.citations import NO_ANSWER, source_line
from qa.types import Answer, Citation

NOT_IN_ARTICLES = "Not in the articles: " + NO_ANSWER[0].lower() + NO_ANSWER[1:]
SOURCES_SHOWN = 3


def answer_citation(answer: Answer) -> Citation | None:
    """The citation whose passage holds the answer span (numbered first by qa.citations)."""
    if answer.abstained or not answer.citations:
        return None
    held = [c for c in answer.citations if c.answer_start is not None]
    return held[0] if held else answer.citations[0]


def _source(c: Citation) -> str:
    line = source_line(c)
    return line + (f" <{c.url}>" if c.url else "")


def reply_text(answer: Answer) -> str:
    """``11,000 [1]``, the evidence quoted with its marker, then the sources."""
    cited = answer_citation(answer)
    parts: list[str] = []
    if cited is None:
        parts.append(NOT_IN_ARTICLES)
        shown = list(answer.citations[:SOURCES_SHOWN])
        if shown:
            parts.append("Closest passages:\n" + "\n".join(_source(c) for c in shown))
        return "\n\n".join(parts)
    parts.append(f"{answer.answer} [{cited.number}]")
    evidence = " ".join(answer.evidence.split())
    if evidence:
        parts.append(f"> {evidence} [{cited.number}]")
    shown = [cited, *[c for c in answer.citations if c is not cited]][:SOURCES_SHOWN]
    shown.sort(key=lambda c: c.number)
    parts.append("Sources:\n" + "\n".join(_source(c) for c in shown))
    return "\n\n".join(parts)
