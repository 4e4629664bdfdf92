"""Terminal rendering of answers, stats and ingest summaries (colour only on a terminal)."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from qa.citations import (
    NO_ANSWER,
    also_line,
    as_of_phrase,
    by_source,
    conflict_line,
    source_line,
)
from qa.types import Answer, Citation

PASSAGES_PER_SOURCE = 2
"""Quoted passages shown under one source on a terminal; the answer object keeps them all."""


def render_answer(console: Console, answer: Answer, *, passages: int = 3) -> None:
    """The answer on the terminal: the short answer (or the abstention), confidence, note and
    cited passages."""
    if answer.unclear and answer.note:
        console.print(Text(answer.note, style="bold yellow"))
        return
    if answer.abstained:
        console.print(Text(NO_ANSWER, style="bold yellow"))
        if answer.citations:
            console.print("Closest passages:")
    else:
        line = Text(answer.answer, style="bold green")
        if answer.citations:
            line.append(" [1]", style="cyan")
        console.print(line)
        dated = as_of_phrase(answer.as_of)
        if dated:
            console.print(Text(dated, style="dim"))
        differ = conflict_line(answer.conflicts)
        if differ:
            console.print(Text(differ, style="yellow"))
        console.print(Text(f"confidence {answer.confidence:.2f}", style="dim"))
    if answer.note:
        console.print(Text(answer.note, style="dim italic"))
    frame = answer.timeframe
    if frame is not None and (frame.applied or frame.note):
        span = " to ".join(x for x in (frame.date_from, frame.date_to) if x)
        said = f"articles dated {span} (from {frame.phrase!r})" if frame.applied else ""
        console.print(Text("; ".join(x for x in (said, frame.note or "") if x), style="dim"))
    for group in by_source(answer.citations)[:passages]:
        console.print()
        console.print(Text(source_line(group[0]), style="cyan"))
        if group[0].url:
            console.print(Text(group[0].url, style="dim underline"))
        also = also_line(group[0])
        if also:
            console.print(Text(also, style="dim"))
        for c in group[:PASSAGES_PER_SOURCE]:
            _quote(console, c)
        if len(group) > PASSAGES_PER_SOURCE:
            more = len(group) - PASSAGES_PER_SOURCE
            console.print(
                Text(f"  (+{more} more passage{'s' * (more > 1)}; --json has all)", style="dim")
            )


def _quote(console: Console, c: Citation) -> None:
    """One quoted passage, the answer span highlighted when it is in this one."""
    quote = Text("  " + " ".join(c.text.split()) if c.answer_start is None else "")
    if c.answer_start is not None and c.answer_end is not None:
        before = " ".join(c.text[: c.answer_start].split())
        span = c.text[c.answer_start : c.answer_end]
        after = " ".join(c.text[c.answer_end :].split())
        quote = Text("  " + before + (" " if before else ""))
        quote.append(span, style="bold reverse")
        quote.append((" " if after and after[0] not in ",.;:" else "") + after)
    console.print(quote, soft_wrap=False)
