"""Chunking offsets, incremental and crash-safe re-indexing, bad input, Chroma server mode."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from assistant.articles import read_articles
from assistant.chunking import chunk_article, split_sentences
from assistant.ingest import ingest

from .conftest import CORPUS, ROOT, SEED_ID, SEEDS

VENV_BIN = Path(sys.executable).parent


def write_article(folder: Path, article_id: str, body: str, date: str = "2026-11-01") -> Path:
    path = folder / f"{article_id}.md"
    path.write_text(f"---\nid: {article_id}\ntitle: {article_id} title\ndate: {date}\n---\n{body}",
                    encoding="utf-8")
    return path


def chroma_ids(services: Any) -> list[str]:
    return sorted(services.open_store().collection.get(include=[])["ids"])


def registry_chunk_ids(services: Any) -> list[str]:
    return sorted(c[0] for c in services.open_store().registry.ready_chunks())


def test_every_chunk_is_the_article_body_at_its_offsets(embedder: Any) -> None:
    articles, _ = read_articles([SEEDS, CORPUS])
    for article in articles:
        chunks = chunk_article(article, embedder.count_tokens, 200, 30)
        assert chunks, article.id
        for c in chunks:
            assert article.body[c.start:c.end] == c.text
            assert len(embedder.count_tokens(c.text)) <= 256
            for s in c.sentences:
                assert c.start <= s.start < s.end <= c.end
        # Together the chunks cover every sentence of the article.
        covered = {(s.start, s.end) for c in chunks for s in c.sentences}
        assert all(any(a <= s.start and s.end <= b for a, b in covered)
                   for s in split_sentences(article.body)) or len(chunks) > 1


def test_long_articles_are_split_into_overlapping_chunks_of_about_200_word_pieces(
        embedder: Any, tmp_path: Path) -> None:
    body = " ".join(f"Sentence number {i} tells of the council budget and the harbor bridge."
                    for i in range(120))
    write_article(tmp_path, "long", body)
    (article,), _ = read_articles([tmp_path])
    chunks = chunk_article(article, embedder.count_tokens, 200, 30)
    assert len(chunks) >= 6
    sizes = [len(embedder.count_tokens(c.text)) for c in chunks]
    assert max(sizes) <= 200 and min(sizes[:-1]) >= 120
    assert all(b.start < a.end for a, b in itertools.pairwise(chunks))  # overlap


def test_sentences_do_not_break_at_abbreviations() -> None:
    text = "Mr. Smith met Dr. J. Doe in the U.S. capital. They agreed. Talks resume Monday."
    got = [text[s.start:s.end] for s in split_sentences(text)]
    assert got == ["Mr. Smith met Dr. J. Doe in the U.S. capital.", "They agreed.",
                   "Talks resume Monday."]


def test_a_sentence_wrapped_over_two_lines_is_one_sentence_and_a_headline_line_is_not(
        ) -> None:
    """Markdown wrapped at a fixed width broke "... in the valley" / "with ash." into two
    sentences, the second cut from its verb; a headline line with no full stop, followed by
    a capitalised line, stays a sentence of its own."""
    text = ("Volcano erupts\nThe volcano erupted and covered the farms in the valley\nwith "
            "ash. Farmers moved\n12 herds to the coast.\nThey waited.")
    got = [text[s.start:s.end] for s in split_sentences(text)]
    assert got == ["Volcano erupts",
                   "The volcano erupted and covered the farms in the valley\nwith ash.",
                   "Farmers moved\n12 herds to the coast.", "They waited."]


def test_reingest_of_unchanged_articles_embeds_nothing(services_factory: Any,
                                                       tmp_path: Path) -> None:
    services = services_factory()
    store = services.open_store(create=True)
    first = ingest(store, services.embedder, [SEEDS, CORPUS])
    assert first.added == 47 and first.chunks_embedded == first.chunks_total > 47
    before = services.embedder.texts_embedded
    second = ingest(store, services.embedder, [SEEDS, CORPUS])
    assert (second.added, second.updated, second.unchanged) == (0, 0, 47)
    assert second.chunks_embedded == 0
    assert services.embedder.texts_embedded == before
    assert chroma_ids(services) == registry_chunk_ids(services)


def test_changed_article_replaces_its_chunks_and_removed_one_is_pruned(
        services_factory: Any, tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    folder.mkdir()
    write_article(folder, "bridge", "The Harbor Bridge will close for six weeks.")
    write_article(folder, "strike", "Dockworkers at Port Ellery went on strike on Monday.")
    services = services_factory()
    store = services.open_store(create=True)
    ingest(store, services.embedder, [folder])
    old_ids = chroma_ids(services)

    write_article(folder, "bridge", "The Harbor Bridge will now close for eight weeks.")
    report = ingest(store, services.embedder, [folder])
    assert (report.updated, report.unchanged, report.chunks_embedded) == (1, 1, 1)
    new_ids = chroma_ids(services)
    assert len(new_ids) == len(old_ids) == 2
    assert [i for i in new_ids if i.startswith("bridge#")] != [
        i for i in old_ids if i.startswith("bridge#")]
    hits = services.retriever.search("How long will the bridge close?", 1)
    assert "eight weeks" in hits[0].text

    (folder / "strike.md").unlink()
    kept = ingest(store, services.embedder, [folder])  # no --prune: nothing removed
    assert kept.removed == 0 and len(chroma_ids(services)) == 2
    pruned = ingest(store, services.embedder, [folder], prune=True)
    assert pruned.removed == 1
    assert chroma_ids(services) == registry_chunk_ids(services) == [
        i for i in new_ids if i.startswith("bridge#")]


def test_a_file_that_turns_unreadable_is_not_pruned(services_factory: Any, tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    folder.mkdir()
    path = write_article(folder, "keep", "The library reopens in March after renovation.")
    services = services_factory()
    store = services.open_store(create=True)
    ingest(store, services.embedder, [folder])
    path.write_bytes(b"\xff\xfe broken now")
    report = ingest(store, services.embedder, [folder], prune=True)
    assert report.removed == 0 and len(report.skipped) == 1
    assert services.retriever.search("library renovation", 1)[0].article.id == "keep"


class Interrupt(KeyboardInterrupt):
    pass


def test_interrupted_ingest_is_repaired_by_the_next_run(services_factory: Any,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import assistant.ingest as ingest_module

    monkeypatch.setattr(ingest_module, "WRITE_CHUNKS", 20)

    services = services_factory()
    store = services.open_store(create=True)
    real = ingest_module._embed_and_write
    calls = {"n": 0}

    def crash_on_second_batch(*args: Any, **kwargs: Any) -> int:
        calls["n"] += 1
        if calls["n"] == 2:
            # Crash after Chroma got the vectors but before the registry commit.
            store.registry.commit_articles = _raise  # type: ignore[method-assign]
        return real(*args, **kwargs)

    def _raise(*args: Any, **kwargs: Any) -> None:
        raise Interrupt()

    ingest_module._embed_and_write = crash_on_second_batch  # type: ignore[assignment]
    try:
        with pytest.raises(Interrupt):
            ingest(store, services.embedder, [CORPUS])
    finally:
        ingest_module._embed_and_write = real  # type: ignore[assignment]
    pending = [i for i, (_, state) in store.registry.states().items() if state != "ready"]
    assert pending  # the half-written batch is marked, not trusted

    repaired = services_factory()  # a fresh process would open the store like this
    store2 = repaired.open_store(create=True)
    report = ingest(store2, repaired.embedder, [CORPUS])
    assert report.updated == len(pending)
    assert all(state == "ready" for _, state in store2.registry.states().values())
    assert chroma_ids(repaired) == registry_chunk_ids(repaired)  # no duplicates, no orphans


KILL_SCRIPT = """
import os, signal, sys
from pathlib import Path
from assistant.app import build
from assistant.config import Settings
from assistant.ingest import ingest
import assistant.store as store_module
import assistant.ingest as ingest_module

ingest_module.WRITE_CHUNKS = 20

real = store_module.SqliteRegistry.commit_articles
count = {"n": 0}
def commit_then_die(self, *a, **k):
    count["n"] += 1
    if count["n"] == 2:
        os.kill(os.getpid(), signal.SIGKILL)  # vectors are in Chroma, registry not committed
    return real(self, *a, **k)
store_module.SqliteRegistry.commit_articles = commit_then_die
services = build(Settings(store=Path(sys.argv[1]), llm="extractive"))
ingest(services.open_store(create=True), services.embedder, [Path(sys.argv[2])])
"""


def test_kill_9_during_ingest_leaves_nothing_half_indexed(tmp_path: Path, embedder: Any) -> None:
    store_dir = tmp_path / "store"
    proc = subprocess.run([sys.executable, "-c", KILL_SCRIPT, str(store_dir), str(CORPUS)],
                          cwd=ROOT, capture_output=True, timeout=240)
    assert proc.returncode == -signal.SIGKILL
    result = subprocess.run(
        [str(VENV_BIN / "assistant"), "ingest", str(CORPUS), "--store", str(store_dir), "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["updated"] >= 1 and report["skipped"] == []
    from .conftest import make_services

    services = make_services(store_dir, embedder)
    assert chroma_ids(services) == registry_chunk_ids(services)
    assert services.store.stats().articles == 46


def test_cli_ingest_twice_embeds_nothing_the_second_time_and_reports_bad_files(
        tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    shutil.copytree(SEEDS, folder)
    (folder / "bad.txt").write_bytes(b"\x00\x00binary")
    (folder / "lines.jsonl").write_text('{"id": "x1", "text": "Fine."}\nnot json\n')
    cmd = [str(VENV_BIN / "assistant"), "ingest", str(folder), "--store", str(tmp_path / "s"),
           "--json"]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert first.returncode == 3, first.stderr  # 3: done, but some files were skipped
    report = json.loads(first.stdout)
    assert set(report) == {"added", "updated", "unchanged", "removed", "skipped",
                           "chunks_embedded", "chunks_total", "seconds", "notes"}
    assert report["added"] == 2 and report["chunks_embedded"] > 0
    assert sorted(s["path"].rsplit("/", 1)[1] for s in report["skipped"]) == [
        "bad.txt", "lines.jsonl:2"]
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert json.loads(second.stdout)["chunks_embedded"] == 0

    human = subprocess.run(cmd[:-1], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert "0 chunks embedded" in human.stdout
    assert "skipped" in human.stderr and "bad.txt" in human.stderr and "Traceback" not in human.stderr

    stats = subprocess.run([str(VENV_BIN / "assistant"), "stats", "--store", str(tmp_path / "s"),
                            "--json"], capture_output=True, text=True, timeout=60, cwd=ROOT)
    info = json.loads(stats.stdout)
    assert info["articles"] == 2 and info["chunks"] == report["chunks_total"]
    assert info["embedding_model"].startswith("all-MiniLM-L6-v2")


def test_commands_on_a_missing_store_say_so_in_one_line(tmp_path: Path) -> None:
    for args in (["stats"], ["search", "bridge"], ["ask", "Who won?"]):
        result = subprocess.run([str(VENV_BIN / "assistant"), *args, "--store",
                                 str(tmp_path / "none")], capture_output=True, text=True,
                                timeout=60, cwd=ROOT)
        assert result.returncode == 2
        assert result.stderr.count("\n") == 1 and "assistant ingest" in result.stderr


def test_seed_question_finds_the_seed_article_first_among_many(news_services: Any) -> None:
    hits = news_services.retriever.search("Who did Trump invite to the White House?", 5)
    assert hits[0].article.id == SEED_ID
    assert hits[0].dense_score is not None and hits[0].keyword_score is not None
    assert "Netanyahu" in hits[0].text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def chroma_server(tmp_path: Path) -> Any:
    port = _free_port()
    proc = subprocess.Popen(
        [str(VENV_BIN / "chroma"), "run", "--path", str(tmp_path / "chroma-server"),
         "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "ANONYMIZED_TELEMETRY": "False"})
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("chroma run did not start")
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=20)


def test_ingest_and_search_against_a_chroma_server(services_factory: Any,
                                                   chroma_server: str, tmp_path: Path) -> None:
    services = services_factory(chroma_url=chroma_server)
    store = services.open_store(create=True)
    assert store.chroma_label == chroma_server
    report = ingest(store, services.embedder, [SEEDS, CORPUS])
    assert report.added == 47
    assert store.collection.count() == report.chunks_total
    assert not (tmp_path / "store" / "chroma").exists()  # vectors live on the server
    hits = services.retriever.search("Who did Trump invite to the White House?", 3)
    assert hits[0].article.id == SEED_ID
    again = ingest(store, services.embedder, [SEEDS, CORPUS])
    assert again.chunks_embedded == 0


def test_unreachable_chroma_server_is_a_clear_error(services_factory: Any) -> None:
    from assistant.errors import StoreError

    services = services_factory(chroma_url=f"http://127.0.0.1:{_free_port()}")
    with pytest.raises(StoreError, match="cannot reach the Chroma server"):
        services.open_store(create=True)


def cli_ingest(*args: str, cwd: Path) -> dict[str, Any]:
    result = subprocess.run([str(VENV_BIN / "assistant"), "ingest", *args, "--json"], cwd=cwd,
                            capture_output=True, text=True, timeout=240)
    assert result.returncode in (0, 3), result.stderr
    return dict(json.loads(result.stdout))


def test_prune_from_another_directory_keeps_the_other_folders_articles(
        tmp_path: Path, embedder: Any) -> None:
    work = tmp_path / "work"
    for name, folder in (("news", work / "news"), ("other", tmp_path / "other-folder")):
        folder.mkdir(parents=True)
        for i in range(5 if name == "news" else 2):
            write_article(folder, f"{name}-{i}", f"Report {i} from the {name} desk on the harbor.")
    store = str(tmp_path / "S")
    assert cli_ingest("news", "--store", store, cwd=work)["added"] == 5
    report = cli_ingest("other-folder", "--prune", "--store", store, cwd=tmp_path)
    assert (report["added"], report["removed"]) == (2, 0)

    from .conftest import make_services

    services = make_services(tmp_path / "S", embedder)
    paths = {m.id: m.path for m in services.store.registry.ready_articles().values()}
    assert len(paths) == 7
    assert paths["news-0"] == str((work / "news" / "news-0.md").resolve())
    metadata = services.store.collection.get(where={"article_id": "news-0"},
                                             include=["metadatas"])["metadatas"]
    assert {m["path"] for m in metadata} == {paths["news-0"]}

    # A file that is really gone is still pruned, whichever directory the command runs from.
    (work / "news" / "news-4.md").unlink()
    report = cli_ingest(str(work / "news"), "--prune", "--store", store, cwd=tmp_path / "other-folder")
    assert (report["unchanged"], report["removed"]) == (4, 1)
    assert chroma_ids(services) == registry_chunk_ids(services)


def test_a_store_with_relative_paths_is_migrated_without_embedding_or_pruning(
        services_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    news = tmp_path / "work" / "news"
    news.mkdir(parents=True)
    for i in range(3):
        write_article(news, f"n{i}", f"Ferry timetable change number {i} for the island route.")
    services = services_factory()
    store = services.open_store(create=True)
    ingest(store, services.embedder, [news])
    # What an older version stored: paths relative to wherever the command ran.
    with sqlite3.connect(tmp_path / "store" / "registry.sqlite3") as db:
        db.execute("UPDATE articles SET path='news/' || id || '.md'")

    other = tmp_path / "other"
    other.mkdir()
    write_article(other, "o1", "The museum extends its opening hours in winter.")
    monkeypatch.chdir(tmp_path)  # where news/n0.md does not exist
    report = ingest(store, services.embedder, [other], prune=True)
    assert (report.added, report.removed) == (1, 0)  # a relative path's base is unknown

    before = services.embedder.texts_embedded
    report = ingest(store, services.embedder, [news], prune=True)
    assert (report.unchanged, report.removed, report.chunks_embedded) == (3, 0, 0)
    assert services.embedder.texts_embedded == before
    paths = {m.id: m.path for m in store.registry.ready_articles().values()}
    assert paths["n1"] == str(news.resolve() / "n1.md") and paths["o1"].startswith("/")
    hit = services.retriever.search("ferry timetable island", 1)[0]
    assert hit.article.path == str(news.resolve() / f"{hit.article.id}.md")


def test_a_broken_file_with_a_colon_in_its_name_keeps_its_previous_version(
        services_factory: Any, tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    folder.mkdir()
    path = write_article(folder, "council", "The council meets again on Tuesday evening.")
    path = path.rename(folder / "update: council.md")
    write_article(folder, "other", "The marathon route avoids the old town this year.")
    services = services_factory()
    store = services.open_store(create=True)
    assert ingest(store, services.embedder, [folder]).added == 2
    path.write_bytes(b"\x00\x01 not an article any more")
    report = ingest(store, services.embedder, [folder], prune=True)
    assert report.removed == 0
    assert [p.path for p in report.skipped] == [str(path)]
    assert services.retriever.search("council meeting Tuesday", 1)[0].article.id == "council"


def test_new_chunk_settings_chunk_every_article_again(services_factory: Any,
                                                     tmp_path: Path) -> None:
    first_folder, second_folder = tmp_path / "a", tmp_path / "b"
    first_folder.mkdir()
    second_folder.mkdir()
    body = " ".join(f"Sentence {i} is about the tram line extension and its cost." for i in range(40))
    write_article(first_folder, "tram", body)
    write_article(second_folder, "tram-2", body.replace("tram", "bus"))
    services = services_factory()
    store = services.open_store(create=True)
    ingest(store, services.embedder, [first_folder, second_folder], chunk_tokens=200)
    chunks_before = store.stats().chunks

    report = ingest(store, services.embedder, [first_folder], chunk_tokens=64, chunk_overlap=10)
    assert (report.added, report.updated, report.unchanged) == (0, 2, 0)
    assert report.notes == ["chunk settings changed (200 tokens, 30 overlap -> 64 tokens, "
                            "10 overlap): every article in the index is chunked and embedded "
                            "again"]
    assert store.stats().chunks > 2 * chunks_before
    longest = max(len(services.embedder.count_tokens(c.text))
                  for a in store.registry.load_articles()
                  for c in chunk_article(a, services.embedder.count_tokens, 64, 10))
    assert longest <= 64
    assert chroma_ids(services) == registry_chunk_ids(services)
    again = ingest(store, services.embedder, [first_folder], chunk_tokens=64, chunk_overlap=10)
    assert (again.unchanged, again.chunks_embedded, again.notes) == (1, 0, [])


def test_a_rebuild_keeps_every_article_answerable_and_one_cut_short_is_finished(
        tmp_path: Path, services_factory: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Found by a hostile trial: --rebuild deleted the index first, so a server answered
    "The articles don't say." while it ran, and a rebuild killed part-way left it empty."""
    import assistant.ingest as ingest_module

    services = services_factory()
    store = services.open_store(create=True)
    first = ingest(store, services.embedder, [CORPUS])
    monkeypatch.setattr(ingest_module, "WRITE_CHUNKS", 10)  # commit in many small batches
    reader = services_factory().open_store()
    seen: list[int] = []

    def check(_: int) -> None:
        seen.append(reader.stats().articles)
        if len(seen) == 3:
            raise KeyboardInterrupt  # cut short after three commits

    with pytest.raises(KeyboardInterrupt):
        ingest(store, services.embedder, [CORPUS], rebuild=True, on_progress=check)
    assert seen == [46, 46, 46]
    assert reader.stats().articles == 46
    # The next plain ingest sees the rebuild unfinished and embeds everything again.
    report = ingest(store, services.embedder, [CORPUS])
    assert report.chunks_embedded == first.chunks_embedded
    assert any("cut short" in note for note in report.notes)
    assert ingest(store, services.embedder, [CORPUS]).chunks_embedded == 0


def test_a_prune_keeps_what_a_partly_unreadable_file_held_and_says_so(
        tmp_path: Path, services_factory: Any) -> None:
    """Found by a hostile trial: an article deleted from a .jsonl that also had a malformed
    line was kept, silently."""
    services = services_factory()
    store = services.open_store(create=True)
    folder = tmp_path / "feed"
    folder.mkdir()
    lines = folder / "feed.jsonl"
    lines.write_text('{"id": "a", "text": "First report."}\n'
                     '{"id": "b", "text": "Second report."}\n', encoding="utf-8")
    ingest(store, services.embedder, [folder])
    lines.write_text('{"id": "a", "text": "First report."}\n{"id": "c", "text": \n',
                     encoding="utf-8")
    report = ingest(store, services.embedder, [folder], prune=True)
    assert report.removed == 0 and len(report.skipped) == 1
    assert any("kept 1 article(s)" in note for note in report.notes)
    assert set(store.registry.states()) == {"a", "b"}
