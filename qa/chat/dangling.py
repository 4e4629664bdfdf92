"""Pronouns with nothing to refer to: "How many of them were killed?" as the first message.

Answered as it stands, such a question retrieves whatever passage mentions killings and
states its figure with confidence (the issue saw 238, another article's wounded count, at
0.9999). A pronoun is dangling when nothing before it in the question could be what it
stands for: only wh-words, auxiliaries and quantifiers precede it ("How many of them",
"When did he", "What is its"). "How many soldiers did Russia say they lost?" has its
antecedent in the question and is left alone, as are expletive uses ("How long does it
take...").
"""

from __future__ import annotations

from qa.text import AUX, BE, CHAT_TOKEN, CONJUNCTIONS, DO, HOW_MODIFIERS, WH_WORDS, wordset

_REFERRING = wordset("he him his she her they them their it its")
_DEMONSTRATIVE = wordset("those these")
_LEAD_IN = (
    WH_WORDS
    | HOW_MODIFIERS
    | AUX
    | BE
    | DO
    | CONJUNCTIONS
    | wordset("of all some any both each either neither none one ones the exactly roughly")
)
# "it" as a dummy subject: "How long does it take", "What does it cost", "Is it true that".
_EXPLETIVE_NEXT = wordset(
    "take takes took cost costs mean means matter matters seem seems rain rains true possible "
    "likely known said reported"
)


def dangling_pronoun(question: str) -> str | None:
    """The first pronoun of ``question`` that nothing before it can be the referent of, as
    written; None when there is none."""
    tokens = CHAT_TOKEN.findall(question)
    low = [t.lower() for t in tokens]
    for i, w in enumerate(low):
        nxt = low[i + 1] if i + 1 < len(low) else None
        if w in _REFERRING:
            if w == "it" and nxt in _EXPLETIVE_NEXT:
                return None
            return tokens[i]
        if w in _DEMONSTRATIVE and (nxt is None or nxt in AUX or nxt in BE):
            return tokens[i]  # "How many of those were...", not "those troops"
        if w not in _LEAD_IN:
            return None  # a content word first: the pronoun may stand for it
    return None


def clarification(word: str) -> str:
    """What the reply says instead of a guess."""
    return (
        f"Which one do you mean? \u201c{word}\u201d refers to nothing earlier in this "
        "conversation; ask again naming who or what you mean."
    )
