"""Hostile files and arguments through the real command line: reported in one line, never a
traceback, and never at the cost of the good articles beside them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from .conftest import ROOT
from .test_articles import BILLION_LAUGHS

ASSISTANT = str(Path(sys.executable).parent / "assistant")


def run(*args: str | bytes, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ASSISTANT, *args], capture_output=True, text=True, timeout=300,
                          cwd=ROOT, env={**os.environ, **(env or {})})


def write_good_articles(folder: Path) -> None:
    stories = {
        "bridge": "The Harbor Bridge reopened on Monday after six weeks of repairs.",
        "budget": "The city council passed the budget by seven votes to two.",
        "storm": "Storm Delphine made landfall near Port Ellery late on Sunday.",
    }
    for name, body in stories.items():
        (folder / f"{name}.md").write_text(f"---\ntitle: {name.title()}\ndate: 2026-11-0{len(name)}"
                                           f"\n---\n{body}\n", encoding="utf-8")


def test_ingest_of_a_folder_of_hostile_files_indexes_the_good_ones_and_exits_3(
        tmp_path: Path) -> None:
    folder = tmp_path / "news"
    folder.mkdir()
    write_good_articles(folder)
    (folder / "feb30.md").write_text("---\ndate: 2024-02-30\n---\nBody.\n", encoding="utf-8")
    (folder / "surrogate.json").write_text('{"text": "bad \\ud800 text"}', encoding="utf-8")
    (folder / "surrogate.jsonl").write_text('{"text": "bad \\ud800 text"}\n', encoding="utf-8")
    (folder / "deep.json").write_text("[" * 200_000, encoding="utf-8")
    (folder / "loop.md").symlink_to(folder / "loop.md")
    (folder / "sub").mkdir()
    (folder / "sub" / "back").symlink_to(folder)
    (folder / "laughs.md").write_text(BILLION_LAUGHS, encoding="utf-8")
    (folder / "huge.txt").write_text("word " * 1_000_000, encoding="utf-8")  # 5 MB, one line
    (folder / "long.txt").write_text("More words here. " * 200, encoding="utf-8")  # 3,400 chars

    result = run("ingest", str(folder), "--store", str(tmp_path / "store"), "--json",
                 env={"ASSISTANT_MAX_ARTICLE_CHARS": "3000"})
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    report = json.loads(result.stdout)
    assert report["added"] == 3
    skipped = {s["path"].replace(f"{folder}/", ""): s["reason"] for s in report["skipped"]}
    assert skipped.keys() == {"feb30.md", "surrogate.json", "surrogate.jsonl:1", "deep.json",
                              "loop.md", "sub/back", "laughs.md", "huge.txt", "long.txt"}
    assert "ASSISTANT_MAX_ARTICLE_CHARS" in skipped["huge.txt"]
    assert skipped["long.txt"].startswith("too large: 3,400 characters, the limit is 3,000")
    search = run("search", "Harbor Bridge", "--store", str(tmp_path / "store"), "--json")
    assert json.loads(search.stdout)["passages"][0]["article_id"] == "bridge"


def test_a_first_ingest_on_a_fresh_machine_says_it_prepares_the_model_and_prints_no_debug_lines(
        tmp_path: Path) -> None:
    folder = tmp_path / "news"
    folder.mkdir()
    write_good_articles(folder)
    # A fresh model cache: the quantized model is derived during this run, as on a new machine.
    result = run("ingest", str(folder), "--store", str(tmp_path / "store"),
                 env={"ASSISTANT_MODEL_CACHE": str(tmp_path / "cache")})
    assert result.returncode == 0, result.stderr
    assert "3 added" in result.stdout
    assert "DEBUG" not in result.stderr + result.stdout  # bm25s: "Building index from tokens"
    # The one-off model derivation takes seconds: the run says what it is doing.
    assert "note: preparing the embedding model for this machine" in result.stderr
    again = run("ingest", str(folder), "--store", str(tmp_path / "store"),
                env={"ASSISTANT_MODEL_CACHE": str(tmp_path / "cache")})
    assert again.returncode == 0 and "preparing" not in again.stderr  # once only


def test_unusable_arguments_are_one_line_errors_with_exit_2() -> None:
    for args in (["ask", b"Who won \xff?"], ["search", b"bridge \xfe"], ["ask", "\x01\x02 "]):
        result = run(*args, "--store", "/nonexistent")
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
        assert "Traceback" not in result.stderr
    assert "not valid Unicode" in run("ask", b"\xff").stderr


def test_a_mistyped_folder_to_ingest_is_a_usage_error_and_touches_nothing(
        tmp_path: Path) -> None:
    result = run("ingest", str(tmp_path / "artciles"), "--prune", "--store",
                 str(tmp_path / "store"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: no such file or folder:")
    assert "artciles" in result.stderr
    assert not (tmp_path / "store").exists()  # not even an empty store was made


def test_a_relative_question_on_the_first_days_of_the_calendar_is_answered(
        news_services: Any) -> None:
    store = str(news_services.settings.store)
    for command in ("ask", "search"):
        result = run(command, "what happened this week?", "--today", "0001-01-03",
                     "--store", store, "--json")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)


def test_many_texts_are_embedded_in_slices_with_the_same_vectors(embedder: Any) -> None:
    from assistant.embeddings import EMBED_SLICE

    texts = [f"Report {i}: the harbor bridge carried {i * 37} cars today." for i in
             range(EMBED_SLICE + 40)]
    spans = [[(0, len(f"Report {i}:"))] for i in range(len(texts))]
    together, pooled = embedder.embed_with_spans(texts, spans)
    for i in (0, EMBED_SLICE - 1, EMBED_SLICE, len(texts) - 1):  # both sides of a slice edge
        alone, alone_pooled = embedder.embed_with_spans([texts[i]], [spans[i]])
        assert np.allclose(together[i], alone[0], atol=1e-5)
        assert np.allclose(pooled[i], alone_pooled[0], atol=1e-5)


def test_files_of_types_it_does_not_read_are_counted_not_silently_dropped(
        tmp_path: Path) -> None:
    folder = tmp_path / "news"
    folder.mkdir()
    (folder / "a.md").write_text("---\ntitle: Pier reopens\n---\nThe pier reopened on Monday.\n",
                                 encoding="utf-8")
    (folder / "notes.docx").write_bytes(b"PK\x03\x04 not really a document")
    (folder / "photo.jpg").write_bytes(b"\xff\xd8\xff")
    result = run("ingest", str(folder), "--store", str(tmp_path / "store"))
    assert result.returncode == 0, result.stderr
    assert "left out 2 file(s) of types it does not read" in result.stderr
    assert ".docx" in result.stderr and ".jpg" in result.stderr
