"""The optional LLM answerer against a real OpenAI-compatible HTTP server on loopback."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from qa.answer.llm import LLMAnswerer
from qa.answer.rules import RuleAnswerer
from qa.pipeline import Pipeline, build_pipeline
from tests.conftest import FOUNDING_Q, make_settings

# End to end through real processes and servers: run by the README's test command and CI,
# left out of the quick tier (`pytest -m "not slow"`).
pytestmark = pytest.mark.slow


class FakeLLM:
    """Replies as the test says; records what it was sent."""

    def __init__(self) -> None:
        self.reply = "About 11,000 troops [1]."
        self.delay = 0.0
        self.requests: list[dict[str, Any]] = []


@pytest.fixture(scope="module")
def llm_server() -> Iterator[tuple[str, FakeLLM]]:
    state = FakeLLM()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append(body)
            time.sleep(state.delay)
            out = json.dumps(
                {
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": state.reply}}
                    ]
                }
            ).encode()
            try:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)
            except BrokenPipeError:  # the client gave up waiting: the slow-server case
                pass

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", state
    server.shutdown()


def pipeline_with(corpus_index_dir: Path, url: str, timeout: float = 5.0) -> Pipeline:
    return build_pipeline(
        make_settings(corpus_index_dir, auto_ingest=False, llm_url=url, llm_timeout=timeout)
    )


def test_checked_llm_answer_is_used(
    corpus_index_dir: Path, llm_server: tuple[str, FakeLLM]
) -> None:
    url, state = llm_server
    state.reply, state.delay = "North Korea sent around 11,000 troops [1].", 0.0
    pipeline = pipeline_with(corpus_index_dir, url)
    assert isinstance(pipeline.answerer, LLMAnswerer)
    answer = pipeline.ask(FOUNDING_Q)
    assert answer.answer == "North Korea sent around 11,000 troops [1]."
    assert answer.answerer == "llm" and not answer.abstained
    assert answer.citations[0].article_id == "north-korea-troops-to-russia-2025-02-11"
    # Only the passages and the question were sent: no ids, titles, authors or URLs.
    sent = state.requests[-1]["messages"][-1]["content"]
    assert FOUNDING_Q in sent and "Pohorilov" not in sent and "north-korea-troops" not in sent
    assert sent.count("\n[") == len(answer.citations)


@pytest.mark.parametrize(
    "reply, why",
    [
        ("North Korea sent around 11,000 troops [9].", "not given"),
        ("North Korea sent around 11,000 troops.", "cites no passage"),
        ("North Korea sent 50,000 troops [3].", "holds the offline answer"),
    ],
)
def test_unfaithful_llm_answer_is_replaced(
    corpus_index_dir: Path, llm_server: tuple[str, FakeLLM], reply: str, why: str
) -> None:
    url, state = llm_server
    state.reply, state.delay = reply, 0.0
    offline = build_pipeline(make_settings(corpus_index_dir, auto_ingest=False)).ask(FOUNDING_Q)
    answer = pipeline_with(corpus_index_dir, url).ask(FOUNDING_Q)
    assert answer.answer == offline.answer and "11,000" in answer.answer
    assert answer.note is not None and "rejected" in answer.note and why in answer.note


def test_llm_down_or_slow_falls_back(
    corpus_index_dir: Path, llm_server: tuple[str, FakeLLM]
) -> None:
    url, state = llm_server
    offline = build_pipeline(make_settings(corpus_index_dir, auto_ingest=False)).ask(FOUNDING_Q)
    # Nothing listens on port 9 of loopback (discard): connection refused.
    down = pipeline_with(corpus_index_dir, "http://127.0.0.1:9/v1").ask(FOUNDING_Q)
    assert down.answer == offline.answer and down.note and "unavailable" in down.note
    state.reply, state.delay = "Around 11,000 [1].", 2.0
    slow = pipeline_with(corpus_index_dir, url, timeout=0.5).ask(FOUNDING_Q)
    state.delay = 0.0
    assert slow.answer == offline.answer and slow.note and "unavailable" in slow.note


def test_llm_says_not_in_articles(corpus_index_dir: Path, llm_server: tuple[str, FakeLLM]) -> None:
    url, state = llm_server
    state.reply, state.delay = "NOT IN THE ARTICLES", 0.0
    answer = pipeline_with(corpus_index_dir, url).ask(FOUNDING_Q)
    assert answer.abstained and answer.answer == "" and answer.citations


def test_the_offline_reader_is_the_default(corpus_pipeline: Pipeline) -> None:
    from qa.answer.extractive import ReaderAnswerer

    assert isinstance(corpus_pipeline.answerer, ReaderAnswerer)
    assert isinstance(corpus_pipeline.answerer.fallback, RuleAnswerer)
