"""The ``ask`` command line. Each command's docstring is its help text."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from qa.cli.progress import console, progress_bar
from qa.errors import BadInputError, QAError
from qa.settings import load_settings
from qa.types import Filters

if TYPE_CHECKING:
    from qa.ingest.ingestor import IngestReport
    from qa.pipeline import Pipeline

PLUGIN_GROUP = "article_qa.commands"
"""Entry-point group for commands defined in higher layers (``ask serve`` lives in ``api``):
the CLI finds them by name without ``qa`` importing ``api``."""


def _plugins() -> dict[str, str]:
    from importlib.metadata import entry_points

    return {ep.name: ep.value for ep in entry_points(group=PLUGIN_GROUP)}


class DefaultGroup(click.Group):
    """``ask "question"`` runs the ``question`` command; named commands run as usual."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if (
            args
            and args[0] not in self.commands
            and args[0] not in ("--help", "-h", "--version")
            and args[0] not in _plugins()
        ):
            args = ["question", *args]
        return super().parse_args(ctx, args)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*sorted({*self.commands, *_plugins()} - {"question"}), "question"]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.commands:
            return self.commands[name]
        target = _plugins().get(name)
        if target is None:
            return None
        from importlib import import_module

        module, _, attr = target.partition(":")
        command: click.Command = getattr(import_module(module), attr)
        return command


def _pipeline() -> Pipeline:
    from qa.pipeline import build_pipeline

    return build_pipeline(load_settings())


def _fail(exc: QAError) -> None:
    click.echo(f"error: {exc}", err=True)
    sys.exit(exc.exit_code)


def _ingest_progress() -> Any:
    """A bar with the running article and chunk counts and rates; returns (bar, callback)."""
    import time

    bar = progress_bar(
        "ingest",
        "{task.fields[articles]} articles, {task.fields[chunks]} chunks {task.fields[rate]}",
    )
    task = bar.add_task("ingest", total=None, articles=0, chunks=0, rate="")
    started = time.perf_counter()

    def progress(articles: int, chunks: int) -> None:
        dt = max(time.perf_counter() - started, 1e-6)
        bar.update(
            task,
            articles=articles,
            chunks=chunks,
            rate=f"{articles / dt:.1f} articles/s, {chunks / dt:.0f} chunks/s",
        )

    return bar, progress


def _run_ingest(
    pipeline: Pipeline, paths: list[Path], rebuild: bool = False, ray: str | None = None
) -> IngestReport:
    bar, progress = _ingest_progress()
    with bar:
        if rebuild:
            return pipeline.rebuild(paths, progress)
        return pipeline.ingest(paths, progress, ray=ray)


def _ensure_corpus(pipeline: Pipeline) -> None:
    if not pipeline.is_empty():
        return
    bar, progress = _ingest_progress()
    with bar:
        report = pipeline.ensure_corpus(progress)
    if report is not None:
        click.echo(f"indexed the shipped corpus: {report.summary()}", err=True)


@click.group(cls=DefaultGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="article-qa")
def app() -> None:
    """Ask questions of your articles, offline, and get a short answer with cited passages.

    \b
    ask "How many troops did North Korea send to Russia?"
    ask ingest ~/articles/          # .txt .md .jsonl .json .html
    ask stats
    """


@app.command("question")
@click.argument("question", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print the whole answer object as JSON.")
@click.option(
    "-k",
    "--top-k",
    type=click.IntRange(1, 100),
    default=None,
    help="Passages to retrieve and cite (default QA_TOP_K, 5).",
)
@click.option("--source", help="Only articles from this source (exact, any case).")
@click.option("--author", help="Only articles whose author contains this.")
@click.option("--since", "date_from", help="Only articles dated on or after YYYY-MM-DD.")
@click.option("--until", "date_to", help="Only articles dated on or before YYYY-MM-DD.")
def question_cmd(
    question: tuple[str, ...],
    as_json: bool,
    top_k: int | None,
    source: str | None,
    author: str | None,
    date_from: str | None,
    date_to: str | None,
) -> None:
    """Answer QUESTION from the indexed articles, citing the passages it rests on."""
    from qa.ingest.files import normalise_date

    for name, value in (("--since", date_from), ("--until", date_to)):
        if value is not None and normalise_date(value) is None:
            raise click.BadParameter(f"{value!r} is not a date (use YYYY-MM-DD)", param_hint=name)
    filters = Filters(source, author, normalise_date(date_from), normalise_date(date_to))
    try:
        pipeline = _pipeline()
        pipeline.validate_question(" ".join(question))
        pipeline.check()
        _ensure_corpus(pipeline)
        answer = pipeline.ask(" ".join(question), top_k=top_k, filters=filters)
    except QAError as exc:
        _fail(exc)
        return
    if as_json:
        click.echo(json.dumps(answer.to_dict(), indent=2, ensure_ascii=False))
    else:
        from qa.cli.render import render_answer

        render_answer(console(), answer)


@app.command("ingest")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--delete",
    "delete_ids",
    multiple=True,
    metavar="ID",
    help="Remove the article with this id (repeatable).",
)
@click.option(
    "--rebuild",
    is_flag=True,
    help="Build a fresh index from PATHS and swap it in (to change model or chunking).",
)
@click.option(
    "--repair",
    is_flag=True,
    help="Rewrite the vector index file from the vectors kept in the store.",
)
@click.option(
    "--ray",
    "ray_address",
    is_flag=False,
    flag_value="local",
    default=None,
    metavar="[ADDRESS]",
    help="Prepare the articles on Ray: a local cluster (2 CPUs), or the cluster at ADDRESS "
    "(host:port, ray://host:port, auto).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def ingest_cmd(
    paths: tuple[Path, ...],
    delete_ids: tuple[str, ...],
    rebuild: bool,
    repair: bool,
    ray_address: str | None,
    as_json: bool,
) -> None:
    """Add articles from files and folders to the index, or remove them.

    Re-ingesting an unchanged article does nothing; a changed one replaces its passages.
    Problems with single files or lines are reported and skipped; the rest is ingested.
    """
    from qa.ingest.ray_ingest import LOCAL, looks_like_address

    if ray_address is not None and not looks_like_address(ray_address):
        # `ask ingest --ray corpus/`: the option took the path as its address.
        paths, ray_address = (Path(ray_address), *paths), LOCAL
    if not paths and not delete_ids and not repair:
        raise click.UsageError("give files or folders to ingest, --delete ID, or --repair")
    try:
        pipeline = _pipeline()
        if repair:
            pipeline.repair()
            click.echo("vector index rewritten from the store", err=True)
        reports = []
        if delete_ids:
            reports.append(pipeline.delete(delete_ids))
        if paths:
            missing = [str(p) for p in paths if not p.exists()]
            if missing:
                raise BadInputError(f"no such file or folder: {', '.join(missing)}")
            if ray_address is not None and rebuild:
                raise BadInputError("--ray and --rebuild do not combine; rebuild, then --ray")
            reports.append(_run_ingest(pipeline, list(paths), rebuild=rebuild, ray=ray_address))
    except QAError as exc:
        _fail(exc)
        return
    failed = False
    for report in reports:
        if as_json:
            click.echo(json.dumps(report.to_dict(), indent=2))
        else:
            for skip in report.skipped:
                click.echo(f"skipped {skip}", err=True)
            for warning in report.warnings:
                click.echo(f"warning: {warning}", err=True)
            click.echo(report.summary())
        if (
            paths
            and report is reports[-1]
            and not (report.added or report.unchanged or report.replaced)
            and report.skipped
        ):
            failed = True
    if failed:
        click.echo("error: nothing could be ingested", err=True)
        sys.exit(2)


@app.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.option("--articles", "list_articles", is_flag=True, help="Also list article ids.")
def stats_cmd(as_json: bool, list_articles: bool) -> None:
    """Show what is indexed: articles, chunks, index type, model and size on disk."""
    try:
        pipeline = _pipeline()
        stats = pipeline.stats()
        arts = pipeline.articles(limit=100_000) if list_articles else []
    except QAError as exc:
        _fail(exc)
        return
    if as_json:
        data = asdict(stats)
        if list_articles:
            data["article_list"] = [{"id": a.id, "title": a.title, "date": a.date} for a in arts]
        click.echo(json.dumps(data, indent=2))
        return
    for key, value in asdict(stats).items():
        if key == "size_bytes":
            value = f"{value / 1e6:.1f} MB"
        click.echo(f"{key.replace('_', ' '):>14}: {value}")
    for a in arts:
        click.echo(f"{a.id}\t{a.date or '-'}\t{a.title or ''}")


@app.command("migrate")
@click.option("--to", "url", required=True, help="postgresql://user:password@host:port/db")
@click.option(
    "--sample",
    type=click.IntRange(0, 1000),
    default=5,
    show_default=True,
    help="Questions asked of both stores afterwards, to check they answer the same.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def migrate_cmd(url: str, sample: int, as_json: bool) -> None:
    """Copy the data folder's index into PostgreSQL, re-using its vectors (no re-encoding).

    Resumable: run it again after an interruption and it copies what is missing. Then set
    QA_STORE to the same URL to use the database.
    """
    try:
        pipeline = _pipeline()
        bar, progress = _ingest_progress()
        with bar:
            report, problems = pipeline.migrate(url, progress, sample=sample)
    except QAError as exc:
        _fail(exc)
        return
    if as_json:
        click.echo(json.dumps({**asdict(report), "problems": problems}, indent=2))
    else:
        click.echo(report.summary())
        for problem in problems:
            click.echo(f"differs: {problem}", err=True)
        if not problems:
            click.echo(f"checked: the same counts, and {sample} questions answered the same")
    if problems:
        sys.exit(1)


@app.command("timeline")
@click.argument("question")
@click.option(
    "-k",
    "articles",
    type=click.IntRange(1, 50),
    default=10,
    show_default=True,
    help="At most this many reports.",
)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def timeline_cmd(question: str, articles: int, as_json: bool) -> None:
    """Each report's answer to QUESTION with its date, oldest first: how a figure moved."""
    try:
        entries = _pipeline().timeline(question, articles=articles)
    except QAError as exc:
        _fail(exc)
        return
    if as_json:
        click.echo(json.dumps([asdict(e) for e in entries], indent=2, ensure_ascii=False))
        return
    if not entries:
        click.echo("No report answers this question.")
        return
    for e in entries:
        who = ", ".join(x for x in (e.source, e.title or e.article_id) if x)
        click.echo(f"{e.date or 'undated':>10}  {e.answer}  ({who}; confidence {e.confidence:.2f})")


# qa.cli.eval imports only click at module level; the evaluation itself loads when run.
from qa.cli.eval import eval_cmd  # noqa: E402

app.add_command(eval_cmd, "eval")

from qa.cli.train_reader import (  # noqa: E402
    calibrate_reader_cmd,
    export_reader_cmd,
    train_reader_cmd,
)

app.add_command(train_reader_cmd, "train-reader")
app.add_command(calibrate_reader_cmd, "calibrate-reader")
app.add_command(export_reader_cmd, "export-reader")


def main() -> None:
    app(prog_name="ask")


if __name__ == "__main__":
    main()
