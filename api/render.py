"""Answers as chat text: ``[n]`` markers and a Sources list, for clients that show only text
(OpenAI-compatible chat apps, MCP clients). The structured citations travel beside it.

The text reads on its own: one numbered source per article, each with a link that opens the
quoted passage and the passage itself quoted, so ``[1]`` means something even in a client
that drops every extra field."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from qa.citations import (
    NO_ANSWER,
    also_line,
    as_of_phrase,
    by_source,
    conflict_line,
    source_line,
)
from qa.types import Answer, Citation

NOT_IN_ARTICLES = "Not in the articles: " + NO_ANSWER[0].lower() + NO_ANSWER[1:]
SOURCES_SHOWN = 3
QUOTE_WORDS = 40
"""Words of a passage quoted under its source: about two sentences of news, enough to see
why it was cited without pasting the whole 150-word passage into a chat bubble."""
MARKER = re.compile(r"\[(\d+)\]")

Link = Callable[[Citation], str | None]
"""Where a citation's passage opens (the reading page of ``api.routes``)."""


def answer_citation(answer: Answer) -> Citation | None:
    """The citation whose passage holds the answer span (numbered first by qa.citations)."""
    if answer.abstained or not answer.citations:
        return None
    held = [c for c in answer.citations if c.answer_start is not None]
    return held[0] if held else answer.citations[0]


def quote(c: Citation, words: int = QUOTE_WORDS) -> str:
    """About ``words`` words of the passage, around the answer when it is in this one."""
    text, head = c.text, False
    if c.answer_start is not None:
        # Start at the sentence boundary before the answer when the answer sits late in
        # the passage, so the quote shows it and still reads.
        cut = max(text.rfind(". ", 0, c.answer_start), text.rfind("\n", 0, c.answer_start))
        if cut >= 0 and len(text[: cut + 1].split()) > words // 2:
            text, head = text[cut + 1 :], True
    toks = text.split()
    body = " ".join(toks[:words])
    return ("…" if head else "") + body + ("…" if len(toks) > words else "")


def _source(group: list[Citation], link: Link | None) -> str:
    first = group[0]
    href = (link(first) if link else None) or first.url
    line = source_line(first) + (f" <{href}>" if href else "")
    also = also_line(first)
    if also:
        line += f"\n{also[0].upper()}{also[1:]}"
    quoted = next((c for c in group if c.answer_start is not None), first)
    return line + "\n> " + quote(quoted)


def _sources(answer: Answer, first: Citation | None, link: Link | None) -> list[list[Citation]]:
    groups = by_source(answer.citations)
    if first is not None:
        groups.sort(key=lambda g: g[0].number != first.number)
    shown = groups[:SOURCES_SHOWN]
    shown.sort(key=lambda g: g[0].number)
    return shown


def reply_text(answer: Answer, link: Link | None = None) -> str:
    """``11,000 [1]``, the evidence quoted with its marker, then one source per article with
    a quoted passage and a link that opens it (``link``; else the article's own URL)."""
    if answer.unclear and answer.note:
        return answer.note
    cited = answer_citation(answer)
    parts: list[str] = []
    if cited is None:
        parts.append(NOT_IN_ARTICLES)
        shown = _sources(answer, None, link)
        if shown:
            parts.append("Closest passages:\n" + "\n\n".join(_source(g, link) for g in shown))
        return "\n\n".join(parts)
    parts.append(f"{answer.answer} [{cited.number}]")
    dated = as_of_phrase(answer.as_of)
    if dated:
        # Its own paragraph: clients send the first one back as the answer (qa.chat).
        parts.append(dated[0].upper() + dated[1:] + ".")
    differ = conflict_line(answer.conflicts)
    if differ:
        parts.append(differ)
    evidence = " ".join(answer.evidence.split())
    if evidence:
        parts.append(f"> {evidence} [{cited.number}]")
    shown = _sources(answer, cited, link)
    parts.append("Sources:\n" + "\n\n".join(_source(g, link) for g in shown))
    return "\n\n".join(parts)


def url_annotations(text: str, answer: Answer, link: Link) -> list[dict[str, Any]]:
    """OpenAI ``url_citation`` annotations, one per ``[n]`` marker in ``text`` that names a
    citation: where the marker sits (``start_index``/``end_index``) and the passage's link."""
    groups = {g[0].number: g for g in by_source(answer.citations)}
    out: list[dict[str, Any]] = []
    for m in MARKER.finditer(text):
        group = groups.get(int(m.group(1)))
        if group is None:
            continue
        c = next((x for x in group if x.answer_start is not None), group[0])
        out.append(
            {
                "type": "url_citation",
                "url_citation": {
                    "start_index": m.start(),
                    "end_index": m.end(),
                    "url": link(c) or c.url or "",
                    "title": c.title or c.article_id,
                },
            }
        )
    return out
