"""The index: chunk vectors in Chroma, plus a registry (registry.py) and a BM25 keyword index.

Writes follow a two-phase protocol so an interrupted ingest (Ctrl-C, kill -9) never leaves an
article half-indexed or duplicated: the registry marks the articles `pending`, their old
vectors are deleted and the new ones added in Chroma, then one registry commit stores the
chunks, marks them `ready` and moves the generation on. Readers only trust chunks of `ready`
articles, and the next ingest redoes anything still `pending`.

The registry lives where the vectors live: in SQLite in the store folder beside embedded
Chroma (the default), or in the Chroma server itself (`ASSISTANT_CHROMA_URL`), so that any
number of machines can answer from one server while their store folders hold caches only.

Readers work from a `View` of one generation: the ready articles, their chunk offsets and
the BM25 index, built from the registry (the BM25 index is saved in the store folder, so a
restart at the same generation loads it). When another process commits, the next reader
starts building the new view in the background and waits a moment for it; if it takes
longer, queries are answered from the previous view until it is ready, and a passage is only
ever cut from the body version its view knows. Builds are spaced out so that, during a long
ingest, rebuilding a large view takes at most a third of a core from answering.

Several processes share one store (a server reads while `assistant ingest` writes). One writer
at a time: `Store.writing()` holds the registry's writer lock (an flock, or a lease in the
Chroma server) for a whole ingest, and a second writer is refused at once. Embedded Chroma is
not made for several processes: each caches the HNSW index in memory, and a process opening a
collection may replay Chroma's log into it and write its files. So, for embedded Chroma only:
- a short lock on `chroma.lock` around every Chroma write phase, which ends with the registry
  commit that bumps the generation, and around every (re)opening of the Chroma client, so a
  process never opens Chroma while another one is writing to it;
- a reader reopens its Chroma client when the registry generation has moved on (its cached
  HNSW index no longer matches Chroma's metadata), never per query.

The embedded registry also keeps each chunk's vector. A small embedded index (up to
`EXACT_SEARCH_MAX_CHUNKS` chunks) is searched exactly from those, in numpy, and Chroma is opened
only to write (and for the health check): importing and opening chromadb costs a short-lived
`assistant ask` more than half a second, and an exact scan of a few thousand vectors takes
about a millisecond. A Chroma server always searches its own collection.

Stories (stories.py) are kept by the registry too: in the SQLite file, or in the server.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assistant.errors import StoreError, StoreMissingError
from assistant.keyword import KeywordIndex
from assistant.registry import (
    OPEN_END,
    ChromaRegistry,
    ChunkRecord,
    ExactIndex,
    Registry,
    SqliteRegistry,
    date_bounds,
    date_number,
    locked,
)
from assistant.types import Article, ArticleMeta, Chunk, Span

REGISTRY_FILE = "registry.sqlite3"
KEYWORD_DIR = "keyword"
WRITER_LOCK_FILE = "ingest.lock"
CHROMA_LOCK_FILE = "chroma.lock"
KEYWORD_LOCK_FILE = "keyword.lock"
# With a Chroma server: the ingesting machine's copy of the story filing records (registry.py).
STORY_CACHE_FILE = "stories.sqlite3"
# Up to this many chunks (about 15 MB of vectors) an embedded index is searched exactly in
# numpy instead of through Chroma (ASSISTANT_EXACT_SEARCH_MAX_CHUNKS; 0 = always Chroma).
EXACT_SEARCH_MAX_CHUNKS = 20_000
# How long a query waits for the view of a newer generation before it is answered from the
# previous one: long enough for a small store's rebuild, short enough not to stall a server
# while a large one rebuilds (seconds per 100k chunks, see bench/README.md).
REFRESH_WAIT_SECONDS = 2.0
# A view takes a core while it is built (about 10 s per 100k chunks with a Chroma server), and
# an ingest commits every 256 chunks: between two rebuilds a process rests twice as long as the
# last one took, so building uses at most a third of a core during a long ingest. The first
# view (start-up) is not followed by a rest: the first commit after it is served as soon as
# it is built.
REFRESH_REST = 2.0
# Chroma's date filter costs time in proportion to the chunks it admits (it gathers their ids
# before searching): at 1M chunks 3.1 s for half of them, 0.35 s for 2 %. An unfiltered search
# for 4,000 neighbours takes 70 ms there, 12,000 about 180 ms. So when a range admits a large
# enough share of the index, the search asks Chroma for MARGIN times the neighbours the range
# should keep, unfiltered, and filters them with the view's dates (bench/scale.py --parts).
# The filter's cost grows with the index and the unfiltered search's with the neighbours asked
# for, so the search asks for at most a twentieth of the index: at 100k chunks a range of 2 %
# took 63 ms through the filter and 75 ms unfiltered for 7,000 neighbours. Narrow ranges,
# and the rare search the margin falls short on, go through Chroma's filter.
POSTFILTER_MAX_RESULTS = 10_000
POSTFILTER_MAX_SHARE = 0.05
POSTFILTER_MARGIN = 2.0

__all__ = ["ChunkDates", "ChunkRecord", "ExactIndex", "Store", "StoreStats", "View", "date_bounds",
           "date_filter", "date_number", "open_chroma"]


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


@dataclass(frozen=True)
class ChunkDates:
    """The date number of each chunk's article (0 when undated or unknown), by row."""

    row_of: dict[str, int]
    dates: np.ndarray  # int64, one per row
    ordered: np.ndarray  # the same, sorted, to count a range's chunks by bisection

    @classmethod
    def of(cls, row_of: dict[str, int], dates: np.ndarray) -> ChunkDates:
        return cls(row_of, dates, np.sort(dates))

    def share(self, bounds: tuple[int, int]) -> float:
        """The fraction of the chunks dated within `bounds`."""
        if not len(self.ordered):
            return 0.0
        first = np.searchsorted(self.ordered, bounds[0], side="left")
        last = np.searchsorted(self.ordered, bounds[1], side="right")
        return float(last - first) / len(self.ordered)

    def admits(self, chunk_id: str, bounds: tuple[int, int]) -> bool:
        row = self.row_of.get(chunk_id)
        return row is not None and bounds[0] <= self.dates[row] <= bounds[1]


Nearest = Callable[[np.ndarray, int, dict[str, Any] | None], list[tuple[str, float]]]


def filtered_search(nearest: Nearest, vector: np.ndarray, n: int, bounds: tuple[int, int],
                    dates: ChunkDates | None) -> list[tuple[str, float]]:
    """The `n` nearest chunks dated within `bounds`, from `nearest` (Chroma's search, with
    an optional `where`): unfiltered and filtered here when the range admits enough of the
    index (see POSTFILTER_MAX_RESULTS and POSTFILTER_MAX_SHARE), else through Chroma's filter."""
    if dates is not None:
        share = dates.share(bounds)
        cap = min(POSTFILTER_MAX_RESULTS, int(POSTFILTER_MAX_SHARE * len(dates.dates)))
        want = int(POSTFILTER_MARGIN * n / share) + 1 if share else cap + 1
        if want <= cap:
            found = nearest(vector, want, None)
            kept = [(cid, sim) for cid, sim in found if dates.admits(cid, bounds)]
            # Fewer results than asked for means Chroma has no more: all were seen.
            if len(kept) >= n or len(found) < want:
                return kept[:n]
    return nearest(vector, n, date_filter(bounds))


def date_filter(bounds: tuple[int, int]) -> dict[str, Any]:
    """Chroma's `where` for a date range; one clause when the range has no end, which
    Chroma answers about twice as fast as two."""
    since: dict[str, Any] = {"date_num": {"$gte": bounds[0]}}
    if bounds[1] >= OPEN_END:
        return since
    return {"$and": [since, {"date_num": {"$lte": bounds[1]}}]}


@dataclass(frozen=True)
class View:
    """The index as of one generation, as a reader uses it: the ready articles, chunk id ->
    (article id, start, end), and the BM25 index (whose generation may be ahead by a commit
    made while the view was read; rows it has that the view lacks are ignored)."""

    generation: int
    articles: dict[str, ArticleMeta]
    chunks: dict[str, tuple[str, int, int]]
    keyword: KeywordIndex
    dates: ChunkDates  # of the BM25 index's rows
    seconds: float  # how long building it took
    built_at: float  # time.monotonic() when it was done
    rebuilt: bool = False  # built to replace an older view (not at start-up)


class Store:
    """Chunk vectors in Chroma (embedded or server) plus the registry and keyword index.

    An embedded Chroma is opened on first use, so a small index searched exactly never opens
    it; a Chroma server is connected to at once, so an unreachable one fails early.
    """

    def __init__(self, root: Path, chroma: ChromaConnector, collection_name: str, *,
                 exact_search_max_chunks: int = EXACT_SEARCH_MAX_CHUNKS,
                 create: bool = False, lease_seconds: float = 30.0) -> None:
        self.root = root
        self.chroma_label = chroma.label
        self.embedded = chroma.embedded
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
        # The readers' view, and the background build of the next one.
        self._view: View | None = None
        self._view_cond = threading.Condition()
        self._refreshing = False
        self._refresh_error: Exception | None = None
        if chroma.embedded and not create:
            Store.require(root)
        root.mkdir(parents=True, exist_ok=True)
        self.registry: Registry
        if chroma.embedded:
            self.registry = SqliteRegistry(root / REGISTRY_FILE, root / WRITER_LOCK_FILE)
        else:
            self.registry = ChromaRegistry(chroma.connect, collection_name, chroma.label,
                                           create=create, lease_seconds=lease_seconds,
                                           story_cache=root / STORY_CACHE_FILE)
        self.stories = self.registry.stories
        # A Chroma server is the setup for large, shared indexes: it keeps the search.
        self._exact_max = exact_search_max_chunks if chroma.embedded else 0
        self._exact: tuple[int, ExactIndex | None] | None = None
        self._exact_lock = threading.Lock()
        if not self._exact_max:  # Chroma answers every search: open it now, failing early
            with self._chroma_lock():
                self._open_locked()

    @staticmethod
    def exists(root: Path) -> bool:
        """Whether an embedded index exists at `root` (a server's is checked on opening)."""
        return (root / REGISTRY_FILE).is_file()

    @staticmethod
    def require(root: Path) -> None:
        if not Store.exists(root):
            raise StoreMissingError(
                f"no index at {root}/ yet; run `assistant ingest` first (or pass --store DIR)"
            )

    def close(self) -> None:
        self.registry.close()

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
        with locked(self.root / CHROMA_LOCK_FILE):
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
        its Chroma writes and its registry commit, which a stale client cannot follow (or,
        with a server, have recreated the collection for --rebuild).
        """
        if self._chroma.embedded and self.registry.generation() != self._generation:
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
        """Be the only writer of this store, or raise `StoreBusyError` at once. A killed
        writer never blocks the next one (registry.py says how, for each registry)."""
        with self.registry.writer(command):
            yield

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
        self.registry.check_writer()  # a writer whose lease was taken over stops here
        self.registry.mark(articles, "pending")
        with self._writing_vectors() as collection:
            _delete_vectors(collection, [a.id for a in articles])
            _add_vectors(collection, articles, chunks, vectors)
            self._generation = self.registry.commit_articles(
                articles, chunks, sentence_vectors, embedding_model, vectors)

    def remove_articles(self, article_ids: Sequence[str]) -> None:
        if not article_ids:
            return
        self.registry.check_writer()
        self.registry.mark_ids(article_ids, "pending")
        with self._writing_vectors() as collection:
            _delete_vectors(collection, article_ids)
            self._generation = self.registry.delete_articles(article_ids)

    def move_articles(self, paths: dict[str, str]) -> None:
        """Record new file paths for unchanged articles, in the registry and Chroma's metadata."""
        if not paths:
            return
        self.registry.check_writer()
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
        self.registry.check_writer()
        name = self._collection_name
        with self._writing_vectors():
            with contextlib.suppress(Exception):
                self._client.delete_collection(name)
            fresh = self._client.get_or_create_collection(
                name, metadata={"hnsw:space": "cosine"}, embedding_function=None
            )
            with self._cond:
                self._collection = fresh
            self._generation = self.registry.reset()

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
        bounds = date_bounds(since, until)
        if bounds is None:
            return self._nearest(vector, n, None)
        view = self._view
        return filtered_search(self._nearest, vector, n, bounds,
                               view.dates if view is not None else None)

    def _nearest(self, vector: np.ndarray, n: int,
                 where: dict[str, Any] | None) -> list[tuple[str, float]]:
        # No count() first: it costs ~10 ms at 100k chunks, and Chroma returns fewer
        # results when asked for more than it holds.
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

    # -- the readers' view ------------------------------------------------------------------

    def view(self) -> View:
        """The view of the registry's current generation.

        Built here the first time (every caller waits for it). After another process's
        commit, the build of the next view starts in the background and callers wait up to
        REFRESH_WAIT_SECONDS for it, then go on with the previous one.
        """
        generation = self.registry.generation()
        view = self._view
        if view is not None and view.generation == generation:
            return view
        self._start_refresh()
        deadline = time.monotonic() + REFRESH_WAIT_SECONDS
        with self._view_cond:
            while self._refreshing and (self._view is None or self._view.generation < generation):
                if self._view is None:
                    self._view_cond.wait()
                    continue
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._view_cond.wait(left)
            if self._view is None:
                error = self._refresh_error
                if isinstance(error, StoreError):
                    raise error
                raise StoreError(f"cannot read the index: {error}") from error
            return self._view

    def loaded_view(self) -> View | None:
        """The view readers use now, without waiting or building (None before the first)."""
        return self._view

    def refresh_error(self) -> Exception | None:
        """Why the last build of a view failed, if it did."""
        return self._refresh_error

    def warm(self) -> None:
        """Start building the current view in the background, if it is not built."""
        view = self._view
        if view is None or view.generation != self.registry.generation():
            self._start_refresh()

    def _start_refresh(self) -> None:
        with self._view_cond:
            if self._refreshing:
                return
            self._refreshing = True
        threading.Thread(target=self._refresh, name="store-view", daemon=True).start()

    def _refresh(self) -> None:
        """Build views until one matches the registry's generation (an ingest may commit
        many times while a large view is built: readers get each newer one as it is done)."""
        try:
            while True:
                view = self._view
                if view is not None and view.generation == self.registry.generation():
                    return
                if view is not None and view.rebuilt:
                    rest = view.built_at + REFRESH_REST * view.seconds - time.monotonic()
                    if rest > 0:
                        time.sleep(rest)
                        continue
                fresh = self._build_view(rebuilt=view is not None)
                with self._view_cond:
                    # One refresher at a time, so the view built last is the newest read, even
                    # when the generation went back (a Chroma server wiped and filled again).
                    self._view = fresh
                    self._refresh_error = None
                    self._view_cond.notify_all()
        except Exception as exc:  # kept for view() and /readyz; the next reader tries again
            with self._view_cond:
                self._refresh_error = exc
        finally:
            with self._view_cond:
                self._refreshing = False
                self._view_cond.notify_all()

    def _build_view(self, rebuilt: bool = False) -> View:
        started = time.perf_counter()
        generation, articles, rows = self.registry.snapshot()
        keyword = self._keyword_index(generation)
        chunks = {cid: (aid, start, end) for cid, aid, start, end in rows}
        row_dates = np.array([
            date_number(articles[chunks[c][0]].date) if c in chunks else 0
            for c in keyword.chunk_ids
        ], np.int64)
        return View(generation, articles, chunks, keyword,
                    ChunkDates.of(keyword.row_of, row_dates), time.perf_counter() - started,
                    time.monotonic(), rebuilt)

    def _keyword_index(self, generation: int) -> KeywordIndex:
        """The BM25 index of `generation` as saved in the store folder, or built and saved.

        A server rebuilding after an ingest's commit and the ingest itself may both get
        here: one at a time, and an older index never replaces a newer one.
        """
        folder = self.root / KEYWORD_DIR
        with locked(self.root / KEYWORD_LOCK_FILE):  # never half-way through a save
            if KeywordIndex.saved_generation(folder) == generation:
                index = KeywordIndex.load(folder)
                if index is not None and index.generation == generation:
                    return index
        built_generation, texts = self.registry.chunk_texts()
        index = KeywordIndex.build(texts, built_generation)
        with locked(self.root / KEYWORD_LOCK_FILE):
            saved = KeywordIndex.saved_generation(folder)
            if saved is None or saved < built_generation:
                index.save(folder)
        return index

    def keyword_index(self) -> KeywordIndex:
        """The BM25 index of the readers' view."""
        return self.view().keyword

    def save_keyword_index(self) -> None:
        """Build and save the BM25 index of the current generation, unless it is saved
        already, so the readers on this machine load it instead of each building it."""
        generation = self.registry.generation()
        if KeywordIndex.saved_generation(self.root / KEYWORD_DIR) != generation:
            self._keyword_index(generation)

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

    def import_local_registry(self) -> int:
        """With a Chroma server: move the registry an older version kept in this folder (it
        kept only the vectors in the server) into the server, so nothing is embedded again.

        Only when the server has no registry yet, and only articles whose every chunk vector
        the server holds; the rest are left to the ingest to embed. Returns how many moved.
        """
        local = self.root / REGISTRY_FILE
        if self.embedded or not local.is_file() or self.registry.states():
            return 0
        self.registry.check_writer()
        old = SqliteRegistry(local, self.root / WRITER_LOCK_FILE)
        try:
            model = old.get_meta("embedding_model") or ""
            rows: dict[str, list[tuple[str, int, int]]] = {}
            for chunk_id, article_id, start, end in old.ready_chunks():
                rows.setdefault(article_id, []).append((chunk_id, start, end))
            moved = 0
            articles = old.load_articles()
            for b in range(0, len(articles), 100):
                moved += self._import_articles(old, articles[b : b + 100], rows, model)
            chunking = old.get_meta("chunking")
            if chunking:
                self.registry.set_meta("chunking", chunking)
        finally:
            old.close()
        local.rename(local.with_name(local.name + ".moved-to-chroma"))
        return moved

    def _import_articles(self, old: SqliteRegistry, articles: list[Article],
                         rows: dict[str, list[tuple[str, int, int]]], model: str) -> int:
        wanted = [cid for a in articles for cid, _, _ in rows.get(a.id, [])]
        held = set(self._read(lambda c: c.get(ids=wanted, include=[])["ids"])) if wanted else set()
        records = old.chunk_records(wanted)
        chunks: dict[str, list[Chunk]] = {}
        vectors: dict[str, np.ndarray] = {}
        complete = []
        for a in articles:
            listed = rows.get(a.id, [])
            if not listed or any(cid not in held or cid not in records for cid, _, _ in listed):
                continue
            complete.append(a)
            chunks[a.id] = [
                Chunk(cid, a.id, i, start, end, a.body[start:end],
                      tuple(Span(s, e) for s, e in records[cid].sentences))
                for i, (cid, start, end) in enumerate(listed)]
            vectors.update((cid, records[cid].sentence_vectors) for cid, _, _ in listed)
        if complete:
            self._generation = self.registry.commit_articles(complete, chunks, vectors, model)
        return len(complete)

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


@dataclass(frozen=True)
class ChromaConnector:
    """How to reach Chroma: `connect()` returns a new client each time it is called."""

    connect: Callable[[], Any]
    label: str
    embedded: bool


def _refused(exc: Exception, url: str, token: str | None) -> bool:
    """Whether Chroma's client failed on an HTTP 401 or 403 (a proxy checking a token). Its
    error often carries no status (a bare Exception with the reply's text, which may be
    empty), so the server's heartbeat is asked once, with the same token."""
    if getattr(getattr(exc, "response", None), "status_code", None) in (401, 403):
        return True
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        status = httpx.get(f"{url.rstrip('/')}/api/v2/heartbeat", headers=headers,
                           timeout=5).status_code
    except httpx.HTTPError:
        return False
    return status in (401, 403)


def _excerpt(exc: Exception, token: str | None) -> str:
    """The start of an error's text, on one line and without the token: a proxy's reply
    may be a whole HTML page, or echo what it was sent."""
    text = " ".join(str(exc).split())
    if token:
        text = text.replace(token, "***")
    return text if len(text) <= 160 else text[:157] + "..."


def open_chroma(
    root: Path, chroma_url: str | None, host_port: tuple[str, int, bool] | None,
    token: str | None = None,
) -> ChromaConnector:
    """Chroma on disk under `root/chroma`, or the server at `chroma_url` (with `token` as a
    bearer token, for a proxy in front of it). chromadb is imported on the first connection
    (its import alone takes about half a second)."""

    def settings(token: str | None = None) -> Any:
        from chromadb.config import Settings as ChromaSettings

        auth: dict[str, Any] = {}
        if token:
            auth = {"chroma_client_auth_provider":
                    "chromadb.auth.token_authn.TokenAuthClientProvider",
                    "chroma_client_auth_credentials": token}
        return ChromaSettings(anonymized_telemetry=False, allow_reset=True, **auth)

    if chroma_url and host_port:
        host, port, ssl = host_port

        def connect_server() -> Any:
            import chromadb

            try:
                client = chromadb.HttpClient(host=host, port=port, ssl=ssl,
                                             settings=settings(token))
                client.heartbeat()
            except Exception as exc:
                said = _excerpt(exc, token)
                if _refused(exc, chroma_url, token):
                    raise StoreError(
                        f"the Chroma server at {chroma_url} refused this client ({said}); "
                        + ("check ASSISTANT_CHROMA_TOKEN" if token else
                           "set ASSISTANT_CHROMA_TOKEN to the token it expects")) from None
                raise StoreError(
                    f"cannot reach the Chroma server at {chroma_url}: {said}; is `chroma run` up?"
                ) from None
            return client

        return ChromaConnector(connect_server, chroma_url, embedded=False)
    path = root / "chroma"
    path.mkdir(parents=True, exist_ok=True)

    def connect_embedded() -> Any:
        import chromadb

        return chromadb.PersistentClient(path=str(path), settings=settings())

    return ChromaConnector(connect_embedded, str(path), embedded=True)
