"""End to end on articles no step of training or calibration ever read: the honest figure.

    python bench/unseen_articles.py [--out runs/unseen] [--questions 500] [--reader DIR]

The public check questions (`bench/heldout_split.py`) are new questions, but on articles
whose other questions the reader trained on, so they flatter it. Acceptance asks questions
of unseen articles. This asks the SQuAD v1.1 train articles of the calibration tenth
(`qa.training.negatives.is_calibration_article`, never trained on) that
`ask calibrate-reader` does not use either (`split_articles`: 15 of 47), in two sets, each
run through `ask eval --corpus`:

- `answerable`: the articles whole, a seeded sample of their questions as written (SQuAD
  v1.1's kind).
- `half-cut`: the same articles with the answer's sentence cut out for half the sampled
  questions (SQuAD v2.0's kind); a question whose gold answers then occur nowhere in its
  article is unanswerable, the rest keep their answers.

It prints each set's F1 at the reader's threshold, overall and abstain F1, ECE, right at
>= 0.9, and F1 had it answered every question, and writes both runs under --out.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from qa.squad import f1_score  # noqa: E402
from qa.training.calibrate import CalibrationConfig, split_articles  # noqa: E402
from qa.training.data import Example, LoadReport  # noqa: E402
from qa.training.negatives import load_squad_train, without_sentence  # noqa: E402

TRAIN = REPO.parent / "shared" / "train" / "squad-v1.1-train"
SEED = 29
"""Not calibration's 13: the sample is another draw of questions."""


def build(train_dir: Path, n: int, out: Path) -> dict[str, Path]:
    """Write both sets' articles.jsonl and questions.jsonl under ``out``; their folders."""
    data = load_squad_train(train_dir, LoadReport())
    by_article: dict[str, list[Example]] = {}
    for ex in data.calibration:
        art = data.paragraphs[data.paragraph_of[ex.id]].article_id
        by_article.setdefault(art, []).append(ex)
    cfg = CalibrationConfig(reader_dir=Path("."), train_dir=train_dir, work_dir=Path("."))
    # The same draw as ask calibrate-reader's, so that the unused articles are the same.
    _, _, unused = split_articles(sorted(by_article), cfg, random.Random(cfg.seed))
    rng = random.Random(SEED)
    pool = [ex for a in unused for ex in by_article[a]]
    rng.shuffle(pool)
    asked = pool[:n]
    paragraphs = sorted(
        (p for p in data.paragraphs.values() if p.article_id in set(unused)),
        key=lambda p: (p.article_id, int(p.id.rsplit("-p", 1)[-1]) if "-p" in p.id else 0),
    )
    # Half of the asked questions lose their answer's sentence, one question per paragraph.
    cut: dict[str, str] = {}
    for ex in asked[: n // 2]:
        pid = data.paragraph_of[ex.id]
        if pid not in cut:
            shorter = without_sentence(data.paragraphs[pid].text, ex)
            if shorter:
                cut[pid] = shorter
    dirs = {}
    for name, cuts in (("answerable", {}), ("half-cut", cut)):
        texts: dict[str, list[str]] = {}
        for p in paragraphs:
            texts.setdefault(p.article_id, []).append(cuts.get(p.id, p.text))
        articles = {a: "\n\n".join(t) for a, t in texts.items()}
        d = out / name
        d.mkdir(parents=True, exist_ok=True)
        with (d / "articles.jsonl").open("w", encoding="utf-8") as fh:
            for a, text in articles.items():
                title = a.split(":", 1)[-1].replace("_", " ")
                fh.write(json.dumps({"id": a, "title": title, "text": text}) + "\n")
        with (d / "questions.jsonl").open("w", encoding="utf-8") as fh:
            for ex in asked:
                art = data.paragraphs[data.paragraph_of[ex.id]].article_id
                low = articles[art].lower()
                answers = [a for a in ex.answers if a.lower() in low]
                row = {"id": ex.id, "question": ex.question, "answers": answers}
                fh.write(json.dumps({**row, "article_id": art}) + "\n")
        dirs[name] = d
    return dirs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "unseen")
    ap.add_argument("--questions", type=int, default=500)
    ap.add_argument("--train-dir", type=Path, default=TRAIN)
    ap.add_argument("--reader", default=None, help="a reader directory (default: shipped)")
    args = ap.parse_args()
    if not (args.train_dir / "questions.jsonl").is_file():
        print(f"error: no SQuAD train set in {args.train_dir}", file=sys.stderr)
        return 2
    dirs = build(args.train_dir, args.questions, args.out)
    env = dict(os.environ)
    if args.reader:
        env["QA_READER"] = args.reader
    ask = Path(sys.executable).parent / "ask"
    names = ("f1", "overall_f1", "abstain_f1", "ece", "right_at_0.9")
    print(f"{'set':<11} {'n':>4} {'unans':>5} " + " ".join(f"{m:>11}" for m in names) + "  f1_all")
    for name, d in dirs.items():
        run = d / "run"
        cmd = [str(ask), "eval", str(d / "questions.jsonl"), "--corpus", str(d / "articles.jsonl")]
        done = subprocess.run([*cmd, "--out", str(run)], env=env, capture_output=True, text=True)
        if done.returncode != 0:
            print(done.stdout[-2000:] + done.stderr[-2000:], file=sys.stderr)
            return done.returncode
        report = json.loads((run / "report.json").read_text(encoding="utf-8"))
        m = report["metrics"]
        rows = [json.loads(line) for line in (run / "results.jsonl").open(encoding="utf-8")]
        ans = [r for r in rows if r["answers"]]
        # F1 had every answerable question been answered with the reader's best span.
        all_f1 = sum(f1_score(r["candidate"] or "", r["answers"]) for r in ans) / max(1, len(ans))
        figures = " ".join(
            f"{m[k]:>11.4f}" if isinstance(m.get(k), float) else f"{'n/a':>11}" for k in names
        )
        print(f"{name:<11} {len(rows):>4} {report['unanswerable']:>5} {figures}  {all_f1:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
