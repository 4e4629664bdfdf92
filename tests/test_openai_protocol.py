"""The OpenAI-compatible protocol, field by field, through TestClient: what is honoured
(annotations, max_tokens, stop, response_format, models/{id}, usage), what is refused with a
400 naming the field, the reading page every citation links to, and Open WebUI's background
task prompts answered without retrieval."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from api.links import signature
from qa.pipeline import Pipeline
from tests.conftest import FOUNDING_Q
from tests.test_api import _app, assert_error

FOUNDING_ID = "north-korea-troops-to-russia-2025-02-11"
KEY = "k-123"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def client(corpus_pipeline: Pipeline, tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    return TestClient(_app(corpus_pipeline, tmp_path_factory.mktemp("proto"), api_key=KEY))


def _chat(client: TestClient, question: str = FOUNDING_Q, **fields: Any) -> Any:
    body = {"model": "article-qa", "messages": [{"role": "user", "content": question}], **fields}
    return client.post("/v1/chat/completions", json=body, headers=AUTH)


def _retrievals(client: TestClient) -> int:
    text = client.get("/metrics", headers=AUTH).text
    m = re.search(
        r'articleqa_pipeline_stage_seconds_count\{endpoint="chat_completions",'
        r'stage="retrieve"\} (\d+)',
        text,
    )
    return int(m.group(1)) if m else 0


def test_annotations_point_at_markers_and_open_the_passage(client: TestClient) -> None:
    r = _chat(client)
    assert r.status_code == 200, r.text
    msg = r.json()["choices"][0]["message"]
    content, notes = msg["content"], msg["annotations"]
    assert content.startswith("around 11,000 [1]") or "11,000 [1]" in content
    assert notes and all(a["type"] == "url_citation" for a in notes)
    for a in notes:
        cite = a["url_citation"]
        assert re.fullmatch(r"\[\d+\]", content[cite["start_index"] : cite["end_index"]])
        assert cite["title"]
    first = notes[0]["url_citation"]
    url = urlsplit(first["url"])
    assert url.path == f"/read/{FOUNDING_ID}" and url.fragment == "passage"
    # The link is signed: a browser following it sends no key, and still reads the page.
    page = client.get(f"{url.path}?{url.query}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<mark class="answer">' in page.text and 'id="passage"' in page.text
    answer_mark = re.search(r'<mark class="answer">(.*?)</mark>', page.text)
    assert answer_mark and "11,000" in answer_mark.group(1)


def test_text_lists_one_source_per_article_with_a_quote(client: TestClient) -> None:
    content = _chat(client).json()["choices"][0]["message"]["content"]
    sources = content.split("Sources:\n", 1)[1]
    numbers = re.findall(r"^\[(\d+)\] ", sources, flags=re.MULTILINE)
    assert numbers and len(numbers) == len(set(numbers))
    assert sources.count("\n> ") == len(numbers)  # a quoted passage under each source
    data = _chat(client).json()
    titles = {c["number"]: c["article_id"] for c in data["citations"]}
    by_article: dict[str, set[int]] = {}
    for c in data["citations"]:
        by_article.setdefault(c["article_id"], set()).add(c["number"])
    assert all(len(ns) == 1 for ns in by_article.values())  # one number per article
    assert sorted(titles) == list(range(1, len(titles) + 1))


def test_reading_page_refuses_without_key_or_signature(client: TestClient) -> None:
    assert_error(client.get(f"/read/{FOUNDING_ID}"), 401, "API key")
    forged = client.get(f"/read/{FOUNDING_ID}?sig={signature('other', FOUNDING_ID)}")
    assert_error(forged, 401)
    # A signature opens only its own article.
    other = client.get(f"/read/someone-else?sig={signature(KEY, FOUNDING_ID)}")
    assert_error(other, 401)
    assert_error(client.get("/read/no-such-article", headers=AUTH), 404, "no article")
    assert_error(client.get(f"/read/{FOUNDING_ID}?passage=9-x", headers=AUTH), 422, "passage")
    page = client.get(f"/read/{FOUNDING_ID}?passage=0-99999999", headers=AUTH)
    assert page.status_code == 200 and "no longer at these offsets" in page.text


def test_max_tokens_cuts_and_says_length(client: TestClient) -> None:
    for field in ("max_tokens", "max_completion_tokens"):
        r = _chat(client, **{field: 3})
        choice = r.json()["choices"][0]
        assert choice["finish_reason"] == "length"
        assert len(choice["message"]["content"].split()) == 3
        assert r.json()["usage"]["completion_tokens"] == 3
    whole = _chat(client, max_tokens=100000).json()["choices"][0]
    assert whole["finish_reason"] == "stop" and "Sources:" in whole["message"]["content"]
    assert_error(_chat(client, max_tokens=0), 400, "max_tokens")


def test_stop_sequence(client: TestClient) -> None:
    r = _chat(client, stop=["Sources:"]).json()["choices"][0]
    assert "Sources:" not in r["message"]["content"] and r["finish_reason"] == "stop"
    assert_error(_chat(client, stop=["a", "b", "c", "d", "e"]), 400, "stop")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("n", 2),
        ("tool_choice", "required"),
        ("tool_choice", {"type": "function", "function": {"name": "f"}}),
        ("function_call", {"name": "f"}),
        ("tools", {"not": "a list"}),
        ("logprobs", True),
        ("top_logprobs", 3),
        ("audio", {"voice": "alloy", "format": "wav"}),
        ("modalities", ["text", "audio"]),
        ("prediction", {"type": "content", "content": "x"}),
        ("response_format", {"type": "yaml"}),
    ],
)
def test_unsupported_fields_are_named(client: TestClient, field: str, value: Any) -> None:
    before = _retrievals(client)
    err = assert_error(_chat(client, **{field: value}), 400, field)
    assert err["param"].split(".")[0] == field
    assert _retrievals(client) == before  # refused before any retrieval


def test_offered_tools_are_never_called(client: TestClient) -> None:
    """Open WebUI offers its built-in tools with every request (tool_choice auto): the
    answer comes from the articles, with no tool call, as ``auto`` allows."""
    plain = _chat(client).json()["choices"][0]
    tool = {"type": "function", "function": {"name": "search_notes", "parameters": {}}}
    for choice in ({}, {"tool_choice": "auto"}, {"tool_choice": "none"}):
        r = _chat(client, tools=[tool], **choice)
        assert r.status_code == 200, r.text
        got = r.json()["choices"][0]
        assert got["message"]["content"] == plain["message"]["content"]
        assert not got["message"].get("tool_calls") and got["finish_reason"] == "stop"


def test_accepted_fields_change_nothing(client: TestClient) -> None:
    plain = _chat(client).json()["choices"][0]["message"]["content"]
    tuned = _chat(client, n=1, temperature=1.7, top_p=0.5, seed=3, tool_choice="none", user="u")
    assert tuned.status_code == 200
    assert tuned.json()["choices"][0]["message"]["content"] == plain


def test_response_format_json_object(client: TestClient) -> None:
    r = _chat(client, response_format={"type": "json_object"}).json()
    obj = json.loads(r["choices"][0]["message"]["content"])
    assert "11,000" in obj["answer"] and obj["citations"][0]["article_id"] == FOUNDING_ID
    assert r["choices"][0]["message"]["annotations"] == []


def test_response_format_json_schema(client: TestClient) -> None:
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string"}, "confidence": {"type": "number"}},
        "required": ["answer", "confidence"],
        "additionalProperties": False,
    }
    fmt = {"type": "json_schema", "json_schema": {"name": "Answer", "schema": schema}}
    r = _chat(client, response_format=fmt)
    obj = json.loads(r.json()["choices"][0]["message"]["content"])
    assert set(obj) == {"answer", "confidence"} and "11,000" in obj["answer"]


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ({"name": "A", "schema": {"type": "object", "properties": {"answer": {"type": 5}}}}, ""),
        ({"name": "bad name!", "schema": {"type": "object", "properties": {}}}, "name"),
        ({"name": "A", "schema": {"type": "array"}}, "object"),
        ({"name": "A"}, "schema"),
        (
            {
                "name": "A",
                "schema": {
                    "type": "object",
                    "properties": {"mood": {"type": "string"}},
                    "required": ["mood"],
                },
            },
            "mood",
        ),
        (
            {
                "name": "A",
                "schema": {"type": "object", "properties": {"answer": {"type": "integer"}}},
            },
            "answer",
        ),
    ],
)
def test_response_format_bad_schema(client: TestClient, spec: dict[str, Any], words: str) -> None:
    r = _chat(client, response_format={"type": "json_schema", "json_schema": spec})
    err = assert_error(r, 400, words)
    assert err["param"].startswith("response_format")


def test_models_by_id(client: TestClient) -> None:
    card = client.get("/v1/models/article-qa", headers=AUTH)
    assert card.status_code == 200 and card.json()["id"] == "article-qa"
    assert_error(client.get("/v1/models/gpt-4o", headers=AUTH), 404, "gpt-4o")


def test_usage_on_plain_and_streamed_replies(client: TestClient) -> None:
    assert _chat(client).json()["usage"]["total_tokens"] > 0
    with client.stream(
        "POST",
        "/v1/chat/completions",
        headers=AUTH,
        json={"messages": [{"role": "user", "content": FOUNDING_Q}], "stream": True},
    ) as r:
        events = [json.loads(x[6:]) for x in r.iter_lines() if x and x != "data: [DONE]"]
    last = events[-1]
    assert last["choices"][0]["finish_reason"] == "stop" and last["usage"]["total_tokens"] > 0
    text = "".join(e["choices"][0]["delta"].get("content", "") for e in events)
    notes = last["choices"][0]["delta"]["annotations"]
    assert notes and all(
        re.fullmatch(
            r"\[\d+\]", text[a["url_citation"]["start_index"] : a["url_citation"]["end_index"]]
        )
        for a in notes
    )


OPEN_WEBUI_TITLE = """### Task:
Generate a concise, 3-5 word title with an emoji summarizing the chat history.
### Output:
JSON format: { "title": "your concise title here" }
### Chat History:
<chat_history>
USER: How many troops did North Korea send to Russia?
ASSISTANT: around 11,000 [1]
</chat_history>"""


@pytest.mark.parametrize(
    ("prompt", "key", "value"),
    [
        (OPEN_WEBUI_TITLE, "title", "How many troops did North Korea"),
        ('### Task:\nGenerate 1-3 broad tags...\nJSON format: { "tags": ["tag1"] }', "tags", []),
        (
            '### Task:\nSuggest 3-5 relevant follow-up questions\nJSON format: { "follow_ups": '
            '["Question 1?"] }',
            "follow_ups",
            [],
        ),
        (
            '### Task:\nAnalyze the chat history...\nJSON format: { "queries": ["q"] }',
            "queries",
            [],
        ),
    ],
)
def test_open_webui_task_prompts_skip_retrieval(
    client: TestClient, prompt: str, key: str, value: Any
) -> None:
    before = _retrievals(client)
    r = _chat(client, prompt)
    assert r.status_code == 200, r.text
    body = r.json()
    assert json.loads(body["choices"][0]["message"]["content"]) == {key: value}
    assert body["answer"] is None and body["citations"] == []
    assert _retrievals(client) == before
    assert (
        f'articleqa_client_tasks_total{{task="{key}"}}' in client.get("/metrics", headers=AUTH).text
    )


def test_refused_requests_store_nothing(client: TestClient, corpus_pipeline: Pipeline) -> None:
    count = corpus_pipeline.article_count()
    _chat(client, tools=[{"type": "function"}], tool_choice="required")
    _chat(client, response_format={"type": "json_schema"})
    assert corpus_pipeline.article_count() == count


def test_a_pronoun_with_nothing_to_refer_to_is_asked_about(client: TestClient) -> None:
    before = _retrievals(client)
    r = _chat(client, "How many of them were killed?").json()
    content = r["choices"][0]["message"]["content"]
    assert "Which one do you mean?" in content and "them" in content
    assert not re.search(r"\d", content)  # no figure guessed
    assert r["answer"]["unclear"] == "them" and r["answer"]["abstained"]
    assert r["citations"] == [] and _retrievals(client) == before  # nothing retrieved


def test_answers_say_when_their_source_was_published(client: TestClient) -> None:
    r = _chat(client).json()
    assert r["answer"]["as_of"] == "2025-02-11"
    paragraphs = r["choices"][0]["message"]["content"].split("\n\n")
    assert paragraphs[1] == "According to a report of 11 February 2025."
    declined = _chat(client, "What is the capital of Australia?").json()["answer"]
    assert declined["abstained"] and declined["as_of"] is None
