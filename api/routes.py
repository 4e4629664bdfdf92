"""The JSON API: ask, search, chat, articles, health and metrics."""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
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
    SearchOut,
    to_filters,
)
from qa import __version__
from qa.chat.chat import Chat
from qa.errors import BadInputError, NotFoundError, TooLargeError
from qa.ingest.files import SUPPORTED, Skip, read_file
from qa.ingest.ingestor import IngestReport
from qa.pipeline import Pipeline
from qa.types import Article

router = APIRouter(responses=ERRORS)

_ARTICLES_IN: TypeAdapter[ArticleIn | list[ArticleIn]] = TypeAdapter(ArticleIn | list[ArticleIn])
MAX_ARTICLES_PER_REQUEST = 1000
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


async def _articles_from_request(request: Request, tmp: Path) -> tuple[Path, str, str]:
    """Write the request's article(s) to a file the readers understand; return it, the id a
    single-article file gets (the file name's stem, as for ``ask ingest FILE``) and a label
    naming the source for people."""
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
        return path, Path(name).stem, f"upload:{name}"
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
        try:
            items = _ARTICLES_IN.validate_python(parsed)
        except ValidationError as exc:
            raise RequestValidationError(
                [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
            ) from exc
        records = items if isinstance(items, list) else [items]
        if not records:
            raise BadInputError("the list of articles is empty")
        if len(records) > MAX_ARTICLES_PER_REQUEST:
            raise TooLargeError(
                f"{len(records)} articles in one request; the limit is {MAX_ARTICLES_PER_REQUEST}"
            )
        # JSON Lines named "api": records without an id get "api:<hash of the text>".
        path = tmp / "api.jsonl"
        path.write_text(
            "\n".join(json.dumps(r.model_dump(exclude_none=True)) for r in records) + "\n",
            encoding="utf-8",
        )
        return path, "api", "request body"
    raise UnsupportedMediaError(
        f"cannot read a {ctype} body; send application/json or a multipart/form-data upload"
    )


def _ingest(
    pipeline: Pipeline, path: Path, article_id: str, label: str
) -> tuple[IngestReport, list[str]]:
    """Read with the same readers as ``ask ingest``, naming the source for people instead of
    the temporary path."""
    items: list[Article | Skip] = [
        replace(item, path=label) for item in read_file(path, article_id)
    ]
    ids = [i.id for i in items if isinstance(i, Article)]
    return pipeline.ingest_articles(items), ids


@router.post(
    "/articles",
    response_model=IngestOut,
    status_code=201,
    tags=["articles"],
    summary="Add articles: JSON (one or a list) or a file upload",
    openapi_extra=_UPLOAD_BODY,
    responses={
        200: {"model": IngestOut, "description": "Nothing new: all unchanged"},
        415: {"description": "Unsupported upload type"},
    },
)
async def add_articles(
    request: Request, response: Response, pipeline: Pipeline = Depends(get_pipeline)
) -> IngestOut:
    with tempfile.TemporaryDirectory(prefix="article-qa-upload-") as tmp:
        path, article_id, label = await _articles_from_request(request, Path(tmp))
        report, ids = await run_in_threadpool(_ingest, pipeline, path, article_id, label)
    out = IngestOut(**report.to_dict(), article_ids=ids)
    if not (report.added or report.replaced or report.unchanged):
        reasons = "; ".join(f"{s}" for s in report.skipped) or "no article found"
        raise BadInputError(f"nothing could be ingested: {reasons}")
    if not (report.added or report.replaced):
        response.status_code = 200
    return out


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
