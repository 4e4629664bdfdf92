"""The JSON API through FastAPI's TestClient: answers, chat, articles, safety and every kind
of bad input (each a 4xx with a JSON body, never a 500, nothing stored lost)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from api.deps import get_conversations, get_pipeline
from qa.chat.sessions import ConversationStore
from qa.pipeline import Pipeline
from tests.api_helpers import copy_index
from tests.conftest import FOUNDING_Q, Models, make_settings

FOUNDING_ID = "north-korea-troops-to-russia-2025-02-11"


def _app(pipeline: Pipeline, tmp: Path, **settings: Any) -> FastAPI:
    """An app whose routes get ``pipeline`` through the dependency override."""
    app = create_app(make_settings(tmp / "unused", auto_ingest=False, **settings))
    store = ConversationStore(tmp / "chat.sqlite")
    app.dependency_overrides[get_pipeline] = lambda: pipeline
    app.dependency_overrides[get_conversations] = lambda: store
    return app


def assert_error(response: Any, status: int, *words: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    err = response.json()["error"]
    assert err["code"] == status and err["message"]
    for word in words:
        assert word.lower() in err["message"].lower(), err["message"]
    return dict(err)


@pytest.fixture(scope="module")
def client(corpus_pipeline: Pipeline, tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    return TestClient(_app(corpus_pipeline, tmp_path_factory.mktemp("api")))


@pytest.fixture(scope="module")
def writable(
    corpus_index_dir: Path, models: Models, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pipeline]:
    """A private pipeline over a copy of the built index, shared by this module's write tests,
    reusing the session's ingest models."""
    data = copy_index(corpus_index_dir, tmp_path_factory.mktemp("writable") / "data")
    pipeline = models.pipeline(data, auto_ingest=False)
    yield pipeline
    pipeline.close()


@pytest.fixture(scope="module")
def wclient(writable: Pipeline, tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    return TestClient(_app(writable, tmp_path_factory.mktemp("wapi"), max_upload_bytes=4096))


# -- answers ------------------------------------------------------------------------------


def test_ask_founding_question_with_citation(client: TestClient) -> None:
    r = client.post("/ask", json={"question": FOUNDING_Q})
    assert r.status_code == 200, r.text
    body = r.json()
    assert "11,000" in body["answer"]
    assert not body["abstained"]
    first = body["citations"][0]
    assert first["article_id"] == FOUNDING_ID
    assert first["author"] == "Stanislav Pohorilov" and first["date"] == "2025-02-11"
    assert first["text"][first["answer_start"] : first["answer_end"]] == body["answer"]
    assert {"retrieve", "answer", "total"} <= set(body["timings_ms"])


def test_ask_filters(client: TestClient) -> None:
    r = client.post(
        "/ask", json={"question": FOUNDING_Q, "top_k": 2, "filters": {"author": "Pohorilov"}}
    )
    assert r.status_code == 200
    cites = r.json()["citations"]
    assert 0 < len(cites) <= 2 and all(c["article_id"] == FOUNDING_ID for c in cites)
    r = client.post("/ask", json={"question": FOUNDING_Q, "filters": {"date_to": "2010-01-01"}})
    assert r.status_code == 200
    assert all(c["article_id"] != FOUNDING_ID for c in r.json()["citations"])


def test_search_ranks_passages(client: TestClient) -> None:
    r = client.get("/search", params={"q": "North Korea troops Russia", "k": 3})
    assert r.status_code == 200
    hits = r.json()["hits"]
    assert [h["rank"] for h in hits] == [1, 2, 3]
    assert hits[0]["article_id"] == FOUNDING_ID
    assert hits[0]["score"] >= hits[-1]["score"]


def test_chat_keeps_a_session(client: TestClient) -> None:
    r = client.post("/chat", json={"message": FOUNDING_Q})
    assert r.status_code == 200, r.text
    first = r.json()
    assert first["session_id"] and "11,000" in first["answer"]
    assert first["searched_query"]
    r = client.post(
        "/chat",
        json={"session_id": first["session_id"], "message": "How many of them were killed?"},
    )
    assert r.status_code == 200, r.text
    second = r.json()
    assert second["session_id"] == first["session_id"]
    assert second["answer"] == "300"
    # What was actually searched is shown, and it carries the earlier subject.
    assert "troops" in second["searched_query"]
    r = client.post("/chat", json={"session_id": first["session_id"], "message": "And wounded?"})
    assert r.status_code == 200 and r.json()["answer"] == "2,700"


def test_articles_list_and_get(client: TestClient) -> None:
    r = client.get("/articles", params={"limit": 5})
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == 25 and len(body["articles"]) == 5
    r = client.get(f"/articles/{FOUNDING_ID}")
    assert r.status_code == 200
    art = r.json()
    assert "11,000 troops" in art["text"] and art["chunks"] >= 1


def test_health_and_metrics(client: TestClient) -> None:
    h = client.get("/health").json()
    assert h["status"] == "ok" and h["articles"] == 25 and h["chunks"] > 0
    client.post("/ask", json={"question": FOUNDING_Q})
    text = client.get("/metrics").text
    assert 'articleqa_http_requests_total{method="POST",route="/ask",status="200"}' in text
    assert (
        'articleqa_http_request_duration_seconds_bucket{method="POST",route="/ask",le="+Inf"}'
        in text
    )
    assert 'articleqa_pipeline_stage_seconds_count{endpoint="ask",stage="retrieve"}' in text
    assert "articleqa_index_chunks " in text and "articleqa_index_size_bytes " in text


def test_chat_page_and_docs(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "New conversation" in page.text
    assert client.get("/static/app.js").status_code == 200
    spec = client.get("/openapi.json").json()
    assert {"/ask", "/search", "/chat", "/articles", "/v1/chat/completions"} <= set(spec["paths"])
    # /docs must work offline: every asset it names is served by the app itself.
    docs = client.get("/docs")
    assert docs.status_code == 200 and "cdn" not in docs.text.lower()
    assert client.get("/static/docs/swagger-ui-bundle.js").status_code == 200
    assert client.get("/static/docs/swagger-ui.css").status_code == 200


# -- bad input: a 4xx with a JSON body for each ---------------------------------------------


def test_malformed_json(client: TestClient) -> None:
    r = client.post(
        "/ask", content=b'{"question": "x",', headers={"content-type": "application/json"}
    )
    assert_error(r, 422, "not valid JSON")
    r = client.post("/articles", content=b"{nope", headers={"content-type": "application/json"})
    assert_error(r, 422, "not valid JSON")
    r = client.post("/chat", content=b"\x0b\xff", headers={"content-type": "application/json"})
    assert_error(r, 422, "not valid JSON")


@pytest.mark.parametrize("path", ["/ask", "/chat", "/articles", "/v1/chat/completions"])
def test_json_nested_too_deeply(client: TestClient, path: str) -> None:
    deep = b"[" * 50_000 + b"]" * 50_000
    assert_error(
        client.post(path, content=deep, headers={"content-type": "application/json"}),
        422,
        "not valid JSON",
    )


@pytest.mark.parametrize(
    "body",
    [
        b'{"question": "\\ud800 troops"}',
        b'{"messages": [{"role": "user", "content": "\\ud800 troops"}]}',
        b'{"messages": [{"role": "user", "content": [{"type": "text", "text": "\\udfff"}]}]}',
    ],
)
def test_lone_surrogates(client: TestClient, body: bytes) -> None:
    path = "/ask" if b"question" in body else "/v1/chat/completions"
    assert_error(client.post(path, content=body, headers={"content-type": "application/json"}), 422)


@pytest.mark.parametrize(
    "body",
    [
        {"question": 5},
        {"question": ["a"]},
        {"question": "x", "top_k": "many"},
        {"question": "x", "top_k": 0},
        {"question": "x", "filters": {"date_from": "yesterday-ish"}},
        {"question": "x", "unknown": 1},
        {},
        [],
    ],
)
def test_wrong_types(client: TestClient, body: Any) -> None:
    err = assert_error(client.post("/ask", json=body), 422)
    assert err["details"]


def test_empty_question(client: TestClient) -> None:
    assert_error(client.post("/ask", json={"question": ""}), 422, "question", "at least 1")
    assert_error(client.get("/search", params={"q": ""}), 422, "q", "at least 1")
    assert_error(client.post("/ask", json={"question": "   \n "}), 422, "empty")
    assert_error(client.get("/search", params={"q": " "}), 422, "empty")


def test_question_too_long(client: TestClient) -> None:
    assert_error(client.post("/ask", json={"question": "why " * 1000}), 413, "limit")


def test_empty_chat_message_creates_no_session(client: TestClient) -> None:
    store = client.app.dependency_overrides[get_conversations]()  # type: ignore[attr-defined]
    before = store.conn.execute("SELECT count(*) FROM sessions").fetchone()[0]
    assert_error(client.post("/chat", json={"message": "  "}), 422, "empty")
    assert_error(client.post("/chat", json={"message": ""}), 422, "message")
    assert store.conn.execute("SELECT count(*) FROM sessions").fetchone()[0] == before


def test_unknown_session(client: TestClient) -> None:
    r = client.post("/chat", json={"session_id": "no-such-session", "message": FOUNDING_Q})
    assert_error(r, 404, "no-such-session")


def test_messages_without_user_turn(client: TestClient) -> None:
    r = client.post(
        "/v1/chat/completions",
        json={
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "assistant", "content": "hi"},
            ]
        },
    )
    assert_error(r, 422, "user")
    assert_error(client.post("/v1/chat/completions", json={"messages": []}), 422)


def test_oversized_body(corpus_pipeline: Pipeline, tmp_path: Path) -> None:
    small = TestClient(_app(corpus_pipeline, tmp_path, max_body_bytes=2048))
    big = {"question": "x" * 5000}
    assert_error(small.post("/ask", json=big), 413, "larger than")

    def chunked() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"question": "'
        for _ in range(10):
            yield b"y" * 1000
        yield b'"}'

    r = small.post("/ask", content=chunked(), headers={"content-type": "application/json"})
    assert_error(r, 413, "larger than")
    assert small.post("/ask", json={"question": FOUNDING_Q}).status_code == 200


def test_unknown_article_and_route(client: TestClient) -> None:
    assert_error(client.get("/articles/nope"), 404, "nope")
    assert_error(client.delete("/articles/nope"), 404, "nope")
    assert client.get("/articles").json()["total"] == 25  # nothing lost
    assert_error(client.get("/no/such/route"), 404)
    assert_error(client.put("/ask", json={}), 405)
    r = client.request("OPTIONS", "/articles")
    assert_error(r, 405)
    assert set(r.headers["allow"].split(", ")) >= {"GET", "POST"}


# -- safety -----------------------------------------------------------------------------


def test_api_key(corpus_pipeline: Pipeline, tmp_path: Path) -> None:
    c = TestClient(_app(corpus_pipeline, tmp_path, api_key="s3cret-key"))
    err = assert_error(c.post("/ask", json={"question": FOUNDING_Q}), 401, "missing")
    assert err["type"] == "unauthorized"
    r = c.post("/ask", json={"question": FOUNDING_Q}, headers={"Authorization": "Bearer nope"})
    assert_error(r, 401, "wrong")
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert_error(c.get("/metrics", headers={"Authorization": "Basic s3cret-key"}), 401)
    assert_error(c.get("/openapi.json"), 401)
    ok = {"Authorization": "Bearer s3cret-key"}
    assert c.post("/ask", json={"question": FOUNDING_Q}, headers=ok).status_code == 200
    assert c.get("/v1/models", headers=ok).status_code == 200
    assert c.get("/health").status_code == 200  # probes need no key
    assert c.get("/").status_code == 200  # the page holds no data; its requests need the key


def test_cors_off_by_default_and_configurable(corpus_pipeline: Pipeline, tmp_path: Path) -> None:
    origin = {"Origin": "http://example.test"}
    r = TestClient(_app(corpus_pipeline, tmp_path)).get("/health", headers=origin)
    assert "access-control-allow-origin" not in r.headers
    c = TestClient(_app(corpus_pipeline, tmp_path / "b", cors_origins="http://example.test"))
    r = c.get("/health", headers=origin)
    assert r.headers["access-control-allow-origin"] == "http://example.test"
    pre = c.options("/ask", headers={**origin, "Access-Control-Request-Method": "POST"})
    assert pre.status_code == 200


# -- writes -----------------------------------------------------------------------------

ARTICLE = {
    "id": "test-otters-2026",
    "title": "Otters return to the Thames",
    "author": "Ada Byline",
    "date": "2026-03-04",
    "url": "http://127.0.0.1:9/never-fetched",
    "text": "Otters have returned to the River Thames in London for the first time in a "
    "century. Volunteers counted 14 otters along the river in March, the London "
    "Wildlife Trust said on Wednesday.",
}


def _count(c: TestClient) -> int:
    return int(c.get("/articles").json()["total"])


def test_ingest_json_article_then_delete(
    wclient: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ingestion never reaches the network, not even for the article's url.
    def no_network(*_a: Any, **_k: Any) -> None:
        raise AssertionError("ingestion tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    before = _count(wclient)
    r = wclient.post("/articles", json=ARTICLE)
    assert r.status_code == 201, r.text
    assert r.json()["added"] == 1 and r.json()["article_ids"] == [ARTICLE["id"]]
    monkeypatch.undo()
    assert _count(wclient) == before + 1
    got = wclient.get(f"/articles/{ARTICLE['id']}").json()
    assert got["author"] == "Ada Byline" and got["url"] == ARTICLE["url"]
    ans = wclient.post("/ask", json={"question": "How many otters did volunteers count?"}).json()
    assert ans["citations"][0]["article_id"] == ARTICLE["id"]
    assert wclient.post("/articles", json=ARTICLE).status_code == 200  # unchanged
    undated = {"id": "undated-otters", "text": "Otters, again.", "date": "last Tuesday-ish"}
    r = wclient.post("/articles", json=undated)
    assert r.status_code == 201 and "not a date" in r.json()["warnings"][0]["reason"]
    got = wclient.get("/articles/undated-otters").json()
    assert got["date"] is None and got["date_raw"] == "last Tuesday-ish"
    assert wclient.delete("/articles/undated-otters").json()["deleted"] == 1
    r = wclient.delete(f"/articles/{ARTICLE['id']}")
    assert r.status_code == 200 and r.json()["deleted"] == 1
    assert_error(wclient.get(f"/articles/{ARTICLE['id']}"), 404)
    assert _count(wclient) == before


def test_ingest_uploads(wclient: TestClient) -> None:
    before = _count(wclient)
    txt = b"Title: Bees in the city\n\nBeekeepers in Paris counted 700 hives on rooftops.\n"
    r = wclient.post("/articles", files={"file": ("bees-paris.txt", txt, "text/plain")})
    assert r.status_code == 201, r.text
    assert r.json()["article_ids"] == ["bees-paris"]
    md = (
        b"---\ntitle: Snow in Cairo\ndate: 2013-12-13\n---\n"
        b"Snow fell on Cairo for the first time in decades.\n"
    )
    jsonl = (
        b'{"id": "j1", "title": "One", "text": "The first of two lines."}\n'
        b'{"id": "j2", "title": "Two", "text": "The second of two lines."}\n'
    )
    html = (
        b"<html><head><title>Rain</title></head><body><article><h1>Rain in Lima</h1>"
        b"<p>It rained in Lima on Monday, which is rare for the desert city on the coast "
        b"of Peru, and residents took photographs of the puddles.</p></article></body></html>"
    )
    for name, data in (("snow.md", md), ("two.jsonl", jsonl), ("rain.html", html)):
        r = wclient.post("/articles", files={"file": (name, data, "application/octet-stream")})
        assert r.status_code == 201, (name, r.text)
    assert _count(wclient) == before + 5
    for aid in ("bees-paris", "snow", "j1", "j2", "rain"):
        assert wclient.delete(f"/articles/{aid}").status_code == 200
    assert _count(wclient) == before


@pytest.mark.parametrize(
    ("name", "data", "status", "word"),
    [
        ("blob.txt", b"\x00\x01\x02binary\x00" * 10, 422, "binary"),
        ("empty.txt", b"", 422, "empty"),
        ("blank.md", b"   \n\n", 422, "empty"),
        ("paper.pdf", b"%PDF-1.4 ...", 415, ".pdf"),
        ("noname", b"text", 415, "upload one of"),
        ("big.txt", b"word " * 2000, 413, "limit"),
        ("bad.jsonl", b"{not json}\n", 422, "not valid JSON"),
    ],
)
def test_bad_uploads(wclient: TestClient, name: str, data: bytes, status: int, word: str) -> None:
    before = _count(wclient)
    r = wclient.post("/articles", files={"file": (name, data, "application/octet-stream")})
    assert_error(r, status, word)
    assert _count(wclient) == before


@pytest.mark.parametrize(
    "body",
    [
        {"title": "no text"},
        {"text": ""},
        [ARTICLE, {"id": "x", "text": ""}],  # one bad record refuses the whole request
        [],
        {"text": "x", "colour": "red"},
        {"id": "two\nlines", "text": "x"},  # control characters in ids
        [ARTICLE, {"id": "esc\u001b[0m", "text": "x"}],
    ],
)
def test_bad_json_articles(wclient: TestClient, body: Any) -> None:
    before = _count(wclient)
    assert_error(wclient.post("/articles", json=body), 422)
    assert _count(wclient) == before


def test_form_without_file_and_wrong_media_type(wclient: TestClient) -> None:
    assert_error(
        wclient.post(
            "/articles", data={"note": "x"}, files={"other": ("a.txt", b"x", "text/plain")}
        ),
        422,
        "file",
    )
    r = wclient.post("/articles", content=b"plain", headers={"content-type": "text/plain"})
    assert_error(r, 415)


def test_queries_during_ingestion_see_whole_generations(wclient: TestClient) -> None:
    """Questions asked while articles are committed all succeed and never cite a passage
    that is not in the generation they read."""
    errors: list[str] = []
    stop = threading.Event()

    def asker() -> None:
        while not stop.is_set():
            r = wclient.post("/ask", json={"question": FOUNDING_Q})
            if r.status_code != 200 or "11,000" not in r.json()["answer"]:
                errors.append(f"{r.status_code} {r.text[:200]}")

    threads = [threading.Thread(target=asker) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for i in range(3):
            art = {**ARTICLE, "id": f"concurrent-{i}", "text": ARTICLE["text"] + f" Batch {i}."}
            assert wclient.post("/articles", json=art).status_code == 201
            assert wclient.delete(f"/articles/concurrent-{i}").status_code == 200
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors[:3]
