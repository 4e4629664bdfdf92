"""The nouns passed between pipeline stages. Frozen: a stage never edits another's output."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Article:
    """One article: its text and where it came from (title, author, outlet, date, URL)."""

    id: str
    title: str | None
    text: str
    author: str | None = None
    source: str | None = None
    url: str | None = None
    date: str | None = None
    """ISO 8601 (YYYY-MM-DD) when known."""
    path: str | None = None
    """Where it was read from, for people; never used as identity once ``id`` is set."""
    group_id: str | None = None
    """Its near-duplicate group (copies of one story share it; ``qa.ingest.duplicates``),
    set by the store; None: a group of one."""
    date_raw: str | None = None
    """The date as written when it could not be read as a date (``date`` is then None): kept,
    and reported as a warning at ingest, never silently dropped."""


@dataclass(frozen=True)
class Span:
    """A character range in an article's text, with an optional label (entity type)."""

    start: int
    end: int
    label: str = ""


@dataclass(frozen=True)
class Chunk:
    """A passage of an article: its place in the article's text (character offsets) and that
    text."""

    id: str
    article_id: str
    index: int
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Filters:
    """Which articles a question may be answered from (outlet, author, date range)."""

    source: str | None = None
    author: str | None = None
    date_from: str | None = None
    date_to: str | None = None

    def active(self) -> bool:
        return any(v is not None for v in (self.source, self.author, self.date_from, self.date_to))


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk with the scores that ranked it."""

    chunk: Chunk
    article: Article
    score: float
    dense: float = 0.0
    lexical: float = 0.0


@dataclass(frozen=True)
class Report:
    """Another outlet's copy of a cited article (same near-duplicate group): who ran it,
    when, and where."""

    article_id: str
    title: str | None
    source: str | None
    author: str | None
    date: str | None
    url: str | None


@dataclass(frozen=True)
class Citation:
    """One cited passage, numbered as shown: its article's metadata, the passage's offsets and
    text, and where the answer sits in it."""

    number: int
    article_id: str
    title: str | None
    author: str | None
    source: str | None
    date: str | None
    url: str | None
    chunk_id: str
    start: int
    end: int
    text: str
    answer_start: int | None
    answer_end: int | None
    score: float
    also_reported_by: tuple[Report, ...] = ()
    """The other copies of this article's story (``qa.ingest.duplicates``), first stored
    first; cited once, listed here."""


@dataclass(frozen=True)
class Conflict:
    """Another report's different answer to the question, with its citation and date."""

    answer: str
    citation: int
    """The number of the citation that holds it."""
    article_id: str
    date: str | None
    source: str | None
    confidence: float


@dataclass(frozen=True)
class TimelineEntry:
    """One report's answer to a question, for ``ask timeline``: what it said and when."""

    answer: str
    confidence: float
    article_id: str
    title: str | None
    source: str | None
    date: str | None
    url: str | None
    evidence: str
    answer_start: int | None
    """Article character offsets of the answer."""
    answer_end: int | None


@dataclass(frozen=True)
class TimeFrame:
    """What a question says about time: a publication date range, a preference for the
    newest report, and the words that said so (shown in the answer object)."""

    date_from: str | None = None
    date_to: str | None = None
    latest: bool = False
    phrase: str = ""
    note: str | None = None
    """Why a date-like phrase was not used as a filter, when it was not."""
    applied: bool = False
    """Whether the date range filtered the articles (it is dropped when no article of
    those dates has a matching passage: then every article is searched, with a note)."""

    @property
    def filters(self) -> bool:
        return self.date_from is not None or self.date_to is not None


@dataclass(frozen=True)
class Answer:
    """What the bot says to a question: the short answer (or an abstention), its confidence, the
    evidence sentence and the numbered citations."""

    question: str
    answer: str
    abstained: bool
    confidence: float
    evidence: str
    citations: tuple[Citation, ...]
    timings_ms: dict[str, float] = field(default_factory=dict)
    answerer: str = "rules"
    searched_query: str | None = None
    note: str | None = None
    """Said to the reader about how the answer was made (an LLM reply replaced, say)."""
    as_of: str | None = None
    """When the source of the answer was published (ISO date of the article holding the
    answer span); None when abstained or the article is undated. News changes: an answer
    is true as of its report."""
    timeframe: TimeFrame | None = None
    """What the question said about time (``qa.timeframe``): the date range it filtered on,
    "the latest", or why a date could not be used; None when it said nothing."""
    conflicts: tuple[Conflict, ...] = ()
    """Reports that answer differently (two figures, two names), newest first; the answer
    is the best-supported one, and these are shown beside it, never silently dropped."""
    unclear: str | None = None
    """What made the question impossible to answer as asked: a pronoun with nothing to refer
    to ("them" as a conversation's first message). The reply asks which one is meant."""
    signals: tuple[tuple[str, float], ...] = ()
    """What the calibrated confidence was computed from (``qa.answer.confidence.FEATURES``),
    empty for answerers without one: a confidence can be checked, and refitted from eval runs."""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        # Lists, not tuples: the same object as its JSON read back.
        d["citations"] = [
            {**asdict(c), "also_reported_by": [asdict(r) for r in c.also_reported_by]}
            for c in self.citations
        ]
        d["conflicts"] = [asdict(c) for c in self.conflicts]
        d["signals"] = dict(self.signals)
        return d


@dataclass(frozen=True)
class Draft:
    """What an answerer decides, before citations are numbered."""

    answer: str
    confidence: float
    evidence: str
    hit_index: int | None
    """Which hit holds the answer span (index into the hits given), if any."""
    answer_start: int | None = None
    """Article character offsets of the answer span."""
    answer_end: int | None = None
    evidence_start: int | None = None
    evidence_end: int | None = None
    note: str | None = None
    order: tuple[int, ...] | None = None
    """The answerer's ranking of the hits (indexes), when it reads them better than retrieval
    ranked them; citations follow it."""
    signals: tuple[tuple[str, float], ...] = ()
    """What the confidence was computed from (name, value), for calibration and eval."""
    rivals: tuple[tuple[int, str, float], ...] = ()
    """Other articles' answers of the same type, each (hit index, text, confidence), when
    they differ from this one: conflicting reports."""
