"""The index: chunk vectors in Chroma, plus a local registry (SQLite) and BM25 keyword index.

Writes follow a two-phase protocol so an interrupted ingest (Ctrl-C, kill -9) never leaves an
article half-indexed or duplicated: the registry marks the articles `pending`, their old
vectors are deleted and the new ones added in Chroma, then one registry transaction stores the
chunks and marks them `ready`. Readers only trust chunks of `ready` articles, and the next
ingest redoes anything still `pending`.

Several processes share one store (a server reads while `assistant ingest` writes), and
embedded Chroma is not made for that: each process caches the HNSW index in memory, and a
process opening a collection may replay Chroma's log into it and write its files. So:
- one writer at a time: `Store.writing()` holds `ingest.lock` for a whole ingest, and a second
  writer is refused at once;
- a short lock on `chroma.lock` (embedded Chroma only) around every Chroma write phase, which
  ends with the registry commit that bumps the generation, and around every (re)opening of the
  Chroma client, so a process never opens Chroma while another one is writing to it;
- a reader reopens its Chroma client when the registry generation has moved on (its cached
  HNSW index no longer matches Chroma's metadata), never per query.

The registry also keeps each chunk's vector. A small embedded index (up to
`EXACT_SEARCH_MAX_CHUNKS` chunks) is searched exactly from those, in numpy, and Chroma is opened
only to write (and for the health check): importing and opening chromadb costs a short-lived
`assistant ask` more than half a second, and an exact scan of a few thousand vectors takes
about a millisecond.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assistant.errors import StoreBusyError, StoreError, StoreMissingError
from assistant.keyword import KeywordIndex
from assistant.stories import StoryIndex
from assistant.types import Article, ArticleMeta, Chunk

REGISTRY_FILE = "registry.sqlite3"
KEYWORD_DIR = "keyword"
WRITER_LOCK_FILE = "ingest.lock"
CHROMA_LOCK_FILE = "chroma.lock"
KEYWORD_LOCK_FILE = "keyword.lock"
# Up to this many chunks (about 15 MB of vectors) an embedded index is searched exactly in
# numpy instead of through Chroma (ASSISTANT_EXACT_SEARCH_MAX_CHUNKS; 0 = always Chroma).
EXACT_SEARCH_MAX_CHUNKS = 20_000
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY, hash TEXT NOT NULL, state TEXT NOT NULL, title TEXT NOT NULL,
    date TEXT, source TEXT, url TEXT, path TEXT NOT NULL, body TEXT NOT NULL,
    n_chunks INTEGER NOT NULL DEFAULT 0
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


def date_number(date: str | None) -> int:
    """YYYYMMDD as an int for Chroma range filters; 0 for undated articles."""
    return int(date.replace("-", "")) if date else 0


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
class StoreStats:
    articles: int
    chunks: int
    first_date: str | None
    last_date: str | None
    undated: int
    stories: int
    embedding_model: str | None
    store: str
    chroma: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Registry:
    """SQLite: article bodies and metadata, chunk offsets and sentence vectors, write states."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._write_lock = threading.Lock()
        with self._connect() as db:
            db.executescript(SCHEMA)
            columns = {row[1] for row in db.execute("PRAGMA table_info(chunks)")}
            if "vector" not in columns:  # a registry written before chunk vectors were kept
                with contextlib.suppress(sqlite3.OperationalError):  # another process added it
                    db.execute("ALTER TABLE chunks ADD COLUMN vector BLOB")

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
        """Bumped by every commit that changes what readers see."""
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
        """article id -> (content hash, state)."""
        rows = self._connect().execute("SELECT id, hash, state FROM articles")
        return {r[0]: (r[1], r[2]) for r in rows}

    def paths(self) -> dict[str, str]:
        """article id -> its stored path (relative in stores written by older versions)."""
        return {r[0]: r[1] for r in self._connect().execute("SELECT id, path FROM articles")}

    def snapshot(self) -> tuple[int, dict[str, ArticleMeta], list[tuple[str, str, int, int]]]:
        """The generation, ready articles and their chunks, all as of one commit."""
        with self._reading() as db:
            row = db.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
            return int(row[0]) if row else 0, self._ready_articles(db), self._ready_chunks(db)

    def chunk_texts(self) -> tuple[int, list[str], list[str]]:
        """The generation, and the id and text of every ready chunk, as of one commit."""
        with self._reading() as db:
            row = db.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
            rows = self._ready_chunks(db)
            bodies = dict(db.execute("SELECT id, body FROM articles WHERE state='ready'"))
        return (int(row[0]) if row else 0, [r[0] for r in rows],
                [bodies[aid][s:e] for _, aid, s, e in rows])

    def load_articles(self) -> list[Article]:
        """Every ready article as stored (to chunk it again without its file)."""
        rows = self._connect().execute(
            "SELECT id, title, body, path, date, source, url, hash FROM articles"
            " WHERE state='ready' ORDER BY id"
        )
        return [Article(id=r[0], title=r[1], body=r[2], path=r[3], date=r[4], source=r[5],
                        url=r[6], content_hash=r[7]) for r in rows]

    def mark(self, articles: Sequence[Article], state: str) -> None:
        """Record that these articles are being (re)written; committed before Chroma is touched."""
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
        """One transaction: the new chunks replace the old and the articles become `ready`.

        Returns the new generation.
        """
        with self._write_lock:
            db = self._connect()
            db.execute("BEGIN IMMEDIATE")
            try:
                ids = [(a.id,) for a in articles]
                db.executemany("DELETE FROM chunks WHERE article_id=?", ids)
                db.executemany(
                    """INSERT INTO articles (id, hash, state, title, date, source, url, path, body,
                       n_chunks) VALUES (?, ?, 'ready', ?, ?, ?, ?, ?, ?, ?)
                       ON CONFLICT(id) DO UPDATE SET hash=excluded.hash, state='ready',
                       title=excluded.title, date=excluded.date, source=excluded.source,
                       url=excluded.url, path=excluded.path, body=excluded.body,
                       n_chunks=excluded.n_chunks""",
                    [
                        (a.id, a.content_hash, a.title, a.date, a.source, a.url, a.path, a.body,
                         len(chunks[a.id]))
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
        """The generation, and every ready chunk's vector with its article's date, as of one
        commit; None instead of the vectors when there are more than `limit` chunks or some
        chunk has no vector (kept only in Chroma by an older version)."""
        ready = "FROM chunks c JOIN articles a ON a.id=c.article_id WHERE a.state='ready'"
        with self._reading() as db:
            row = db.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
            generation = int(row[0]) if row else 0
            # Counted from an index first: a large store is turned away without reading rows.
            if db.execute("SELECT count(*) FROM chunks").fetchone()[0] > limit:
                return generation, None
            rows = db.execute(f"SELECT c.id, c.vector, a.date {ready}").fetchall()
        if any(r[1] is None for r in rows):
            return generation, None
        ids = [r[0] for r in rows]
        matrix = np.frombuffer(b"".join(r[1] for r in rows), np.float16)
        vectors = matrix.reshape(len(rows), -1).astype(np.float32) if rows else \
            np.zeros((0, 0), np.float32)
        dates = np.array([date_number(r[2]) for r in rows], np.int64)
        return generation, ExactIndex(ids, vectors, dates)

    def chunks_without_vectors(self, limit: int) -> list[str]:
        """Chunks whose vector only Chroma has, in a store of at most `limit` chunks."""
        db = self._connect()
        if db.execute("SELECT count(*) FROM chunks").fetchone()[0] > limit:
            return []
        return [r[0] for r in db.execute("SELECT id FROM chunks WHERE vector IS NULL")]

    def store_vectors(self, vectors: dict[str, np.ndarray]) -> int:
        """Keep these chunks' vectors; returns the new generation (readers look again)."""
        with self._write_lock:
            db = self._connect()
            db.execute("BEGIN IMMEDIATE")
            db.executemany("UPDATE chunks SET vector=? WHERE id=?",
                           [(_vector_blob(v), cid) for cid, v in vectors.items()])
            generation = self._bump(db, None)
            db.execute("COMMIT")
        return generation

    def delete_articles(self, article_ids: Sequence[str]) -> int:
        """Forget these articles and their chunks; returns the new generation."""
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
        """Store new file paths for these articles; returns the new generation."""
        with self._write_lock:
            db = self._connect()
            db.execute("BEGIN IMMEDIATE")
            db.executemany("UPDATE articles SET path=? WHERE id=?",
                           [(path, i) for i, path in paths.items()])
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

    def ready_chunks(self) -> list[tuple[str, str, int, int]]:
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
    def _ready_chunks(db: sqlite3.Connection) -> list[tuple[str, str, int, int]]:
        rows = db.execute(
            'SELECT c.id, c.article_id, c.start, c."end" FROM chunks c JOIN articles a'
            " ON a.id=c.article_id WHERE a.state='ready' ORDER BY c.article_id, c.idx"
        )
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    def body(self, article_id: str) -> str | None:
        row = self._connect().execute(
            "SELECT body FROM articles WHERE id=? AND state='ready'", (article_id,)
        ).fetchone()
        return None if row is None else str(row[0])

    def bodies(self, article_ids: Iterable[str]) -> dict[str, str]:
        ids = list(set(article_ids))
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self._connect().execute(
            f"SELECT id, body FROM articles WHERE state='ready' AND id IN ({marks})", ids
        )
        return {r[0]: r[1] for r in rows}

    def chunk_records(self, chunk_ids: Sequence[str]) -> dict[str, ChunkRecord]:
        if not chunk_ids:
            return {}
        marks = ",".join("?" * len(chunk_ids))
        rows = self._connect().execute(
            'SELECT id, article_id, start, "end", sentences, sentence_vectors FROM chunks'
            f" WHERE id IN ({marks})",
            list(chunk_ids),
        )
        out = {}
        for r in rows:
            spans = [tuple(s) for s in json.loads(r[4])]
            vectors = np.frombuffer(r[5], dtype=np.float16).reshape(len(spans), -1)
            out[r[0]] = ChunkRecord(r[0], r[1], r[2], r[3], spans, vectors.astype(np.float32))
        return out


def _vector_blob(vector: Any) -> bytes | None:
    return None if vector is None else np.asarray(vector, np.float16).tobytes()


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
        if since or until:
            # An explicit filter asks for dated articles; undated ones are stored as 0.
            keep = self.dates >= max(date_number(since), 1)
            if until:
                keep &= self.dates <= date_number(until)
            sims = np.where(keep, sims, -np.inf)
        n = min(n, len(sims))
        top = np.argpartition(-sims, n - 1)[:n]
        top = top[np.argsort(-sims[top], kind="stable")]
        return [(self.ids[i], float(sims[i])) for i in top if np.isfinite(sims[i])]


class Store:
    """Chunk vectors in Chroma (embedded or server) plus the registry and keyword index.

    An embedded Chroma is opened on first use, so a small index searched exactly never opens
    it; a Chroma server is connected to at once, so an unreachable one fails early.
    """

    def __init__(self, root: Path, chroma: ChromaConnector, collection_name: str,
                 exact_search_max_chunks: int = EXACT_SEARCH_MAX_CHUNKS) -> None:
        self.root = root
        self.registry = Registry(root / REGISTRY_FILE)
        self.stories = StoryIndex(root / REGISTRY_FILE)
        self.chroma_label = chroma.label
        self._chroma = chroma
        self._collection_name = collection_name
        self._client: Any = None
        self._collection: Any = None
        # The registry generation the open Chroma client has seen, and a count of openings.
        self._generation = -1
        self._opened = 0
        # Threads of one process share the client; reopening waits until none is using it.
        self._cond = threading.Condition()
        self._users = 0
        self._reopening = False
        self._keyword: KeywordIndex | None = None
        self._keyword_lock = threading.Lock()
        # A Chroma server is the setup for large, shared indexes: it keeps the search.
        self._exact_max = exact_search_max_chunks if chroma.embedded else 0
        self._exact: tuple[int, ExactIndex | None] | None = None
        self._exact_lock = threading.Lock()
        if not self._exact_max:  # Chroma answers every search: open it now, failing early
            with self._chroma_lock():
                self._open_locked()

    @staticmethod
    def exists(root: Path) -> bool:
        return (root / REGISTRY_FILE).is_file()

    @staticmethod
    def require(root: Path) -> None:
        if not Store.exists(root):
            raise StoreMissingError(
                f"no index at {root}/ yet; run `assistant ingest` first (or pass --store DIR)"
            )

    @property
    def collection(self) -> Any:
        """The Chroma collection as last opened (for tests, benchmarks and llama-index)."""
        if self._collection is None:
            self._reopen(self._opened)
        return self._collection

    # -- sharing Chroma between threads and processes -------------------------------------

    @contextlib.contextmanager
    def _chroma_lock(self) -> Iterator[None]:
        """Exclusive use of embedded Chroma's files among processes; a server needs none."""
        if not self._chroma.embedded:
            yield
            return
        with _locked(self.root / CHROMA_LOCK_FILE):
            yield

    def _open_locked(self) -> None:
        """(Re)open the client and collection; the caller holds the Chroma lock."""
        generation = self.registry.generation()  # under the lock, so it matches Chroma
        if self._client is not None:
            # Closing releases chromadb's cached System for this path, so the next client
            # loads the HNSW index from disk instead of reusing the stale one in memory.
            with contextlib.suppress(Exception):
                self._client.close()
            self._client = self._collection = None
        name = self._collection_name
        try:
            client = self._chroma.connect()
            collection = client.get_or_create_collection(
                name, metadata={"hnsw:space": "cosine"}, embedding_function=None
            )
            # The first use replays Chroma's log into this process's index, which may write
            # Chroma's files: it must happen now, under the lock.
            collection.count()
        except StoreError:
            raise
        except Exception as exc:
            raise StoreError(f"cannot open Chroma collection {name!r}: {exc}") from exc
        self._client, self._collection, self._generation = client, collection, generation
        self._opened += 1

    def _reopen(self, seen: int, lock_held: bool = False) -> None:
        """Reopen Chroma, unless another thread did so since the caller's opening `seen`."""
        with self._cond:
            while self._reopening:
                self._cond.wait()
            if self._opened != seen:
                return
            self._reopening = True
            while self._users:
                self._cond.wait()
        try:
            if lock_held:
                self._open_locked()
            else:
                with self._chroma_lock():
                    self._open_locked()
        finally:
            with self._cond:
                self._reopening = False
                self._cond.notify_all()

    @contextlib.contextmanager
    def _using(self) -> Iterator[Any]:
        with self._cond:
            while self._reopening:
                self._cond.wait()
            self._users += 1
            collection = self._collection
        try:
            yield collection
        finally:
            with self._cond:
                self._users -= 1
                if not self._users:
                    self._cond.notify_all()

    def _read(self, action: Callable[[Any], Any]) -> Any:
        """Run `action(collection)` on a client that has seen the latest commit.

        A failure is retried once on a reopened client: another process may be between
        its Chroma writes and its registry commit, which a stale client cannot follow.
        """
        if self.registry.generation() != self._generation:
            self._reopen(self._opened)
        for attempt in (1, 2):
            seen = self._opened
            try:
                with self._using() as collection:
                    return action(collection)
            except Exception as exc:
                if attempt == 2:
                    raise StoreError(f"Chroma query failed: {exc}") from exc
                self._reopen(seen)
        raise AssertionError("unreachable")  # pragma: no cover

    @contextlib.contextmanager
    def _writing_vectors(self) -> Iterator[Any]:
        """A Chroma write phase; the registry commit that publishes it goes inside it too."""
        with self._chroma_lock():
            if self.registry.generation() != self._generation:
                self._reopen(self._opened, lock_held=True)
            with self._using() as collection:
                yield collection

    # -- writes ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def writing(self, command: str = "ingest") -> Iterator[None]:
        """Be the only writer of this store, or raise `StoreBusyError` at once.

        An flock dies with its process, so a killed ingest never leaves a stale lock; the
        file only tells the next writer who holds it.
        """
        path = self.root / WRITER_LOCK_FILE
        fd = _lock_file(path, wait=False)
        if fd is None:
            raise StoreBusyError(_busy_message(path, self.root))
        try:
            holder = {"pid": os.getpid(), "command": command,
                      "started": dt.datetime.now().isoformat(timespec="seconds")}
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(holder).encode(), 0)
            yield
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)

    def write_articles(
        self,
        articles: Sequence[Article],
        chunks: dict[str, list[Chunk]],
        vectors: dict[str, np.ndarray],
        sentence_vectors: dict[str, np.ndarray],
        embedding_model: str,
    ) -> None:
        """Replace these articles' chunks, all or nothing from a reader's point of view."""
        if not articles:
            return
        self.registry.mark(articles, "pending")
        with self._writing_vectors() as collection:
            _delete_vectors(collection, [a.id for a in articles])
            _add_vectors(collection, articles, chunks, vectors)
            self._generation = self.registry.commit_articles(
                articles, chunks, sentence_vectors, embedding_model, vectors)

    def remove_articles(self, article_ids: Sequence[str]) -> None:
        if not article_ids:
            return
        self.registry.mark_ids(article_ids, "pending")
        with self._writing_vectors() as collection:
            _delete_vectors(collection, article_ids)
            self._generation = self.registry.delete_articles(article_ids)

    def move_articles(self, paths: dict[str, str]) -> None:
        """Record new file paths for unchanged articles, in the registry and Chroma's metadata."""
        if not paths:
            return
        ids = list(paths)
        with self._writing_vectors() as collection:
            for b in range(0, len(ids), 500):
                got = collection.get(where=_by_articles(ids[b : b + 500]), include=["metadatas"])
                if not got["ids"]:
                    continue
                metadatas = [_with_path(m, paths[m["article_id"]]) for m in got["metadatas"]]
                collection.update(ids=got["ids"], metadatas=metadatas)
            self._generation = self.registry.move_articles(paths)

    def reset(self) -> None:
        """Delete everything (for --rebuild)."""
        ids = list(self.registry.states())
        name = self._collection_name
        with self._writing_vectors():
            with contextlib.suppress(Exception):
                self._client.delete_collection(name)
            fresh = self._client.get_or_create_collection(
                name, metadata={"hnsw:space": "cosine"}, embedding_function=None
            )
            with self._cond:
                self._collection = fresh
            if ids:
                self._generation = self.registry.delete_articles(ids)
        self.registry.clear_meta("embedding_model")
        self.registry.clear_meta("chunking")
        self._keyword = None

    # -- reads ----------------------------------------------------------------------------

    def exact_index(self) -> ExactIndex | None:
        """The in-memory index of a small embedded store at the current generation, if any."""
        if not self._exact_max:
            return None
        generation = self.registry.generation()
        cached = self._exact
        if cached is None or cached[0] != generation:
            with self._exact_lock:
                cached = self._exact
                if cached is None or cached[0] != generation:
                    cached = self._exact = self.registry.exact_index(self._exact_max)
        return cached[1]

    def backfill_vectors(self) -> int:
        """Copy into the registry the chunk vectors an older version kept only in Chroma, so
        the index can be searched exactly; returns how many were copied."""
        if not self._exact_max:
            return 0
        missing = self.registry.chunks_without_vectors(self._exact_max)
        if not missing:
            return 0
        with self._writing_vectors() as collection:
            found: dict[str, np.ndarray] = {}
            for b in range(0, len(missing), 500):
                got = collection.get(ids=missing[b : b + 500], include=["embeddings"])
                found.update(zip(got["ids"], got["embeddings"], strict=True))
            self._generation = self.registry.store_vectors(found)
        return len(found)

    def dense_search(
        self, vector: np.ndarray, n: int, since: str | None = None, until: str | None = None
    ) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity), best first."""
        exact = self.exact_index()
        if exact is not None:
            return exact.search(vector, n, since, until)
        # No count() first: it costs ~10 ms at 100k chunks, and Chroma returns fewer
        # results when asked for more than it holds.
        clauses: list[dict[str, Any]] = []
        if since or until:
            # An explicit filter asks for dated articles; undated ones are stored as 0.
            clauses.append({"date_num": {"$gte": max(date_number(since), 1)}})
        if until:
            clauses.append({"date_num": {"$lte": date_number(until)}})
        where: dict[str, Any] | None = None
        if len(clauses) == 1:
            where = clauses[0]
        elif clauses:
            where = {"$and": clauses}
        result = self._read(lambda collection: collection.query(
            query_embeddings=[vector.tolist()], n_results=n, where=where, include=["distances"]))
        return [
            (cid, 1.0 - float(d))
            for cid, d in zip(result["ids"][0], result["distances"][0], strict=True)
        ]

    def probe(self) -> int:
        """Query Chroma as a search does (nearest neighbours under a metadata filter) and
        return the number of vectors; raises `StoreError` when it cannot answer."""

        def query(collection: Any) -> int:
            sample = collection.get(limit=1, include=["embeddings"])
            if sample["ids"]:
                collection.query(query_embeddings=[sample["embeddings"][0]], n_results=1,
                                 where={"date_num": {"$gte": 0}}, include=["distances"])
            return int(collection.count())

        return int(self._read(query))

    def keyword_index(self) -> KeywordIndex:
        """The BM25 index for the registry's current generation, rebuilt only if stale."""
        generation = self.registry.generation()
        with self._keyword_lock:
            if self._keyword is not None and self._keyword.generation == generation:
                return self._keyword
            with _locked(self.root / KEYWORD_LOCK_FILE):  # never half-way through a save
                index = KeywordIndex.load(self.root / KEYWORD_DIR)
            if index is None or index.generation != generation:
                index = self.rebuild_keyword_index()
            self._keyword = index
            return index

    def rebuild_keyword_index(self) -> KeywordIndex:
        generation, chunk_ids, texts = self.registry.chunk_texts()
        index = KeywordIndex.build(chunk_ids, texts, generation)
        folder = self.root / KEYWORD_DIR
        # A server rebuilding after an ingest's commit and the ingest itself may both get
        # here: one at a time, and an older index never replaces a newer one.
        with _locked(self.root / KEYWORD_LOCK_FILE):
            saved = KeywordIndex.saved_generation(folder)
            if saved is None or saved < generation:
                index.save(folder)
        return index

    def stats(self) -> StoreStats:
        articles = self.registry.ready_articles()
        dates = sorted(a.date for a in articles.values() if a.date)
        return StoreStats(
            articles=len(articles),
            chunks=sum(a.chunks for a in articles.values()),
            first_date=dates[0] if dates else None,
            last_date=dates[-1] if dates else None,
            undated=sum(1 for a in articles.values() if not a.date),
            stories=self.stories.count(),
            embedding_model=self.registry.get_meta("embedding_model"),
            store=str(self.root),
            chroma=self.chroma_label,
        )

    def check_embedder(self, name: str) -> None:
        """Refuse to mix vectors of two different models in one index."""
        stored = self.registry.get_meta("embedding_model")
        if stored and stored != name and self.registry.ready_articles():
            raise StoreError(
                f"the index at {self.root} was built with {stored!r}, not {name!r}; "
                "run `assistant ingest --rebuild` to re-embed everything"
            )


def _by_articles(article_ids: Sequence[str]) -> dict[str, Any]:
    # llama-index stores the source article's id as `document_id`.
    if len(article_ids) == 1:
        return {"document_id": article_ids[0]}
    return {"document_id": {"$in": list(article_ids)}}


def _delete_vectors(collection: Any, article_ids: Sequence[str]) -> None:
    for b in range(0, len(article_ids), 500):
        collection.delete(where=_by_articles(article_ids[b : b + 500]))


def _with_path(metadata: dict[str, Any], path: str) -> dict[str, Any]:
    """Chunk metadata with a new article path, in llama-index's copy of the node as well."""
    updated = {"path": path}
    if "_node_content" in metadata:
        node = json.loads(metadata["_node_content"])
        node.setdefault("metadata", {})["path"] = path
        updated["_node_content"] = json.dumps(node)
    return updated


def _add_vectors(
    collection: Any,
    articles: Sequence[Article],
    chunks: dict[str, list[Chunk]],
    vectors: dict[str, np.ndarray],
) -> None:
    # Records are written through llama-index's Chroma integration so the collection is a
    # regular llama-index vector store (any llama-index retriever can read it).
    from llama_index.core.schema import BaseNode, NodeRelationship, RelatedNodeInfo, TextNode
    from llama_index.vector_stores.chroma import ChromaVectorStore

    nodes: list[BaseNode] = []
    for a in articles:
        for c in chunks[a.id]:
            node = TextNode(
                id_=c.id,
                text=c.text,
                embedding=vectors[c.id].tolist(),
                metadata={
                    "article_id": a.id,
                    "title": a.title,
                    "date": a.date or "",
                    "date_num": date_number(a.date),
                    "source": a.source or "",
                    "url": a.url or "",
                    "path": a.path,
                    "start": c.start,
                    "end": c.end,
                    "chunk": c.index,
                    "hash": a.content_hash,
                },
                excluded_embed_metadata_keys=["date_num", "hash", "start", "end", "chunk"],
                excluded_llm_metadata_keys=["date_num", "hash", "start", "end", "chunk"],
            )
            node.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=a.id)
            nodes.append(node)
    if nodes:
        ChromaVectorStore(chroma_collection=collection).add(nodes)


def _lock_file(path: Path, *, wait: bool) -> int | None:
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
def _locked(path: Path) -> Iterator[None]:
    fd = _lock_file(path, wait=True)
    assert fd is not None
    try:
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _busy_message(lock_path: Path, root: Path) -> str:
    """Who holds the writer lock, from what it wrote into the lock file."""
    holder: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        holder = json.loads(lock_path.read_text() or "{}")
    who = "another ingest"
    if isinstance(holder, dict) and holder.get("pid"):
        command = "ingest --rebuild" if holder.get("command") == "rebuild" else "ingest"
        when = ""
        with contextlib.suppress(TypeError, ValueError):
            started = dt.datetime.fromisoformat(str(holder.get("started")))
            shown = "%H:%M" if started.date() == dt.date.today() else "%Y-%m-%d %H:%M"
            when = f", started {started.strftime(shown)}"
        who = f"another {command} (pid {holder['pid']}{when})"
    return f"{who} is writing to {root}/; wait for it or stop it"


@dataclass(frozen=True)
class ChromaConnector:
    """How to reach Chroma: `connect()` returns a new client each time it is called."""

    connect: Callable[[], Any]
    label: str
    embedded: bool


def open_chroma(
    root: Path, chroma_url: str | None, host_port: tuple[str, int, bool] | None
) -> ChromaConnector:
    """Chroma on disk under `root/chroma`, or the server at `chroma_url`. chromadb is imported
    on the first connection (its import alone takes about half a second)."""

    def settings() -> Any:
        from chromadb.config import Settings as ChromaSettings

        return ChromaSettings(anonymized_telemetry=False, allow_reset=True)

    if chroma_url and host_port:
        host, port, ssl = host_port

        def connect_server() -> Any:
            import chromadb

            try:
                client = chromadb.HttpClient(host=host, port=port, ssl=ssl, settings=settings())
                client.heartbeat()
            except Exception as exc:
                raise StoreError(
                    f"cannot reach the Chroma server at {chroma_url}: {exc}; is `chroma run` up?"
                ) from exc
            return client

        return ChromaConnector(connect_server, chroma_url, embedded=False)
    path = root / "chroma"
    path.mkdir(parents=True, exist_ok=True)

    def connect_embedded() -> Any:
        import chromadb

        return chromadb.PersistentClient(path=str(path), settings=settings())

    return ChromaConnector(connect_embedded, str(path), embedded=True)
