"""Chat sessions and their turns, kept in ``chat.sqlite`` beside (never inside) the index."""

from __future__ import annotations

import sqlite3
import threading
import uuid
from pathlib import Path

from qa.chat.followup import Turn


class ConversationStore:
    """Sessions and their turns, in ``chat.sqlite`` beside (never inside) the index store."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.executescript(
            """
            CREATE TABLE IF NOT EXISTS sessions (
                id TEXT PRIMARY KEY,
                created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')));
            CREATE TABLE IF NOT EXISTS turns (
                session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
                n INTEGER NOT NULL, question TEXT NOT NULL, searched_query TEXT NOT NULL,
                answer TEXT NOT NULL, PRIMARY KEY (session_id, n));
            """
        )
        self.conn.commit()

    def create(self) -> str:
        sid = uuid.uuid4().hex
        with self._lock, self.conn:
            self.conn.execute("INSERT INTO sessions (id) VALUES (?)", (sid,))
        return sid

    def exists(self, session_id: str) -> bool:
        row = self.conn.execute("SELECT 1 FROM sessions WHERE id = ?", (session_id,)).fetchone()
        return row is not None

    def turns(self, session_id: str) -> list[Turn]:
        rows = self.conn.execute(
            "SELECT question, searched_query, answer FROM turns WHERE session_id = ? ORDER BY n",
            (session_id,),
        ).fetchall()
        return [Turn(*r) for r in rows]

    def append(self, session_id: str, turn: Turn) -> None:
        with self._lock, self.conn:
            n = self.conn.execute(
                "SELECT coalesce(max(n), 0) + 1 FROM turns WHERE session_id = ?", (session_id,)
            ).fetchone()[0]
            self.conn.execute(
                "INSERT INTO turns VALUES (?,?,?,?,?)",
                (session_id, n, turn.question, turn.searched_query, turn.answer),
            )

    def close(self) -> None:
        self.conn.close()
