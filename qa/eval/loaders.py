"""Question sets: our JSONL, CSV, official SQuAD JSON (v1.1, v2.0) and conversations.

Every format becomes a ``QuestionSet`` of ``EvalQuestion``s. A bad line is reported with its
file and line, skipped and counted; a bad file (missing, empty, unknown format, no question
column, unknown SQuAD version) is a ``BadInputError`` before any question is asked.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from qa.errors import BadInputError
from qa.ingest.files import Skip, jsonl_lines
from qa.types import Article

JSONL_SUFFIXES = {".jsonl", ".ndjson"}
CSV_SUFFIXES = {".csv"}
JSON_SUFFIXES = {".json"}
SQUAD_VERSIONS = {
    "1.1": "squad-v1.1",
    "v1.1": "squad-v1.1",
    "2.0": "squad-v2.0",
    "v2.0": "squad-v2.0",
}


@dataclass(frozen=True)
class EvalQuestion:
    """One question of an evaluation set, with its gold answers (empty: the articles do not
    answer it)."""

    id: str
    question: str
    answers: tuple[str, ...]
    """Gold answers; empty means the articles do not answer the question."""
    article_ids: tuple[str, ...] = ()
    """Gold articles, where the set gives them."""
    paragraph_id: str | None = None
    conversation: str | None = None
    """Conversation id for a turn of a multi-turn conversation; None for a lone question."""
    turn: int = 0
    """1-based turn number within ``conversation``."""
    where: str = ""
    """``file:line`` it was read from, for messages."""

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


@dataclass(frozen=True)
class QuestionSet:
    """The questions read from one file, with the lines that were skipped and why."""

    path: str
    format: str
    questions: tuple[EvalQuestion, ...]
    skipped: tuple[Skip, ...] = ()

    @property
    def answerable(self) -> int:
        return sum(q.answerable for q in self.questions)

    @property
    def conversations(self) -> int:
        return len({q.conversation for q in self.questions if q.conversation is not None})


# -- reading ------------------------------------------------------------------------------
def _read_text(path: Path) -> str:
    if not path.exists():
        raise BadInputError(f"no such question file: {path}")
    if path.is_dir():
        raise BadInputError(f"{path} is a folder; give a question file (.jsonl, .csv, .json)")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadInputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if not data.strip():
        raise BadInputError(f"{path} is empty: no questions to ask")
    try:
        return data.decode("utf-8-sig").replace("\r\n", "\n").replace("\r", "\n")
    except UnicodeDecodeError as exc:
        raise BadInputError(f"{path} is not UTF-8 text (byte {exc.start})") from exc


def _answers(raw: Any) -> tuple[str, ...] | None:
    """Gold answers from a list of strings or of SQuAD ``{"text": ...}`` objects."""
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        return None
    out: list[str] = []
    for a in raw:
        text = a.get("text") if isinstance(a, dict) else a
        if not isinstance(text, str | int | float) or isinstance(text, bool):
            return None
        text = str(text).strip()
        if text:
            out.append(text)
    return tuple(dict.fromkeys(out)) if out or not raw else None


def _article_ids(rec: dict[str, Any]) -> tuple[str, ...]:
    raw = rec.get("article_ids", rec.get("article_id"))
    if raw is None or raw == "":
        return ()
    if isinstance(raw, list):
        return tuple(str(a) for a in raw if a not in (None, ""))
    return (str(raw),)


def _question(
    rec: Any,
    path: Path,
    line: int,
    *,
    default_id: str,
    conversation: str | None = None,
    turn: int = 0,
) -> EvalQuestion | str:
    """An EvalQuestion, or the reason the record cannot be one."""
    if not isinstance(rec, dict):
        return "not a JSON object"
    question = rec.get("question")
    if not isinstance(question, str) or not question.strip():
        return "no 'question' field with the question text"
    if "answers" in rec:
        answers = _answers(rec["answers"])
    elif "answer" in rec:
        answers = _answers(rec["answer"]) if rec["answer"] not in (None, "") else ()
    else:
        return "no 'answers' list (use [] for a question the articles do not answer)"
    if answers is None:
        return "'answers' is not a list of strings"
    raw_id = rec.get("id")
    qid = str(raw_id) if raw_id not in (None, "") else default_id
    paragraph = rec.get("paragraph_id")
    return EvalQuestion(
        id=qid,
        question=" ".join(question.split()),
        answers=answers,
        article_ids=_article_ids(rec),
        paragraph_id=str(paragraph) if paragraph not in (None, "") else None,
        conversation=conversation,
        turn=turn,
        where=f"{path}:{line}",
    )


def _conversation(rec: dict[str, Any], path: Path, line: int) -> list[EvalQuestion] | str:
    turns = rec.get("turns")
    if not isinstance(turns, list) or not turns:
        return "'turns' is not a non-empty list"
    cid = str(rec.get("id") or f"{path.stem}:{line}")
    out = []
    for n, turn in enumerate(turns, 1):
        if isinstance(turn, dict) and "article_id" not in turn and "article_id" in rec:
            turn = {**turn, "article_id": rec["article_id"]}
        q = _question(turn, path, line, default_id=f"{cid}#{n}", conversation=cid, turn=n)
        if isinstance(q, str):
            return f"turn {n}: {q}"
        out.append(q)
    return out


def _from_records(
    records: Iterable[tuple[int, Any]], path: Path
) -> tuple[list[EvalQuestion], list[Skip], set[str]]:
    questions: list[EvalQuestion] = []
    skipped: list[Skip] = []
    kinds: set[str] = set()
    for line, rec in records:
        if isinstance(rec, dict) and "turns" in rec and "question" not in rec:
            conv = _conversation(rec, path, line)
            if isinstance(conv, str):
                skipped.append(Skip(str(path), line, conv))
            else:
                questions.extend(conv)
                kinds.add("conversations")
            continue
        q = _question(rec, path, line, default_id=f"{path.stem}:{line}")
        if isinstance(q, str):
            skipped.append(Skip(str(path), line, q))
        else:
            questions.append(q)
            kinds.add("questions")
    return questions, skipped, kinds


def _jsonl_records(path: Path, text: str, skipped: list[Skip]) -> Iterator[tuple[int, Any]]:
    for n, rec in jsonl_lines(text):
        if isinstance(rec, json.JSONDecodeError):
            skipped.append(Skip(str(path), n, f"not valid JSON: {rec.msg}"))
        else:
            yield n, rec


def load_jsonl(path: Path, text: str) -> QuestionSet:
    """Questions (or conversations) from our JSONL format."""
    bad_json: list[Skip] = []
    questions, skipped, kinds = _from_records(_jsonl_records(path, text, bad_json), path)
    skipped = sorted(bad_json + skipped, key=lambda s: s.line or 0)
    fmt = (
        "conversations"
        if kinds == {"conversations"}
        else ("jsonl+conversations" if len(kinds) > 1 else "jsonl")
    )
    return QuestionSet(str(path), fmt, tuple(questions), tuple(skipped))


def load_csv(path: Path, text: str) -> QuestionSet:
    """Questions from a CSV with ``question`` and ``answer`` columns."""
    reader = csv.DictReader(io.StringIO(text))
    fields = {(f or "").strip().lower(): f for f in reader.fieldnames or []}
    if "question" not in fields:
        found = ", ".join(repr(f) for f in reader.fieldnames or []) or "none"
        raise BadInputError(
            f"{path}: the CSV has no 'question' column (columns: {found}); "
            "the first row must name the columns, e.g. question,answer"
        )
    answer_col = fields.get("answer") or fields.get("answers")
    if answer_col is None:
        raise BadInputError(
            f"{path}: the CSV has no 'answer' column; give the gold answers "
            "there (several separated by |, empty if not answerable)"
        )
    questions: list[EvalQuestion] = []
    skipped: list[Skip] = []
    for row in reader:
        line = reader.line_num
        question = (row.get(fields["question"]) or "").strip()
        if not question:
            skipped.append(Skip(str(path), line, "empty 'question' cell"))
            continue
        answers = tuple(
            dict.fromkeys(a.strip() for a in (row.get(answer_col) or "").split("|") if a.strip())
        )
        qid = (row.get(fields["id"]) or "").strip() if "id" in fields else ""
        article = (row.get(fields["article_id"]) or "").strip() if "article_id" in fields else ""
        questions.append(
            EvalQuestion(
                id=qid or f"{path.stem}:{line}",
                question=" ".join(question.split()),
                answers=answers,
                article_ids=tuple(a for a in article.split("|") if a),
                where=f"{path}:{line}",
            )
        )
    return QuestionSet(str(path), "csv", tuple(questions), tuple(skipped))


def squad_version(data: Any, path: Path) -> str:
    """``squad-v1.1`` or ``squad-v2.0``; anything else is a clear error."""
    version = data.get("version")
    fmt = SQUAD_VERSIONS.get(str(version).strip()) if version is not None else None
    if fmt is None:
        raise BadInputError(
            f"{path}: SQuAD JSON version {version!r} is not supported; "
            'this reads the official v1.1 ("version": "1.1") and v2.0 ("version": "v2.0")'
        )
    return fmt


def _is_squad(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("data"), list)


def load_json(path: Path, text: str) -> QuestionSet:
    """Questions from an official SQuAD v1.1 or v2.0 JSON file."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInputError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from exc
    if isinstance(data, list):
        questions, skipped, kinds = _from_records(enumerate(data, 1), path)
        fmt = "json" if kinds != {"conversations"} else "conversations"
        return QuestionSet(str(path), fmt, tuple(questions), tuple(skipped))
    if not _is_squad(data):
        raise BadInputError(
            f"{path}: unknown JSON question format; expected official SQuAD JSON "
            '({"version", "data": [...]}) or a list of {"question", "answers"} objects'
        )
    fmt = squad_version(data, path)
    questions = []
    skipped = []
    for a, article in enumerate(data["data"], 1):
        title = str(article.get("title") or f"article-{a}") if isinstance(article, dict) else ""
        paragraphs = article.get("paragraphs") if isinstance(article, dict) else None
        if not isinstance(paragraphs, list):
            skipped.append(Skip(str(path), None, f"data[{a - 1}]: no 'paragraphs' list"))
            continue
        for p, para in enumerate(paragraphs):
            for qa in para.get("qas", []) if isinstance(para, dict) else []:
                if not isinstance(qa, dict):
                    continue
                impossible = bool(qa.get("is_impossible"))
                rec = {
                    "id": qa.get("id"),
                    "question": qa.get("question"),
                    "answers": [] if impossible else qa.get("answers", []),
                    "article_id": title,
                    "paragraph_id": f"{title}#p{p}",
                }
                q = _question(rec, path, 0, default_id=f"{title}#p{p}:{len(questions)}")
                if isinstance(q, str):
                    skipped.append(Skip(str(path), None, f"question {qa.get('id')!r}: {q}"))
                    continue
                if not q.answers and not impossible:
                    skipped.append(
                        Skip(
                            str(path), None, f"question {q.id!r}: no answers and not is_impossible"
                        )
                    )
                    continue
                questions.append(replace(q, where=f"{path} ({title}, paragraph {p})"))
    return QuestionSet(str(path), fmt, tuple(questions), tuple(skipped))


def load_questions(path: Path) -> QuestionSet:
    """Read a question set; the format comes from the suffix and, for JSON, the content."""
    suffix = path.suffix.lower()
    if (
        path.exists()
        and path.is_file()
        and suffix not in (JSONL_SUFFIXES | CSV_SUFFIXES | JSON_SUFFIXES)
    ):
        raise BadInputError(
            f"{path}: unknown question file format {suffix or '(no suffix)'!r}; use .jsonl "
            '(one {"question", "answers"} object a line, or {"turns": [...]} '
            "conversations), .csv (question,answer columns) or .json (official SQuAD)"
        )
    text = _read_text(path)
    if suffix in CSV_SUFFIXES:
        qs = load_csv(path, text)
    elif suffix in JSON_SUFFIXES:
        qs = load_json(path, text)
    else:
        qs = load_jsonl(path, text)
    if not qs.questions:
        shown = "; ".join(str(s) for s in qs.skipped[:3])
        more = f" (and {len(qs.skipped) - 3} more)" if len(qs.skipped) > 3 else ""
        raise BadInputError(
            f"no questions could be read from {path}" + (f": {shown}{more}" if shown else "")
        )
    return qs


def select(
    qs: QuestionSet, *, articles: Sequence[str] = (), limit: int | None = None
) -> QuestionSet:
    """Only the questions on ``articles`` (if given), then the first ``limit``.

    A conversation is kept or dropped whole (its later turns need the earlier ones), and
    ``limit`` never cuts one in half unless it is the first.
    """
    wanted = set(articles)
    groups: list[list[EvalQuestion]] = []
    for q in qs.questions:
        if q.conversation is not None and groups and groups[-1][0].conversation == q.conversation:
            groups[-1].append(q)
        else:
            groups.append([q])
    if wanted:
        groups = [g for g in groups if any(set(q.article_ids) & wanted for q in g)]
    kept: list[EvalQuestion] = []
    for g in groups:
        if limit is not None and len(kept) + len(g) > limit:
            if not kept:
                kept.extend(g[:limit])
            break
        kept.extend(g)
    return replace(qs, questions=tuple(kept))


# -- gold article ids against the index --------------------------------------------------
def resolve_article_ids(qs: QuestionSet, known: set[str]) -> tuple[QuestionSet, int]:
    """Map gold article ids onto the index's ids where they differ only by a ``prefix:``
    (SQuAD's title ``Amazon_rainforest`` is ``squad-dev:Amazon_rainforest`` in our files).
    Returns the set and how many questions name a gold article the index does not hold."""
    by_suffix: dict[str, str] = {}
    for aid in known:
        if ":" in aid:
            by_suffix.setdefault(aid.split(":", 1)[1], aid)

    def fix(aid: str) -> str:
        return aid if aid in known else by_suffix.get(aid, aid)

    out = []
    missing = 0
    for q in qs.questions:
        ids = tuple(fix(a) for a in q.article_ids)
        if ids and not any(a in known for a in ids):
            missing += 1
        out.append(replace(q, article_ids=ids) if ids != q.article_ids else q)
    return replace(qs, questions=tuple(out)), missing


# -- corpora --------------------------------------------------------------------------------
def is_squad_file(path: Path) -> bool:
    """A .json file that holds official SQuAD data (used as a corpus, not as questions)."""
    if path.suffix.lower() not in JSON_SUFFIXES or not path.is_file():
        return False
    with path.open("rb") as fh:
        head = fh.read(4096)
    return b'"data"' in head and b'"paragraphs"' in head


def squad_articles(path: Path) -> list[Article]:
    """One article per SQuAD title, its paragraphs joined by blank lines; id = title."""
    text = _read_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInputError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from exc
    if not _is_squad(data):
        raise BadInputError(f"{path}: not official SQuAD JSON")
    squad_version(data, path)
    out = []
    for a, article in enumerate(data["data"], 1):
        if not isinstance(article, dict):
            continue
        title = str(article.get("title") or f"article-{a}")
        paras = [
            p.get("context", "").strip()
            for p in article.get("paragraphs", [])
            if isinstance(p, dict)
        ]
        body = "\n\n".join(p for p in paras if p)
        if body:
            out.append(
                Article(
                    id=title,
                    title=title.replace("_", " "),
                    text=body,
                    source="SQuAD",
                    path=str(path),
                )
            )
    return out
