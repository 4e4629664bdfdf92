"""Ingestion as jobs: a large POST /articles answers 202 at once, GET /jobs/{id} and its
event stream report progress, per-item problems and the end state. Small deterministic
models are injected, so this runs the real store, index and write protocol quickly."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from qa.pipeline import Pipeline
from tests.fakes import fast_pipeline
from tests.test_api import _app, assert_error


def _batch(n: int, tag: str = "a") -> list[dict[str, Any]]:
    return [
        {
            "id": f"{tag}-{i}",
            "title": f"Report {i}",
            "text": f"Report number {i} says {i * 7} people came.",
        }
        for i in range(n)
    ]


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[Pipeline]:
    p = fast_pipeline(tmp_path / "data")
    yield p
    p.close()


@pytest.fixture
def client(pipeline: Pipeline, tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(_app(pipeline, tmp_path)) as c:
        yield c


def _finished(client: TestClient, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = client.get(f"/jobs/{job_id}").json()
        if job["state"] in ("done", "failed"):
            return dict(job)
        time.sleep(0.05)
    raise AssertionError("the job did not finish")


def test_a_large_batch_is_a_job(client: TestClient, pipeline: Pipeline) -> None:
    r = client.post("/articles", json=_batch(8))
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["articles_total"] == 8 and job["state"] in ("queued", "running", "done")
    assert r.headers["location"] == f"/jobs/{job['id']}" == job["status_url"]
    done = _finished(client, job["id"])
    assert done["state"] == "done" and done["error"] is None
    assert done["articles_done"] == 8 and done["chunks_done"] >= 8
    assert done["result"]["added"] == 8 and done["result"]["article_ids"][0] == "a-0"
    assert done["finished"] >= done["started"] >= done["created"]
    assert pipeline.article_count() == 8
    # Re-posting the same batch is harmless: recognised by content hash.
    again = _finished(client, client.post("/articles", json=_batch(8)).json()["id"])
    assert again["result"]["unchanged"] == 8 and again["result"]["added"] == 0
    assert pipeline.article_count() == 8


def test_a_bad_article_in_a_job_is_reported_and_the_rest_ingested(
    client: TestClient, pipeline: Pipeline
) -> None:
    batch: list[Any] = _batch(7)
    batch[2] = {"id": "no-text", "title": "Nothing here"}
    batch[4] = {"id": "bad\nid", "text": "forged"}
    batch[5] = "not an object"
    job = _finished(client, client.post("/articles", json=batch).json()["id"])
    assert job["state"] == "done"
    skipped = job["result"]["skipped"]
    assert [s["line"] for s in skipped] == [3, 5, 6]
    assert "text" in skipped[0]["reason"] and "control character" in skipped[1]["reason"]
    assert job["result"]["added"] == 4
    assert pipeline.article_ids() == {"a-0", "a-1", "a-3", "a-6"}


def test_job_events_stream_until_the_end(client: TestClient) -> None:
    job = client.post("/articles", json=_batch(6, "ev")).json()
    with client.stream("GET", job["events_url"]) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        states = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: ")]
    assert states[-1]["state"] == "done" and states[-1]["result"]["added"] == 6
    assert all(s["id"] == job["id"] for s in states)


def test_wait_chooses_between_job_and_reply(client: TestClient) -> None:
    r = client.post("/articles?wait=true", json=_batch(8, "sync"))
    assert r.status_code == 201 and r.json()["added"] == 8
    one = client.post("/articles?wait=false", json={"id": "solo", "text": "Just one report."})
    assert one.status_code == 202
    assert _finished(client, one.json()["id"])["result"]["added"] == 1
    small = client.post("/articles", json=_batch(3, "small"))
    assert small.status_code == 201  # a few articles: answered when ingested


def test_unknown_jobs_and_bad_batches(client: TestClient, pipeline: Pipeline) -> None:
    assert_error(client.get("/jobs/no-such-job"), 404, "no job")
    assert_error(client.get("/jobs/no-such-job/events"), 404, "no job")
    assert_error(client.post("/articles?wait=maybe", json=_batch(8)), 422, "wait")
    # A plain (waited-for) request still refuses a bad record whole, storing nothing.
    bad = [*_batch(2, "w"), {"id": "x"}]
    assert_error(client.post("/articles?wait=true", json=bad), 422)
    assert pipeline.article_count() == 0
