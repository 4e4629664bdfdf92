"""Synthetic training questions made from article sentences with spaCy's parser.

Three kinds of question, so their effect can be measured separately (``--synthetic``):

* ``subject``: the sentence's subject is a named entity; swap it for its wh-word
  ("Morsi began a visit to China." -> "Who began a visit to China?").
* ``fronted``: an entity elsewhere in the main clause becomes a fronted wh-phrase with
  auxiliary inversion or do-support ("... began a visit to China last Tuesday." ->
  "When did Morsi begin a visit to China?").
* ``negative``: a generated question paired with another paragraph of the same article that
  does not contain its answer, so the reader practises saying "no answer".

Plain cloze questions (the entity replaced in place) read unlike anything people ask; the
issue measured them as a small gain, the wh-fronted form is the better-worded successor.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from qa.training.data import Example


@dataclass(frozen=True)
class Passage:
    """A passage to make synthetic questions from."""

    article_id: str
    text: str


_WH = {
    "PERSON": ["Who"],
    "ORG": ["What organization", "Which organization", "Who"],
    "GPE": ["Where", "What place"],
    "LOC": ["Where", "What place"],
    "FAC": ["Where", "What place"],
    "DATE": ["When", "What date"],
    "TIME": ["When", "What time"],
    "MONEY": ["How much money", "How much"],
    "PERCENT": ["What percentage", "What percent"],
    "QUANTITY": ["How much", "What quantity"],
    "CARDINAL": ["How many"],
    "NORP": ["Which group", "What nationality"],
    "EVENT": ["What event", "Which event"],
    "WORK_OF_ART": ["What work", "Which work"],
    "LAW": ["What law", "Which law"],
    "PRODUCT": ["What product", "Which product"],
    "LANGUAGE": ["What language", "Which language"],
}
_DROP_PREP = {"in", "on", "at", "during", "since", "near", "to", "into", "from"}
_KEEP_PREP = {"to", "for", "by", "with", "from", "in", "on", "at", "of", "about"}
_DO = {"VBD": "did", "VBZ": "does", "VBP": "do"}


def _wh(ent: Any, rng: random.Random) -> str:
    options = _WH[ent.label_]
    if ent.label_ == "DATE" and ent.text.isdigit() and len(ent.text) == 4:
        options = ["When", "In what year", "What year"]
    return rng.choice(options)


def _counted_noun(ent: Any) -> Any | None:
    """'11,000 troops': the noun a number counts, so "How many troops" can be asked."""
    head = ent.root.head
    if ent.root.dep_ == "nummod" and head.pos_ in ("NOUN", "PROPN") and head.i == ent.end:
        return head
    return None


def _words(tokens: Iterable[Any]) -> str:
    return "".join(t.text_with_ws for t in tokens).strip().rstrip(" ,;:.!?")


def _subject_question(sent: Any, ent: Any, rng: random.Random) -> str | None:
    root = sent.root
    subj = [t for t in root.children if t.dep_ in ("nsubj", "nsubjpass")]
    if len(subj) != 1:
        return None
    s = subj[0]
    lo, hi = s.left_edge.i, s.right_edge.i + 1
    if (lo, hi) != (ent.start, ent.end) or lo != sent.start:
        return None
    rest = _words(t for t in sent if t.i >= hi and (not t.is_punct or t.text in ","))
    rest = rest.rstrip(".!? ")
    wh = "How many" if ent.label_ == "CARDINAL" else _wh(ent, rng)
    if wh in ("Where", "When"):
        return None
    return f"{wh} {rest}?" if rest else None


def _fronted_question(sent: Any, ent: Any, rng: random.Random) -> str | None:
    root = sent.root
    if root.pos_ not in ("VERB", "AUX") or (
        ent.start <= root.i and ent.root.dep_ in ("nsubj", "nsubjpass")
    ):
        return None
    # The entity must hang off the main verb: directly, or through one preposition.
    head = ent.root.head
    prep = None
    if head.dep_ == "prep" and head.head == root:
        prep = head
    elif head != root:
        return None
    subj = [t for t in root.children if t.dep_ in ("nsubj", "nsubjpass")]
    if len(subj) != 1 or subj[0].i > root.i:
        return None
    s = subj[0]
    drop = set(range(ent.start, ent.end))
    counted = _counted_noun(ent) if ent.label_ == "CARDINAL" else None
    wh = _wh(ent, rng) if ent.label_ != "CARDINAL" else None
    if ent.label_ == "CARDINAL":
        if counted is None:
            return None
        wh = f"How many {counted.text}"
        drop |= {counted.i}
    assert wh is not None
    if prep is not None:
        if (wh in ("Where", "When") and prep.lower_ in _DROP_PREP) or (
            ent.label_ in ("DATE", "TIME") and prep.lower_ in _DROP_PREP
        ):
            drop.add(prep.i)
            wh = wh if wh in ("Where", "When") else _wh(ent, rng)
        elif prep.lower_ in _KEEP_PREP and wh not in ("Where", "When"):
            inner = "whom" if wh == "Who" else wh[0].lower() + wh[1:]
            wh = f"{prep.lower_.capitalize()} {inner}"
            drop.add(prep.i)
        else:
            return None
    auxes = [t for t in root.children if t.dep_ in ("aux", "auxpass") and t.i < root.i]
    subj_words = [t for t in sent if s.left_edge.i <= t.i <= s.right_edge.i]
    if any(t.i in drop for t in subj_words):
        return None
    first = subj_words[0]
    subj_text = _words(subj_words)
    if first.pos_ not in ("PROPN",) and first.ent_type_ == "" and first.text != "I":
        subj_text = subj_text[0].lower() + subj_text[1:]
    after = [
        t
        for t in sent
        if t.i > s.right_edge.i and t.i not in drop and not (t.is_punct and t.i == sent.end - 1)
    ]
    if auxes:
        aux = auxes[0]
        after = [t for t in after if t.i != aux.i]
        body = _words(after)
        return f"{wh} {aux.lower_} {subj_text} {body}?".replace(" ,", ",")
    if root.lemma_ == "be":
        after = [t for t in after if t.i != root.i]
        return f"{wh} {root.lower_} {subj_text} {_words(after)}?".replace(" ,", ",")
    do = _DO.get(root.tag_)
    if do is None:
        return None
    words = [root.lemma_ if t.i == root.i else t.text for t in after]
    spaces = [t.whitespace_ for t in after]
    body = "".join(w + sp for w, sp in zip(words, spaces, strict=True)).strip().rstrip(" ,;:.!?")
    return f"{wh} {do} {subj_text} {body}?".replace(" ,", ",")


def generate(
    passages: list[Passage], nlp: Any, *, seed: int, limit: int, negatives: int, kinds: set[str]
) -> Iterator[Example]:
    """Up to ``limit`` questions (``subject`` and ``fronted``) and ``negatives`` no-answer
    pairs, from a seeded shuffle of ``passages``."""
    rng = random.Random(seed)
    order = list(range(len(passages)))
    rng.shuffle(order)
    by_article: dict[str, list[int]] = {}
    for i, p in enumerate(passages):
        by_article.setdefault(p.article_id, []).append(i)
    made = neg = 0
    texts = (passages[i].text for i in order)
    for i, doc in zip(order, nlp.pipe(texts, batch_size=32), strict=True):
        if made >= limit:
            break
        p = passages[i]
        options = []
        for sent in doc.sents:
            if len(sent) < 6 or len(sent) > 60:
                continue
            for ent in sent.ents:
                if ent.label_ not in _WH:
                    continue
                for kind, make in (("subject", _subject_question), ("fronted", _fronted_question)):
                    if kind in kinds:
                        q = make(sent, ent, rng)
                        if q and 4 <= len(q.split()) <= 30:
                            options.append((kind, q, ent))
        if not options:
            continue
        # Two questions per passage at most: breadth over depth.
        for kind, q, ent in rng.sample(options, min(2, len(options))):
            made += 1
            yield Example(
                f"synthetic:{kind}:{i}:{ent.start_char}",
                q,
                p.text,
                ent.start_char,
                ent.text,
                f"synthetic:{kind}",
                (ent.text,),
            )
            if "negative" in kinds and neg < negatives:
                others = [
                    j
                    for j in by_article[p.article_id]
                    if j != i and ent.text.lower() not in passages[j].text.lower()
                ]
                if others:
                    neg += 1
                    j = rng.choice(others)
                    yield Example(
                        f"synthetic:negative:{i}:{j}:{ent.start_char}",
                        q,
                        passages[j].text,
                        -1,
                        "",
                        "synthetic:negative",
                    )
