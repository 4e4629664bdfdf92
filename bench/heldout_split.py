"""Split an `ask eval` run into the reader's held-out check questions and the questions it
was trained on, and score each part at one threshold.

    python bench/heldout_split.py runs/squad20/results.jsonl [--threshold T]

The threshold defaults to the one in the run's report.json (the answerer's calibrated one).

The reader trains on nine public questions in ten; figures over all public questions are
therefore optimistic. The check tenth (qa.training.data.is_check) is what a new question
on the same articles can expect.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from qa.squad import exact_match, f1_score  # noqa: E402
from qa.training.data import is_check  # noqa: E402


def score(rows: list[dict], threshold: float) -> dict[str, float | int | None]:
    ans = [r for r in rows if r["answers"]]
    unans = [r for r in rows if not r["answers"]]

    def said(r: dict) -> str:
        return r["candidate"] if r["confidence"] >= threshold and r["candidate"] else ""

    em = [exact_match(said(r), r["answers"]) for r in ans]
    f1 = [f1_score(said(r), r["answers"]) for r in ans]
    overall = f1 + [1.0 if not said(r) else 0.0 for r in unans]
    at1 = [bool(r["metrics"].get("answer_in_citations@1")) for r in ans]
    return {
        "questions": len(rows),
        "unanswerable": len(unans),
        "em": round(sum(em) / len(em), 4) if em else None,
        "f1": round(sum(f1) / len(f1), 4) if f1 else None,
        "overall_f1": round(sum(overall) / len(overall), 4) if overall else None,
        "answer_in_citations@1": round(sum(at1) / len(at1), 4) if at1 else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results", type=Path)
    ap.add_argument("--threshold", type=float, default=None)
    args = ap.parse_args()
    rows = [json.loads(line) for line in args.results.open() if line.strip()]
    if args.threshold is None:
        report = json.loads((args.results.parent / "report.json").read_text())
        args.threshold = float(report["calibration"]["threshold"])
        print(f"threshold {args.threshold} (from report.json)")
    for name, part in (
        ("held out (check)", [r for r in rows if is_check(r["id"])]),
        ("trained on", [r for r in rows if not is_check(r["id"])]),
        ("all", rows),
    ):
        figures = score(part, args.threshold)
        print(f"{name:>17}: " + ", ".join(f"{k} {v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
