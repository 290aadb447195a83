"""Hybrid retrieval: dense (Chroma) + BM25, fused by reciprocal rank, de-duplicated, date-aware."""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from assistant.chunking import chunk_id as chunk_id_of
from assistant.embeddings import Embedder
from assistant.errors import InputError
from assistant.keyword import KeywordIndex, terms, words
from assistant.models import LinearScorer
from assistant.question import QuestionInfo
from assistant.store import Store, View, date_bounds, date_number
from assistant.stories import StoryInfo, figures, same_figures
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


# Phrases that pin a question to the last few days. "Today" is not one: it often means
# "nowadays" ("What does the company make today?").
_NARROW = re.compile(r"\b(yesterday|tonight|this (?:morning|afternoon|evening)|"
                     r"(?:this|past|last few|previous few) days?|(?:this|the past|past) week(?:end)?)"
                     r"\b", re.I)
# How much older than such a span a report may be and still answer it: dates in archives are
# often a few days off, and a hard window lost articles a week older than the question.
NARROW_SLACK = dt.timedelta(days=14)


def narrow_span(question: str, today: dt.date) -> tuple[str, dt.date] | None:
    """For a question about the last few days ("this week"), the phrase and the oldest date a
    report answering it can have."""
    found = _NARROW.search(question)
    window = relative_window(question, today) if found else None
    if found is None or window is None:
        return None
    try:
        return found.group(0), window[0] - NARROW_SLACK
    except OverflowError:  # a `today` in the first weeks of year 1
        return None


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
    except ValueError as exc:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(value)):  # 2024-02-30: the form is right
            raise InputError(f"{field} {value!r} is not a real date: {exc}", field) from None
        raise InputError(f"{field} must be a date like 2026-11-26, not {value!r}", field) from None


def check_range(since: str | None, until: str | None) -> None:
    """A range that ends before it starts holds nothing: say so rather than find nothing."""
    if since and until and since > until:
        raise InputError(f"since ({since}) is after until ({until}); swap them", "since")


@dataclass
class _Snapshot:
    """Per-view lookups: chunk id -> (article id, start, end) and the BM25 index (kept here
    with its view, so the view's row dates always match its rows)."""

    generation: int
    chunks: dict[str, tuple[str, int, int]]
    articles: dict[str, ArticleMeta]
    keyword: KeywordIndex
    view: View
    title_terms: dict[str, frozenset[str]] = field(default_factory=dict)
    title_df: dict[str, int] | None = None


class Retriever:
    """Finds the passages that best match a question."""

    def __init__(self, store: Store, embedder: Embedder, fusion: LinearScorer | None = None) -> None:
        self.store = store
        self.embedder = embedder
        self.fusion = fusion
        if fusion is not None:
            fusion.require(FUSION_FEATURES, "fusion")
        self._snapshot: _Snapshot | None = None
        self._lock = threading.Lock()
        self._bodies: OrderedDict[str, str] = OrderedDict()
        self._stories: tuple[int, dict[str, StoryInfo], dict[str, list[str]]] = (-1, {}, {})

    def _story_tables(self) -> tuple[int, dict[str, StoryInfo], dict[str, list[str]]]:
        """(version, article id -> story, original -> copies), reloaded when an ingest has
        filed articles anew; never rebuilt per query."""
        version = self.store.stories.version()
        if version != self._stories[0]:
            stories = self.store.stories.all()
            self._stories = (version, stories, _copies(stories))
        return self._stories

    def stories(self) -> dict[str, StoryInfo]:
        """Article id -> its story."""
        return self._story_tables()[1]

    def _current(self) -> _Snapshot:
        # The store's view of the current generation (or, while a newer one is being built,
        # of the previous one). The BM25 index may be a commit ahead of its articles; rows it
        # has that the view lacks get no date and are dropped from results like any chunk
        # the view lacks.
        view = self.store.view()
        snap = self._snapshot
        if snap is not None and snap.view is view:
            return snap
        with self._lock:
            if self._snapshot is not None and self._snapshot.view is view:
                return self._snapshot
            self._bodies = OrderedDict()
            self._snapshot = _Snapshot(view.generation, view.chunks, view.articles,
                                       view.keyword, view)
            return self._snapshot

    def article(self, article_id: str) -> ArticleMeta | None:
        return self._current().articles.get(article_id)

    def story(self, article_id: str) -> list[tuple[ArticleMeta, str | None]]:
        """The other reports of the article's story, oldest first, each with the id of the
        article it reprints (None for an original report)."""
        found = self.stories().get(article_id)
        if found is None:
            return []
        articles = self._current().articles
        return [(articles[m.article_id], m.reprint_of)
                for m in self.store.stories.members(found.story_id)
                if m.article_id != article_id and m.article_id in articles]

    def body(self, article_id: str) -> str | None:
        """The body of the article as this view knows it: offsets from the view are never
        applied to a newer version another process has committed since."""
        body = self._bodies.get(article_id)
        if body is None:
            meta = (self._snapshot or self._current()).articles.get(article_id)
            if meta is None:
                return None
            body = self.store.registry.body(article_id, meta.content_hash)
            if body is not None:
                self._bodies[article_id] = body
                # A long-running server must not end up holding every article in memory.
                while len(self._bodies) > BODY_CACHE:
                    self._bodies.popitem(last=False)
        return body

    def _title_terms(self, snap: _Snapshot, article_id: str) -> frozenset[str]:
        found = snap.title_terms.get(article_id)
        if found is None:
            found = frozenset(terms(snap.articles[article_id].title))
            snap.title_terms[article_id] = found
        return found

    def _title_df(self, snap: _Snapshot) -> dict[str, int]:
        """How many articles' headlines use each term (for story links), once per generation."""
        if snap.title_df is None:
            df: dict[str, int] = {}
            for article_id in snap.articles:
                for t in self._title_terms(snap, article_id):
                    df[t] = df.get(t, 0) + 1
            snap.title_df = df
        return snap.title_df

    def pool(
        self,
        question: str,
        k: int = 8,
        since: str | None = None,
        until: str | None = None,
        today: dt.date | None = None,
        vector: np.ndarray | None = None,
    ) -> Pool:
        """Every chunk either search found for `question`, with the features fusion ranks by."""
        snap = self._current()
        since, until = parse_date(since, "since"), parse_date(until, "until")
        check_range(since, until)
        size = max(50, 5 * k)
        if vector is None:
            vector = self.embedder.embed([question])[0]
        dense = [
            (cid, sim) for cid, sim in self.store.dense_search(vector, size + 10, since, until)
            if cid in snap.chunks
        ][:size]
        mask = None
        bounds = date_bounds(since, until)
        if bounds is not None:
            dates = snap.view.dates.dates
            mask = ((dates >= bounds[0]) & (dates <= bounds[1])).astype(np.float32)
        keyword = [
            (cid, s) for cid, s in snap.keyword.search(question, size, mask)
            if cid in snap.chunks
        ]
        entries: dict[str, PoolEntry] = {}
        for rank, (cid, sim) in enumerate(dense):
            entries[cid] = _entry(snap, cid)
            entries[cid].dense, entries[cid].dense_rank = sim, rank
        for rank, (cid, score) in enumerate(keyword):
            entry = entries.get(cid) or _entry(snap, cid)
            entry.keyword, entry.keyword_rank = score, rank
            entries[cid] = entry
        listed = list(entries.values())
        today = today or dt.date.today()
        info = QuestionInfo.of(question)
        titles = [self._title_terms(snap, e.article.id) for e in listed]
        stories = self.stories()
        for e in listed:
            found = stories.get(e.article.id)
            e.story_id = found.story_id if found else None
        features = fusion_features(listed, info, titles, self._title_df(snap), today,
                                   relative_window(question, today))
        return Pool(listed, features, today)

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
        """The top `k` passages by learned fusion of dense and BM25 evidence, no near-copies."""
        started = time.perf_counter()
        pool = self.pool(question, k, since, until, today, vector)
        passages = self.rank(pool, k)
        if timings is not None:
            timings["retrieve"] = (time.perf_counter() - started) * 1000
        return passages

    def _original(self, snapshot: _Snapshot, entry: PoolEntry, root: str,
                  text: str) -> tuple[str, ArticleMeta]:
        """The passage of a reprint as its original prints it, where that is the same text at
        the same place: the source to cite is who wrote it, the reprint is "also reported by"."""
        if root == entry.article.id or root not in snapshot.articles:
            return entry.chunk_id, entry.article
        original = snapshot.articles[root]
        if (original.date or "") > (entry.article.date or original.date or ""):
            return entry.chunk_id, entry.article  # filed first but printed later: not the source
        chunk_id = chunk_id_of(original, _chunk_index(entry.chunk_id))
        body = self.body(root)
        if snapshot.chunks.get(chunk_id) != (root, entry.start, entry.end) or body is None \
                or body[entry.start:entry.end] != text:
            return entry.chunk_id, entry.article
        return chunk_id, original

    def rank(self, pool: Pool, k: int, exclude: frozenset[str] = frozenset()) -> list[Passage]:
        """The pool's best `k` passages, skipping articles in `exclude` and reprinted copies."""
        scores = self.fusion.score(pool.features) if self.fusion else pool.rrf()
        passages: list[Passage] = []
        kept_texts: list[tuple[set[tuple[str, ...]], list[str]]] = []
        _, stories, copies = self._story_tables()
        # The snapshot the pool came from, not a newer one: bodies are cut at its offsets.
        snapshot = self._snapshot or self._current()
        articles = snapshot.articles
        kept_roots: set[str] = set()
        shown: set[str] = set()  # articles with a passage among `passages`
        for i in np.argsort(-scores, kind="stable"):
            entry = pool.entries[i]
            if entry.article.id in exclude:
                continue
            root = _root(stories, entry.article.id)
            if root in kept_roots and entry.article.id not in shown:
                continue  # a reprint of an article already shown: it is "also reported by"
            start, end = entry.start, entry.end
            body = self.body(entry.article.id)
            if body is None:
                continue
            text = body[start:end]
            shingles, numbers = _shingles(text), figures(text)
            if any(_jaccard(shingles, other) >= 0.5 and same_figures(numbers, other_numbers)
                   for other, other_numbers in kept_texts):
                continue  # the same wire story reprinted: keep the first copy only
            kept_texts.append((shingles, numbers))
            kept_roots.add(root)
            # A copy already shown stays the source of its other passages.
            chunk_id, article = (entry.chunk_id, entry.article) if entry.article.id in shown \
                else self._original(snapshot, entry, root, text)
            shown.add(article.id)
            passages.append(
                Passage(
                    chunk_id=chunk_id,
                    article=article,
                    start=start,
                    end=end,
                    text=text,
                    score=float(scores[i]),
                    dense_score=entry.dense,
                    keyword_score=entry.keyword,
                    n=len(passages) + 1,
                    dense_rank=None if entry.dense_rank is None else entry.dense_rank + 1,
                    keyword_rank=None if entry.keyword_rank is None else entry.keyword_rank + 1,
                    story_id=entry.story_id,
                    also_reported_by=[articles[a] for a in copies.get(root, ())
                                      if a != article.id and a in articles],
                    features=tuple(float(v) for v in pool.features[i]),
                )
            )
            if len(passages) >= k:
                break
        return passages


@dataclass
class PoolEntry:
    """One chunk found by dense search, keyword search or both (ranks are 0-based)."""

    chunk_id: str
    article: ArticleMeta
    chunk_index: int
    start: int
    end: int
    story_id: str | None = None
    dense: float | None = None
    dense_rank: int | None = None
    keyword: float | None = None
    keyword_rank: int | None = None


@dataclass
class Pool:
    """The candidates for one question and their fusion features (one row per entry)."""

    entries: list[PoolEntry]
    features: np.ndarray
    today: dt.date

    def rrf(self) -> np.ndarray:
        """Reciprocal-rank fusion with the date adjustments: the ranking before learned fusion."""
        col = {name: i for i, name in enumerate(FUSION_FEATURES)}
        f = self.features
        if not len(f):
            return np.zeros(0)
        return (f[:, col["rrf"]]
                + (f[:, col["in_window"]] - f[:, col["after_today"]]) / (RRF_K + 1))


STORY_DAYS = 45
STORY_TITLE_DF = 5
FUSION_FEATURES = (
    "dense", "dense_missing", "dense_rr", "dense_gap",
    "keyword_norm", "keyword_log", "keyword_rr", "keyword_missing", "keyword_top_margin",
    "rrf", "title_overlap", "lead_chunk",
    "after_today", "in_window", "undated", "story_latest", "story_behind",
)


def fusion_features(
    entries: Sequence[PoolEntry],
    info: QuestionInfo,
    titles: Sequence[frozenset[str]],
    title_df: dict[str, int],
    today: dt.date,
    window: tuple[dt.date, dt.date] | None,
) -> np.ndarray:
    """One row of FUSION_FEATURES per pool entry: scores, ranks, margins, headline, dates."""
    x = np.zeros((len(entries), len(FUSION_FEATURES)))
    if not entries:
        return x
    dense_sims = [e.dense for e in entries if e.dense is not None]
    top_dense = max(dense_sims, default=0.0)
    floor_dense = min(dense_sims, default=0.0)
    keyword_scores = sorted((e.keyword for e in entries if e.keyword is not None), reverse=True)
    top_kw = keyword_scores[0] if keyword_scores else 0.0
    second_kw = keyword_scores[1] if len(keyword_scores) > 1 else 0.0
    margin = (top_kw - second_kw) / top_kw if top_kw > 0 else 0.0
    n_terms = max(len(info.terms), 1)
    today_n = date_number(today.isoformat())
    lo_n = date_number(window[0].isoformat()) if window else 0
    stories = _story_features(entries, titles, title_df, today)
    for i, e in enumerate(entries):
        dense = e.dense if e.dense is not None else floor_dense
        rrf = 0.0
        if e.dense_rank is not None:
            rrf += 1.0 / (RRF_K + e.dense_rank + 1)
        if e.keyword_rank is not None:
            rrf += 1.0 / (RRF_K + e.keyword_rank + 1)
        date_n = date_number(e.article.date)
        x[i] = (
            dense,
            float(e.dense is None),
            0.0 if e.dense_rank is None else 1.0 / (1 + e.dense_rank),
            top_dense - dense,
            (e.keyword or 0.0) / top_kw if top_kw > 0 else 0.0,
            np.log1p(e.keyword or 0.0),
            0.0 if e.keyword_rank is None else 1.0 / (1 + e.keyword_rank),
            float(e.keyword is None),
            margin if e.keyword_rank == 0 else 0.0,
            rrf,
            len(info.synonym_matches(titles[i])) / n_terms,
            float(e.chunk_index == 0),
            float(date_n > today_n),
            float(bool(window) and lo_n <= date_n <= today_n),
            float(date_n == 0),
            *stories[i],
        )
    return x


def _story_features(
    entries: Sequence[PoolEntry], titles: Sequence[frozenset[str]], title_df: dict[str, int],
    today: dt.date,
) -> list[tuple[float, float]]:
    """(latest of its story, log days behind the story's latest) for each entry.

    A ranking signal, so deliberately narrower than the stories of assistant/stories.py (which
    group follow-ups by names and meaning): here a story is reports whose headlines share a
    rare term; grouping by names made the ranking prefer the latest article about the same
    company or team even for an older, different event (hit@1 0.894 -> 0.866 out of fold).

    Two dated articles are one story when their headlines share a term few headlines use and
    they are at most STORY_DAYS apart. Only reports dated on or before `today` count: a later
    report was not yet known. Undated articles are neutral (0, 0).
    """
    dated: dict[str, tuple[dt.date, frozenset[str]]] = {}
    for e, title in zip(entries, titles, strict=True):
        if e.article.date and e.article.id not in dated:
            day = dt.date.fromisoformat(e.article.date)
            if day <= today:
                rare = frozenset(t for t in title if title_df.get(t, 0) <= STORY_TITLE_DF)
                dated[e.article.id] = (day, rare)
    latest: dict[str, dt.date] = {}
    for a, (day_a, rare_a) in dated.items():
        newest = day_a
        for b, (day_b, rare_b) in dated.items():
            if b != a and rare_a & rare_b and abs((day_b - day_a).days) <= STORY_DAYS:
                newest = max(newest, day_b)
        latest[a] = newest
    out = []
    for e in entries:
        if e.article.id not in latest:
            out.append((0.0, 0.0))
            continue
        day = dated[e.article.id][0]
        behind = (latest[e.article.id] - day).days
        has_story = any(
            b != e.article.id and dated[b][1] & dated[e.article.id][1]
            and abs((dated[b][0] - day).days) <= STORY_DAYS for b in dated)
        out.append((float(has_story and behind == 0), float(np.log1p(behind))))
    return out


def _root(stories: dict[str, StoryInfo], article_id: str) -> str:
    """The article a reprint copies (itself, for an original)."""
    found = stories.get(article_id)
    return found.reprint_of or article_id if found else article_id


def _copies(stories: dict[str, StoryInfo]) -> dict[str, list[str]]:
    """Original article id -> every copy of it, itself included (only where copies exist)."""
    groups: dict[str, list[str]] = {}
    for info in stories.values():
        if info.reprint_of:
            groups.setdefault(info.reprint_of, [info.reprint_of]).append(info.article_id)
    return groups


def _entry(snap: _Snapshot, chunk_id: str) -> PoolEntry:
    article_id, start, end = snap.chunks[chunk_id]
    return PoolEntry(chunk_id, snap.articles[article_id], _chunk_index(chunk_id), start, end)


def _chunk_index(chunk_id: str) -> int:
    """Chunk ids end in '#<index>' (chunking.chunk_id)."""
    tail = chunk_id.rsplit("#", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def _shingles(text: str) -> set[tuple[str, ...]]:
    w = words(text)
    return {tuple(w[i : i + 3]) for i in range(max(1, len(w) - 2))}


def _jaccard(a: set[tuple[str, ...]], b: set[tuple[str, ...]]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)
