"""Stories: reprints and follow-up reports grouped at ingest, incrementally, and shown so."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from assistant.ingest import ingest

from .conftest import CORPUS, write_articles
from .test_ingest import chroma_server  # noqa: F401  (a real `chroma run` for server mode)

FOLLOW_UP = """---
id: "c46-port-ellery-strike-ends"
title: "Port Ellery dockworkers end strike after automation deal"
date: "2026-11-27"
source: "Riverton Gazette"
---
Dockworkers at the Port of Port Ellery returned to work on Wednesday after their union and the
terminal operators agreed a contract that limits automation at the port's two container
terminals, ending a strike that began last Thursday.

Union president Dwayne Castellano said members had approved the deal by a wide margin. Cargo
ships that had waited offshore during the strike began moving into the port's berths.
"""


def test_a_wire_reprint_is_one_story_and_shown_once(news_services: Any) -> None:
    stories = news_services.store.stories.all()
    copy = stories["c38-wire-port-ellery-strike-reprint"]
    assert copy.reprint_of == "c37-wire-port-ellery-strike"
    assert copy.story_id == stories["c37-wire-port-ellery-strike"].story_id
    passages = news_services.retriever.search("Port Ellery dockworkers strike automation", 8)
    wire = [p for p in passages if "port-ellery-strike" in p.article.id]
    assert len({p.article.id for p in wire}) == 1
    shown = wire[0]
    assert [a.id for a in shown.also_reported_by] == [
        ({"c37-wire-port-ellery-strike", "c38-wire-port-ellery-strike-reprint"}
         - {shown.article.id}).pop()]
    assert shown.to_dict()["also_reported_by"][0]["title"]


def test_follow_up_reports_of_one_event_share_a_story(news_services: Any) -> None:
    stories = news_services.store.stories.all()
    delphine = {stories[a].story_id for a in ("c12-storm-delphine-forecast",
                                              "c13-storm-delphine-landfall",
                                              "c14-storm-delphine-damage-estimate")}
    assert len(delphine) == 1
    assert stories["c09-green-line-derailment"].story_id == stories[
        "c10-green-line-derailment-update"].story_id
    # Different events keep their own stories.
    assert stories["c12-storm-delphine-forecast"].story_id != stories[
        "c21-corvane-layoffs"].story_id
    assert news_services.store.stats().stories < len(stories)


def test_a_new_report_joins_its_story_without_regrouping_the_rest(
        tmp_path: Path, services_factory: Any) -> None:
    services = services_factory()
    store = services.open_store(create=True)
    ingest(store, services.embedder, [CORPUS])
    before = store.stories.all()
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "c46-port-ellery-strike-ends.md").write_text(FOLLOW_UP, encoding="utf-8")
    report = ingest(store, services.embedder, [CORPUS, extra])
    assert report.added == 1 and report.chunks_embedded > 0
    after = store.stories.all()
    assert {a: i.story_id for a, i in before.items()} == {
        a: i.story_id for a, i in after.items() if a in before}
    assert after["c46-port-ellery-strike-ends"].story_id == after[
        "c37-wire-port-ellery-strike"].story_id
    # Removing an article removes it from its story, and the story count follows.
    (extra / "c46-port-ellery-strike-ends.md").unlink()
    assert ingest(store, services.embedder, [CORPUS, extra], prune=True).removed == 1
    assert "c46-port-ellery-strike-ends" not in store.stories.all()
    assert store.stats().stories == len({i.story_id for i in before.values()})


def test_an_index_made_before_stories_is_filed_on_the_next_ingest(
        services_factory: Any) -> None:
    services = services_factory()
    store = services.open_store(create=True)
    ingest(store, services.embedder, [CORPUS])
    filed = {i: s.story_id for i, s in store.stories.all().items()}
    store.stories.remove(list(filed))
    assert store.stats().stories == 0
    report = ingest(store, services.embedder, [CORPUS])
    assert report.chunks_embedded == 0  # nothing embedded again
    assert len(store.stories.all()) == report.unchanged == 46
    # Filed from the stored bodies and vectors, the stories are the ones first filed.
    assert {i: s.story_id for i, s in store.stories.all().items()} == filed


def test_the_article_route_lists_the_other_reports_of_its_story(news_services: Any) -> None:
    from fastapi.testclient import TestClient

    from assistant.api import create_app

    client = TestClient(create_app(news_services, ui=False))
    story = client.get("/api/articles/c13-storm-delphine-landfall").json()["story"]
    ids = [s["id"] for s in story]
    assert "c12-storm-delphine-forecast" in ids and "c14-storm-delphine-damage-estimate" in ids
    assert [s["date"] for s in story] == sorted(s["date"] for s in story)
    wire = client.get("/api/articles/c37-wire-port-ellery-strike").json()["story"]
    assert {"id": "c38-wire-port-ellery-strike-reprint",
            "reprint_of": "c37-wire-port-ellery-strike"}.items() <= next(
        s for s in wire if s["id"] == "c38-wire-port-ellery-strike-reprint").items()


def test_a_reprinted_source_says_who_else_reported_it(news_services: Any) -> None:
    from assistant.display import answer_view
    from assistant.ui import cited_sources_html

    answer = news_services.asker.ask("How many dockworkers went on strike at Port Ellery?")
    assert answer.grounded
    view = answer_view(answer)
    wire = [s for s in view.sources if "port-ellery-strike" in s.article.id]
    assert wire and wire[0].also_line.startswith("also reported by ")
    copies = {p.article.id for p in answer.passages if "port-ellery-strike" in p.article.id}
    assert len(copies) == 1  # the reprint is named, not listed as a second source
    html = cited_sources_html(view.sources, news_services.store.registry.body)
    assert "also reported by" in html


def test_chunk_records_are_read_in_parts(news_services: Any) -> None:
    """SQLite takes a limited number of parameters in one statement (32,766 in many builds):
    more ids than that (a large index catching up on stories) are read in parts."""
    import sqlite3

    limit = sqlite3.connect(":memory:").getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    registry = news_services.store.registry
    chunk_ids = [row[0] for row in registry.ready_chunks()]
    records = registry.chunk_records([f"no-such-chunk-{i}" for i in range(limit)] + chunk_ids)
    assert set(records) == set(chunk_ids)


WIRE_BODY = ("The death toll from Monday's earthquake in Kestrel has risen to eight, governor "
             "Ana Ruiz said on Tuesday.\n\nFive more bodies were recovered from the collapsed "
             "school gymnasium overnight.\n\nAbout 400 residents are sleeping in tents on the "
             "town's football field.\n")


@pytest.mark.parametrize("mode", ["embedded", "server"])
def test_a_reprint_of_a_removed_article_is_an_original_and_never_loops(
        tmp_path: Path, services_factory: Any, request: pytest.FixtureRequest, mode: str) -> None:
    """Found by a hostile trial: after --prune removed the original, its reprint still named
    it; added again, each named the other as its original."""
    url = request.getfixturevalue("chroma_server") if mode == "server" else None
    services = services_factory(chroma_url=url)
    store, embedder = services.open_store(create=True), services.embedder
    folder = tmp_path / "articles"
    copies = {"orig": "Kestrel earthquake death toll rises",
              "wire": "Quake toll climbs to eight in Kestrel"}
    for name, title in copies.items():
        write_articles(folder, {name: (title, "2026-03-03", WIRE_BODY)})
        ingest(store, embedder, [folder])
    assert store.stories.all()["wire"].reprint_of == "orig"
    saved = (folder / "orig.md").read_text(encoding="utf-8")
    (folder / "orig.md").unlink()
    assert ingest(store, embedder, [folder], prune=True).removed == 1
    assert store.stories.all()["wire"].reprint_of is None
    (folder / "orig.md").write_text(saved, encoding="utf-8")
    ingest(store, embedder, [folder])
    filed = store.stories.all()
    assert filed["orig"].reprint_of == "wire" and filed["wire"].reprint_of is None
    assert filed["orig"].story_id == filed["wire"].story_id
    # An original edited and refiled stays the original, never a copy of itself.
    (folder / "wire.md").write_text((folder / "wire.md").read_text(encoding="utf-8").replace(
        "overnight", "during the night"), encoding="utf-8")
    ingest(store, embedder, [folder])
    filed = store.stories.all()
    assert filed["wire"].reprint_of is None and filed["orig"].reprint_of == "wire"


def test_the_original_is_cited_even_when_its_word_for_word_reprint_ranks_first(
        tmp_path: Path, services_factory: Any) -> None:
    """Found by a hostile trial: the wire copy (its headline closer to the question) was the
    source, and the paper that wrote the story only "also reported" it."""
    services = services_factory()
    store = services.open_store(create=True)
    folder = tmp_path / "articles"
    write_articles(folder, {"orig": ("Toll rises", "2026-03-03", WIRE_BODY)})
    ingest(store, services.embedder, [folder])
    write_articles(folder, {"wire": ("How many people have died in the Kestrel earthquake",
                                     "2026-03-03", WIRE_BODY)})
    ingest(store, services.embedder, [folder])
    assert store.stories.all()["wire"].reprint_of == "orig"
    question = "How many people have died in the Kestrel earthquake?"
    answer = services.asker.ask(question)
    assert answer.grounded and {c.article_id for c in answer.citations} == {"orig"}
    top = answer.passages[0]
    assert top.article.id == "orig" and [a.id for a in top.also_reported_by] == ["wire"]
    body = store.registry.body("orig")
    assert all(body[c.start:c.end] == c.quote for c in answer.citations)


def test_the_copies_of_a_removed_original_stay_one_family(tmp_path: Path) -> None:
    """Found in review: removing an original left its two copies as two unrelated originals,
    both shown as sources."""
    import numpy as np

    from assistant.stories import StoryIndex
    from assistant.types import Article

    index = StoryIndex(tmp_path / "stories.db")
    vector = np.ones(8, dtype=np.float32)
    days = {"orig": "2026-03-03", "wire-b": "2026-03-05", "wire-a": "2026-03-04"}
    index.assign([Article(i, f"Quake report {i}", WIRE_BODY, f"{i}.md", d)
                  for i, d in days.items()], {i: vector for i in days})
    assert {i: s.reprint_of for i, s in index.all().items()} == {
        "orig": None, "wire-a": "orig", "wire-b": "orig"}
    assert sorted(index.remove(["orig"])) == ["wire-a", "wire-b"]
    # The earliest copy is the original now, and the other copies its reprints.
    filed = index.all()
    assert {i: s.reprint_of for i, s in filed.items()} == {"wire-a": None, "wire-b": "wire-a"}
    assert filed["wire-a"].story_id == filed["wire-b"].story_id


def test_a_prune_of_more_articles_than_one_sql_statement_takes(tmp_path: Path) -> None:
    """SQLite refuses a statement with more than 32,766 parameters; a prune of a large
    archive names more articles than that."""
    import numpy as np

    from assistant.stories import StoryIndex
    from assistant.types import Article

    index = StoryIndex(tmp_path / "stories.db")
    index.assign([Article("kept", "Kept", "A short note.", "kept.md")],
                 {"kept": np.ones(8, dtype=np.float32)})
    many = [f"gone-{n}" for n in range(40_000)]
    assert index.remove(["kept", *many]) == []
    assert index.all() == {} and index.rows(many) == []


@pytest.mark.parametrize("mode", ["embedded", "server"])
def test_an_articles_bylines_are_stored_and_shown_by_the_article_route(
        tmp_path: Path, services_factory: Any, request: pytest.FixtureRequest, mode: str) -> None:
    """Found by a hostile trial: `authors` was read from front matter and then dropped, so
    `/api/articles/{id}` could not give it."""
    from fastapi.testclient import TestClient

    from assistant.api import create_app

    url = request.getfixturevalue("chroma_server") if mode == "server" else None
    services = services_factory(chroma_url=url)
    store = services.open_store(create=True)
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "quake.md").write_text(
        "---\nid: quake\ntitle: Kestrel earthquake toll rises\ndate: 2026-03-03\n"
        "authors: [Ana Ruiz, Tom Okafor]\n---\n" + WIRE_BODY, encoding="utf-8")
    write_articles(folder, {"plain": ("No byline", "2026-03-04", "A short note on the fair.\n")})
    ingest(store, services.embedder, [folder])
    client = TestClient(create_app(services, ui=False))
    assert client.get("/api/articles/quake").json()["authors"] == ["Ana Ruiz", "Tom Okafor"]
    assert client.get("/api/articles/plain").json()["authors"] == []
    # Kept when the articles are chunked again from the store, without their files.
    assert {a.id: a.authors for a in store.registry.load_articles()}["quake"] == (
        "Ana Ruiz", "Tom Okafor")


def test_a_registry_from_before_bylines_and_figures_were_kept_opens_and_keeps_its_articles(
        tmp_path: Path, services_factory: Any) -> None:
    import sqlite3

    from assistant.articles import content_hash
    from assistant.types import Article

    services = services_factory()
    store = services.open_store(create=True)
    ingest(store, services.embedder, [CORPUS])
    path = store.registry.path
    store.close()
    with sqlite3.connect(path) as db:  # as version 0.18 left it
        db.execute("DROP INDEX articles_ready")
        db.execute("ALTER TABLE articles DROP COLUMN authors")
        db.execute("ALTER TABLE stories DROP COLUMN figures")
    older = services_factory()
    report = ingest(older.open_store(), older.embedder, [CORPUS])
    # An article without bylines keeps its hash: nothing is indexed again.
    assert report.unchanged == 46 and report.chunks_embedded == 0
    assert older.store.registry.authors("c37-wire-port-ellery-strike") == ()
    assert older.store.stories.all()["c38-wire-port-ellery-strike-reprint"].reprint_of == (
        "c37-wire-port-ellery-strike")
    plain = Article("a", "T", "Body.", "a.md", "2026-01-01")
    assert content_hash(plain) != content_hash(Article("a", "T", "Body.", "a.md", "2026-01-01",
                                                       authors=("Ana Ruiz",)))
