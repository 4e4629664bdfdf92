"""Candidate answer spans inside one evidence sentence.

Spans come from four cheap sources: ingest-time entities, number runs, capitalised runs,
and the stretches of words between the question's own words (what a crowd worker would
highlight for "what" questions: "Baran *developed* [the concept of ...] during his *research*").
"""

from __future__ import annotations

from dataclasses import dataclass

from qa.text import (
    MONTHS,
    NUMBER_MODIFIERS,
    NUMBER_WORDS,
    SCALE_WORDS,
    VAGUE_NUMBERS,
    Token,
    wordset,
)
from qa.types import Span

# Punctuation that ends a phrase; hyphens, apostrophes, "$" and "%" stay inside one.
BREAKS = frozenset(',;:()[]{}"“”‘!?…—–|•')
# Words that open a new clause: a phrase answer rarely runs across them.
CLAUSE_WORDS = wordset(
    "which who whom whose that where while because although though whereas since unless "
    "but however when if after before as"
)
# spaCy keeps these in front of an entity; crowd answers usually do not.
_ENTITY_OPENERS = frozenset(["another", "the", "a", "an", "its", "their", "his", "her"])
# Words a crowd answer seldom starts or ends with, beyond the stopwords.
_EDGE_TRIM = wordset("also including such both either")


@dataclass(frozen=True)
class Candidate:
    """A possible answer found in a sentence: its span, type and the words around it."""

    first: int
    """Token index of the span's first token in the sentence."""
    last: int
    """Token index of the span's last token (inclusive)."""
    label: str
    """An entity label, "NUM", "YEAR", "PROPER" or "PHRASE" (where it came from)."""

    def size(self) -> int:
        return self.last - self.first + 1


def entity_candidates(tokens: list[Token], entities: list[Span]) -> list[Candidate]:
    """Ingest-time entities, mapped onto token indices."""
    out = []
    for e in entities:
        idx = [i for i, t in enumerate(tokens) if t.start >= e.start and t.end <= e.end]
        while len(idx) > 1 and tokens[idx[0]].lower in _ENTITY_OPENERS:
            idx.pop(0)
        if idx:
            out.append(Candidate(idx[0], idx[-1], e.label))
    return out


def _is_number(t: Token) -> bool:
    return t.numeric or t.lower in SCALE_WORDS or t.lower in VAGUE_NUMBERS


def number_candidates(tokens: list[Token]) -> list[Candidate]:
    """Runs of number tokens, with a range ("30,000 to 45,000") and a leading modifier
    ("about", "more than", "$") kept, since crowd answers keep them too."""
    out = []
    i = 0
    n = len(tokens)
    while i < n:
        t = tokens[i]
        if not (t.numeric or t.lower in VAGUE_NUMBERS) or t.lower in ("one", "half", "quarter"):
            # "one" is more often a pronoun than a count; it still joins runs below.
            i += 1
            continue
        j = i
        while j + 1 < n and (
            _is_number(tokens[j + 1])
            or (tokens[j + 1].lower in ("%", ".") and j + 2 < n and tokens[j + 2].numeric)
        ):
            j += 1
        # "30,000 to 45,000", "between 5 and 10"
        if (
            j + 2 < n
            and tokens[j + 1].lower in ("to", "-", "–", "and", "or")
            and tokens[j + 2].text[:1].isdigit()
            and tokens[j].text[:1].isdigit()
        ):
            j += 2
        if j + 1 < n and tokens[j + 1].lower in ("%", "percent"):
            j += 1
        s = i
        if s > 0 and tokens[s - 1].text in ("$", "€", "£", "¥"):
            s -= 1
        if s > 0 and tokens[s - 1].lower in NUMBER_MODIFIERS:
            s -= 1
            if s > 0 and tokens[s - 1].lower in ("more", "less", "fewer", "at", "up"):
                s -= 1
        elif (
            s > 1
            and tokens[s - 1].lower == "than"
            and tokens[s - 2].lower in ("more", "less", "fewer")
        ):
            s -= 2
        label = "VAGUE" if all(tokens[k].lower in VAGUE_NUMBERS for k in range(i, j + 1)) else "NUM"
        out.append(Candidate(s, j, label))
        i = j + 1
    return out


def year_candidates(tokens: list[Token]) -> list[Candidate]:
    """Bare years and "Month (day,) year" dates, for when NER missed or over-extended."""
    out = []
    for i, t in enumerate(tokens):
        if (
            len(t.text) in (4, 5)
            and t.text[:4].isdigit()
            and t.text[:2] in ("10", "11", "12", "13", "14", "15", "16", "17", "18", "19", "20")
            and (len(t.text) == 4 or t.text[4] == "s")
        ):
            s = i
            if i >= 1 and tokens[i - 1].lower in MONTHS:
                s = i - 1
            elif (
                i >= 2
                and tokens[i - 1].text == ","
                and tokens[i - 2].text.isdigit()
                and i >= 3
                and tokens[i - 3].lower in MONTHS
            ):
                s = i - 3
            elif i >= 2 and tokens[i - 1].lower in MONTHS and tokens[i - 2].text.isdigit():
                s = i - 2
            out.append(Candidate(s, i, "YEAR"))
    return out


def proper_candidates(tokens: list[Token]) -> list[Candidate]:
    """Runs of capitalised words ("Los Angeles", "League of Augsburg"), a stand-in for
    entities the small NER model missed."""
    out = []
    i = 0
    n = len(tokens)
    while i < n:
        if not tokens[i].capitalized or (tokens[i].stop and i == 0):
            i += 1
            continue
        j = i
        while j + 1 < n and (
            tokens[j + 1].capitalized
            or (tokens[j + 1].lower in ("of", "de") and j + 2 < n and tokens[j + 2].capitalized)
        ):
            j += 1
            if tokens[j].lower in ("of", "de"):
                j += 1
        if not (i == 0 and j == 0):
            out.append(Candidate(i, j, "PROPER"))
        i = j + 1
    return out


def modifier_candidates(
    tokens: list[Token], matched: list[str | None], noun: str
) -> list[Candidate]:
    """For "what kind of X": the content words right before X ("*high-pitched* buzz")."""
    out = []
    for k, m in enumerate(matched):
        if m != noun:
            continue
        j = k - 1
        while (
            j >= 0
            and k - j <= 3
            and matched[j] is None
            and not tokens[j].stop
            and (not tokens[j].punct or tokens[j].text == "-")
        ):
            j -= 1
        if j + 1 <= k - 1:
            out.append(Candidate(j + 1, k - 1, "KIND"))
    return out


def phrase_candidates(
    tokens: list[Token], matched: list[bool], max_len: int = 10
) -> list[Candidate]:
    """Stretches between the question's words and punctuation, trimmed of function words
    at both edges and cut at the first clause word when long."""
    out = []
    n = len(tokens)
    i = 0
    while i < n:
        if matched[i] or tokens[i].text in BREAKS or (i == n - 1 and tokens[i].text == "."):
            i += 1
            continue
        j = i
        while (
            j + 1 < n
            and not matched[j + 1]
            and tokens[j + 1].text not in BREAKS
            and not (j + 1 == n - 1 and tokens[j + 1].text == ".")
        ):
            j += 1
        for s, e in _sub_phrases(tokens, i, j, max_len):
            out.append(Candidate(s, e, "PHRASE"))
        i = j + 1
    return out


def _trim(tokens: list[Token], s: int, e: int) -> tuple[int, int] | None:
    while (
        s <= e
        and (tokens[s].stop or tokens[s].punct or tokens[s].lower in _EDGE_TRIM)
        and not tokens[s].numeric
    ):
        s += 1
    while (
        e >= s
        and (tokens[e].stop or tokens[e].punct or tokens[e].lower in _EDGE_TRIM)
        and not tokens[e].numeric
    ):
        e -= 1
    return (s, e) if s <= e else None


def _sub_phrases(tokens: list[Token], s: int, e: int, max_len: int) -> list[tuple[int, int]]:
    """The whole trimmed stretch, plus the part before its first clause word (a relative
    clause rarely belongs to the answer), plus a cut at ``max_len``."""
    out: list[tuple[int, int]] = []
    whole = _trim(tokens, s, e)
    if whole is None:
        return out
    s, e = whole
    out.append((s, e))
    for k in range(s + 1, e + 1):
        if tokens[k].lower in CLAUSE_WORDS or (tokens[k].lower == "and" and k - s >= 4):
            cut = _trim(tokens, s, k - 1)
            if cut is not None and cut != (s, e):
                out.append(cut)
            break
    if e - s + 1 > max_len:
        cut = _trim(tokens, s, s + max_len - 1)
        if cut is not None and cut not in out:
            out.append(cut)
    return out


__all__ = [
    "NUMBER_WORDS",
    "Candidate",
    "entity_candidates",
    "modifier_candidates",
    "number_candidates",
    "phrase_candidates",
    "proper_candidates",
    "year_candidates",
]
