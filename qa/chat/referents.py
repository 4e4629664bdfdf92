"""Referents: what earlier turns were about (their question's head and names, their
answer), most recent first, for pronouns and fragments to point at."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from qa.chat.parse import (
    _compact,
    _entities,
    _head_referent,
    _is_capitalised,
    _is_participle,
    _is_plural,
    _low,
    _noun_phrases,
    _parse,
    _strip_of,
    _words,
)
from qa.text import (
    AUX,
    BE,
    DETERMINERS,
    DO,
    LOOKBACK,
    NEUTER_PRONOUNS,
    NON_ANSWER,
    NON_PERSON_WORDS,
    PERSON_PRONOUNS,
    PERSON_TITLES,
    PLURAL_PRONOUNS,
    POSSESSIVES,
    PREPOSITIONS,
    RETRIEVAL_STOPWORDS,
    SUBJECT_PRONOUNS,
)


@dataclass(frozen=True)
class Turn:
    """One earlier turn: what was asked, what was searched for it, and the answer given."""

    question: str
    searched_query: str
    answer: str


def _usable_answer(answer: str) -> list[str]:
    words = _words(answer)
    # a bare number ("1") or a sentence is no referent for "it"/"he"
    if (
        not words
        or len(words) > 8
        or NON_ANSWER.search(answer)
        or not any(c.isalpha() for c in answer)
    ):
        return []
    return words


def _looks_like_person(tokens: Sequence[str], before: Sequence[str]) -> bool:
    low = _low(tokens)
    if any(w in NON_PERSON_WORDS for w in low):
        return False
    if before and before[-1].lower() in PERSON_TITLES:
        return True
    return len(tokens) >= 2 or (bool(before) and before[-1].lower() == "by")


_CONTEXT_NOTE = re.compile(r"\s*\([^()]*\)\s*(?=\?|$)")


class _Frame:
    """One earlier turn, parsed: its resolved question and its answer."""

    def __init__(self, turn: Turn, compact: bool = False) -> None:
        # A "(topic)" note appended to a resolved question is context, not its own content.
        text = turn.searched_query or turn.question
        note = _CONTEXT_NOTE.search(text)
        self.note = _words(note.group()) if note else []
        text = _CONTEXT_NOTE.sub("", text)
        self.compact = compact
        self.tokens = _words(text)
        self.q = _parse(self.tokens)
        # The question a fragment is filled into; referents still come from the full one.
        self.frame_q = _parse(_compact(self.tokens)) if compact else self.q
        self.answer = _usable_answer(turn.answer)
        toks = self.q.tokens
        self.entity_spans = self.q.entities()
        self.entities = [toks[a:b] for a, b in self.entity_spans]
        self.nps = _noun_phrases(toks)

    def plural(self) -> list[str]:
        if _is_plural(_strip_of(self.q.head)) or self.q.head[:1] == ("of",):
            ref = _head_referent(self.q, short=self.compact)
            if ref:
                return ref
        # the last plural phrase: "the new homes for *the retired shuttles*"
        return next((np for np in reversed(self.nps) if _is_plural(np)), [])

    def named_np(self) -> list[str]:
        """The first determiner-led phrase around a name ("the Mecca crane collapse")."""
        return next((np for np in self.nps if _entities(np, 1)), [])

    def person(self) -> list[str]:
        # "Who ...?" / "Which senator ...?": the answer is who "he" or "she" is, if it looks
        # like a person's name (not "NASA")
        if (
            (
                self.q.wh_key in {"who", "whom", "whose"}
                or (self.q.wh_key == "which" and self.q.head)
            )
            and self.answer
            and _is_capitalised(self.answer[-1])
            and not re.sub(r"['’]s$", "", self.answer[-1]).isupper()
            and _looks_like_person(self.answer, ["by"])
        ):
            return self.answer
        if self.q.wh_key == "which" and self.q.head:
            return _head_referent(self.q, short=True)  # "the senator"
        if self.q.wh_key in {"who", "whom"} and not self.answer and self.q.body:
            # unanswered: "he" is whoever the question described: "the NASA administrator"
            # (from "Who is the NASA administrator?"), "the person who was arrested ..."
            if (
                (self.q.aux or "").lower() in BE
                and not _is_participle(self.q.body[0])
                and self.q.body[0].lower() in DETERMINERS
            ):
                return list(self.q.body)
            return ["the", "person", "who", *([self.q.aux] if self.q.aux else []), *self.q.body]
        toks = self.q.tokens
        return next(
            (toks[a:b] for a, b in self.entity_spans if _looks_like_person(toks[a:b], toks[:a])), []
        )

    def place(self) -> list[str]:
        if self.q.wh_key == "where" and self.answer:
            return self.answer
        low = _low(self.q.tokens)
        return next(
            (
                self.q.tokens[a:b]
                for a, b in reversed(self.entity_spans)
                if a > 0 and low[a - 1] in {"in", "at", "to", "from", "near"}
            ),
            [],
        )

    def topic(self) -> list[str]:
        # a topic this turn itself carried over is still the conversation's topic
        ref = _head_referent(self.q, short=self.compact) or self.named_np() or self.note
        if ref:
            return ref
        content = [t for t in self.q.body if t.lower() not in RETRIEVAL_STOPWORDS]
        return content or [t for t in self.q.tokens if t.lower() not in RETRIEVAL_STOPWORDS]


class _Context:
    """What the earlier turns offer as referents: the last turn first, then up to
    ``LOOKBACK`` older ones for a pronoun the last turn has nothing to agree with
    ("Who announced the homes for the shuttles?" / "What did he say?" / "Where will *they*
    be displayed?")."""

    def __init__(self, turns: Sequence[Turn], compact: bool = False) -> None:
        self.compact = compact
        self.frames = [_Frame(t, compact) for t in reversed(turns[-LOOKBACK:])]
        last = self.frames[0]
        self.tokens, self.q, self.entities = last.tokens, last.frame_q, last.entities

    def _first(self, pick: Callable[[_Frame], list[str]]) -> list[str]:
        return next((r for r in map(pick, self.frames) if r), [])

    def plural(self) -> list[str]:
        last = self.frames[0]
        if last.q.wh_key in {"who", "whom"} and last.answer and _is_plural(last.answer):
            return last.answer
        return (
            self._first(_Frame.plural)
            or self._first(_Frame.named_np)
            or last.answer
            or self.topic()
        )

    def neuter(self, *, owner: bool = False) -> list[str]:
        last = self.frames[0]
        if (
            last.q.wh_key in {"which", "what"}
            and last.answer
            and not any(c.isdigit() for t in last.answer for c in t)
            and (_strip_of(last.q.head) or (last.q.aux or "").lower() in DO)
        ):
            # "Which shuttle was lost in 2003?" "Columbia" "How did *it* ...";
            # "What did NASA announce?" "new homes ..." "Who announced *it*?"
            # (not a quantity: "70 percent" owns no "its main rival")
            return last.answer
        # After "How many containers did North Korea ship to Russia?", "Who reported it?"
        # means the shipment: the counted head with its clause. An owner ("its capital")
        # is a name instead.
        event = (
            _head_referent(last.q, short=self.compact)
            if last.q.wh_key in {"how many", "how much"} and not owner
            else []
        )
        return (
            last.named_np()
            or event
            or (last.entities[0] if last.entities else [])
            or _head_referent(last.q, short=True)
            or (last.nps[0] if last.nps else [])
            or last.answer
            or self.topic()
        )

    def person(self) -> list[str]:
        last = self.frames[0]
        return (
            self._first(_Frame.person)
            or (last.nps[0] if last.nps else [])
            or (last.entities[0] if last.entities else [])
            or last.answer
        )

    def place(self) -> list[str]:
        last = self.frames[0]
        return (
            self._first(_Frame.place) or (last.entities[-1] if last.entities else []) or last.answer
        )

    def event(self) -> list[str]:
        return self.frames[0].answer or self.topic()

    def topic(self) -> list[str]:
        """The previous question's subject matter, for a question with none of its own."""
        return self.frames[0].topic()


def _pronoun_referent(ctx: _Context, word: str, nxt: str | None) -> list[str] | None:
    w = word.lower()
    if w in PLURAL_PRONOUNS:
        if w in {"those", "these"} and nxt and nxt.lower() not in AUX | PREPOSITIONS:
            return None  # a determiner ("those troops"): handled as context, not replaced
        return ctx.plural()
    if w in NEUTER_PRONOUNS:
        return ctx.neuter(owner=w == "its")
    if w in PERSON_PRONOUNS:
        return ctx.person()
    if w == "there":
        return ctx.place()
    if w in {"that", "this"} and (nxt is None or nxt.lower() in AUX | PREPOSITIONS):
        return ctx.event()
    return None


def _possessive(phrase: list[str]) -> list[str]:
    last = phrase[-1]
    return [*phrase[:-1], last + ("'" if last.lower().endswith("s") else "'s")]


def _replace_pronouns(tokens: list[str], ctx: _Context) -> tuple[list[str], bool]:
    out: list[str] = []
    changed = False
    own = _entities(tokens, 1)
    asked = _parse(tokens)
    # ... but not across a copula: in "Which browser is its main rival?" the browser asked
    # about cannot be its own rival
    head_asked = (
        asked.wh_key in {"which", "what", "whose"}
        and bool(asked.head)
        and (asked.aux or "").lower() not in BE
    )
    for i, tok in enumerate(tokens):
        w = tok.lower()
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        # "Did Discovery complete its last mission?": a possessive or subject pronoun after a
        # name of the question's own refers to that name, not to the previous turn.
        if (w in POSSESSIVES or w in SUBJECT_PRONOUNS) and any(b <= i for _, b in own):
            out.append(tok)
            continue
        # "Which company invited him to its science fair?": "its" is the company asked about
        if w in {"its", "their"} and head_asked:
            out.append(tok)
            continue
        if w == "there" and (
            (nxt is not None and nxt.lower() in BE)
            or (i > 0 and tokens[i - 1].lower() in BE and nxt is not None)
        ):
            out.append(tok)  # existential: "there were ...", "were there any ..."
            continue
        ref = _pronoun_referent(ctx, tok, nxt)
        if not ref:
            out.append(tok)
            continue
        possessive = w in {"its", "their"} or (
            w in {"his", "her"}
            and nxt is not None
            and nxt.lower() not in PREPOSITIONS
            and nxt.lower() not in AUX
        )
        if possessive:
            # "the troops North Korea sent to Russia's commander" reads wrong: possessives
            # take the short form of a clause-bearing referent ("the troops'")
            if ref[:1] == ["the"] and len(ref) > 4:
                ref = (_strip_of(ctx.q.head) and _head_referent(ctx.q, short=True)) or ref[:4]
            out.extend(_possessive(list(ref)))
        else:
            if w in {"there"} and ref and ref[0].lower() not in PREPOSITIONS:
                ref = ["in", *ref]
            out.extend(ref)
        changed = True
    return out, changed
