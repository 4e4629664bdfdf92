"""Helpers shared by the ingest, index, CLI and offline tests (not fixtures: plain functions)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from qa.pipeline import build_pipeline
from qa.settings import Settings
from qa.storage.embedded import ArticleIndex, vectors_path
from qa.storage.sqlite import Store

ASK = str(Path(sys.executable).with_name("ask"))
FOUNDING_ID = "north-korea-troops-to-russia-2025-02-11"
FOUNDING_TITLE = (
    "South Korean Ministry of Defence: North Korea will deploy additional troops "
    "and weapons to Russia"
)

# Questions whose answers (and cited passages) must not move when bad input is rejected.
PROBES = (
    "How many troops did North Korea send to Russia?",
    "How many North Korean soldiers have been killed?",
    "Who won the robotics competition medal for courageous achievement?",
    "What is the capital of Australia?",
)


def snapshot(data_dir: Path, questions: tuple[str, ...] = PROBES) -> dict[str, Any]:
    """What the index in ``data_dir`` answers, read by a fresh pipeline (as a new process
    would): answers and citations without timings, plus the store's counts and generation."""
    pipeline = build_pipeline(Settings(data_dir=data_dir, auto_ingest=False))
    try:
        answers = {}
        for q in questions:
            d = pipeline.ask(q).to_dict()
            d.pop("timings_ms", None)
            answers[q] = d
        stats = pipeline.stats()
        return {
            "answers": answers,
            "articles": stats.articles,
            "chunks": stats.chunks,
            "generation": stats.generation,
        }
    finally:
        pipeline.close()


def faiss_ids(path: Path) -> np.ndarray:
    """The ids an on-disk FAISS file holds, read straight from the file."""
    index = faiss.read_index(str(path))
    return np.sort(faiss.vector_to_array(index.id_map).astype(np.int64))


def assert_consistent(data_dir: Path) -> int:
    """The store and the FAISS file of its generation hold exactly the same chunks, with the
    same vectors; every chunk's offsets locate its text in its article. Returns the generation."""
    store = Store(data_dir / "store.sqlite", readonly=True)
    try:
        generation = store.generation()
        rowids, vecs = store.vectors()
        path = vectors_path(data_dir, generation)
        assert path.exists(), f"no FAISS file for generation {generation}"
        assert np.array_equal(faiss_ids(path), np.sort(rowids)), "FAISS ids != store chunk rowids"
        index = faiss.read_index(str(path))
        for rowid, vec in zip(rowids[:50], vecs[:50], strict=True):
            assert np.allclose(index.reconstruct(int(rowid)), vec)
        for row in store.conn.execute(
            "SELECT c.start, c.end, c.text AS ctext, a.text AS atext FROM chunks c "
            "JOIN articles a ON a.id = c.article_id"
        ):
            assert row["atext"][row["start"] : row["end"]] == row["ctext"]
        orphans = store.conn.execute(
            "SELECT count(*) FROM chunks_fts WHERE rowid NOT IN (SELECT rowid FROM chunks)"
        ).fetchone()[0]
        assert orphans == 0, "lexical index holds chunks the store does not"
        missing = store.conn.execute(
            "SELECT count(*) FROM chunks WHERE rowid NOT IN (SELECT rowid FROM chunks_fts)"
        ).fetchone()[0]
        assert missing == 0, "chunks missing from the lexical index"
        return generation
    finally:
        store.close()


def article_ids(data_dir: Path) -> set[str]:
    store = Store(data_dir / "store.sqlite", readonly=True)
    try:
        return {r[0] for r in store.conn.execute("SELECT id FROM articles")}
    finally:
        store.close()


def run_ask(
    *args: str, data_dir: Path, timeout: float = 300, **env: str
) -> subprocess.CompletedProcess[str]:
    """The real ``ask`` console script in a new process, on ``data_dir``."""
    full_env = {
        **os.environ,
        "QA_DATA_DIR": str(data_dir),
        "NO_COLOR": "1",
        "COLUMNS": "200",
        **env,
    }
    return subprocess.run(
        [ASK, *args], capture_output=True, text=True, env=full_env, timeout=timeout, check=False
    )


def ask_json(question: str, data_dir: Path, *extra: str) -> dict[str, Any]:
    proc = run_ask("--json", *extra, question, data_dir=data_dir)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def open_index(data_dir: Path) -> ArticleIndex:
    return ArticleIndex(data_dir)
