"""A real Open WebUI, offline, against ``ask serve``, driven in Debian's Chromium: the
founding question, two follow-ups, a question the articles do not answer, and a click on a
source that must open article-qa's reading page with the passage highlighted. Screenshots
go to ``--out``. Too heavy for CI (Open WebUI is about 7 GB); run it by hand:

    python scripts/open_webui_check.py --out /tmp/owui-shots

It installs Open WebUI into its own venv (``--venv``, default ``~/.cache/article-qa/owui``)
when missing, with torch's CPU build first. Open WebUI runs with no login
(``WEBUI_AUTH=False``), offline (``OFFLINE_MODE``, ``HF_HUB_OFFLINE``), Ollama off, and
article-qa as its one OpenAI-compatible connection.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
QUESTIONS = [
    ("How many troops did North Korea send to Russia?", "11,000"),
    ("How many of them were killed?", "300"),
    ("And wounded?", "2,700"),
]
ABSENT = ("Who won the 2022 World Cup?", "Not in the articles")


def wait_for(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status < 500:
                    return
        except OSError:
            pass
        time.sleep(1)
    raise SystemExit(f"{url} did not come up in {seconds:.0f} s")


def ensure_open_webui(venv: Path) -> Path:
    exe = venv / "bin" / "open-webui"
    if exe.exists():
        return exe
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "pip"), "install", "--quiet"]
    subprocess.run([*pip, "torch==2.13.0"], check=True)  # the CPU build, not CUDA's
    subprocess.run([*pip, "open-webui"], check=True)
    return exe


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--venv", type=Path, default=Path.home() / ".cache/article-qa/owui")
    ap.add_argument("--out", type=Path, default=Path("owui-shots"))
    ap.add_argument("--qa-port", type=int, default=8765)
    ap.add_argument("--port", type=int, default=8088)
    ap.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    exe = ensure_open_webui(args.venv)
    work = Path(tempfile.mkdtemp(prefix="owui-"))
    qa_env = {**os.environ, "QA_AUTO_INGEST": "1"}
    ask = str(Path(sys.executable).with_name("ask"))
    procs = [
        subprocess.Popen(
            [ask, "serve", "--host", "127.0.0.1", "--port", str(args.qa_port)],
            env=qa_env,
            stdout=(work / "ask.log").open("w"),
            stderr=subprocess.STDOUT,
        )
    ]
    owui_env = {
        **os.environ,
        "DATA_DIR": str(work / "data"),
        "WEBUI_AUTH": "False",
        "WEBUI_SECRET_KEY": "article-qa-check",
        "OFFLINE_MODE": "True",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "ENABLE_OLLAMA_API": "False",
        "ENABLE_OPENAI_API": "True",
        "OPENAI_API_BASE_URL": f"http://127.0.0.1:{args.qa_port}/v1",
        "OPENAI_API_KEY": "unused",
        "RAG_EMBEDDING_MODEL_AUTO_UPDATE": "False",
        "RAG_RERANKING_MODEL_AUTO_UPDATE": "False",
        "ENABLE_VERSION_UPDATE_CHECK": "False",
        "ANONYMIZED_TELEMETRY": "False",
        "DO_NOT_TRACK": "True",
        "SCARF_NO_ANALYTICS": "True",
    }
    procs.append(
        subprocess.Popen(
            [str(exe), "serve", "--host", "127.0.0.1", "--port", str(args.port)],
            env=owui_env,
            cwd=work,
            stdout=(work / "owui.log").open("w"),
            stderr=subprocess.STDOUT,
        )
    )
    seen: dict[str, object] = {}
    try:
        wait_for(f"http://127.0.0.1:{args.qa_port}/health", 180)
        wait_for(f"http://127.0.0.1:{args.port}/health", 600)
        seen = drive(args, work)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
    print(json.dumps(seen, indent=2, ensure_ascii=False))
    return 0 if seen.get("ok") else 1


def drive(args: argparse.Namespace, work: Path) -> dict[str, object]:
    from playwright.sync_api import sync_playwright

    turns: list[dict[str, object]] = []
    seen: dict[str, object] = {"turns": turns}
    base = f"http://127.0.0.1:{args.port}"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(base, wait_until="load", timeout=120_000)
        page.wait_for_timeout(5000)
        # First start: a splash with "Get started" / a changelog dialog; dismiss what is there.
        for label in ("Get started", "Okay, Let's Go!", "Okay, Let's Go"):
            button = page.get_by_text(label, exact=False)
            if button.count():
                button.first.click()
                page.wait_for_timeout(1000)
        page.screenshot(path=str(args.out / "0-start.png"))
        box = page.locator("#chat-input")
        box.wait_for(timeout=60_000)
        ok = True
        for i, (question, expected) in enumerate([*QUESTIONS, ABSENT], 1):
            box.click()
            page.keyboard.type(question)
            page.keyboard.press("Enter")
            # The answer has arrived when the i-th assistant message holds the expected text.
            deadline = time.monotonic() + 120
            text = ""
            while time.monotonic() < deadline:
                messages = page.locator("#response-content-container")
                if messages.count() >= i:
                    text = messages.nth(i - 1).inner_text()
                    if expected in text:
                        break
                page.wait_for_timeout(500)
            page.wait_for_timeout(1500)
            page.screenshot(path=str(args.out / f"{i}-answer.png"), full_page=True)
            got = expected in text
            ok &= got
            seen["turns"].append(
                {"question": question, "expected": expected, "ok": got, "text": text[:400]}
            )  # type: ignore[union-attr]
        # A source of the first answer: Open WebUI shows citation chips / a sources list; a
        # link to our reading page must open the quoted passage.
        links = page.locator("a[href*='/read/']")
        seen["reading_links"] = links.count()
        if links.count():
            href = links.first.get_attribute("href") or ""
            reading = browser.new_page(viewport={"width": 1200, "height": 900})
            reading.goto(href, wait_until="load")
            reading.screenshot(path=str(args.out / "5-reading-page.png"))
            marked = reading.locator("mark").count()
            seen["reading_page"] = {"url": href, "highlights": marked}
            ok &= marked > 0
        else:
            ok = False
        seen["ok"] = ok
        seen["screenshots"] = sorted(str(p) for p in args.out.glob("*.png"))
        browser.close()
    return seen


if __name__ == "__main__":
    raise SystemExit(main())
