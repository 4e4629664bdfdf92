"""SQuAD-style answer scoring: normalisation, exact match and token F1.

Shared by ``bench/squad_bench.py`` and the ``ask eval`` command. Follows the
official SQuAD v1.1 evaluation script (lower-case, strip punctuation, drop the
articles a/an/the, collapse white space), plus folding Unicode dashes and
spaces to their ASCII forms first so that "1990–1995" matches "1990-1995".
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter

__all__ = ["answer_in_text", "exact_match", "f1_score", "normalize_answer"]

_DASHES = dict.fromkeys(
    map(ord, "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"), "-"
)
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = frozenset(string.punctuation)


def _fold_unicode(s: str) -> str:
    s = s.translate(_DASHES)
    # Every Unicode space separator (NBSP, thin space, ...) becomes " ".
    return "".join(" " if unicodedata.category(ch) == "Zs" else ch for ch in s)


def normalize_answer(s: str) -> str:
    """SQuAD normalisation: fold Unicode dashes/spaces, lower-case, strip
    punctuation, remove a/an/the, collapse white space."""
    s = _fold_unicode(s).lower()
    s = "".join(ch for ch in s if ch not in _PUNCT)
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


def _em(pred: str, gold: str) -> float:
    return float(normalize_answer(pred) == normalize_answer(gold))


def _f1(pred: str, gold: str) -> float:
    pred_toks = normalize_answer(pred).split()
    gold_toks = normalize_answer(gold).split()
    if not pred_toks or not gold_toks:
        return float(pred_toks == gold_toks)
    common = Counter(pred_toks) & Counter(gold_toks)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision = same / len(pred_toks)
    recall = same / len(gold_toks)
    return 2 * precision * recall / (precision + recall)


def exact_match(pred: str, golds: list[str]) -> float:
    """Best exact match over the gold answers (1.0 or 0.0).

    ``golds == []`` marks an unanswerable question: 1.0 iff ``pred`` is empty
    (after normalisation)."""
    if not golds:
        return float(not normalize_answer(pred))
    return max(_em(pred, g) for g in golds)


def f1_score(pred: str, golds: list[str]) -> float:
    """Best token F1 over the gold answers; ``golds == []`` as in exact_match."""
    if not golds:
        return float(not normalize_answer(pred))
    return max(_f1(pred, g) for g in golds)


def answer_in_text(text: str, golds: list[str]) -> bool:
    """True if some normalised gold answer occurs in the normalised text
    (on token boundaries)."""
    hay = f" {normalize_answer(text)} "
    for g in golds:
        ng = normalize_answer(g)
        if ng and f" {ng} " in hay:
            return True
    return False
