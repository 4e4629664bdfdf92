"""The JSON API: ask, search, chat, articles, health and metrics."""

from __future__ import annotations

import json
import logging
import re
import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import TypeAdapter, ValidationError
from starlette.datastructures import UploadFile

from api.deps import get_chat, get_pipeline, services
from api.errors import UnsupportedMediaError
from api.schemas import (
    ERRORS,
    AnswerOut,
    ArticleIn,
    ArticleList,
    ArticleOut,
    ArticleSummary,
    AskRequest,
    ChatOut,
    ChatRequest,
    FiltersIn,
    HealthOut,
    HitOut,
    IngestOut,
    JobOut,
    SearchOut,
    TimelineEntryOut,
    TimelineOut,
    to_filters,
)
from qa import __version__
from qa.chat.chat import Chat
from qa.errors import BadInputError, NotFoundError, TooLargeError
from qa.ingest.files import SUPPORTED, Skip, read_file
from qa.ingest.ingestor import IngestReport, Progress
from qa.pipeline import Pipeline
from qa.types import Article

router = APIRouter(responses=ERRORS)
log = logging.getLogger(__name__)

_ARTICLES_IN: TypeAdapter[ArticleIn | list[ArticleIn]] = TypeAdapter(ArticleIn | list[ArticleIn])
MAX_ARTICLES_PER_REQUEST = 1000
ASYNC_ARTICLES = 5
"""More articles than this in one POST run as a job (202 at once): ingest takes about 1.3 s
an article on 2 cores (50 articles took over a minute, issue 12), so 5 answer within the
usual 10 s client timeout and more would not."""
JOB_EVENT_S = 1.0
"""Longest wait between two progress events of a job (sooner when it changes)."""
UPLOAD_SUFFIXES = sorted(SUPPORTED)


@router.post(
    "/ask",
    response_model=AnswerOut,
    tags=["questions"],
    summary="Answer a question from the articles, with citations",
)
def ask(
    body: AskRequest, request: Request, pipeline: Pipeline = Depends(get_pipeline)
) -> AnswerOut:
    answer = pipeline.ask(body.question, top_k=body.top_k, filters=to_filters(body.filters))
    services(request).metrics.observe_stages("ask", answer.timings_ms)
    return AnswerOut.of(answer)


@router.get(
    "/timeline",
    response_model=TimelineOut,
    tags=["questions"],
    summary="Each report's answer to a question, oldest first: how a figure moved",
)
def timeline(
    q: str = Query(min_length=1, description="The question."),
    k: int = Query(default=10, ge=1, le=50, description="At most this many reports."),
    pipeline: Pipeline = Depends(get_pipeline),
) -> TimelineOut:
    entries = pipeline.timeline(q, articles=k)
    return TimelineOut(
        question=q, entries=[TimelineEntryOut.model_validate(asdict(e)) for e in entries]
    )


@router.get(
    "/search",
    response_model=SearchOut,
    tags=["questions"],
    summary="Ranked passages for a query, without answering",
)
def search(
    request: Request,
    q: str = Query(min_length=1, description="The query."),
    k: int | None = Query(default=None, ge=1, le=100, description="How many passages."),
    source: str | None = Query(default=None, max_length=500),
    author: str | None = Query(default=None, max_length=500),
    date_from: str | None = Query(default=None, max_length=40),
    date_to: str | None = Query(default=None, max_length=40),
    pipeline: Pipeline = Depends(get_pipeline),
) -> SearchOut:
    try:
        filters = FiltersIn(source=source, author=author, date_from=date_from, date_to=date_to)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("query", *e["loc"])} for e in exc.errors()]
        ) from exc
    hits = pipeline.search(q, k, filters.to_filters())
    return SearchOut(
        query=" ".join(q.split()), hits=[HitOut.of(n, h) for n, h in enumerate(hits, 1)]
    )


@router.post(
    "/chat",
    response_model=ChatOut,
    tags=["questions"],
    summary="One turn of a conversation; follow-ups are resolved against it",
)
def chat(
    body: ChatRequest,
    request: Request,
    pipeline: Pipeline = Depends(get_pipeline),
    conversation: Chat = Depends(get_chat),
) -> ChatOut:
    # Refuse a bad message before a session is created for it.
    pipeline.validate_question(body.message)
    reply = conversation.reply(
        body.message, body.session_id, top_k=body.top_k, filters=to_filters(body.filters)
    )
    services(request).metrics.observe_stages("chat", reply.answer.timings_ms)
    return ChatOut(session_id=reply.session_id, **reply.answer.to_dict())


# -- articles ----------------------------------------------------------------------------

_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "anyOf": [
                        ArticleIn.model_json_schema(),
                        {
                            "type": "array",
                            "items": ArticleIn.model_json_schema(),
                            "maxItems": MAX_ARTICLES_PER_REQUEST,
                        },
                    ]
                }
            },
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": f"An article file: {', '.join(UPLOAD_SUFFIXES)}",
                        }
                    },
                }
            },
        },
    }
}


def _safe_name(filename: str | None) -> str:
    """A file name to write under a private temporary folder: the base name only."""
    base = Path((filename or "").replace("\\", "/")).name
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", base).strip(".-")[:120]
    return base


async def _read_upload(upload: UploadFile, limit: int) -> bytes:
    data = bytearray()
    while chunk := await upload.read(64 * 1024):
        data += chunk
        if len(data) > limit:
            raise TooLargeError(
                f"the upload is larger than the limit of {limit:,} bytes (QA_MAX_UPLOAD_BYTES)"
            )
    return bytes(data)


@dataclass(frozen=True)
class Incoming:
    """A request's articles written to a file the readers understand: the file, the id a
    single-article file gets (its name's stem, as for ``ask ingest FILE``), a label naming
    the source for people, how many articles it holds, whether it runs as a job, and the
    records refused one by one (a job reports them; a plain request refuses them all)."""

    path: Path
    article_id: str
    label: str
    count: int
    background: bool
    refused: list[Skip]


def _background(wait: bool | None, count: int) -> bool:
    return wait is False or (wait is None and count > ASYNC_ARTICLES)


async def _articles_from_request(request: Request, tmp: Path, wait: bool | None) -> Incoming:
    """Write the request's article(s) to a file the readers understand (see Incoming)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    settings = services(request).settings
    if ctype == "multipart/form-data":
        form = await request.form(max_files=1, max_fields=5)
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise BadInputError("the form has no file: send the article as the 'file' field")
        name = _safe_name(upload.filename)
        suffix = Path(name).suffix.lower()
        if suffix not in SUPPORTED:
            raise UnsupportedMediaError(
                f"cannot read a {suffix or 'nameless'} file; upload one of "
                f"{', '.join(UPLOAD_SUFFIXES)}"
            )
        data = await _read_upload(upload, settings.max_upload_bytes)
        path = tmp / name
        path.write_bytes(data)
        return Incoming(path, Path(name).stem, f"upload:{name}", 1, wait is False, [])
    if ctype in ("application/json", "") or ctype.endswith("+json"):
        raw = await request.body()
        try:
            parsed = json.loads(raw) if raw.strip() else None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BadInputError(f"the request body is not valid JSON ({exc})") from exc
        except RecursionError as exc:
            raise BadInputError("the request body is not valid JSON (nested too deeply)") from exc
        if parsed is None:
            raise BadInputError(
                "the request body is empty: send an article as JSON, "
                'e.g. {"title": "...", "text": "..."}, or upload a file'
            )
        raw_list = parsed if isinstance(parsed, list) else [parsed]
        if len(raw_list) > MAX_ARTICLES_PER_REQUEST:
            # The schema's maxItems: a validation error like any other (422).
            raise BadInputError(
                f"{len(raw_list)} articles in one request; the limit is {MAX_ARTICLES_PER_REQUEST}"
            )
        background = _background(wait, len(raw_list))
        refused: list[Skip] = []
        if background and isinstance(parsed, list):
            # A job ingests what it can and reports each record it could not take.
            records = []
            for n, raw in enumerate(parsed, 1):
                try:
                    records.append(ArticleIn.model_validate(raw))
                except ValidationError as exc:
                    e = exc.errors()[0]
                    where = ".".join(str(p) for p in e["loc"]) or "record"
                    refused.append(Skip("request body", n, f"{where}: {e['msg']}"))
        else:
            try:
                items = _ARTICLES_IN.validate_python(parsed)
            except ValidationError as exc:
                raise RequestValidationError(
                    [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
                ) from exc
            records = items if isinstance(items, list) else [items]
        if not records and not refused:
            raise BadInputError("the list of articles is empty")
        # JSON Lines named "api": records without an id get "api:<hash of the text>".
        path = tmp / "api.jsonl"
        path.write_text(
            "\n".join(json.dumps(r.model_dump(exclude_none=True)) for r in records) + "\n",
            encoding="utf-8",
        )
        return Incoming(path, "api", "request body", len(raw_list), background, refused)
    raise UnsupportedMediaError(
        f"cannot read a {ctype} body; send application/json or a multipart/form-data upload"
    )


def _ingest(
    pipeline: Pipeline, incoming: Incoming, progress: Progress | None = None
) -> tuple[IngestReport, list[str]]:
    """Read with the same readers as ``ask ingest``, naming the source for people instead of
    the temporary path; records refused one by one are reported as skipped."""
    items: list[Article | Skip] = [
        *incoming.refused,
        *(
            replace(item, path=incoming.label)
            for item in read_file(incoming.path, incoming.article_id)
        ),
    ]
    ids = [i.id for i in items if isinstance(i, Article)]
    return pipeline.ingest_articles(items, progress), ids


@router.post(
    "/articles",
    response_model=IngestOut,
    status_code=201,
    tags=["articles"],
    summary="Add articles: JSON (one or a list) or a file upload",
    openapi_extra=_UPLOAD_BODY,
    responses={
        200: {"model": IngestOut, "description": "Nothing new: all unchanged"},
        202: {
            "model": JobOut,
            "description": f"More than {ASYNC_ARTICLES} articles (or wait=false): queued as "
            "a job; follow it at GET /jobs/{id}",
        },
        415: {"description": "Unsupported upload type"},
    },
)
async def add_articles(
    request: Request,
    response: Response,
    wait: bool | None = Query(
        default=None,
        description=f"true: answer when ingested; false: answer 202 with a job at once; "
        f"default: a job for more than {ASYNC_ARTICLES} articles.",
    ),
    pipeline: Pipeline = Depends(get_pipeline),
) -> Any:
    tmp = Path(tempfile.mkdtemp(prefix="article-qa-upload-"))
    try:
        incoming = await _articles_from_request(request, tmp, wait)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if incoming.background:
        jobs = services(request).jobs
        job = jobs.submit(
            incoming.count, lambda progress: _ingest(pipeline, incoming, progress), cleanup=tmp
        )
        return JSONResponse(
            JobOut.of(job).model_dump(mode="json"),
            status_code=202,
            headers={"Location": f"/jobs/{job.id}"},
        )
    try:
        report, ids = await run_in_threadpool(_ingest, pipeline, incoming)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out = IngestOut(**report.to_dict(), article_ids=ids)
    if not (report.added or report.replaced or report.unchanged):
        reasons = "; ".join(f"{s}" for s in report.skipped) or "no article found"
        raise BadInputError(f"nothing could be ingested: {reasons}")
    if not (report.added or report.replaced):
        response.status_code = 200
    return out


@router.get(
    "/jobs/{job_id}",
    response_model=JobOut,
    tags=["articles"],
    summary="An ingestion job: progress, per-item problems, end state",
)
def get_job(job_id: str, request: Request) -> JobOut:
    job = services(request).jobs.get(job_id)
    if job is None:
        raise NotFoundError(f"no job {job_id!r} (jobs are kept while the server runs)")
    return JobOut.of(job)


@router.get(
    "/jobs/{job_id}/events",
    tags=["articles"],
    summary="An ingestion job's progress as server-sent events, until it ends",
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def job_events(job_id: str, request: Request) -> StreamingResponse:
    job = services(request).jobs.get(job_id)
    if job is None:
        raise NotFoundError(f"no job {job_id!r} (jobs are kept while the server runs)")

    async def events() -> AsyncIterator[str]:
        last: dict[str, Any] | None = None
        while True:
            state = JobOut.of(job).model_dump(mode="json")
            if state != last:
                yield f"data: {json.dumps(state)}\n\n"
                last = state
            if job.over:
                return
            if await request.is_disconnected():
                log.info("job %s: the events client went away", job.id)
                return
            await run_in_threadpool(job.wait, JOB_EVENT_S)

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )


@router.get(
    "/articles",
    response_model=ArticleList,
    tags=["articles"],
    summary="List the indexed articles, newest first",
)
def list_articles(
    request: Request,
    limit: int = Query(default=100, ge=1, le=1000),
    offset: int = Query(default=0, ge=0, le=10_000_000),
    pipeline: Pipeline = Depends(get_pipeline),
) -> ArticleList:
    total = pipeline.article_count()
    arts = pipeline.articles(limit=limit, offset=offset)
    return ArticleList(
        total=total,
        limit=limit,
        offset=offset,
        articles=[
            ArticleSummary(
                id=a.id,
                title=a.title,
                author=a.author,
                source=a.source,
                url=a.url,
                date=a.date,
                chars=len(a.text),
            )
            for a in arts
        ],
    )


@router.get(
    "/articles/{article_id:path}",
    response_model=ArticleOut,
    tags=["articles"],
    summary="One article with its full text",
)
def get_article(
    article_id: str, request: Request, pipeline: Pipeline = Depends(get_pipeline)
) -> ArticleOut:
    article = pipeline.article(article_id)
    chunks = len(pipeline.article_chunks(article_id)) if article else 0
    if article is None:
        raise NotFoundError(f"no article with id {article_id!r}; GET /articles lists them")
    return ArticleOut(
        id=article.id,
        title=article.title,
        author=article.author,
        source=article.source,
        url=article.url,
        date=article.date,
        date_raw=article.date_raw,
        chars=len(article.text),
        text=article.text,
        chunks=chunks,
    )


@router.delete(
    "/articles/{article_id:path}",
    response_model=IngestOut,
    tags=["articles"],
    summary="Remove an article and its passages",
)
def delete_article(
    article_id: str, request: Request, pipeline: Pipeline = Depends(get_pipeline)
) -> IngestOut:
    report = pipeline.delete([article_id])
    return IngestOut(**report.to_dict(), article_ids=[article_id])


# -- operations --------------------------------------------------------------------------


@router.get(
    "/health",
    response_model=HealthOut,
    tags=["operations"],
    summary="Liveness and index counts (no API key needed)",
)
def health(request: Request, pipeline: Pipeline = Depends(get_pipeline)) -> HealthOut:
    stats = pipeline.stats()
    return HealthOut(
        status="ok",
        version=__version__,
        articles=stats.articles,
        chunks=stats.chunks,
        generation=stats.generation,
        answerer=pipeline.answerer.name,
    )


@router.get(
    "/metrics",
    tags=["operations"],
    response_class=Response,
    summary="Prometheus metrics (text exposition format)",
    responses={200: {"content": {"text/plain": {}}}},
)
def metrics(request: Request, pipeline: Pipeline = Depends(get_pipeline)) -> Response:
    stats = pipeline.stats()
    gauges = [
        ("articleqa_index_articles", "Articles in the index.", float(stats.articles)),
        ("articleqa_index_chunks", "Passages (chunks) in the index.", float(stats.chunks)),
        (
            "articleqa_index_size_bytes",
            "Size of the data directory on disk.",
            float(stats.size_bytes),
        ),
        (
            "articleqa_index_generation",
            "Index generation (moves on every write).",
            float(stats.generation),
        ),
    ]
    text = services(request).metrics.render(gauges)
    return Response(text, media_type="text/plain; version=0.0.4; charset=utf-8")
