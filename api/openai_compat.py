"""An OpenAI-compatible chat endpoint, so any chat app that speaks that API can use the
articles: ``POST /v1/chat/completions`` (plain and streamed) and ``GET /v1/models``.

The reply text carries ``[n]`` markers and a Sources list (one per article, each quoted,
each linked to the reading page); every marker is also an OpenAI ``url_citation``
annotation, and the structured citations travel in the extra field ``citations`` (and the
whole answer object in ``answer``), in streaming mode on the final chunk. What of the
request is honoured, and what is refused, is in ``api.openai_protocol``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.client_tasks import task_of, task_reply
from api.deps import get_chat, get_pipeline, services
from api.links import passage_link
from api.metrics import Metrics
from api.openai_protocol import (
    ResponseFormat,
    cut,
    max_tokens,
    refuse_unsupported,
    stop_sequences,
)
from api.render import reply_text, url_annotations
from api.schemas import ERRORS, AnswerOut, CitationOut
from qa.chat.chat import Chat
from qa.errors import NotFoundError
from qa.pipeline import Pipeline
from qa.types import Answer, Citation

router = APIRouter(prefix="/v1", tags=["openai"], responses=ERRORS)
log = logging.getLogger(__name__)

MODEL_ID = "article-qa"
STREAM_PAUSE_S = 0.01
"""Between streamed pieces: the answer exists whole at once, and a short pause lets a
browser paint it arriving instead of receiving every piece in one read."""
_PIECE = re.compile(r"\S+\s*|\s+")


def _unicode(value: Any) -> Any:
    """Refuse text with lone surrogates (JSON can carry them, "\\ud800"): no encoder or store
    downstream can take them."""
    for text in [value] if isinstance(value, str) else []:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError("the text is not valid Unicode (a lone surrogate)") from exc
    return value


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str = Field(max_length=100)
    text: str | None = None

    _text_ok = field_validator("text")(_unicode)


class ChatMessage(BaseModel):
    # OpenAI messages carry fields this server has no use for (name, tool_calls...).
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None

    _content_ok = field_validator("content")(_unicode)

    def text(self) -> str:
        if isinstance(self.content, list):
            return "\n".join(p.text for p in self.content if p.type == "text" and p.text)
        return self.content or ""


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    # Clients send sampling settings (temperature, max_tokens...) that mean nothing here.
    model_config = ConfigDict(extra="allow")

    model: str = Field(default=MODEL_ID, max_length=200)
    messages: list[ChatMessage] = Field(min_length=1, max_length=500)
    stream: bool = False
    stream_options: StreamOptions | None = None
    top_k: int | None = Field(
        default=None, ge=1, le=100, description="Passages to retrieve and cite (extension)."
    )


class UrlCitation(BaseModel):
    start_index: int = Field(description="Where the [n] marker starts in the content.")
    end_index: int
    url: str = Field(description="The reading page, scrolled to the quoted passage.")
    title: str


class Annotation(BaseModel):
    type: Literal["url_citation"] = "url_citation"
    url_citation: UrlCitation


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str
    annotations: list[Annotation] = Field(default_factory=list)


class Choice(BaseModel):
    index: int
    message: AssistantMessage
    finish_reason: Literal["stop", "length"]


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    citations: list[CitationOut] = Field(description="Structured citations (extension).")
    answer: AnswerOut | None = Field(
        description="The whole answer object, as POST /ask (extension); null for a chat "
        "client's background task prompt, which is answered without retrieval."
    )


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


def _tokens(text: str) -> int:
    return len(text.split())


def _usage(body: ChatCompletionRequest, text: str) -> dict[str, int]:
    prompt = sum(_tokens(m.text()) for m in body.messages)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": _tokens(text),
        "total_tokens": prompt + _tokens(text),
    }


@dataclass(frozen=True)
class Reply:
    """One reply, whole, before any byte is sent: its content as the client gets it (cut to
    max_tokens, in the response format), why it ended, and its sources."""

    content: str
    finish: str
    annotations: list[dict[str, Any]]
    answer: Answer | None


def _reply(body: ChatCompletionRequest, request: Request, chat: Chat) -> Reply:
    extra = body.model_extra or {}
    refuse_unsupported(extra)
    fmt = ResponseFormat(extra.get("response_format"))
    limit, stops = max_tokens(extra), stop_sequences(extra)
    svc = services(request)
    last = next((m.text() for m in reversed(body.messages) if m.role == "user"), "")
    task = task_of(last)
    if task is not None:
        svc.metrics.count_task(task)
        content, finish = cut(task_reply(task, last), limit, stops)
        return Reply(content, finish, [], None)
    history = [(m.role, m.text()) for m in body.messages]
    answer = chat.answer_history(history, top_k=body.top_k)
    svc.metrics.observe_stages("chat_completions", answer.timings_ms)
    key = svc.settings.api_key.get_secret_value() if svc.settings.api_key else None
    base = str(request.base_url)

    def link(c: Citation) -> str:
        return passage_link(base, c, key)

    if not fmt.text:
        content = fmt.render(AnswerOut.of(answer).model_dump(mode="json"))
        content, finish = cut(content, limit, stops)
        return Reply(content, finish, [], answer)
    content, finish = cut(reply_text(answer, link), limit, stops)
    return Reply(content, finish, url_annotations(content, answer, link), answer)


def _chunk(
    cid: str,
    created: int,
    model: str,
    delta: dict[str, Any],
    finish: str | None = None,
    **extra: Any,
) -> str:
    body = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


async def _stream(
    body: ChatCompletionRequest, reply: Reply, metrics: Metrics
) -> AsyncIterator[str]:
    metrics.stream_opened()
    try:
        async for event in _events(body, reply):
            yield event
    except (asyncio.CancelledError, GeneratorExit):
        # The client went away mid-reply: nothing more is produced or held for it.
        log.info("chat completion stream: the client disconnected before the end")
        raise
    finally:
        metrics.stream_closed()


async def _events(body: ChatCompletionRequest, reply: Reply) -> AsyncIterator[str]:
    cid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
    yield _chunk(cid, created, body.model, {"role": "assistant", "content": ""})
    pieces = _PIECE.findall(reply.content)
    for i in range(0, len(pieces), 3):
        yield _chunk(cid, created, body.model, {"content": "".join(pieces[i : i + 3])})
        await asyncio.sleep(STREAM_PAUSE_S)
    data = AnswerOut.of(reply.answer).model_dump(mode="json") if reply.answer else None
    usage = _usage(body, reply.content)
    # The annotations' indices are into the whole content, so they come once it is all sent.
    yield _chunk(
        cid,
        created,
        body.model,
        {"annotations": reply.annotations} if reply.annotations else {},
        reply.finish,
        citations=data["citations"] if data else [],
        answer=data,
        usage=usage,
    )
    if body.stream_options is not None and body.stream_options.include_usage:
        payload = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": body.model,
            "choices": [],
            "usage": usage,
        }
        yield f"data: {json.dumps(payload)}\n\n"
    yield "data: [DONE]\n\n"


@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    summary="OpenAI-compatible chat: the last user message is answered",
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "JSON, or server-sent events when stream=true",
        }
    },
)
def chat_completions(
    body: ChatCompletionRequest,
    request: Request,
    pipeline: Pipeline = Depends(get_pipeline),
    chat: Chat = Depends(get_chat),
) -> Any:
    # The reply is computed before any byte is sent, so bad input is a clean 4xx even
    # when streaming was asked for.
    reply = _reply(body, request, chat)
    if body.stream:
        return StreamingResponse(
            _stream(body, reply, services(request).metrics),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    data = AnswerOut.of(reply.answer) if reply.answer else None
    message = AssistantMessage(
        content=reply.content,
        annotations=[Annotation.model_validate(a) for a in reply.annotations],
    )
    return ChatCompletion(
        id=f"chatcmpl-{uuid.uuid4().hex}",
        created=int(time.time()),
        model=body.model,
        choices=[Choice(index=0, message=message, finish_reason=reply.finish)],  # type: ignore[arg-type]
        usage=Usage(**_usage(body, reply.content)),
        citations=data.citations if data else [],
        answer=data,
    )


def _models() -> list[ModelCard]:
    return [ModelCard(id=MODEL_ID, created=0, owned_by="article-qa")]


@router.get("/models", response_model=ModelList, summary="The one model this server offers")
def models() -> ModelList:
    return ModelList(data=_models())


@router.get("/models/{model_id:path}", response_model=ModelCard, summary="One model")
def model(model_id: str) -> ModelCard:
    for card in _models():
        if card.id == model_id:
            return card
    raise NotFoundError(f"no model {model_id!r}; this server offers {MODEL_ID!r}")
