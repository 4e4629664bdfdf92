"""An OpenAI-compatible chat endpoint, so any chat app that speaks that API can use the
articles: ``POST /v1/chat/completions`` (plain and streamed) and ``GET /v1/models``.

The reply text carries ``[n]`` markers and a Sources list; the structured citations travel
in the extra field ``citations`` (and the whole answer object in ``answer``), in streaming
mode on the final chunk, so a client that keeps extra fields never loses them.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.deps import get_chat, get_pipeline, services
from api.render import reply_text
from api.schemas import ERRORS, AnswerOut, CitationOut
from qa.chat.chat import Chat
from qa.pipeline import Pipeline
from qa.types import Answer

router = APIRouter(prefix="/v1", tags=["openai"], responses=ERRORS)

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


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int
    message: AssistantMessage
    finish_reason: Literal["stop"]


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
    answer: AnswerOut = Field(description="The whole answer object, as POST /ask (extension).")


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


def _answer(
    body: ChatCompletionRequest, request: Request, pipeline: Pipeline, chat: Chat
) -> Answer:
    history = [(m.role, m.text()) for m in body.messages]
    answer = chat.answer_history(history, top_k=body.top_k)
    services(request).metrics.observe_stages("chat_completions", answer.timings_ms)
    return answer


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


async def _stream(body: ChatCompletionRequest, answer: Answer, text: str) -> AsyncIterator[str]:
    cid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
    yield _chunk(cid, created, body.model, {"role": "assistant", "content": ""})
    pieces = _PIECE.findall(text)
    for i in range(0, len(pieces), 3):
        yield _chunk(cid, created, body.model, {"content": "".join(pieces[i : i + 3])})
        await asyncio.sleep(STREAM_PAUSE_S)
    data = AnswerOut.of(answer).model_dump()
    yield _chunk(cid, created, body.model, {}, "stop", citations=data["citations"], answer=data)
    if body.stream_options is not None and body.stream_options.include_usage:
        prompt = sum(_tokens(m.text()) for m in body.messages)
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": _tokens(text),
            "total_tokens": prompt + _tokens(text),
        }
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
    # The answer is computed before any byte is sent, so bad input is a clean 4xx even
    # when streaming was asked for.
    answer = _answer(body, request, pipeline, chat)
    text = reply_text(answer)
    if body.stream:
        return StreamingResponse(
            _stream(body, answer, text),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    data = AnswerOut.of(answer)
    prompt = sum(_tokens(m.text()) for m in body.messages)
    return ChatCompletion(
        id=f"chatcmpl-{uuid.uuid4().hex}",
        created=int(time.time()),
        model=body.model,
        choices=[Choice(index=0, message=AssistantMessage(content=text), finish_reason="stop")],
        usage=Usage(
            prompt_tokens=prompt,
            completion_tokens=_tokens(text),
            total_tokens=prompt + _tokens(text),
        ),
        citations=data.citations,
        answer=data,
    )


@router.get("/models", response_model=ModelList, summary="The one model this server offers")
def models() -> ModelList:
    return ModelList(data=[ModelCard(id=MODEL_ID, created=0, owned_by="article-qa")])
