"""How often conflicting reports are found, and how often a single answer is wrongly flagged.

Built from our own news questions over corpus/ (tests/eval/news-questions.jsonl): for each
answerable question whose gold answer holds a figure, a second report is made from its
article with that figure changed (and dated a day later), so the archive holds two reports
giving two figures. The bot should answer one and show the other as a conflict ("found").
Every other question (another figure asked of the same articles, names, dates) has one answer
in the archive and should not be flagged ("wrongly flagged"). The index is built in a
temporary folder with the real models.

    python bench/conflicts.py
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qa.ingest.files import iter_articles  # noqa: E402
from qa.pipeline import build_pipeline  # noqa: E402
from qa.settings import Settings  # noqa: E402
from qa.squad import normalize_answer  # noqa: E402
from qa.types import Article  # noqa: E402

QUESTIONS = ROOT / "tests" / "eval" / "news-questions.jsonl"
_FIGURE = re.compile(r"\d[\d,]*")


def changed(figure: str) -> str:
    """Another figure of the same shape: 11,000 -> 12,000, 300 -> 400, 2,700 -> 3,700."""
    digits = figure.replace(",", "")
    bumped = str(int(digits) + 10 ** (len(digits) - 1 - (len(digits) > 3)))
    return f"{int(bumped):,}" if "," in figure else bumped


def main() -> None:
    questions = [json.loads(x) for x in QUESTIONS.read_text().splitlines() if x.strip()]
    articles = {a.id: a for a in iter_articles([ROOT / "corpus"]) if isinstance(a, Article)}
    rivals: list[Article] = []
    targets: dict[str, str] = {}  # question id -> the changed figure
    used: set[str] = set()
    for q in questions:
        art = articles.get(q.get("article_id") or "")
        gold = next((a for a in q.get("answers", []) if _FIGURE.search(a)), None)
        if art is None or gold is None or art.id in used:
            continue
        figure = _FIGURE.search(gold).group(0)  # type: ignore[union-attr]
        if figure not in art.text or len(figure.replace(",", "")) < 2:
            continue
        new = changed(figure)
        when = date.fromisoformat(art.date) + timedelta(days=1) if art.date else None
        rivals.append(
            replace(
                art,
                id=art.id + "~rival",
                source="Rival Outlet",
                date=when.isoformat() if when else None,
                text=art.text.replace(figure, new),
            )
        )
        targets[q["id"]] = new
        used.add(art.id)
    with tempfile.TemporaryDirectory() as tmp:
        pipeline = build_pipeline(Settings(data_dir=Path(tmp), store=None, auto_ingest=False))
        pipeline.ingest([ROOT / "corpus"])
        pipeline.ingest_articles(rivals)
        found = flagged = singles = 0
        for q in questions:
            if not q.get("answers"):
                continue
            a = pipeline.ask(q["question"])
            shown = [normalize_answer(x) for x in (a.answer, *(c.answer for c in a.conflicts))]
            if q["id"] in targets:
                target = normalize_answer(targets[q["id"]])
                hit = bool(a.conflicts) and any(target in s for s in shown)
                found += hit
                print(
                    f"{'found' if hit else 'MISSED':7} {q['question']} -> {a.answer!r}, "
                    f"conflicts {[c.answer for c in a.conflicts]}"
                )
            else:
                singles += 1
                flagged += bool(a.conflicts)
                if a.conflicts:
                    print(
                        f"FLAGGED {q['question']} -> {a.answer!r} "
                        f"vs {[c.answer for c in a.conflicts]}"
                    )
        pipeline.close()
    print(
        f"conflicts found: {found}/{len(targets)} = {found / max(1, len(targets)):.3f}; "
        f"single-answer questions wrongly flagged: {flagged}/{singles} = "
        f"{flagged / max(1, singles):.3f}"
    )


if __name__ == "__main__":
    main()
