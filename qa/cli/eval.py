"""``ask eval``: the click command. Imports nothing heavy at module level (``qa.cli.main`` loads it
at start-up); the loaders, the pipeline and the writers are imported when it runs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from qa.cli.progress import console, progress_bar

if TYPE_CHECKING:
    from qa.eval.loaders import QuestionSet
    from qa.ingest.ingestor import IngestReport
    from qa.pipeline import Pipeline


@click.command("eval")
@click.argument("questions", type=click.Path(path_type=Path))
@click.option(
    "--corpus",
    type=click.Path(path_type=Path),
    default=None,
    help="Articles to build a fresh temporary index from (anything `ask ingest` reads, "
    "or official SQuAD JSON); the index you use is never touched. Without it, "
    "the current index is evaluated.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Write report.json, results.jsonl and report.html here.",
)
@click.option(
    "-k",
    "--k",
    "k",
    type=click.IntRange(1, 100),
    default=None,
    help="Passages to retrieve and cite per question (default QA_TOP_K).",
)
@click.option("--limit", type=click.IntRange(1), default=None, help="Only the first N questions.")
@click.option(
    "--article",
    "articles",
    multiple=True,
    metavar="ID",
    help="Only questions on this gold article id (repeatable); with --corpus, only "
    "these articles are indexed. For small, fast subsets (CI).",
)
@click.option(
    "--compare",
    "compare_to",
    type=click.Path(path_type=Path),
    default=None,
    help="An earlier report.json (or its folder): print each metric's change.",
)
@click.option(
    "--fail-under",
    "fail_under",
    multiple=True,
    metavar="METRIC=VALUE",
    help="Exit 1 when METRIC falls below VALUE, e.g. f1=0.6 (repeatable).",
)
@click.option(
    "--sweep", is_flag=True, help="Print the scores at each abstention threshold and the best one."
)
def eval_cmd(
    questions: Path,
    corpus: Path | None,
    out_dir: Path | None,
    k: int | None,
    limit: int | None,
    articles: tuple[str, ...],
    compare_to: Path | None,
    fail_under: tuple[str, ...],
    sweep: bool,
) -> None:
    """Score the bot on the questions in QUESTIONS, with SQuAD-style metrics.

    \b
    QUESTIONS is one of:
      .jsonl  {"id", "question", "answers": [...], "article_id"?}  (answers [] = unanswerable)
              or conversations {"id", "turns": [{"question", "answers", "article_id"?}, ...]}
      .csv    question,answer columns (several answers separated by |; empty = unanswerable)
      .json   official SQuAD v1.1 or v2.0
    \b
    ask eval questions.jsonl --corpus articles.jsonl --out runs/mine
    ask eval questions.jsonl --sweep              # calibrate QA_ABSTAIN_THRESHOLD
    ask eval questions.jsonl --compare runs/mine --fail-under f1=0.6
    """
    from qa.errors import QAError
    from qa.eval.report import parse_fail_under

    try:
        gates = parse_fail_under(fail_under)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        code = _run(questions, corpus, out_dir, k, limit, articles, compare_to, gates, sweep)
    except QAError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    if code:
        sys.exit(code)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("article-qa")
    except PackageNotFoundError:
        return "unknown"


def _commit() -> str | None:
    import subprocess

    from qa.settings import REPO_ROOT

    if not (REPO_ROOT / ".git").exists():
        return None
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _ingest(pipeline: Pipeline, corpus: Path, articles: tuple[str, ...]) -> IngestReport:
    """The corpus into the (temporary) index, with the same reader and ingestor as
    ``ask ingest``; a SQuAD JSON corpus becomes one article per title."""
    from qa.eval.loaders import is_squad_file, squad_articles
    from qa.ingest.files import Skip, iter_articles

    items: Any = squad_articles(corpus) if is_squad_file(corpus) else iter_articles([corpus])
    if articles:
        wanted = set(articles)
        items = (i for i in items if isinstance(i, Skip) or i.id in wanted)
    with progress_bar(
        "indexing corpus", "{task.fields[articles]} articles, {task.fields[chunks]} chunks"
    ) as bar:
        task = bar.add_task("ingest", total=None, articles=0, chunks=0)

        def progress(done: int, chunks: int) -> None:
            bar.update(task, articles=done, chunks=chunks)
            if not bar.console.is_terminal:
                bar.console.print(f"indexing: {done} articles, {chunks} chunks", markup=False)

        return pipeline.ingest_articles(items, progress)


def _ask_all(pipeline: Pipeline, qs: QuestionSet, k: int, threshold: float, chat_dir: Path) -> Any:
    from qa.eval.runner import run_questions
    from qa.eval.scoring import candidate, score

    totals = {"f1": 0.0, "n": 0, "done": 0}
    total = len(qs.questions)
    err = console(stderr=True)
    # Off a terminal (CI logs) the bar is not drawn: a line every tenth of the way instead.
    every = 0 if err.is_terminal else max(total // 10, 1)
    with progress_bar(
        "asking", "overall F1 so far {task.fields[f1]}", counted=True, remaining=True
    ) as bar:
        task = bar.add_task("ask", total=total, f1="-")

        def tick(rec: Any) -> None:
            if rec is not None:
                totals["f1"] += score(candidate(rec), threshold).overall_f1
                totals["n"] += 1
            totals["done"] += 1
            f1 = f"{totals['f1'] / totals['n']:.3f}" if totals["n"] else "-"
            bar.update(task, advance=1, f1=f1)
            if every and (totals["done"] % every == 0 or totals["done"] == total):
                err.print(f"asked {totals['done']}/{total}, overall F1 so far {f1}", markup=False)

        return run_questions(
            pipeline, qs.questions, k=k, threshold=threshold, chat_dir=chat_dir, tick=tick
        )


def _run(
    questions: Path,
    corpus: Path | None,
    out_dir: Path | None,
    k: int | None,
    limit: int | None,
    articles: tuple[str, ...],
    compare_to: Path | None,
    gates: list[tuple[str, float]],
    sweep: bool,
) -> int:
    import shutil
    import tempfile
    import time

    from qa.errors import BadInputError
    from qa.eval.loaders import load_questions, resolve_article_ids, select
    from qa.eval.report import (
        compare,
        compare_table,
        evaluate,
        gate_failures,
        load_report,
        summary_tables,
        sweep_table,
        write_outputs,
    )
    from qa.eval.runner import TURNS_MODE
    from qa.eval.scoring import candidate
    from qa.settings import load_settings

    err = console(stderr=True)
    # Everything that can be wrong with the input is found before any work is done.
    settings = load_settings()
    old = load_report(compare_to) if compare_to is not None else None
    if corpus is not None and not corpus.exists():
        raise BadInputError(f"no such corpus file or folder: {corpus}")
    loaded = load_questions(questions)
    for skip in loaded.skipped:
        err.print(f"skipped {skip}", markup=False)
    qs = select(loaded, articles=articles, limit=limit)
    if not qs.questions:
        raise BadInputError(
            f"no questions in {questions} are on the articles {', '.join(articles)}"
        )
    k = k or settings.top_k

    from qa.pipeline import build_pipeline

    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="ask-eval-"))
    pipeline = None
    try:
        # The pipeline keeps every answer with its confidence (threshold 0); the configured
        # threshold is applied afterwards, so --sweep can try others without asking again.
        if corpus is not None:
            run_settings = settings.model_copy(
                # A temporary embedded index, whatever QA_STORE names: an evaluation corpus
                # must never be written into the user's database.
                update={
                    "data_dir": tmp / "index",
                    "store": None,
                    "auto_ingest": False,
                    "abstain_threshold": 0.0,
                }
            )
            pipeline = build_pipeline(run_settings)
            ingest = _ingest(pipeline, corpus, articles)
            for skip in ingest.skipped:
                err.print(f"corpus: skipped {skip}", markup=False)
            if not (ingest.added or ingest.replaced):
                raise BadInputError(f"no articles could be indexed from {corpus}")
            err.print(f"indexed {corpus}: {ingest.summary()}", markup=False)
            data_dir = f"temporary ({corpus})"
            ingest_summary = ingest.summary()
        else:
            run_settings = settings.model_copy(update={"abstain_threshold": 0.0})
            pipeline = build_pipeline(run_settings)
            if not pipeline.exists():
                raise BadInputError(
                    f"there is no index at {settings.data_dir}: ingest articles first "
                    "(`ask ingest PATH`) or pass --corpus ARTICLES"
                )
            pipeline.check()
            if pipeline.is_empty():
                raise BadInputError(
                    f"the index at {settings.data_dir} is empty: ingest "
                    "articles first or pass --corpus ARTICLES"
                )
            data_dir = str(settings.data_dir)
            ingest_summary = None
        # The configured threshold, else the one calibrated for this answerer.
        threshold = (
            settings.abstain_threshold
            if settings.abstain_threshold is not None
            else pipeline.answerer.threshold
        )
        known = pipeline.article_ids()
        qs, not_indexed = resolve_article_ids(qs, known)

        records, refused = _ask_all(pipeline, qs, k, threshold, tmp)
        for skip in refused:
            err.print(f"skipped {skip}", markup=False)
        if not records:
            raise BadInputError("no question could be asked")
        candidates = [candidate(r) for r in records]
        notes = []
        if qs.conversations:
            notes.append(f"Conversations: {TURNS_MODE}.")
        if k < 5:
            notes.append(
                f"k={k}: answer_in_citations@5 and article_recall@5 see only {k} passages."
            )
        if not_indexed:
            notes.append(
                f"{not_indexed} questions name a gold article the index does not "
                "hold: their article metrics are 0."
            )
        config: dict[str, Any] = {
            "questions_file": str(questions),
            "format": qs.format,
            "corpus": str(corpus) if corpus else None,
            "data_dir": data_dir,
            "k": k,
            "limit": limit,
            "articles": list(articles) or None,
            "abstain_threshold": threshold,
            "answerer": pipeline.answerer.name,
            "top_k": settings.top_k,
            "candidates": settings.candidates,
            "dense_weight": settings.dense_weight,
            "chunk_words": settings.chunk_words,
            "chunk_overlap": settings.chunk_overlap,
            "commit": _commit(),
            "conversations": qs.conversations or None,
            "turns": TURNS_MODE if qs.conversations else None,
            "gold_articles_not_indexed": not_indexed,
            "ingest": ingest_summary,
            "seconds": round(time.perf_counter() - started, 1),
        }
        ev = evaluate(
            qs,
            candidates,
            threshold=threshold,
            config=config,
            skipped=[*loaded.skipped, *refused],
            model=settings.model,
            version=_version(),
            notes=notes,
        )
    finally:
        if pipeline is not None:
            pipeline.close()
        shutil.rmtree(tmp, ignore_errors=True)

    out = console()
    for table in summary_tables(ev.report):
        out.print(table)
    for note in notes:
        out.print(f"note: {note}", markup=False)
    if loaded.skipped or refused:
        out.print(
            f"{len(loaded.skipped) + len(refused)} lines or questions skipped (listed above)",
            markup=False,
        )
    cal = ev.report["calibration"]
    if sweep:
        out.print(sweep_table(ev.sweep, cal["best_threshold"], threshold))

    def f(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.4f}"

    out.print(
        f"best threshold by overall F1: {cal['best_threshold']:.2f} (overall F1 "
        f"{f(cal['best_overall_f1'])}; now {threshold:.2f}, set with "
        f"QA_ABSTAIN_THRESHOLD); for reference, answering whenever possible scores "
        f"{f(cal['answer_whenever_possible_overall_f1'])} and always abstaining "
        f"{f(cal['always_abstain_overall_f1'])}",
        markup=False,
    )
    if old is not None and compare_to is not None:
        out.print(compare_table(compare(old, ev.report), str(compare_to)))
    if out_dir is not None:
        paths = write_outputs(ev, out_dir)
        out.print("wrote " + ", ".join(str(p) for p in paths), markup=False)
    failures = gate_failures(ev.report, gates)
    for failure in failures:
        click.echo(f"error: quality gate failed: {failure}", err=True)
    return 1 if failures else 0
