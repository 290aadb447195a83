"""A small embedded index is searched exactly from the registry's vectors, without Chroma."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from assistant.ingest import ingest

from .conftest import CORPUS, ROOT, SEEDS, make_services

QUESTIONS = ["Why was the Harbor Bridge closed?", "Who won the mayoral election?",
             "storm damage estimate", "Corvane data breach customers"]


def through_chroma(services: Any, embedder: Any) -> Any:
    """The same store, searched through Chroma as indexes above the limit are."""
    return make_services(services.settings.store, embedder, exact_search_max_chunks=0)


@pytest.mark.parametrize(("since", "until"), [(None, None), ("2026-09-01", None),
                                              (None, "2026-10-15"), ("2026-09-01", "2026-10-15")])
def test_exact_search_finds_what_chroma_finds(news_services: Any, embedder: Any,
                                              since: str | None, until: str | None) -> None:
    chroma = through_chroma(news_services, embedder)
    assert news_services.store.exact_index() is not None
    assert chroma.store.exact_index() is None
    for question in QUESTIONS:
        vector = embedder.embed([question])[0]
        exact = news_services.store.dense_search(vector, 20, since, until)
        # A little deeper: reprinted stories tie, and ties may fall either side of the cut.
        approximate = dict(chroma.store.dense_search(vector, 25, since, until))
        assert len(exact) == min(20, len(approximate))
        for chunk_id, similarity in exact:
            # Vectors are kept as float16 in the registry: the same cosines to three decimals.
            assert chunk_id in approximate
            assert similarity == pytest.approx(approximate[chunk_id], abs=2e-3)
        assert [s for _, s in exact] == sorted((s for _, s in exact), reverse=True)


@pytest.mark.parametrize(("since", "until"), [("2026-09-01", None), (None, "2026-10-15"),
                                              ("2026-09-01", "2026-10-15")])
@pytest.mark.parametrize("n", [5, 20])
def test_a_date_filtered_search_through_chroma_filters_wide_ranges_itself(
        news_services: Any, embedder: Any, monkeypatch: pytest.MonkeyPatch,
        since: str, until: str | None, n: int) -> None:
    """A range that admits much of the index is searched unfiltered, deeper, and filtered
    with the view's dates (Chroma's own filter costs time in proportion to what it admits):
    the same chunks either way."""
    import assistant.store as store_module

    chroma = through_chroma(news_services, embedder)
    view = chroma.store.view()
    bounds = store_module.date_bounds(since, until)
    assert bounds is not None and 0.2 < view.dates.share(bounds) < 0.9
    wheres: list[Any] = []
    nearest = chroma.store._nearest

    def spy(vector: Any, count: int, where: Any) -> Any:
        wheres.append(where)
        return nearest(vector, count, where)

    monkeypatch.setattr(chroma.store, "_nearest", spy)
    for question in QUESTIONS:
        vector = embedder.embed([question])[0]
        exact = news_services.store.dense_search(vector, n, since, until)
        monkeypatch.setattr(store_module, "POSTFILTER_MAX_RESULTS", 0)
        wheres.clear()
        by_chroma = chroma.store.dense_search(vector, n, since, until)
        assert wheres and all(w is not None for w in wheres)
        monkeypatch.setattr(store_module, "POSTFILTER_MAX_RESULTS", 10_000)
        monkeypatch.setattr(store_module, "POSTFILTER_MAX_SHARE", 100.0)  # however small the index
        wheres.clear()
        by_view = chroma.store.dense_search(vector, n, since, until)
        assert wheres == [None]
        assert [c for c, _ in by_view] == [c for c, _ in by_chroma]
        # Reprints tie, so against the exact search compare similarities, not ids.
        assert [s for _, s in by_view] == pytest.approx([s for _, s in exact], abs=2e-3)
        dates = {view.chunks[c][0]: view.articles[view.chunks[c][0]].date for c, _ in by_view}
        assert all(d and (d >= since if since else True) and (d <= until if until else True)
                   for d in dates.values())


def test_ask_on_a_small_index_never_imports_chroma(news_services: Any) -> None:
    script = ("import sys; from assistant.cli import main\n"
              "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
              "print('chromadb imported:', 'chromadb' in sys.modules)")
    result = subprocess.run(
        [sys.executable, "-c", script, "ask", "Why was the Harbor Bridge closed?",
         "--store", str(news_services.settings.store)],
        capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "Harbor Bridge" in result.stdout
    assert result.stdout.strip().endswith("chromadb imported: False")


def test_an_index_from_an_older_version_is_searched_through_chroma_until_ingest_copies_its_vectors(
        tmp_path: Path, embedder: Any) -> None:
    services = make_services(tmp_path / "store", embedder)
    ingest(services.open_store(create=True), embedder, [SEEDS, CORPUS])
    question = embedder.embed(["Why was the Harbor Bridge closed?"])[0]
    expected = services.store.dense_search(question, 10)
    with sqlite3.connect(tmp_path / "store" / "registry.sqlite3") as db:
        db.execute("UPDATE chunks SET vector=NULL")  # as an older version left it
        db.execute("UPDATE meta SET value=CAST(value AS INTEGER)+1 WHERE key='generation'")

    older = make_services(tmp_path / "store", embedder)
    assert older.store.exact_index() is None
    assert [c for c, _ in older.store.dense_search(question, 10)] == [c for c, _ in expected]

    report = ingest(older.store, embedder, [SEEDS])  # nothing changed, nothing embedded
    assert report.chunks_embedded == 0
    assert any("older version" in note for note in report.notes)
    assert older.store.exact_index() is not None
    assert [c for c, _ in older.store.dense_search(question, 10)] == [c for c, _ in expected]


def test_a_new_article_is_found_by_exact_search_at_once(tmp_path: Path, embedder: Any) -> None:
    services = make_services(tmp_path / "store", embedder)
    store = services.open_store(create=True)
    ingest(store, embedder, [SEEDS])
    assert len(store.exact_index().ids) == 3  # type: ignore[union-attr]
    folder = tmp_path / "news"
    folder.mkdir()
    (folder / "kites.md").write_text("---\nid: kites\ntitle: Kite festival\ndate: 2026-11-02\n"
                                     "---\nA kite festival filled the beach with 400 kites.",
                                     encoding="utf-8")
    ingest(store, embedder, [folder])
    hits = store.dense_search(embedder.embed(["kite festival on the beach"])[0], 1)
    assert hits[0][0].startswith("kites")
