"""Turn files (.txt, .md, .jsonl, .json, .html) into Articles; report what cannot be read.

Reading never stops at the first bad file or line: each problem becomes a ``Skip`` with
the file, line and reason, and the rest is read.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from qa.errors import BadInputError
from qa.types import Article

TEXT_SUFFIXES = {".txt", ".text"}
MARKDOWN_SUFFIXES = {".md", ".markdown"}
JSONL_SUFFIXES = {".jsonl", ".ndjson"}
JSON_SUFFIXES = {".json"}
HTML_SUFFIXES = {".html", ".htm"}
SUPPORTED = TEXT_SUFFIXES | MARKDOWN_SUFFIXES | JSONL_SUFFIXES | JSON_SUFFIXES | HTML_SUFFIXES
# Documentation that sits beside articles in a folder is not an article.
FOLDER_IGNORES = re.compile(r"^(readme|license|licence|copying|changelog)(\.|$)", re.I)
HEADER_KEYS = {"title", "author", "date", "source", "url", "id"}
META_FIELDS = ("title", "author", "source", "url", "date")


@dataclass(frozen=True)
class Skip:
    """A file or line that could not be read, with where and why."""

    path: str
    line: int | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.reason}"


def normalise_date(value: Any) -> str | None:
    """ISO YYYY-MM-DD from common news date spellings; None when it cannot be read."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).strip()
    m = re.match(r"^(\d{4})-(\d{2})-(\d{2})", text)
    if m:
        try:
            return date(int(m[1]), int(m[2]), int(m[3])).isoformat()
        except ValueError:
            return None
    cleaned = re.sub(r"^[A-Za-z]+day,?\s+", "", text)
    cleaned = re.sub(r",?\s+\d{1,2}:\d{2}.*$", "", cleaned)
    for fmt in (
        "%d %B %Y",
        "%B %d, %Y",
        "%B %d %Y",
        "%d %b %Y",
        "%b %d, %Y",
        "%Y/%m/%d",
        "%d/%m/%Y",
        "%Y%m%d",
        "%Y-%m",
        "%Y",
    ):
        try:
            return datetime.strptime(cleaned, fmt).date().isoformat()
        except ValueError:
            continue
    return None


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def id_problem(article_id: str) -> str | None:
    """Why ``article_id`` cannot be an id (control characters, blank), or None. Ids travel in
    URLs, logs and terminal output, where a newline or an escape would forge or garble them."""
    if not article_id.strip():
        return "the article id is blank"
    m = _CONTROL.search(article_id)
    if m:
        return (
            f"the article id {article_id!r} has a control character (U+{ord(m.group()):04X} at "
            f"{m.start()}); ids must be printable"
        )
    return None


_SURROGATE = re.compile("[\ud800-\udfff]")


def text_problem(article: Article) -> str | None:
    """Why an article's fields cannot be stored as text, or None. JSON may escape a lone
    surrogate (``"\\ud800"``), which no UTF-8 encoder, tokenizer or database accepts."""
    for name in ("id", "title", "text", "author", "source", "url"):
        value = getattr(article, name)
        m = _SURROGATE.search(value) if value else None
        if m:
            return (
                f"lone surrogate in the {name} (\\u{ord(m.group()):04x} at {m.start()}) of "
                f"article {article.id!r}: not a character; fix the escape in the source"
            )
    return None


def content_id(prefix: str, text: str) -> str:
    return f"{prefix}:{hashlib.sha1(text.encode('utf-8')).hexdigest()[:12]}"


def _decode(path: Path) -> str:
    data = path.read_bytes()
    if not data.strip():
        raise BadInputError("empty file")
    if b"\x00" in data[:8192]:
        raise BadInputError("binary file, not text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadInputError(f"not UTF-8 text (byte {exc.start})") from exc
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _clean_meta(raw: dict[str, Any]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    given = raw.get("date")
    if given not in (None, "") and normalise_date(given) is None:
        out["date_raw"] = " ".join(str(given).split())[:200]
    for key in META_FIELDS:
        value = raw.get(key)
        if key == "author" and isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        out[key] = (
            normalise_date(value)
            if key == "date"
            else (str(value).strip() or None if value is not None else None)
        )
    return out


def parse_text(text: str) -> tuple[dict[str, Any], str]:
    """A plain text article with an optional ``Key: value`` header block before a blank line."""
    lines = text.split("\n")
    header: dict[str, Any] = {}
    i = 0
    while i < len(lines) and lines[i].strip():
        m = re.match(r"^\s*([A-Za-z]+)\s*:\s*(.*?)\s*$", lines[i])
        if not m or m[1].lower() not in HEADER_KEYS:
            break
        header[m[1].lower()] = m[2]
        i += 1
    if header and (i == len(lines) or not lines[i].strip()):
        body = "\n".join(lines[i:]).strip("\n")
    else:
        header, body = {}, text.strip("\n")
    if "title" not in header:
        first = body.split("\n", 1)[0].strip()
        if first and len(first) <= 200 and not first.endswith((".", "?", "!")):
            header["title"] = first
    return header, body


def parse_markdown(text: str) -> tuple[dict[str, Any], str]:
    """Markdown with optional YAML front matter; the first ``# heading`` is the fallback title."""
    import yaml

    meta: dict[str, Any] = {}
    body = text
    m = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", text, re.S)
    if m:
        try:
            loaded = yaml.safe_load(m[1]) or {}
        except yaml.YAMLError as exc:
            raise BadInputError(f"front matter is not valid YAML: {exc}") from exc
        if not isinstance(loaded, dict):
            raise BadInputError("front matter is not a mapping")
        meta = {str(k).lower(): v for k, v in loaded.items()}
        body = text[m.end() :]
    body = body.strip("\n")
    if "title" not in meta:
        h = re.match(r"^#\s+(.+)$", body, re.M)
        if h:
            meta["title"] = h[1].strip()
    return meta, body


def parse_html(html: str) -> tuple[dict[str, Any], str]:
    """Main text and metadata of a news page via trafilatura; no network access is made."""
    import trafilatura

    doc = trafilatura.bare_extraction(
        html,
        with_metadata=True,
        include_comments=False,
        include_tables=False,
        favor_precision=True,
    )
    if doc is None:
        raise BadInputError("no article text found in the HTML")
    data = doc.as_dict() if hasattr(doc, "as_dict") else dict(doc)
    # trafilatura puts one paragraph a line; blank lines make them paragraphs for chunking.
    body = re.sub(r"\n\s*\n*", "\n\n", (data.get("text") or "").strip())
    if not body:
        raise BadInputError("no article text found in the HTML")
    meta = {
        "title": data.get("title"),
        "author": data.get("author"),
        "date": data.get("date"),
        "source": data.get("sitename") or data.get("hostname"),
        "url": data.get("url"),
    }
    return meta, body


def _article(aid: str, meta: dict[str, Any], body: str, path: str | None) -> Article:
    clean = _clean_meta(meta)
    return Article(id=aid, text=body, path=path, **clean)


def read_file(path: Path, article_id: str) -> Iterator[Article | Skip]:
    """Articles from one file. JSONL yields many; other formats one."""
    suffix = path.suffix.lower()
    try:
        text = _decode(path)
    except BadInputError as exc:
        yield Skip(str(path), None, str(exc))
        return
    except OSError as exc:
        yield Skip(str(path), None, f"cannot read: {exc.strerror or exc}")
        return
    if suffix in JSONL_SUFFIXES:
        yield from _read_jsonl(path, text)
        return
    if suffix in JSON_SUFFIXES:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            yield Skip(str(path), exc.lineno, f"not valid JSON: {exc.msg}")
            return
        records = data if isinstance(data, list) else [data]
        for n, rec in enumerate(records, 1):
            yield _from_record(rec, path, n, default_prefix=article_id)
        return
    try:
        if suffix in MARKDOWN_SUFFIXES:
            meta, body = parse_markdown(text)
        elif suffix in HTML_SUFFIXES:
            meta, body = parse_html(text)
        else:
            meta, body = parse_text(text)
    except BadInputError as exc:
        yield Skip(str(path), None, str(exc))
        return
    if not body.strip():
        yield Skip(str(path), None, "no article text")
        return
    aid = str(meta.get("id") or article_id)
    yield _article(aid, meta, body, str(path))


def jsonl_lines(text: str) -> Iterator[tuple[int, Any]]:
    """The one JSONL reader: (line number, parsed value) for each non-blank line, or (line
    number, the ``json.JSONDecodeError``) for a line that is not JSON; callers report it."""
    for n, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            yield n, json.loads(line)
        except json.JSONDecodeError as exc:
            yield n, exc


def _read_jsonl(path: Path, text: str) -> Iterator[Article | Skip]:
    for n, rec in jsonl_lines(text):
        if isinstance(rec, json.JSONDecodeError):
            yield Skip(str(path), n, f"not valid JSON: {rec.msg}")
            continue
        yield _from_record(rec, path, n, default_prefix=path.stem)


def _from_record(rec: Any, path: Path, line: int, *, default_prefix: str) -> Article | Skip:
    if not isinstance(rec, dict):
        return Skip(str(path), line, "not a JSON object")
    body = rec.get("text")
    if not isinstance(body, str) or not body.strip():
        return Skip(str(path), line, "no 'text' field with article text")
    body = body.replace("\r\n", "\n")
    raw_id = rec.get("id")
    aid = str(raw_id) if raw_id not in (None, "") else content_id(default_prefix, body)
    return _article(aid, rec, body, str(path))


def path_id(path: Path, root: Path | None) -> str:
    """A stable id from where the file sits under the folder that was named."""
    rel = path.relative_to(root) if root is not None else Path(path.name)
    return rel.with_suffix("").as_posix()


def iter_articles(paths: Iterable[Path]) -> Iterator[Article | Skip]:
    """Walk files and folders in a stable order; unsupported files in folders are skipped."""
    for given in paths:
        if not given.exists():
            raise BadInputError(f"no such file or folder: {given}")
        if given.is_dir():
            for path in sorted(p for p in given.rglob("*") if p.is_file()):
                if any(part.startswith(".") for part in path.relative_to(given).parts):
                    continue
                if FOLDER_IGNORES.match(path.name):
                    continue
                if path.suffix.lower() not in SUPPORTED:
                    yield Skip(str(path), None, f"unsupported file type {path.suffix or '(none)'}")
                    continue
                yield from read_file(path, path_id(path, given))
        else:
            if given.suffix.lower() not in SUPPORTED:
                yield Skip(
                    str(given),
                    None,
                    f"unsupported file type {given.suffix or '(none)'}; "
                    f"use one of {', '.join(sorted(SUPPORTED))}",
                )
                continue
            yield from read_file(given, path_id(given, None))
