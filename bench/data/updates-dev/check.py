#!/usr/bin/env python3
"""Validate the hand-written development "updates" set in bench/data/updates-dev (stdlib only).

The rules are those of the held-out set's checker, bench/data/updates/check.py (read its
docstring), run on this folder with its own ids and sizes:
  * articles are `udNNx-...` (story NN, report x = a, b, c, d), 10 stories, no reprints or
    distractors, 150-350 words, dated in 2024; no id is used by the held-out set either;
  * questions are `ud-NNN` (update), `ud-aNN` (answerable) or `ud-nNN` (unanswerable): 20, 4 and 2.

Usage: python3 bench/data/updates-dev/check.py   (exit code 1 on errors)
"""
from __future__ import annotations

import importlib.util
import json
import re
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
_SPEC = importlib.util.spec_from_file_location("updates_check", HERE.parent / "updates" / "check.py")
assert _SPEC is not None and _SPEC.loader is not None
base = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(base)

base.ARTICLES = HERE / "articles"
base.QUESTIONS = HERE / "questions.jsonl"
base.WORDS = (150, 350)
base.STORY = "ud"
base.REPRINT_RE = base.DISTRACTOR_RE = re.compile(r"(?!)")  # this set has neither
base.STORY_RE = re.compile(r"^ud(\d{2})([a-d])-[a-z0-9-]+$")
HELD_OUT = HERE.parent / "updates" / "articles"
YEAR = 2024
N_STORIES = 10
N_QUESTIONS = {"update": 20, "answerable": 4, "unanswerable": 2}
QID_RE = {"update": re.compile(r"^ud-\d{3}$"), "answerable": re.compile(r"^ud-a\d{2}$"),
          "unanswerable": re.compile(r"^ud-n\d{2}$")}


def check_this_set() -> None:
    """What this set adds to the held-out set's rules (reported with them by base.main)."""
    found = len(base.errors)
    arts = base.load_articles()
    del base.errors[found:]  # base.main() loads them again and reports their problems once
    held_out = {p.stem for p in HELD_OUT.glob("*.md")}
    for aid, art in sorted(arts.items()):
        if art["date"] is not None and art["date"].year != YEAR:
            base.err(f"{aid}.md: dated {art['date']}, want {YEAR}")
        if aid in held_out:
            base.err(f"{aid}.md: id also used in bench/data/updates/articles")
    stories = base.group(arts, base.STORY_RE)
    if len(stories) != N_STORIES:
        base.err(f"{len(stories)} stories (want {N_STORIES})")
    counts: Counter[str] = Counter()
    for ln, raw in enumerate(base.QUESTIONS.read_text(encoding="utf-8").splitlines(), 1):
        try:
            q = json.loads(raw) if raw.strip() else None
        except json.JSONDecodeError:
            continue  # reported by base.main()
        if not isinstance(q, dict) or q.get("type") not in QID_RE:
            continue
        counts[q["type"]] += 1
        if not QID_RE[q["type"]].match(str(q.get("id"))):
            base.err(f"{base.QUESTIONS.name}:{ln}: a {q['type']} question id should look like "
                     f"{QID_RE[q['type']].pattern}")
    for kind, want in N_QUESTIONS.items():
        if counts[kind] != want:
            base.err(f"{base.QUESTIONS.name}: {counts[kind]} {kind} questions (want {want})")


if __name__ == "__main__":
    check_this_set()
    sys.exit(base.main())
