"""PostgreSQL + pgvector as the store: articles, passages, vectors, full text and the
manifest in one database, chosen with ``QA_STORE=postgresql://...``.

- Passages: ``chunk id`` primary key and an identity ``rowid`` that retrieval speaks; an
  HNSW cosine index on the vectors; a generated, weighted ``tsvector`` (text A, title B)
  with a GIN index; b-trees on the filter columns.
- Writes: one transaction per ingest batch (the ``qa_meta`` generation row is locked first,
  so writers queue), article rows upserted, their passages replaced, so a re-run or a
  batch retried after a lost connection leaves the same rows.
- Filters are pushed into SQL; a filtered dense search uses ``hnsw.iterative_scan`` so it
  still returns k rows when the filter is selective.
- Lexical ranking: FTS5's BM25 (k1 1.2, b 0.75, title weighted 0.3) recomputed over the
  candidates the GIN index finds, so both stores rank alike; Postgres stems with Snowball
  English where SQLite uses Porter, and drops its own stopwords (README, "Stores").
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from qa.errors import IndexError_, ModelMismatchError
from qa.storage.base import (
    ARTICLE_COLUMNS,
    Scope,
    StoredArticle,
    Writer,
    article_row,
    filter_where,
    query_terms,
)
from qa.storage.manifest import Manifest, check_manifest
from qa.types import Article, Chunk, Filters, Span

ENCODER_DIR = "encoder"
K1, B, TITLE_WEIGHT = 1.2, 0.75, 0.3
"""FTS5's defaults and the embedded store's ``bm25(chunks_fts, 0.3, 1.0)``."""
LEXICAL_POOL = 4
"""Candidates fetched per lexical hit wanted (ranked by ``ts_rank_cd``, then re-scored by
BM25): with 4x, the top-10 shares 97% of its passages with the embedded store's
(bench/stores.py, news and SQuAD v1.1 questions)."""
EF_SEARCH = 128
"""HNSW candidate list per query (pgvector's default is 40): at 128, recall@10 against
exact search is 1.000 at 100,000 passages (bench/scale.py --postgres)."""
LARGE = 500_000
EF_SEARCH_LARGE = 512
"""From ``LARGE`` passages the list widens: at 1M synthetic passages (m 16) recall@10 is
0.67 at 128, 0.81 at 256 and 0.90 at 512, p50 6.2 / 8.2 / 12.8 ms (bench/scale.py
--sizes 1000000 --postgres)."""

_LEXEME = re.compile(r"'((?:[^']|'')+)':([0-9A-D,]+)")


class StoreUnavailableError(IndexError_):
    """The database cannot be reached, refuses the credentials, or went away mid-way."""


def masked(url: str) -> str:
    """``url`` without its password, for messages and ``ask stats``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _unavailable(url: str, exc: Exception) -> StoreUnavailableError:
    parts = urlsplit(url)
    where = f"{parts.hostname or 'localhost'}:{parts.port or 5432}"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    hint = (
        "check the user and password in QA_STORE"
        if "authentication" in first or "password" in first
        else "is the server running, and is QA_STORE right?"
    )
    return StoreUnavailableError(
        f"the PostgreSQL store at {where} ({masked(url)}) is unavailable: {first}; {hint}"
    )


def _vector_text(vec: np.ndarray) -> str:
    # repr of a float32 widened to a double round-trips exactly through pgvector's float4.
    return "[" + ",".join(map(repr, np.asarray(vec, dtype=np.float32).tolist())) + "]"


def _schema(dim: int) -> str:
    return f"""
CREATE EXTENSION IF NOT EXISTS vector;
CREATE TABLE IF NOT EXISTS qa_meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE IF NOT EXISTS qa_articles (
    id text PRIMARY KEY,
    seq bigint GENERATED ALWAYS AS IDENTITY,
    title text, author text, source text, url text, date text, path text,
    content_hash text NOT NULL,
    text text NOT NULL,
    sentences jsonb NOT NULL,
    entities jsonb NOT NULL,
    date_raw text,
    group_id text,
    minhash bytea,
    ingested_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS qa_articles_source ON qa_articles (lower(source));
CREATE INDEX IF NOT EXISTS qa_articles_author ON qa_articles (author);
CREATE INDEX IF NOT EXISTS qa_articles_date ON qa_articles (date);
CREATE INDEX IF NOT EXISTS qa_articles_group ON qa_articles (group_id);
CREATE TABLE IF NOT EXISTS qa_chunks (
    id text PRIMARY KEY,
    rowid bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    article_id text NOT NULL REFERENCES qa_articles (id) ON DELETE CASCADE,
    idx integer NOT NULL,
    start integer NOT NULL,
    "end" integer NOT NULL,
    text text NOT NULL,
    title text NOT NULL,
    ntokens integer NOT NULL,
    embedding vector({dim}) NOT NULL,
    tsv tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', text), 'A')
        || setweight(to_tsvector('english', title), 'B')
    ) STORED
);
CREATE INDEX IF NOT EXISTS qa_chunks_article ON qa_chunks (article_id);
CREATE INDEX IF NOT EXISTS qa_chunks_tsv ON qa_chunks USING gin (tsv);
CREATE INDEX IF NOT EXISTS qa_chunks_hnsw ON qa_chunks
    USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64);
INSERT INTO qa_meta VALUES ('generation', '0') ON CONFLICT DO NOTHING;
"""


def _article(row: Sequence[Any]) -> Article:
    return Article(
        id=row[0],
        title=row[1],
        text=row[-1],
        author=row[2],
        source=row[3],
        url=row[4],
        date=row[5],
        path=row[6],
        date_raw=row[7],
        group_id=row[8],
    )


_SELECT_ARTICLE = (
    "SELECT a.id, a.title, a.author, a.source, a.url, a.date, a.path, a.date_raw, "
    "a.group_id, a.text FROM qa_articles a"
)


@dataclass(frozen=True)
class PgScope:
    """Filters kept as filters: Postgres applies them in the search's own SQL."""

    filters: Filters

    def sql(self) -> tuple[str, list[Any]]:
        """A condition on ``c.article_id`` and its parameters."""
        cond, args = filter_where(self.filters, "postgres", "%s")
        return f"c.article_id IN (SELECT a.id FROM qa_articles a WHERE {cond})", args


def _scope_sql(allowed: Scope) -> tuple[str, list[Any]]:
    if allowed is None:
        return "TRUE", []
    if isinstance(allowed, PgScope):
        return allowed.sql()
    return "c.rowid = ANY(%s)", [list(allowed)]


class _Connections:
    """One connection per thread (a question answered mid-commit must not see the writer's
    uncommitted rows), reconnected after the server went away."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._local = threading.local()
        self._all: list[Any] = []
        self._lock = threading.Lock()

    def connect(self) -> Any:
        import psycopg

        try:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            raise _unavailable(self.url, exc) from exc
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        return conn

    def get(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = self.connect()
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with suppress(Exception):
                conn.close()

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                with suppress(Exception):
                    conn.close()
            self._all.clear()
        self._local = threading.local()


class PgStore:
    """The reads of :class:`qa.storage.base.StoreReads` in SQL."""

    def __init__(self, connections: _Connections) -> None:
        self._c = connections
        self._avgdl: tuple[int, float] | None = None
        self._counts: tuple[int, tuple[int, int]] | None = None

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        import psycopg

        conn = self._c.get()
        try:
            with conn.cursor() as cur:
                yield cur
        except psycopg.OperationalError as exc:
            self._c.drop()
            raise _unavailable(self._c.url, exc) from exc

    def _all(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        """Rows of ``sql``; none before the first ingest has created the tables."""
        import psycopg

        with self._cursor() as cur:
            try:
                cur.execute(sql, args)
            except psycopg.errors.UndefinedTable:
                if not self.tables_exist():
                    return []
                raise
            return list(cur.fetchall())

    def _one(self, sql: str, args: Sequence[Any] = ()) -> Any:
        rows = self._all(sql, args)
        return rows[0] if rows else None

    def forget(self) -> None:
        """Drop what is cached per generation (the tables were dropped: generations restart)."""
        self._avgdl = None
        self._counts = None

    def tables_exist(self) -> bool:
        with self._cursor() as cur:
            cur.execute("SELECT to_regclass('qa_chunks') IS NOT NULL")
            row = cur.fetchone()
        return bool(row and row[0])

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads inside see one committed state (a repeatable-read transaction)."""
        import psycopg

        conn = self._c.get()
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            yield
            return
        try:
            with conn.transaction():
                yield
        except psycopg.OperationalError as exc:
            self._c.drop()
            raise _unavailable(self._c.url, exc) from exc

    def meta(self, key: str, default: str | None = None) -> str | None:
        row = self._one("SELECT value FROM qa_meta WHERE key = %s", (key,))
        return row[0] if row else default

    def generation(self) -> int:
        return int(self.meta("generation", "0") or 0)

    def content_hash(self, article_id: str) -> str | None:
        row = self._one("SELECT content_hash FROM qa_articles WHERE id = %s", (article_id,))
        return row[0] if row else None

    def article(self, article_id: str) -> Article | None:
        row = self._one(_SELECT_ARTICLE + " WHERE a.id = %s", (article_id,))
        return _article(row) if row else None

    def article_ids(self) -> set[str]:
        return {r[0] for r in self._all("SELECT id FROM qa_articles")}

    def articles(self, limit: int = 1000, offset: int = 0) -> list[Article]:
        rows = self._all(
            # SQLite sorts NULL first ascending, so last descending: the same order here.
            _SELECT_ARTICLE + " ORDER BY a.date DESC NULLS LAST, a.id LIMIT %s OFFSET %s",
            (limit, offset),
        )
        return [_article(r) for r in rows]

    def annotations(self, article_id: str) -> tuple[list[Span], list[Span]]:
        row = self._one("SELECT sentences, entities FROM qa_articles WHERE id = %s", (article_id,))
        if row is None:
            return [], []
        return [Span(*s) for s in row[0]], [Span(*s) for s in row[1]]

    def chunks_by_rowid(self, rowids: Sequence[int]) -> dict[int, tuple[Chunk, Article]]:
        if not rowids:
            return {}
        rows = self._all(
            'SELECT c.rowid, c.id, c.article_id, c.idx, c.start, c."end", c.text, '
            "a.id, a.title, a.author, a.source, a.url, a.date, a.path, a.date_raw, "
            "a.group_id, a.text FROM qa_chunks c JOIN qa_articles a ON a.id = c.article_id "
            "WHERE c.rowid = ANY(%s)",
            ([int(i) for i in rowids],),
        )
        return {int(r[0]): (Chunk(*r[1:7]), _article(r[7:])) for r in rows}

    def chunks_of(self, article_id: str) -> list[Chunk]:
        rows = self._all(
            'SELECT id, article_id, idx, start, "end", text FROM qa_chunks '
            "WHERE article_id = %s ORDER BY idx",
            (article_id,),
        )
        return [Chunk(*r) for r in rows]

    def scope(self, filters: Filters) -> Scope:
        return PgScope(filters)

    # -- lexical ---------------------------------------------------------------------------
    def _stems(self, terms: Sequence[str]) -> dict[str, list[str]]:
        """Each query term's lexemes under the index's own text search configuration."""
        rows = self._all(
            "SELECT t, to_tsvector('english', t)::text FROM unnest(%s::text[]) AS t",
            (list(terms),),
        )
        return {t: [m.group(1) for m in _LEXEME.finditer(v or "")] for t, v in rows}

    @staticmethod
    def _tsquery(lexemes: Iterable[str], weight: str = "") -> str:
        quoted = [
            "'" + lex.replace("'", "''") + "'" + (":" + weight if weight else "") for lex in lexemes
        ]
        return " | ".join(dict.fromkeys(quoted))

    def _average_length(self) -> float:
        generation = self.generation()
        if self._avgdl is None or self._avgdl[0] != generation:
            row = self._one("SELECT coalesce(avg(ntokens), 1) FROM qa_chunks")
            self._avgdl = (generation, float(row[0]) or 1.0)
        return self._avgdl[1]

    def lexical_search(self, query: str, k: int, allowed: Scope = None) -> list[tuple[int, float]]:
        """BM25 as the embedded store computes it (see the module's docstring)."""
        terms = query_terms(query)
        if not terms or k <= 0:
            return []
        stems = self._stems(terms)
        lexemes = sorted({lex for t in terms for lex in stems.get(t, [])})
        if not lexemes:
            return []
        cond, args = _scope_sql(allowed)
        rows = self._all(
            "SELECT c.rowid, c.tsv::text, c.ntokens FROM qa_chunks c, "
            "CAST(%s AS tsquery) AS q WHERE c.tsv @@ q AND " + cond + " "
            "ORDER BY ts_rank_cd(c.tsv, q, 1) DESC, c.rowid LIMIT %s",
            [self._tsquery(lexemes), *args, max(k * LEXICAL_POOL, 200)],
        )
        if not rows:
            return []
        n = self.counts()[1]
        df = self._lexeme_frequencies(lexemes)
        avgdl = self._average_length()
        wanted = set(lexemes)
        scored = []
        for rowid, tsv, ntokens in rows:
            tf: dict[str, float] = {}
            for m in _LEXEME.finditer(tsv):
                lex = m.group(1).replace("''", "'")
                if lex not in wanted:
                    continue
                for pos in m.group(2).split(","):
                    tf[lex] = tf.get(lex, 0.0) + (TITLE_WEIGHT if pos.endswith("B") else 1.0)
            norm = K1 * (1 - B + B * ntokens / avgdl)
            score = sum(
                _idf(df.get(lex, 0), n) * (f * (K1 + 1)) / (f + norm) for lex, f in tf.items()
            )
            scored.append((int(rowid), score))
        scored.sort(key=lambda x: (-x[1], x[0]))
        return scored[:k]

    def _lexeme_frequencies(self, lexemes: Sequence[str]) -> dict[str, int]:
        rows = self._all(
            "SELECT l, (SELECT count(*) FROM qa_chunks c WHERE c.tsv @@ CAST("
            "quote_literal(l) AS tsquery)) FROM unnest(%s::text[]) AS l",
            (list(lexemes),),
        )
        return {r[0]: int(r[1]) for r in rows}

    def document_frequencies(self, terms: Iterable[str]) -> dict[str, int]:
        """How many passages' text (not title) holds each term, stemmed as the index is."""
        terms = list(terms)
        if not terms:
            return {}
        stems = self._stems(terms)
        out: dict[str, int] = {}
        for t in terms:
            lexemes = stems.get(t) or []
            if not lexemes:
                out[t] = 0
                continue
            row = self._one(
                "SELECT count(*) FROM qa_chunks WHERE tsv @@ CAST(%s AS tsquery)",
                (self._tsquery(lexemes, "A"),),
            )
            out[t] = int(row[0])
        return out

    # -- the rest ----------------------------------------------------------------------------
    def vectors(self) -> tuple[np.ndarray, np.ndarray]:
        rows = self._all("SELECT rowid, embedding::text FROM qa_chunks ORDER BY rowid")
        if not rows:
            return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        vecs = np.stack([np.array(json.loads(r[1]), dtype=np.float32) for r in rows])
        return ids, vecs

    def group_of(self, article: Article) -> list[Article]:
        if article.group_id is None:
            return [article]
        rows = self._all(
            _SELECT_ARTICLE + " WHERE a.group_id = %s ORDER BY a.seq", (article.group_id,)
        )
        return [_article(r) for r in rows] or [article]

    def groups(self) -> tuple[int, int]:
        row = self._one(
            "SELECT count(DISTINCT coalesce(group_id, id)), count(*) FROM qa_articles"
        ) or (0, 0)
        return int(row[0]), int(row[1]) - int(row[0])

    def signatures(self) -> list[tuple[str, str, bytes]]:
        return [
            (r[0], r[1], bytes(r[2]))
            for r in self._all(
                "SELECT id, coalesce(group_id, id), minhash FROM qa_articles "
                "WHERE minhash IS NOT NULL"
            )
        ]

    def counts(self) -> tuple[int, int]:
        """(articles, passages), counted once per generation: every question needs the
        passage count (BM25's idf, the dense index's size), and ``count(*)`` scans the
        table, tens of ms at a million rows. Every write bumps the generation in its own
        transaction, so a cached count is never stale."""
        generation = self.generation()
        cached = self._counts
        if cached is not None and cached[0] == generation:
            return cached[1]
        row = self._one(
            "SELECT (SELECT count(*) FROM qa_articles), (SELECT count(*) FROM qa_chunks)"
        ) or (0, 0)
        counts = (int(row[0]), int(row[1]))
        self._counts = (generation, counts)
        return counts


def _idf(df: int, n: int) -> float:
    # FTS5's BM25 idf, floored as FTS5 floors it (1e-6) for terms in most rows.
    value = math.log((n - df + 0.5) / (df + 0.5))
    return value if value > 0 else 1e-6


class PgVectors:
    """Dense search through pgvector's HNSW index."""

    kind = "pgvector-hnsw"

    def __init__(self, store: PgStore, size: int) -> None:
        self._store = store
        self._size = size

    @property
    def size(self) -> int:
        return self._size

    def search(self, query: np.ndarray, k: int, allowed: Scope = None) -> list[tuple[int, float]]:
        if k <= 0 or self._size == 0:
            return []
        cond, args = _scope_sql(allowed)
        vec = _vector_text(query.reshape(-1))
        ef = min(1000, max(EF_SEARCH_LARGE if self._size >= LARGE else EF_SEARCH, k))
        store = self._store
        with store.snapshot(), store._cursor() as cur:
            cur.execute(f"SET LOCAL hnsw.ef_search = {int(ef)}")
            if allowed is not None:
                cur.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
            cur.execute(
                "SELECT c.rowid, 1 - (c.embedding <=> CAST(%s AS vector)) FROM qa_chunks c "
                "WHERE " + cond + " ORDER BY c.embedding <=> CAST(%s AS vector) LIMIT %s",
                [vec, *args, vec, k],
            )
            rows = cur.fetchall()
        # relaxed_order may return rows slightly out of order: sort them.
        return sorted(((int(r[0]), float(r[1])) for r in rows), key=lambda x: (-x[1], x[0]))

    def scores_for(self, query: np.ndarray, ids: Iterable[int]) -> dict[int, float]:
        wanted = [int(i) for i in ids]
        if not wanted:
            return {}
        rows = self._store._all(
            "SELECT rowid, 1 - (embedding <=> CAST(%s AS vector)) FROM qa_chunks "
            "WHERE rowid = ANY(%s)",
            (_vector_text(query.reshape(-1)), wanted),
        )
        return {int(r[0]): float(r[1]) for r in rows}


class PgWriter:
    """One batch's writes in the writer's open transaction."""

    def __init__(self, cur: Any) -> None:
        self.cur = cur

    def put_article(self, stored: StoredArticle) -> None:
        cur = self.cur
        article, chunks, vectors = stored.article, stored.chunks, stored.vectors

        cur.execute(
            f"INSERT INTO qa_articles ({ARTICLE_COLUMNS}, minhash) "
            "VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT (id) DO UPDATE SET "
            "title = EXCLUDED.title, author = EXCLUDED.author, source = EXCLUDED.source, "
            "url = EXCLUDED.url, date = EXCLUDED.date, path = EXCLUDED.path, "
            "content_hash = EXCLUDED.content_hash, text = EXCLUDED.text, "
            "sentences = EXCLUDED.sentences, entities = EXCLUDED.entities, "
            "date_raw = EXCLUDED.date_raw, group_id = EXCLUDED.group_id, "
            "minhash = EXCLUDED.minhash, ingested_at = now()",
            (
                *article_row(
                    article, stored.content_hash, stored.sentences, stored.entities, stored.group_id
                ),
                stored.minhash,
            ),
        )
        cur.execute("DELETE FROM qa_chunks WHERE article_id = %s", (article.id,))
        title = article.title or ""
        title_tokens = len(re.findall(r"\w+", title))
        with cur.copy(
            'COPY qa_chunks (id, article_id, idx, start, "end", text, title, ntokens, embedding) '
            "FROM STDIN"
        ) as copy:
            for chunk, vec in zip(chunks, vectors, strict=True):
                copy.write_row(
                    (
                        chunk.id,
                        chunk.article_id,
                        chunk.index,
                        chunk.start,
                        chunk.end,
                        chunk.text,
                        title,
                        len(re.findall(r"\w+", chunk.text)) + title_tokens,
                        _vector_text(vec),
                    )
                )

    def delete_article(self, article_id: str) -> bool:
        self.cur.execute("DELETE FROM qa_articles WHERE id = %s", (article_id,))
        return bool(self.cur.rowcount)

    def adopt_group(self, article_id: str, group_id: str) -> None:
        self.cur.execute(
            "UPDATE qa_articles SET group_id = %s WHERE id = %s AND group_id IS NULL",
            (group_id, article_id),
        )


class PostgresIndex:
    """:class:`qa.storage.base.Index` on PostgreSQL; ``data_dir`` keeps only the exported
    question encoder (a local cache: the database holds everything that defines the index)."""

    def __init__(self, url: str, data_dir: Path) -> None:
        self.url = url
        self.location = masked(url)
        self.data_dir = data_dir
        self._connections = _Connections(url)
        self._store = PgStore(self._connections)
        self._lock = threading.RLock()
        self._manifest: Manifest | None = None

    @property
    def encoder_dir(self) -> Path:
        return self.data_dir / ENCODER_DIR

    @property
    def store(self) -> PgStore:
        return self._store

    @property
    def manifest(self) -> Manifest | None:
        if self._manifest is None:
            if not self._store.tables_exist():
                return None
            raw = self._store.meta("manifest")
            if raw is None:
                return None
            self._manifest = Manifest.from_dict(json.loads(raw), self.location)
        return self._manifest

    def exists(self) -> bool:
        return self.manifest is not None

    def is_empty(self) -> bool:
        return not self.exists() or self._store.counts()[1] == 0

    def check_model(
        self, model: str, chunk_words: int | None = None, chunk_overlap: int | None = None
    ) -> None:
        check_manifest(
            self.manifest,
            f"the PostgreSQL store {self.location}",
            model,
            chunk_words,
            chunk_overlap,
            rebuild="`ask ingest --rebuild PATH...` (it drops the article-qa tables), or point "
            "QA_STORE at another database",
        )

    def vectors(self) -> PgVectors:
        return PgVectors(self._store, self._store.counts()[1] if self.exists() else 0)

    def ensure_manifest(self, manifest: Manifest) -> None:
        """Create the tables for ``manifest``'s dimension, or refuse a database made for
        another model or dimension."""
        have = self.manifest
        if have is not None:
            check_manifest(
                have,
                f"the PostgreSQL store {self.location}",
                manifest.model,
                None,
                None,
                dimension=manifest.dimension,
                rebuild="`ask ingest --rebuild PATH...` (it drops the article-qa tables), or "
                "point QA_STORE at another database",
            )
            return
        with self._transaction() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext('article-qa schema'))")
            cur.execute("SELECT to_regclass('qa_meta') IS NOT NULL")
            if cur.fetchone()[0]:
                cur.execute("SELECT value FROM qa_meta WHERE key = 'manifest'")
                row = cur.fetchone()
                if row is not None:
                    self._manifest = None
                    self.ensure_manifest(manifest)  # another process made it: check it
                    return
            cur.execute(_schema(manifest.dimension))
            cur.execute(
                "INSERT INTO qa_meta VALUES ('manifest', %s) ON CONFLICT (key) DO NOTHING",
                (manifest.to_json(),),
            )
        self._manifest = None

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        """A transaction on a connection of its own; any failure rolls it back whole."""
        import psycopg

        conn = self._connections.connect()
        try:
            with conn.transaction(), conn.cursor() as cur:
                yield cur
        except psycopg.OperationalError as exc:
            raise _unavailable(self.url, exc) from exc
        except psycopg.errors.DataException as exc:
            raise ModelMismatchError(
                f"the PostgreSQL store {self.location} refused a vector ({exc}); it was made "
                "for another dimension"
            ) from exc
        finally:
            with suppress(Exception):
                conn.close()

    def commit(self, apply: Callable[[Writer], None]) -> int:
        """Run ``apply(writer)`` in one transaction and bump the generation, all or nothing."""
        with self._lock, self._transaction() as cur:
            cur.execute("SELECT value FROM qa_meta WHERE key = 'generation' FOR UPDATE")
            new = int(cur.fetchone()[0]) + 1
            apply(PgWriter(cur))
            cur.execute("UPDATE qa_meta SET value = %s WHERE key = 'generation'", (str(new),))
        return new

    def drop(self) -> None:
        """Remove article-qa's tables (``ask ingest --rebuild``)."""
        with self._lock, self._transaction() as cur:
            cur.execute("DROP TABLE IF EXISTS qa_chunks, qa_articles, qa_meta")
        self._manifest = None
        self._store.forget()

    def repair(self) -> None:
        """Nothing to rewrite: the database maintains its own indexes."""

    def sweep_temporaries(self) -> int:
        return 0

    def size_on_disk(self) -> int:
        if not self.exists():
            return 0
        row = self._store._one(
            "SELECT sum(pg_total_relation_size(t)) FROM unnest(ARRAY['qa_meta', 'qa_articles', "
            "'qa_chunks']::regclass[]) AS t"
        )
        return int(row[0] or 0)

    def close(self) -> None:
        self._connections.close()
