"""report.html: one self-contained page (inline CSS and SVG, no scripts, nothing fetched)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING, Any

from qa.eval.scoring import METRICS, Scored, SweepRow, percentile

if TYPE_CHECKING:
    from qa.eval.report import Evaluation

WORST = 25
PASSAGES_SHOWN = 3

CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2430;
 margin:0;background:#f6f7f9}
main{max-width:1100px;margin:0 auto;padding:24px 28px 60px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:34px 0 10px;border-bottom:1px solid
 #d9dde3;padding-bottom:4px}.sub{color:#5b6472;margin:0 0 18px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(160px,1fr));gap:10px}
.card{background:#fff;border:1px solid #dde1e7;border-radius:8px;padding:10px 12px}
.card .v{font-size:24px;font-weight:600;white-space:nowrap}.card .n{color:#5b6472;font-size:13px}
table{border-collapse:collapse;background:#fff;border:1px solid #dde1e7;font-size:14px}
th,td{padding:5px 10px;border-bottom:1px solid #eceef2;text-align:left}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.charts{display:flex;flex-wrap:wrap;gap:16px}.chart{background:#fff;border:1px solid #dde1e7;
 border-radius:8px;padding:8px}.chart h3{font-size:14px;margin:2px 6px 4px}
.miss{background:#fff;border:1px solid #dde1e7;border-radius:8px;padding:12px 14px;margin:12px 0}
.miss .q{font-weight:600;font-size:16px}h3{font-size:16px;margin:22px 0 2px}
.meta{color:#5b6472;font-size:13px}
.ans{margin:6px 0}.bad{color:#b42318;font-weight:600}.abst{color:#9a6700;font-weight:600}
.gold{color:#1a7f37;font-weight:600}
.passage{border-left:3px solid #c9ced6;margin:8px 0 0;padding:4px 10px;font-size:14px;
 color:#333b47;background:#fafbfc}
.passage .src{font-size:12px;color:#5b6472}.hit{border-left-color:#1a7f37}
mark.a{background:#ffd8a8}mark.g{background:#b7ebc6}
code{font-size:13px}ul.skips{font-size:13px}
"""


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"


# -- SVG charts ------------------------------------------------------------------------------
W, H = 470, 290
L, R, T, B = 52, 16, 14, 44


def _x(v: float, lo: float, hi: float) -> float:
    return L + (W - L - R) * ((v - lo) / (hi - lo) if hi > lo else 0.0)


def _y(v: float, lo: float, hi: float) -> float:
    return H - B - (H - T - B) * ((v - lo) / (hi - lo) if hi > lo else 0.0)


def _axes(
    xlabel: str,
    ylabel: str,
    xticks: Sequence[tuple[float, str]],
    yticks: Sequence[tuple[float, str]],
) -> list[str]:
    out = [
        f'<line x1="{L}" y1="{H - B}" x2="{W - R}" y2="{H - B}" stroke="#555"/>',
        f'<line x1="{L}" y1="{T}" x2="{L}" y2="{H - B}" stroke="#555"/>',
    ]
    for x, label in xticks:
        out.append(f'<line x1="{x:.1f}" y1="{H - B}" x2="{x:.1f}" y2="{H - B + 4}" stroke="#555"/>')
        out.append(
            f'<text x="{x:.1f}" y="{H - B + 16}" font-size="11" '
            f'text-anchor="middle">{escape(label)}</text>'
        )
    for y, label in yticks:
        out.append(f'<line x1="{L}" y1="{y:.1f}" x2="{W - R}" y2="{y:.1f}" stroke="#eee"/>')
        out.append(
            f'<text x="{L - 6}" y="{y + 4:.1f}" font-size="11" '
            f'text-anchor="end">{escape(label)}</text>'
        )
    out.append(
        f'<text x="{(L + W - R) / 2:.0f}" y="{H - 8}" font-size="12" '
        f'text-anchor="middle">{escape(xlabel)}</text>'
    )
    out.append(
        f'<text x="14" y="{(T + H - B) / 2:.0f}" font-size="12" text-anchor="middle" '
        f'transform="rotate(-90 14 {(T + H - B) / 2:.0f})">{escape(ylabel)}</text>'
    )
    return out


def _svg(parts: Sequence[str], label: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
        f'viewBox="0 0 {W} {H}" role="img" aria-label="{escape(label)}">'
        + "".join(parts)
        + "</svg>"
    )


def _nice_step(span: float, target: int = 5) -> float:
    if span <= 0:
        return 1.0
    raw = span / target
    mag = 10 ** int(f"{raw:e}".split("e")[1])
    return next((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), 10 * mag)


def latency_histogram(values: Sequence[float], bins: int = 30) -> str:
    """A histogram of ask latencies as inline SVG."""
    if not values:
        return "<p>No latencies recorded.</p>"
    hi = max(percentile(values, 0.99), 1e-6)
    width = hi / bins
    counts = [0] * (bins + 1)
    for v in values:
        counts[min(int(v / width), bins)] += 1
    top = max(counts) or 1
    step = _nice_step(hi)
    xt = [
        (_x(i * step, 0, hi * (bins + 1) / bins), f"{i * step:g}")
        for i in range(int(hi / step) + 1)
    ]
    ys = max(1, round(_nice_step(top, 4)))
    yt = [(_y(i * ys, 0, top), f"{i * ys}") for i in range(top // ys + 1)]
    parts = _axes("latency of the whole ask (ms)", "questions", xt, yt)
    span = hi * (bins + 1) / bins
    for i, c in enumerate(counts):
        if not c:
            continue
        x0, x1 = _x(i * width, 0, span), _x((i + 1) * width, 0, span)
        y = _y(c, 0, top)
        color = "#9aa4b2" if i == bins else "#4c78a8"
        title = (
            f"≥ {i * width:.0f} ms: {c}"
            if i == bins
            else f"{i * width:.0f}–{(i + 1) * width:.0f} ms: {c}"
        )
        parts.append(
            f'<rect x="{x0 + 0.5:.1f}" y="{y:.1f}" width="{max(x1 - x0 - 1, 1):.1f}" '
            f'height="{H - B - y:.1f}" fill="{color}"><title>{escape(title)}</title>'
            "</rect>"
        )
    p50, p95 = percentile(values, 0.5), percentile(values, 0.95)
    for i, (v, name) in enumerate(((p50, "p50"), (p95, "p95"))):
        x = _x(min(v, span), 0, span)
        parts.append(
            f'<line x1="{x:.1f}" y1="{T}" x2="{x:.1f}" y2="{H - B}" stroke="#d62728" '
            'stroke-dasharray="4 3"/>'
        )
        parts.append(
            f'<text x="{x + 3:.1f}" y="{T + 10 + 14 * i}" font-size="11" '
            f'fill="#d62728">{name} {v:.0f} ms</text>'
        )
    return _svg(parts, "latency histogram")


def _polyline(points: Sequence[tuple[float, float]], color: str, dash: str = "") -> str:
    pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    extra = f' stroke-dasharray="{dash}"' if dash else ""
    return f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="2"{extra}/>'


def _legend(items: Sequence[tuple[str, str]]) -> list[str]:
    out = []
    for i, (color, label) in enumerate(items):
        y = T + 8 + 16 * i
        out.append(
            f'<rect x="{W - R - 150}" y="{y - 8}" width="12" height="4" '
            f'fill="{color}"/><text x="{W - R - 134}" y="{y - 2}" font-size="11">'
            f"{escape(label)}</text>"
        )
    return out


def coverage_chart(curve: Sequence[SweepRow], threshold: float, best: float) -> str:
    """Accuracy on the answered questions against the share answered, as the threshold moves."""
    pts = sorted((r for r in curve if r.em_answered is not None), key=lambda r: r.answered)
    if not pts:
        return "<p>The bot answered nothing at any threshold.</p>"
    ticks = [(_x(v / 5, 0, 1), f"{v / 5:.1f}") for v in range(6)]
    yticks = [(_y(v / 5, 0, 1), f"{v / 5:.1f}") for v in range(6)]
    parts = _axes("share of questions answered", "accuracy on the answered", ticks, yticks)
    parts.append(
        _polyline([(_x(r.answered, 0, 1), _y(r.f1_answered or 0, 0, 1)) for r in pts], "#4c78a8")
    )
    parts.append(
        _polyline(
            [(_x(r.answered, 0, 1), _y(r.em_answered or 0, 0, 1)) for r in pts], "#f58518", "5 3"
        )
    )
    # "best" usually answers less (left, higher): its label goes up-left, "current" down-right.
    for t, color, name, dy, left in (
        (threshold, "#d62728", "current", 16, False),
        (best, "#1a7f37", "best", -8, True),
    ):
        row = min(curve, key=lambda r: (abs(r.threshold - t), -r.answered))
        if row.f1_answered is None:
            continue
        x, y = _x(row.answered, 0, 1), _y(row.f1_answered, 0, 1)
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{color}"><title>'
            f"{name} threshold {t:.2f}: {row.answered:.0%} answered, F1 "
            f"{row.f1_answered:.3f}</title></circle>"
        )
        go_left = (left and x > L + 70) or x > W - R - 80
        anchor, dx = ("end", -7) if go_left else ("start", 7)
        parts.append(
            f'<text x="{x + dx:.1f}" y="{y + dy:.1f}" font-size="11" fill="{color}" '
            f'text-anchor="{anchor}">{name} {t:.2f}</text>'
        )
    parts += _legend([("#4c78a8", "F1 on answered"), ("#f58518", "EM on answered")])
    return _svg(parts, "accuracy against share answered")


def threshold_chart(rows: Sequence[SweepRow], threshold: float) -> str:
    """Overall F1 and abstention F1 against the threshold."""
    ticks = [(_x(v / 5, 0, 1), f"{v / 5:.1f}") for v in range(6)]
    yticks = [(_y(v / 5, 0, 1), f"{v / 5:.1f}") for v in range(6)]
    parts = _axes("abstention threshold (QA_ABSTAIN_THRESHOLD)", "score", ticks, yticks)
    series = (
        ("overall_f1", "#4c78a8", "overall F1", ""),
        ("abstain_f1", "#9467bd", "abstain F1", "5 3"),
        ("answered", "#9aa4b2", "share answered", "2 3"),
    )
    for key, color, _, dash in series:
        pts = [
            (_x(r.threshold, 0, 1), _y(getattr(r, key), 0, 1))
            for r in rows
            if getattr(r, key) is not None
        ]
        if pts:
            parts.append(_polyline(pts, color, dash))
    x = _x(threshold, 0, 1)
    parts.append(
        f'<line x1="{x:.1f}" y1="{T}" x2="{x:.1f}" y2="{H - B}" stroke="#d62728" '
        'stroke-dasharray="4 3"/>'
    )
    parts += _legend([(c, name) for _, c, name, _ in series])
    return _svg(parts, "scores against threshold")


def reliability_chart(bins: Sequence[dict[str, Any]]) -> str:
    """Share of right answers against confidence, bin by bin: on the diagonal when the
    confidence means what it says. Dot size follows the bin's count."""
    if not bins:
        return "<p>No candidate answers to chart.</p>"
    ticks = [(_x(v / 5, 0, 1), f"{v / 5:.1f}") for v in range(6)]
    yticks = [(_y(v / 5, 0, 1), f"{v / 5:.1f}") for v in range(6)]
    parts = _axes("confidence", "share right (F1 >= 0.5)", ticks, yticks)
    parts.append(
        _polyline([(_x(0, 0, 1), _y(0, 0, 1)), (_x(1, 0, 1), _y(1, 0, 1))], "#9aa4b2", "4 3")
    )
    most = max(b["n"] for b in bins)
    parts.append(
        _polyline([(_x(b["confidence"], 0, 1), _y(b["right"], 0, 1)) for b in bins], "#4c78a8")
    )
    for b in bins:
        r = 3 + 6 * (b["n"] / most) ** 0.5
        parts.append(
            f'<circle cx="{_x(b["confidence"], 0, 1):.1f}" '
            f'cy="{_y(b["right"], 0, 1):.1f}" r="{r:.1f}" fill="#4c78a8">'
            f"<title>{b['n']} answers at confidence {b['confidence']:.2f}: "
            f"{b['right']:.0%} right</title></circle>"
        )
    parts += _legend([("#4c78a8", "share right"), ("#9aa4b2", "perfect calibration")])
    return _svg(parts, "reliability diagram")


# -- worst misses ------------------------------------------------------------------------------
MISS_KINDS = (
    (
        "wrong",
        "Wrong answers",
        "Answerable questions answered wrongly: lowest F1 first, the "
        "most confident first among equals.",
    ),
    (
        "unanswerable",
        "Answered, though the articles do not answer",
        "Unanswerable questions the bot answered: the most confident first.",
    ),
    (
        "abstained",
        "Abstained, though the articles answer",
        "Answerable questions the bot abstained on: those whose gold answer was among the cited "
        "passages first, then the most confident.",
    ),
)


def worst(scored: Sequence[Scored], n: int = WORST) -> dict[str, list[Scored]]:
    """The worst misses of each kind (see MISS_KINDS), at most ``n`` in all."""
    wrong = [
        s for s in scored if s.record.question.answerable and not s.abstained and s.overall_f1 < 1.0
    ]
    wrong.sort(key=lambda s: (round(s.overall_f1, 4), -s.record.confidence, s.record.question.id))
    unanswerable = [s for s in scored if not s.record.question.answerable and not s.abstained]
    unanswerable.sort(key=lambda s: (-s.record.confidence, s.record.question.id))
    abstained = [s for s in scored if s.record.question.answerable and s.abstained]
    abstained.sort(
        key=lambda s: (not s.candidate.in_citations[-1], -s.record.confidence, s.record.question.id)
    )
    groups = {"wrong": wrong, "unanswerable": unanswerable, "abstained": abstained}
    quota = {"wrong": n - 2 * (n // 4), "unanswerable": n // 4, "abstained": n // 4}
    # Room a kind does not use goes to the others.
    spare = sum(max(quota[k] - len(g), 0) for k, g in groups.items())
    out: dict[str, list[Scored]] = {}
    for kind, group in groups.items():
        take = min(len(group), quota[kind] + spare)
        spare -= max(take - quota[kind], 0)
        out[kind] = group[:take]
    return out


def _kind(s: Scored) -> str | None:
    q = s.record.question
    if q.answerable and not s.abstained and s.overall_f1 < 1.0:
        return "wrong"
    if not q.answerable and not s.abstained:
        return "unanswerable"
    if q.answerable and s.abstained:
        return "abstained"
    return None


def highlight(text: str, answer: tuple[int, int] | None, golds: Sequence[str]) -> str:
    """Escaped ``text`` with the bot's answer span and gold answer occurrences marked."""
    spans: list[tuple[int, int, str]] = []
    if answer and 0 <= answer[0] < answer[1] <= len(text):
        spans.append((answer[0], answer[1], "a"))
    for g in sorted(golds, key=len, reverse=True):
        if len(g) < 2:
            continue
        for m in re.finditer(re.escape(g), text, re.I):
            if all(m.end() <= s or m.start() >= e for s, e, _ in spans):
                spans.append((m.start(), m.end(), "g"))
    spans.sort()
    out, pos = [], 0
    for s, e, cls in spans:
        out.append(escape(text[pos:s]))
        title = "the bot's answer" if cls == "a" else "a gold answer"
        out.append(f'<mark class="{cls}" title="{title}">{escape(text[s:e])}</mark>')
        pos = e
    out.append(escape(text[pos:]))
    return "".join(out)


def _miss(s: Scored, rank: int) -> str:
    r = s.record
    q = r.question
    golds = ", ".join(f"“{escape(a)}”" for a in q.answers) or "<em>none: not answerable</em>"
    if s.abstained:
        said = (
            f'<span class="abst">abstained</span> (confidence {r.confidence:.2f}'
            + (f"; would have said “{escape(r.candidate)}”" if r.candidate else "")
            + ")"
        )
    else:
        said = (
            f'<span class="bad">“{escape(r.candidate)}”</span> (confidence '
            f"{r.confidence:.2f}, F1 {s.overall_f1:.2f})"
        )
    meta = [f"<code>{escape(q.id)}</code>"]
    if q.article_ids:
        meta.append("gold article " + ", ".join(f"<code>{escape(a)}</code>" for a in q.article_ids))
        rank_ = s.candidate.article_rank
        meta.append(f"gold article cited at rank {rank_}" if rank_ else "gold article not cited")
    if q.conversation is not None:
        meta.append(f"turn {q.turn} of conversation <code>{escape(q.conversation)}</code>")
    if r.searched_query and r.searched_query != q.question:
        meta.append(f"searched for “{escape(r.searched_query)}”")
    passages = []
    for i, p in enumerate(r.passages[:PASSAGES_SHOWN], 1):
        span = (
            (p.answer_start, p.answer_end)
            if p.answer_start is not None and p.answer_end is not None and not s.abstained
            else None
        )
        gold_art = p.article_id in q.article_ids
        cls = "passage hit" if gold_art else "passage"
        passages.append(
            f'<div class="{cls}"><div class="src">[{i}] {escape(p.title or p.article_id)} · '
            f"<code>{escape(p.chunk_id)}</code> · score {p.score:.3f}"
            f"{' · gold article' if gold_art else ''}</div>"
            f"{highlight(p.text, span, q.answers)}</div>"
        )
    return (
        f'<div class="miss"><div class="q">{rank}. {escape(q.question)}</div>'
        f'<div class="meta">{" · ".join(meta)}</div>'
        f'<div class="ans">Gold: <span class="gold">{golds}</span></div>'
        f'<div class="ans">Bot: {said}</div>'
        + ("".join(passages) or '<div class="meta">No passage cited.</div>')
        + "</div>"
    )


# -- page ------------------------------------------------------------------------------------------
def _metrics_table(report: dict[str, Any]) -> str:
    m = report["metrics"]
    n = {
        "answerable": report["answerable"],
        "unanswerable": report["unanswerable"],
        "all": report["questions"],
    }
    rows = "".join(
        f'<tr><td>{escape(name)}</td><td class="num">{_fmt(m.get(name))}</td>'
        f"<td>{escape(over)}{f' ({n[over]})' if over in n else ''}</td></tr>"
        for name, over in METRICS.items()
    )
    lat = m["latency_ms"]
    lrows = [("whole ask", lat), *lat.get("stages", {}).items()]
    lat_rows = "".join(
        f'<tr><td>{escape(name)}</td><td class="num">{v["p50"]:.1f}</td>'
        f'<td class="num">{v["p95"]:.1f}</td><td class="num">{v["max"]:.1f}</td></tr>'
        for name, v in lrows
    )
    return (
        '<div class="charts"><table><tr><th>metric</th><th class="num">value</th>'
        f"<th>over</th></tr>{rows}</table>"
        '<table style="align-self:flex-start"><tr><th>latency (ms)</th><th class="num">p50</th>'
        f'<th class="num">p95</th><th class="num">max</th></tr>{lat_rows}</table></div>'
    )


def _cards(report: dict[str, Any]) -> str:
    m = report["metrics"]
    keys = [
        "overall_f1",
        "f1",
        "exact_match",
        "answer_in_citations@5",
        "abstain_f1",
        "article_recall@5",
        "ece",
        "right_at_0.9",
    ]
    cards = "".join(
        f'<div class="card"><div class="n">{escape(k)}</div><div class="v">{_fmt(m.get(k))}'
        "</div></div>"
        for k in keys
        if m.get(k) is not None
    )
    cards += (
        f'<div class="card"><div class="n">latency p50 / p95 (ms)</div><div class="v">'
        f"{m['latency_ms']['p50']:.0f} / {m['latency_ms']['p95']:.0f}</div></div>"
    )
    return f'<div class="cards">{cards}</div>'


def _sweep_table(rows: Sequence[SweepRow], threshold: float, best: float) -> str:
    body = []
    for r in rows:
        style = ' style="background:#fff4e5"' if abs(r.threshold - threshold) < 1e-9 else ""
        body.append(
            f"<tr{style}><td class=num>{r.threshold:.2f}</td><td class=num>{r.answered:.3f}</td>"
            f"<td class=num>{_fmt(r.em_answered)}</td><td class=num>{_fmt(r.abstain_f1)}</td>"
            f"<td class=num>{_fmt(r.overall_f1)}</td></tr>"
        )
    return (
        "<details><summary>Threshold sweep table (highlighted: the threshold used; best "
        f"by overall F1: {best:.2f})</summary><table><tr><th class=num>threshold</th>"
        "<th class=num>answered</th><th class=num>EM on answered</th>"
        "<th class=num>abstain F1</th><th class=num>overall F1</th></tr>"
        + "".join(body)
        + "</table></details>"
    )


def render_html(ev: Evaluation) -> str:
    """report.html: metrics, plots (latency, coverage, threshold, reliability) and the worst
    misses, offline."""
    report = ev.report
    cal = report["calibration"]
    cfg = report["config"]
    threshold, best = cal["threshold"], cal["best_threshold"]
    latencies = [s.record.latency_ms for s in ev.scored]
    title = f"ask eval: {cfg.get('questions_file', '')}"
    subtitle = (
        f"{report['questions']} questions ({report['answerable']} answerable, "
        f"{report['unanswerable']} unanswerable) · format {report.get('format')} · "
        f"model {report.get('model')} · article-qa {report.get('version')} · "
        f"answerer {cfg.get('answerer')} · k={cfg.get('k')} · "
        f"threshold {threshold:.2f}"
    )
    groups = worst(ev.scored)
    shown = sum(len(g) for g in groups.values())
    misses_html = []
    n = 0
    for kind, heading, blurb in MISS_KINDS:
        group = groups[kind]
        total = sum(1 for s in ev.scored if _kind(s) == kind)
        if not total:
            continue
        misses_html.append(
            f"<h3>{escape(heading)} ({len(group)} of {total} shown)</h3>"
            f'<p class="meta">{escape(blurb)}</p>'
        )
        for s in group:
            n += 1
            misses_html.append(_miss(s, n))
    skipped = report.get("skipped", [])
    skipped_html = ""
    if skipped:
        items = "".join(
            f"<li>{escape(str(s['path']))}{':' + str(s['line']) if s['line'] else ''}: "
            f"{escape(str(s['reason']))}</li>"
            for s in skipped[:50]
        )
        more = f"<li>… and {len(skipped) - 50} more</li>" if len(skipped) > 50 else ""
        skipped_html = f"<h2>Skipped ({len(skipped)})</h2><ul class=skips>{items}{more}</ul>"
    notes = "".join(f"<li>{escape(n)}</li>" for n in report.get("notes", []))
    config_rows = "".join(
        f"<tr><td>{escape(str(k))}</td><td><code>{escape(str(v))}</code></td></tr>"
        for k, v in cfg.items()
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title><style>{CSS}</style></head>
<body><main>
<h1>{escape(title)}</h1>
<p class="sub">{escape(subtitle)}</p>
{_cards(report)}
<h2>Metrics</h2>
{_metrics_table(report)}
<h2>Plots</h2>
<div class="charts">
<div class="chart"><h3>Latency</h3>{latency_histogram(latencies)}</div>
<div class="chart"><h3>Accuracy against share answered, as the confidence threshold moves</h3>
{coverage_chart(ev.curve, threshold, best)}</div>
<div class="chart"><h3>Scores against the threshold (best overall F1 at {best:.2f};
always abstaining scores {_fmt(cal.get("always_abstain_overall_f1"))})</h3>
{threshold_chart(ev.sweep, threshold)}</div>
<div class="chart"><h3>Reliability: share right against confidence (ECE
{_fmt(report["metrics"].get("ece"))}; right at confidence &ge; 0.9:
{_fmt(report["metrics"].get("right_at_0.9"))})</h3>
{reliability_chart(cal.get("reliability", []))}</div>
</div>
{_sweep_table(ev.sweep, threshold, best)}
<h2>Worst misses ({shown} shown)</h2>
<p class="meta"><mark class="a">Orange</mark>: the bot's answer;
<mark class="g">green</mark>: a gold answer. A green bar marks a passage from the gold article.
</p>
{"".join(misses_html) or "<p>No misses.</p>"}
{skipped_html}
<h2>Configuration</h2>
<table>{config_rows}</table>
{f"<ul>{notes}</ul>" if notes else ""}
</main></body></html>
"""
