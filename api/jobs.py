"""Ingestion jobs: a large ``POST /articles`` answers 202 at once and runs here.

One worker thread runs the jobs in order (the index has one writer anyway); each job keeps
its progress (articles and chunks done), its per-item problems and its end state, readable
with ``GET /jobs/{id}`` and followed live with ``GET /jobs/{id}/events``. Jobs live in
memory for the server's lifetime (the last ``KEEP`` of them): what they wrote is in the
index, which is what lasts. Re-posting a batch is harmless: unchanged articles are
recognised by their content hash and left alone.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from qa.errors import QAError
from qa.ingest.ingestor import IngestReport

log = logging.getLogger(__name__)

State = Literal["queued", "running", "done", "failed"]
KEEP = 200
"""Finished jobs remembered; older ones are forgotten first (a 404 after that)."""


@dataclass
class Job:
    """One ingestion request's progress and outcome."""

    id: str
    articles_total: int
    state: State = "queued"
    articles_done: int = 0
    chunks_done: int = 0
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    result: dict[str, Any] | None = None
    """The ingest report (as ``POST /articles`` returns it) once done."""
    error: str | None = None
    changed: threading.Condition = field(default_factory=threading.Condition, repr=False)

    def to_dict(self) -> dict[str, Any]:
        with self.changed:
            return {
                "id": self.id,
                "state": self.state,
                "articles_total": self.articles_total,
                "articles_done": self.articles_done,
                "chunks_done": self.chunks_done,
                "created": self.created,
                "started": self.started,
                "finished": self.finished,
                "result": self.result,
                "error": self.error,
            }

    @property
    def over(self) -> bool:
        return self.state in ("done", "failed")

    def _update(self, **values: Any) -> None:
        with self.changed:
            for k, v in values.items():
                setattr(self, k, v)
            self.changed.notify_all()

    def wait(self, timeout: float) -> None:
        """Until the job changes (or ``timeout`` passes)."""
        with self.changed:
            if not self.over:
                self.changed.wait(timeout)


Work = Callable[[Callable[[int, int], None]], tuple[IngestReport, list[str]]]
"""Runs the ingest, reporting (articles done, chunks done); returns the report and ids."""


class Jobs:
    """The server's ingestion jobs and the one thread that runs them."""

    def __init__(self) -> None:
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    def submit(self, articles: int, work: Work, cleanup: Path | None = None) -> Job:
        """Queue ``work``; ``cleanup`` (the request's temporary folder) is removed after."""
        job = Job(id=uuid.uuid4().hex, articles_total=articles)
        with self._lock:
            self._jobs[job.id] = job
            while len(self._jobs) > KEEP:
                oldest = next(iter(self._jobs.values()))
                if not oldest.over:
                    break
                self._jobs.popitem(last=False)
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-job")
            self._pool.submit(self._run, job, work, cleanup)
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def _run(self, job: Job, work: Work, cleanup: Path | None) -> None:
        job._update(state="running", started=time.time())

        def progress(articles: int, chunks: int) -> None:
            job._update(articles_done=articles, chunks_done=chunks)

        try:
            report, ids = work(progress)
            result = {**report.to_dict(), "article_ids": ids}
            done = report.added + report.replaced + report.unchanged
            job._update(
                state="done",
                result=result,
                articles_done=done,
                chunks_done=report.chunks,
                finished=time.time(),
            )
        except QAError as exc:
            job._update(state="failed", error=str(exc), finished=time.time())
        except Exception as exc:  # the job reports it; the server keeps serving
            log.exception("ingest job %s failed", job.id)
            job._update(
                state="failed", error=f"internal error ({type(exc).__name__})", finished=time.time()
            )
        finally:
            if cleanup is not None:
                shutil.rmtree(cleanup, ignore_errors=True)

    def close(self) -> None:
        """Wait for queued and running jobs to finish (each commits whole batches)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=False)
