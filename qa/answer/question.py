"""Question analysis: what kind of span answers it, and which words it is about."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum

from qa.text import Token, tokenize, wordset


class Kind(Enum):
    """The shape of the expected answer; decides which candidates may answer."""

    NUMBER = "number"
    DATE = "date"
    PERSON = "person"
    PLACE = "place"
    ENTITY = "entity"
    """A named thing of a label given by the question's noun ("which company")."""
    REASON = "reason"
    OTHER = "other"


NUMERIC_LABELS = frozenset({"CARDINAL", "QUANTITY", "MONEY", "PERCENT"})
TEMPORAL_LABELS = frozenset({"DATE", "TIME"})
PERSON_LABELS = frozenset({"PERSON", "ORG", "NORP"})
PLACE_LABELS = frozenset({"GPE", "LOC", "FAC"})

# "which city", "what company": the noun after the wh-word names the entity label.
_NOUN_LABELS: dict[str, frozenset[str]] = {}
for _nouns, _labels in (
    (
        "city town country state nation province region place county capital continent island "
        "village area location district neighborhood neighbourhood",
        PLACE_LABELS,
    ),
    ("river mountain ocean sea lake valley desert forest", frozenset({"LOC", "GPE"})),
    ("year date day month century decade time period era season", TEMPORAL_LABELS),
    (
        "person man woman king queen president leader author writer scientist emperor player "
        "coach founder inventor director son daughter wife husband father mother brother sister "
        "ruler general minister architect artist composer chancellor governor mayor pope",
        frozenset({"PERSON"}),
    ),
    (
        "company organization organisation team group university college school party agency "
        "institution firm corporation network league club band newspaper station",
        frozenset({"ORG"}),
    ),
    ("language", frozenset({"LANGUAGE", "NORP"})),
    ("nationality religion ethnicity", frozenset({"NORP"})),
    ("war battle event", frozenset({"EVENT"})),
    ("law act treaty", frozenset({"LAW"})),
    ("book film movie song album show novel", frozenset({"WORK_OF_ART"})),
    ("building stadium airport bridge church", frozenset({"FAC", "ORG"})),
    ("percentage percent share proportion", frozenset({"PERCENT"})),
    ("number amount population cost price", NUMERIC_LABELS),
):
    for _n in wordset(_nouns):
        _NOUN_LABELS[_n] = _labels

# How-adjectives that ask for a measure; "how many/much" ask for a count or an amount.
_MEASURES = wordset("many much long far old large big tall high wide deep heavy fast often")
_WH = wordset("what which who whom whose when where why how")


@dataclass(frozen=True)
class Question:
    """What the rule answerer reads from a question: its wh-word, expected answer type and
    content words."""

    text: str
    kind: Kind
    labels: frozenset[str]
    """Entity labels that fit the answer; empty when any phrase may answer."""
    tokens: list[Token]
    terms: list[str]
    """Content stems, in order, without duplicates."""
    focus: tuple[str, ...] = field(default=())
    """Stems of the noun the question asks about ("how many *troops*", "which *city*")."""
    measure: str = ""
    """The how-adjective ("many", "long", ...) of a measure question."""
    year_only: bool = False
    """'What year' / 'which century': a bare year answers better than a full date."""
    kind_of: str = ""
    """The stem of X in "what kind/type of X": the answer is X's modifier ("*tree* branches")."""


def _noun_after(tokens: list[Token], i: int) -> tuple[list[Token], int]:
    """The content words right after position ``i`` up to the first function word."""
    out: list[Token] = []
    j = i
    while j < len(tokens) and not tokens[j].punct and not tokens[j].stop and len(out) < 3:
        out.append(tokens[j])
        j += 1
    return out, j


def analyse(question: str) -> Question:
    """Parse ``text`` into a :class:`Question` (plain Python, no model)."""
    tokens = tokenize(question)
    words = [t.lower for t in tokens]
    terms: list[str] = []
    for t in tokens:
        if not t.punct and not t.stop and t.lower not in _WH and t.stem not in terms:
            terms.append(t.stem)
    kind, labels, measure, year_only = Kind.OTHER, frozenset[str](), "", False
    focus_tokens: list[Token] = []

    wh_at = next((i for i, w in enumerate(words) if w in _WH), -1)
    wh = words[wh_at] if wh_at >= 0 else ""
    nxt = words[wh_at + 1] if 0 <= wh_at < len(words) - 1 else ""
    if wh == "how" and nxt in _MEASURES:
        kind, measure = Kind.NUMBER, nxt
        labels = NUMERIC_LABELS | (TEMPORAL_LABELS if nxt in ("long", "old", "often") else set())
        focus_tokens, _ = _noun_after(tokens, wh_at + 2)
    elif wh == "when":
        kind, labels = Kind.DATE, TEMPORAL_LABELS
    elif wh in ("who", "whom", "whose"):
        kind, labels = Kind.PERSON, PERSON_LABELS
    elif wh == "where":
        kind, labels = Kind.PLACE, PLACE_LABELS | frozenset({"ORG"})
    elif wh == "why":
        kind = Kind.REASON
    elif wh in ("what", "which"):
        noun, _ = _noun_after(tokens, wh_at + 1)
        # "what is the name of the city": skip the copula and "name of" to reach the noun.
        if not noun:
            j = wh_at + 1
            while j < len(tokens) and (tokens[j].stop or tokens[j].punct) and j < wh_at + 6:
                j += 1
            noun, _ = _noun_after(tokens, j)
        if noun:
            focus_tokens = noun
            # Without a tagger the noun run may swallow a verb ("which company built"):
            # take the last word that names an entity type.
            labels = frozenset()
            head = ""
            for t in noun:
                found = _NOUN_LABELS.get(t.lower, _NOUN_LABELS.get(t.lower.rstrip("s")))
                if found:
                    labels, head = found, t.lower.rstrip("s")
            if labels == TEMPORAL_LABELS:
                kind, year_only = Kind.DATE, head in ("year", "century", "decade")
            elif labels <= NUMERIC_LABELS and labels:
                kind = Kind.NUMBER
            elif labels == PLACE_LABELS or labels == frozenset({"LOC", "GPE"}):
                kind = Kind.PLACE
            elif labels:
                kind = Kind.ENTITY
    kind_of = ""
    for i in range(len(tokens) - 2):
        if tokens[i].lower in _KIND_WORDS and tokens[i + 1].lower == "of":
            noun, _ = _noun_after(tokens, i + 2)
            if noun:
                # "What kind of region": the answer describes the region, it is no place.
                kind, labels, kind_of = Kind.OTHER, frozenset(), noun[-1].stem
            break
    focus = tuple(t.stem for t in focus_tokens if t.stem in terms)
    return Question(
        question, kind, frozenset(labels), tokens, terms, focus, measure, year_only, kind_of
    )


_KIND_WORDS = wordset("kind kinds type types sort sorts form forms")


_YEAR = re.compile(r"\b(1[0-9]{3}|20[0-9]{2})s?\b")


def find_year(text: str) -> re.Match[str] | None:
    return _YEAR.search(text)
