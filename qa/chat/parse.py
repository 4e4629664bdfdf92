"""A shallow parse of questions for follow-up resolution: wh-phrase, head, auxiliary,
body, and the names and noun phrases in them. Plain Python, no model."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from qa.text import (
    AUX,
    BE,
    CHAT_TOKEN,
    DETERMINERS,
    DO,
    HEADED_WH,
    HOW_MODIFIERS,
    IRREGULAR_PARTICIPLES,
    IRREGULAR_PAST,
    IRREGULAR_PAST_FORMS,
    NAME_LINKS,
    NEUTER_PRONOUNS,
    NOT_PARTICIPLES,
    NOT_PLURAL,
    PLURAL_NOUNS,
    PLURAL_PRONOUNS,
    PREPOSITIONS,
    SUBJECT_PRONOUNS,
    WH_WORDS,
)


def _words(text: str) -> list[str]:
    return CHAT_TOKEN.findall(text)


def _low(tokens: Sequence[str]) -> list[str]:
    return [t.lower() for t in tokens]


def _is_capitalised(token: str) -> bool:
    return token[:1].isupper() and token != "I"


def _is_participle(token: str) -> bool:
    t = token.lower()
    if not t.isalpha() or t in NOT_PARTICIPLES or _is_capitalised(token):
        return False
    return t in IRREGULAR_PARTICIPLES or (len(t) > 4 and t.endswith(("ed", "en")))


def _is_past(token: str) -> bool:
    return _is_participle(token) or token.lower() in IRREGULAR_PAST_FORMS


def _is_plural(tokens: Sequence[str]) -> bool:
    if not tokens:
        return False
    last = tokens[-1].lower()
    return last in PLURAL_NOUNS or (
        last.endswith("s") and not last.endswith("ss") and last not in NOT_PLURAL
    )


def _past(verb: str) -> str:
    """The simple past of a base-form verb, for turning "did X send" into "X sent"."""
    v = verb.lower()
    if v in IRREGULAR_PAST:
        return IRREGULAR_PAST[v]
    if not v.isalpha():
        return verb
    if v.endswith("e"):
        return verb + "d"
    if v.endswith("y") and len(v) > 2 and v[-2] not in "aeiou":
        return verb[:-1] + "ied"
    if re.fullmatch(r"[^aeiou]*[aeiou][bdgmnprt]", v):
        return verb + verb[-1] + "ed"
    return verb + "ed"


def _entities(tokens: Sequence[str], start: int = 0) -> list[tuple[int, int]]:
    """Runs of capitalised tokens (with "of"/"the" links) as (start, end) token ranges."""
    spans: list[tuple[int, int]] = []
    i = start
    while i < len(tokens):
        if _is_capitalised(tokens[i]) or (tokens[i][:1].isdigit() and "-" in tokens[i]):
            j = i + 1
            while j < len(tokens):
                if _is_capitalised(tokens[j]):
                    j += 1
                elif (
                    tokens[j].lower() in NAME_LINKS
                    and j + 1 < len(tokens)
                    and _is_capitalised(tokens[j + 1])
                ):
                    j += 2
                else:
                    break
            spans.append((i, j))
            i = j
        else:
            i += 1
    return spans


@dataclass(frozen=True)
class _Question:
    """A shallow parse of a question: ``wh`` ``head`` ``aux`` ``body``."""

    wh: tuple[str, ...]
    head: tuple[str, ...]
    aux: str | None
    body: tuple[str, ...]

    @property
    def tokens(self) -> list[str]:
        return [*self.wh, *self.head, *([self.aux] if self.aux else []), *self.body]

    @property
    def wh_key(self) -> str:
        return " ".join(_low(self.wh))

    def entities(self) -> list[tuple[int, int]]:
        """Entity spans in ``tokens``, skipping a capitalised question word at the start."""
        tokens = self.tokens
        skip = len(self.wh) + (1 if not self.wh and self.aux else 0)
        return _entities(tokens, skip)


def _wh_length(low: Sequence[str]) -> int:
    if not low or low[0] not in WH_WORDS:
        return 0
    if low[0] == "how" and len(low) > 1 and low[1] in HOW_MODIFIERS:
        return 2
    return 1


def _parse(tokens: Sequence[str]) -> _Question:
    low = _low(tokens)
    n = _wh_length(low)
    if n == 0:
        if low and low[0] in AUX:
            return _Question((), (), tokens[0], tuple(tokens[1:]))
        return _Question((), (), None, tuple(tokens))
    wh = tuple(tokens[:n])
    key = " ".join(low[:n])
    rest = list(range(n, len(tokens)))
    aux_at = next((i for i in rest if low[i] in AUX), None)
    if key in HEADED_WH:
        # "What happened to the troops that were sent ...": a verb before the auxiliary means
        # the wh-word is the subject, not the determiner of a head noun
        if (
            aux_at is not None
            and key not in {"how many", "how much"}
            and any(_is_past(t) for t in tokens[n:aux_at])
        ):
            aux_at = None
        if aux_at is not None and aux_at - n <= 12:
            return _Question(
                wh, tuple(tokens[n:aux_at]), tokens[aux_at], tuple(tokens[aux_at + 1 :])
            )
        if key in {"how many", "how much"}:
            # "How many people died in ...": the head ends before the first verb-like word.
            end = next(
                (
                    i
                    for i in rest
                    if i > n and (_is_participle(tokens[i]) or low[i] in IRREGULAR_PAST_FORMS)
                ),
                min(n + 1, len(tokens)),
            )
            return _Question(wh, tuple(tokens[n:end]), None, tuple(tokens[end:]))
        # "Which company invited him ...": a one-word head before a past-tense verb
        if (
            len(tokens) > n + 1
            and not _is_past(tokens[n])
            and _is_past(tokens[n + 1])
            and not _is_capitalised(tokens[n])
        ):
            return _Question(wh, (tokens[n],), None, tuple(tokens[n + 1 :]))
        return _Question(wh, (), None, tuple(tokens[n:]))
    if aux_at == n:
        return _Question(wh, (), tokens[n], tuple(tokens[n + 1 :]))
    return _Question(wh, (), None, tuple(tokens[n:]))


def _subject_length(body: Sequence[str], *, greedy: bool = False) -> int:
    """How many leading tokens of ``body`` form its subject (a guess: a name, a pronoun,
    "the X", "the X of Y"). ``greedy`` takes every word up to an auxiliary, preposition or
    participle ("the retired shuttles"), which is safe only where no verb follows the subject
    directly (after "will", "was", ...; not after "did")."""
    if not body:
        return 0
    spans = _entities(body)
    if spans and spans[0][0] == 0:
        return spans[0][1]
    low = _low(body)
    if low[0] not in DETERMINERS or len(body) < 2:
        return 1
    spans = _entities(body, 1)
    if spans and spans[0][0] == 1:
        n = spans[0][1]
    elif greedy:
        phrases = _noun_phrases(["the", *body[1:]])
        n = len(phrases[0]) if phrases and phrases[0] == ["the", *body[1 : len(phrases[0])]] else 2
    else:
        n = 2
    # "the population of Taipei", "the governor of Washington"
    if n + 1 < len(body) and low[n] == "of":
        spans = _entities(body, n + 1)
        if spans and spans[0][0] == n + 1:
            return spans[0][1]
        if low[n + 1] in DETERMINERS and n + 2 < len(body):
            return n + 3
    return n


def _do_subject_length(body: Sequence[str]) -> int:
    """The subject of "did/does/do SUBJECT VERB ...": where the verb to put in the past is.
    A name or pronoun ends where it ends; an uncapitalised subject ("did north korea send to
    russia", "did the crane kill 107 people") runs up to the word before the first
    preposition, determiner, number or name that follows it."""
    n = _subject_length(body)
    if (
        not body
        or _is_capitalised(body[0])
        or body[0].lower() in SUBJECT_PRONOUNS | {"we", "you", "i"}
        or (len(body) > 1 and body[0].lower() in DETERMINERS and _is_capitalised(body[1]))
    ):
        return n
    floor = 1 if body[0].lower() in DETERMINERS else 0
    for i in range(1, len(body)):
        w = body[i]
        if (
            w.lower() in PREPOSITIONS
            or w.lower() in DETERMINERS
            or w[:1].isdigit()
            or _is_capitalised(w)
        ):
            return max(i - 1, floor)
    return max(len(body) - 1, floor)


def _compact(tokens: list[str]) -> list[str]:
    """A resolved question without what only retrieval needs: the clause on a carried head
    ("of the troops [North Korea sent to Russia]") and trailing prepositional phrases
    ("How many people were killed [in the Mecca crane collapse]")."""
    q = _parse(tokens)
    head = list(q.head)
    if head[:1] and head[0].lower() == "of":
        k = 1
        while (
            k < len(head)
            and not _is_capitalised(head[k])
            and not _is_participle(head[k])
            and head[k].lower() not in IRREGULAR_PAST_FORMS
            and head[k].lower() != "that"
        ):
            k += 1
        head = head[:k]
    body = list(q.body)
    participles = [i for i, t in enumerate(body) if _is_participle(t)]
    if q.aux and q.aux.lower() in DO:
        start = _do_subject_length(body) + 1
    elif participles:
        start = participles[0] + 1
    elif q.aux:
        start = _subject_length(body, greedy=True)
    else:
        start = 1
    # not at "of" (part of a name or phrase) nor an infinitive's "to" ("believed to have")
    cut = next(
        (
            i
            for i in range(start, len(body))
            if body[i].lower() in PREPOSITIONS
            and body[i].lower() != "of"
            and not (
                body[i].lower() == "to"
                and i + 1 < len(body)
                and body[i + 1].lower() in {"have", "be", "had"}
            )
        ),
        len(body),
    )
    return [*q.wh, *head, *([q.aux] if q.aux else []), *body[:cut]]


def _starts_with_subject(body: Sequence[str]) -> bool:
    if not body:
        return False
    first = body[0]
    return (
        _is_capitalised(first)
        or first.lower() in DETERMINERS
        or first.lower() in SUBJECT_PRONOUNS
        or first.lower() in {"we", "you", "i"}
    )


def _relative(q: _Question) -> list[str]:
    """The rest of a headed question as a relative clause on its head noun:
    "How many troops did North Korea send to Russia" -> "North Korea sent to Russia"."""
    body = list(q.body)
    if q.aux is None:
        return ["that", *body] if body else []
    aux = q.aux.lower()
    if aux in DO:
        n = _do_subject_length(body)
        if n >= len(body):
            return body
        verb = body[n]
        verb = _past(verb) if aux == "did" else (verb + "s" if aux == "does" else verb)
        return [*body[:n], verb, *body[n + 1 :]]
    if aux in BE and body and _is_participle(body[0]):
        return body  # "the people killed in the stampede"
    if _starts_with_subject(body):
        n = _subject_length(body)
        return ["that", *body[:n], q.aux, *body[n:]]
    return ["that", q.aux, *body]


def _strip_of(head: Sequence[str]) -> list[str]:
    return list(head[1:]) if head and head[0].lower() == "of" else list(head)


def _head_referent(q: _Question, *, short: bool = False) -> list[str]:
    """The noun phrase a "they"/"them" points at: the head of "how many troops ...", with
    the rest of the question as a relative clause ("the troops North Korea sent to Russia")."""
    head = _strip_of(q.head)
    if not head:
        return []
    if head[0].lower() in PLURAL_PRONOUNS | NEUTER_PRONOUNS:
        return []
    phrase = head if head[0].lower() in DETERMINERS else ["the", *head]
    if short or q.head[0].lower() == "of":
        return phrase  # an "of the troops ..." head already carries its clause
    return [*phrase, *_relative(q)]


def _noun_phrases(tokens: Sequence[str]) -> list[list[str]]:
    """Determiner-led noun phrases ("the retired shuttles", "the crane") in order."""
    out = []
    low = _low(tokens)
    for i, w in enumerate(low):
        if w in {"the", "a", "an"} and i + 1 < len(tokens):
            j = i + 1
            words = 0
            # a participle right after the determiner is an adjective ("the retired shuttles")
            while j < len(tokens) and words < 3:
                if (
                    low[j] in NAME_LINKS
                    and j + 1 < len(tokens)
                    and j > i + 1
                    and _is_capitalised(tokens[j - 1])
                    and _is_capitalised(tokens[j + 1])
                ):
                    j += 2  # "the Church of Scientology website"
                    continue
                if (
                    low[j] in AUX | BE
                    or low[j] in PREPOSITIONS
                    or (_is_participle(tokens[j]) and j > i + 1)
                    # a name after common nouns starts a new phrase ("the ammunition
                    # containers | North Korea shipped")
                    or (
                        j > i + 1
                        and _is_capitalised(tokens[j])
                        and not _is_capitalised(tokens[j - 1])
                    )
                ):
                    break
                j += 1
                words += 1
            for k in range(i + 1, j):
                if tokens[k].endswith(("'s", "’s")):
                    # "the Afghan team's coach": the owner is the phrase
                    j = k + 1
                    break
            if j > i + 1:
                phrase = list(tokens[i:j])
                phrase[-1] = re.sub(r"['’]s$", "", phrase[-1])
                out.append(phrase)
    return out
