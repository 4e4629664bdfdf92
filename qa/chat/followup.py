"""Follow-up questions made self-contained, offline: plain Python over the chat history.

"How many of them were killed?" after "How many troops did North Korea send to Russia?"
becomes a question retrieval can use on its own. No model runs here (this is on every chat
turn's path); the rules lean on question shape, capitalisation and the earlier turns.
"""

from __future__ import annotations

from collections.abc import Sequence

from qa.chat.parse import (
    _do_subject_length,
    _entities,
    _head_referent,
    _is_capitalised,
    _is_participle,
    _is_plural,
    _low,
    _noun_phrases,
    _parse,
    _Question,
    _starts_with_subject,
    _strip_of,
    _subject_length,
    _wh_length,
    _words,
)
from qa.chat.referents import (
    _CONTEXT_NOTE,
    Turn,
    _Context,
    _replace_pronouns,
)
from qa.text import (
    ALL_PRONOUNS,
    AUX,
    BE,
    CONJUNCTIONS,
    CUE_PHRASES,
    DO,
    IMPERATIVES,
    PREPOSITIONS,
    RETRIEVAL_STOPWORDS,
    SUBJECT_PRONOUNS,
    TIMES,
    WH_WORDS,
    YEAR,
)

__all__ = ["Turn", "only_topic_appended", "resolve_followup"]


def _split_cue(tokens: list[str]) -> tuple[list[str], bool, bool]:
    """Strip leading "and"/"so"/... and a "what about"-style cue.
    Returns (rest, had_conjunction, had_cue)."""
    i = 0
    low = _low(tokens)
    had_conj = False
    while i < len(tokens) - 1 and low[i] in CONJUNCTIONS:
        # "what about"/"and for" may start with a conjunction-like word
        if tuple(low[i : i + 2]) in CUE_PHRASES:
            break
        had_conj = True
        i += 1
    if tuple(low[i : i + 2]) in CUE_PHRASES and i + 2 < len(tokens):
        return list(tokens[i + 2 :]), had_conj, True
    return list(tokens[i:]), had_conj, False


def _with_head(q: _Question, wh: tuple[str, ...]) -> list[str]:
    """The previous question asked with another wh-word: "How many troops did North Korea
    send to Russia?" + "When?" -> "When did North Korea send troops to Russia"."""
    head = _strip_of(q.head)
    body = list(q.body)
    if head and q.aux and q.aux.lower() in DO:
        n = min(_do_subject_length(body) + 1, len(body))
        body = [*body[:n], *head, *body[n:]]
    elif head and q.aux:
        body = [*head, *body] if not _starts_with_subject(body) else [*body, *head]
    elif head:
        body = [*head, *body]
    return [*wh, *([q.aux] if q.aux else []), *body]


def _core(focus: Sequence[str]) -> list[str]:
    return list(focus[1:] if focus[0].lower() in {"the", "a", "an"} and len(focus) > 1 else focus)


def _focus_kind(focus: Sequence[str]) -> str:
    """What slot a fragment fills: "pp" (in 2016), "predicate" (wounded), "year" (2016),
    "time" (today), "name" (Endeavour) or "noun" (the missiles)."""
    core = _core(focus)
    if focus[0].lower() in PREPOSITIONS and len(focus) > 1:
        return "pp"
    if len(core) == 1 and _is_participle(core[0]):
        return "predicate"
    if len(core) == 1 and YEAR.match(core[0]):
        return "year"
    if " ".join(_low(focus)) in TIMES or (
        len(focus) == 2 and focus[0].lower() in {"this", "last", "next"}
    ):
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
                while j < len(toks) and low[j] not in PREPOSITIONS and low[j] not in AUX:
                    j += 1
                return [*toks[:i], *focus, *toks[j:]]
        return [*toks, *focus]
    # "wounded", "the injured", "missing": the predicate
    if kind == "predicate":
        # the last participle after "were"/"be"/"been" ("were *killed*", "are believed to
        # have been *killed*"), else the last one
        slots = [i for i in range(len(q.wh), len(toks)) if _is_participle(toks[i])]
        after_be = [i for i in slots if low[i - 1] in BE]
        if slots:
            i = after_be[-1] if after_be else slots[-1]
            return [*toks[:i], core[0], *toks[i + 1 :]]
        if q.wh_key in {"how many", "how much"}:
            ref = _head_referent(q, short=ctx.compact)
            if ref:
                return [*q.wh, "of", *ref, "were", core[0]]
        return [*toks, core[0]]
    # "today", "last year": a time replaces the phrase with a year ("in 2009"), or a year
    if kind == "time":
        for i, t in enumerate(toks):
            if YEAR.match(t):
                a = i - 1 if i > 0 and low[i - 1] in PREPOSITIONS else i
                return [*toks[:a], *focus, *toks[i + 1 :]]
        return [*toks, *focus]
    # "2016": a year replaces a year
    if kind == "year":
        for i, t in enumerate(toks):
            if YEAR.match(t):
                return [*toks[:i], core[0], *toks[i + 1 :]]
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
    definite = (
        focus[0].lower() in {"the", "a", "an"}
        and not _is_plural(core)
        and target is not None
        and toks[target[0]].lower() in {"the", "a", "an"}
    )
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
    if (
        q.aux
        and q.body
        and q.body[0].lower() not in SUBJECT_PRONOUNS
        and (q.aux.lower() in DO or _starts_with_subject(q.body))
    ):
        if q.aux.lower() in DO:
            return body_at, body_at + _do_subject_length(q.body)
        return body_at, body_at + _subject_length(q.body, greedy=True)
    spans = q.entities()
    nps = _noun_phrases(toks)
    for np in nps:
        if _entities(np, 1):
            for i in range(len(q.wh), len(toks)):
                if toks[i : i + len(np)] == np:
                    return i, i + len(np)
    if spans:
        return spans[0]
    for np in nps:
        for i in range(len(q.wh), len(toks)):
            if toks[i : i + len(np)] == np:
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
    if low[0] in AUX or low[0] in IMPERATIVES:
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
    if all(w in CONJUNCTIONS for w in low):
        return _finish(ctx.q.tokens)  # "And?", "So?": go on about the same thing
    if (
        len(rest) == 4
        and low[:2] in (["how", "many"], ["how", "much"])
        and low[2] in BE
        and _is_participle(rest[3])
        and ctx.q.wh_key == " ".join(low[:2])
    ):
        # "And how many were wounded?" after "How many ... were killed?" is "And wounded?"
        return _finish(_fill_fragment(ctx, [], rest[3:]))
    if _is_fragment(rest, had_cue):
        n = _wh_length(_low(rest))
        if any(w in WH_WORDS for w in _low(rest[n:])):
            # "According to whom?", "In which year?": the previous question, asked again
            # with the wh-phrase the fragment brings
            lead = (
                rest[0].lower()
                if not _entities(rest[:1])
                or rest[0].lower() in (PREPOSITIONS | WH_WORDS | {"according"})
                else rest[0]
            )
            return _finish([*ctx.q.tokens, ",", lead, *rest[1:]])
        focus, _ = _replace_pronouns(rest[n:], ctx)  # "And its mayor?"
        if focus and all(w.lower() in ALL_PRONOUNS for w in rest[n:]):
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
    if len(low) > 2 and " ".join(low[:2]) in {"how many", "how much"} and low[2] in AUX:
        ref = _head_referent(ctx.q, short=compact)
        if ref:
            resolved = [*resolved[:2], "of", *ref, *resolved[2:]]
            changed = True
    if not changed:
        # "And what was the death toll?", "What caused it?": a question with no name of its
        # own that leans on the previous turn gets that turn's topic appended.
        short = len([t for t in resolved if t.lower() not in RETRIEVAL_STOPWORDS]) <= 2
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
