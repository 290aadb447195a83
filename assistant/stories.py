"""Stories: the reports of one news event, grouped at ingest, incrementally.

Two articles are one story when
- one reprints the other (the same wire text under another id: their word 3-gram sketches
  overlap by REPRINT_SIMILARITY or more), or
- one follows the other up: both dated at most FOLLOW_UP_DAYS apart, sharing at least two
  names (people, places, organisations) and close in meaning (their mean chunk vectors have a
  cosine of FOLLOW_UP_COSINE or more).

Each new article is compared only with the stored articles that share names with it (an
inverted index), so adding articles never regroups the whole collection. Stories are kept in
the registry file beside the articles, in tables of their own.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from assistant.keyword import STOPWORDS, words
from assistant.question import NUMBER_WORDS
from assistant.types import Article

REPRINT_SIMILARITY = 0.6
FOLLOW_UP_DAYS = 30
FOLLOW_UP_COSINE = 0.6
# With a single shared name the two reports must be closer in meaning.
ONE_NAME_COSINE = 0.65
SKETCH_SIZE = 128
NAMES_PER_ARTICLE = 12
# A name most articles use (the paper's own city) links nothing.
COMMON_NAME_SHARE = 0.2
SCHEMA = """
CREATE TABLE IF NOT EXISTS stories (
    article_id TEXT PRIMARY KEY, story_id TEXT NOT NULL, reprint_of TEXT,
    date TEXT, names TEXT NOT NULL, vector BLOB NOT NULL, sketch BLOB NOT NULL, figures TEXT
);
CREATE INDEX IF NOT EXISTS stories_by_story ON stories(story_id);
CREATE TABLE IF NOT EXISTS story_names (name TEXT NOT NULL, article_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS story_version (id INTEGER PRIMARY KEY CHECK (id = 0), value INTEGER);
INSERT OR IGNORE INTO story_version VALUES (0, 0);
CREATE INDEX IF NOT EXISTS story_names_by_name ON story_names(name);
CREATE INDEX IF NOT EXISTS story_names_by_article ON story_names(article_id);
"""
_NAME = re.compile(r"\b[A-Z][a-zA-Z'’&-]+(?: (?:of |de )?[A-Z][a-zA-Z'’&-]+)*")
NUMBER = re.compile(rf"(?:{NUMBER_WORDS})(?:[- ](?:{NUMBER_WORDS}))*")
_NOT_NAMES = frozenset(
    "monday tuesday wednesday thursday friday saturday sunday january february march april may "
    "june july august september october november december mr mrs ms dr the a an it he she they "
    "we i in on at but and or if as when while after before this that these those his her their "
    "its our".split())


@dataclass(frozen=True)
class StoryInfo:
    """Where an article belongs: its story and, for a reprint, the article it copies."""

    article_id: str
    story_id: str
    reprint_of: str | None
    date: str | None


# One article's filing as stored: article id, story id, reprint_of, date, names (JSON), mean
# chunk vector (float16 bytes), sketch (uint64 bytes), figures (JSON; None when filed by a
# version before they were kept).
StoryRow = tuple[str, str, str | None, str | None, str, bytes, bytes, str | None]


class Stories(Protocol):
    """What ingest and the readers need from wherever stories are kept (registry.py)."""

    def assign(self, articles: Sequence[Article], vectors: dict[str, np.ndarray]) -> None: ...

    def remove(self, article_ids: Iterable[str]) -> list[str]: ...

    def version(self) -> int: ...

    def missing(self, article_ids: Iterable[str]) -> list[str]: ...

    def all(self) -> dict[str, StoryInfo]: ...

    def members(self, story_id: str) -> list[StoryInfo]: ...

    def count(self) -> int: ...


def article_names(article: Article) -> list[str]:
    """The names an article is about: its headline's and lead's capitalised names, most used
    first (a name at the start of a sentence counts only when it recurs)."""
    text = article.title + ". " + article.body[:2000]
    counts: dict[str, int] = {}
    for m in _NAME.finditer(text):
        name = " ".join(m.group().lower().strip(".'’").split())
        if not name or name in _NOT_NAMES or all(w in STOPWORDS for w in name.split()) \
                or NUMBER.fullmatch(name):
            continue
        for part in {name, *name.split()}:
            if part not in _NOT_NAMES and part not in STOPWORDS and len(part) > 2:
                counts[part] = counts.get(part, 0) + 1
    ranked = sorted(counts, key=lambda n: (-counts[n], n))
    return ranked[:NAMES_PER_ARTICLE]


def figures(text: str) -> list[str]:
    """The numbers an article gives, sorted."""
    return sorted({m.group().rstrip(".,") for m in re.finditer(r"\d[\d,.]*", text)})


def same_figures(a: Sequence[str], b: Sequence[str]) -> bool:
    """Whether two texts can be copies of one: a copy, or one cut short, gives no figure the
    other does not; an update of the same wire text ("has risen to 12" for "11") does."""
    return set(a) <= set(b) or set(b) <= set(a)


def sketch(text: str) -> np.ndarray:
    """The SKETCH_SIZE smallest hashes of the text's word 3-grams (a bottom-k sketch)."""
    w = words(text)
    grams = {" ".join(w[i:i + 3]) for i in range(max(1, len(w) - 2))}
    hashes = np.fromiter(
        (int.from_bytes(hashlib.blake2b(g.encode(), digest_size=8).digest(), "big") for g in grams),
        dtype=np.uint64, count=len(grams))
    return np.sort(hashes)[:SKETCH_SIZE]


def resemblance(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity of two texts from their bottom-k sketches."""
    if not len(a) or not len(b):
        return 0.0
    union = np.union1d(a, b)[:SKETCH_SIZE]
    both = np.intersect1d(a, b)
    return float(np.isin(union, both).sum()) / len(union)


def batches(ids: Sequence[str], size: int = 500) -> Iterator[Sequence[str]]:
    """`ids` in parts small enough for one SQL statement: SQLite, and the Chroma server's
    SQLite, refuse one with tens of thousands of parameters ("too many SQL variables")."""
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def _days(a: str, b: str) -> int:
    import datetime as dt

    return abs((dt.date.fromisoformat(a) - dt.date.fromisoformat(b)).days)


class StoryIndex:
    """The story of every article, kept in the registry file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        with self._connect() as db:
            db.executescript(SCHEMA)
            have = {row[1] for row in db.execute("PRAGMA table_info(stories)")}
            if "figures" not in have:  # filed by a version before figures were kept
                with contextlib.suppress(sqlite3.OperationalError):  # another process added it
                    db.execute("ALTER TABLE stories ADD COLUMN figures TEXT")

    def _connect(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self._local.db = db
        return db

    def assign(self, articles: Sequence[Article], vectors: dict[str, np.ndarray]) -> None:
        """File new or changed articles into stories; `vectors` holds each one's mean chunk
        vector. Articles already filed are refiled (their text may have changed)."""
        if not articles:
            return
        db = self._connect()
        total = max(db.execute("SELECT count(*) FROM stories").fetchone()[0], 1)
        db.execute("BEGIN IMMEDIATE")
        try:
            ids = [(a.id,) for a in articles]
            db.executemany("DELETE FROM story_names WHERE article_id=?", ids)
            db.executemany("DELETE FROM stories WHERE article_id=?", ids)
            for article in articles:
                self._assign_one(db, article, vectors[article.id], total)
                total += 1
            db.execute("UPDATE story_version SET value = value + 1")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _assign_one(self, db: sqlite3.Connection, article: Article, vector: np.ndarray,
                    total: int) -> None:
        names = article_names(article)
        own_sketch = sketch(article.body)
        own_figures = figures(article.body)
        vector = vector / (np.linalg.norm(vector) or 1.0)
        story_id, reprint_of = article.id, None
        if names:
            marks = ",".join("?" * len(names))
            common = {r[0] for r in db.execute(
                f"SELECT name FROM story_names WHERE name IN ({marks}) GROUP BY name "
                "HAVING count(*) > ?", [*names, max(5, COMMON_NAME_SHARE * total)])}
            useful = [n for n in names if n not in common]
            rows = []
            if useful:
                marks = ",".join("?" * len(useful))
                rows = db.execute(
                    "SELECT s.article_id, s.story_id, s.date, s.vector, s.sketch, s.figures, "
                    "count(*) AS c "
                    f"FROM story_names n JOIN stories s ON s.article_id = n.article_id "
                    f"WHERE n.name IN ({marks}) GROUP BY s.article_id ORDER BY c DESC LIMIT 100",
                    useful).fetchall()
            best: tuple[float, str] | None = None
            for other_id, other_story, other_date, blob, other_sketch, other_figures, shared \
                    in rows:
                similar = resemblance(own_sketch, np.frombuffer(other_sketch, np.uint64))
                # The same text with other figures is a later version, not a copy: shown
                # as a copy, its figure would never be seen.
                if similar >= REPRINT_SIMILARITY and (
                        other_figures is None or same_figures(json.loads(other_figures),
                                                              own_figures)):
                    # A copy of a copy is a copy of the original.
                    root = db.execute("SELECT reprint_of FROM stories WHERE article_id=?",
                                      (other_id,)).fetchone()
                    root_id = (root and root[0]) or other_id
                    # An original refiled after an edit stays the original of its copies.
                    story_id, reprint_of = other_story, None if root_id == article.id else root_id
                    break
                if not (article.date and other_date) \
                        or _days(article.date, other_date) > FOLLOW_UP_DAYS:
                    continue
                cosine = float(np.frombuffer(blob, np.float16).astype(np.float32) @ vector)
                needed = FOLLOW_UP_COSINE if shared >= 2 else ONE_NAME_COSINE
                if cosine >= needed and (best is None or cosine > best[0]):
                    best = (cosine, other_story)
            if reprint_of is None and best is not None:
                story_id = best[1]
        db.execute("INSERT INTO stories VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   (article.id, story_id, reprint_of, article.date, json.dumps(names),
                    vector.astype(np.float16).tobytes(), own_sketch.tobytes(),
                    json.dumps(own_figures)))
        db.executemany("INSERT INTO story_names VALUES (?, ?)", [(n, article.id) for n in names])

    def remove(self, article_ids: Iterable[str]) -> list[str]:
        """Forget these articles. A removed original's copies stay one family: the earliest
        becomes the original and the others its reprints (a reprint pointing at a removed
        article would dangle, and point back at it once it is added again). Returns the
        articles whose filing that changed."""
        ids = list(dict.fromkeys(article_ids))
        if not ids:
            return []
        db = self._connect()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany("DELETE FROM story_names WHERE article_id=?", [(i,) for i in ids])
            db.executemany("DELETE FROM stories WHERE article_id=?", [(i,) for i in ids])
            copies: dict[str, list[str]] = {}
            for part in batches(ids):
                for copy, original in db.execute(
                        "SELECT article_id, reprint_of FROM stories "
                        f"WHERE reprint_of IN ({','.join('?' * len(part))}) "
                        "ORDER BY coalesce(date, '9999'), article_id", part):
                    copies.setdefault(original, []).append(copy)
            for first, *rest in copies.values():
                db.execute("UPDATE stories SET reprint_of=NULL WHERE article_id=?", (first,))
                db.executemany("UPDATE stories SET reprint_of=? WHERE article_id=?",
                               [(first, r) for r in rest])
            db.execute("UPDATE story_version SET value = value + 1")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return [c for family in copies.values() for c in family]

    def version(self) -> int:
        """Goes up with every change, so readers know when to reload."""
        return int(self._connect().execute("SELECT value FROM story_version").fetchone()[0])

    def missing(self, article_ids: Iterable[str]) -> list[str]:
        """The given articles not filed yet (an ingest stopped between write and filing)."""
        have = {r[0] for r in self._connect().execute("SELECT article_id FROM stories")}
        return [a for a in article_ids if a not in have]

    def all(self) -> dict[str, StoryInfo]:
        rows = self._connect().execute(
            "SELECT article_id, story_id, reprint_of, date FROM stories")
        return {r[0]: StoryInfo(r[0], r[1], r[2], r[3]) for r in rows}

    def members(self, story_id: str) -> list[StoryInfo]:
        rows = self._connect().execute(
            "SELECT article_id, story_id, reprint_of, date FROM stories WHERE story_id=? "
            "ORDER BY date, article_id", (story_id,))
        return [StoryInfo(*r) for r in rows]

    def count(self) -> int:
        return int(self._connect().execute(
            "SELECT count(DISTINCT story_id) FROM stories").fetchone()[0])

    def rows(self, article_ids: Iterable[str]) -> list[StoryRow]:
        """These articles' filings as stored (to copy them elsewhere)."""
        db = self._connect()
        return [(r[0], r[1], r[2], r[3], r[4], bytes(r[5]), bytes(r[6]), r[7])
                for part in batches(list(dict.fromkeys(article_ids)))
                for r in db.execute("SELECT article_id, story_id, reprint_of, date, names, "
                                    "vector, sketch, figures FROM stories WHERE article_id IN "
                                    f"({','.join('?' * len(part))})", part)]

    def replace_all(self, rows: Iterable[StoryRow]) -> None:
        """Make these filings the whole index (a copy of filings kept elsewhere)."""
        db = self._connect()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("DELETE FROM story_names")
            db.execute("DELETE FROM stories")
            for row in rows:
                db.execute("INSERT INTO stories VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)
                db.executemany("INSERT INTO story_names VALUES (?, ?)",
                               [(n, row[0]) for n in json.loads(row[4])])
            db.execute("UPDATE story_version SET value = value + 1")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
