"""The index: chunk vectors in Chroma, plus a local registry (SQLite) and BM25 keyword index.

Writes follow a two-phase protocol so an interrupted ingest (Ctrl-C, kill -9) never leaves an
article half-indexed or duplicated: the registry marks the articles `pending`, their old
vectors are deleted and the new ones added in Chroma, then one registry transaction stores the
chunks and marks them `ready`. Readers only trust chunks of `ready` articles, and the next
ingest redoes anything still `pending`.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assistant.errors import StoreError, StoreMissingError
from assistant.keyword import KeywordIndex
from assistant.types import Article, ArticleMeta, Chunk

REGISTRY_FILE = "registry.sqlite3"
KEYWORD_DIR = "keyword"
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
    sentences TEXT NOT NULL, sentence_vectors BLOB NOT NULL
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

    def clear_meta(self, key: str) -> None:
        with self._write_lock:
            self._connect().execute("DELETE FROM meta WHERE key=?", (key,))

    def generation(self) -> int:
        return int(self.get_meta("generation") or 0)

    def states(self) -> dict[str, tuple[str, str]]:
        """article id -> (content hash, state)."""
        rows = self._connect().execute("SELECT id, hash, state FROM articles")
        return {r[0]: (r[1], r[2]) for r in rows}

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
    ) -> None:
        """One transaction: the new chunks replace the old and the articles become `ready`."""
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
                    " sentence_vectors) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            c.id, c.article_id, c.index, c.start, c.end,
                            json.dumps([[s.start, s.end] for s in c.sentences]),
                            sentence_vectors[c.id].astype(np.float16).tobytes(),
                        )
                        for a in articles
                        for c in chunks[a.id]
                    ],
                )
                self._bump(db, embedding_model)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def delete_articles(self, article_ids: Sequence[str]) -> None:
        with self._write_lock:
            db = self._connect()
            db.execute("BEGIN IMMEDIATE")
            ids = [(i,) for i in article_ids]
            db.executemany("DELETE FROM chunks WHERE article_id=?", ids)
            db.executemany("DELETE FROM articles WHERE id=?", ids)
            self._bump(db, None)
            db.execute("COMMIT")

    def _bump(self, db: sqlite3.Connection, embedding_model: str | None) -> None:
        db.execute(
            "INSERT INTO meta VALUES ('generation', '1') ON CONFLICT(key) DO UPDATE SET "
            "value=CAST(value AS INTEGER)+1"
        )
        if embedding_model:
            db.execute(
                "INSERT OR REPLACE INTO meta VALUES ('embedding_model', ?)", (embedding_model,)
            )

    def ready_articles(self) -> dict[str, ArticleMeta]:
        rows = self._connect().execute(
            "SELECT id, title, path, hash, date, source, url, n_chunks FROM articles"
            " WHERE state='ready'"
        )
        return {r[0]: ArticleMeta(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]) for r in rows}

    def ready_chunks(self) -> list[tuple[str, str, int, int]]:
        """(chunk id, article id, start, end) of ready articles, in a stable order."""
        rows = self._connect().execute(
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


class Store:
    """Chunk vectors in Chroma (embedded or server) plus the registry and keyword index."""

    def __init__(self, root: Path, client: Any, collection_name: str, chroma_label: str) -> None:
        self.root = root
        self.registry = Registry(root / REGISTRY_FILE)
        self._client = client
        self.chroma_label = chroma_label
        try:
            self.collection = client.get_or_create_collection(
                collection_name, metadata={"hnsw:space": "cosine"}, embedding_function=None
            )
        except Exception as exc:
            raise StoreError(f"cannot open Chroma collection {collection_name!r}: {exc}") from exc
        self._keyword: KeywordIndex | None = None
        self._keyword_lock = threading.Lock()

    @staticmethod
    def exists(root: Path) -> bool:
        return (root / REGISTRY_FILE).is_file()

    @staticmethod
    def require(root: Path) -> None:
        if not Store.exists(root):
            raise StoreMissingError(
                f"no index at {root}/ yet; run `assistant ingest` first (or pass --store DIR)"
            )

    # -- writes ---------------------------------------------------------------------------

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
        self._delete_vectors([a.id for a in articles])
        self._add_vectors(articles, chunks, vectors)
        self.registry.commit_articles(articles, chunks, sentence_vectors, embedding_model)

    def remove_articles(self, article_ids: Sequence[str]) -> None:
        if not article_ids:
            return
        self.registry.mark_ids(article_ids, "pending")
        self._delete_vectors(article_ids)
        self.registry.delete_articles(article_ids)

    def _delete_vectors(self, article_ids: Sequence[str]) -> None:
        for b in range(0, len(article_ids), 500):
            part = list(article_ids[b : b + 500])
            where = {"document_id": part[0]} if len(part) == 1 else {"document_id": {"$in": part}}
            self.collection.delete(where=where)

    def _add_vectors(
        self,
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
            ChromaVectorStore(chroma_collection=self.collection).add(nodes)

    # -- reads ----------------------------------------------------------------------------

    def dense_search(
        self, vector: np.ndarray, n: int, since: str | None = None, until: str | None = None
    ) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity), best first."""
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
        try:
            result = self.collection.query(
                query_embeddings=[vector.tolist()],
                n_results=n,
                where=where,
                include=["distances"],
            )
        except Exception as exc:
            raise StoreError(f"Chroma query failed: {exc}") from exc
        return [
            (cid, 1.0 - float(d))
            for cid, d in zip(result["ids"][0], result["distances"][0], strict=True)
        ]

    def keyword_index(self) -> KeywordIndex:
        """The BM25 index for the registry's current generation, rebuilt only if stale."""
        generation = self.registry.generation()
        with self._keyword_lock:
            if self._keyword is not None and self._keyword.generation == generation:
                return self._keyword
            folder = self.root / KEYWORD_DIR
            index = KeywordIndex.load(folder)
            if index is None or index.generation != generation:
                index = self.rebuild_keyword_index(generation)
            self._keyword = index
            return index

    def rebuild_keyword_index(self, generation: int | None = None) -> KeywordIndex:
        generation = self.registry.generation() if generation is None else generation
        rows = self.registry.ready_chunks()
        bodies = self.registry.bodies({r[1] for r in rows})
        texts = [bodies[aid][s:e] for _, aid, s, e in rows]
        index = KeywordIndex.build([r[0] for r in rows], texts, generation)
        index.save(self.root / KEYWORD_DIR)
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

    def reset(self) -> None:
        """Delete everything (for --rebuild)."""
        ids = list(self.registry.states())
        name = self.collection.name
        with contextlib.suppress(Exception):
            self._client.delete_collection(name)
        self.collection = self._client.get_or_create_collection(
            name, metadata={"hnsw:space": "cosine"}, embedding_function=None
        )
        if ids:
            self.registry.delete_articles(ids)
        self.registry.clear_meta("embedding_model")
        self._keyword = None


def open_chroma(
    root: Path, chroma_url: str | None, host_port: tuple[str, int, bool] | None
) -> tuple[Any, str]:
    """A Chroma client: on-disk under `root/chroma`, or the server at `chroma_url`."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=True)
    if chroma_url and host_port:
        host, port, ssl = host_port
        try:
            client = chromadb.HttpClient(host=host, port=port, ssl=ssl, settings=chroma_settings)
            client.heartbeat()
        except Exception as exc:
            raise StoreError(
                f"cannot reach the Chroma server at {chroma_url}: {exc}; is `chroma run` up?"
            ) from exc
        return client, chroma_url
    path = root / "chroma"
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings), str(path)
