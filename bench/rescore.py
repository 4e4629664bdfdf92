"""Score saved `ask eval` runs again under another calibration, without asking anything.

    python bench/rescore.py RUN_DIR... [--calibration DIR] [--threshold T] [--sweep] [--check]

The span an answer gives does not depend on the calibration (``ReaderAnswerer`` picks it by
the reader's scores), and every row of a run's ``results.jsonl`` keeps its ``signals``; so a
new ``calibration.json`` (``ask calibrate-reader``: logistic or boosted) can be compared
with the shipped one on the same runs in seconds. With ``--check`` a run is cut to the
public check tenth (``qa.training.data.is_check``), as `bench/heldout_split.py` does; a run
of the news set, of `bench/unseen_articles.py`, or of check questions alone is scored whole.

For each run it prints, at the threshold: F1 over answerable questions, F1 had it answered
every question, overall and abstain F1 (when the run has unanswerable questions), ECE and
right at >= 0.9 (against the same F1 >= 0.5 bar as `ask eval`). ``--sweep`` also prints
the mean overall F1 of all runs at each threshold from 0.2 to 0.6.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from qa.answer.confidence import Calibrator  # noqa: E402
from qa.eval.scoring import reliability_of  # noqa: E402
from qa.reader.model import SHIPPED_DIR  # noqa: E402
from qa.squad import f1_score  # noqa: E402
from qa.training.data import is_check  # noqa: E402

RIGHT_F1 = 0.5


def load_run(run: Path, check: bool) -> list[dict]:
    rows = [json.loads(line) for line in (run / "results.jsonl").open(encoding="utf-8")]
    return [r for r in rows if is_check(r["id"])] if check else rows


def rescored(rows: list[dict], cal: Calibrator) -> list[tuple[dict, float]]:
    """Each row with its confidence under ``cal`` (0 for a row without a candidate)."""
    # Whether an answer was read from the further passages was decided when it was asked;
    # `recorded` gives such an answer the further fit's confidence.
    return [
        (r, cal.recorded(r["signals"]) if r.get("signals") and r["candidate"] else 0.0)
        for r in rows
    ]


def score(scored: list[tuple[dict, float]], threshold: float) -> dict[str, float | int | None]:
    ans = [(r, p) for r, p in scored if r["answers"]]
    unans = [(r, p) for r, p in scored if not r["answers"]]

    def said(r: dict, p: float) -> str:
        return r["candidate"] if r["candidate"] and p >= threshold else ""

    f1 = [f1_score(said(r, p), r["answers"]) for r, p in ans]
    every = [f1_score(r["candidate"] or "", r["answers"]) for r, _ in ans]
    abstain_right = [0.0 if said(r, p) else 1.0 for r, p in unans]
    overall = f1 + abstain_right
    abstained = sum(1 for r, p in scored if not said(r, p))
    true_abstain = sum(abstain_right)
    prec = true_abstain / abstained if abstained else 0.0
    rec = true_abstain / len(unans) if unans else 0.0
    pairs = [
        (p, bool(r["answers"]) and f1_score(r["candidate"], r["answers"]) >= RIGHT_F1)
        for r, p in scored
        if r["candidate"]
    ]
    rel = reliability_of(pairs)

    def mean(xs: list[float]) -> float | None:
        return round(sum(xs) / len(xs), 4) if xs else None

    return {
        "n": len(scored),
        "f1": mean(f1),
        "f1_every": mean(every),
        "overall": mean(overall) if unans else None,
        "abstain_f1": round(2 * prec * rec / (prec + rec), 4) if unans and prec + rec else None,
        "ece": round(rel.ece, 4) if rel.ece is not None else None,
        "right@0.9": round(rel.right_at_90, 4) if rel.right_at_90 is not None else None,
        "n@0.9": rel.at_90,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", type=Path, nargs="+")
    ap.add_argument("--calibration", type=Path, default=SHIPPED_DIR)
    ap.add_argument("--threshold", type=float, default=None)
    ap.add_argument("--sweep", action="store_true")
    ap.add_argument("--check", action="store_true", help="score the check tenth only")
    args = ap.parse_args()
    cal = Calibrator.load(args.calibration)
    threshold = cal.threshold if args.threshold is None else args.threshold
    runs = {run: rescored(load_run(run, args.check), cal) for run in args.runs}
    print(f"calibration {args.calibration} ({len(cal.trees)} trees), threshold {threshold}")
    for run, scored in runs.items():
        figures = "  ".join(f"{k} {v}" for k, v in score(scored, threshold).items())
        print(f"{run.name:14} {figures}")
    if args.sweep:
        for t in [x / 100 for x in range(20, 61, 2)]:
            overall = []
            for scored in runs.values():
                s = score(scored, t)
                overall.append(s["overall"] if s["overall"] is not None else s["f1"])
            mean = sum(float(v or 0.0) for v in overall) / len(overall)
            cells = " ".join(f"{float(v or 0):.3f}" for v in overall)
            print(f"  t={t:.2f} mean overall {mean:.4f}  ({cells})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
