"""Request and response bodies of the JSON API (they are the OpenAPI schema at /docs)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from qa.ingest.files import id_problem, normalise_date
from qa.types import Answer, Filters, Hit

# Requests refuse unknown fields: a misspelt ``top_k`` should fail loudly, not be ignored.
_STRICT = ConfigDict(extra="forbid")


class FiltersIn(BaseModel):
    model_config = _STRICT

    source: str | None = Field(
        default=None,
        max_length=500,
        description="Only articles from this source (exact, any case).",
    )
    author: str | None = Field(
        default=None, max_length=500, description="Only articles whose author contains this."
    )
    date_from: str | None = Field(
        default=None, max_length=40, description="Only articles dated on or after (YYYY-MM-DD)."
    )
    date_to: str | None = Field(
        default=None, max_length=40, description="Only articles dated on or before (YYYY-MM-DD)."
    )

    @field_validator("date_from", "date_to")
    @classmethod
    def _date(cls, value: str | None) -> str | None:
        if value is None:
            return None
        iso = normalise_date(value)
        if iso is None:
            raise ValueError(f"{value!r} is not a date (use YYYY-MM-DD)")
        return iso

    def to_filters(self) -> Filters:
        return Filters(self.source, self.author, self.date_from, self.date_to)


def to_filters(f: FiltersIn | None) -> Filters | None:
    return f.to_filters() if f is not None else None


class AskRequest(BaseModel):
    model_config = _STRICT

    question: str = Field(
        min_length=1,
        description="The question, in plain words.",
        examples=["How many troops did North Korea send to Russia?"],
    )
    top_k: int | None = Field(
        default=None, ge=1, le=100, description="Passages to retrieve and cite (default QA_TOP_K)."
    )
    filters: FiltersIn | None = None


class ChatRequest(BaseModel):
    model_config = _STRICT

    message: str = Field(
        min_length=1, description="The next user message (a question or a follow-up)."
    )
    session_id: str | None = Field(
        default=None, max_length=200, description="Omit to start a new conversation."
    )
    top_k: int | None = Field(default=None, ge=1, le=100)
    filters: FiltersIn | None = None


class SourceOut(BaseModel):
    """Where a passage comes from: shared by citations and search hits."""

    article_id: str
    title: str | None
    author: str | None
    source: str | None
    date: str | None
    url: str | None


class ReportOut(BaseModel):
    """Another outlet's copy of the cited article's story."""

    article_id: str
    title: str | None
    source: str | None
    author: str | None
    date: str | None
    url: str | None


class CitationOut(SourceOut):
    number: int
    chunk_id: str
    start: int = Field(description="Passage start, in characters of the article text.")
    end: int
    text: str = Field(description="The quoted passage.")
    answer_start: int | None = Field(description="Answer span start within ``text``, if here.")
    answer_end: int | None
    score: float
    also_reported_by: list[ReportOut] = Field(
        default_factory=list,
        description="Other copies of this story (near duplicates), cited once, listed here.",
    )


class TimeFrameOut(BaseModel):
    """What the question said about time, and what was done with it."""

    date_from: str | None
    date_to: str | None
    latest: bool = Field(description="The newest of the close-scoring passages are read first.")
    phrase: str = Field(description="The words of the question that said it.")
    note: str | None = Field(description="Why a date was not used, or how undated ones ranked.")
    applied: bool = Field(description="Whether the date range filtered the articles.")


class ConflictOut(BaseModel):
    """Another report's different answer (two figures, two names)."""

    answer: str
    citation: int = Field(description="The number of the citation that holds it.")
    article_id: str
    date: str | None
    source: str | None
    confidence: float


class TimelineEntryOut(BaseModel):
    answer: str
    confidence: float
    article_id: str
    title: str | None
    source: str | None
    date: str | None
    url: str | None
    evidence: str = Field(description="The sentence the answer was read from.")
    answer_start: int | None = Field(description="Answer offsets in the article text.")
    answer_end: int | None


class TimelineOut(BaseModel):
    """Each report's answer to one question, oldest first (undated ones last)."""

    question: str
    entries: list[TimelineEntryOut]


class AnswerOut(BaseModel):
    """The same object as ``ask --json``."""

    question: str
    answer: str = Field(description="Empty when abstained.")
    abstained: bool = Field(description="True: the articles do not answer this.")
    confidence: float
    evidence: str
    citations: list[CitationOut]
    timings_ms: dict[str, float]
    answerer: str
    searched_query: str | None = Field(
        default=None, description="The query actually searched, when it differs (follow-ups)."
    )
    note: str | None = Field(
        default=None, description="How the answer was made, when worth saying (LLM checks)."
    )
    conflicts: list[ConflictOut] = Field(
        default_factory=list,
        description="Reports that give another answer of the same type, newest first.",
    )
    timeframe: TimeFrameOut | None = Field(
        default=None, description="Time read from the question (in 2015, as of..., latest)."
    )
    as_of: str | None = Field(
        default=None,
        description="When the answer's source was published (YYYY-MM-DD); null when "
        "abstained or undated.",
    )
    unclear: str | None = Field(
        default=None,
        description="The word that made the question unanswerable as asked (a pronoun with "
        "nothing to refer to); the reply asks which one is meant.",
    )
    signals: dict[str, float] = Field(
        default_factory=dict,
        description="What the calibrated confidence was computed from (reader scores, "
        "margins, retrieval, question terms found in the evidence); empty without a reader.",
    )

    @classmethod
    def of(cls, answer: Answer) -> AnswerOut:
        return cls.model_validate(answer.to_dict())


class ChatOut(AnswerOut):
    session_id: str


class HitOut(SourceOut):
    rank: int
    score: float
    dense: float
    lexical: float
    chunk_id: str
    start: int
    end: int
    text: str

    @classmethod
    def of(cls, rank: int, h: Hit) -> HitOut:
        """The one conversion of a retrieved passage to JSON (HTTP search and MCP)."""
        a = h.article
        return cls(
            rank=rank,
            score=round(h.score, 4),
            dense=round(h.dense, 4),
            lexical=round(h.lexical, 4),
            chunk_id=h.chunk.id,
            article_id=a.id,
            title=a.title,
            author=a.author,
            source=a.source,
            date=a.date,
            url=a.url,
            start=h.chunk.start,
            end=h.chunk.end,
            text=h.chunk.text,
        )


class SearchOut(BaseModel):
    query: str
    hits: list[HitOut]


class ArticleIn(BaseModel):
    """One article as JSON. Its ``url`` is kept as metadata and never fetched."""

    model_config = _STRICT

    id: str | None = Field(
        default=None,
        min_length=1,
        max_length=300,
        description="Stable id; defaults to a hash of the text.",
    )
    title: str | None = Field(default=None, max_length=2000)
    text: str = Field(min_length=1, description="The article body (plain text).")
    author: str | list[str] | None = None
    source: str | None = Field(default=None, max_length=500)
    url: str | None = Field(default=None, max_length=2000)
    date: str | None = Field(default=None, max_length=100)

    @field_validator("id")
    @classmethod
    def _printable_id(cls, value: str | None) -> str | None:
        problem = id_problem(value) if value is not None else None
        if problem:
            raise ValueError(problem)
        return value


class SkipOut(BaseModel):
    path: str
    line: int | None
    reason: str


class IngestOut(BaseModel):
    added: int
    unchanged: int
    replaced: int
    deleted: int
    chunks: int
    seconds: float
    skipped: list[SkipOut]
    warnings: list[SkipOut] = Field(
        default_factory=list,
        description="Ingested, with something to say (a date that is not a date, kept raw).",
    )
    article_ids: list[str] = Field(
        default_factory=list, description="Ids of the articles read from this request."
    )


class JobOut(BaseModel):
    """An ingestion job (``POST /articles`` with many articles): progress and outcome."""

    id: str
    state: Literal["queued", "running", "done", "failed"]
    articles_total: int = Field(description="Articles in the request.")
    articles_done: int
    chunks_done: int
    created: float = Field(description="Unix time.")
    started: float | None
    finished: float | None
    result: IngestOut | None = Field(
        description="Once done: the ingest report, with every skipped item and why."
    )
    error: str | None = Field(description="Why the job failed, when it did.")
    status_url: str
    events_url: str

    @classmethod
    def of(cls, job: Any) -> JobOut:
        d = job.to_dict()
        return cls(**d, status_url=f"/jobs/{job.id}", events_url=f"/jobs/{job.id}/events")


class ArticleSummary(BaseModel):
    id: str
    title: str | None
    author: str | None
    source: str | None
    url: str | None
    date: str | None
    chars: int


class ArticleList(BaseModel):
    total: int
    limit: int
    offset: int
    articles: list[ArticleSummary]


class ArticleOut(ArticleSummary):
    text: str
    chunks: int
    date_raw: str | None = Field(
        default=None, description="The date as written, when it could not be read as one."
    )


class HealthOut(BaseModel):
    status: Literal["ok"]
    version: str
    articles: int
    chunks: int
    generation: int
    answerer: str


class ErrorDetail(BaseModel):
    message: str
    type: str
    code: int
    details: list[dict[str, Any]] | None = None


class ErrorOut(BaseModel):
    error: ErrorDetail


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": text}
    for code, text in (
        (400, "Unreadable body"),
        (401, "Missing or wrong API key"),
        (404, "Not found"),
        (413, "Too large"),
        (422, "Bad input"),
        (503, "Index unavailable"),
    )
}
