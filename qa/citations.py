"""Numbered citations from hits: data (ids, offsets, scores), never strings to parse back."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from qa.types import Citation, Conflict, Draft, Hit


def citation_order(count: int, draft: Draft) -> list[int]:
    """The passage holding the answer first, then the rest in the answerer's order (the
    reader's) or by retrieval score. An LLM is shown passages in this order too."""
    order = list(range(count))
    if draft.order is not None and sorted(draft.order) == order:
        order = list(draft.order)
    if draft.hit_index is not None and 0 <= draft.hit_index < count:
        order.remove(draft.hit_index)
        order.insert(0, draft.hit_index)
    return order


def article_numbers(hits: Sequence[Hit], order: Sequence[int]) -> list[int]:
    """One number per article, in order of first appearance: the passages of one article
    share its number, so a reader sees one source with several quoted passages, not the
    same report as [1] and [2]. Position ``k`` of ``order`` gets ``result[k]``."""
    seen: dict[str, int] = {}
    return [seen.setdefault(hits[i].article.id, len(seen) + 1) for i in order]


def cite(hits: Sequence[Hit], draft: Draft) -> tuple[Citation, ...]:
    """Number the passages in :func:`citation_order`, one number per article."""
    order = citation_order(len(hits), draft)
    numbers = article_numbers(hits, order)
    out = []
    for number, i in zip(numbers, order, strict=True):
        hit = hits[i]
        a_start = a_end = None
        if (
            i == draft.hit_index
            and draft.answer_start is not None
            and draft.answer_end is not None
            and hit.chunk.start <= draft.answer_start < draft.answer_end <= hit.chunk.end
        ):
            a_start = draft.answer_start - hit.chunk.start
            a_end = draft.answer_end - hit.chunk.start
        art = hit.article
        out.append(
            Citation(
                number=number,
                article_id=art.id,
                title=art.title,
                author=art.author,
                source=art.source,
                date=art.date,
                url=art.url,
                chunk_id=hit.chunk.id,
                start=hit.chunk.start,
                end=hit.chunk.end,
                text=hit.chunk.text,
                answer_start=a_start,
                answer_end=a_end,
                score=round(hit.score, 4),
            )
        )
    # An article's passages side by side under its number (stable: the answer's stays first).
    return tuple(sorted(out, key=lambda c: c.number))


def by_source(citations: Sequence[Citation]) -> list[list[Citation]]:
    """The citations grouped by number (one group per article), in number order; each group
    keeps every passage quoted from that article, in the order cited."""
    groups: dict[int, list[Citation]] = {}
    for c in citations:
        groups.setdefault(c.number, []).append(c)
    return [groups[n] for n in sorted(groups)]


def as_of_phrase(iso: str | None) -> str | None:
    """``according to a report of 11 February 2025`` for an answer's ``as_of``."""
    if not iso:
        return None
    try:
        d = date.fromisoformat(iso)
    except ValueError:
        return None
    return f"according to a report of {d.day} {d:%B %Y}"


NO_ANSWER = "The articles do not answer this question."
"""What every door says when the bot abstains."""


def conflict_line(conflicts: Sequence[Conflict]) -> str | None:
    """``Reports differ: 12,000 [2] (Herald, 2024-12-20)``, newest first."""
    if not conflicts:
        return None
    parts = [
        f"{c.answer} [{c.citation}]"
        + (f" ({', '.join(x for x in (c.source, c.date) if x)})" if c.source or c.date else "")
        for c in conflicts
    ]
    return "Reports differ: " + "; ".join(parts)


def also_line(c: Citation) -> str | None:
    """``also reported by Reuters (2025-02-12), AP``: the other copies of a cited story."""
    if not c.also_reported_by:
        return None
    names = [
        (r.source or r.title or r.article_id) + (f" ({r.date})" if r.date else "")
        for r in c.also_reported_by
    ]
    return "also reported by " + ", ".join(names)


def source_line(c: Citation) -> str:
    """``[n] Title - author, outlet, date``: a citation's source as one line of text."""
    who = ", ".join(x for x in (c.author, c.source, c.date) if x)
    return f"[{c.number}] {c.title or c.article_id}" + (f" - {who}" if who else "")
