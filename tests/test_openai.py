"""The OpenAI-compatible endpoint through the official ``openai`` client against a real
uvicorn server on a loopback port, streaming and not, with an API key."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from pydantic import BaseModel

from tests.api_helpers import copy_index, running_server
from tests.conftest import FOUNDING_Q

# End to end through real processes and servers: run by the README's test command and CI,
# left out of the quick tier (`pytest -m "not slow"`).
pytestmark = pytest.mark.slow

KEY = "test-key-123"
FOUNDING_ID = "north-korea-troops-to-russia-2025-02-11"


@pytest.fixture(scope="module")
def base_url(corpus_index_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = copy_index(corpus_index_dir, tmp_path_factory.mktemp("openai") / "data")
    with running_server(data, api_key=KEY) as base:
        yield base


@pytest.fixture(scope="module")
def client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url + "/v1", api_key=KEY, max_retries=0, timeout=60)


def test_models(client: openai.OpenAI) -> None:
    assert "article-qa" in [m.id for m in client.models.list()]


def test_completion_with_citations(client: openai.OpenAI) -> None:
    resp = client.chat.completions.create(
        model="article-qa", messages=[{"role": "user", "content": FOUNDING_Q}]
    )
    text = resp.choices[0].message.content or ""
    assert "11,000" in text and "[1]" in text and "Sources:" in text
    assert resp.choices[0].finish_reason == "stop"
    extra = resp.model_extra or {}
    assert extra["citations"][0]["article_id"] == FOUNDING_ID
    assert extra["citations"][0]["number"] == 1
    assert "11,000" in extra["answer"]["answer"]


def test_streaming_ends_with_citations(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="article-qa", stream=True, messages=[{"role": "user", "content": FOUNDING_Q}]
    )
    chunks = list(stream)
    assert len(chunks) > 3  # it really arrives in pieces
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "11,000" in text and "[1]" in text and "Sources:" in text
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    assert (last.model_extra or {})["citations"][0]["article_id"] == FOUNDING_ID


def test_history_and_content_parts(client: openai.OpenAI) -> None:
    resp = client.chat.completions.create(
        model="anything",
        messages=[
            {"role": "system", "content": "Answer from the articles."},
            {"role": "user", "content": [{"type": "text", "text": FOUNDING_Q}]},
        ],
    )
    assert "11,000" in (resp.choices[0].message.content or "")
    assert resp.model == "anything"


def test_follow_up_resolved_from_history(client: openai.OpenAI) -> None:
    history: list[dict[str, str]] = [{"role": "user", "content": FOUNDING_Q}]
    first = client.chat.completions.create(model="article-qa", messages=history)  # type: ignore[arg-type]
    history += [
        {"role": "assistant", "content": first.choices[0].message.content or ""},
        {"role": "user", "content": "How many of them were killed?"},
    ]
    resp = client.chat.completions.create(model="article-qa", messages=history)  # type: ignore[arg-type]
    answer = (resp.model_extra or {})["answer"]
    assert answer["answer"] == "300" and "troops" in answer["searched_query"]


def test_raw_sse_format(base_url: str) -> None:
    with httpx.stream(
        "POST",
        base_url + "/v1/chat/completions",
        timeout=60,
        headers={"Authorization": f"Bearer {KEY}"},
        json={
            "messages": [{"role": "user", "content": FOUNDING_Q}],
            "stream": True,
            "stream_options": {"include_usage": True},
        },
    ) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        events = [line for line in r.iter_lines() if line]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"
    payloads = [json.loads(e[6:]) for e in events[:-1]]
    assert payloads[0]["choices"][0]["delta"]["role"] == "assistant"
    assert all(p["object"] == "chat.completion.chunk" for p in payloads)
    assert payloads[-1]["usage"]["total_tokens"] > 0 and payloads[-1]["choices"] == []


def test_errors_reach_the_client(client: openai.OpenAI, base_url: str) -> None:
    with pytest.raises(openai.UnprocessableEntityError) as err:
        client.chat.completions.create(
            model="article-qa", messages=[{"role": "system", "content": "hi"}]
        )
    assert "user message" in str(err.value)
    bad = openai.OpenAI(base_url=base_url + "/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()
    assert httpx.get(base_url + "/health").status_code == 200


def test_annotations_reach_the_openai_client(client: openai.OpenAI, base_url: str) -> None:
    resp = client.chat.completions.create(
        model="article-qa", messages=[{"role": "user", "content": FOUNDING_Q}]
    )
    msg = resp.choices[0].message
    content = msg.content or ""
    assert msg.annotations, "url_citation annotations are typed fields of the client"
    for a in msg.annotations:
        assert a.type == "url_citation"
        cite = a.url_citation
        assert content[cite.start_index : cite.end_index].startswith("[")
        assert cite.url.startswith(base_url + "/read/")
    # The link opens in a browser that has no key: it is signed for its article.
    page = httpx.get(msg.annotations[0].url_citation.url, timeout=30)
    assert page.status_code == 200 and "11,000" in page.text


def test_protocol_through_the_openai_client(client: openai.OpenAI) -> None:
    msgs: list[Any] = [{"role": "user", "content": FOUNDING_Q}]
    cut = client.chat.completions.create(model="article-qa", messages=msgs, max_tokens=2)
    assert cut.choices[0].finish_reason == "length" and cut.usage is not None
    assert cut.usage.completion_tokens == 2
    assert client.models.retrieve("article-qa").id == "article-qa"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-4o")
    for field, value in (("n", 2), ("logprobs", True)):
        with pytest.raises(openai.BadRequestError) as err:
            client.chat.completions.create(model="article-qa", messages=msgs, **{field: value})
        assert field in str(err.value)
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(
            model="article-qa",
            messages=msgs,
            tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}],
            tool_choice="required",
        )
    assert "tool_choice" in str(err.value)


class Figure(BaseModel):
    answer: str
    confidence: float
    abstained: bool


def test_structured_output_with_the_openai_client(client: openai.OpenAI) -> None:
    parsed = client.chat.completions.parse(
        model="article-qa",
        messages=[{"role": "user", "content": FOUNDING_Q}],
        response_format=Figure,
    )
    fig = parsed.choices[0].message.parsed
    assert fig is not None and "11,000" in fig.answer and not fig.abstained


def test_langchain(base_url: str) -> None:
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(
        model="article-qa", base_url=base_url + "/v1", api_key=KEY, max_retries=0, timeout=60
    )
    reply = llm.invoke(FOUNDING_Q)
    assert "11,000" in str(reply.content) and "[1]" in str(reply.content)
    streamed = "".join(str(c.content) for c in llm.stream(FOUNDING_Q))
    assert "11,000" in streamed
    structured = llm.with_structured_output(Figure, method="json_schema").invoke(FOUNDING_Q)
    assert isinstance(structured, Figure) and "11,000" in structured.answer
    as_json = llm.with_structured_output(method="json_mode").invoke(FOUNDING_Q)
    assert isinstance(as_json, dict) and "11,000" in as_json["answer"]
    with pytest.raises(openai.BadRequestError) as err:
        llm.with_structured_output(Figure, method="function_calling").invoke(FOUNDING_Q)
    assert "tool_choice" in str(err.value)
    cut = ChatOpenAI(
        model="article-qa", base_url=base_url + "/v1", api_key=KEY, max_tokens=2, max_retries=0
    ).invoke(FOUNDING_Q)
    assert cut.response_metadata.get("finish_reason") == "length"


def _open_streams(base_url: str) -> float:
    text = httpx.get(base_url + "/metrics", headers={"Authorization": f"Bearer {KEY}"}).text
    line = next(x for x in text.splitlines() if x.startswith("articleqa_open_streams "))
    return float(line.split()[1])


def test_a_client_leaving_mid_stream_is_logged_and_released(
    base_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="api.openai_compat")
    with httpx.stream(
        "POST",
        base_url + "/v1/chat/completions",
        timeout=60,
        headers={"Authorization": f"Bearer {KEY}"},
        json={"messages": [{"role": "user", "content": FOUNDING_Q}], "stream": True},
    ) as r:
        first = next(r.iter_lines())
        assert first.startswith("data: ")
    # The reply is about 50 pieces 10 ms apart: the server notices well before its end.
    deadline = time.monotonic() + 10
    while _open_streams(base_url) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _open_streams(base_url) == 0
    assert any("disconnected before the end" in r.getMessage() for r in caplog.records)
    after = httpx.post(
        base_url + "/v1/chat/completions",
        timeout=60,
        headers={"Authorization": f"Bearer {KEY}"},
        json={"messages": [{"role": "user", "content": FOUNDING_Q}]},
    )
    assert after.status_code == 200 and "11,000" in after.text


def test_ingestion_job_on_a_real_server(base_url: str) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    batch = [
        {
            "id": f"job-{i}",
            "title": f"Harbour report {i}",
            "text": f"The harbour took in {i + 3} ships.",
        }
        for i in range(6)
    ]
    r = httpx.post(base_url + "/articles", json=batch, headers=auth, timeout=60)
    assert r.status_code == 202, r.text
    status = base_url + r.headers["location"]
    deadline = time.monotonic() + 120
    job = r.json()
    while job["state"] not in ("done", "failed") and time.monotonic() < deadline:
        time.sleep(0.2)
        job = httpx.get(status, headers=auth, timeout=30).json()
    assert job["state"] == "done" and job["result"]["added"] == 6, job
    assert (
        httpx.get(base_url + "/articles/job-3", headers=auth).json()["title"] == "Harbour report 3"
    )
