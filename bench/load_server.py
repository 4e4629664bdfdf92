"""Load bench for ``ask serve``: 32 concurrent clients for 30 seconds against a server on
loopback, mixing /ask and /chat, while one ingestion (POST /articles) lands every few seconds.

    python bench/load_server.py                     # defaults: 32 clients, 30 s, ingest every 3 s
    python bench/load_server.py --clients 8 --seconds 10 --json runs/load.json

It starts the server (``python -m qa.cli.main serve``) on 127.0.0.1 and a free port over a fresh
temporary data directory (the server indexes the shipped corpus at startup, which is not
timed), runs one ingestion first so the ingest models are loaded (timed and reported
separately), then measures. Bounded in time and in request count; loopback only.

Besides latency it checks that queries never see a half-written index: every answer to the
founding question must be the same and cite the founding article, and at the end every
distinct cited passage is compared with the text of its article as stored (a passage from
one generation paired with another generation's rows would not match).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
FOUNDING_Q = "How many troops did North Korea send to Russia?"
FOUNDING_ID = "north-korea-troops-to-russia-2025-02-11"
QUESTIONS = [
    FOUNDING_Q,
    "How many people were killed in the Mecca crane collapse?",
    "How many asylum seekers were rescued off the Indonesian coast?",
    "Where will the space shuttle Discovery be displayed?",
    "Which countries won three points on day five of the 2018 World Cup?",
    "Who was arrested after attempting to leave the Church of Scientology?",
    "When did Internet Explorer 6 die?",
    "What did the Greek court rule about the worship of ancient Greek deities?",
]
CONVERSATION = [FOUNDING_Q, "How many of them were killed?", "And wounded?"]
MAX_REQUESTS = 200_000


@dataclass
class Results:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter[str] = field(default_factory=Counter)
    founding_answers: Counter[str] = field(default_factory=Counter)
    passages: dict[tuple[str, int, int], str] = field(default_factory=dict)
    ingested: list[str] = field(default_factory=list)
    ingest_seconds: list[float] = field(default_factory=list)
    requests: int = 0

    def record_answer(self, question: str, body: dict[str, Any]) -> None:
        for c in body.get("citations", []):
            self.passages[(c["article_id"], c["start"], c["end"])] = c["text"]
        if question == FOUNDING_Q:
            first = body["citations"][0]["article_id"] if body.get("citations") else "-"
            self.founding_answers[f"{body.get('answer')!r} citing {first}"] += 1


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


async def timed(
    client: httpx.AsyncClient, res: Results, name: str, method: str, url: str, **kw: Any
) -> httpx.Response | None:
    res.requests += 1
    started = time.perf_counter()
    try:
        r = await client.request(method, url, **kw)
    except httpx.HTTPError as exc:
        res.errors[f"{name}: {type(exc).__name__}"] += 1
        return None
    res.latencies[name].append(time.perf_counter() - started)
    if r.status_code >= 400:
        res.errors[f"{name}: HTTP {r.status_code} {r.text[:120]}"] += 1
        return None
    return r


async def query_client(
    n: int, client: httpx.AsyncClient, res: Results, deadline: float, chat_share: float
) -> None:
    rng = random.Random(n)
    session: str | None = None
    turn = 0
    while time.monotonic() < deadline and res.requests < MAX_REQUESTS:
        if rng.random() < chat_share:
            message = CONVERSATION[turn]
            body: dict[str, Any] = {"message": message}
            if session is not None:
                body["session_id"] = session
            r = await timed(client, res, "/chat", "POST", "/chat", json=body)
            if r is None:
                session, turn = None, 0
                continue
            data = r.json()
            res.record_answer(message, data)
            session, turn = data["session_id"], turn + 1
            if turn == len(CONVERSATION):
                session, turn = None, 0
        else:
            question = rng.choice(QUESTIONS)
            r = await timed(client, res, "/ask", "POST", "/ask", json={"question": question})
            if r is not None:
                res.record_answer(question, r.json())


def article(i: int) -> dict[str, Any]:
    return {
        "id": f"load-bench-{i}",
        "title": f"Load bench report {i}",
        "author": "Bench Writer",
        "date": "2026-01-01",
        "text": (
            f"Report {i}: volunteers in the harbour town of Port Example counted {100 + i} "
            "seals on the sandbanks this week, the local wildlife group said. The count "
            "was the highest since records began, and the group asked visitors to keep "
            "their distance from the animals during the pupping season."
        ),
    }


async def ingester(
    client: httpx.AsyncClient, res: Results, deadline: float, every: float, start: int
) -> None:
    i = start
    while time.monotonic() + every < deadline:
        await asyncio.sleep(every)
        started = time.perf_counter()
        r = await timed(client, res, "POST /articles", "POST", "/articles", json=article(i))
        if r is not None:
            res.ingested.append(article(i)["id"])
            res.ingest_seconds.append(time.perf_counter() - started)
        i += 1


async def verify(client: httpx.AsyncClient, res: Results) -> list[str]:
    """Every cited passage must be exactly the stored text at its offsets."""
    problems = []
    texts: dict[str, str] = {}
    for (aid, start, end), text in sorted(res.passages.items()):
        if aid not in texts:
            r = await client.get(f"/articles/{aid}")
            if r.status_code != 200:
                problems.append(f"cited article {aid} is missing ({r.status_code})")
                continue
            texts[aid] = r.json()["text"]
        if texts[aid][start:end] != text:
            problems.append(f"passage {aid}[{start}:{end}] does not match the stored article")
    return problems


async def drive(base: str, args: argparse.Namespace) -> tuple[Results, float, float]:
    pool = args.clients + 4
    limits = httpx.Limits(max_connections=pool, max_keepalive_connections=pool)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:
        warm = Results()
        t0 = time.perf_counter()
        await timed(client, warm, "warm-up ingest", "POST", "/articles", json=article(0))
        warm_s = time.perf_counter() - t0
        if warm.errors:
            raise SystemExit(f"warm-up ingestion failed: {dict(warm.errors)}")
        res = Results()
        started = time.monotonic()
        deadline = started + args.seconds
        tasks = [
            query_client(n, client, res, deadline, args.chat_share) for n in range(args.clients)
        ]
        tasks.append(ingester(client, res, deadline, args.ingest_every, start=1))
        await asyncio.gather(*tasks)
        elapsed = time.monotonic() - started
        problems = await verify(client, res)
        for p in problems:
            res.errors[f"consistency: {p}"] += 1
        if len(res.founding_answers) > 1:
            res.errors[
                f"consistency: founding question answered {len(res.founding_answers)} "
                "different ways"
            ] += 1
        for aid in res.ingested:  # read-your-writes: every ingested article is there
            r = await client.get(f"/articles/{aid}")
            if r.status_code != 200:
                res.errors[f"consistency: ingested {aid} not found"] += 1
        return res, elapsed, warm_s


def report(
    res: Results, elapsed: float, warm_s: float, startup_s: float, args: argparse.Namespace
) -> dict[str, Any]:
    every = [x for v in res.latencies.values() for x in v]
    out: dict[str, Any] = {
        "clients": args.clients,
        "seconds": round(elapsed, 2),
        "requests": len(every),
        "requests_per_s": round(len(every) / elapsed, 1),
        "errors": sum(res.errors.values()),
        "error_kinds": dict(res.errors),
        "startup_with_corpus_ingest_s": round(startup_s, 1),
        "warm_up_ingest_s": round(warm_s, 2),
        "ingestions": len(res.ingested),
        "ingest_s": [round(s, 2) for s in res.ingest_seconds],
        "passages_verified": len(res.passages),
        "founding_answers": dict(res.founding_answers),
        "latency_ms": {},
    }
    for name, values in [*sorted(res.latencies.items()), ("all", every)]:
        out["latency_ms"][name] = {
            "n": len(values),
            "p50": round(pct(values, 50) * 1000, 1),
            "p95": round(pct(values, 95) * 1000, 1),
            "p99": round(pct(values, 99) * 1000, 1),
            "mean": round(statistics.fmean(values) * 1000, 1) if values else None,
        }
    print(
        f"\n{args.clients} clients for {elapsed:.1f} s: {out['requests']} requests, "
        f"{out['requests_per_s']} requests/s, {out['errors']} errors"
    )
    print(f"{'endpoint':<16}{'n':>7}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}")
    for name, s in out["latency_ms"].items():
        print(f"{name:<16}{s['n']:>7}{s['p50']:>10}{s['p95']:>10}{s['p99']:>10}")
    print(
        f"ingestions during the run: {len(res.ingested)} "
        f"({', '.join(f'{s:.2f}s' for s in res.ingest_seconds)}); warm-up ingestion "
        f"{warm_s:.1f}s; server start with corpus ingest {startup_s:.0f}s"
    )
    print(
        f"consistency: {len(res.passages)} cited passages checked against the stored "
        f"articles; founding question answered as {dict(res.founding_answers)}"
    )
    for kind, n in res.errors.most_common(10):
        print(f"  error x{n}: {kind}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--ingest-every", type=float, default=3.0, help="seconds between ingestions")
    ap.add_argument("--chat-share", type=float, default=0.3, help="share of /chat requests")
    ap.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="serve this data directory instead of a fresh temporary one",
    )
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args()
    if not (1 <= args.clients <= 256 and 1 <= args.seconds <= 600):
        raise SystemExit("--clients must be 1..256 and --seconds 1..600")

    tmp = Path(tempfile.mkdtemp(prefix="article-qa-load-"))
    data_dir = args.data_dir or tmp / "data"
    port = free_port()
    env = {
        **os.environ,
        "QA_DATA_DIR": str(data_dir),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    env.pop("QA_API_KEY", None)
    log_path = tmp / "server.log"
    log = log_path.open("w")
    out: dict[str, Any] = {"errors": 1}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "qa.cli.main",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        t0 = time.perf_counter()
        while True:
            if server.poll() is not None:
                raise SystemExit(f"the server exited; see {log_path}")
            try:
                if httpx.get(base + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.perf_counter() - t0 > 600:
                raise SystemExit("the server did not start within 10 minutes")
            time.sleep(0.5)
        startup_s = time.perf_counter() - t0
        print(f"server up on {base} after {startup_s:.0f}s (data dir {data_dir})", flush=True)
        res, elapsed, warm_s = asyncio.run(drive(base, args))
        out = report(res, elapsed, warm_s, startup_s, args)
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(out, indent=2) + "\n")
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        if out["errors"]:
            print(f"server log kept: {log_path}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(1 if out["errors"] else 0)


if __name__ == "__main__":
    main()
