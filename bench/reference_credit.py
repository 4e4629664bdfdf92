"""How often an answer that is wrong against one reference is right against all of them.

    python bench/reference_credit.py RUN_DIR... [--check]

``ask calibrate-reader`` learns when an answer is right from SQuAD v1.1 train questions,
which keep one gold answer each (the asker's). The sets a reader is judged on give several:
SQuAD dev three per question (the asker's first), our news set each way of writing the
answer. An answer that misses the first reference can match another ("Bradley" for
"General Bradley"), so a confidence fitted on one reference reads low on them.

For every answerable question of the saved `ask eval` runs that has a candidate (those
whose references all agree count too: ``ask eval`` keeps one of them), this scores the
candidate against the first reference alone and against all, and prints, by F1 against the
first (>= 0.5, some overlap, none), how many there were and the share right (F1 >= 0.5)
against all: the middle one is ``qa.training.calibrate.REFERENCE_CREDIT`` (its docstring
says why the last is not used). ``--check`` keeps to the public check tenth
(``qa.training.data.is_check``), questions the reader did not train on.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from qa.squad import f1_score  # noqa: E402
from qa.training.calibrate import REFERENCE_CREDIT, RIGHT_F1  # noqa: E402
from qa.training.data import is_check  # noqa: E402

BUCKETS = ("right", "partial", "none")


def bucket_counts(rows: list[dict]) -> dict[str, tuple[int, int]]:
    """(questions, right against all references) per F1 bucket against the first. Pass runs
    of sets written with several references: on one, every share is 0."""
    counts = {b: [0, 0] for b in BUCKETS}
    for r in rows:
        refs = r.get("answers") or []
        if not refs or not r.get("candidate"):
            continue
        first = f1_score(r["candidate"], [refs[0]])
        b = "right" if first >= RIGHT_F1 else "partial" if first > 0 else "none"
        counts[b][0] += 1
        counts[b][1] += f1_score(r["candidate"], refs) >= RIGHT_F1
    return {b: (n, k) for b, (n, k) in counts.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", type=Path, help="folders written by `ask eval --out`")
    ap.add_argument("--check", action="store_true", help="only the public check tenth")
    args = ap.parse_args()
    total = {b: [0, 0] for b in BUCKETS}
    print(f"{'run':40} {'bucket':8} {'n':>5} {'right vs all':>13}")
    for run in args.runs:
        path = run / "results.jsonl"
        if not path.is_file():
            sys.exit(f"error: {path}: no such file (a folder written by `ask eval --out`)")
        rows = [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]
        if args.check:
            rows = [r for r in rows if is_check(r["id"])]
        for b, (n, k) in bucket_counts(rows).items():
            total[b][0] += n
            total[b][1] += k
            share = f"{k / n:.3f}" if n else "-"
            print(f"{str(run)[-40:]:40} {b:8} {n:5d} {share:>13}")
    for b in BUCKETS:
        n, k = total[b]
        print(f"{'all':40} {b:8} {n:5d} {(k / n if n else 0):13.3f}")
    print(f"shipped REFERENCE_CREDIT (for some overlap): {REFERENCE_CREDIT}")


if __name__ == "__main__":
    main()
