"""The reader with its attention fused against the shipped one, on the same windows.

    python bench/fused_reader.py [--reader DIR] [--rounds 5]

Writes the reader again with `ask export-reader` (each layer's attention one QAttention; the
same weights) into a temporary folder, then reads the news set's questions with both, each
question's top three passages from the shipped corpus's index, alternating the two readers
round by round so that both see the same machine. Prints each one's median and p95
milliseconds a question (the reader alone: tokenising, the ONNX run, span decoding) and the
ratio, and how often both gave the same best span.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from qa.pipeline import build_pipeline  # noqa: E402
from qa.reader.model import SHIPPED_DIR, Reader  # noqa: E402
from qa.settings import Settings  # noqa: E402

NEWS = REPO / "tests" / "eval" / "news-questions.jsonl"


def passages(data_dir: Path) -> list[tuple[str, list[str]]]:
    """Each news question with the text of its top three retrieved passages."""
    pipeline = build_pipeline(Settings(data_dir=data_dir))
    try:
        pipeline.ensure_corpus()
        out = []
        for line in NEWS.open(encoding="utf-8"):
            q = json.loads(line)["question"]
            hits = pipeline.search(q, k=3)
            out.append((q, [h.chunk.text for h in hits]))
        return out
    finally:
        pipeline.close()


def timed(reader: Reader, asked: list[tuple[str, list[str]]]) -> tuple[list[float], list[str]]:
    ms, spans = [], []
    for q, texts in asked:
        t = time.perf_counter()
        readings = reader.read(q, texts)
        ms.append(1000 * (time.perf_counter() - t))
        spans.append(max(readings, key=lambda r: r.span_score).text if readings else "")
    return ms, spans


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.95 * len(values)) - 1)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reader", type=Path, default=SHIPPED_DIR)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="fused-bench-") as tmp:
        fused_dir = Path(tmp) / "fused"
        command = [sys.executable, "-m", "qa.cli.main", "export-reader"]
        proc = subprocess.run(
            [*command, "--reader", str(args.reader), "--out", str(fused_dir)],
            capture_output=True,
            text=True,
            env={**os.environ, "QA_DATA_DIR": str(Path(tmp) / "data")},
        )
        if proc.returncode != 0:
            sys.exit(f"error: ask export-reader failed: {proc.stderr.strip()[-500:]}")
        asked = passages(Path(tmp) / "data")
        readers = {"shipped": Reader(args.reader), "fused": Reader(fused_dir)}
        for r in readers.values():
            timed(r, asked[:5])  # warm up
        ms: dict[str, list[float]] = {k: [] for k in readers}
        spans: dict[str, list[str]] = {}
        for _ in range(args.rounds):
            for name, reader in readers.items():
                got, spans[name] = timed(reader, asked)
                ms[name] += got
    base = statistics.median(ms["shipped"])
    print(f"{len(asked)} news questions x {args.rounds} rounds, top 3 passages each")
    for name, values in ms.items():
        med = statistics.median(values)
        print(f"{name:8} median {med:6.1f} ms  p95 {p95(values):6.1f} ms  ratio {med / base:.2f}")
    same = sum(a == b for a, b in zip(spans["shipped"], spans["fused"], strict=True))
    print(f"same best span: {same} of {len(asked)}")


if __name__ == "__main__":
    main()
