"""Question/passage pairs as model inputs: one featurisation shared by training and reading,
so the spans the reader was trained on are the spans it predicts.

Only ``tokenizers`` and numpy: reading stays torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer


@dataclass(frozen=True)
class Feature:
    """One window of one passage: token ids and where each context token sits in the text."""

    example: int
    """Index of the (question, context) pair this window came from."""
    input_ids: list[int]
    token_type_ids: list[int]
    offsets: list[tuple[int, int]]
    """Character offsets into the context; (-1, -1) for question and special tokens."""
    context_start: int
    """First token position of the context in this window."""
    context_end: int
    """Last token position of the context (inclusive)."""


def load_tokenizer(path: Path) -> Tokenizer:
    """The reader's WordPiece tokenizer, without padding or truncation."""
    tok = Tokenizer.from_file(str(path))
    tok.no_padding()
    tok.no_truncation()
    return tok


def featurize(
    tokenizer: Tokenizer,
    question: str,
    contexts: list[str],
    *,
    max_length: int = 384,
    stride: int = 128,
    max_question_tokens: int = 64,
) -> list[Feature]:
    """Split each context into windows of ``max_length`` tokens overlapping by ``stride``.

    Built by hand rather than with the tokenizer's own overflow so the same code can cut the
    question and the context independently and keep exact character offsets.
    """
    q = tokenizer.encode(question, add_special_tokens=False)
    q_ids = q.ids[:max_question_tokens]
    cls_id = tokenizer.token_to_id("[CLS]")
    sep_id = tokenizer.token_to_id("[SEP]")
    if cls_id is None or sep_id is None:
        raise ValueError("the tokenizer has no [CLS] or [SEP] token: not a BERT WordPiece one")
    room = max_length - len(q_ids) - 3
    step = max(room - stride, 1)
    features: list[Feature] = []
    for ci, ctx in enumerate(contexts):
        enc = tokenizer.encode(ctx, add_special_tokens=False)
        ids, offs = enc.ids, enc.offsets
        start = 0
        while True:
            piece = slice(start, start + room)
            c_ids = ids[piece]
            input_ids = [cls_id, *q_ids, sep_id, *c_ids, sep_id]
            types = [0] * (len(q_ids) + 2) + [1] * (len(c_ids) + 1)
            offsets: list[tuple[int, int]] = (
                [(-1, -1)] * (len(q_ids) + 2) + [(o[0], o[1]) for o in offs[piece]] + [(-1, -1)]
            )
            cs = len(q_ids) + 2
            features.append(
                Feature(
                    ci,
                    input_ids,
                    types,
                    offsets,
                    cs,
                    cs + len(c_ids) - 1,
                )
            )
            if start + room >= len(ids):
                break
            start += step
    return features


def pad_batch(features: list[Feature]) -> dict[str, np.ndarray]:
    """Right-pad to the longest window in the batch (batches are grouped by length)."""
    width = max(len(f.input_ids) for f in features)
    ids = np.zeros((len(features), width), dtype=np.int64)
    types = np.zeros_like(ids)
    mask = np.zeros_like(ids)
    for i, f in enumerate(features):
        n = len(f.input_ids)
        ids[i, :n] = f.input_ids
        types[i, :n] = f.token_type_ids
        mask[i, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def char_to_token_span(feature: Feature, start_char: int, end_char: int) -> tuple[int, int]:
    """Token positions of an answer inside this window, or (0, 0) (the [CLS] "no answer"
    position) when the window does not hold the whole answer."""
    s = e = None
    for t in range(feature.context_start, feature.context_end + 1):
        a, b = feature.offsets[t]
        if s is None and b > start_char:
            s = t
        if a < end_char:
            e = t
    if s is None or e is None or e < s:
        return 0, 0
    first = feature.offsets[feature.context_start][0]
    last = feature.offsets[feature.context_end][1]
    if start_char < first or end_char > last:
        return 0, 0
    return s, e
