"""The chat page end to end in headless Chromium (Debian's ``chromium``, driven by Python
Playwright; never ``playwright install``)."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api_helpers import copy_index, running_server
from tests.conftest import FOUNDING_Q, REPO

CHROMIUM = os.environ.get("QA_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = REPO / "runs" / "screenshots"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not shutil.which(CHROMIUM), reason=f"{CHROMIUM} missing (apt-get install -y chromium)"
    ),
]


@pytest.fixture(scope="module")
def base_url(corpus_index_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = copy_index(corpus_index_dir, tmp_path_factory.mktemp("browser") / "data")
    with running_server(data) as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def test_chat_page_answers_with_citation(base_url: str, browser: object) -> None:
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(base_url + "/")
    page.fill("#message", FOUNDING_Q)
    page.click("#send")

    reply = page.locator(".message.assistant.done").last
    expect(reply).to_be_visible(timeout=60_000)
    expect(reply.locator(".answer")).to_contain_text("11,000")
    cite = reply.locator(".answer button.cite").first
    expect(cite).to_have_text("[1]")

    cite.click()
    panel = page.locator("#passage")
    expect(panel).to_be_visible()
    expect(panel.locator("mark")).to_contain_text("11,000")
    expect(panel).to_contain_text("Stanislav Pohorilov")
    expect(panel).to_contain_text("2025-02-11")
    expect(page.locator("#passage-title")).to_contain_text("North Korea")

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "chat-founding-question.png"), full_page=True)

    page.click("#new-chat")
    expect(page.locator(".message")).to_have_count(0)
    page.close()


def test_not_in_the_articles_state(base_url: str, browser: object) -> None:
    """An abstention is shown as such. The answerer decides when to abstain, so the page is
    fed a canned abstained stream in the server's format to test the page alone."""
    from playwright.sync_api import Browser, Route, expect

    assert isinstance(browser, Browser)
    text = "Not in the articles: the articles do not answer this question."
    answer = {
        "question": "q",
        "answer": "",
        "abstained": True,
        "confidence": 0.1,
        "evidence": "",
        "citations": [],
        "timings_ms": {},
        "answerer": "rules",
        "searched_query": None,
    }
    base = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "article-qa"}
    events = [
        {
            **base,
            "choices": [
                {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
            ],
        },
        {**base, "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]},
        {
            **base,
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            "citations": [],
            "answer": answer,
        },
    ]
    body = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"

    def fulfil(route: Route) -> None:
        route.fulfill(status=200, body=body, headers={"content-type": "text/event-stream"})

    page = browser.new_page()
    page.route("**/v1/chat/completions", fulfil)
    page.goto(base_url + "/")
    page.fill("#message", "Who won the 2031 election on Mars?")
    page.press("#message", "Enter")
    reply = page.locator(".message.assistant.done").last
    expect(reply).to_be_visible(timeout=30_000)
    expect(reply).to_have_class(re.compile(r"not-found"))
    expect(reply.locator(".badge")).to_have_text("Not in the articles")
    page.screenshot(path=str(SCREENSHOTS / "chat-not-in-articles.png"), full_page=True)
    page.close()


def test_page_asks_for_the_api_key(corpus_index_dir: Path, tmp_path: Path, browser: object) -> None:
    """With QA_API_KEY set the page loads, its first question gets a 401 and a key field, and
    with the key typed in the question is answered."""
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    data = copy_index(corpus_index_dir, tmp_path / "data")
    with running_server(data, api_key="page-key") as base:
        page = browser.new_page()
        page.goto(base + "/")
        page.fill("#message", FOUNDING_Q)
        page.click("#send")
        expect(page.locator(".message.error")).to_contain_text("missing API key")
        expect(page.locator("#key-bar")).to_be_visible()
        page.fill("#api-key", "page-key")
        page.click("#save-key")
        page.fill("#message", FOUNDING_Q)
        page.click("#send")
        reply = page.locator(".message.assistant.done:not(.error)").last
        expect(reply).to_be_visible(timeout=60_000)
        expect(reply.locator(".answer")).to_contain_text("11,000")
        page.close()
