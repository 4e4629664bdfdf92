"""The evaluation report: report.json, results.jsonl, terminal tables, comparisons, gates."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.errors import BadInputError
from qa.eval.loaders import QuestionSet
from qa.eval.scoring import (
    LOWER_IS_BETTER,
    METRICS,
    Candidate,
    Scored,
    SweepRow,
    best_threshold,
    coverage_curve,
    grid,
    latency,
    metrics,
    reliability,
    score,
    sweep,
)
from qa.ingest.files import Skip


@dataclass(frozen=True)
class Evaluation:
    """Everything one run produced: the scored questions and the report built from them."""

    scored: tuple[Scored, ...]
    report: dict[str, Any]
    sweep: tuple[SweepRow, ...]
    curve: tuple[SweepRow, ...]


def evaluate(
    qs: QuestionSet,
    candidates: Sequence[Candidate],
    *,
    threshold: float,
    config: dict[str, Any],
    skipped: Sequence[Skip] = (),
    model: str | None = None,
    version: str | None = None,
    notes: Sequence[str] = (),
) -> Evaluation:
    """Score every candidate at ``threshold`` and build the report (metrics, latency, sweep,
    reliability)."""
    scored = tuple(score(c, threshold) for c in candidates)
    records = [c.record for c in candidates]
    answerable = sum(1 for s in scored if s.record.question.answerable)
    m: dict[str, Any] = metrics(scored)
    m["latency_ms"] = latency(records)
    rows = tuple(sweep(candidates, grid(0.05)))
    fine = sweep(candidates, grid(0.01))
    best = best_threshold(fine)
    report: dict[str, Any] = {
        "questions": len(scored),
        "answerable": answerable,
        "unanswerable": len(scored) - answerable,
        "metrics": m,
        "config": config,
        "model": model,
        "version": version,
        "format": qs.format,
        "skipped": [{"path": s.path, "line": s.line, "reason": s.reason} for s in skipped],
        "calibration": {
            "threshold": threshold,
            "best_threshold": best.threshold,
            "best_overall_f1": best.overall_f1,
            # The two trivial policies a threshold must beat to be worth setting.
            "answer_whenever_possible_overall_f1": fine[0].overall_f1,
            "always_abstain_overall_f1": (
                round((len(scored) - answerable) / len(scored), 6) if scored else None
            ),
            "sweep": [r.to_dict() for r in rows],
            "reliability": [
                {"confidence": c, "right": a, "n": n} for c, a, n in reliability(candidates).bins
            ],
            "answers_at_0.9": reliability(candidates).at_90,
        },
        "notes": list(notes),
    }
    return Evaluation(scored, report, rows, tuple(coverage_curve(candidates)))


# -- files ------------------------------------------------------------------------------------
def result_row(s: Scored) -> dict[str, Any]:
    """One line of results.jsonl: the question, the answer given, and its scores."""
    r = s.record
    q = r.question
    row: dict[str, Any] = {
        "id": q.id,
        "question": q.question,
        "answers": list(q.answers),
        "answer": s.answer,
        "abstained": s.abstained,
        "candidate": r.candidate,
        "confidence": round(r.confidence, 4),
        "cited_article_ids": [p.article_id for p in r.passages],
        "gold_article_ids": list(q.article_ids),
        "metrics": s.to_dict(),
        "latency_ms": r.latency_ms,
        "stages_ms": r.stages_ms,
    }
    if r.signals:
        row["signals"] = {k: round(v, 5) for k, v in r.signals.items()}
    if q.paragraph_id:
        row["paragraph_id"] = q.paragraph_id
    if q.conversation is not None:
        row.update(
            conversation=q.conversation,
            turn=q.turn,
            history_turns=r.history_turns,
            searched_query=r.searched_query,
        )
    return row


def write_outputs(ev: Evaluation, out: Path) -> list[Path]:
    """Write report.json, results.jsonl and report.html into ``out``."""
    from qa.eval.html import render_html

    out.mkdir(parents=True, exist_ok=True)
    report = out / "report.json"
    report.write_text(json.dumps(ev.report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    results = out / "results.jsonl"
    with results.open("w", encoding="utf-8") as fh:
        for s in ev.scored:
            fh.write(json.dumps(result_row(s), ensure_ascii=False) + "\n")
    page = out / "report.html"
    page.write_text(render_html(ev), encoding="utf-8")
    return [report, results, page]


# -- gates and comparisons ----------------------------------------------------------------------
def parse_fail_under(specs: Sequence[str]) -> list[tuple[str, float]]:
    """``name=value`` pairs; an unknown name or a bad value is a usage error (ValueError)."""
    out = []
    for spec in specs:
        name, sep, raw = spec.partition("=")
        name = name.strip()
        if not sep:
            raise ValueError(f"{spec!r} is not METRIC=VALUE (e.g. f1=0.6)")
        if name not in METRICS:
            raise ValueError(f"unknown metric {name!r}; use one of: {', '.join(METRICS)}")
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"{spec!r}: {raw!r} is not a number") from None
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{spec!r}: metrics are fractions, give a value in [0, 1]")
        out.append((name, value))
    return out


def gate_failures(report: dict[str, Any], gates: Sequence[tuple[str, float]]) -> list[str]:
    """The ``--fail-under`` gates the report does not meet, as messages."""
    failures = []
    for name, floor in gates:
        value = report["metrics"].get(name)
        if value is None:
            failures.append(
                f"{name} was not measured on this set, so it cannot be at least {floor:g}"
            )
        elif value < floor:
            failures.append(f"{name} = {value:.4f} is below {floor:g}")
    return failures


def load_report(path: Path) -> dict[str, Any]:
    if path.is_dir():
        path = path / "report.json"
    if not path.is_file():
        raise BadInputError(f"no such report to compare with: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadInputError(f"{path} is not a report.json ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("metrics"), dict):
        raise BadInputError(f"{path} is not an `ask eval` report.json (no 'metrics')")
    return data


def flat_metrics(report: dict[str, Any]) -> dict[str, float | None]:
    m = report.get("metrics", {})
    out: dict[str, float | None] = {name: m.get(name) for name in METRICS if name in m}
    lat = m.get("latency_ms") or {}
    for key in ("p50", "p95", "max"):
        if key in lat:
            out[f"latency_ms.{key}"] = lat[key]
    for stage, values in (lat.get("stages") or {}).items():
        for key in ("p50", "p95"):
            if key in values:
                out[f"latency_ms.{stage}.{key}"] = values[key]
    return out


@dataclass(frozen=True)
class Change:
    name: str
    old: float | None
    new: float | None

    @property
    def delta(self) -> float | None:
        return None if self.old is None or self.new is None else self.new - self.old

    @property
    def better(self) -> bool | None:
        d = self.delta
        if d is None or abs(d) < 1e-9:
            return None
        lower = self.name in LOWER_IS_BETTER or self.name.startswith("latency_ms")
        return d < 0 if lower else d > 0


def compare(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    """Each metric's change from an earlier report to this one."""
    a, b = flat_metrics(old), flat_metrics(new)
    return [Change(name, a.get(name), b.get(name)) for name in dict.fromkeys([*b, *a])]


# -- terminal -------------------------------------------------------------------------------------
def fmt(value: float | None, latency: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value:.1f} ms" if latency else f"{value:.4f}"


def summary_tables(report: dict[str, Any]) -> list[Any]:
    from rich.table import Table

    m = report["metrics"]
    n = {
        "answerable": report["answerable"],
        "unanswerable": report["unanswerable"],
        "all": report["questions"],
    }
    title = (
        f"{report['questions']} questions ({report['answerable']} answerable, "
        f"{report['unanswerable']} unanswerable)"
    )
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("over")
    for name, over in METRICS.items():
        table.add_row(name, fmt(m.get(name)), f"{over} ({n[over]})" if over in n else over)
    lat = m["latency_ms"]
    lt = Table(title="latency (ms)", title_justify="left")
    for col in ("", "p50", "p95", "max"):
        lt.add_column(col, justify="right" if col else "left")
    lt.add_row("ask", *(f"{lat[k]:.1f}" for k in ("p50", "p95", "max")))
    for stage, v in lat["stages"].items():
        lt.add_row(stage, *(f"{v[k]:.1f}" for k in ("p50", "p95", "max")))
    return [table, lt]


def sweep_table(rows: Sequence[SweepRow], best: float, current: float) -> Any:
    from rich.table import Table

    table = Table(title="abstention threshold sweep (QA_ABSTAIN_THRESHOLD)", title_justify="left")
    for col in (
        "threshold",
        "answered",
        "EM answered",
        "F1 answered",
        "abstain F1",
        "overall F1",
        "overall EM",
    ):
        table.add_column(col, justify="right", no_wrap=col == "threshold")
    for r in rows:
        mark = " *" if abs(r.threshold - current) < 1e-9 else ""
        table.add_row(
            f"{r.threshold:.2f}{mark}",
            f"{r.answered:.3f}",
            fmt(r.em_answered),
            fmt(r.f1_answered),
            fmt(r.abstain_f1),
            fmt(r.overall_f1),
            fmt(r.overall_exact_match),
        )
    return table


def compare_table(changes: Sequence[Change], old_label: str) -> Any:
    from rich.table import Table

    table = Table(title=f"change against {old_label}", title_justify="left")
    for col in ("metric", "old", "new", "change"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for c in changes:
        lat = c.name.startswith("latency_ms")
        d = c.delta
        if d is None:
            change = "n/a"
        else:
            change = f"{d:+.1f} ms" if lat else f"{d:+.4f}"
            if c.better is not None:
                change = f"[{'green' if c.better else 'red'}]{change}[/]"
        table.add_row(c.name, fmt(c.old, lat), fmt(c.new, lat), change)
    return table
