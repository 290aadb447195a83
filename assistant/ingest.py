"""The incremental ingest pipeline: files -> articles -> chunks -> vectors, safely."""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from assistant.articles import MAX_ARTICLE_CHARS, SUFFIXES, read_articles, resolved
from assistant.chunking import chunk_article
from assistant.embeddings import Embedder
from assistant.errors import ArticleError
from assistant.store import Store
from assistant.types import Article, Chunk

Progress = Callable[[int], None]
# Articles are written in groups: small enough that an interruption loses little work,
# large enough that Chroma and SQLite see few round trips.
WRITE_CHUNKS = 256
# The chunk settings recorded while --rebuild embeds everything again: any later ingest that
# finds it (the rebuild was cut short) embeds everything again too.
UNFINISHED_REBUILD = "unfinished rebuild"
# Articles whose sentence vectors are read at once when stories catch up (file_stories).
CATCH_UP_ARTICLES = 500


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
    # Things the user should know about this run besides the counts, one line each.
    notes: list[str] = field(default_factory=list)

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
            "notes": self.notes,
        }

    def summary(self) -> str:
        return (
            f"{self.added} added, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.removed} removed, {len(self.skipped)} skipped; "
            f"{self.chunks_embedded} chunks embedded, {self.chunks_total} in the index; "
            f"{self.seconds:.1f} s"
        )


def stored_path(path: str | Path) -> str:
    """The absolute path an article's file is stored under: folders resolved (symlinks, ..),
    the file's own name kept, so the same file reached from any directory is one path."""
    p = Path(path).absolute()
    return str(resolved(p.parent) / p.name)


def _root(path: Path) -> Path:
    return resolved(path) if path.is_dir() else Path(stored_path(path))


def _under(path: str, roots: Sequence[Path]) -> bool:
    p = Path(path)
    return any(p == root or root in p.parents for root in roots)


def chunking_label(chunk_tokens: int, chunk_overlap: int) -> str:
    return f"{chunk_tokens} tokens, {chunk_overlap} overlap"


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

    With `prune`, stored articles whose files were under `paths` and are gone (or no longer
    hold them) are removed; an article whose file failed to read loses nothing. Only one
    ingest writes to a store at a time: another one raises `StoreBusyError` at once.
    """
    with store.writing("rebuild" if rebuild else "ingest"):
        return _ingest(store, embedder, paths, prune=prune, rebuild=rebuild,
                       chunk_tokens=chunk_tokens, chunk_overlap=chunk_overlap,
                       max_article_chars=max_article_chars, on_total=on_total,
                       on_progress=on_progress)


def _ingest(
    store: Store,
    embedder: Embedder,
    paths: Sequence[Path],
    *,
    prune: bool,
    rebuild: bool,
    chunk_tokens: int,
    chunk_overlap: int,
    max_article_chars: int,
    on_total: Callable[[int], None] | None,
    on_progress: Progress | None,
) -> IngestReport:
    started = time.perf_counter()
    report = IngestReport()
    if rebuild:
        stored_model = store.registry.get_meta("embedding_model")
        if stored_model not in (None, embedder.name):
            # Another model's vectors cannot share the collection: start from nothing.
            store.reset()
        else:
            # Embedded again article by article, each replaced in one commit: readers keep
            # every article meanwhile, and a rebuild cut short is finished by the next ingest.
            store.registry.set_meta("chunking", UNFINISHED_REBUILD)
    imported = 0 if rebuild else store.import_local_registry()
    if imported:
        report.notes.append(
            f"moved the registry of {imported} articles from {store.root}/ into the Chroma "
            "server (their vectors were there already; nothing embedded again)")
    store.check_embedder(embedder.name)
    ignored: Counter[str] = Counter()
    read, problems = read_articles(paths, max_article_chars, ignored)
    if ignored:
        kinds = ", ".join(f"{n} {suffix}" for suffix, n in ignored.most_common())
        report.notes.append(f"left out {sum(ignored.values())} file(s) of types it does not read "
                            f"({kinds}); it reads {', '.join(sorted(SUFFIXES))}")
    # Stored paths are absolute, so a later run from another directory means the same files.
    articles = [replace(a, path=stored_path(a.path)) for a in read]
    report.skipped = problems
    states = store.registry.states()
    stored_paths = store.registry.paths()
    chunking = chunking_label(chunk_tokens, chunk_overlap)
    previous_chunking = store.registry.get_meta("chunking")
    # A store written before chunk settings were recorded is taken to match the current ones.
    rechunk = previous_chunking not in (None, chunking) and bool(states)
    if rechunk and previous_chunking == UNFINISHED_REBUILD:
        report.notes.append("every article in the index is embedded again"
                            + ("" if rebuild else " (finishing a rebuild that was cut short)"))
    elif rechunk:
        report.notes.append(
            f"chunk settings changed ({previous_chunking} -> {chunking}): every article in the "
            "index is chunked and embedded again")
        # Should this run stop part-way, the next one must not trust either setting.
        store.registry.set_meta("chunking", f"unfinished change to {chunking}")
    changed: list[Article] = []
    moved: dict[str, str] = {}
    for article in articles:
        previous = states.get(article.id)
        if previous is None:
            report.added += 1
            changed.append(article)
        elif previous == (article.content_hash, "ready") and not rechunk:
            report.unchanged += 1
            if stored_paths.get(article.id) != article.path:
                moved[article.id] = article.path  # moved, or stored relative by an old version
        else:  # new content, a write interrupted last time, or new chunk settings
            report.updated += 1
            changed.append(article)

    seen = {a.id for a in articles}
    if rechunk:
        # Articles from other folders are chunked again from their stored text.
        others = [a for a in store.registry.load_articles() if a.id not in seen]
        report.updated += len(others)
        changed.extend(others)
        seen.update(a.id for a in others)

    # A folder that is missing (a typo, an unmounted disk) is reported, and prunes nothing.
    roots = [_root(p) for p in paths if p.exists()]
    read_files = {a.path for a in articles}
    broken = {stored_path(p.file) for p in problems}

    def vanished(path: str) -> bool:
        """The article's file was under `paths` and is gone, or was read without it."""
        if not os.path.isabs(path):
            return False  # stored relative by an old version: its base is unknown
        if path in broken or not _under(path, roots):
            return False
        return path in read_files or not os.path.lexists(path)

    to_remove = []
    kept_broken = 0  # gone from a file part of which could not be read: not pruned
    for article_id, (_, state) in states.items():
        if article_id in seen:
            continue
        path = stored_paths.get(article_id, "")
        if state != "ready":
            # An interrupted write whose file is gone: finish the job. (If the file is still
            # there, the next ingest of its folder redoes the write.)
            if vanished(path) or (os.path.isabs(path) and not os.path.lexists(path)):
                to_remove.append(article_id)
        elif prune and vanished(path):
            to_remove.append(article_id)
        elif prune and path in broken and path in read_files:
            kept_broken += 1

    chunked = {
        a.id: chunk_article(a, embedder.count_tokens, chunk_tokens, chunk_overlap) for a in changed
    }
    if on_total:
        on_total(sum(len(c) for c in chunked.values()))
    batch: list[Article] = []
    size = 0
    article_vectors: dict[str, np.ndarray] = {}
    for article in changed:
        batch.append(article)
        size += len(chunked[article.id])
        if size >= WRITE_CHUNKS:
            report.chunks_embedded += _embed_and_write(store, embedder, batch, chunked,
                                                       on_progress, article_vectors)
            batch, size = [], 0
    if batch:
        report.chunks_embedded += _embed_and_write(store, embedder, batch, chunked, on_progress,
                                                   article_vectors)

    store.move_articles(moved)
    store.remove_articles(to_remove)
    file_stories(store, [a for a in changed if a.id in article_vectors], article_vectors)
    report.removed = len(to_remove)
    if kept_broken:
        report.notes.append(
            f"kept {kept_broken} article(s) no longer in files that could not be read whole "
            "(see the skipped list); fix those files and ingest again to prune them")
    if store.backfill_vectors():
        report.notes.append("copied the chunk vectors of an index made by an older version into "
                            "its registry (searching it no longer needs to open Chroma)")
    # Recorded last: a run interrupted while chunking everything again starts over next time.
    store.registry.set_meta("chunking", chunking)
    if store.embedded:
        # Saved beside the store, so the readers on this machine load it instead of each
        # building it. Replicas of a Chroma server build their own from the server.
        store.save_keyword_index()
    report.chunks_total = store.stats().chunks
    report.seconds = time.perf_counter() - started
    return report


def _embed_and_write(
    store: Store,
    embedder: Embedder,
    articles: list[Article],
    chunked: dict[str, list[Chunk]],
    on_progress: Progress | None,
    article_vectors: dict[str, np.ndarray],
) -> int:
    chunks = [c for a in articles for c in chunked[a.id]]
    spans = [[(s.start - c.start, s.end - c.start) for s in c.sentences] for c in chunks]
    vectors, sentence_vectors = embedder.embed_with_spans([c.text for c in chunks], spans)
    row = 0
    for a in articles:  # each article's mean chunk vector, for grouping it into a story
        n = len(chunked[a.id])
        if n:
            article_vectors[a.id] = vectors[row:row + n].mean(axis=0)
        row += n
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


def file_stories(store: Store, written: list[Article], vectors: dict[str, np.ndarray]) -> None:
    """Group the articles just written into stories, and catch up on any article that has no
    story yet (an index from before stories, or an ingest stopped before this step)."""
    ready = store.registry.ready_articles()
    filed = store.stories.all()
    store.stories.remove([a for a in filed if a not in ready])
    todo = {a.id: a for a in written if a.id in ready}
    missing = [a for a in ready if a not in filed and a not in todo]
    if missing:
        wanted = set(missing)
        chunks_of: dict[str, list[str]] = {}
        for cid, aid, _, _ in store.registry.ready_chunks():
            if aid in wanted:
                chunks_of.setdefault(aid, []).append(cid)
        # A few hundred articles' sentence vectors at a time: a whole index from before
        # stories (100k chunks) would take gigabytes at once.
        ids = sorted(chunks_of)
        for b in range(0, len(ids), CATCH_UP_ARTICLES):
            part = ids[b : b + CATCH_UP_ARTICLES]
            records = store.registry.chunk_records([c for a in part for c in chunks_of[a]])
            bodies = store.registry.bodies(part)
            for article_id in part:
                means = [r.sentence_vectors.mean(axis=0) for c in chunks_of[article_id]
                         if (r := records.get(c)) is not None and len(r.sentence_vectors)]
                if means and article_id in bodies:
                    vectors[article_id] = np.mean(means, axis=0)
                    todo[article_id] = ready[article_id].with_body(bodies[article_id])
    store.stories.assign(sorted(todo.values(), key=lambda a: (a.date or "", a.id)), vectors)
