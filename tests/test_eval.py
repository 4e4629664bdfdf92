"""``ask eval``: metrics against hand-computed cases, loaders, bad input, reports, the CLI."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from qa.cli.main import app
from qa.errors import BadInputError
from qa.eval.loaders import (
    EvalQuestion,
    QuestionSet,
    load_questions,
    resolve_article_ids,
    select,
    squad_articles,
)
from qa.eval.report import evaluate, gate_failures, parse_fail_under
from qa.eval.runner import Passage, Record
from qa.eval.scoring import best_threshold, candidate, grid, metrics, percentile, score, sweep
from qa.pipeline import Pipeline, build_pipeline
from qa.settings import Settings
from qa.squad import exact_match, f1_score, normalize_answer
from tests.conftest import SHARED, make_settings

FIXTURES = Path(__file__).parent / "fixtures" / "eval"
CHROMIUM = Path("/usr/bin/chromium")


# -- metric functions ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # The official SQuAD script: lower case, no punctuation, no a/an/the, single spaces.
        ("The Quick, Brown Fox.", "quick brown fox"),
        ("a  cat   sat on an   ottoman", "cat sat on ottoman"),
        ("Theatre", "theatre"),  # "the" only as a whole word
        ("(Denver Broncos)", "denver broncos"),
        ("Super Bowl 50's", "super bowl 50s"),
        # Folded first: Unicode dashes and spaces.
        ("1990\u20131995", "19901995"),
        ("10\u00a0km", "10 km"),
    ],
)
def test_normalize_answer_follows_squad(raw: str, expected: str) -> None:
    assert normalize_answer(raw) == expected


def test_exact_match_and_f1_by_hand() -> None:
    assert exact_match("The Denver Broncos!", ["Denver Broncos"]) == 1.0
    assert exact_match("Broncos", ["Denver Broncos"]) == 0.0
    assert exact_match("Broncos", ["Denver Broncos", "broncos"]) == 1.0  # best over golds
    # pred {cat, sat}, gold {cat, sat, down}: P = 1, R = 2/3, F1 = 0.8
    assert f1_score("the cat sat", ["a cat sat down"]) == pytest.approx(0.8)
    # pred {11000}, gold {11000, troops}: P = 1, R = 1/2, F1 = 2/3; best of two golds
    assert f1_score("11,000", ["over there", "11,000 troops"]) == pytest.approx(2 / 3)
    assert f1_score("1990\u20131995", ["1990-1995"]) == 1.0
    assert f1_score("red", ["blue"]) == 0.0


def test_unanswerable_scores() -> None:
    assert exact_match("", []) == 1.0
    assert f1_score("", []) == 1.0
    assert exact_match("Paris", []) == 0.0
    assert f1_score("Paris", []) == 0.0


# -- the set's metrics, by hand ------------------------------------------------------------------
def _q(qid: str, answers: tuple[str, ...], article: str | None = None) -> EvalQuestion:
    return EvalQuestion(qid, f"question {qid}?", answers, (article,) if article else ())


def _p(article: str, text: str) -> Passage:
    return Passage(article, f"{article}#0", article, text, 0.5)


def hand_records() -> list[Record]:
    return [
        # right, confident; answer in the first passage, from the gold article
        Record(
            _q("q1", ("Paris",), "A"),
            "Paris",
            0.9,
            (_p("A", "The capital is Paris."),),
            10.0,
            {"retrieve": 6.0, "answer": 4.0},
        ),
        # partly right (F1 2/3); answer in passage 2; gold article at rank 2
        Record(
            _q("q2", ("11,000 troops",), "A"),
            "11,000",
            0.6,
            (_p("B", "Nothing here."), _p("A", "It sent 11,000 troops.")),
            20.0,
            {"retrieve": 15.0, "answer": 5.0},
        ),
        # wrong and under the threshold: abstains; gold article never cited
        Record(
            _q("q3", ("blue",), "Z"),
            "red",
            0.2,
            (_p("C", "The sky is blue."),),
            30.0,
            {"retrieve": 20.0, "answer": 10.0},
        ),
        # unanswerable, no candidate: abstains (right)
        Record(_q("q4", ()), "", 0.0, (_p("C", "The sky is blue."),), 40.0, {}),
        # unanswerable, answered confidently (wrong)
        Record(_q("q5", ()), "Rome", 0.8, (_p("D", "Rome is old."),), 100.0, {}),
    ]


def test_metrics_by_hand() -> None:
    m = metrics([score(candidate(r), 0.35) for r in hand_records()])
    assert m["exact_match"] == pytest.approx(1 / 3)
    assert m["f1"] == pytest.approx((1 + 2 / 3 + 0) / 3)
    assert m["answer_in_citations@1"] == pytest.approx(2 / 3)  # q1, q3 (abstained, still cited)
    assert m["answer_in_citations@3"] == 1.0
    assert m["answer_in_citations@5"] == 1.0
    assert m["article_recall@5"] == pytest.approx(2 / 3)
    assert m["article_mrr"] == pytest.approx((1 + 1 / 2 + 0) / 3)
    # abstained: q3 (answerable), q4 (unanswerable); unanswerable: q4, q5
    assert m["abstain_precision"] == 0.5
    assert m["abstain_recall"] == 0.5
    assert m["abstain_f1"] == 0.5
    assert m["false_abstention_rate"] == pytest.approx(1 / 3)
    assert m["overall_exact_match"] == pytest.approx((1 + 0 + 0 + 1 + 0) / 5)
    assert m["overall_f1"] == pytest.approx((1 + 2 / 3 + 0 + 1 + 0) / 5, abs=1e-6)


def test_always_answering_and_always_abstaining_both_score_low() -> None:
    cands = [candidate(r) for r in hand_records()]
    always = metrics([score(c, 0.0) for c in cands])
    never = metrics([score(c, 1.01) for c in cands])
    assert never["overall_f1"] == pytest.approx(2 / 5)  # only the two unanswerable ones
    assert never["f1"] == 0.0 and never["false_abstention_rate"] == 1.0
    assert always["abstain_recall"] == 0.5  # q4 has no candidate at all
    assert always["overall_f1"] == pytest.approx((1 + 2 / 3 + 0 + 1 + 0) / 5, abs=1e-6)


def test_metrics_not_measurable_are_none() -> None:
    answerable_only = [r for r in hand_records() if r.question.answerable][:2]
    m = metrics([score(candidate(r), 0.35) for r in answerable_only])
    assert m["abstain_recall"] is None  # no unanswerable question
    assert m["abstain_precision"] is None  # and no abstention
    assert m["abstain_f1"] is None
    assert gate_failures({"metrics": m}, [("abstain_f1", 0.5)]) == [
        "abstain_f1 was not measured on this set, so it cannot be at least 0.5"
    ]


def test_sweep_by_hand() -> None:
    cands = [candidate(r) for r in hand_records()]
    rows = {r.threshold: r for r in sweep(cands, [0.0, 0.5, 0.85])}
    assert rows[0.0].answered == pytest.approx(4 / 5)
    assert rows[0.0].em_answered == pytest.approx(1 / 4)  # q1 of q1, q2, q3, q5
    assert rows[0.5].answered == pytest.approx(3 / 5)
    # at 0.85 only q1 answers: right on q1, q4, q5
    assert rows[0.85].overall_f1 == pytest.approx(3 / 5)
    assert rows[0.85].em_answered == 1.0
    # overall F1 is highest for thresholds in (0.8, 0.9]; the lowest such grid point wins
    assert best_threshold(sweep(cands, grid(0.01))).threshold == pytest.approx(0.81)


def test_percentile_and_latency() -> None:
    assert percentile([10, 20, 30, 40, 100], 0.5) == 30
    assert percentile([10, 20, 30, 40, 100], 0.95) == pytest.approx(88)
    ev = evaluate(
        QuestionSet("x", "jsonl", ()),
        [candidate(r) for r in hand_records()],
        threshold=0.35,
        config={},
    )
    lat = ev.report["metrics"]["latency_ms"]
    assert lat["p50"] == 30 and lat["max"] == 100
    assert lat["stages"]["retrieve"]["max"] == 20
    cal = ev.report["calibration"]
    assert cal["best_threshold"] == pytest.approx(0.81)
    assert cal["always_abstain_overall_f1"] == pytest.approx(2 / 5)
    assert cal["answer_whenever_possible_overall_f1"] == pytest.approx(8 / 15, abs=1e-6)


def test_fail_under_parsing() -> None:
    assert parse_fail_under(["f1=0.6", "answer_in_citations@5=0.9"]) == [
        ("f1", 0.6),
        ("answer_in_citations@5", 0.9),
    ]
    for bad, needle in (
        ("f2=0.5", "unknown metric 'f2'"),
        ("f1", "METRIC=VALUE"),
        ("f1=high", "not a number"),
        ("f1=60", "[0, 1]"),
    ):
        with pytest.raises(ValueError, match=needle.replace("[", r"\[").replace("]", r"\]")):
            parse_fail_under([bad])


# -- loaders ---------------------------------------------------------------------------------------
def test_jsonl_skips_bad_lines_with_file_and_line() -> None:
    qs = load_questions(FIXTURES / "questions.jsonl")
    assert qs.format == "jsonl"
    assert len(qs.questions) == 7
    assert [(s.line, s.reason.split(":")[0]) for s in qs.skipped] == [
        (5, "not valid JSON"),
        (6, "no 'question' field with the question text"),
    ]
    assert all(s.path.endswith("questions.jsonl") for s in qs.skipped)
    assert qs.answerable == 5
    first = qs.questions[0]
    assert first.answers == ("11,000", "around 11,000")
    assert first.article_ids == ("north-korea-troops-to-russia-2025-02-11",)


def test_csv() -> None:
    qs = load_questions(FIXTURES / "questions.csv")
    assert qs.format == "csv"
    assert [q.id for q in qs.questions] == ["c1", "c2"]
    assert qs.questions[0].answers == ("11,000", "around 11,000")
    assert qs.questions[1].answers == ()
    assert [(s.line, s.reason) for s in qs.skipped] == [(4, "empty 'question' cell")]


def test_squad_versions() -> None:
    v1 = load_questions(FIXTURES / "squad-v1.1.json")
    assert v1.format == "squad-v1.1"
    assert [q.answers for q in v1.questions] == [("1999", "in 1999"), ("Ada Lovelace Jr.",)]
    assert v1.questions[0].article_ids == ("Tiny_article",)
    v2 = load_questions(FIXTURES / "squad-v2.0.json")
    assert v2.format == "squad-v2.0"
    assert [q.answers for q in v2.questions] == [("1999",), ()]  # plausible answers unused
    [article] = squad_articles(FIXTURES / "squad-v2.0.json")
    assert article.id == "Tiny_article" and "1999" in article.text


def test_conversations() -> None:
    qs = load_questions(FIXTURES / "conversations.jsonl")
    assert qs.format == "conversations"
    assert [(q.id, q.conversation, q.turn) for q in qs.questions] == [
        ("conv-nk#1", "conv-nk", 1),
        ("conv-nk#2", "conv-nk", 2),
        ("conv-nk#3", "conv-nk", 3),
        ("conv-crane#1", "conv-crane", 1),
        ("conv-crane#2", "conv-crane", 2),
    ]
    assert [(s.line, s.reason) for s in qs.skipped] == [
        (3, "turn 1: no 'question' field with the question text")
    ]
    # --limit keeps conversations whole
    assert len(select(qs, limit=4).questions) == 3
    assert len(select(qs, articles=["GUM_news_crane"]).questions) == 2


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("missing.jsonl", "no such question file"),
        ("empty.jsonl", "is empty"),
        ("questions.txt", "unknown question file format '.txt'"),
        ("no_question_column.csv", "no 'question' column (columns: 'query', 'answer')"),
        ("squad-v3.json", "SQuAD JSON version '3.0' is not supported"),
    ],
)
def test_bad_question_files(name: str, needle: str) -> None:
    with pytest.raises(BadInputError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        load_questions(FIXTURES / name)


def test_gold_article_ids_resolve_against_the_index() -> None:
    qs = QuestionSet(
        "x", "squad-v1.1", (_q("a", ("x",), "Amazon_rainforest"), _q("b", ("x",), "Nowhere"))
    )
    fixed, missing = resolve_article_ids(qs, {"squad-dev:Amazon_rainforest", "other"})
    assert fixed.questions[0].article_ids == ("squad-dev:Amazon_rainforest",)
    assert missing == 1


# -- the command: bad input never touches the index ------------------------------------------------
def snapshot(data_dir: Path) -> dict[str, str]:
    """Content of every index file (SQLite's transient -wal/-shm files aside)."""
    return {
        str(p.relative_to(data_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(data_dir.rglob("*"))
        if p.is_file() and not p.name.endswith(("-wal", "-shm"))
    }


@pytest.fixture
def user_index(corpus_copy: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user's own index (a copy of the shipped corpus's), as QA_DATA_DIR."""
    monkeypatch.setenv("QA_DATA_DIR", str(corpus_copy))
    monkeypatch.delenv("QA_ABSTAIN_THRESHOLD", raising=False)
    return corpus_copy


def ask(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["eval", *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["missing.jsonl"], "no such question file"),
        (["empty.jsonl"], "is empty"),
        (["questions.txt"], "unknown question file format"),
        (["no_question_column.csv"], "no 'question' column"),
        (["squad-v3.json"], "version '3.0' is not supported"),
        (["questions.jsonl", "--corpus", "nowhere.jsonl"], "no such corpus"),
        (["questions.jsonl", "--compare", "nowhere/report.json"], "no such report"),
    ],
)
def test_bad_input_exits_2_and_leaves_the_index_alone(
    user_index: Path, args: list[str], needle: str
) -> None:
    before = snapshot(user_index)
    args = [
        str(FIXTURES / a) if a.endswith((".jsonl", ".csv", ".json", ".txt")) else a for a in args
    ]
    code, output = ask(*args)
    assert code == 2, output
    assert needle in output
    assert snapshot(user_index) == before


def test_unknown_fail_under_metric_is_a_usage_error_before_any_work(user_index: Path) -> None:
    before = snapshot(user_index)
    # The question file is missing too: the metric is checked first.
    code, output = ask(str(FIXTURES / "missing.jsonl"), "--fail-under", "f2=0.5")
    assert code == 2
    assert "unknown metric 'f2'" in output and "no such question file" not in output
    assert snapshot(user_index) == before


def test_no_index_is_not_created(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = tmp_path / "never"
    monkeypatch.setenv("QA_DATA_DIR", str(data_dir))
    code, output = ask(str(FIXTURES / "questions.jsonl"))
    assert code == 2 and "no index" in output
    assert not data_dir.exists()


# -- the command on the shipped corpus ---------------------------------------------------------
def test_eval_writes_reports_and_leaves_the_index_alone(user_index: Path, tmp_path: Path) -> None:
    before = snapshot(user_index)
    out = tmp_path / "run1"
    code, output = ask(str(FIXTURES / "questions.jsonl"), "--out", str(out), "--sweep")
    assert code == 0, output
    assert snapshot(user_index) == before
    # The console wraps long lines at a width that depends on the checkout's path.
    flat = " ".join(output.split())
    assert "questions.jsonl:5: not valid JSON" in flat
    assert "overall_f1" in flat and "best threshold by overall F1" in flat
    assert "threshold" in output and "answered" in output  # the sweep table

    report = json.loads((out / "report.json").read_text())
    assert (report["questions"], report["answerable"], report["unanswerable"]) == (7, 5, 2)
    assert len(report["skipped"]) == 2 and report["skipped"][0]["line"] == 5
    m = report["metrics"]
    for name in (
        "exact_match",
        "f1",
        "answer_in_citations@1",
        "answer_in_citations@5",
        "article_recall@5",
        "article_mrr",
        "abstain_precision",
        "abstain_recall",
        "abstain_f1",
        "false_abstention_rate",
        "overall_f1",
        "overall_exact_match",
    ):
        assert m[name] is None or 0.0 <= m[name] <= 1.0, name
    assert set(m["latency_ms"]) == {"p50", "p95", "max", "stages"}
    assert {"retrieve", "answer"} <= set(m["latency_ms"]["stages"])
    # Unset, the threshold is the one calibrated for the answerer that ran (the reader's).
    from qa.answer.confidence import Calibrator
    from qa.reader.model import SHIPPED_DIR

    assert report["config"]["answerer"] == "reader"
    assert report["config"]["abstain_threshold"] == Calibrator.load(SHIPPED_DIR).threshold
    for name in ("ece", "right_at_0.9"):
        assert m[name] is None or 0.0 <= m[name] <= 1.0, name
    assert report["calibration"]["reliability"]
    assert "reliability diagram" in (out / "report.html").read_text()
    assert report["model"] == Settings().model
    assert report["version"]
    # The founding question is answered from the founding article.
    assert m["article_recall@5"] > 0.5

    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows][:2] == ["nk-troops", "nk-artillery"]
    for key in (
        "question",
        "answers",
        "answer",
        "abstained",
        "confidence",
        "cited_article_ids",
        "metrics",
        "latency_ms",
    ):
        assert key in rows[0]
    assert rows[0]["cited_article_ids"][0] == "north-korea-troops-to-russia-2025-02-11"
    # Each answer's signals are in the run, and the shipped calibration gives back its
    # confidence from them: a calibration can be checked or refitted from results.jsonl.
    calibrator = Calibrator.load(SHIPPED_DIR)
    with_signals = [r for r in rows if r.get("signals")]
    assert with_signals
    for r in with_signals:
        assert calibrator.recorded(r["signals"]) == pytest.approx(r["confidence"], abs=2e-3)
    page = (out / "report.html").read_text()
    assert page.startswith("<!doctype html>") and "<svg" in page
    assert "http" not in page.split("<main>")[0]  # nothing fetched: no external assets

    # Comparing with itself: every change is zero; gates pass and fail as the numbers say.
    f1 = m["f1"]
    code, output = ask(
        str(FIXTURES / "questions.jsonl"),
        "--compare",
        str(out),
        "--fail-under",
        "answer_in_citations@5=0",
        "--fail-under",
        "f1=1.0",
    )
    assert "change against" in output and "+0.0000" in output
    assert code == (1 if f1 < 1.0 else 0), output
    if f1 < 1.0:
        assert "quality gate failed: f1 = " in output
    code, output = ask(
        str(FIXTURES / "questions.jsonl"), "--limit", "2", "--fail-under", "answer_in_citations@5=0"
    )
    assert code == 0, output
    assert snapshot(user_index) == before


def test_thresholds_applied_afterwards_match_the_pipeline(corpus_index_dir: Path) -> None:
    """Eval asks once at threshold 0 and applies thresholds itself: same as Pipeline.ask."""
    from qa.eval.runner import record_from_answer

    questions = load_questions(FIXTURES / "questions.jsonl").questions
    raw = build_pipeline(make_settings(corpus_index_dir, auto_ingest=False, abstain_threshold=0.0))
    try:
        for t in (0.2, 0.35, 0.6):
            strict: Pipeline = build_pipeline(
                make_settings(corpus_index_dir, auto_ingest=False, abstain_threshold=t)
            )
            try:
                for q in questions:
                    rec = record_from_answer(q, raw.ask(q.question), 0.0)
                    real = strict.ask(q.question)
                    assert rec.abstains_at(t) == real.abstained, (q.id, t)
                    if not real.abstained:
                        assert rec.candidate == real.answer
            finally:
                strict.close()
    finally:
        raw.close()


def test_conversations_are_asked_with_history(user_index: Path, tmp_path: Path) -> None:
    out = tmp_path / "conv"
    code, output = ask(str(FIXTURES / "conversations.jsonl"), "--out", str(out))
    assert code == 0, output
    report = json.loads((out / "report.json").read_text())
    assert report["questions"] == 5 and report["format"] == "conversations"
    assert "answer_history" in report["config"]["turns"]
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [(r["conversation"], r["turn"], r["history_turns"]) for r in rows] == [
        ("conv-nk", 1, 0),
        ("conv-nk", 2, 1),
        ("conv-nk", 3, 2),
        ("conv-crane", 1, 0),
        ("conv-crane", 2, 1),
    ]
    assert all(r["searched_query"] for r in rows)


# -- report.html in a real browser ----------------------------------------------------------------
def test_report_html_renders_in_headless_chromium(tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is missing (apt-get install -y chromium)")
    records = hand_records()
    nasty = Record(
        _q("q<6>", ("<b>bold</b>",), "A"),
        "<script>alert(1)</script>",
        0.99,
        (_p("A", "Say <script>alert(1)</script> & <b>bold</b>."),),
        50.0,
        {},
    )
    ev = evaluate(
        QuestionSet("questions.jsonl", "jsonl", ()),
        [candidate(r) for r in [*records, nasty]],
        threshold=0.35,
        config={"questions_file": "questions.jsonl", "k": 5, "answerer": "rules"},
    )
    from qa.eval.report import write_outputs

    write_outputs(ev, tmp_path)
    page = (tmp_path / "report.html").read_text()
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count("<svg") == 4  # latency, coverage, threshold, reliability
    shot = tmp_path / "report.png"
    proc = subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            f"--screenshot={shot}",
            "--window-size=1200,1600",
            (tmp_path / "report.html").as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


# -- with --corpus: a fresh temporary index --------------------------------------------------------
@pytest.mark.slow
def test_squad_json_as_questions_and_corpus(user_index: Path, tmp_path: Path) -> None:
    before = snapshot(user_index)
    squad = str(FIXTURES / "squad-v2.0.json")
    code, output = ask(squad, "--corpus", squad, "--out", str(tmp_path / "out"))
    assert code == 0, output
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["format"] == "squad-v2.0" and report["unanswerable"] == 1
    assert report["metrics"]["article_recall@5"] == 1.0  # the title is the article id
    assert report["config"]["data_dir"].startswith("temporary")
    assert snapshot(user_index) == before


@pytest.mark.slow
def test_squad_subset_against_two_articles(user_index: Path, tmp_path: Path) -> None:
    """The CI gate: 30 questions of 2 SQuAD v2.0 articles, against those 2 articles only."""
    base = SHARED / "eval" / "squad-v2.0-dev"
    if not (base / "articles.jsonl").exists():
        pytest.skip(f"public evaluation data not found at {base}")
    wanted = {"squad-dev:Amazon_rainforest", "squad-dev:Construction"}
    corpus = tmp_path / "two.jsonl"
    with (base / "articles.jsonl").open() as src, corpus.open("w") as dst:
        dst.writelines(line for line in src if json.loads(line)["id"] in wanted)
    before = snapshot(user_index)
    code, output = ask(
        str(base / "questions.public.jsonl"),
        "--corpus",
        str(corpus),
        "--article",
        "squad-dev:Amazon_rainforest",
        "--limit",
        "30",
        "--out",
        str(tmp_path / "out"),
        "--fail-under",
        "article_recall@5=0.9",
        "--fail-under",
        "answer_in_citations@5=0.6",
    )
    assert code == 0, output
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["questions"] == 30
    assert snapshot(user_index) == before
