"""The default answerer: evidence sentence, then the span that fits the question's type.

No model is needed at question time: sentences and entities were computed at ingest, and
everything else is word overlap. Three steps:

1. score every sentence of the retrieved passages by how much of the question it covers,
   each question word weighted by its rarity among the sentences of the retrieved articles;
2. in the best few sentences, collect candidate spans (entities, numbers, dates, capitalised
   runs, stretches between question words) and score each by whether it has the answer's
   type and by how close it sits to the question's words, the words right next to a number
   counting most ("11,000 *troops*", "300 ... *killed*", "2,700 *wounded*");
3. confidence: a logistic model of "this answer is right" over the passage's embedding
   similarity, the evidence's coverage of the question, the candidate's type fit and
   closeness, so a question the articles do not answer ("What is the capital of
   Australia?") falls below the abstain threshold.

Weights were tuned on the public SQuAD v1.1 / v2.0 questions only.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from qa.answer.base import AnswerContext
from qa.answer.candidates import (
    Candidate,
    entity_candidates,
    modifier_candidates,
    number_candidates,
    phrase_candidates,
    proper_candidates,
    year_candidates,
)
from qa.answer.question import NUMERIC_LABELS, TEMPORAL_LABELS, Kind, Question, analyse
from qa.text import NUMBER_WORDS, Token, related, tokenize, wordset
from qa.types import Draft, Hit, Span

# Units a "how much / how long / how far" answer needs after its number.
_UNITS = wordset(
    """km kilometres kilometers kilometre kilometer miles mile metres meters metre meter m cm mm
    feet foot ft inches inch yards years year months month weeks week days day hours hour
    minutes minute seconds second decades centuries tons tonnes tonne kg kilograms pounds lb
    dollars euros pounds acres hectares square sq percent % mph degrees times"""
)


# Measure questions whose answer carries a unit or currency.
_MEASURED = frozenset(
    ["much", "far", "long", "tall", "high", "big", "large", "wide", "deep", "heavy", "fast"]
)
_AMOUNT_MARKS = frozenset(["$", "€", "£", "¥", "%", "percent", "million", "billion"])
# A number right after these is a projection, not a count ("could reach 30,000").
_HEDGES = frozenset(["could", "would", "might", "may", "reach", "projected", "expected"])


_RIGHT_STOPS = frozenset([";", ":", "(", ")"])
_COORDINATORS = frozenset([",", "and", "or", "but", "while", "whereas"])
_LEFT_STOPS = _RIGHT_STOPS | _COORDINATORS | {".", "which"}


class _ArticleStats:
    """In how many sentences of one article each stem occurs."""

    def __init__(self, df: dict[str, int], sentences: int) -> None:
        self.df = df
        self.sentences = sentences
        # Stems by their first four letters, so a related() look-up scans a handful.
        self._by_prefix: dict[str, list[str]] = {}
        for st in df:
            self._by_prefix.setdefault(st[:4], []).append(st)

    def count(self, term: str) -> int:
        if len(term) < 5:
            return self.df.get(term, 0)
        return sum(self.df[st] for st in self._by_prefix.get(term[:4], ()) if related(st, term))


@dataclass(frozen=True)
class _Sentence:
    hit_index: int
    span: Span
    tokens: list[Token]
    matched: list[str | None]
    """For each token, the question term it matches (or None)."""
    coverage: float
    """Share of the question's (rarity-weighted) terms this sentence contains."""
    score: float


@dataclass(frozen=True)
class _Scored:
    sentence: _Sentence
    candidate: Candidate | None
    score: float
    fit: float
    """How well the candidate fits the question's type, 0..1."""
    proximity: float


class RuleAnswerer:
    """Answers by rules over the stored sentences and entities: the candidate of the asked-for
    type nearest the question's words."""

    name = "rules"
    threshold = 0.2
    """From `ask eval --sweep` on the public sets: declines all twenty general-knowledge
    questions tried on the shipped corpus (they score 0.13 or less)."""

    def warm_up(self) -> None:
        """Nothing to load: the rules are plain Python."""

    def __init__(self, max_hits: int = 5, max_sentences: int = 4) -> None:
        self.max_hits = max_hits
        self.max_sentences = max_sentences
        # Sentence document frequencies per article, reused across questions (an ``ask``
        # session or an eval run asks many questions of the same few articles).
        self._stats_cache: OrderedDict[tuple[str, int], _ArticleStats] = OrderedDict()

    # -- the protocol ---------------------------------------------------------------------
    def answer(self, question: str, hits: Sequence[Hit], context: AnswerContext) -> Draft:
        q = analyse(question)
        hits = hits[: self.max_hits]
        if not hits or not q.terms:
            return Draft("", 0.0, "", None)
        weights = self._term_weights(q, hits, context)
        sentences = self._sentences(q, hits, context, weights)
        if not sentences:
            return Draft("", 0.0, "", None)
        sentences.sort(key=lambda s: -s.score)
        best: _Scored | None = None
        for sent in sentences[: self.max_sentences]:
            _, entities = context.annotations(hits[sent.hit_index].article.id)
            for scored in self._candidates(q, sent, entities, weights):
                if best is None or scored.score > best.score:
                    best = scored
        top = sentences[0]
        if best is None or best.candidate is None:
            # Nothing of the right shape: quote the best sentence, with less confidence.
            hit = hits[top.hit_index]
            text = hit.article.text[top.span.start : top.span.end]
            conf = self._confidence(top, 0.0, 0.0, q, hits[top.hit_index].dense)
            return Draft(
                text,
                conf,
                text,
                top.hit_index,
                top.span.start,
                top.span.end,
                top.span.start,
                top.span.end,
            )
        sent = best.sentence
        hit = hits[sent.hit_index]
        start, end = self._span(q, sent, best.candidate)
        conf = self._confidence(sent, best.fit, best.proximity, q, hit.dense)
        return Draft(
            answer=hit.article.text[start:end],
            confidence=conf,
            evidence=hit.article.text[sent.span.start : sent.span.end],
            hit_index=sent.hit_index,
            answer_start=start,
            answer_end=end,
            evidence_start=sent.span.start,
            evidence_end=sent.span.end,
        )

    # -- step 1: evidence sentences -------------------------------------------------------
    def _article_stats(self, hit: Hit, context: AnswerContext) -> _ArticleStats:
        """Sentence frequencies of the hit's article, computed once per article."""
        article = hit.article
        key = (article.id, hash(article.text))
        cached = self._stats_cache.get(key)
        if cached is not None:
            self._stats_cache.move_to_end(key)
            return cached
        sentences, _ = context.annotations(article.id)
        df: dict[str, int] = {}
        for s in sentences:
            for st in {t.stem for t in tokenize(article.text[s.start : s.end]) if not t.stop}:
                df[st] = df.get(st, 0) + 1
        for st in {t.stem for t in tokenize(article.title or "") if not t.stop}:
            df.setdefault(st, 1)  # the title names what the article is about
        cached = _ArticleStats(df, len(sentences))
        self._stats_cache[key] = cached
        if len(self._stats_cache) > 256:
            self._stats_cache.popitem(last=False)
        return cached

    def _term_weights(
        self, q: Question, hits: Sequence[Hit], context: AnswerContext
    ) -> dict[str, float]:
        """Inverse sentence frequency over the retrieved articles: a word in every sentence
        (the article's topic) says little about which sentence answers."""
        total = 0
        df_sum = dict.fromkeys(q.terms, 0)
        seen: set[str] = set()
        for hit in hits:
            if hit.article.id in seen:
                continue
            seen.add(hit.article.id)
            stats = self._article_stats(hit, context)
            total += stats.sentences
            for term in q.terms:
                df_sum[term] += stats.count(term)
        return {t: math.log((total + 1) / (min(df_sum[t], total) + 0.5)) + 0.5 for t in q.terms}

    def _sentences(
        self, q: Question, hits: Sequence[Hit], context: AnswerContext, weights: dict[str, float]
    ) -> list[_Sentence]:
        out = []
        total_w = sum(weights.values())
        seen: set[tuple[str, int]] = set()
        memo: dict[str, str | None] = {}
        # News prior: a question that names no subject ("How many were wounded?") most
        # likely asks about the latest story; a nudge that only breaks near-ties.
        dates = {h.article.date for h in hits if h.article.date}
        newest = max(dates) if len(dates) > 1 else None

        def match(st: str) -> str | None:
            if st not in memo:
                memo[st] = _match(st, q.terms)
            return memo[st]

        for i, hit in enumerate(hits):
            sents, _ = context.annotations(hit.article.id)
            text = hit.article.text
            for s in sents:
                if s.start < hit.chunk.start or s.end > hit.chunk.end:
                    continue
                if (hit.article.id, s.start) in seen:  # overlapping chunks repeat sentences
                    continue
                seen.add((hit.article.id, s.start))
                tokens = tokenize(text[s.start : s.end], s.start)
                matched = [None if t.punct or t.stop else match(t.stem) for t in tokens]
                present = {m for m in matched if m is not None}
                coverage = sum(weights[m] for m in present) / total_w
                score = coverage + 0.25 * max(hit.score, 0.0) - 0.01 * i
                if newest is not None and hit.article.date == newest:
                    score += 0.07
                out.append(_Sentence(i, s, tokens, matched, coverage, score))
        return out

    # -- step 2: candidates ---------------------------------------------------------------
    def _candidates(
        self, q: Question, sent: _Sentence, entities: list[Span], weights: dict[str, float]
    ) -> list[_Scored]:
        tokens = sent.tokens
        inside = [e for e in entities if e.start >= sent.span.start and e.end <= sent.span.end]
        # Earlier sources win when two give the same span: a "kind of" modifier, then
        # an entity's label, over a bare number run or phrase.
        cands: list[Candidate] = []
        if q.kind_of:
            cands += modifier_candidates(tokens, sent.matched, q.kind_of)
        cands += entity_candidates(tokens, inside)
        cands += number_candidates(tokens)
        cands += year_candidates(tokens)
        cands += proper_candidates(tokens)
        if q.kind in (Kind.OTHER, Kind.REASON, Kind.ENTITY, Kind.PLACE, Kind.PERSON):
            cands += phrase_candidates(tokens, [m is not None for m in sent.matched])
        uniq = {(c.first, c.last): c for c in reversed(cands)}
        total_w = sum(weights.values())
        # Running count of content words, so distances skip "are believed to have been".
        cw = [0] * (len(tokens) + 1)
        for k, t in enumerate(tokens):
            cw[k + 1] = cw[k] + (0 if t.stop or t.punct else 1)
        positions: dict[str, list[int]] = {}
        for k, m in enumerate(sent.matched):
            if m is not None:
                positions.setdefault(m, []).append(k)
        out = []
        for c in uniq.values():
            fit = _fit(q, c, tokens)
            if fit < 0:
                continue
            inner = [
                sent.matched[k]
                for k in range(c.first, c.last + 1)
                if not tokens[k].stop and not tokens[k].punct
            ]
            if inner and all(m is not None for m in inner):
                continue  # the question's own words are no answer
            prox = 0.0
            for term, where in positions.items():
                outside = [k for k in where if not c.first <= k <= c.last]
                if outside:
                    d = min(_gap(cw, c, k) for k in outside)
                    prox += weights[term] / d**0.7
            f = _Features(
                sentence=sent.score,
                fit=fit,
                proximity=prox / total_w,
                neighbour=_neighbour(q, c, sent, weights),
                overlap=sum(m is not None for m in inner) / max(1, len(inner)),
                hedge=q.kind == Kind.NUMBER
                and any(tokens[k].lower in _HEDGES for k in range(max(0, c.first - 3), c.first)),
            )
            out.append(_Scored(sent, c, _combine(q, f), fit, f.proximity))
        return out

    def _span(self, q: Question, sent: _Sentence, c: Candidate) -> tuple[int, int]:
        tokens = sent.tokens
        first, last = c.first, c.last
        if q.year_only:
            for k in range(first, last + 1):
                if len(tokens[k].text) >= 4 and tokens[k].text[:4].isdigit():
                    return tokens[k].start, tokens[k].end
        if q.kind == Kind.NUMBER and q.measure not in ("many",) and last + 1 < len(tokens):
            nxt = tokens[last + 1]
            if nxt.lower in _UNITS and nxt.stem not in q.terms:
                last += 1
                if nxt.lower == "square" and last + 1 < len(tokens):
                    last += 1
        return tokens[first].start, tokens[last].end

    # -- step 3: confidence ---------------------------------------------------------------
    @staticmethod
    def _confidence(sent: _Sentence, fit: float, prox: float, q: Question, dense: float) -> float:
        """P(the answer is right), a logistic fit on the public SQuAD v2.0 questions (target:
        answerable and F1 >= 0.5). The passage's embedding similarity to the question is the
        strongest sign that the articles are about what is asked; then how much of the
        question the evidence sentence covers; typed answers (numbers, dates) are right more
        often than free phrases."""
        z = (
            -5.28
            + 1.70 * sent.coverage
            + 0.71 * fit
            + 1.08 * min(1.0, 2 * prox)
            + 2.27 * dense
            + 0.70 * (q.kind in (Kind.NUMBER, Kind.DATE))
        )
        return round(1.0 / (1.0 + math.exp(-z)), 4)


@dataclass(frozen=True)
class _Features:
    """What the candidate score is made of (kept apart so the weights can be tuned)."""

    sentence: float
    fit: float
    proximity: float
    neighbour: float
    overlap: float
    """Share of the candidate's content words that are the question's own."""
    hedge: bool
    """A number right after "could", "would", ...: a projection, not a count."""


def _combine(q: Question, f: _Features) -> float:
    """Weights tuned on the public SQuAD v1.1 questions (random search, /tmp scripts): the
    evidence sentence matters most, then type fit, then closeness to the question's words.
    A length penalty, adjacency to the question's words and agreement with the question's
    word order were tried too and did not help."""
    return (
        2.0 * f.sentence
        + 0.6 * f.fit
        + 0.5 * f.proximity
        + 0.5 * f.neighbour
        - 0.5 * f.overlap
        - 0.5 * f.hedge
    )


def _gap(cw: list[int], c: Candidate, k: int) -> int:
    """Content words from candidate ``c`` to token ``k`` (1 = adjacent)."""
    if k < c.first:
        return cw[c.first] - cw[k + 1] + 1
    return cw[k] - cw[c.last + 1] + 1


def _match(st: str, terms: list[str]) -> str | None:
    for term in terms:
        if related(st, term):
            return term
    return None


def _fit(q: Question, c: Candidate, tokens: list[Token]) -> float:
    """1 when the candidate has the answer's type, lower when it merely may; -1 when it
    cannot answer (a date for "how many")."""
    label = c.label
    if q.kind == Kind.NUMBER:
        if label == "VAGUE":
            return 0.2
        if label != "NUM" and label not in q.labels:
            return -1.0
        if label != "NUM" and not any(tokens[k].numeric for k in range(c.first, c.last + 1)):
            return 0.4
        if q.measure in _MEASURED:
            # "How much ... cost", "how far": an amount with its currency or unit beats a
            # bare count ("two referendums") in the same passage.
            after = tokens[c.last + 1].lower if c.last + 1 < len(tokens) else ""
            inside = {tokens[k].lower for k in range(c.first, c.last + 1)}
            has_unit = (
                after in _UNITS
                or bool(inside & _AMOUNT_MARKS)
                or label in ("MONEY", "PERCENT", "QUANTITY")
            )
            return 1.0 if has_unit else 0.5
        return 1.0
    if q.kind == Kind.DATE:
        if label in TEMPORAL_LABELS or label == "YEAR":
            return 1.0
        return -1.0
    if q.kind in (Kind.PERSON, Kind.PLACE, Kind.ENTITY):
        if label in q.labels:
            return 1.0
        if label in ("PROPER",):
            return 0.5
        if label == "PHRASE":
            return 0.1
        return 0.3 if label not in NUMERIC_LABELS and label not in ("NUM", "YEAR") else -1.0
    if label == "KIND":
        return 1.0
    # "what"/"which"/"how"/"why": any phrase; numbers and dates only as other phrases are.
    if label in ("NUM", "VAGUE", "YEAR") and not any(
        tokens[k].lower in NUMBER_WORDS or tokens[k].text[:1].isdigit()
        for k in range(c.first, c.last + 1)
    ):
        return -1.0
    return 0.2 if label != "PHRASE" else 0.0


def _neighbour(q: Question, c: Candidate, sent: _Sentence, weights: dict[str, float]) -> float:
    """For numbers: do the words around it (up to the next number or clause break) say
    what the question asks? The question's predicate ("killed", "send to Russia") must be
    there; its counted noun ("troops") helps, but less, since a nearby number may share it
    ("11,000 troops ..., of which 300 are believed to have been killed")."""
    if q.kind != Kind.NUMBER:
        return 0.0
    tokens = sent.tokens
    credit: dict[str, float] = {}

    def walk(ks: range, stops: frozenset[str]) -> None:
        # Distance in content words: "300 are believed to have been killed" is 2 away.
        gap = 0
        for k in ks:
            t = tokens[k]
            if t.lower in stops or t.text[:1].isdigit():
                break
            if t.lower in _COORDINATORS and any(
                x.text[:1].isdigit() for x in tokens[k + 1 : k + 4]
            ):
                break  # "killing 107 or more and wounding 238": "wounding" is 238's
            if not t.stop and not t.punct:
                gap += 1
            m = sent.matched[k]
            if m is not None:
                credit[m] = max(credit.get(m, 0.0), max(gap, 1) ** -0.5)

    walk(range(c.last + 1, min(len(tokens), c.last + 10)), _RIGHT_STOPS)
    # Leftwards only within the number's own phrase: in "300 ... killed and another 2,700
    # wounded", "killed" belongs to 300, not to 2,700.
    walk(range(c.first - 1, max(-1, c.first - 8), -1), _LEFT_STOPS)
    focus = set(q.focus)
    predicate = [t for t in q.terms if t not in focus]
    focus_score = max((credit.get(t, 0.0) for t in focus), default=0.0)
    if not predicate:
        return focus_score
    total = sum(weights[t] for t in predicate)
    pred_score = sum(weights[t] * credit.get(t, 0.0) for t in predicate) / total
    return pred_score + 0.3 * focus_score
