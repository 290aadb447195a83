"""The registry: everything the index keeps besides chunk vectors. Article bodies and metadata,
chunk offsets, sentence spans and vectors, write states, a generation counter, and who may
write.

One protocol, two implementations:
- `SqliteRegistry`, a file in the store folder beside embedded Chroma (the default: one
  machine, several processes);
- `ChromaRegistry`, collections in the Chroma server (`ASSISTANT_CHROMA_URL`), so every
  machine that reaches the server sees the same articles and a replica needs no local state
  but caches.

Both keep the write protocol of `Store`: articles are marked `pending` before their vectors
change, and one commit makes them `ready` and moves the generation on. Readers only trust
`ready` articles, and key every cache by the generation.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import errno
import fcntl
import json
import os
import socket
import sqlite3
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from assistant.errors import StoreBusyError, StoreError, StoreMissingError
from assistant.stories import Stories, StoryIndex, StoryInfo, StoryRow, batches
from assistant.types import Article, ArticleMeta, Chunk

ChunkRow = tuple[str, str, int, int]  # chunk id, article id, start, end


def date_number(date: str | None) -> int:
    """YYYYMMDD as an int for Chroma range filters; 0 for undated articles."""
    return int(date.replace("-", "")) if date else 0


OPEN_END = 99_999_999  # the date number of a range with no end


def date_bounds(since: str | None, until: str | None) -> tuple[int, int] | None:
    """The date numbers a `since`/`until` filter admits, both ends included; None without
    a filter. An explicit filter asks for dated articles, so undated ones (0) fall outside."""
    if not since and not until:
        return None
    return max(date_number(since), 1), date_number(until) if until else OPEN_END


SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY, hash TEXT NOT NULL, state TEXT NOT NULL, title TEXT NOT NULL,
    date TEXT, source TEXT, url TEXT, path TEXT NOT NULL, body TEXT NOT NULL,
    n_chunks INTEGER NOT NULL DEFAULT 0, authors TEXT
);
CREATE TABLE IF NOT EXISTS chunks (
    id TEXT PRIMARY KEY, article_id TEXT NOT NULL, idx INTEGER NOT NULL,
    start INTEGER NOT NULL, "end" INTEGER NOT NULL,
    sentences TEXT NOT NULL, sentence_vectors BLOB NOT NULL, vector BLOB
);
CREATE INDEX IF NOT EXISTS chunks_by_article ON chunks(article_id);
-- Covering indexes: the retriever's start-up scans read these columns only, not the rows
-- with their sentence-vector blobs (halves a cold first query at 100k chunks).
CREATE INDEX IF NOT EXISTS chunks_offsets ON chunks(article_id, idx, id, start, "end");
CREATE INDEX IF NOT EXISTS articles_ready ON articles(state, id, title, path, hash, date, source,
    url, n_chunks);
"""


@dataclass(frozen=True)
class ChunkRecord:
    """A chunk as the registry knows it, with its sentence spans and vectors."""

    id: str
    article_id: str
    start: int
    end: int
    sentences: list[tuple[int, int]]
    sentence_vectors: np.ndarray


@dataclass(frozen=True)
class ExactIndex:
    """Chunk vectors in memory, searched exactly (a small index needs no ANN structure)."""

    ids: list[str]
    vectors: np.ndarray  # float32, one L2-normalised row per chunk
    dates: np.ndarray  # date_number of each chunk's article (0 = undated)

    def search(self, vector: np.ndarray, n: int, since: str | None = None,
               until: str | None = None) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity), best first, with Chroma's date filter semantics."""
        if not self.ids or n <= 0:
            return []
        sims = self.vectors @ np.asarray(vector, np.float32)
        bounds = date_bounds(since, until)
        if bounds is not None:
            keep = (self.dates >= bounds[0]) & (self.dates <= bounds[1])
            sims = np.where(keep, sims, -np.inf)
        n = min(n, len(sims))
        top = np.argpartition(-sims, n - 1)[:n]
        top = top[np.argsort(-sims[top], kind="stable")]
        return [(self.ids[i], float(sims[i])) for i in top if np.isfinite(sims[i])]


class Registry(Protocol):
    """What `Store`, ingest and the readers need from a registry."""

    label: str
    # The story of every article (stories.py), kept where the articles are.
    stories: Stories

    def close(self) -> None: ...

    def generation(self) -> int:
        """Moved on by every commit that changes what readers see."""
        ...

    def get_meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None: ...

    def clear_meta(self, key: str) -> None: ...

    def states(self) -> dict[str, tuple[str, str]]:
        """article id -> (content hash, state), every article whatever its state."""
        ...

    def paths(self) -> dict[str, str]:
        """article id -> its stored path (relative in stores written by older versions)."""
        ...

    def snapshot(self) -> tuple[int, dict[str, ArticleMeta], list[ChunkRow]]:
        """The generation, the ready articles and their chunks, as of one moment."""
        ...

    def chunk_texts(self) -> tuple[int, Iterable[tuple[str, str]]]:
        """The generation and (chunk id, text) of every ready chunk, in a stable order."""
        ...

    def ready_articles(self) -> dict[str, ArticleMeta]: ...

    def ready_chunks(self) -> list[ChunkRow]: ...

    def load_articles(self) -> list[Article]:
        """Every ready article as stored (to chunk it again without its file)."""
        ...

    def body(self, article_id: str, content_hash: str | None = None) -> str | None:
        """The body of a ready article; None when there is none, or when `content_hash` is
        given and the stored article is another version."""
        ...

    def authors(self, article_id: str) -> tuple[str, ...]:
        """The bylines of a ready article (none for one stored before bylines were kept)."""
        ...

    def bodies(self, article_ids: Iterable[str]) -> dict[str, str]: ...

    def chunk_records(self, chunk_ids: Sequence[str]) -> dict[str, ChunkRecord]: ...

    def mark(self, articles: Sequence[Article], state: str) -> None:
        """Record that these articles are being (re)written, before Chroma is touched."""
        ...

    def mark_ids(self, article_ids: Sequence[str], state: str) -> None: ...

    def commit_articles(self, articles: Sequence[Article], chunks: dict[str, list[Chunk]],
                        sentence_vectors: dict[str, np.ndarray], embedding_model: str,
                        vectors: dict[str, np.ndarray] | None = None) -> int:
        """The new chunks replace the old and the articles become `ready`; the new generation.
        `vectors` (the chunk vectors) are kept where exact search can use them."""
        ...

    def exact_index(self, limit: int) -> tuple[int, ExactIndex | None]:
        """The generation, and every ready chunk's vector with its article's date, as of one
        commit; None instead of the vectors when exact search cannot use them."""
        ...

    def chunks_without_vectors(self, limit: int) -> list[str]:
        """Chunks whose vector only Chroma has, in a store of at most `limit` chunks."""
        ...

    def store_vectors(self, vectors: dict[str, np.ndarray]) -> int:
        """Keep these chunks' vectors; returns the new generation (readers look again)."""
        ...

    def delete_articles(self, article_ids: Sequence[str]) -> int: ...

    def move_articles(self, paths: dict[str, str]) -> int: ...

    def reset(self) -> int:
        """Forget every article and the settings they were made with (for --rebuild)."""
        ...

    def writer(self, command: str) -> contextlib.AbstractContextManager[None]:
        """Be the only writer, or raise `StoreBusyError` at once."""
        ...

    def check_writer(self) -> None:
        """Raise `StoreBusyError` if this process is no longer the writer (a lost lease)."""
        ...


# -- SQLite beside embedded Chroma -----------------------------------------------------------


class SqliteRegistry:
    """SQLite: article bodies and metadata, chunk offsets and sentence vectors, write states."""

    def __init__(self, path: Path, writer_lock: Path) -> None:
        self.path = path
        self.label = str(path.parent)
        self._writer_lock = writer_lock
        self._local = threading.local()
        self._write_lock = threading.Lock()
        with self._connect() as db:
            db.executescript(SCHEMA)
            # Columns a registry written by an older version lacks (another process may add
            # one at the same moment: then ALTER fails, and the column is there).
            for table, column in (("chunks", "vector BLOB"), ("articles", "authors TEXT")):
                have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
                if column.split()[0] not in have:
                    with contextlib.suppress(sqlite3.OperationalError):
                        db.execute(f"ALTER TABLE {table} ADD COLUMN {column}")
        self.stories: Stories = StoryIndex(path)

    def _connect(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
        return db

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    def get_meta(self, key: str) -> str | None:
        row = self._connect().execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._write_lock:
            self._connect().execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def clear_meta(self, key: str) -> None:
        with self._write_lock:
            self._connect().execute("DELETE FROM meta WHERE key=?", (key,))

    def generation(self) -> int:
        return int(self.get_meta("generation") or 0)

    @contextlib.contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """One read transaction: every query inside sees the same commit."""
        db = self._connect()
        db.execute("BEGIN")
        try:
            yield db
        finally:
            db.execute("COMMIT")

    def states(self) -> dict[str, tuple[str, str]]:
        rows = self._connect().execute("SELECT id, hash, state FROM articles")
        return {r[0]: (r[1], r[2]) for r in rows}

    def paths(self) -> dict[str, str]:
        return {r[0]: r[1] for r in self._connect().execute("SELECT id, path FROM articles")}

    def snapshot(self) -> tuple[int, dict[str, ArticleMeta], list[ChunkRow]]:
        with self._reading() as db:
            row = db.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
            return int(row[0]) if row else 0, self._ready_articles(db), self._ready_chunks(db)

    def chunk_texts(self) -> tuple[int, Iterable[tuple[str, str]]]:
        # The generation is read first: texts from a later commit under an earlier number
        # only cost a rebuild, never a stale index taken for a fresh one.
        generation = self.generation()

        def texts() -> Iterator[tuple[str, str]]:
            # Article by article inside one read transaction: a million chunks' texts never
            # sit in memory at once.
            with self._reading() as db:
                articles = db.execute(
                    "SELECT id, body FROM articles WHERE state='ready' ORDER BY id")
                for article_id, body in articles:
                    chunks = db.execute('SELECT id, start, "end" FROM chunks WHERE article_id=?'
                                        " ORDER BY idx", (article_id,))
                    for chunk_id, start, end in chunks:
                        yield chunk_id, body[start:end]

        return generation, texts()

    def load_articles(self) -> list[Article]:
        rows = self._connect().execute(
            "SELECT id, title, body, path, date, source, url, hash, authors FROM articles"
            " WHERE state='ready' ORDER BY id"
        )
        return [Article(id=r[0], title=r[1], body=r[2], path=r[3], date=r[4], source=r[5],
                        url=r[6], content_hash=r[7], authors=_authors(r[8])) for r in rows]

    def mark(self, articles: Sequence[Article], state: str) -> None:
        with self._write_lock:
            db = self._connect()
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                """INSERT INTO articles (id, hash, state, title, date, source, url, path, body)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT(id) DO UPDATE SET hash=excluded.hash, state=excluded.state""",
                [
                    (a.id, a.content_hash, state, a.title, a.date, a.source, a.url, a.path, a.body)
                    for a in articles
                ],
            )
            db.execute("COMMIT")

    def mark_ids(self, article_ids: Sequence[str], state: str) -> None:
        with self._write_lock:
            db = self._connect()
            db.executemany("UPDATE articles SET state=? WHERE id=?", [(state, i) for i in article_ids])

    def commit_articles(
        self,
        articles: Sequence[Article],
        chunks: dict[str, list[Chunk]],
        sentence_vectors: dict[str, np.ndarray],
        embedding_model: str,
        vectors: dict[str, np.ndarray] | None = None,
    ) -> int:
        with self._write_lock:
            db = self._connect()
            db.execute("BEGIN IMMEDIATE")
            try:
                ids = [(a.id,) for a in articles]
                db.executemany("DELETE FROM chunks WHERE article_id=?", ids)
                db.executemany(
                    """INSERT INTO articles (id, hash, state, title, date, source, url, path, body,
                       n_chunks, authors) VALUES (?, ?, 'ready', ?, ?, ?, ?, ?, ?, ?, ?)
                       ON CONFLICT(id) DO UPDATE SET hash=excluded.hash, state='ready',
                       title=excluded.title, date=excluded.date, source=excluded.source,
                       url=excluded.url, path=excluded.path, body=excluded.body,
                       n_chunks=excluded.n_chunks, authors=excluded.authors""",
                    [
                        (a.id, a.content_hash, a.title, a.date, a.source, a.url, a.path, a.body,
                         len(chunks[a.id]), json.dumps(a.authors))
                        for a in articles
                    ],
                )
                db.executemany(
                    'INSERT OR REPLACE INTO chunks (id, article_id, idx, start, "end", sentences,'
                    " sentence_vectors, vector) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            c.id, c.article_id, c.index, c.start, c.end,
                            json.dumps([[s.start, s.end] for s in c.sentences]),
                            sentence_vectors[c.id].astype(np.float16).tobytes(),
                            _vector_blob(vectors.get(c.id) if vectors else None),
                        )
                        for a in articles
                        for c in chunks[a.id]
                    ],
                )
                generation = self._bump(db, embedding_model)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return generation

    def exact_index(self, limit: int) -> tuple[int, ExactIndex | None]:
        ready = "FROM chunks c JOIN articles a ON a.id=c.article_id WHERE a.state='ready'"
        with self._reading() as db:
            row = db.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
            generation = int(row[0]) if row else 0
            # Counted from an index first: a large store is turned away without reading rows.
            if db.execute("SELECT count(*) FROM chunks").fetchone()[0] > limit:
                return generation, None
            rows = db.execute(f"SELECT c.id, c.vector, a.date {ready}").fetchall()
        if any(r[1] is None for r in rows):  # kept only in Chroma by an older version
            return generation, None
        ids = [r[0] for r in rows]
        matrix = np.frombuffer(b"".join(r[1] for r in rows), np.float16)
        vectors = matrix.reshape(len(rows), -1).astype(np.float32) if rows else \
            np.zeros((0, 0), np.float32)
        dates = np.array([date_number(r[2]) for r in rows], np.int64)
        return generation, ExactIndex(ids, vectors, dates)

    def chunks_without_vectors(self, limit: int) -> list[str]:
        db = self._connect()
        if db.execute("SELECT count(*) FROM chunks").fetchone()[0] > limit:
            return []
        return [r[0] for r in db.execute("SELECT id FROM chunks WHERE vector IS NULL")]

    def store_vectors(self, vectors: dict[str, np.ndarray]) -> int:
        with self._write_lock:
            db = self._connect()
            db.execute("BEGIN IMMEDIATE")
            db.executemany("UPDATE chunks SET vector=? WHERE id=?",
                           [(_vector_blob(v), cid) for cid, v in vectors.items()])
            generation = self._bump(db, None)
            db.execute("COMMIT")
        return generation

    def delete_articles(self, article_ids: Sequence[str]) -> int:
        with self._write_lock:
            db = self._connect()
            db.execute("BEGIN IMMEDIATE")
            ids = [(i,) for i in article_ids]
            db.executemany("DELETE FROM chunks WHERE article_id=?", ids)
            db.executemany("DELETE FROM articles WHERE id=?", ids)
            generation = self._bump(db, None)
            db.execute("COMMIT")
        return generation

    def move_articles(self, paths: dict[str, str]) -> int:
        with self._write_lock:
            db = self._connect()
            db.execute("BEGIN IMMEDIATE")
            db.executemany("UPDATE articles SET path=? WHERE id=?",
                           [(path, i) for i, path in paths.items()])
            generation = self._bump(db, None)
            db.execute("COMMIT")
        return generation

    def reset(self) -> int:
        with self._write_lock:
            db = self._connect()
            db.execute("BEGIN IMMEDIATE")
            db.execute("DELETE FROM chunks")
            db.execute("DELETE FROM articles")
            db.execute("DELETE FROM meta WHERE key IN ('embedding_model', 'chunking')")
            generation = self._bump(db, None)
            db.execute("COMMIT")
        return generation

    def _bump(self, db: sqlite3.Connection, embedding_model: str | None) -> int:
        row = db.execute(
            "INSERT INTO meta VALUES ('generation', '1') ON CONFLICT(key) DO UPDATE SET "
            "value=CAST(value AS INTEGER)+1 RETURNING value"
        ).fetchall()[0]
        if embedding_model:
            db.execute(
                "INSERT OR REPLACE INTO meta VALUES ('embedding_model', ?)", (embedding_model,)
            )
        return int(row[0])

    def ready_articles(self) -> dict[str, ArticleMeta]:
        return self._ready_articles(self._connect())

    def ready_chunks(self) -> list[ChunkRow]:
        """(chunk id, article id, start, end) of ready articles, in a stable order."""
        return self._ready_chunks(self._connect())

    @staticmethod
    def _ready_articles(db: sqlite3.Connection) -> dict[str, ArticleMeta]:
        rows = db.execute(
            "SELECT id, title, path, hash, date, source, url, n_chunks FROM articles"
            " WHERE state='ready'"
        )
        return {r[0]: ArticleMeta(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]) for r in rows}

    @staticmethod
    def _ready_chunks(db: sqlite3.Connection) -> list[ChunkRow]:
        rows = db.execute(
            'SELECT c.id, c.article_id, c.start, c."end" FROM chunks c JOIN articles a'
            " ON a.id=c.article_id WHERE a.state='ready' ORDER BY c.article_id, c.idx"
        )
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    def body(self, article_id: str, content_hash: str | None = None) -> str | None:
        row = self._connect().execute(
            "SELECT body FROM articles WHERE id=? AND state='ready' AND (? IS NULL OR hash=?)",
            (article_id, content_hash, content_hash),
        ).fetchone()
        return None if row is None else str(row[0])

    def authors(self, article_id: str) -> tuple[str, ...]:
        row = self._connect().execute(
            "SELECT authors FROM articles WHERE id=? AND state='ready'", (article_id,)).fetchone()
        return () if row is None else _authors(row[0])

    def bodies(self, article_ids: Iterable[str]) -> dict[str, str]:
        ids = list(set(article_ids))
        if not ids:
            return {}
        db = self._connect()
        return {r[0]: r[1] for part in batches(ids) for r in db.execute(
            f"SELECT id, body FROM articles WHERE state='ready' AND id IN "
            f"({','.join('?' * len(part))})", part)}

    def chunk_records(self, chunk_ids: Sequence[str]) -> dict[str, ChunkRecord]:
        ids = list(dict.fromkeys(chunk_ids))
        out = {}
        for part in batches(ids):
            rows = self._connect().execute(
                'SELECT id, article_id, start, "end", sentences, sentence_vectors FROM chunks'
                f" WHERE id IN ({','.join('?' * len(part))})",
                part,
            )
            for r in rows:
                spans = [(int(s[0]), int(s[1])) for s in json.loads(r[4])]
                vectors = np.frombuffer(r[5], dtype=np.float16).reshape(len(spans), -1)
                out[r[0]] = ChunkRecord(r[0], r[1], r[2], r[3], spans, vectors.astype(np.float32))
        return out

    @contextlib.contextmanager
    def writer(self, command: str) -> Iterator[None]:
        """An flock dies with its process, so a killed ingest never leaves a stale lock; the
        file only tells the next writer who holds it."""
        path = self._writer_lock
        fd = lock_file(path, wait=False)
        if fd is None:
            holder: dict[str, Any] = {}
            with contextlib.suppress(OSError, ValueError):
                holder = json.loads(path.read_text() or "{}")
            raise StoreBusyError(busy_message(holder, f"{path.parent}/"))
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(_holder(command)).encode(), 0)
            yield
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)

    def check_writer(self) -> None:
        """An flock cannot be taken away from a live process."""


def _vector_blob(vector: Any) -> bytes | None:
    return None if vector is None else np.asarray(vector, np.float16).tobytes()


# -- collections in a Chroma server ----------------------------------------------------------

# Readers look at the generation at most this often; a replica is this much behind at worst
# before it starts loading another process's commit.
GENERATION_SECONDS = 0.5
PAGE = 1000  # records per request when a whole collection is read
WRITE_BATCH = 500  # records per request when writing (Chroma's limit here is 5,461)
LEASE_PREFIX = "lease-"


class ChromaRegistry:
    """The registry as collections in the Chroma server, beside the chunk collection:

    - `<name>_articles`: one record per article, metadata only: state, content hash, title,
      date, source, url, path, and its chunks as `[[chunk id, start, end], ...]`. Each record
      is written whole, so it is the unit a reader can trust.
    - `<name>_bodies`: the body, zlib-compressed and base64-encoded in the metadata, with the
      content hash it belongs to. Not as a Chroma document: single-node Chroma also indexes
      every document for full-text search, which measured 2.6x the disk and twice the write
      time (bench/registry_layouts.py).
    - `<name>_sentences`: per chunk, its sentence spans and float16 sentence vectors
      (base64). One record per sentence with its vector as the embedding measured 10x slower
      to write and 7x slower to read back: Chroma builds an HNSW index over every embedding.
    - `<name>_meta`: the generation, the embedding model and chunk settings, and the writer
      lease.
    - `<name>_stories` and `<name>_story_filing`: each article's story (ChromaStories).

    Chunk vectors are not copied here: exact search (`exact_index`) is for small embedded
    stores, and the server searches its own chunk collection.

    Chroma has no transactions across records, so the write order carries the guarantees:
    an article is marked `pending` (readers drop it), its vectors, sentences and body are
    replaced, then its record is written `ready` with its new chunks, and only then does the
    generation move on. A reader reads the generation before anything else, so whatever it
    builds is labelled with a generation at or before what it saw, and is rebuilt when the
    generation moves again. A chunk id carries the article's content hash (chunking.chunk_id),
    and a body is trusted only with the hash its reader expects, so versions never mix.

    Records that are not vectors still need an embedding: a one-number placeholder.
    """

    def __init__(self, connect: Callable[[], Any], name: str, label: str, *,
                 create: bool, lease_seconds: float, story_cache: Path) -> None:
        self.label = label
        self._client = connect()
        self._names = {kind: f"{name}_{kind}" for kind in (
            "articles", "bodies", "sentences", "meta", "stories", "story_filing")}
        self._handles: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._generation = (-1, 0.0)  # (value, monotonic time read)
        self._articles: _Articles | None = None
        if not create and not self.exists():
            raise StoreMissingError(
                f"no index in the Chroma server at {label} yet (collection "
                f"{self._names['articles']!r}); run `assistant ingest` first")
        for kind in self._names:
            self._collection(kind)
        self._lease = ChromaLease(lambda: self._collection("meta"), lease_seconds, label)
        self.stories: Stories = ChromaStories(self, story_cache)

    def exists(self) -> bool:
        from chromadb.errors import NotFoundError

        try:
            self._client.get_collection(self._names["articles"], embedding_function=None)
        except NotFoundError:
            return False
        return True

    def close(self) -> None:
        self._lease.stop()

    def _collection(self, kind: str, fresh: bool = False) -> Any:
        handle = None if fresh else self._handles.get(kind)
        if handle is None:
            handle = self._client.get_or_create_collection(self._names[kind],
                                                           embedding_function=None)
            self._handles[kind] = handle
        return handle

    def _call(self, kind: str, method: str, **kwargs: Any) -> Any:
        """`collection.method(**kwargs)`, again on a fresh handle if another process recreated
        the collection (`--rebuild`) since this one was opened."""
        import httpx
        from chromadb.errors import ChromaError, NotFoundError

        try:
            try:
                return getattr(self._collection(kind), method)(**kwargs)
            except NotFoundError:
                return getattr(self._collection(kind, fresh=True), method)(**kwargs)
        except httpx.TransportError as exc:
            raise StoreError(f"cannot reach the Chroma server at {self.label}: {exc}; "
                             "is `chroma run` up?") from exc
        except ChromaError as exc:
            # Whatever the server refuses is reported, never a traceback; the two-phase
            # writes leave nothing half-done for the next ingest to find.
            raise StoreError(f"the Chroma server at {self.label} failed to {method} "
                             f"{self._names[kind]}: {exc}") from exc

    def _scan(self, kind: str, include: list[str]) -> Iterator[dict[str, Any]]:
        """A whole collection, page by page, in the server's (insertion) order."""
        offset = 0
        while True:
            page = self._call(kind, "get", limit=PAGE, offset=offset, include=include)
            if page["ids"]:
                yield page
            if len(page["ids"]) < PAGE:
                return
            offset += PAGE

    def _write(self, kind: str, method: str, ids: Sequence[str],
               metadatas: Sequence[dict[str, Any]]) -> None:
        for b in range(0, len(ids), WRITE_BATCH):
            part = list(ids[b : b + WRITE_BATCH])
            kwargs: dict[str, Any] = {"ids": part, "metadatas": list(metadatas[b : b + WRITE_BATCH])}
            if method != "update":
                kwargs["embeddings"] = _placeholders(part)
            self._call(kind, method, **kwargs)

    def _delete(self, kind: str, ids: Sequence[str]) -> None:
        for b in range(0, len(ids), WRITE_BATCH):
            part = list(ids[b : b + WRITE_BATCH])
            self._call(kind, "delete", ids=part)

    # -- meta and the generation -----------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        got = self._call("meta", "get", ids=[f"meta:{key}"], include=["metadatas"])
        return str(got["metadatas"][0]["value"]) if got["ids"] else None

    def set_meta(self, key: str, value: str) -> None:
        self._write("meta", "upsert", [f"meta:{key}"], [{"kind": "meta", "value": value}])

    def clear_meta(self, key: str) -> None:
        self._delete("meta", [f"meta:{key}"])

    def generation(self) -> int:
        value, read_at = self._generation
        if value >= 0 and time.monotonic() - read_at < GENERATION_SECONDS:
            return value
        got = self._call("meta", "get", ids=["generation"], include=["metadatas"])
        value = int(got["metadatas"][0]["value"]) if got["ids"] else 0
        self._generation = (value, time.monotonic())
        return value

    def _next_generation(self) -> int:
        """Only the lease holder writes, so reading the generation and adding one is safe."""
        self._generation = (-1, 0.0)
        return self.generation() + 1

    def _bump(self, value: int | None = None) -> int:
        """Publish generation `value` (default: the next one): the commit point for readers."""
        value = self._next_generation() if value is None else value
        self._write("meta", "upsert", ["generation"], [{"kind": "generation", "value": value}])
        self._generation = (value, time.monotonic())
        return value

    # -- reading ---------------------------------------------------------------------------

    def _read_articles(self) -> _Articles:
        """Every article record, read once per generation and kept as the readers use it."""
        with self._lock:
            generation = self.generation()
            cached = self._articles
            if cached is not None and cached.generation == generation:
                return cached
            found = _Articles(generation, {}, {}, {}, {})
            for page in self._scan("articles", ["metadatas"]):
                for article_id, m in zip(page["ids"], page["metadatas"], strict=True):
                    found.states[article_id] = (m["hash"], m["state"])
                    found.paths[article_id] = m["path"]
                    if m["state"] == "ready":
                        found.ready[article_id] = ArticleMeta(
                            article_id, m["title"], m["path"], m["hash"], m["date"] or None,
                            m["source"] or None, m["url"] or None, int(m["n_chunks"]))
                        found.chunks[article_id] = m["chunks"]
            self._articles = found
            return found

    def states(self) -> dict[str, tuple[str, str]]:
        return dict(self._read_articles().states)

    def paths(self) -> dict[str, str]:
        return dict(self._read_articles().paths)

    def snapshot(self) -> tuple[int, dict[str, ArticleMeta], list[ChunkRow]]:
        articles = self._read_articles()
        return articles.generation, articles.ready, articles.rows()

    def ready_articles(self) -> dict[str, ArticleMeta]:
        return self._read_articles().ready

    def ready_chunks(self) -> list[ChunkRow]:
        return self._read_articles().rows()

    def chunk_texts(self) -> tuple[int, Iterable[tuple[str, str]]]:
        articles = self._read_articles()

        def texts() -> Iterator[tuple[str, str]]:
            # Streamed page by page: a million chunks' texts never sit in memory at once.
            for article_id, body, _ in self._ready_bodies(articles):
                for chunk_id, start, end in json.loads(articles.chunks[article_id]):
                    yield chunk_id, body[start:end]

        return articles.generation, texts()

    def load_articles(self) -> list[Article]:
        articles = self._read_articles()
        found = []
        for article_id, body, authors in self._ready_bodies(articles):
            found.append(replace(articles.ready[article_id].with_body(body), authors=authors))
        return sorted(found, key=lambda a: a.id)

    def _ready_bodies(self, articles: _Articles) -> Iterator[tuple[str, str, tuple[str, ...]]]:
        """(id, body, authors) of every article ready in `articles`, in the server's order."""
        for page in self._scan("bodies", ["metadatas"]):
            for article_id, stored in zip(page["ids"], page["metadatas"], strict=True):
                meta = articles.ready.get(article_id)
                if meta is not None and meta.content_hash == stored["hash"]:
                    yield article_id, _unpack_text(stored["body"]), _authors(stored.get("authors"))
                # else: written after the records were read, the next generation's

    def body(self, article_id: str, content_hash: str | None = None) -> str | None:
        if content_hash is None:
            # No version to check against: the one the article record calls ready.
            got = self._call("articles", "get", ids=[article_id], include=["metadatas"])
            if not got["ids"] or got["metadatas"][0]["state"] != "ready":
                return None
            content_hash = str(got["metadatas"][0]["hash"])
        return self._bodies([article_id], {article_id: content_hash}).get(article_id)

    def authors(self, article_id: str) -> tuple[str, ...]:
        got = self._call("articles", "get", ids=[article_id], include=["metadatas"])
        if not got["ids"] or got["metadatas"][0]["state"] != "ready":
            return ()
        return next((_authors(m.get("authors")) for _, m in self._get([article_id], "bodies")
                     if m["hash"] == got["metadatas"][0]["hash"]), ())

    def bodies(self, article_ids: Iterable[str]) -> dict[str, str]:
        got = self._get(list(article_ids), "articles")
        wanted = {i: str(m["hash"]) for i, m in got if m["state"] == "ready"}
        return self._bodies(list(wanted), wanted)

    def _bodies(self, ids: list[str], hashes: dict[str, str]) -> dict[str, str]:
        return {i: _unpack_text(m["body"]) for i, m in self._get(ids, "bodies")
                if m["hash"] == hashes.get(i)}

    def _get(self, ids: Sequence[str], kind: str) -> list[tuple[str, dict[str, Any]]]:
        """(id, metadata) of the records with these ids, asked for in parts: the server
        answers "too many SQL variables" to one request for tens of thousands."""
        unique = list(dict.fromkeys(ids))
        found: list[tuple[str, dict[str, Any]]] = []
        for part in batches(unique):
            got = self._call(kind, "get", ids=list(part), include=["metadatas"])
            found.extend(zip(got["ids"], got["metadatas"], strict=True))
        return found

    def chunk_records(self, chunk_ids: Sequence[str]) -> dict[str, ChunkRecord]:
        out = {}
        for chunk_id, m in self._get(chunk_ids, "sentences"):
            spans = [(int(s[0]), int(s[1])) for s in json.loads(m["sentences"])]
            vectors = np.frombuffer(base64.b64decode(m["vectors"]), dtype=np.float16)
            out[chunk_id] = ChunkRecord(chunk_id, m["article_id"], int(m["start"]), int(m["end"]),
                                        spans, vectors.reshape(len(spans), -1).astype(np.float32))
        return out

    # -- writing ---------------------------------------------------------------------------

    def mark(self, articles: Sequence[Article], state: str) -> None:
        # The whole record, so nothing of a previous version (its chunks) outlives it.
        self._write("articles", "upsert", [a.id for a in articles],
                    [_article_metadata(a, state, [], 0) for a in articles])

    def mark_ids(self, article_ids: Sequence[str], state: str) -> None:
        self._write("articles", "update", article_ids, [{"state": state}] * len(article_ids))

    def commit_articles(
        self,
        articles: Sequence[Article],
        chunks: dict[str, list[Chunk]],
        sentence_vectors: dict[str, np.ndarray],
        embedding_model: str,
        vectors: dict[str, np.ndarray] | None = None,
    ) -> int:
        # `vectors` are in the server's chunk collection already; see the class notes.
        ids = [a.id for a in articles]
        self._delete_sentences(ids)
        listed = [c for a in articles for c in chunks[a.id]]
        self._write("sentences", "add", [c.id for c in listed], [
            {"article_id": c.article_id, "start": c.start, "end": c.end,
             "sentences": json.dumps([[s.start, s.end] for s in c.sentences]),
             "vectors": base64.b64encode(
                 sentence_vectors[c.id].astype(np.float16).tobytes()).decode("ascii")}
            for c in listed])
        self._write("bodies", "upsert", ids,
                    [{"hash": a.content_hash, "body": _pack_text(a.body),
                      "authors": json.dumps(a.authors)} for a in articles])
        self.set_meta("embedding_model", embedding_model)
        generation = self._next_generation()
        self._write("articles", "upsert", ids, [
            _article_metadata(a, "ready", chunks[a.id], generation) for a in articles])
        return self._bump(generation)

    def _delete_sentences(self, article_ids: Sequence[str]) -> None:
        for b in range(0, len(article_ids), WRITE_BATCH):
            part = list(article_ids[b : b + WRITE_BATCH])
            where = {"article_id": part[0]} if len(part) == 1 else {"article_id": {"$in": part}}
            self._call("sentences", "delete", where=where)

    def exact_index(self, limit: int) -> tuple[int, ExactIndex | None]:
        return self.generation(), None  # the server searches its chunk collection

    def chunks_without_vectors(self, limit: int) -> list[str]:
        return []

    def store_vectors(self, vectors: dict[str, np.ndarray]) -> int:
        return self.generation()  # nothing to keep: see exact_index

    def delete_articles(self, article_ids: Sequence[str]) -> int:
        self._delete_sentences(article_ids)
        self._delete("bodies", article_ids)
        self._delete("articles", article_ids)
        return self._bump()

    def move_articles(self, paths: dict[str, str]) -> int:
        self._write("articles", "update", list(paths), [{"path": p} for p in paths.values()])
        return self._bump()

    def reset(self) -> int:
        from chromadb.errors import NotFoundError

        for kind in ("articles", "bodies", "sentences"):
            with contextlib.suppress(NotFoundError):
                self._client.delete_collection(self._names[kind])
            self._collection(kind, fresh=True)
        self.clear_meta("embedding_model")
        self.clear_meta("chunking")
        return self._bump()

    @contextlib.contextmanager
    def writer(self, command: str) -> Iterator[None]:
        if self._lease.take(command):
            # The last writer died holding the lease, maybe between its writes and the commit
            # that publishes them: readers must read everything again.
            self._bump()
        try:
            yield
        finally:
            self._lease.release()

    def check_writer(self) -> None:
        self._lease.check()


class ChromaStories:
    """Stories (stories.py) with a Chroma server: whoever ingests files the articles, and
    every machine reads the result from the server.

    - `<name>_stories`: per article, its story id, the article it reprints and its date: what
      readers load (once per story version).
    - `<name>_story_filing`: per article, everything filing compares a new article with
      (names, mean chunk vector, text sketch), so an ingest on any machine files against
      every earlier one.
    - the story version in `<name>_meta`, with a token that changes with every write.

    Filing runs stories.py's StoryIndex unchanged on a copy of the filing records in the
    ingesting machine's store folder (`story_cache`), loaded whole from the server when its
    token is not the server's (another machine filed since, or a first ingest here), then the
    changed filings are written back. The copy is marked stale before it changes and current
    again only after the server has the change, so a crash in between reloads it. Only the
    lease holder writes.
    """

    def __init__(self, registry: ChromaRegistry, story_cache: Path) -> None:
        self._registry = registry
        self._cache_path = story_cache
        self._cache: StoryIndex | None = None
        self._version = (-1, "", 0.0)  # (value, token, monotonic time read)
        self._read: tuple[int, dict[str, StoryInfo]] = (-1, {})
        self._lock = threading.Lock()

    # -- the server's version ----------------------------------------------------------------

    def _server_version(self, fresh: bool = False) -> tuple[int, str]:
        value, token, read_at = self._version
        if fresh or value < 0 or time.monotonic() - read_at >= GENERATION_SECONDS:
            got = self._registry._call("meta", "get", ids=["story_version"],
                                       include=["metadatas"])
            m: dict[str, Any] = got["metadatas"][0] if got["ids"] else {"value": 0, "token": ""}
            value, token = int(m["value"]), str(m["token"])
            self._version = (value, token, time.monotonic())
        return value, token

    def version(self) -> int:
        return self._server_version()[0]

    # -- reading -----------------------------------------------------------------------------

    def all(self) -> dict[str, StoryInfo]:
        with self._lock:
            version = self.version()  # first: what is read is labelled no newer than it is
            if self._read[0] != version:
                found = {}
                for page in self._registry._scan("stories", ["metadatas"]):
                    for article_id, m in zip(page["ids"], page["metadatas"], strict=True):
                        found[article_id] = StoryInfo(article_id, m["story_id"],
                                                      m["reprint_of"] or None, m["date"] or None)
                self._read = (version, found)
            return self._read[1]

    def members(self, story_id: str) -> list[StoryInfo]:
        found = [s for s in self.all().values() if s.story_id == story_id]
        return sorted(found, key=lambda s: (s.date or "", s.article_id))

    def count(self) -> int:
        return len({s.story_id for s in self.all().values()})

    def missing(self, article_ids: Iterable[str]) -> list[str]:
        have = self.all()
        return [a for a in article_ids if a not in have]

    # -- filing ------------------------------------------------------------------------------

    def assign(self, articles: Sequence[Article], vectors: dict[str, np.ndarray]) -> None:
        if not articles:
            return
        cache = self._current_cache()
        self._mark_cache("")
        cache.assign(articles, vectors)
        self._upload(cache.rows(a.id for a in articles))
        self._publish()

    def _upload(self, rows: list[StoryRow]) -> None:
        """These filings, copied from the store folder's index to the server."""
        ids = [r[0] for r in rows]
        registry = self._registry
        registry._write("story_filing", "upsert", ids, [
            {"story_id": r[1], "reprint_of": r[2] or "", "date": r[3] or "", "names": r[4],
             "vector": base64.b64encode(r[5]).decode("ascii"),
             "sketch": base64.b64encode(r[6]).decode("ascii"), "figures": r[7] or ""}
            for r in rows])
        registry._write("stories", "upsert", ids, [
            {"story_id": r[1], "reprint_of": r[2] or "", "date": r[3] or ""} for r in rows])

    def remove(self, article_ids: Iterable[str]) -> list[str]:
        ids = list(article_ids)
        if not ids:
            return []
        cache = self._current_cache()
        self._mark_cache("")
        orphans = cache.remove(ids)
        # The copies' new filings go up first: a crash before the deletes below leaves no
        # copy pointing at a removed original, only a removal the next prune finishes.
        if orphans:
            self._upload(cache.rows(orphans))
        self._registry._delete("stories", ids)
        self._registry._delete("story_filing", ids)  # second: see _current_cache
        self._publish()
        return orphans

    def _publish(self) -> None:
        """Move the server's story version on (readers reload), and mark the copy current."""
        value, _ = self._server_version(fresh=True)
        token = uuid.uuid4().hex
        self._registry._write("meta", "upsert", ["story_version"],
                              [{"kind": "story_version", "value": value + 1, "token": token}])
        self._version = (value + 1, token, time.monotonic())
        self._mark_cache(token)

    def _current_cache(self) -> StoryIndex:
        """The filing copy in the store folder, reloaded when it is not the server's."""
        self._registry.check_writer()
        if self._cache is None:
            self._cache = StoryIndex(self._cache_path)
            with self._cache_db() as db:
                db.execute("CREATE TABLE IF NOT EXISTS mirror (id INTEGER PRIMARY KEY "
                           "CHECK (id = 0), token TEXT NOT NULL)")
        _, token = self._server_version(fresh=True)
        with self._cache_db() as db:
            row = db.execute("SELECT token FROM mirror").fetchone()
        if not token or row is None or row[0] != token:
            rows = list(self._server_rows())
            # Filing records are written before, and deleted after, the records readers use:
            # one without the other is a write a crash cut short. It is dropped here, and
            # the article is filed again as one without a story.
            listed = {i for page in self._registry._scan("stories", []) for i in page["ids"]}
            self._registry._delete("story_filing", [r[0] for r in rows if r[0] not in listed])
            self._cache.replace_all(r for r in rows if r[0] in listed)
            self._mark_cache(token)
        return self._cache

    def _server_rows(self) -> Iterator[StoryRow]:
        for page in self._registry._scan("story_filing", ["metadatas"]):
            for article_id, m in zip(page["ids"], page["metadatas"], strict=True):
                yield (article_id, m["story_id"], m["reprint_of"] or None, m["date"] or None,
                       m["names"], base64.b64decode(m["vector"]), base64.b64decode(m["sketch"]),
                       m.get("figures") or None)

    @contextlib.contextmanager
    def _cache_db(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self._cache_path, timeout=30, isolation_level=None)
        try:
            yield db
        finally:
            db.close()

    def _mark_cache(self, token: str) -> None:
        with self._cache_db() as db:
            db.execute("INSERT OR REPLACE INTO mirror VALUES (0, ?)", (token,))


def _placeholders(ids: Sequence[str]) -> list[list[float]]:
    """A one-number embedding per record, spread out so Chroma's HNSW graph is not a pile of
    equal points."""
    return [[zlib.crc32(i.encode("utf-8")) / 2**32] for i in ids]


def _pack_text(text: str) -> str:
    return base64.b64encode(zlib.compress(text.encode("utf-8"), 6)).decode("ascii")


def _authors(stored: str | None) -> tuple[str, ...]:
    """Bylines as stored (a JSON list); none in a record from before they were kept."""
    return tuple(json.loads(stored)) if stored else ()


def _unpack_text(packed: str) -> str:
    return zlib.decompress(base64.b64decode(packed)).decode("utf-8")


def _article_metadata(article: Article, state: str, chunks: Sequence[Chunk],
                      generation: int) -> dict[str, Any]:
    # Chroma takes no None in metadata: absent fields are stored as "".
    return {
        "state": state, "hash": article.content_hash, "title": article.title,
        "date": article.date or "", "source": article.source or "", "url": article.url or "",
        "path": article.path, "n_chunks": len(chunks),
        "chunks": json.dumps([[c.id, c.start, c.end] for c in chunks]),
        "generation": generation,
    }


@dataclass(frozen=True)
class _Articles:
    """The article records of one generation: states and paths of all, the ready ones as
    ArticleMeta, and each ready article's chunks as stored (JSON, parsed when needed)."""

    generation: int
    states: dict[str, tuple[str, str]]
    paths: dict[str, str]
    ready: dict[str, ArticleMeta]
    chunks: dict[str, str]

    def rows(self) -> list[ChunkRow]:
        """Ordered by article id and chunk index, as SqliteRegistry orders them."""
        return [(cid, i, int(s), int(e)) for i in sorted(self.chunks)
                for cid, s, e in json.loads(self.chunks[i])]


# -- the writer lease in a Chroma server ------------------------------------------------------


class ChromaLease:
    """One writer at a time among processes on any machine that share a Chroma server.

    Chroma has no compare-and-swap, but adding a record whose id exists is ignored: the first
    add in the server's log wins, and every reader sees the same winner. Taking the lease adds
    `lease-<n+1>` after the current `lease-<n>`; whoever's token that record holds is the
    writer, and n is its fencing number. The holder renews its expiry every third of the
    lease time and checks, before each write, that no later lease exists. A lease is free
    when released, expired, or held by a process on this machine that is gone (a kill -9 is
    taken over at once; another machine's crashed ingest after the lease time).
    """

    def __init__(self, meta: Callable[[], Any], seconds: float, label: str) -> None:
        self._meta = meta
        self._seconds = seconds
        self._label = label
        self._mine: dict[str, Any] | None = None
        self._lost: str | None = None
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def _leases(self) -> list[dict[str, Any]]:
        got = self._meta().get(where={"kind": "lease"}, include=["metadatas"])
        return sorted(got["metadatas"], key=lambda m: int(m["n"]))

    def _current(self) -> dict[str, Any] | None:
        leases = self._leases()
        return leases[-1] if leases else None

    def take(self, command: str) -> bool:
        """Take the lease or raise `StoreBusyError`; True when its last holder never released
        it (it died)."""
        for _ in range(3):
            top = self._current()
            if top is not None and _held(top):
                raise StoreBusyError(busy_message(top, self._label, lease=True))
            n = int(top["n"]) + 1 if top else 1
            mine = {**_holder(command), "kind": "lease", "n": n, "token": uuid.uuid4().hex,
                    "expires": time.time() + self._seconds, "released": False}
            record = f"{LEASE_PREFIX}{n:012d}"
            self._meta().add(ids=[record], embeddings=_placeholders([record]), metadatas=[mine])
            got = self._meta().get(ids=[record], include=["metadatas"])
            if got["ids"] and got["metadatas"][0]["token"] == mine["token"]:
                self._mine, self._lost = mine, None
                stale = [f"{LEASE_PREFIX}{int(m['n']):012d}" for m in self._leases()
                         if int(m["n"]) < n]
                if stale:
                    self._meta().delete(ids=stale)
                self._stop.clear()
                self._renewer = threading.Thread(target=self._renew, daemon=True,
                                                 name="writer-lease")
                self._renewer.start()
                return top is not None and not top.get("released")
        raise StoreBusyError(f"another ingest took the writer lease of {self._label} at the "
                             "same moment; run again")

    def _record(self) -> str:
        assert self._mine is not None
        return f"{LEASE_PREFIX}{int(self._mine['n']):012d}"

    def _still_mine(self) -> bool:
        top = self._current()
        assert self._mine is not None
        if top is None or top["token"] != self._mine["token"]:
            who = busy_message(top, self._label, lease=True) if top else "nobody holds it"
            self._lost = f"this ingest lost the writer lease of {self._label}: {who}"
            return False
        return True

    def _renew(self) -> None:
        while not self._stop.wait(self._seconds / 3):
            try:
                if not self._still_mine():
                    return
                expires = time.time() + self._seconds
                self._meta().update(ids=[self._record()], metadatas=[{"expires": expires}])
                assert self._mine is not None
                self._mine["expires"] = expires
            except Exception:  # the server may be briefly away; the expiry decides
                if self._mine is not None and time.time() > float(self._mine["expires"]):
                    self._lost = (f"this ingest could not renew its writer lease of "
                                  f"{self._label} in time")
                    return

    def check(self) -> None:
        if self._mine is None:
            raise StoreBusyError("this process does not hold the writer lease")
        if self._lost is None:
            self._still_mine()
        if self._lost is not None:
            raise StoreBusyError(self._lost)

    def release(self) -> None:
        self.stop()
        if self._mine is not None and self._lost is None:
            with contextlib.suppress(Exception):
                if self._still_mine():
                    self._meta().update(ids=[self._record()],
                                        metadatas=[{"released": True, "expires": 0.0}])
        self._mine = None

    def stop(self) -> None:
        self._stop.set()
        if self._renewer is not None and self._renewer is not threading.current_thread():
            self._renewer.join(timeout=5)
        self._renewer = None


def _held(lease: dict[str, Any]) -> bool:
    """Whether a lease record still belongs to a live writer."""
    if lease.get("released") or float(lease.get("expires", 0)) <= time.time():
        return False
    if lease.get("host") == _HOST and lease.get("boot") == _boot_id():
        # A process on this machine: alive only if that pid still runs the same process.
        started = _process_started(int(lease.get("pid", 0)))
        return started is not None and started == lease.get("pid_started")
    return True


# -- who holds a lock ------------------------------------------------------------------------

_HOST = socket.gethostname()


def _boot_id() -> str:
    """Tells this boot of this machine from others (pids repeat across reboots)."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _process_started(pid: int) -> int | None:
    """When process `pid` started (clock ticks since boot), or None if there is none: a pid
    reused by another process after a crash has another start time."""
    if pid <= 0:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # gone, or no /proc here: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return 0  # alive, start time unknown (no /proc)
    fields = stat.rsplit(")", 1)[1].split()  # after "pid (name)": state, ppid, ...
    if fields[0] in ("Z", "X"):
        return None  # killed and not yet reaped: it will never write again
    return int(fields[19])  # field 22 of proc(5), starttime


def _holder(command: str) -> dict[str, Any]:
    pid = os.getpid()
    return {"pid": pid, "command": command, "host": _HOST, "boot": _boot_id(),
            "pid_started": _process_started(pid) or 0,
            "started": dt.datetime.now().isoformat(timespec="seconds")}


def busy_message(holder: dict[str, Any] | None, where: str, lease: bool = False) -> str:
    """Who is writing, from what the holder wrote about itself."""
    holder = holder or {}
    who = "another ingest"
    if isinstance(holder, dict) and holder.get("pid"):
        command = "ingest --rebuild" if holder.get("command") == "rebuild" else "ingest"
        host = f" on {holder['host']}" if lease and holder.get("host") else ""
        when = ""
        with contextlib.suppress(TypeError, ValueError):
            started = dt.datetime.fromisoformat(str(holder.get("started")))
            shown = "%H:%M" if started.date() == dt.date.today() else "%Y-%m-%d %H:%M"
            when = f", started {started.strftime(shown)}"
        who = f"another {command} (pid {holder['pid']}{host}{when})"
    if lease and holder.get("expires"):
        until = dt.datetime.fromtimestamp(float(holder["expires"])).strftime("%H:%M:%S")
        return (f"{who} is writing to {where}; wait for it or stop it (its lease expires at "
                f"{until} unless it renews it)")
    return f"{who} is writing to {where}; wait for it or stop it"


def lock_file(path: Path, *, wait: bool) -> int | None:
    """An exclusive flock on `path`: its descriptor, or None when held elsewhere and not `wait`."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if not wait and exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
            return None
        raise
    return fd


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    fd = lock_file(path, wait=True)
    assert fd is not None
    try:
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock

