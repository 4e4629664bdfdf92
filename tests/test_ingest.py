"""Reading articles (every format, every kind of bad file), metadata, ids, and re-ingest rules."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from qa.errors import BadInputError, NotFoundError
from qa.ingest.files import Skip, iter_articles, normalise_date, read_file
from qa.pipeline import Pipeline
from qa.settings import DEFAULT_CORPUS
from qa.storage.sqlite import Store
from qa.types import Article, Filters
from tests.conftest import Models
from tests.support import FOUNDING_ID, FOUNDING_TITLE, article_ids, assert_consistent, snapshot

FIXTURES = Path(__file__).parent / "fixtures"
FOUNDING_FILE = DEFAULT_CORPUS / "north-korea-troops-to-russia-2025-02-11.txt"
WIKINEWS = DEFAULT_CORPUS / "wikinews-news.jsonl"


def read_all(*paths: Path) -> tuple[list[Article], list[Skip]]:
    articles: list[Article] = []
    skips: list[Skip] = []
    for item in iter_articles(list(paths)):
        (skips if isinstance(item, Skip) else articles).append(item)  # type: ignore[arg-type]
    return articles, skips


# -- metadata and ids ------------------------------------------------------------------------
def test_founding_article_metadata_from_its_header() -> None:
    (article,), skips = read_all(FOUNDING_FILE)
    assert not skips
    assert article.id == FOUNDING_ID
    assert article.title == FOUNDING_TITLE
    assert article.author == "Stanislav Pohorilov"
    assert article.date == "2025-02-11"
    assert article.source is None  # the outlet is not named in the file: none is invented
    assert article.url is None
    assert article.text.startswith("The South Korean Defence Ministry estimated on Tuesday")
    assert "Title:" not in article.text and "Author:" not in article.text


def test_founding_article_metadata_in_the_built_index(corpus_index_dir: Path) -> None:
    store = Store(corpus_index_dir / "store.sqlite", readonly=True)
    try:
        article = store.article(FOUNDING_ID)
    finally:
        store.close()
    assert article is not None
    assert (article.title, article.author, article.date, article.source) == (
        FOUNDING_TITLE,
        "Stanislav Pohorilov",
        "2025-02-11",
        None,
    )


def test_jsonl_ids_are_kept_as_given(corpus_index_dir: Path) -> None:
    given = {json.loads(line)["id"] for line in WIKINEWS.read_text().splitlines() if line}
    assert len(given) == 24
    assert article_ids(corpus_index_dir) == given | {FOUNDING_ID}
    articles, _ = read_all(WIKINEWS)
    first = json.loads(WIKINEWS.read_text().splitlines()[0])
    assert articles[0].id == first["id"] and articles[0].url == first["url"]
    assert articles[0].date == first["date"] and articles[0].source == first["source"]


def test_files_get_ids_from_their_path(tmp_path: Path) -> None:
    (tmp_path / "world" / "asia").mkdir(parents=True)
    (tmp_path / "world" / "asia" / "flood.txt").write_text("Rivers rose in the north.\n")
    (tmp_path / "sport.md").write_text("# Cup final\n\nThe home side won 2-1.\n")
    (tmp_path / "README.md").write_text("Not an article.\n")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "x.txt").write_text("Hidden.\n")
    articles, skips = read_all(tmp_path)
    assert {a.id for a in articles} == {"world/asia/flood", "sport"}
    assert not skips
    # a file named directly gets its stem, so naming the file or its folder agrees
    (alone,), _ = read_all(tmp_path / "world" / "asia" / "flood.txt")
    assert alone.id == "flood"
    # the same content read twice gets the same id (stable)
    assert read_all(tmp_path)[0] == articles


def test_jsonl_without_ids_gets_stable_content_ids(tmp_path: Path) -> None:
    path = tmp_path / "feed.jsonl"
    path.write_text(
        json.dumps({"title": "A", "text": "One."})
        + "\n"
        + json.dumps({"id": 7, "title": "B", "text": "Two."})
        + "\n"
    )
    first, _ = read_all(path)
    again, _ = read_all(path)
    assert [a.id for a in first] == [a.id for a in again]
    assert first[0].id.startswith("feed:") and first[1].id == "7"


def test_text_header_markdown_front_matter_and_json(tmp_path: Path) -> None:
    txt = tmp_path / "a.txt"
    txt.write_text(
        "Title: Port strike ends\nAuthor: J. Doe\nSource: Daily Wire Service\n"
        "Date: 3 March 2024\nURL: https://example.org/strike\nID: strike-2024\n\n"
        "Dock workers returned to work on Monday.\n"
    )
    md = tmp_path / "b.md"
    md.write_text(
        "---\ntitle: Bridge reopens\nauthor: [Ann Lee, Bo Kim]\nsource: City Paper\n"
        "date: 2023-11-30\nurl: https://example.org/bridge\n---\n\n"
        "# Bridge reopens\n\nThe bridge reopened after two years.\n"
    )
    js = tmp_path / "c.json"
    js.write_text(
        json.dumps(
            [
                {"id": "j1", "title": "J", "text": "Body one.", "date": "November 5, 2021"},
                {"id": "j2", "title": "K", "text": "Body two."},
            ]
        )
    )
    arts, skips = read_all(txt, md, js)
    assert not skips
    a, b, c, d = arts
    assert (a.id, a.title, a.author, a.source, a.date, a.url) == (
        "strike-2024",
        "Port strike ends",
        "J. Doe",
        "Daily Wire Service",
        "2024-03-03",
        "https://example.org/strike",
    )
    assert a.text == "Dock workers returned to work on Monday."
    assert (b.id, b.title, b.author, b.source, b.date) == (
        "b",
        "Bridge reopens",
        "Ann Lee, Bo Kim",
        "City Paper",
        "2023-11-30",
    )
    assert not b.text.startswith("---")
    assert (c.id, c.date, d.id) == ("j1", "2021-11-05", "j2")


@pytest.mark.parametrize(
    ("raw", "iso"),
    [
        ("2025-02-11", "2025-02-11"),
        ("2025-02-11T09:30:00+00:00", "2025-02-11"),
        ("11 February 2025", "2025-02-11"),
        ("February 11, 2025", "2025-02-11"),
        ("Tuesday, February 11, 2025", "2025-02-11"),
        ("2025/02/11", "2025-02-11"),
        ("not a date", None),
        ("2025-02-30", None),
        ("", None),
    ],
)
def test_normalise_date(raw: str, iso: str | None) -> None:
    assert normalise_date(raw) == iso


# -- HTML ------------------------------------------------------------------------------------
def test_html_news_page_metadata_main_text_no_boilerplate() -> None:
    (article,), skips = read_all(FIXTURES / "news-page.html")
    assert not skips
    assert article.id == "news-page"
    assert article.title == "Harbour town opens Europe's largest tidal lagoon power plant"
    assert article.author == "Maria Okonkwo"
    assert article.date == "2024-03-05"
    assert article.source == "The Coastal Courier"
    assert article.url == "https://coastalcourier.example/news/2024/03/05/tidal-lagoon-opens"
    text = article.text
    for kept in (
        "16 turbines, set into a 9.5-kilometre sea wall",
        "about 120,000 homes",
        "Dafydd Rees",
        "1.3 billion pounds",
        "within two years",
    ):
        assert kept in text
    for dropped in (
        "cookies",
        "Subscribe",
        "Most read",
        "lighthouses",
        "newsletter",
        "Copyright",
        "Privacy",
        "Terms and conditions",
        "dataLayer",
        "font-family",
    ):
        assert dropped not in text, dropped
    # paragraphs stay paragraphs, so chunking sees the page's structure
    assert "\n\nThe lagoon's 16 turbines" in text


def test_html_without_article_text_is_skipped() -> None:
    articles, skips = read_all(FIXTURES / "no-article.html")
    assert not articles
    assert len(skips) == 1 and "no article text" in skips[0].reason


# -- bad files: each is reported with its file (and line), the rest is read ---------------
def test_bad_files_are_reported_and_the_rest_is_read(tmp_path: Path) -> None:
    (tmp_path / "good.txt").write_text("Title: Good\n\nA good article about harbours.\n")
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "blank.md").write_text("  \n\n \n")
    (tmp_path / "binary.txt").write_bytes(
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))
    )
    (tmp_path / "latin1.txt").write_bytes("Caf\xe9 owners in M\xe1laga protest.".encode("latin-1"))
    (tmp_path / "notes.docx").write_bytes(b"PK\x03\x04")
    shutil.copy(FIXTURES / "no-article.html", tmp_path / "no-article.html")
    (tmp_path / "feed.jsonl").write_text(
        json.dumps({"id": "f1", "title": "One", "text": "First line article."})
        + "\n"
        + '{"id": "f2", "title": "Two", "text": "broken\n'
        + "\n"
        + json.dumps(["not", "an", "object"])
        + "\n"
        + json.dumps({"id": "f5", "title": "No text"})
        + "\n"
        + json.dumps({"id": "f6", "title": "Six", "text": "Sixth line article."})
        + "\n"
    )
    articles, skips = read_all(tmp_path)
    assert sorted(a.id for a in articles) == ["f1", "f6", "good"]
    by_file = {(Path(s.path).name, s.line): s.reason for s in skips}
    assert by_file[("empty.txt", None)] == "empty file"
    assert by_file[("blank.md", None)] == "empty file"
    assert "binary" in by_file[("binary.txt", None)]
    assert "not UTF-8" in by_file[("latin1.txt", None)]
    assert "unsupported file type .docx" in by_file[("notes.docx", None)]
    assert "no article text" in by_file[("no-article.html", None)]
    assert "not valid JSON" in by_file[("feed.jsonl", 2)]
    assert "not a JSON object" in by_file[("feed.jsonl", 4)]
    assert "no 'text' field" in by_file[("feed.jsonl", 5)]
    assert len(skips) == 9
    assert str(next(s for s in skips if s.line == 2)).endswith(
        "feed.jsonl:2: not valid JSON: Unterminated string starting at"
    )


def test_missing_path_is_an_error_before_anything_is_read(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="no such file or folder"):
        list(iter_articles([tmp_path / "nope.txt"]))


def test_read_file_never_raises_on_unreadable_file(tmp_path: Path) -> None:
    folder = tmp_path / "a-folder.txt"
    folder.mkdir()
    (skip,) = list(read_file(folder, "x"))
    assert isinstance(skip, Skip) and "cannot read" in skip.reason


# -- re-ingest rules, on a private copy of the built corpus index ---------------------------
def test_reingesting_unchanged_corpus_does_nothing(corpus_copy: Path, models: Models) -> None:
    before = snapshot(corpus_copy)
    files = sorted(corpus_copy.glob("vectors-g*.faiss"))
    pipeline = models.pipeline(corpus_copy)
    report = pipeline.ingest([DEFAULT_CORPUS])
    pipeline.close()
    assert (report.added, report.unchanged, report.replaced, report.chunks) == (0, 25, 0, 0)
    assert report.summary().startswith("0 added, 25 unchanged, 0 replaced, 0 deleted, 0 skipped")
    assert sorted(corpus_copy.glob("vectors-g*.faiss")) == files  # no new generation written
    assert snapshot(corpus_copy) == before


def test_changed_article_replaces_its_chunks(
    corpus_copy: Path, models: Models, tmp_path: Path
) -> None:
    lines = WIKINEWS.read_text().splitlines()
    record = json.loads(lines[3])
    old_chunks = _chunks(corpus_copy, record["id"])
    record["text"] = (
        "The crane collapse was followed by a second, smaller incident at the "
        "Zephyrine quay, where a gantry lost a counterweight.\n\n" + record["text"]
    )
    lines[3] = json.dumps(record)
    changed = tmp_path / "wikinews-news.jsonl"
    changed.write_text("\n".join(lines) + "\n")
    counts_before = Store(corpus_copy / "store.sqlite", readonly=True).counts()

    pipeline = models.pipeline(corpus_copy)
    report = pipeline.ingest([changed])
    assert (report.added, report.unchanged, report.replaced) == (0, 23, 1)
    assert report.chunks == len(_chunks(corpus_copy, record["id"]))
    new_chunks = _chunks(corpus_copy, record["id"])
    assert new_chunks != old_chunks
    assert "Zephyrine" in new_chunks[0][1]
    assert all("Zephyrine" not in text for _, text in old_chunks)
    articles, chunks = Store(corpus_copy / "store.sqlite", readonly=True).counts()
    assert articles == counts_before[0]
    assert chunks == counts_before[1] - len(old_chunks) + len(new_chunks)
    hits = pipeline.search("Zephyrine quay gantry counterweight")
    assert hits[0].article.id == record["id"]
    pipeline.close()
    assert_consistent(corpus_copy)


def test_metadata_change_alone_replaces(corpus_copy: Path, models: Models, tmp_path: Path) -> None:
    text = FOUNDING_FILE.read_text().replace("Author: Stanislav Pohorilov", "Author: S. Pohorilov")
    path = tmp_path / FOUNDING_FILE.name
    path.write_text(text)
    pipeline = models.pipeline(corpus_copy)
    report = pipeline.ingest([path])
    assert (report.added, report.replaced) == (0, 1)
    assert pipeline.article(FOUNDING_ID).author == "S. Pohorilov"  # type: ignore[union-attr]
    pipeline.close()


def test_delete_removes_one_article(corpus_copy: Path, models: Models) -> None:
    pipeline = models.pipeline(corpus_copy)
    before = pipeline.stats()
    gone = len(_chunks(corpus_copy, "GUM_news_korea"))
    report = pipeline.delete(["GUM_news_korea"])
    assert report.deleted == 1 and "1 deleted" in report.summary()
    after = pipeline.stats()
    assert (after.articles, after.chunks) == (before.articles - 1, before.chunks - gone)
    assert pipeline.article("GUM_news_korea") is None
    hits = pipeline.search("North Korea loudspeaker propaganda artillery Yeoncheon", k=20)
    assert hits and all(h.article.id != "GUM_news_korea" for h in hits)
    with pytest.raises(NotFoundError, match="no article with id 'nope'"):
        pipeline.delete(["nope"])
    pipeline.close()
    assert_consistent(corpus_copy)
    # and it comes back whole when ingested again
    pipeline = models.pipeline(corpus_copy)
    report = pipeline.ingest([WIKINEWS])
    assert (report.added, report.unchanged) == (1, 23)
    pipeline.close()
    assert_consistent(corpus_copy)


def test_malformed_jsonl_line_ingests_the_rest(
    corpus_copy: Path, models: Models, tmp_path: Path
) -> None:
    feed = tmp_path / "feed.jsonl"
    feed.write_text(
        json.dumps(
            {
                "id": "ok-1",
                "title": "Orchard harvest",
                "source": "Valley Herald",
                "date": "2024-09-01",
                "text": "Apple growers in the valley picked a record 40,000 tonnes.",
            }
        )
        + "\n"
        + '{"id": "bad", "text": \n'
        + json.dumps(
            {
                "id": "ok-2",
                "title": "Ferry timetable",
                "source": "Valley Herald",
                "text": "The winter ferry timetable starts on 3 November.",
            }
        )
        + "\n"
    )
    before = snapshot(corpus_copy)
    pipeline = models.pipeline(corpus_copy)
    report = pipeline.ingest([feed])
    pipeline.close()
    assert (report.added, len(report.skipped)) == (2, 1)
    (skip,) = report.skipped
    assert (Path(skip.path).name, skip.line) == ("feed.jsonl", 2)
    assert "1 skipped: 1 not valid JSON" in report.summary()
    assert {"ok-1", "ok-2"} <= article_ids(corpus_copy)
    assert "bad" not in article_ids(corpus_copy)
    assert_consistent(corpus_copy)
    after = snapshot(corpus_copy)
    assert after["answers"][FOUNDING_Q_KEY]["citations"][0]["article_id"] == FOUNDING_ID
    assert after["articles"] == before["articles"] + 2


@pytest.mark.parametrize("case", ["empty", "binary", "latin1", "no-article-html", "missing"])
def test_bad_input_leaves_the_index_as_it_was(
    case: str, corpus_copy: Path, models: Models, tmp_path: Path
) -> None:
    path = (
        tmp_path
        / {
            "empty": "e.txt",
            "binary": "b.txt",
            "latin1": "l.txt",
            "no-article-html": "n.html",
            "missing": "m.txt",
        }[case]
    )
    if case == "empty":
        path.write_text("")
    elif case == "binary":
        path.write_bytes(bytes(range(256)) * 8)
    elif case == "latin1":
        path.write_bytes("Se\xf1or Mu\xf1oz".encode("latin-1"))
    elif case == "no-article-html":
        shutil.copy(FIXTURES / "no-article.html", path)
    before = snapshot(corpus_copy)
    pipeline = models.pipeline(corpus_copy)
    if case == "missing":
        # a missing path anywhere in the list fails the call before anything is committed
        with pytest.raises(BadInputError, match="no such file or folder"):
            pipeline.ingest([FIXTURES / "news-page.html", path])
    else:
        report = pipeline.ingest([path])
        assert (report.added, report.replaced, len(report.skipped)) == (0, 0, 1)
    pipeline.close()
    assert snapshot(corpus_copy) == before
    assert_consistent(corpus_copy)


def test_html_page_ingests_and_answers_with_its_metadata(corpus_copy: Path, models: Models) -> None:
    pipeline = models.pipeline(corpus_copy)
    report = pipeline.ingest([FIXTURES / "news-page.html"])
    assert report.added == 1
    answer = pipeline.ask("How many turbines does the Swansbay tidal lagoon have?")
    top = answer.citations[0]
    assert (top.article_id, top.author, top.date, top.source) == (
        "news-page",
        "Maria Okonkwo",
        "2024-03-05",
        "The Coastal Courier",
    )
    assert "16 turbines" in top.text
    pipeline.close()


# -- filters --------------------------------------------------------------------------------
def test_filters_on_source_author_and_dates(corpus_pipeline: Pipeline) -> None:
    q = "North Korea troops artillery"
    everything = corpus_pipeline.search(q, k=10)
    assert {h.article.id for h in everything} >= {FOUNDING_ID, "GUM_news_korea"}
    by_author = corpus_pipeline.search(q, k=10, filters=Filters(author="Pohorilov"))
    assert by_author and {h.article.id for h in by_author} == {FOUNDING_ID}
    by_source = corpus_pipeline.search(
        q, k=10, filters=Filters(source="wikinews (news), via gum corpus")
    )
    assert by_source and all(h.article.id.startswith("GUM_") for h in by_source)
    recent = corpus_pipeline.search(q, k=10, filters=Filters(date_from="2025-01-01"))
    assert {h.article.id for h in recent} == {FOUNDING_ID}
    window = corpus_pipeline.search(
        q, k=10, filters=Filters(date_from="2015-08-01", date_to="2015-08-31")
    )
    assert window and all("2015-08-01" <= (h.article.date or "") <= "2015-08-31" for h in window)
    assert "GUM_news_korea" in {h.article.id for h in window}
    assert corpus_pipeline.search(q, filters=Filters(author="Nobody Atall")) == []
    answer = corpus_pipeline.ask(
        "How many troops did North Korea send to Russia?", filters=Filters(date_to="2020-01-01")
    )
    assert all(c.article_id != FOUNDING_ID for c in answer.citations)


def _chunks(data_dir: Path, article_id: str) -> list[tuple[int, str]]:
    store = Store(data_dir / "store.sqlite", readonly=True)
    try:
        return [(c.start, c.text) for c in store.chunks_of(article_id)]
    finally:
        store.close()


FOUNDING_Q_KEY = "How many troops did North Korea send to Russia?"


# -- annotation overlapped with encoding ------------------------------------------------------


def _many_articles(n: int) -> list[Article]:
    return [
        Article(
            f"a{i}",
            f"Report {i}",
            " ".join(
                f"Sentence {j} of report {i} names Town{i} and {j * 7} people." for j in range(60)
            ),
        )
        for i in range(n)
    ]


def test_grouped_preparation_equals_one_after_the_other() -> None:
    """Annotating groups in a second thread while encoding gives exactly what annotating the
    batch and then encoding it gives, in the order of the articles."""
    import numpy as np

    from qa.ingest.ingestor import LocalPreparer, embedding_text, prepare_articles
    from qa.storage.manifest import Manifest
    from tests.fakes import HashEncoder, PlainAnnotator

    manifest = Manifest("fake", 384, 120, 30)
    articles = _many_articles(40)
    preparer = LocalPreparer(HashEncoder(), PlainAnnotator(), manifest)
    preparer.STEP = 16  # many small groups
    assert len(preparer._groups(articles)) > 5
    seen: list[int] = []
    got = preparer.prepare(articles, seen.append)
    expected = prepare_articles(articles, PlainAnnotator(), manifest)
    assert seen == sorted(seen) and seen[-1] == sum(len(c) for _, _, c in expected)
    for article, prepared, (sents, ents, chunks) in zip(articles, got, expected, strict=True):
        assert not isinstance(prepared, str)
        assert (prepared.sentences, prepared.entities, prepared.chunks) == (sents, ents, chunks)
        want = HashEncoder().encode([embedding_text(article, c) for c in chunks])
        np.testing.assert_array_equal(prepared.vectors, want)


def test_an_annotation_failure_fails_the_batch_and_stores_nothing(tmp_path: Path) -> None:
    from tests.fakes import PlainAnnotator, fast_pipeline

    class Failing(PlainAnnotator):
        def entities(self, texts: list[str]) -> list[list[object]]:  # type: ignore[override]
            if any("report 33" in t for t in texts):
                raise RuntimeError("tagger crashed")
            return super().entities(texts)  # type: ignore[return-value]

    pipeline = fast_pipeline(tmp_path / "data")
    pipeline._annotator = Failing()
    with pytest.raises(RuntimeError, match="tagger crashed"):
        pipeline.ingest_articles(_many_articles(40))
    assert pipeline.stats().articles == 0
    pipeline.close()
