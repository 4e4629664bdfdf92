"""Sentence-aware chunking that keeps every chunk's character offsets in its article."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from qa.types import Chunk, Span

_PARA_BREAK = re.compile(r"\n\s*\n")
_WORD = re.compile(r"\S+")


def paragraphs(text: str) -> list[tuple[int, int]]:
    """(start, end) of each blank-line separated paragraph, whitespace trimmed."""
    out: list[tuple[int, int]] = []
    pos = 0
    for m in [*_PARA_BREAK.finditer(text), None]:
        end = m.start() if m else len(text)
        seg = text[pos:end]
        lead = len(seg) - len(seg.lstrip())
        s, e = pos + lead, pos + len(seg.rstrip())
        if e > s:
            out.append((s, e))
        if m:
            pos = m.end()
    return out


@dataclass
class SentenceSplitter:
    """pysbd, per paragraph, mapped back to article offsets (pysbd's own spans drift)."""

    @cached_property
    def _segmenter(self) -> Any:
        import pysbd

        return pysbd.Segmenter(language="en", clean=False)

    def split(self, text: str) -> list[Span]:
        spans: list[Span] = []
        for p_start, p_end in paragraphs(text):
            para = text[p_start:p_end]
            cursor = 0
            for sent in self._segmenter.segment(para):
                piece = sent.strip()
                if not piece:
                    continue
                at = para.find(piece, cursor)
                if at < 0:  # pysbd normalised something; fall back to a whitespace-tolerant search
                    at = cursor + (len(para[cursor:]) - len(para[cursor:].lstrip()))
                    piece = para[at : at + len(piece)]
                spans.extend(_split_lines(para, at, at + len(piece), p_start))
                cursor = at + len(piece)
        return spans


def _split_lines(para: str, start: int, end: int, offset: int) -> list[Span]:
    """Single line breaks inside a paragraph still end a sentence-like unit (bullets, headers)."""
    out = []
    pos = start
    for line in para[start:end].split("\n"):
        s = pos + (len(line) - len(line.lstrip()))
        e = pos + len(line.rstrip())
        if e > s:
            out.append(Span(offset + s, offset + e))
        pos += len(line) + 1
    return out


def count_words(text: str) -> int:
    return len(_WORD.findall(text))


def make_chunks(
    article_id: str,
    text: str,
    sentences: list[Span],
    *,
    chunk_words: int,
    overlap: int,
    count: Callable[[str], int] = count_words,
) -> list[Chunk]:
    """Pack whole sentences into windows of at most ``chunk_words`` words.

    Short paragraphs are merged (news often has one-sentence paragraphs); a paragraph longer
    than a window is cut into windows that repeat ``overlap`` sentences, so an answer near a
    cut is still whole in one chunk. A window never starts mid-sentence.
    """
    paras = paragraphs(text)
    groups: list[list[Span]] = [[] for _ in paras]
    p = 0
    for s in sentences:
        while p < len(paras) - 1 and s.start >= paras[p][1]:
            p += 1
        if paras:
            groups[p].append(s)
    windows: list[list[Span]] = []
    current: list[Span] = []
    current_words = 0

    def flush() -> None:
        nonlocal current, current_words
        if current:
            windows.append(current)
        current, current_words = [], 0

    for group in groups:
        if not group:
            continue
        words = [count(text[s.start : s.end]) for s in group]
        total = sum(words)
        if total <= chunk_words:
            if current_words + total > chunk_words:
                flush()
            current.extend(group)
            current_words += total
            continue
        flush()
        win: list[Span] = []
        win_words: list[int] = []
        for s, w in zip(group, words, strict=True):
            if win and sum(win_words) + w > chunk_words:
                windows.append(win)
                keep = min(overlap, len(win) - 1) if overlap else 0
                win, win_words = (win[-keep:], win_words[-keep:]) if keep else ([], [])
            win.append(s)
            win_words.append(w)
        current, current_words = win, sum(win_words)
    flush()
    return [
        Chunk(
            id=f"{article_id}#{i}",
            article_id=article_id,
            index=i,
            start=w[0].start,
            end=w[-1].end,
            text=text[w[0].start : w[-1].end],
        )
        for i, w in enumerate(windows)
    ]
