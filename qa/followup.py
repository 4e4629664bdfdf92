"""Follow-up questions made self-contained, offline: plain Python over the chat history.

"How many of them were killed?" after "How many troops did North Korea send to Russia?"
becomes a question retrieval can use on its own. No model runs here (this is on every chat
turn's path); the rules lean on question shape, capitalisation and the earlier turns.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from qa.store import STOPWORDS


@dataclass(frozen=True)
class Turn:
    question: str
    searched_query: str
    answer: str


_TOKEN = re.compile(r"\w[\w'’&.-]*\w|\w")


def _wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


_WH_WORDS = _wordset(
    "what which who whom whose where when why how")
_HOW_MODIFIERS = _wordset(
    "many much long far old large big tall high often soon deep wide heavy fast")
_HEADED_WH = frozenset({"how many", "how much", "what", "which", "whose"})
_DO = frozenset({"did", "does", "do"})
_BE = frozenset({"was", "were", "is", "are", "be", "been", "being"})
_AUX = _DO | (_BE - {"be", "been", "being"}) | _wordset(
    "will would can could has have had should may might must shall")
_CONJUNCTIONS = _wordset(
    "and but so ok okay also then well now oh right hmm um uh er please")
# Requests that read as questions: "Tell me more", "Explain it", "More details?"
_IMPERATIVES = _wordset(
    "tell give show explain describe list say elaborate summarise summarize continue go more "
    "anything details detail")
_CUE_PHRASES = (("what", "about"), ("how", "about"), ("what", "of"), ("as", "for"),
                ("same", "for"), ("same", "with"), ("and", "for"), ("what", "abt"))
_DETERMINERS = _wordset(
    "the a an this that these those its their his her our")
_PREPOSITIONS = _wordset(
    "in at on to from by for with during after before since until near into of over "
    "under about against between among off across through inside outside around along per "
    "via toward towards onto within without behind beyond above below")
# Capitalised words inside a name ("Church of Scientology", "Institute for the Study of War").
_NAME_LINKS = frozenset({"of", "the", "for", "de", "&"})

_PLURAL_PRONOUNS = frozenset({"they", "them", "their", "theirs", "those", "these"})
_NEUTER_PRONOUNS = frozenset({"it", "its"})
_PERSON_PRONOUNS = frozenset({"he", "him", "his", "she", "her", "hers"})
_POSSESSIVES = frozenset({"its", "their", "his", "her"})
_ALL_PRONOUNS = _PLURAL_PRONOUNS | _NEUTER_PRONOUNS | _PERSON_PRONOUNS | {"that", "this", "there"}
_SUBJECT_PRONOUNS = frozenset({"he", "she", "they", "it"})
_PLURAL_NOUNS = _wordset(
    "people children men women police staff personnel crew troops cattle folk")
_NOT_PLURAL = _wordset(
    "is was has does its this us news series species bus gas")
# Words that end like participles but are not ones.
_NOT_PARTICIPLES = _wordset(
    "children women men often seven eleven hundred garden kitchen when then even open "
    "citizen token golden wooden sudden heaven red bed need feed seed speed shed hundred "
    "indeed united ahead")
_IRREGULAR_PARTICIPLES = _wordset(
    "sent hurt held built lost won made taken given found left sold paid shot born known "
    "shown seen done gone brought bought caught kept told said struck hit put set cut stolen "
    "written chosen spoken broken grown led felt fought taught thought drawn driven ridden "
    "risen hidden worn stood sunk swum dead alive missing safe ill sick homeless displaced "
    "trapped stranded hurt beaten slain flown thrown begun run become")
_IRREGULAR_PAST = {
    "send": "sent", "give": "gave", "take": "took", "make": "made", "get": "got",
    "find": "found", "go": "went", "come": "came", "see": "saw", "say": "said", "tell": "told",
    "leave": "left", "bring": "brought", "buy": "bought", "build": "built", "lose": "lost",
    "win": "won", "pay": "paid", "hold": "held", "keep": "kept", "meet": "met", "run": "ran",
    "begin": "began", "put": "put", "set": "set", "cut": "cut", "hit": "hit", "spend": "spent",
    "sell": "sold", "fall": "fell", "fly": "flew", "throw": "threw", "shoot": "shot",
    "steal": "stole", "write": "wrote", "choose": "chose", "speak": "spoke", "break": "broke",
    "know": "knew", "grow": "grew", "lead": "led", "feel": "felt", "fight": "fought",
    "catch": "caught", "teach": "taught", "think": "thought", "draw": "drew", "drive": "drove",
    "rise": "rose", "hide": "hid", "wear": "wore", "strike": "struck", "stand": "stood",
    "sink": "sank", "swim": "swam", "become": "became", "have": "had", "do": "did",
    "be": "was", "eat": "ate", "forget": "forgot", "lend": "lent", "let": "let",
    "mean": "meant", "read": "read", "seek": "sought", "shut": "shut", "sit": "sat",
    "sleep": "slept", "spread": "spread", "understand": "understood", "withdraw": "withdrew",
}
_IRREGULAR_PAST_FORMS = frozenset(_IRREGULAR_PAST.values())
# An abstention text is not something a pronoun can refer to.
_NON_ANSWER = re.compile(r"\b(not|no|cannot|can't|don't|doesn't)\b", re.I)
_PERSON_TITLES = _wordset(
    "mr mrs ms dr president senator governor minister administrator general prime king queen "
    "pope ambassador director secretary spokesman spokeswoman chairman ceo judge")
_NON_PERSON_WORDS = _wordset(
    "center centre museum space church ministry agency university department council "
    "committee institute school airport hotel mosque city state republic union nations "
    "association bridge company corporation party army navy force news korea kingdom "
    "complex station program programme festival expo cup shuttle")
_TIMES = _wordset("today now currently nowadays yesterday tomorrow recently")
_LOOKBACK = 3
"""Earlier turns searched for a referent, most recent first."""
_YEAR = re.compile(r"^(1[5-9]|20)\d\d$")


def _words(text: str) -> list[str]:
    return _TOKEN.findall(text)


def _low(tokens: Sequence[str]) -> list[str]:
    return [t.lower() for t in tokens]


def _is_capitalised(token: str) -> bool:
    return token[:1].isupper() and token != "I"


def _is_participle(token: str) -> bool:
    t = token.lower()
    if not t.isalpha() or t in _NOT_PARTICIPLES or _is_capitalised(token):
        return False
    return t in _IRREGULAR_PARTICIPLES or (len(t) > 4 and t.endswith(("ed", "en")))


def _is_past(token: str) -> bool:
    return _is_participle(token) or token.lower() in _IRREGULAR_PAST_FORMS


def _is_plural(tokens: Sequence[str]) -> bool:
    if not tokens:
        return False
    last = tokens[-1].lower()
    return last in _PLURAL_NOUNS or (
        last.endswith("s") and not last.endswith("ss") and last not in _NOT_PLURAL)


def _past(verb: str) -> str:
    """The simple past of a base-form verb, for turning "did X send" into "X sent"."""
    v = verb.lower()
    if v in _IRREGULAR_PAST:
        return _IRREGULAR_PAST[v]
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
                elif (tokens[j].lower() in _NAME_LINKS and j + 1 < len(tokens)
                      and _is_capitalised(tokens[j + 1])):
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
    if not low or low[0] not in _WH_WORDS:
        return 0
    if low[0] == "how" and len(low) > 1 and low[1] in _HOW_MODIFIERS:
        return 2
    return 1


def _parse(tokens: Sequence[str]) -> _Question:
    low = _low(tokens)
    n = _wh_length(low)
    if n == 0:
        if low and low[0] in _AUX:
            return _Question((), (), tokens[0], tuple(tokens[1:]))
        return _Question((), (), None, tuple(tokens))
    wh = tuple(tokens[:n])
    key = " ".join(low[:n])
    rest = list(range(n, len(tokens)))
    aux_at = next((i for i in rest if low[i] in _AUX), None)
    if key in _HEADED_WH:
        # "What happened to the troops that were sent ...": a verb before the auxiliary means
        # the wh-word is the subject, not the determiner of a head noun
        if (aux_at is not None and key not in {"how many", "how much"}
                and any(_is_past(t) for t in tokens[n:aux_at])):
            aux_at = None
        if aux_at is not None and aux_at - n <= 12:
            return _Question(wh, tuple(tokens[n:aux_at]), tokens[aux_at],
                             tuple(tokens[aux_at + 1:]))
        if key in {"how many", "how much"}:
            # "How many people died in ...": the head ends before the first verb-like word.
            end = next((i for i in rest if i > n and (_is_participle(tokens[i])
                                                      or low[i] in _IRREGULAR_PAST_FORMS)),
                       min(n + 1, len(tokens)))
            return _Question(wh, tuple(tokens[n:end]), None, tuple(tokens[end:]))
        # "Which company invited him ...": a one-word head before a past-tense verb
        if (len(tokens) > n + 1 and not _is_past(tokens[n]) and _is_past(tokens[n + 1])
                and not _is_capitalised(tokens[n])):
            return _Question(wh, (tokens[n],), None, tuple(tokens[n + 1:]))
        return _Question(wh, (), None, tuple(tokens[n:]))
    if aux_at == n:
        return _Question(wh, (), tokens[n], tuple(tokens[n + 1:]))
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
    if low[0] not in _DETERMINERS or len(body) < 2:
        return 1
    spans = _entities(body, 1)
    if spans and spans[0][0] == 1:
        n = spans[0][1]
    elif greedy:
        phrases = _noun_phrases(["the", *body[1:]])
        n = len(phrases[0]) if phrases and phrases[0] == ["the", *body[1:len(phrases[0])]] else 2
    else:
        n = 2
    # "the population of Taipei", "the governor of Washington"
    if n + 1 < len(body) and low[n] == "of":
        spans = _entities(body, n + 1)
        if spans and spans[0][0] == n + 1:
            return spans[0][1]
        if low[n + 1] in _DETERMINERS and n + 2 < len(body):
            return n + 3
    return n


def _do_subject_length(body: Sequence[str]) -> int:
    """The subject of "did/does/do SUBJECT VERB ...": where the verb to put in the past is.
    A name or pronoun ends where it ends; an uncapitalised subject ("did north korea send to
    russia", "did the crane kill 107 people") runs up to the word before the first
    preposition, determiner, number or name that follows it."""
    n = _subject_length(body)
    if not body or _is_capitalised(body[0]) or body[0].lower() in _SUBJECT_PRONOUNS | {
            "we", "you", "i"} or (len(body) > 1 and body[0].lower() in _DETERMINERS
                                   and _is_capitalised(body[1])):
        return n
    floor = 1 if body[0].lower() in _DETERMINERS else 0
    for i in range(1, len(body)):
        w = body[i]
        if (w.lower() in _PREPOSITIONS or w.lower() in _DETERMINERS or w[:1].isdigit()
                or _is_capitalised(w)):
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
        while (k < len(head) and not _is_capitalised(head[k]) and not _is_participle(head[k])
               and head[k].lower() not in _IRREGULAR_PAST_FORMS and head[k].lower() != "that"):
            k += 1
        head = head[:k]
    body = list(q.body)
    participles = [i for i, t in enumerate(body) if _is_participle(t)]
    if q.aux and q.aux.lower() in _DO:
        start = _do_subject_length(body) + 1
    elif participles:
        start = participles[0] + 1
    elif q.aux:
        start = _subject_length(body, greedy=True)
    else:
        start = 1
    # not at "of" (part of a name or phrase) nor an infinitive's "to" ("believed to have")
    cut = next((i for i in range(start, len(body))
                if body[i].lower() in _PREPOSITIONS and body[i].lower() != "of"
                and not (body[i].lower() == "to" and i + 1 < len(body)
                         and body[i + 1].lower() in {"have", "be", "had"})), len(body))
    return [*q.wh, *head, *([q.aux] if q.aux else []), *body[:cut]]


def _starts_with_subject(body: Sequence[str]) -> bool:
    if not body:
        return False
    first = body[0]
    return (_is_capitalised(first) or first.lower() in _DETERMINERS
            or first.lower() in _SUBJECT_PRONOUNS or first.lower() in {"we", "you", "i"})


def _relative(q: _Question) -> list[str]:
    """The rest of a headed question as a relative clause on its head noun:
    "How many troops did North Korea send to Russia" -> "North Korea sent to Russia"."""
    body = list(q.body)
    if q.aux is None:
        return ["that", *body] if body else []
    aux = q.aux.lower()
    if aux in _DO:
        n = _do_subject_length(body)
        if n >= len(body):
            return body
        verb = body[n]
        verb = _past(verb) if aux == "did" else (verb + "s" if aux == "does" else verb)
        return [*body[:n], verb, *body[n + 1:]]
    if aux in _BE and body and _is_participle(body[0]):
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
    if head[0].lower() in _PLURAL_PRONOUNS | _NEUTER_PRONOUNS:
        return []
    phrase = head if head[0].lower() in _DETERMINERS else ["the", *head]
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
                if (low[j] in _NAME_LINKS and j + 1 < len(tokens) and j > i + 1
                        and _is_capitalised(tokens[j - 1]) and _is_capitalised(tokens[j + 1])):
                    j += 2  # "the Church of Scientology website"
                    continue
                if (low[j] in _AUX | _BE or low[j] in _PREPOSITIONS
                        or (_is_participle(tokens[j]) and j > i + 1)
                        # a name after common nouns starts a new phrase ("the ammunition
                        # containers | North Korea shipped")
                        or (j > i + 1 and _is_capitalised(tokens[j])
                            and not _is_capitalised(tokens[j - 1]))):
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


def _usable_answer(answer: str) -> list[str]:
    words = _words(answer)
    # a bare number ("1") or a sentence is no referent for "it"/"he"
    if (not words or len(words) > 8 or _NON_ANSWER.search(answer)
            or not any(c.isalpha() for c in answer)):
        return []
    return words


def _looks_like_person(tokens: Sequence[str], before: Sequence[str]) -> bool:
    low = _low(tokens)
    if any(w in _NON_PERSON_WORDS for w in low):
        return False
    if before and before[-1].lower() in _PERSON_TITLES:
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
        if ((self.q.wh_key in {"who", "whom", "whose"}
             or (self.q.wh_key == "which" and self.q.head)) and self.answer
                and _is_capitalised(self.answer[-1])
                and not re.sub(r"['’]s$", "", self.answer[-1]).isupper()
                and _looks_like_person(self.answer, ["by"])):
            return self.answer
        if self.q.wh_key == "which" and self.q.head:
            return _head_referent(self.q, short=True)  # "the senator"
        if self.q.wh_key in {"who", "whom"} and not self.answer and self.q.body:
            # unanswered: "he" is whoever the question described: "the NASA administrator"
            # (from "Who is the NASA administrator?"), "the person who was arrested ..."
            if ((self.q.aux or "").lower() in _BE and not _is_participle(self.q.body[0])
                    and self.q.body[0].lower() in _DETERMINERS):
                return list(self.q.body)
            return ["the", "person", "who", *([self.q.aux] if self.q.aux else []),
                    *self.q.body]
        toks = self.q.tokens
        return next((toks[a:b] for a, b in self.entity_spans
                     if _looks_like_person(toks[a:b], toks[:a])), [])

    def place(self) -> list[str]:
        if self.q.wh_key == "where" and self.answer:
            return self.answer
        low = _low(self.q.tokens)
        return next((self.q.tokens[a:b] for a, b in reversed(self.entity_spans)
                     if a > 0 and low[a - 1] in {"in", "at", "to", "from", "near"}), [])

    def topic(self) -> list[str]:
        # a topic this turn itself carried over is still the conversation's topic
        ref = _head_referent(self.q, short=self.compact) or self.named_np() or self.note
        if ref:
            return ref
        content = [t for t in self.q.body if t.lower() not in STOPWORDS]
        return content or [t for t in self.q.tokens if t.lower() not in STOPWORDS]


class _Context:
    """What the earlier turns offer as referents: the last turn first, then up to
    ``_LOOKBACK`` older ones for a pronoun the last turn has nothing to agree with
    ("Who announced the homes for the shuttles?" / "What did he say?" / "Where will *they*
    be displayed?")."""

    def __init__(self, turns: Sequence[Turn], compact: bool = False) -> None:
        self.compact = compact
        self.frames = [_Frame(t, compact) for t in reversed(turns[-_LOOKBACK:])]
        last = self.frames[0]
        self.tokens, self.q, self.entities = last.tokens, last.frame_q, last.entities

    def _first(self, pick: Callable[[_Frame], list[str]]) -> list[str]:
        return next((r for r in map(pick, self.frames) if r), [])

    def plural(self) -> list[str]:
        last = self.frames[0]
        if last.q.wh_key in {"who", "whom"} and last.answer and _is_plural(last.answer):
            return last.answer
        return (self._first(_Frame.plural) or self._first(_Frame.named_np) or last.answer
                or self.topic())

    def neuter(self, *, owner: bool = False) -> list[str]:
        last = self.frames[0]
        if (last.q.wh_key in {"which", "what"} and last.answer
                and not any(c.isdigit() for t in last.answer for c in t)
                and (_strip_of(last.q.head) or (last.q.aux or "").lower() in _DO)):
            # "Which shuttle was lost in 2003?" "Columbia" "How did *it* ...";
            # "What did NASA announce?" "new homes ..." "Who announced *it*?"
            # (not a quantity: "70 percent" owns no "its main rival")
            return last.answer
        # After "How many containers did North Korea ship to Russia?", "Who reported it?"
        # means the shipment: the counted head with its clause. An owner ("its capital")
        # is a name instead.
        event = (_head_referent(last.q, short=self.compact)
                 if last.q.wh_key in {"how many", "how much"} and not owner else [])
        return (last.named_np() or event or (last.entities[0] if last.entities else [])
                or _head_referent(last.q, short=True) or (last.nps[0] if last.nps else [])
                or last.answer or self.topic())

    def person(self) -> list[str]:
        last = self.frames[0]
        return (self._first(_Frame.person) or (last.nps[0] if last.nps else [])
                or (last.entities[0] if last.entities else []) or last.answer)

    def place(self) -> list[str]:
        last = self.frames[0]
        return (self._first(_Frame.place) or (last.entities[-1] if last.entities else [])
                or last.answer)

    def event(self) -> list[str]:
        return self.frames[0].answer or self.topic()

    def topic(self) -> list[str]:
        """The previous question's subject matter, for a question with none of its own."""
        return self.frames[0].topic()


def _pronoun_referent(ctx: _Context, word: str, nxt: str | None) -> list[str] | None:
    w = word.lower()
    if w in _PLURAL_PRONOUNS:
        if w in {"those", "these"} and nxt and nxt.lower() not in _AUX | _PREPOSITIONS:
            return None  # a determiner ("those troops"): handled as context, not replaced
        return ctx.plural()
    if w in _NEUTER_PRONOUNS:
        return ctx.neuter(owner=w == "its")
    if w in _PERSON_PRONOUNS:
        return ctx.person()
    if w == "there":
        return ctx.place()
    if w in {"that", "this"} and (nxt is None or nxt.lower() in _AUX | _PREPOSITIONS):
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
    head_asked = (asked.wh_key in {"which", "what", "whose"} and bool(asked.head)
                  and (asked.aux or "").lower() not in _BE)
    for i, tok in enumerate(tokens):
        w = tok.lower()
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        # "Did Discovery complete its last mission?": a possessive or subject pronoun after a
        # name of the question's own refers to that name, not to the previous turn.
        if (w in _POSSESSIVES or w in _SUBJECT_PRONOUNS) and any(b <= i for _, b in own):
            out.append(tok)
            continue
        # "Which company invited him to its science fair?": "its" is the company asked about
        if w in {"its", "their"} and head_asked:
            out.append(tok)
            continue
        if w == "there" and ((nxt is not None and nxt.lower() in _BE)
                             or (i > 0 and tokens[i - 1].lower() in _BE and nxt is not None)):
            out.append(tok)  # existential: "there were ...", "were there any ..."
            continue
        ref = _pronoun_referent(ctx, tok, nxt)
        if not ref:
            out.append(tok)
            continue
        possessive = w in {"its", "their"} or (
            w in {"his", "her"} and nxt is not None and nxt.lower() not in _PREPOSITIONS
            and nxt.lower() not in _AUX)
        if possessive:
            # "the troops North Korea sent to Russia's commander" reads wrong: possessives
            # take the short form of a clause-bearing referent ("the troops'")
            if ref[:1] == ["the"] and len(ref) > 4:
                ref = (_strip_of(ctx.q.head) and _head_referent(ctx.q, short=True)) or ref[:4]
            out.extend(_possessive(list(ref)))
        else:
            if w in {"there"} and ref and ref[0].lower() not in _PREPOSITIONS:
                ref = ["in", *ref]
            out.extend(ref)
        changed = True
    return out, changed


def _split_cue(tokens: list[str]) -> tuple[list[str], bool, bool]:
    """Strip leading "and"/"so"/... and a "what about"-style cue.
    Returns (rest, had_conjunction, had_cue)."""
    i = 0
    low = _low(tokens)
    had_conj = False
    while i < len(tokens) - 1 and low[i] in _CONJUNCTIONS:
        # "what about"/"and for" may start with a conjunction-like word
        if tuple(low[i:i + 2]) in _CUE_PHRASES:
            break
        had_conj = True
        i += 1
    if tuple(low[i:i + 2]) in _CUE_PHRASES and i + 2 < len(tokens):
        return list(tokens[i + 2:]), had_conj, True
    return list(tokens[i:]), had_conj, False


def _with_head(q: _Question, wh: tuple[str, ...]) -> list[str]:
    """The previous question asked with another wh-word: "How many troops did North Korea
    send to Russia?" + "When?" -> "When did North Korea send troops to Russia"."""
    head = _strip_of(q.head)
    body = list(q.body)
    if head and q.aux and q.aux.lower() in _DO:
        n = min(_do_subject_length(body) + 1, len(body))
        body = [*body[:n], *head, *body[n:]]
    elif head and q.aux:
        body = [*head, *body] if not _starts_with_subject(body) else [*body, *head]
    elif head:
        body = [*head, *body]
    return [*wh, *([q.aux] if q.aux else []), *body]


def _core(focus: Sequence[str]) -> list[str]:
    return list(focus[1:] if focus[0].lower() in {"the", "a", "an"} and len(focus) > 1
                else focus)


def _focus_kind(focus: Sequence[str]) -> str:
    """What slot a fragment fills: "pp" (in 2016), "predicate" (wounded), "year" (2016),
    "time" (today), "name" (Endeavour) or "noun" (the missiles)."""
    core = _core(focus)
    if focus[0].lower() in _PREPOSITIONS and len(focus) > 1:
        return "pp"
    if len(core) == 1 and _is_participle(core[0]):
        return "predicate"
    if len(core) == 1 and _YEAR.match(core[0]):
        return "year"
    if " ".join(_low(focus)) in _TIMES or (
            len(focus) == 2 and focus[0].lower() in {"this", "last", "next"}):
        return "time"
    if any(_is_capitalised(t) for t in core):
        return "name"
    return "noun"


def _fill_fragment(ctx: _Context, wh: list[str], focus: list[str]) -> list[str]:
    """Put the fragment ``focus`` (maybe led by a wh-word) in the previous question's slot."""
    q = ctx.q
    toks = list(q.tokens)
    low = _low(toks)
    if wh and " ".join(_low(wh)) != q.wh_key:
        toks = _with_head(q, tuple(wh))
        q = _parse(toks)
        low = _low(toks)
    if not focus:
        return toks
    flow = _low(focus)
    core = _core(focus)
    kind = _focus_kind(focus)
    # "in 2016", "by the navy": replace the previous phrase with the same preposition
    if kind == "pp":
        for i in range(len(low) - 1, len(q.wh) - 1, -1):
            if low[i] == flow[0]:
                j = i + 1
                while j < len(toks) and low[j] not in _PREPOSITIONS and low[j] not in _AUX:
                    j += 1
                return [*toks[:i], *focus, *toks[j:]]
        return [*toks, *focus]
    # "wounded", "the injured", "missing": the predicate
    if kind == "predicate":
        # the last participle after "were"/"be"/"been" ("were *killed*", "are believed to
        # have been *killed*"), else the last one
        slots = [i for i in range(len(q.wh), len(toks)) if _is_participle(toks[i])]
        after_be = [i for i in slots if low[i - 1] in _BE]
        if slots:
            i = after_be[-1] if after_be else slots[-1]
            return [*toks[:i], core[0], *toks[i + 1:]]
        if q.wh_key in {"how many", "how much"}:
            ref = _head_referent(q, short=ctx.compact)
            if ref:
                return [*q.wh, "of", *ref, "were", core[0]]
        return [*toks, core[0]]
    # "today", "last year": a time replaces the phrase with a year ("in 2009"), or a year
    if kind == "time":
        for i, t in enumerate(toks):
            if _YEAR.match(t):
                a = i - 1 if i > 0 and low[i - 1] in _PREPOSITIONS else i
                return [*toks[:a], *focus, *toks[i + 1:]]
        return [*toks, *focus]
    # "2016": a year replaces a year
    if kind == "year":
        for i, t in enumerate(toks):
            if _YEAR.match(t):
                return [*toks[:i], core[0], *toks[i + 1:]]
        return [*toks, "in", core[0]]
    # "Endeavour", "the Enterprise": a name takes the place of the previous question's
    # subject, else of the phrase around its first name, else of its first name
    if kind == "name":
        target = _name_slot(q)
        if target:
            a, b = target
            return [*toks[:a], *focus, *toks[b:]]
        if _strip_of(q.head):
            return _replace_head(q, focus)
        return [*toks, *focus]
    # "artillery", "the missiles": a common noun replaces the head noun, else the subject;
    # but like replaces like: a singular "the stampede" takes the place of a subject that is
    # also "the ..." ("How many people did the crane kill?")
    target = _name_slot(q)
    definite = (focus[0].lower() in {"the", "a", "an"} and not _is_plural(core)
                and target is not None and toks[target[0]].lower() in {"the", "a", "an"})
    if _strip_of(q.head) and not definite:
        return _replace_head(q, core)
    if target:
        a, b = target
        return [*toks[:a], *focus, *toks[b:]]
    return [*toks, *focus]


def _name_slot(q: _Question) -> tuple[int, int] | None:
    """The token range a new name replaces: the subject after the auxiliary ("Where will
    *Discovery* be displayed?"), else the phrase around the first name ("killed in *the Mecca
    crane collapse*"), else the first name, else the first noun phrase."""
    toks = q.tokens
    body_at = len(toks) - len(q.body)
    if (q.aux and q.body and q.body[0].lower() not in _SUBJECT_PRONOUNS
            and (q.aux.lower() in _DO or _starts_with_subject(q.body))):
        if q.aux.lower() in _DO:
            return body_at, body_at + _do_subject_length(q.body)
        return body_at, body_at + _subject_length(q.body, greedy=True)
    spans = q.entities()
    nps = _noun_phrases(toks)
    for np in nps:
        if _entities(np, 1):
            for i in range(len(q.wh), len(toks)):
                if toks[i:i + len(np)] == np:
                    return i, i + len(np)
    if spans:
        return spans[0]
    for np in nps:
        for i in range(len(q.wh), len(toks)):
            if toks[i:i + len(np)] == np:
                return i, i + len(np)
    return None


def _replace_head(q: _Question, noun: Sequence[str]) -> list[str]:
    return [*q.wh, *noun, *([q.aux] if q.aux else []), *q.body]


def _is_fragment(rest: list[str], had_cue: bool) -> bool:
    low = _low(rest)
    if had_cue:
        return True
    n = _wh_length(low)
    if n:
        # "When?", "How many wounded?"; but "What caused it?" is a question of its own
        after = rest[n:]
        return not after or (low[0] == "how" and len(after) == 1 and _is_participle(after[0]))
    if low[0] in _AUX or low[0] in _IMPERATIVES:
        return False  # "Were they killed?", "Tell me more": full questions
    return len(rest) <= 4


def _finish(tokens: Sequence[str]) -> str:
    text = " ".join(tokens).strip().replace(" ,", ",")
    return (text[:1].upper() + text[1:] + "?") if text else text


def resolve_followup(question: str, history: Sequence[Turn], *, compact: bool = False) -> str:
    """The self-contained question to search for ``question`` after ``history``.

    A question that needs nothing from the history comes back unchanged. ``compact`` gives
    the form to *answer* instead: the same rewrite with only the short form of what is
    carried over ("How many of the troops were wounded?" rather than "How many of the troops
    North Korea sent to Russia were wounded?"). Retrieval needs every topic word to find the
    passage; the answerer already has the passage, and there the carried words ("sent",
    "Russia") sit next to the *previous* answer (11,000) and would pull the span back to it.
    """
    tokens = _words(question)
    if not history or not tokens:
        return question
    ctx = _Context(history, compact)
    if not ctx.tokens:
        return question
    rest, had_conj, had_cue = _split_cue(tokens)
    low = _low(rest)
    if all(w in _CONJUNCTIONS for w in low):
        return _finish(ctx.q.tokens)  # "And?", "So?": go on about the same thing
    if (len(rest) == 4 and low[:2] in (["how", "many"], ["how", "much"]) and low[2] in _BE
            and _is_participle(rest[3]) and ctx.q.wh_key == " ".join(low[:2])):
        # "And how many were wounded?" after "How many ... were killed?" is "And wounded?"
        return _finish(_fill_fragment(ctx, [], rest[3:]))
    if _is_fragment(rest, had_cue):
        n = _wh_length(_low(rest))
        if any(w in _WH_WORDS for w in _low(rest[n:])):
            # "According to whom?", "In which year?": the previous question, asked again
            # with the wh-phrase the fragment brings
            lead = rest[0].lower() if not _entities(rest[:1]) or rest[0].lower() in (
                _PREPOSITIONS | _WH_WORDS | {"according"}) else rest[0]
            return _finish([*ctx.q.tokens, ",", lead, *rest[1:]])
        focus, _ = _replace_pronouns(rest[n:], ctx)  # "And its mayor?"
        if focus and all(w.lower() in _ALL_PRONOUNS for w in rest[n:]):
            return _finish(["What", "about", *focus])  # "What about them?"
        last = ctx.frames[0]
        if last.note and not n and focus and _focus_kind(focus) in {"name", "noun"}:
            # "What was the death toll (the Mecca crane collapse)?" + "And the Hajj stampede?":
            # the appended topic is what a new name replaces
            return _finish([*last.tokens, f"({' '.join(focus)})"])
        return _finish(_fill_fragment(ctx, rest[:n], focus))
    resolved, changed = _replace_pronouns(rest, ctx)
    low = _low(resolved)
    # "How many were wounded?": the head the previous question counted
    if (len(low) > 2 and " ".join(low[:2]) in {"how many", "how much"} and low[2] in _AUX):
        ref = _head_referent(ctx.q, short=compact)
        if ref:
            resolved = [*resolved[:2], "of", *ref, *resolved[2:]]
            changed = True
    if not changed:
        # "And what was the death toll?", "What caused it?": a question with no name of its
        # own that leans on the previous turn gets that turn's topic appended.
        short = len([t for t in resolved if t.lower() not in STOPWORDS]) <= 2
        if (had_conj or short) and not _entities(resolved, 1) and not compact:
            topic = ctx.topic()
            if topic:
                return _finish([*resolved, f"({' '.join(topic)})"])
        if had_conj:
            return _finish(resolved)
        return question
    return _finish(resolved)


def only_topic_appended(resolved: str, question: str) -> bool:
    """True when resolving did nothing but append the previous topic as a note."""
    return resolved != question and _words(_CONTEXT_NOTE.sub("", resolved)) == _words(question)
