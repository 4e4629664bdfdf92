"""The trained extractive reader at question time: onnxruntime and tokenizers, no torch.

A reader directory holds ``reader.onnx`` (int8), ``tokenizer.json`` and ``reader.json``
(the manifest: base model, the tokenizer's fingerprint, window settings, the calibrated
threshold and the check-set figures). A file that is missing, damaged or made for another
tokenizer raises :class:`ReaderUnavailable`; callers fall back to the rule answerer.
"""

from __future__ import annotations

import hashlib
import json
import math
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qa.reader.features import Feature, featurize, load_tokenizer, pad_batch

ONNX_FILE = "reader.onnx"
TOKENIZER_FILE = "tokenizer.json"
MANIFEST_FILE = "reader.json"
SHIPPED_DIR = Path(__file__).resolve().parent / "model"
"""The reader trained by ``ask train-reader`` and shipped with the package."""


class ReaderUnavailable(Exception):
    """The reader cannot be used; the message says why and what to do."""


def sigmoid(x: float) -> float:
    """The logistic function, clipped so that no logit overflows ``math.exp``."""
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, x))))


@dataclass(frozen=True)
class Span:
    """One candidate answer in a passage: character offsets and its score."""

    start: int
    end: int
    text: str
    score: float
    """Start logit + end logit."""


@dataclass(frozen=True)
class Reading:
    """The reader's best span in one passage, with the scores to rank and abstain by."""

    start: int
    """Character offsets in the passage; (0, 0) with an empty ``text`` if no span."""
    end: int
    text: str
    span_score: float
    null_score: float
    candidates: tuple[Span, ...] = ()
    """The n best clean spans, best first (``candidates[0]`` is this reading's span)."""

    @property
    def margin(self) -> float:
        """How much the span beats "no answer" (log-odds)."""
        return self.span_score - self.null_score

    @property
    def probability(self) -> float:
        return sigmoid(self.margin)

    @property
    def runner_up(self) -> float:
        """How far the best span is ahead of the best span that does not overlap it."""
        for c in self.candidates[1:]:
            if c.end <= self.start or c.start >= self.end:
                return self.span_score - c.score
        return 10.0


N_BEST = 20
"""Start/end pairs considered per window (the usual n-best of SQuAD readers)."""

_DANGLING = frozenset(
    {
        "and",
        "or",
        "but",
        "of",
        "which",
        "that",
        "who",
        "whom",
        "while",
        "with",
        "to",
        "by",
        "for",
        "in",
        "on",
        "at",
        "from",
        "as",
        "than",
        "the",
        "a",
        "an",
    }
)
_EDGE_PUNCT = " ,;:-\u2013\u2014(\"'\u201c\u201d\u2018"


def trim(text: str, start: int, end: int) -> tuple[int, int]:
    """Offsets without dangling edge words and punctuation ("11,000 troops to support
    Russia, of which" keeps "11,000 troops to support Russia"). Never empties a span."""
    a, b = start, end
    for _ in range(4):
        before = (a, b)
        while b > a and text[b - 1] in _EDGE_PUNCT:
            b -= 1
        while a < b and text[a] in _EDGE_PUNCT and text[a] not in "(\"'\u201c\u2018":
            a += 1
        words = text[a:b].split()
        if len(words) > 1 and words[-1].lower() in _DANGLING:
            b = a + text[a:b].rstrip().rfind(words[-1])
            b = len(text[:b].rstrip())
        if len(words) > 1 and words[0].lower() in _DANGLING - {"the", "a", "an"}:
            a = a + text[a:b].find(words[0]) + len(words[0])
            while a < b and text[a].isspace():
                a += 1
        if (a, b) == before:
            break
    if b <= a:
        return start, end
    # An opening parenthesis or quote left without its closing one goes too.
    piece = text[a:b]
    if piece.count("(") > piece.count(")") and piece.startswith("("):
        a += 1
    if piece.count(")") > piece.count("(") and piece.endswith(")"):
        b -= 1
    return (a, b) if b > a else (start, end)


def _inside_word(text: str, at: int) -> bool:
    """Whether offset ``at`` cuts a word or a number ("11,|000", "wou|nded")."""
    if at <= 0 or at >= len(text):
        return False
    left, right = text[at - 1], text[at]
    if left.isalnum() and right.isalnum():
        return True
    if left in ",." and right.isdigit() and at >= 2 and text[at - 2].isdigit():
        return True
    return right in ",." and left.isdigit() and at + 1 < len(text) and text[at + 1].isdigit()


def crosses(breaks: Sequence[int], start: int, end: int) -> bool:
    """Whether a sentence starts strictly inside ``[start, end)``."""
    i = bisect_right(breaks, start)
    return i < len(breaks) and breaks[i] < end


def tokenizer_fingerprint(path: Path) -> str:
    """The tokenizer's vocabulary and normalisation, hashed: two files that split text the
    same way get the same fingerprint whatever their JSON key order."""
    data = json.loads(path.read_text(encoding="utf-8"))
    essential = {k: data.get(k) for k in ("model", "normalizer", "pre_tokenizer")}
    blob = json.dumps(essential, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


def read_manifest(directory: Path) -> dict[str, Any]:
    """The reader's manifest; a missing or damaged one raises ReaderUnavailable."""
    path = directory / MANIFEST_FILE
    if not path.is_file():
        raise ReaderUnavailable(f"no reader in {directory} ({MANIFEST_FILE} is missing)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(manifest, dict) or "tokenizer_sha256" not in manifest:
            raise ValueError("no tokenizer_sha256")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ReaderUnavailable(f"{path} is damaged ({exc})") from exc
    return manifest


class Reader:
    """Reads passages for a question and returns the best span of each."""

    def __init__(self, directory: Path, threads: int = 2, max_answer_tokens: int = 30) -> None:
        self.directory = directory
        self.manifest = read_manifest(directory)
        tok_path = directory / TOKENIZER_FILE
        if not tok_path.is_file():
            raise ReaderUnavailable(f"no reader tokenizer in {directory} ({TOKENIZER_FILE})")
        try:
            found = tokenizer_fingerprint(tok_path)
            self.tokenizer = load_tokenizer(tok_path)
        except Exception as exc:  # tokenizers raises plain Exception on a bad file
            raise ReaderUnavailable(f"{tok_path} is damaged ({exc})") from exc
        if found != self.manifest["tokenizer_sha256"]:
            raise ReaderUnavailable(
                f"the reader in {directory} was trained with another tokenizer "
                f"(manifest {self.manifest['tokenizer_sha256'][:12]}, {TOKENIZER_FILE} "
                f"{found[:12]}); refusing it: its token ids would mean other words. "
                "Train a reader for this tokenizer with `ask train-reader`"
            )
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(
                str(directory / ONNX_FILE), opts, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own types for missing/bad files
            raise ReaderUnavailable(f"{directory / ONNX_FILE} cannot be loaded ({exc})") from exc
        vocab = int(self.manifest.get("vocab_size") or 0)
        if vocab and vocab != self.tokenizer.get_vocab_size():
            raise ReaderUnavailable(
                f"the reader in {directory} expects a vocabulary of {vocab} tokens, its "
                f"tokenizer has {self.tokenizer.get_vocab_size()}; refusing it"
            )
        self.max_length = int(self.manifest.get("max_length", 384))
        self.stride = int(self.manifest.get("stride", 128))
        self.max_answer_tokens = max_answer_tokens
        self.threshold = float(self.manifest.get("threshold", 0.5))
        self.length_penalty = float(self.manifest.get("length_penalty", 0.0))

    def logits(
        self, features: list[Feature], batch_size: int = 16
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Start and end logits of each window, batched by length."""
        order = sorted(range(len(features)), key=lambda i: len(features[i].input_ids))
        results: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for b in range(0, len(order), batch_size):
            idx = order[b : b + batch_size]
            batch = pad_batch([features[i] for i in idx])
            start, end = self.session.run(["start_logits", "end_logits"], batch)
            for row, i in enumerate(idx):
                n = len(features[i].input_ids)
                results[i] = (start[row, :n], end[row, :n])
        return [results[i] for i in range(len(features))]

    def read(
        self,
        question: str,
        contexts: list[str],
        breaks: Sequence[Sequence[int]] | None = None,
        skip: Sequence[Sequence[tuple[int, int]]] | None = None,
    ) -> list[Reading]:
        """The best clean span of each context. ``breaks`` gives, per context, the offsets
        where its sentences start: no span crosses one, nor a line break. ``skip`` gives,
        per context, ranges no span may come from (a report's dateline)."""
        if not contexts:
            return []
        features = self.featurize(question, contexts)
        return self.decode(features, self.logits(features), contexts, breaks=breaks, skip=skip)

    def featurize(self, question: str, contexts: list[str]) -> list[Feature]:
        return featurize(
            self.tokenizer, question, contexts, max_length=self.max_length, stride=self.stride
        )

    def decode(
        self,
        features: list[Feature],
        logits: list[tuple[np.ndarray, np.ndarray]],
        contexts: list[str],
        length_penalty: float | None = None,
        breaks: Sequence[Sequence[int]] | None = None,
        skip: Sequence[Sequence[tuple[int, int]]] | None = None,
    ) -> list[Reading]:
        """The n best clean spans of each context: start + end logit, less
        ``length_penalty`` per token beyond the first (0 in the shipped manifest: a penalty
        of 0.2 gained QAMR 0.006 F1 and lost SQuAD 0.03 on the check questions,
        `bench/reader_bench.py`). A span is clean when it stays inside one sentence and one
        line, and is trimmed of dangling edge words."""
        penalty = self.length_penalty if length_penalty is None else length_penalty
        spans: list[dict[tuple[int, int], Span]] = [{} for _ in contexts]
        null: list[float] = [math.inf] * len(contexts)
        for f, (s, e) in zip(features, logits, strict=True):
            k = f.example
            null[k] = min(null[k], float(s[0] + e[0]))
            cs, ce = f.context_start, f.context_end
            if ce < cs:
                continue
            ss, ee = s[cs : ce + 1], e[cs : ce + 1]
            n = len(ss)
            length = np.arange(n)[None, :] - np.arange(n)[:, None]
            grid = ss[:, None] + ee[None, :] - penalty * np.maximum(length, 0)
            band = (length >= 0) & (length < self.max_answer_tokens)
            grid = np.where(band, grid, -np.inf)
            flat = grid.ravel()
            top = np.argpartition(-flat, min(N_BEST * 3, flat.size - 1))[: N_BEST * 3]
            top = top[np.argsort(-flat[top])]
            text = contexts[k]
            found = 0
            for idx in top:
                score = float(flat[idx])
                if not math.isfinite(score) or found >= N_BEST:
                    break
                i, j = divmod(int(idx), n)
                a, b = f.offsets[cs + i][0], f.offsets[cs + j][1]
                if (
                    "\n" in text[a:b]
                    or _inside_word(text, a)
                    or _inside_word(text, b)
                    or (breaks is not None and crosses(breaks[k], a, b))
                    or (skip is not None and any(lo <= a and b <= hi for lo, hi in skip[k]))
                ):
                    continue
                a, b = trim(text, a, b)
                found += 1
                cur = spans[k].get((a, b))
                if cur is None or score > cur.score:
                    spans[k][(a, b)] = Span(a, b, text[a:b], score)
        readings = []
        for k in range(len(contexts)):
            ranked = tuple(sorted(spans[k].values(), key=lambda c: -c.score)[:N_BEST])
            if not ranked:
                readings.append(Reading(0, 0, "", -math.inf, null[k]))
                continue
            best = ranked[0]
            readings.append(Reading(best.start, best.end, best.text, best.score, null[k], ranked))
        return readings
