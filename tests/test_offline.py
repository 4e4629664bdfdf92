"""Offline is guaranteed by a test: ingest and ask with every network connection blocked."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import pytest_socket

from qa.pipeline import build_pipeline
from qa.settings import DEFAULT_CORPUS
from tests.conftest import FOUNDING_Q, make_settings
from tests.support import FOUNDING_ID

# End to end through real processes and servers: run by the README's test command and CI,
# left out of the quick tier (`pytest -m "not slow"`).
pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def no_network() -> Iterator[None]:
    """Any socket, IP or Unix, raises: a hidden download or telemetry call fails the test."""
    pytest_socket.disable_socket(allow_unix_socket=False)
    try:
        with (
            pytest.warns(UserWarning, match="tried to use socket"),
            pytest.raises(pytest_socket.SocketBlockedError),
        ):
            socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # Code that swallows the error (a library falling back quietly) still leaves this
        # warning behind: any attempt at all fails the test.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
        attempts = [str(w.message) for w in caught if "tried to use socket" in str(w.message)]
        assert not attempts, f"network access attempted: {attempts}"
    finally:
        pytest_socket.enable_socket()


def test_ingest_and_ask_with_the_network_blocked(no_network: None, tmp_path: Path) -> None:
    """A fresh data directory, fresh models (no shared, already-loaded ones): the first ask
    ingests the corpus (sentences, entities, vectors, ONNX export) and answers, all offline."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(DEFAULT_CORPUS / "north-korea-troops-to-russia-2025-02-11.txt", corpus)
    shutil.copy(FIXTURES / "news-page.html", corpus)
    pipeline = build_pipeline(make_settings(tmp_path / "data", corpus_dir=corpus))
    try:
        report = pipeline.ensure_corpus()
        assert report is not None and (report.added, report.skipped) == (2, [])
        assert (tmp_path / "data" / "encoder" / "model.onnx").exists()
        answer = pipeline.ask(FOUNDING_Q)
        assert answer.citations[0].article_id == FOUNDING_ID
        answer = pipeline.ask("Who is the chief engineer of the tidal lagoon?")
        assert answer.citations[0].article_id == "news-page"
        report = pipeline.ingest([FIXTURES / "news-page.html"])
        assert report.unchanged == 1
    finally:
        pipeline.close()


COLD_ASK_OFFLINE = """
import sys
import pytest_socket
pytest_socket.disable_socket(allow_unix_socket=False)
sys.argv = ["ask", "--json", sys.argv[1]]
from qa.cli.main import main
main()
"""


def test_cold_cli_ask_with_the_network_blocked(corpus_copy: Path) -> None:
    """The real CLI code path in a new process, sockets blocked before anything is imported."""
    env = {**os.environ, "QA_DATA_DIR": str(corpus_copy)}
    proc = subprocess.run(
        [sys.executable, "-c", COLD_ASK_OFFLINE, FOUNDING_Q],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["citations"][0]["article_id"] == FOUNDING_ID
