"""Helpers for the API tests: a private copy of the built index, and a real uvicorn server on
a free loopback port running in a thread of the test process."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from api.app import create_app
from tests.conftest import make_settings


def copy_index(source: Path, target: Path) -> Path:
    """A writable copy of the session's built index (tests never write to the shared one)."""
    shutil.copytree(source, target)
    return target


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_server(data_dir: Path, **settings: Any) -> Iterator[str]:
    """``ask serve`` in-process: the real app and lifespan under uvicorn; yields the base URL."""
    app = create_app(make_settings(data_dir, auto_ingest=False, **settings))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    assert httpx.get(base + "/health", timeout=10).status_code == 200
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=15)
