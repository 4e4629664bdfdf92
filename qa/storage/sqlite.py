"""The document store: articles, chunks, offsets, annotations, vectors and a lexical index.

SQLite holds everything that defines the index, vectors included, so the FAISS file is a
derived artefact: it can always be rebuilt from here, and a generation number tells whether
the file on disk matches the store.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from qa.errors import CorruptIndexError
from qa.storage.base import (
    ARTICLE_COLUMNS,
    Scope,
    StoredArticle,
    article_row,
    filter_where,
    query_terms,
)
from qa.types import Article, Chunk, Filters, Span

SCHEMA_VERSION = "1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY,
    title TEXT, author TEXT, source TEXT, url TEXT, date TEXT, path TEXT,
    content_hash TEXT NOT NULL,
    text TEXT NOT NULL,
    sentences TEXT NOT NULL,
    entities TEXT NOT NULL,
    date_raw TEXT,
    group_id TEXT,
    ingested_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE INDEX IF NOT EXISTS articles_source ON articles(source);
CREATE INDEX IF NOT EXISTS articles_author ON articles(author);
CREATE INDEX IF NOT EXISTS articles_date ON articles(date);
CREATE TABLE IF NOT EXISTS signatures (
    article_id TEXT PRIMARY KEY REFERENCES articles(id) ON DELETE CASCADE,
    minhash BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    rowid INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    article_id TEXT NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    text TEXT NOT NULL,
    vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_article ON chunks(article_id);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    title, text, tokenize = 'porter unicode61 remove_diacritics 2'
);
"""


def _spans(raw: str) -> list[Span]:
    return [Span(*item) for item in json.loads(raw)]


def _article(row: sqlite3.Row) -> Article:
    return Article(
        id=row["id"],
        title=row["title"],
        text=row["text"],
        author=row["author"],
        source=row["source"],
        url=row["url"],
        date=row["date"],
        path=row["path"],
        # Stores written before date_raw existed lack the column (Row's `in` tests values).
        date_raw=row["date_raw"] if "date_raw" in row.keys() else None,  # noqa: SIM118
        group_id=row["group_id"] if "group_id" in row.keys() else None,  # noqa: SIM118
    )


class Store:
    """One SQLite file in WAL mode: readers never block the writer, nor see half a write.

    The writer has its own connection; every other thread reads through a connection of its
    own, because a connection sees its own uncommitted rows: a question answered on the
    writer's connection mid-commit could pair new chunk rows with the old FAISS file.
    """

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = path
        self.readonly = readonly
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._writer_thread: int | None = None
        try:
            if readonly:
                self.conn = sqlite3.connect(
                    path.absolute().as_uri() + "?mode=ro",
                    uri=True,
                    check_same_thread=False,
                    timeout=30,
                )
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                self.conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
            self.conn.row_factory = sqlite3.Row
            self.conn.execute("PRAGMA foreign_keys = ON")
            if not readonly:
                self.conn.execute("PRAGMA journal_mode = WAL")
                self.conn.execute("PRAGMA synchronous = NORMAL")
                self.conn.executescript(_SCHEMA)
                cols = {r[1] for r in self.conn.execute("PRAGMA table_info(articles)")}
                for col in ("date_raw", "group_id"):
                    if col not in cols:
                        # Additive columns: older stores gain them in place, their rows NULL
                        # (an article without a group is a group of one).
                        self.conn.execute(f"ALTER TABLE articles ADD COLUMN {col} TEXT")
                self.conn.execute("CREATE INDEX IF NOT EXISTS articles_group ON articles(group_id)")
                self.conn.execute(
                    "INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,)
                )
                self.conn.execute("INSERT OR IGNORE INTO meta VALUES ('generation', '0')")
                self.conn.commit()
            self.conn.execute("SELECT count(*) FROM articles").fetchone()
        except sqlite3.DatabaseError as exc:
            raise CorruptIndexError(
                f"the document store {path} is unreadable ({exc}); rebuild it with "
                "`ask ingest --rebuild PATH...` (or remove the data directory and ingest again)"
            ) from exc

    def close(self) -> None:
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
        self._local = threading.local()
        self.conn.close()

    @property
    def db(self) -> sqlite3.Connection:
        """The connection reads go through: the writer's inside its own transaction (it must
        see what it is writing), otherwise this thread's own read connection."""
        if self._writer_thread == threading.get_ident():
            return self.conn
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            uri = self.path.absolute().as_uri() + "?mode=ro"
            conn = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=30)
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads inside see one committed state of the store, however long they take."""
        conn = self.db
        if conn is self.conn or conn.in_transaction:
            yield
            return
        conn.execute("BEGIN")
        try:
            yield
        finally:
            conn.rollback()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """An immediate transaction: one writer at a time, all or nothing."""
        self.conn.execute("BEGIN IMMEDIATE")
        self._writer_thread = threading.get_ident()
        try:
            yield self.conn
        except BaseException:
            self.conn.rollback()
            raise
        else:
            self.conn.commit()
        finally:
            self._writer_thread = None

    # -- reads ---------------------------------------------------------------------------
    def meta(self, key: str, default: str | None = None) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def generation(self) -> int:
        return int(self.meta("generation", "0") or 0)

    def content_hash(self, article_id: str) -> str | None:
        row = self.db.execute(
            "SELECT content_hash FROM articles WHERE id = ?", (article_id,)
        ).fetchone()
        return row[0] if row else None

    def article(self, article_id: str) -> Article | None:
        row = self.db.execute("SELECT * FROM articles WHERE id = ?", (article_id,)).fetchone()
        return _article(row) if row else None

    def article_ids(self) -> set[str]:
        return {row[0] for row in self.db.execute("SELECT id FROM articles")}

    def articles(self, limit: int = 1000, offset: int = 0) -> list[Article]:
        rows = self.db.execute(
            "SELECT * FROM articles ORDER BY date DESC, id LIMIT ? OFFSET ?", (limit, offset)
        ).fetchall()
        return [_article(r) for r in rows]

    def annotations(self, article_id: str) -> tuple[list[Span], list[Span]]:
        row = self.db.execute(
            "SELECT sentences, entities FROM articles WHERE id = ?", (article_id,)
        ).fetchone()
        if row is None:
            return [], []
        return _spans(row[0]), _spans(row[1])

    def chunks_by_rowid(self, rowids: Sequence[int]) -> dict[int, tuple[Chunk, Article]]:
        """Passages and their articles by FAISS id."""
        if not rowids:
            return {}
        marks = ",".join("?" * len(rowids))
        rows = self.db.execute(
            f"SELECT c.rowid AS crow, c.id AS cid, c.article_id, c.idx, c.start, c.end, "
            f"c.text AS ctext, a.* FROM chunks c JOIN articles a ON a.id = c.article_id "
            f"WHERE c.rowid IN ({marks})",
            list(rowids),
        ).fetchall()
        out = {}
        for r in rows:
            chunk = Chunk(r["cid"], r["article_id"], r["idx"], r["start"], r["end"], r["ctext"])
            out[int(r["crow"])] = (chunk, _article(r))
        return out

    def chunks_of(self, article_id: str) -> list[Chunk]:
        rows = self.db.execute(
            "SELECT id, article_id, idx, start, end, text FROM chunks WHERE article_id = ? "
            "ORDER BY idx",
            (article_id,),
        ).fetchall()
        return [Chunk(*r) for r in rows]

    def scope(self, filters: Filters) -> Scope:
        """The ids of the passages in ``filters``: FAISS and FTS5 both take an id list."""
        return self.filtered_rowids(filters)

    def filtered_rowids(self, filters: Filters) -> list[int]:
        """The FAISS ids of the passages whose articles pass ``filters``."""
        cond, args = filter_where(filters, "sqlite", "?")
        sql = "SELECT c.rowid FROM chunks c JOIN articles a ON a.id = c.article_id WHERE " + cond
        return [r[0] for r in self.db.execute(sql, args)]

    def lexical_search(self, query: str, k: int, allowed: Scope = None) -> list[tuple[int, float]]:
        """BM25 over chunk text (and the article title, weighted lower), porter-stemmed."""
        terms = query_terms(query)
        if not terms:
            return []
        match = " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
        sql = (
            "SELECT rowid, bm25(chunks_fts, 0.3, 1.0) AS s FROM chunks_fts WHERE chunks_fts MATCH ?"
        )
        args: list[Any] = [match]
        if allowed is not None:
            if not allowed:
                return []
            sql += f" AND rowid IN ({','.join('?' * len(allowed))})"
            args.extend(allowed)
        sql += " ORDER BY s LIMIT ?"
        args.append(k)
        return [(int(r[0]), -float(r[1])) for r in self.db.execute(sql, args)]

    def document_frequencies(self, terms: Iterable[str]) -> dict[str, int]:
        """How many chunks' text holds each term (porter-stemmed as the index is)."""
        out: dict[str, int] = {}
        for t in terms:
            row = self.db.execute(
                "SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?",
                ('text : "' + t.replace('"', '""') + '"',),
            ).fetchone()
            out[t] = int(row[0])
        return out

    def vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """All (rowids, vectors) as arrays; the source of truth for the FAISS file."""
        rows = self.db.execute("SELECT rowid, vector FROM chunks ORDER BY rowid").fetchall()
        if not rows:
            return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        vecs = np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows])
        return ids, vecs

    def vectors_of(self, rowids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """(rowids, vectors) of chosen passages, in the order asked."""
        ids = np.asarray(list(rowids), dtype=np.int64)
        if ids.size == 0:
            return ids, np.zeros((0, 0), dtype=np.float32)
        found: dict[int, bytes] = {}
        for start in range(0, ids.size, 500):
            part = [int(i) for i in ids[start : start + 500]]
            marks = ",".join("?" * len(part))
            for r in self.db.execute(
                f"SELECT rowid, vector FROM chunks WHERE rowid IN ({marks})", part
            ):
                found[int(r[0])] = r[1]
        keep = np.asarray([i for i in ids if int(i) in found], dtype=np.int64)
        vecs = np.stack([np.frombuffer(found[int(i)], dtype=np.float32) for i in keep])
        return keep, vecs

    def ids_in_order(self) -> list[str]:
        """Article ids, first stored first (the order groups pick representatives by)."""
        return [r[0] for r in self.db.execute("SELECT id FROM articles ORDER BY rowid")]

    def stored(self, article_id: str) -> StoredArticle | None:
        """Everything kept for one article, vectors included: what a migration copies."""
        row = self.db.execute("SELECT * FROM articles WHERE id = ?", (article_id,)).fetchone()
        if row is None:
            return None
        sig = self.db.execute(
            "SELECT minhash FROM signatures WHERE article_id = ?", (article_id,)
        ).fetchone()
        rows = self.db.execute(
            "SELECT id, article_id, idx, start, end, text, vector FROM chunks "
            "WHERE article_id = ? ORDER BY idx",
            (article_id,),
        ).fetchall()
        dim = len(rows[0][6]) // 4 if rows else 0
        return StoredArticle(
            article=_article(row),
            content_hash=row["content_hash"],
            sentences=_spans(row["sentences"]),
            entities=_spans(row["entities"]),
            chunks=[Chunk(*r[:6]) for r in rows],
            vectors=(
                np.stack([np.frombuffer(r[6], dtype=np.float32) for r in rows])
                if rows
                else np.zeros((0, dim), dtype=np.float32)
            ),
            group_id=row["group_id"] if "group_id" in row.keys() else None,  # noqa: SIM118
            minhash=bytes(sig[0]) if sig else None,
        )

    def group_of(self, article: Article) -> list[Article]:
        """Every article of ``article``'s group (itself included), first stored first: the
        first is the group's representative, so deleting it promotes the next copy."""
        if article.group_id is None:
            return [article]
        rows = self.db.execute(
            "SELECT * FROM articles WHERE group_id = ? ORDER BY rowid", (article.group_id,)
        ).fetchall()
        return [_article(r) for r in rows] or [article]

    def groups(self) -> tuple[int, int]:
        """(groups, copies): articles counted once per group, and the articles beyond the
        first of each group."""
        row = self.db.execute(
            "SELECT count(DISTINCT coalesce(group_id, id)), count(*) FROM articles"
        ).fetchone()
        return int(row[0]), int(row[1]) - int(row[0])

    def signatures(self) -> list[tuple[str, str, bytes]]:
        """(article id, group, MinHash) of every article ingested with a signature."""
        return [
            (r[0], r[1], bytes(r[2]))
            for r in self.db.execute(
                "SELECT s.article_id, coalesce(a.group_id, a.id), s.minhash FROM signatures s "
                "JOIN articles a ON a.id = s.article_id"
            )
        ]

    def counts(self) -> tuple[int, int]:
        a = self.db.execute("SELECT count(*) FROM articles").fetchone()[0]
        c = self.db.execute("SELECT count(*) FROM chunks").fetchone()[0]
        return int(a), int(c)

    # -- writes (inside ``write()``) -----------------------------------------------------
    @staticmethod
    def delete_article(conn: sqlite3.Connection, article_id: str) -> bool:
        rowids = [
            r[0]
            for r in conn.execute("SELECT rowid FROM chunks WHERE article_id = ?", (article_id,))
        ]
        conn.executemany("DELETE FROM chunks_fts WHERE rowid = ?", [(r,) for r in rowids])
        conn.execute("DELETE FROM chunks WHERE article_id = ?", (article_id,))
        conn.execute("DELETE FROM signatures WHERE article_id = ?", (article_id,))
        cur = conn.execute("DELETE FROM articles WHERE id = ?", (article_id,))
        return cur.rowcount > 0

    @staticmethod
    def put_article(
        conn: sqlite3.Connection,
        article: Article,
        content_hash: str,
        sentences: list[Span],
        entities: list[Span],
        chunks: list[Chunk],
        vectors: np.ndarray,
        group_id: str | None = None,
        minhash: bytes | None = None,
    ) -> None:
        """Write an article with its passages, vectors and annotations (inside a write
        transaction), in its near-duplicate group with its signature when given."""
        Store.delete_article(conn, article.id)
        conn.execute(
            f"INSERT INTO articles ({ARTICLE_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            article_row(article, content_hash, sentences, entities, group_id),
        )
        if minhash is not None:
            conn.execute("INSERT INTO signatures VALUES (?, ?)", (article.id, minhash))
        for chunk, vec in zip(chunks, vectors, strict=True):
            cur = conn.execute(
                "INSERT INTO chunks (id, article_id, idx, start, end, text, vector) "
                "VALUES (?,?,?,?,?,?,?)",
                (
                    chunk.id,
                    chunk.article_id,
                    chunk.index,
                    chunk.start,
                    chunk.end,
                    chunk.text,
                    np.asarray(vec, dtype=np.float32).tobytes(),
                ),
            )
            conn.execute(
                "INSERT INTO chunks_fts (rowid, title, text) VALUES (?,?,?)",
                (cur.lastrowid, article.title or "", chunk.text),
            )

    @staticmethod
    def set_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
        conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))


class SqliteWriter:
    """One batch's writes on the writer's connection (see ``Store.write``), remembering which
    passage ids went and came so the FAISS index can be updated rather than rebuilt."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.removed: list[int] = []
        self.added: list[int] = []

    def _rowids(self, article_id: str) -> list[int]:
        return [
            int(r[0])
            for r in self.conn.execute(
                "SELECT rowid FROM chunks WHERE article_id = ? ORDER BY rowid", (article_id,)
            )
        ]

    def _forget(self, rowids: list[int]) -> None:
        gone = set(rowids)
        fresh = [i for i in self.added if i not in gone]
        self.removed += [i for i in rowids if i not in set(self.added)]
        self.added = fresh

    def put_article(self, stored: StoredArticle) -> None:
        article_id = stored.article.id
        self._forget(self._rowids(article_id))
        Store.put_article(
            self.conn,
            stored.article,
            stored.content_hash,
            stored.sentences,
            stored.entities,
            stored.chunks,
            stored.vectors,
            group_id=stored.group_id,
            minhash=stored.minhash,
        )
        self.added += self._rowids(article_id)

    def delete_article(self, article_id: str) -> bool:
        self._forget(self._rowids(article_id))
        return Store.delete_article(self.conn, article_id)

    def adopt_group(self, article_id: str, group_id: str) -> None:
        self.conn.execute(
            "UPDATE articles SET group_id = ? WHERE id = ? AND group_id IS NULL",
            (group_id, article_id),
        )
