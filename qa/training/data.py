"""Training and check examples for the reader, read from the public evaluation sets.

Only ``questions.public.jsonl`` files are read: the held-out (sealed) questions are never
training data. One public question in ten (chosen by a hash of its id, so SQuAD v1.1 and
v2.0 copies of a question fall on the same side) is kept out as the check set on which
the model card's figures are measured.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from qa.errors import BadInputError
from qa.ingest.files import jsonl_lines

log = logging.getLogger(__name__)

CHECK_SHARE = 10
"""One question in this many goes to the check set."""


@dataclass(frozen=True)
class Example:
    """One training or check example: a question, a context, and the answer's offset in it (-1:
    no answer)."""

    id: str
    question: str
    context: str
    answer_start: int
    """Character offset in ``context``; -1 when the context does not answer the question."""
    answer_text: str
    source: str
    """squad1.1, squad2.0, qamr, or synthetic:<kind>."""
    answers: tuple[str, ...] = ()
    """Every gold answer, for scoring; empty for unanswerable questions."""

    @property
    def answerable(self) -> bool:
        return self.answer_start >= 0


@dataclass
class LoadReport:
    """Lines read and lines skipped (file:line: why) while loading training data."""

    read: int = 0
    skipped: int = 0
    reasons: list[str] | None = None

    def skip(self, where: str, why: str) -> None:
        self.skipped += 1
        if self.reasons is None:
            self.reasons = []
        self.reasons.append(f"{where}: {why}")
        log.debug("%s: %s (skipped)", where, why)


def is_check(question_id: str) -> bool:
    """Whether a public question belongs to the held-out check tenth (by a hash of its id)."""
    digest = hashlib.sha256(question_id.encode("utf-8")).digest()
    return digest[0] % CHECK_SHARE == 0


def read_jsonl(path: Path, report: LoadReport) -> Iterator[dict]:
    """The JSON objects of a JSONL file; bad lines are reported in ``report`` and skipped."""
    if not path.is_file():
        raise BadInputError(f"{path}: no such file (the public sets live in ../shared/eval)")
    text = path.read_text(encoding="utf-8", errors="replace")
    for n, row in jsonl_lines(text):
        if isinstance(row, json.JSONDecodeError):
            report.skip(f"{path}:{n}", f"not JSON ({row.msg})")
            continue
        if not isinstance(row, dict):
            report.skip(f"{path}:{n}", "not a JSON object")
            continue
        row["_where"] = f"{path}:{n}"
        yield row


def _find_answer(
    text: str, answers: list[str], lo: int = 0, hi: int | None = None
) -> tuple[int, str] | None:
    """The first gold answer found in ``text[lo:hi]`` (exact, then ignoring case)."""
    window = text[lo:hi]
    for fold in (False, True):
        hay = window.lower() if fold else window
        for a in answers:
            a = a.strip()
            if not a:
                continue
            i = hay.find(a.lower() if fold else a)
            if i >= 0:
                return lo + i, text[lo + i : lo + i + len(a)]
    return None


def _texts(path: Path, report: LoadReport) -> dict[str, str]:
    """id -> text of a paragraphs or articles file."""
    return {
        row["id"]: row["text"]
        for row in read_jsonl(path, report)
        if isinstance(row.get("id"), str) and isinstance(row.get("text"), str)
    }


def load_squad(directory: Path, source: str, report: LoadReport) -> list[Example]:
    """SQuAD public questions with their paragraphs (unanswerable ones with answer offset -1)."""
    paragraphs = _texts(directory / "paragraphs.jsonl", report)
    out: list[Example] = []
    for row in read_jsonl(directory / "questions.public.jsonl", report):
        where = row["_where"]
        q, pid = row.get("question"), row.get("paragraph_id")
        answers = [a for a in row.get("answers") or [] if isinstance(a, str)]
        if not isinstance(q, str) or not q.strip() or not isinstance(row.get("id"), str):
            report.skip(where, "no question or id")
            continue
        ctx = paragraphs.get(pid) if isinstance(pid, str) else None
        if ctx is None:
            report.skip(where, f"paragraph {pid!r} not in paragraphs.jsonl")
            continue
        report.read += 1
        if row.get("is_impossible") or not answers:
            out.append(Example(row["id"], q, ctx, -1, "", source))
            continue
        found = _find_answer(ctx, answers)
        if found is None:
            report.skip(where, "no gold answer occurs in the paragraph")
            continue
        out.append(Example(row["id"], q, ctx, found[0], found[1], source, tuple(answers)))
    return out


def load_qamr(directory: Path, report: LoadReport, window_chars: int = 300) -> list[Example]:
    """QAMR questions are about one sentence; the context is that sentence with its
    neighbours (about a passage's worth), because the reader will see passages, not lone
    sentences. The answer is looked for inside the question's own sentence first."""
    articles = _texts(directory / "articles.jsonl", report)
    out: list[Example] = []
    for row in read_jsonl(directory / "questions.public.jsonl", report):
        where = row["_where"]
        q, sent = row.get("question"), row.get("sentence")
        answers = [a for a in row.get("answers") or [] if isinstance(a, str)]
        if not isinstance(q, str) or not isinstance(sent, str) or not answers:
            report.skip(where, "no question, sentence or answers")
            continue
        text = articles.get(row.get("article_id") or "", "")
        at = text.find(sent)
        if at < 0:
            text, at = sent, 0
        lo = max(0, at - window_chars)
        hi = min(len(text), at + len(sent) + window_chars)
        # Snap the window to whitespace so it never starts or ends mid-word.
        while lo > 0 and not text[lo - 1].isspace():
            lo -= 1
        while hi < len(text) and not text[hi].isspace():
            hi += 1
        found = _find_answer(text, answers, at, at + len(sent))
        if found is None:
            report.skip(where, "no gold answer occurs in the sentence")
            continue
        report.read += 1
        out.append(
            Example(row["id"], q, text[lo:hi], found[0] - lo, found[1], "qamr", tuple(answers))
        )
    return out


def load_public(eval_dir: Path) -> tuple[list[Example], LoadReport]:
    """SQuAD v1.1, SQuAD v2.0 (its unanswerable questions; its answerable ones are the
    v1.1 questions again) and QAMR, public questions only."""
    report = LoadReport()
    missing = [
        name
        for name in ("squad-v1.1-dev", "squad-v2.0-dev", "qamr-wikinews")
        if not (eval_dir / name / "questions.public.jsonl").is_file()
    ]
    for name in missing:
        report.skip(str(eval_dir / name), "set not found, not used")
    v1 = (
        []
        if "squad-v1.1-dev" in missing
        else load_squad(eval_dir / "squad-v1.1-dev", "squad1.1", report)
    )
    seen = {e.id for e in v1}
    v2 = (
        []
        if "squad-v2.0-dev" in missing
        else [
            e
            for e in load_squad(eval_dir / "squad-v2.0-dev", "squad2.0", report)
            if e.id not in seen
        ]
    )
    qamr = [] if "qamr-wikinews" in missing else load_qamr(eval_dir / "qamr-wikinews", report)
    examples = v1 + v2 + qamr
    if not examples:
        raise BadInputError(f"no usable public questions under {eval_dir}")
    return examples, report
