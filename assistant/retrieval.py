"""Hybrid retrieval: dense (Chroma) + BM25, fused by reciprocal rank, de-duplicated, date-aware."""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from assistant.embeddings import Embedder
from assistant.errors import InputError
from assistant.keyword import words
from assistant.store import Store, date_number
from assistant.types import ArticleMeta, Passage

RRF_K = 60
BODY_CACHE = 2048
# Relative phrases and how many days before `today` they cover. A soft bonus, never a filter:
# a hard window lost articles a week older than the question (FINDINGS.md).
_RELATIVE = [
    (re.compile(r"\b(today|tonight|this morning|this afternoon|this evening)\b", re.I), 2),
    (re.compile(r"\byesterday\b", re.I), 3),
    (re.compile(r"\b(this|past|last few|previous few) days?\b", re.I), 10),
    (re.compile(r"\b(this|the past|past) week(end)?\b", re.I), 7),
    (re.compile(r"\b(recent|recently|latest|newest|lately|currently|so far|now|just)\b", re.I), 10),
    (re.compile(r"\blast week(end)?\b", re.I), 16),
    (re.compile(r"\b(this|the past|past) month\b", re.I), 31),
    (re.compile(r"\blast month\b", re.I), 62),
    (re.compile(r"\b(this|the past|past) year\b", re.I), 366),
]


def relative_window(question: str, today: dt.date) -> tuple[dt.date, dt.date] | None:
    """The date range a relative phrase in the question points at, if any."""
    spans = [days for pattern, days in _RELATIVE if pattern.search(question)]
    if not spans:
        return None
    # Clamped: a `today` in the first days of year 1 has no date that many days before it.
    days = min(min(spans), today.toordinal() - dt.date.min.toordinal())
    return today - dt.timedelta(days=days), today


def parse_date(value: str | None, field: str) -> str | None:
    if value is None or value == "":
        return None
    try:
        return dt.date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise InputError(f"{field} must be a date like 2026-11-26, not {value!r}", field) from None


@dataclass
class _Snapshot:
    """Per-generation lookups: chunk id -> (article id, start, end) and BM25 row dates."""

    generation: int
    chunks: dict[str, tuple[str, int, int]]
    articles: dict[str, ArticleMeta]
    row_dates: np.ndarray


class Retriever:
    """Finds the passages that best match a question."""

    def __init__(self, store: Store, embedder: Embedder) -> None:
        self.store = store
        self.embedder = embedder
        self._snapshot: _Snapshot | None = None
        self._lock = threading.Lock()
        self._bodies: OrderedDict[str, str] = OrderedDict()

    def _current(self) -> _Snapshot:
        generation = self.store.registry.generation()
        snap = self._snapshot
        if snap is not None and snap.generation == generation:
            return snap
        with self._lock:
            if self._snapshot is not None and self._snapshot.generation == generation:
                return self._snapshot
            index = self.store.keyword_index()
            articles = self.store.registry.ready_articles()
            chunks = {cid: (aid, s, e) for cid, aid, s, e in self.store.registry.ready_chunks()}
            row_dates = np.array(
                [date_number(articles[chunks[c][0]].date) for c in index.chunk_ids], np.int64
            )
            self._bodies = OrderedDict()
            self._snapshot = _Snapshot(generation, chunks, articles, row_dates)
            return self._snapshot

    def article(self, article_id: str) -> ArticleMeta | None:
        return self._current().articles.get(article_id)

    def body(self, article_id: str) -> str | None:
        body = self._bodies.get(article_id)
        if body is None:
            body = self.store.registry.body(article_id)
            if body is not None:
                self._bodies[article_id] = body
                # A long-running server must not end up holding every article in memory.
                while len(self._bodies) > BODY_CACHE:
                    self._bodies.popitem(last=False)
        return body

    def search(
        self,
        question: str,
        k: int = 8,
        since: str | None = None,
        until: str | None = None,
        today: dt.date | None = None,
        timings: dict[str, float] | None = None,
        vector: np.ndarray | None = None,
    ) -> list[Passage]:
        """The top `k` passages: RRF of dense and BM25 ranks, soft date bonus, no near-copies."""
        started = time.perf_counter()
        snap = self._current()
        since, until = parse_date(since, "since"), parse_date(until, "until")
        pool = max(50, 5 * k)
        if vector is None:
            vector = self.embedder.embed([question])[0]
        dense = [
            (cid, sim) for cid, sim in self.store.dense_search(vector, pool + 10, since, until)
            if cid in snap.chunks
        ][:pool]
        mask = None
        if since or until:
            lo = date_number(since) if since else 0
            hi = date_number(until) if until else 99999999
            # An explicit filter asks for dated articles, so undated ones (0) fall outside it.
            mask = ((snap.row_dates >= max(lo, 1)) & (snap.row_dates <= hi)).astype(np.float32)
        keyword = [
            (cid, s) for cid, s in self.store.keyword_index().search(question, pool, mask)
            if cid in snap.chunks
        ]
        fused: dict[str, float] = {}
        dense_of = dict(dense)
        keyword_of = dict(keyword)
        for ranked in (dense, keyword):
            for rank, (cid, _) in enumerate(ranked):
                fused[cid] = fused.get(cid, 0.0) + 1.0 / (RRF_K + rank + 1)
        today = today or dt.date.today()
        window = relative_window(question, today)
        today_n = date_number(today.isoformat())
        lo_n = date_number(window[0].isoformat()) if window else 0
        for cid in fused:
            date = snap.articles[snap.chunks[cid][0]].date
            if not date:
                continue  # undated articles are never pushed down by date reasoning
            d = date_number(date)
            if d > today_n:
                # Written after the question was asked: what it says was not yet known.
                fused[cid] -= 1.0 / (RRF_K + 1)
            elif window and d >= lo_n:
                fused[cid] += 1.0 / (RRF_K + 1)
        ranked_ids = sorted(fused, key=lambda c: fused[c], reverse=True)
        passages: list[Passage] = []
        kept_shingles: list[set[tuple[str, ...]]] = []
        for cid in ranked_ids:
            article_id, start, end = snap.chunks[cid]
            body = self.body(article_id)
            if body is None:
                continue
            text = body[start:end]
            shingles = _shingles(text)
            if any(_jaccard(shingles, other) >= 0.5 for other in kept_shingles):
                continue  # the same wire story reprinted: keep the first copy only
            kept_shingles.append(shingles)
            passages.append(
                Passage(
                    chunk_id=cid,
                    article=snap.articles[article_id],
                    start=start,
                    end=end,
                    text=text,
                    score=fused[cid],
                    dense_score=dense_of.get(cid),
                    keyword_score=keyword_of.get(cid),
                    n=len(passages) + 1,
                )
            )
            if len(passages) >= k:
                break
        if timings is not None:
            timings["retrieve"] = (time.perf_counter() - started) * 1000
        return passages


def _shingles(text: str) -> set[tuple[str, ...]]:
    w = words(text)
    return {tuple(w[i : i + 3]) for i in range(max(1, len(w) - 2))}


def _jaccard(a: set[tuple[str, ...]], b: set[tuple[str, ...]]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)
