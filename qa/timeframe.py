"""Time in questions: "in 2015", "as of January 2025", "before 3 March 2024", "the latest".

News questions carry time the way Wikipedia questions do not: the same figure changes from
report to report, and people ask for a period or for the newest. This reads the usual forms
offline, with no model and no locale (English month names, ISO and day-month-year dates),
into a date range over the articles' publication dates and a "newest first" preference.
A phrase that looks like a date but cannot be read (``as of Smarch 40``) is reported, and
the question is answered without a filter.
"""

from __future__ import annotations

import calendar
import re
from datetime import date, timedelta

from qa.types import Hit, TimeFrame

_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_name) if m}
_MONTHS |= {m.lower(): i for i, m in enumerate(calendar.month_abbr) if m}
_MONTHS["sept"] = 9
_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
_DATE = (
    rf"(?:\d{{4}}-\d{{1,2}}-\d{{1,2}}"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:{_MONTH})\.?,?\s+\d{{4}}"
    rf"|(?:{_MONTH})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}"
    rf"|(?:{_MONTH})\.?\s+\d{{4}}"
    rf"|\d{{4}})"
)
_PHRASE = re.compile(
    rf"\b(?P<op>as of|in|during|before|after|since|until|by)\s+(?:the\s+year\s+)?"
    rf"(?P<when>{_DATE})\b",
    re.IGNORECASE,
)
# Something date-like after "as of/before/after/since" that the forms above do not read.
_LOOSE = re.compile(
    r"\b(?P<op>as of|before|after|since|until)\s+"
    r"(?P<when>[A-Z][a-z]+\s+\d{1,4}|\d{1,2}/\d{1,2}/\d{2,4})",
)
_LATEST = re.compile(
    r"\b(latest|most recent|newest|most up[- ]to[- ]date|currently|right now|now|so far|to date)\b",
    re.IGNORECASE,
)
_YEAR_MIN, _YEAR_MAX = 1800, 2100
"""Years outside these are not publication dates (``in 3000``, ``in 1066`` are topics)."""


LATEST_BAND = 0.8
"""For "the latest", passages scoring within 80% of the best are reordered newest first: on
the news set the passages about the asked fact score within 0.8 of each other, and an
unrelated newer article scores well below (measured on tests/eval/news-questions.jsonl)."""


def newest_first(hits: list[Hit]) -> tuple[list[Hit], bool]:
    """``hits`` with the close-scoring ones newest first (undated ones after dated ones);
    also whether an undated article was among them, ranked last for it."""
    if not hits:
        return hits, False
    top = max(h.score for h in hits)
    band = [h for h in hits if h.score >= LATEST_BAND * top]
    rest = [h for h in hits if h.score < LATEST_BAND * top]
    dates = [h.article.date for h in band]
    undated = None in dates and any(d is not None for d in dates)
    band.sort(key=lambda h: h.article.date or "", reverse=True)
    return band + rest, undated


def _period(text: str) -> tuple[date, date] | None:
    """The first and last day the date text names (a day, a month or a year)."""
    t = text.strip().lower().replace(",", " ").replace(".", " ")
    t = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", t)
    parts = t.split()
    try:
        if re.fullmatch(r"\d{4}-\d{1,2}-\d{1,2}", t):
            y, m, d = (int(x) for x in t.split("-"))
            day = date(y, m, d)
            return day, day
        if len(parts) == 1 and parts[0].isdigit():
            y = int(parts[0])
            return (date(y, 1, 1), date(y, 12, 31)) if _YEAR_MIN <= y <= _YEAR_MAX else None
        if len(parts) == 2 and parts[0] in _MONTHS:
            y, m = int(parts[1]), _MONTHS[parts[0]]
            return date(y, m, 1), date(y, m, calendar.monthrange(y, m)[1])
        if len(parts) == 3:
            if parts[1] in _MONTHS:
                d, m, y = int(parts[0]), _MONTHS[parts[1]], int(parts[2])
            else:
                m, d, y = _MONTHS[parts[0]], int(parts[1]), int(parts[2])
            day = date(y, m, d)
            return day, day
    except (ValueError, KeyError):
        return None
    return None


def read_timeframe(question: str) -> TimeFrame | None:
    """The time the question asks about, or None when it says nothing about time."""
    said = _LATEST.search(question)
    latest = said is not None
    # The first phrase that names a possible publication date ("in 1776" is a topic).
    m = next(
        (
            x
            for x in _PHRASE.finditer(question)
            if not re.fullmatch(r"\d{4}", x.group("when")) or _period(x.group("when"))
        ),
        None,
    )
    if m is None:
        loose = _LOOSE.search(question)
        if loose is not None and not _period(loose.group("when")):
            return TimeFrame(
                latest=latest,
                phrase=loose.group(0),
                note=f"could not read {loose.group('when')!r} as a date; answered without a "
                "date filter",
            )
        return TimeFrame(latest=True, phrase=said.group(0)) if said is not None else None
    op, when = m.group("op").lower(), m.group("when")
    period = _period(when)
    if period is None:
        return TimeFrame(
            latest=latest,
            phrase=m.group(0),
            note=f"could not read {when!r} as a date; answered without a date filter",
        )
    first, last = period
    if op in ("in", "during"):
        lo, hi = first, last
    elif op in ("as of", "by", "until"):
        lo, hi = None, last
    elif op == "before":
        lo, hi = None, first - timedelta(days=1)
    elif op == "after":
        lo, hi = last + timedelta(days=1), None
    else:  # since
        lo, hi = first, None
    return TimeFrame(
        date_from=lo.isoformat() if lo else None,
        date_to=hi.isoformat() if hi else None,
        latest=latest,
        phrase=m.group(0),
    )
