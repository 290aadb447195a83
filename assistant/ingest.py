"""The incremental ingest pipeline: files -> articles -> chunks -> vectors, safely."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from assistant.articles import MAX_ARTICLE_CHARS, read_articles, resolved
from assistant.chunking import chunk_article
from assistant.embeddings import Embedder
from assistant.errors import ArticleError
from assistant.store import Store
from assistant.types import Article, Chunk

Progress = Callable[[int], None]
# Articles are written in groups: small enough that an interruption loses little work,
# large enough that Chroma and SQLite see few round trips.
WRITE_CHUNKS = 256


@dataclass
class IngestReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    skipped: list[ArticleError] = field(default_factory=list)
    chunks_embedded: int = 0
    chunks_total: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "skipped": [{"path": p.path, "reason": p.reason} for p in self.skipped],
            "chunks_embedded": self.chunks_embedded,
            "chunks_total": self.chunks_total,
            "seconds": round(self.seconds, 3),
        }

    def summary(self) -> str:
        return (
            f"{self.added} added, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.removed} removed, {len(self.skipped)} skipped; "
            f"{self.chunks_embedded} chunks embedded, {self.chunks_total} in the index; "
            f"{self.seconds:.1f} s"
        )


def _under(path: str, roots: Sequence[Path]) -> bool:
    p = resolved(path)
    for root in roots:
        r = resolved(root)
        if p == r or r in p.parents:
            return True
    return False


def ingest(
    store: Store,
    embedder: Embedder,
    paths: Sequence[Path],
    *,
    prune: bool = False,
    rebuild: bool = False,
    chunk_tokens: int = 200,
    chunk_overlap: int = 30,
    max_article_chars: int = MAX_ARTICLE_CHARS,
    on_total: Callable[[int], None] | None = None,
    on_progress: Progress | None = None,
) -> IngestReport:
    """Bring the index in line with the articles under `paths`, embedding only what changed.

    With `prune`, stored articles that came from under `paths` and were not seen this time
    are removed (but never those whose file failed to read: a broken file loses nothing).
    """
    started = time.perf_counter()
    if rebuild:
        store.reset()
    store.check_embedder(embedder.name)
    articles, problems = read_articles(paths, max_article_chars)
    report = IngestReport(skipped=problems)
    states = store.registry.states()
    changed: list[Article] = []
    for article in articles:
        previous = states.get(article.id)
        if previous is None:
            report.added += 1
            changed.append(article)
        elif previous == (article.content_hash, "ready"):
            report.unchanged += 1
        else:  # new content, or a write that was interrupted last time
            report.updated += 1
            changed.append(article)

    seen = {a.id for a in articles}
    broken = {resolved(p.file) for p in problems}
    registry_paths = {m.id: m.path for m in store.registry.ready_articles().values()}
    to_remove = []
    for article_id, (_, state) in states.items():
        if article_id in seen:
            continue
        if state != "ready":
            to_remove.append(article_id)  # interrupted and its file is gone: finish the job
            continue
        path = registry_paths.get(article_id, "")
        if prune and resolved(path) not in broken and (
            _under(path, paths) or not Path(path).exists()
        ):
            to_remove.append(article_id)

    chunked = {
        a.id: chunk_article(a, embedder.count_tokens, chunk_tokens, chunk_overlap) for a in changed
    }
    if on_total:
        on_total(sum(len(c) for c in chunked.values()))
    batch: list[Article] = []
    size = 0
    for article in changed:
        batch.append(article)
        size += len(chunked[article.id])
        if size >= WRITE_CHUNKS:
            report.chunks_embedded += _embed_and_write(store, embedder, batch, chunked, on_progress)
            batch, size = [], 0
    if batch:
        report.chunks_embedded += _embed_and_write(store, embedder, batch, chunked, on_progress)

    store.remove_articles(to_remove)
    report.removed = len(to_remove)
    store.keyword_index()  # rebuilt here when anything changed, never at query time
    report.chunks_total = store.stats().chunks
    report.seconds = time.perf_counter() - started
    return report


def _embed_and_write(
    store: Store,
    embedder: Embedder,
    articles: list[Article],
    chunked: dict[str, list[Chunk]],
    on_progress: Progress | None,
) -> int:
    chunks = [c for a in articles for c in chunked[a.id]]
    spans = [[(s.start - c.start, s.end - c.start) for s in c.sentences] for c in chunks]
    vectors, sentence_vectors = embedder.embed_with_spans([c.text for c in chunks], spans)
    store.write_articles(
        articles,
        chunked,
        {c.id: vectors[i] for i, c in enumerate(chunks)},
        {c.id: sentence_vectors[i] if len(spans[i]) else np.zeros((0, vectors.shape[1]), np.float32)
         for i, c in enumerate(chunks)},
        embedder.name,
    )
    if on_progress:
        on_progress(len(chunks))
    return len(chunks)
