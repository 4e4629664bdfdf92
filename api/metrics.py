"""Prometheus metrics in the text exposition format, kept in-process (no client library).

Counters and histograms are few and their label sets small (route templates, not raw
paths), so a dictionary under one lock is enough and adds no dependency.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

Labels = tuple[tuple[str, str], ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _fmt_labels(labels: Labels, extra: tuple[str, str] | None = None) -> str:
    items = [*labels, *([extra] if extra else [])]
    if not items:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in items) + "}"


def _fmt_float(v: float) -> str:
    if v == float("inf"):
        return "+Inf"
    return repr(float(v))


class _Histogram:
    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.counts = [0] * len(buckets)
        self.total = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.total += 1
        self.sum += value
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[i] += 1


class Metrics:
    """Request counts and latencies per route, pipeline stage timings, and gauges read on
    scrape (index size)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[Labels, int] = {}
        self._latency: dict[Labels, _Histogram] = {}
        self._stages: dict[Labels, _Histogram] = {}
        self._errors: dict[Labels, int] = {}
        self._tasks: dict[Labels, int] = {}
        self._streams = 0

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        key: Labels = (("method", method), ("route", route), ("status", str(status)))
        lat: Labels = (("method", method), ("route", route))
        with self._lock:
            self._requests[key] = self._requests.get(key, 0) + 1
            self._latency.setdefault(lat, _Histogram(LATENCY_BUCKETS)).observe(seconds)

    def observe_stages(self, endpoint: str, timings_ms: dict[str, float]) -> None:
        with self._lock:
            for stage, ms in timings_ms.items():
                key: Labels = (("endpoint", endpoint), ("stage", stage))
                self._stages.setdefault(key, _Histogram(LATENCY_BUCKETS)).observe(ms / 1000.0)

    def count_error(self, kind: str) -> None:
        key: Labels = (("type", kind),)
        with self._lock:
            self._errors[key] = self._errors.get(key, 0) + 1

    def count_task(self, task: str) -> None:
        """A chat client's background prompt (Open WebUI's title, tags...) answered without
        retrieval."""
        key: Labels = (("task", task),)
        with self._lock:
            self._tasks[key] = self._tasks.get(key, 0) + 1

    def stream_opened(self) -> None:
        with self._lock:
            self._streams += 1

    def stream_closed(self) -> None:
        with self._lock:
            self._streams -= 1

    def render(self, gauges: Iterable[tuple[str, str, float]] = ()) -> str:
        """The exposition text; ``gauges`` are (name, help, value) read by the caller."""
        out: list[str] = []
        with self._lock:
            self._counter(
                out,
                "articleqa_http_requests_total",
                "HTTP requests by method, route template and status.",
                self._requests,
            )
            self._histograms(
                out,
                "articleqa_http_request_duration_seconds",
                "HTTP request latency by route template.",
                self._latency,
            )
            self._histograms(
                out,
                "articleqa_pipeline_stage_seconds",
                "Time spent per pipeline stage while answering.",
                self._stages,
            )
            self._counter(
                out, "articleqa_http_errors_total", "Error answers by error type.", self._errors
            )
            self._counter(
                out,
                "articleqa_client_tasks_total",
                "Chat clients' background task prompts answered without retrieval.",
                self._tasks,
            )
            streams = self._streams
        gauges = [
            ("articleqa_open_streams", "Streamed replies being sent now.", float(streams)),
            *gauges,
        ]
        for name, help_text, value in gauges:
            out += [
                f"# HELP {name} {help_text}",
                f"# TYPE {name} gauge",
                f"{name} {_fmt_float(value)}",
            ]
        return "\n".join(out) + "\n"

    @staticmethod
    def _counter(out: list[str], name: str, help_text: str, data: dict[Labels, int]) -> None:
        out += [f"# HELP {name} {help_text}", f"# TYPE {name} counter"]
        out += [f"{name}{_fmt_labels(k)} {v}" for k, v in sorted(data.items())]

    @staticmethod
    def _histograms(
        out: list[str], name: str, help_text: str, data: dict[Labels, _Histogram]
    ) -> None:
        out += [f"# HELP {name} {help_text}", f"# TYPE {name} histogram"]
        for labels, h in sorted(data.items()):
            for bound, count in zip(h.buckets, h.counts, strict=True):
                out.append(f"{name}_bucket{_fmt_labels(labels, ('le', _fmt_float(bound)))} {count}")
            out.append(f"{name}_bucket{_fmt_labels(labels, ('le', '+Inf'))} {h.total}")
            out.append(f"{name}_sum{_fmt_labels(labels)} {h.sum!r}")
            out.append(f"{name}_count{_fmt_labels(labels)} {h.total}")
