"""Reading articles of every format, and reporting bad files without losing the good ones."""

from __future__ import annotations

import json
from pathlib import Path

from assistant.articles import read_articles

from .conftest import SEED_ID, SEEDS


def make_pdf(path: Path, lines: list[str]) -> None:
    """A minimal one-page PDF with real text, written by hand (no PDF writer needed)."""
    text_ops = " ".join(f"({line}) Tj 0 -16 Td" for line in lines)
    stream = f"BT /F1 12 Tf 72 720 Td {text_ops} ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, obj in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    path.write_bytes(bytes(out))


def test_seed_article_keeps_its_body_byte_for_byte() -> None:
    articles, problems = read_articles([SEEDS])
    assert not problems
    (seed,) = [a for a in articles if a.id == SEED_ID]
    original = (SEEDS.parent.parent / "shared" / "seeds" / f"{SEED_ID}.txt")
    if original.exists():
        assert seed.body == original.read_text(encoding="utf-8")
    assert seed.title.startswith("Trump Invites Netanyahu to White House")
    assert seed.date is None


def test_every_format_is_read_with_its_metadata(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text(
        "---\nid: md-1\ntitle: Bridge closes\ndate: 2026-11-18\nsource: Gazette\n"
        "url: https://example.org/a\nauthors: [Ann Lee, Bo Park]\n---\nThe bridge closed today.\n",
        encoding="utf-8",
    )
    (tmp_path / "b.txt").write_text("\nPlain headline\nThe body follows here.\n", encoding="utf-8")
    (tmp_path / "c.html").write_text(
        "<html><head><title>Port strike ends</title>"
        '<meta property="og:title" content="Port strike ends">'
        '<meta name="date" content="2026-11-20"></head><body><article>'
        "<h1>Port strike ends</h1><p>" + "Dockworkers at Port Ellery returned to work on Friday "
        "after a nine-day strike over pay and safety rules. " * 3 + "</p></article></body></html>",
        encoding="utf-8",
    )
    (tmp_path / "d.json").write_text(
        json.dumps({"id": "js-1", "title": "Wind farm", "text": "The wind farm was approved.",
                    "date": "2026-09-01", "url": "https://example.org/w", "source": "Wire"}),
        encoding="utf-8",
    )
    (tmp_path / "e.jsonl").write_text(
        json.dumps({"id": "jl-1", "text": "First story text."}) + "\n"
        + json.dumps({"title": "Second", "text": "Second story text."}) + "\n",
        encoding="utf-8",
    )
    make_pdf(tmp_path / "f.pdf", ["Council approves budget", "The vote was seven to two."])

    articles, problems = read_articles([tmp_path])
    assert not problems
    by_id = {a.id: a for a in articles}
    md = by_id["md-1"]
    assert (md.title, md.date, md.source, md.url) == (
        "Bridge closes", "2026-11-18", "Gazette", "https://example.org/a")
    assert md.authors == ("Ann Lee", "Bo Park")
    assert md.body == "The bridge closed today.\n"
    assert by_id["b"].title == "Plain headline"
    assert by_id["b"].body == "\nPlain headline\nThe body follows here.\n"
    assert by_id["c"].title == "Port strike ends"
    assert by_id["c"].date == "2026-11-20"
    assert "nine-day strike" in by_id["c"].body
    assert by_id["js-1"].date == "2026-09-01" and by_id["js-1"].source == "Wire"
    assert by_id["jl-1"].body == "First story text."
    assert by_id["e-2"].title == "Second"
    assert "seven to two" in by_id["f"].body
    assert all(a.content_hash for a in articles)


def test_bad_files_are_reported_by_path_and_the_rest_still_load(tmp_path: Path) -> None:
    (tmp_path / "good.md").write_text("Good headline\nGood body.", encoding="utf-8")
    (tmp_path / "binary.txt").write_bytes(b"\x00\x01\x02binary")
    (tmp_path / "empty.md").write_text("   \n", encoding="utf-8")
    (tmp_path / "latin1.txt").write_bytes("Café au lait".encode("latin-1"))
    (tmp_path / "lines.jsonl").write_text(
        '{"id": "ok-1", "text": "Fine line."}\n{not json}\n{"id": "no-text"}\n', encoding="utf-8")
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    (tmp_path / "dangling.md").symlink_to(tmp_path / "missing-target.md")
    (tmp_path / "frontmatter.md").write_text("---\ntitle: [unclosed\n---\nBody.", encoding="utf-8")

    articles, problems = read_articles([tmp_path])
    assert sorted(a.id for a in articles) == ["good", "ok-1"]
    reasons = {p.path.replace(str(tmp_path) + "/", ""): p.reason for p in problems}
    assert "binary" in reasons["binary.txt"]
    assert "empty" in reasons["empty.md"]
    assert "UTF-8" in reasons["latin1.txt"]
    assert "malformed JSON" in reasons["lines.jsonl:2"]
    assert "text" in reasons["lines.jsonl:3"]
    assert "PDF" in reasons["broken.pdf"]
    assert "cannot read" in reasons["dangling.md"]
    assert "front matter" in reasons["frontmatter.md"]


def test_duplicate_ids_keep_the_first_and_report_the_second(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("---\nid: same\n---\nOne.", encoding="utf-8")
    (tmp_path / "b.md").write_text("---\nid: same\n---\nTwo.", encoding="utf-8")
    articles, problems = read_articles([tmp_path])
    assert [a.body for a in articles] == ["One."]
    assert "duplicate article id 'same'" in problems[0].reason


def test_a_missing_path_is_reported(tmp_path: Path) -> None:
    articles, problems = read_articles([tmp_path / "nope"])
    assert articles == [] and "no such file" in problems[0].reason
