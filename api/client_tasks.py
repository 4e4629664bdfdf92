"""Chat clients' background task prompts, answered cheaply and never as questions.

Open WebUI sends its own prompts to the chat model besides the user's turns: a chat title,
tags, follow-up suggestions, search queries, autocompletion. Each starts with ``### Task:``
and asks for a JSON object (``JSON format: { "title": ... }``). Sent through retrieval they
cost a search each and answer nonsense; here a title is made from the first question and
every other task gets an empty list or string, which Open WebUI reads as "none".
"""

from __future__ import annotations

import json
import re

_TASK = re.compile(r"^\s*###\s*Task:", re.IGNORECASE)
_KEY = re.compile(r'JSON format:\s*\{\s*"(\w+)"', re.IGNORECASE)
_HISTORY = re.compile(r"<chat_history>(.*?)</chat_history>", re.DOTALL | re.IGNORECASE)
_FIRST_USER = re.compile(r"^\s*USER:\s*(.+)$", re.MULTILINE)
TITLE_WORDS = 6
"""Open WebUI asks for a 3-5 word title; a question's first six words usually name it."""
_LISTS = {"tags", "follow_ups", "queries"}


def task_of(text: str) -> str | None:
    """The JSON key a task prompt asks for (``title``, ``tags``...), ``"task"`` for one in
    another form; None for a real user message."""
    if not _TASK.match(text):
        return None
    m = _KEY.search(text)
    return m.group(1).lower() if m else "task"


def _title(text: str) -> str:
    history = _HISTORY.search(text)
    first = _FIRST_USER.search(history.group(1) if history else "")
    words = (first.group(1) if first else "").strip().rstrip("?.!").split()
    title = " ".join(words[:TITLE_WORDS])
    return title or "Questions about the articles"


def task_reply(task: str, text: str) -> str:
    """The JSON content answering a task prompt."""
    if task == "title":
        return json.dumps({"title": _title(text)}, ensure_ascii=False)
    if task in _LISTS:
        return json.dumps({task: []})
    if task == "task":
        return "{}"
    return json.dumps({task: ""})
