"""Several processes on one store: a running server follows another process's ingest, and only
one ingest writes at a time. Every process here is real: the CLI in subprocesses, the
embedded Chroma on disk, the ONNX model."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.articles import read_articles
from assistant.ingest import ingest

from .conftest import CORPUS, ROOT, SEEDS

ASSISTANT = str(Path(sys.executable).parent / "assistant")
NEW_ARTICLE = """---
id: quillbury-volcano
title: Quillbury volcano erupts
date: 2026-11-20
---
The Quillbury volcano erupted on Thursday night and covered the zebra farms in the valley
with ash. Farmers moved the herds to the coast while the ash fell.
"""


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ASSISTANT, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def chroma_and_registry_ids(store_dir: Path, embedder: Any) -> tuple[list[str], list[str]]:
    from .conftest import make_services

    store = make_services(store_dir, embedder).store
    return (sorted(store.collection.get(include=[])["ids"]),
            sorted(c[0] for c in store.registry.ready_chunks()))


@pytest.fixture()
def corpus_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "articles"
    shutil.copytree(CORPUS, folder)
    return folder


def test_a_running_server_follows_an_ingest_by_another_process(
        services_factory: Any, corpus_copy: Path) -> None:
    from fastapi.testclient import TestClient

    from assistant.api import create_app

    services = services_factory()
    ingest(services.open_store(create=True), services.embedder, [corpus_copy])
    dated = {"query": "Quillbury volcano ash zebra farms", "k": 3, "since": "2019-01-01"}
    with TestClient(create_app(services, ui=False)) as client:
        assert client.post("/api/search", json=dated).status_code == 200
        before = client.get("/healthz").json()

        (corpus_copy / "quillbury.md").write_text(NEW_ARTICLE, encoding="utf-8")
        other = run_cli("ingest", str(corpus_copy), "--store", str(services.settings.store))
        assert other.returncode == 0, other.stderr
        assert other.stdout.startswith("1 added")

        reply = client.post("/api/search", json=dated)
        assert reply.status_code == 200, reply.text  # was 503 "Error finding id"
        top = reply.json()["passages"][0]
        assert top["article_id"] == "quillbury-volcano"
        assert top["dense_score"] is not None and top["dense_score"] > 0.5
        health = client.get("/healthz")
        assert health.status_code == 200
        assert health.json()["vectors"] == before["vectors"] + 1
        assert health.json()["articles"] == before["articles"] + 1


def test_a_reader_rests_between_rebuilds_but_not_after_its_first_view(
        services_factory: Any, tmp_path: Path) -> None:
    """During a long ingest a reader rebuilds its view at most every three build times, so
    rebuilding cannot take its core from answering; the first commit after start-up is
    followed at once, however long the start-up build took."""
    import dataclasses

    writer = services_factory()
    folder = tmp_path / "articles"
    folder.mkdir()
    shutil.copy(SEEDS / sorted(os.listdir(SEEDS))[0], folder)
    ingest(writer.open_store(create=True), writer.embedder, [folder])
    reader = services_factory().open_store()
    started = reader.view()
    # As if building the start-up view had taken ten minutes.
    reader._view = dataclasses.replace(started, seconds=600.0)

    (folder / "quillbury.md").write_text(NEW_ARTICLE, encoding="utf-8")
    ingest(writer.open_store(), writer.embedder, [folder])
    followed = reader.view()
    assert followed.generation == reader.registry.generation() > started.generation
    assert followed.rebuilt and "quillbury-volcano" in followed.articles

    # A rebuild that took ten minutes is followed by a rest: the reader answers from it.
    reader._view = dataclasses.replace(followed, seconds=600.0)
    (folder / "quillbury.md").write_text(NEW_ARTICLE.replace("erupts", "erupts again"),
                                         encoding="utf-8")
    ingest(writer.open_store(), writer.embedder, [folder])
    resting = reader.view()
    assert resting.generation == followed.generation < reader.registry.generation()


def test_a_reader_follows_a_store_whose_generation_went_back(services_factory: Any,
                                                             tmp_path: Path) -> None:
    """A Chroma server wiped and filled again counts its generation from the start: the
    reader builds the view of what is there, once, instead of keeping the old one."""
    import dataclasses

    writer = services_factory()
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "quillbury.md").write_text(NEW_ARTICLE, encoding="utf-8")
    ingest(writer.open_store(create=True), writer.embedder, [folder])
    reader = services_factory().open_store()
    view = reader.view()
    builds = 0
    build = reader._build_view

    def counted(rebuilt: bool = False) -> Any:
        nonlocal builds
        builds += 1
        return build(rebuilt)

    reader._build_view = counted  # type: ignore[method-assign]
    reader._view = dataclasses.replace(view, generation=view.generation + 100)
    deadline = time.monotonic() + 30
    # Each query looks at the generation, answers from the view it has and has the current
    # one built in the background.
    while reader.view().generation != view.generation:
        assert time.monotonic() < deadline, "the reader kept the view of the old generation"
        time.sleep(0.05)
    time.sleep(0.3)
    assert builds == 1
    assert reader.view().generation == view.generation and "quillbury-volcano" in \
        reader.view().articles


def test_healthz_reports_a_store_that_cannot_be_queried(services_factory: Any,
                                                        corpus_copy: Path) -> None:
    from fastapi.testclient import TestClient

    from assistant.api import create_app

    services = services_factory()
    ingest(services.open_store(create=True), services.embedder, [corpus_copy])
    # Damage Chroma's metadata: counting still works, a filtered query cannot.
    with sqlite3.connect(services.settings.store / "chroma" / "chroma.sqlite3") as db:
        db.execute("DROP TABLE embedding_metadata")
    served = services_factory()
    with TestClient(create_app(served, ui=False)) as client:
        health = client.get("/healthz")
        assert health.status_code == 503, health.text
        assert health.json()["status"] == "error"
        assert "embedding_metadata" in health.json()["error"]["message"]


def start_ingest(folder: Path, store_dir: Path) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    """`assistant ingest` in the background, once it holds the writer lock."""
    lock = store_dir / "ingest.lock"
    proc = subprocess.Popen([ASSISTANT, "ingest", str(folder), "--store", str(store_dir)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        text = lock.read_text() if lock.exists() else ""
        if text:
            holder = json.loads(text)
            if holder["pid"] == proc.pid:
                return proc, holder
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    proc.kill()
    raise AssertionError("the ingest never took the writer lock")


@pytest.fixture()
def stopped() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test stops with SIGSTOP; never left stopped or running."""
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
            proc.kill()
            proc.communicate()


def test_a_rebuild_is_refused_while_an_ingest_is_writing_and_readers_carry_on(
        tmp_path: Path, corpus_copy: Path, embedder: Any,
        stopped: list[subprocess.Popen[str]]) -> None:
    store_dir = tmp_path / "store"
    first = run_cli("ingest", str(corpus_copy), "--store", str(store_dir))
    assert first.returncode == 0, first.stderr
    (corpus_copy / "quillbury.md").write_text(NEW_ARTICLE, encoding="utf-8")

    writer, holder = start_ingest(corpus_copy, store_dir)
    stopped.append(writer)
    os.kill(writer.pid, signal.SIGSTOP)  # it holds the lock and stays in the middle of its run

    rebuild = run_cli("ingest", str(corpus_copy), "--store", str(store_dir), "--rebuild")
    assert rebuild.returncode == 75, rebuild.stderr
    message = rebuild.stderr.strip()
    assert message.count("\n") == 0 and "Traceback" not in message
    assert f"another ingest (pid {writer.pid}, started " in message
    assert f"is writing to {store_dir}/; wait for it or stop it" in message
    assert holder["command"] == "ingest"

    search = run_cli("search", "harbor bridge closure", "--store", str(store_dir), "--json")
    assert search.returncode == 0, search.stderr  # readers do not wait for the writer
    assert json.loads(search.stdout)["passages"]

    os.kill(writer.pid, signal.SIGCONT)
    out, err = writer.communicate(timeout=300)
    assert writer.returncode == 0, err
    assert out.startswith("1 added, 0 updated, 46 unchanged")
    chroma, registry = chroma_and_registry_ids(store_dir, embedder)
    assert chroma == registry and len({c.split("#")[0] for c in registry}) == 47


def test_a_killed_ingest_does_not_block_the_next_one(tmp_path: Path, corpus_copy: Path,
                                                     embedder: Any) -> None:
    store_dir = tmp_path / "store"
    writer, _ = start_ingest(corpus_copy, store_dir)
    writer.kill()
    writer.communicate()
    assert (store_dir / "ingest.lock").read_text()  # the dead holder's note is still there

    again = run_cli("ingest", str(corpus_copy), "--store", str(store_dir), "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["chunks_total"] > 46
    chroma, registry = chroma_and_registry_ids(store_dir, embedder)
    assert chroma == registry and len({c.split("#")[0] for c in registry}) == 46


def test_a_search_straddling_another_process_commit_never_quotes_the_new_body_at_old_offsets(
        services_factory: Any, tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    folder.mkdir()
    path = folder / "ferry.md"
    old = ("---\nid: ferry\ntitle: Dunmore ferry timetable\ndate: 2026-11-02\n---\n"
           "The Dunmore ferry will run every forty minutes from Monday, the harbor master said.")
    path.write_text(old, encoding="utf-8")
    services = services_factory()
    ingest(services.open_store(create=True), services.embedder, [folder])
    pool = services.retriever.pool("How often will the Dunmore ferry run?", 3)
    assert pool.entries
    (article,), _ = read_articles([folder])
    before = article.body

    # Meanwhile another process rewrites the article: every offset in it moves.
    path.write_text(old.replace("---\nThe", "---\nA long new first paragraph comes first. The"),
                    encoding="utf-8")
    other = services_factory()  # same store folder, another Services: another process
    ingest(other.open_store(), other.embedder, [folder])

    for passage in services.retriever.rank(pool, 3):
        # Cut from the version the search found it in, or not shown at all.
        assert passage.text == before[passage.start:passage.end]
