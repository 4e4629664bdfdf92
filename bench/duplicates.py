"""How well near-duplicate grouping works (qa.ingest.duplicates), and why its threshold.

The test set is built from the public Wikinews articles (../shared/eval/wikinews-articles,
CC BY 2.5, and corpus/wikinews-news.jsonl): for each article, edited copies of the kinds
syndication produces (a reworded lead, an added paragraph, another byline, all of them with
the last paragraph cut), which must join the original's group; and every pair of distinct
articles, the closest of which share a topic (same words, other report), which must not.
It prints the similarity ranges, precision and recall of the grouping at the shipped
threshold (through the real Grouper, in ingest order), and a sweep of thresholds.

    python bench/duplicates.py
"""

from __future__ import annotations

import itertools
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qa.ingest.duplicates import THRESHOLD, Grouper, signature  # noqa: E402

SOURCES = [
    ROOT.parent / "shared" / "eval" / "wikinews-articles" / "articles.jsonl",
    ROOT / "corpus" / "wikinews-news.jsonl",
]
LEADS = [
    "Officials confirmed the news on Monday, according to local media reports.",
    "The following was reported by our correspondent late on Thursday.",
]
_SENT = re.compile(r"(?<=[.!?])\s+")


def load() -> list[tuple[str, str]]:
    seen, out = set(), []
    for path in SOURCES:
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            rec = json.loads(line)
            text = rec["text"].strip()
            if text in seen or len(text.split()) < 80:
                continue
            seen.add(text)
            out.append((str(rec.get("id")), text))
    return out


def edits(text: str, other: str, i: int) -> dict[str, str]:
    """The edited copies of one article (``other`` lends the added paragraph)."""
    sentences = _SENT.split(text)
    reworded = " ".join([LEADS[i % 2], *sentences[1:]])
    added = text + "\n\n" + " ".join(other.split()[:60])
    paragraphs = text.split("\n\n")
    # An editor cuts a short closing paragraph, not the body of a three-paragraph story.
    short_end = len(paragraphs) > 2 and len(paragraphs[-1].split()) < len(text.split()) / 4
    trimmed = "\n\n".join(paragraphs[:-1]) if short_end else text
    both = (
        " ".join([LEADS[(i + 1) % 2], *_SENT.split(trimmed)[1:]])
        + "\n\n"
        + " ".join(other.split()[60:110])
    )
    return {"byline": text, "reworded lead": reworded, "added paragraph": added, "all": both}


def topic_pairs() -> list[tuple[str, str]]:
    """Pairs that share a topic and nothing else: the two halves of each SQuAD dev article
    (one Wikipedia article's subject, different paragraphs)."""
    path = ROOT.parent / "shared" / "eval" / "squad-v1.1-dev" / "articles.jsonl"
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            paras = json.loads(line)["text"].split("\n\n")
            if len(paras) >= 4:
                half = len(paras) // 2
                out.append(("\n\n".join(paras[:half]), "\n\n".join(paras[half:])))
    return out


def main() -> None:
    articles = load()
    sigs = {aid: signature(text) for aid, text in articles}
    copies: list[tuple[str, str, str]] = []  # (copy id, original id, kind)
    copy_sigs = {}
    for i, (aid, text) in enumerate(articles):
        other = articles[(i + 7) % len(articles)][1]
        for kind, edited in edits(text, other, i).items():
            cid = f"{aid}~{kind}"
            copies.append((cid, aid, kind))
            copy_sigs[cid] = signature(edited)

    by_kind: dict[str, list[float]] = {}
    for cid, aid, kind in copies:
        by_kind.setdefault(kind, []).append(float(copy_sigs[cid].jaccard(sigs[aid])))
    pairs = [
        float(sigs[a].jaccard(sigs[b])) for (a, _), (b, _) in itertools.combinations(articles, 2)
    ]
    print(f"{len(articles)} articles, {len(copies)} edited copies, {len(pairs)} distinct pairs")
    for kind, js in by_kind.items():
        print(f"  copy '{kind}': Jaccard min {min(js):.3f}, median {sorted(js)[len(js) // 2]:.3f}")
    top = ", ".join(f"{j:.3f}" for j in sorted(pairs, reverse=True)[:5])
    print(f"  distinct articles: Jaccard top 5 {top}")
    halves = topic_pairs()
    hj = [float(signature(a).jaccard(signature(b))) for a, b in halves]
    print(
        f"  {len(halves)} same-topic pairs (two halves of one SQuAD Wikipedia article): "
        f"Jaccard max {max(hj):.3f}, grouped at {THRESHOLD}: {sum(j >= THRESHOLD for j in hj)}"
    )

    # The real grouping, in ingest order: the originals, then every copy.
    g = Grouper([])
    group: dict[str, str] = {}
    for aid, _ in articles:
        group[aid], _, _ = g.assign(aid, sigs[aid], own="g:" + aid)
    for cid, _, _ in copies:
        group[cid], _, _ = g.assign(cid, copy_sigs[cid], own="g:" + cid)
    tp = sum(1 for cid, aid, _ in copies if group[cid] == group[aid])
    wrong_originals = sum(
        1 for (a, _), (b, _) in itertools.combinations(articles, 2) if group[a] == group[b]
    )
    wrong_copies = sum(1 for cid, aid, _ in copies if group[cid] not in (group[aid], "g:" + cid))
    fp = wrong_originals + wrong_copies
    precision = tp / (tp + fp) if tp + fp else 1.0
    print(
        f"at the shipped threshold {THRESHOLD}: recall {tp / len(copies):.3f} "
        f"({tp}/{len(copies)} copies grouped with their original), precision {precision:.3f} "
        f"({fp} wrong groupings: {wrong_originals} pairs of distinct articles, "
        f"{wrong_copies} copies with another article)"
    )
    print("threshold sweep (pairwise, estimated Jaccard):")
    all_copies = [j for js in by_kind.values() for j in js]
    for t in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
        rec = sum(j >= t for j in all_copies) / len(all_copies)
        fps = sum(j >= t for j in pairs)
        print(f"  {t:.1f}: recall {rec:.3f}, distinct pairs grouped {fps}")


if __name__ == "__main__":
    main()
