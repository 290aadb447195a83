#!/usr/bin/env python3
"""Validate the hand-written training questions in bench/data/own-train-2 (stdlib only).

Adapted from bench/data/own-train/check.py. Every question here is about the fictional
articles in articles/, so there is no check against tests/fixtures/corpus_questions.jsonl.

Checks:
  * every article in articles/*.md has front matter with id/title/date/source/url, id == file
    stem and looks like "t2-NN-slug", a date that is empty or YYYY-MM-DD, a url on example.org
    and a 250-500 word body; no id clashes with tests/fixtures/corpus or own-train/articles;
  * every line of questions.jsonl parses, has the required keys, a unique id "t2-NNN", a known
    type and kind, and a question text not asked twice;
  * answerable questions: every evidence string is a verbatim substring of a listed article's
    body (text after the closing '---'), except that a headline-name question's evidence is
    exactly that article's title; every answer has at most 6 words and is a case-insensitive
    substring of an evidence string; a headline-name answer never appears in the body;
  * latest-value questions carry a question_date; a question_date is never before the date of
    a listed article;
  * unanswerable questions have empty answers, article_ids and evidence;
  * every article is used by at least one answerable question.

Usage: python3 bench/data/own-train-2/check.py   (exit code 1 on errors)
"""
from __future__ import annotations

import importlib.util
import json
import re
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
OWN_DIR = HERE / "articles"
OTHER_DIRS = (REPO / "tests" / "fixtures" / "corpus", REPO / "bench" / "data" / "own-train" / "articles")
QUESTIONS = HERE / "questions.jsonl"

REQUIRED_META = ("id", "title", "date", "source", "url")
REQUIRED_Q = ("id", "question", "type", "answers", "article_ids", "evidence", "kind")
TYPES = {"answerable", "unanswerable"}
KINDS = {
    "paraphrase", "which-name", "number", "when", "who", "why-how",
    "headline-name", "latest-value", "unanswerable",
}
MAX_ANSWER_WORDS = 6
OWN_WORDS = (250, 500)
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# own-train-3's check runs these checks with its own folder, prefix and other folders.
PREFIX = "t2"
ARTICLE_ID_RE = re.compile(r"^t2-\d{2}-[a-z0-9-]+$")
QUESTION_ID_RE = re.compile(r"^t2-\d{3}$")

# The front-matter reader and the error list are own-train's (bench/data/own-train/check.py).
_SPEC = importlib.util.spec_from_file_location(
    "own_train_check", Path(__file__).resolve().parent.parent / "own-train" / "check.py")
assert _SPEC is not None and _SPEC.loader is not None
_base = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(_base)
errors: list[str] = _base.errors
err = _base.err
parse_article = _base.parse_article


def load_own_articles() -> dict[str, dict]:
    arts: dict[str, dict] = {}
    for p in sorted(OWN_DIR.glob("*.md")):
        parsed = parse_article(p)
        if parsed is None:
            continue
        meta, body = parsed
        for k in REQUIRED_META:
            if k not in meta:
                err(f"{p.name}: missing front matter key {k!r}")
        aid = meta.get("id", "")
        if aid != p.stem:
            err(f"{p.name}: id {aid!r} != file stem {p.stem!r}")
        if not ARTICLE_ID_RE.match(aid):
            err(f"{p.name}: id {aid!r} should look like '{PREFIX}-NN-slug'")
        d = meta.get("date", "")
        if d and not DATE_RE.match(d):
            err(f"{p.name}: bad date {d!r}")
        if not meta.get("url", "").startswith("https://example.org/"):
            err(f"{p.name}: url should be on https://example.org/")
        n = len(body.split())
        if not OWN_WORDS[0] <= n <= OWN_WORDS[1]:
            err(f"{p.name}: body has {n} words (want {OWN_WORDS[0]}-{OWN_WORDS[1]})")
        if aid in arts:
            err(f"{p.name}: duplicate article id {aid!r}")
        arts[aid] = {"meta": meta, "body": body}
    if not arts:
        err(f"{OWN_DIR}: no articles")
    return arts


def other_article_ids() -> set[str]:
    ids: set[str] = set()
    for d in OTHER_DIRS:
        for p in d.glob("*.md"):
            ids.add(p.stem)
    return ids


def normalise_question(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def check_answerable(where: str, q: dict, arts: dict[str, dict]) -> None:
    kind = q["kind"]
    if not q["answers"]:
        err(f"{where}: answerable question has no answers")
    if not q["evidence"]:
        err(f"{where}: answerable question has no evidence")
    listed = [arts[aid] for aid in q["article_ids"]]
    for ev in q["evidence"]:
        if not ev.strip():
            err(f"{where}: empty evidence string")
        elif kind == "headline-name":
            if not any(ev == a["meta"].get("title") for a in listed):
                err(f"{where}: headline evidence is not the article title: {ev[:80]!r}")
        elif not any(ev in a["body"] for a in listed):
            err(f"{where}: evidence not found verbatim in article body: {ev[:80]!r}")
    for ans in q["answers"]:
        a = ans.lower().strip()
        if not a:
            err(f"{where}: empty answer")
            continue
        if len(a.split()) > MAX_ANSWER_WORDS:
            err(f"{where}: answer {ans!r} longer than {MAX_ANSWER_WORDS} words")
        if not any(a in ev.lower() for ev in q["evidence"]):
            err(f"{where}: answer {ans!r} not found in the evidence")
        if kind == "headline-name" and any(a in art["body"].lower() for art in listed):
            err(f"{where}: headline answer {ans!r} also appears in the body")


def check_questions(arts: dict[str, dict]) -> tuple[Counter, Counter]:
    """Returns counts by type (plus 'with_question_date') and counts by kind."""
    stats: Counter = Counter()
    by_kind: Counter = Counter()
    if not QUESTIONS.exists():
        err(f"{QUESTIONS.name}: missing")
        return stats, by_kind
    seen_ids: set[str] = set()
    seen_text: set[str] = set()
    used: Counter = Counter()
    for ln, raw in enumerate(QUESTIONS.read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip():
            continue
        where = f"{QUESTIONS.name}:{ln}"
        try:
            q = json.loads(raw)
        except json.JSONDecodeError as e:
            err(f"{where}: invalid JSON ({e})")
            continue
        if not isinstance(q, dict):
            err(f"{where}: not an object")
            continue
        missing = [k for k in REQUIRED_Q if k not in q]
        if missing:
            err(f"{where}: missing keys {missing}")
            continue
        qid, qtype, kind = q["id"], q["type"], q["kind"]
        where = f"{QUESTIONS.name}:{ln} ({qid})"
        if not isinstance(qid, str) or not QUESTION_ID_RE.match(qid):
            err(f"{where}: id should look like '{PREFIX}-NNN'")
        if qid in seen_ids:
            err(f"{where}: duplicate question id")
        seen_ids.add(qid)
        if not isinstance(q["question"], str) or not q["question"].strip():
            err(f"{where}: empty question")
            continue
        bad_lists = [
            k for k in ("answers", "article_ids", "evidence")
            if not isinstance(q[k], list) or not all(isinstance(x, str) for x in q[k])
        ]
        if bad_lists:
            err(f"{where}: {bad_lists} must be lists of strings")
            continue
        text = normalise_question(q["question"])
        if text in seen_text:
            err(f"{where}: question asked twice in this file")
        seen_text.add(text)
        if qtype not in TYPES:
            err(f"{where}: bad type {qtype!r}")
            continue
        if kind not in KINDS:
            err(f"{where}: bad kind {kind!r} (want one of {sorted(KINDS)})")
            continue
        if (kind == "unanswerable") != (qtype == "unanswerable"):
            err(f"{where}: kind {kind!r} does not match type {qtype!r}")
            continue
        by_kind[kind] += 1
        stats[qtype] += 1
        qdate = q.get("question_date")
        if qdate is not None:
            if not (isinstance(qdate, str) and DATE_RE.match(qdate)):
                err(f"{where}: bad question_date {qdate!r}")
                qdate = None
            else:
                stats["with_question_date"] += 1
        if kind == "latest-value" and not qdate:
            err(f"{where}: a latest-value question needs a question_date")
        if qtype == "unanswerable":
            if q["answers"] or q["article_ids"] or q["evidence"]:
                err(f"{where}: unanswerable question must have empty answers, article_ids and evidence")
            continue
        if not q["article_ids"]:
            err(f"{where}: answerable question has no article_ids")
            continue
        unknown = [aid for aid in q["article_ids"] if aid not in arts]
        if unknown:
            err(f"{where}: unknown article ids {unknown}")
            continue
        for aid in q["article_ids"]:
            used[aid] += 1
            adate = arts[aid]["meta"].get("date", "")
            if qdate and adate and adate > qdate:
                err(f"{where}: question_date {qdate} is before article {aid} date {adate}")
        check_answerable(where, q, arts)
    for aid in arts:
        if not used[aid]:
            err(f"{aid}: no answerable question uses this article")
    return stats, by_kind


def main() -> int:
    arts = load_own_articles()
    for aid in sorted(set(arts) & other_article_ids()):
        err(f"{aid}: article id also used in "
            + ", ".join(str(d.relative_to(REPO)) for d in OTHER_DIRS))
    stats, by_kind = check_questions(arts)
    if errors:
        for e in errors:
            print("ERROR:", e)
        print(f"FAILED: {len(errors)} error(s)")
        return 1
    undated = sum(1 for a in arts.values() if not a["meta"].get("date"))
    print(f"OK: {len(arts)} articles ({undated} undated)")
    print(
        f"OK: {stats['answerable'] + stats['unanswerable']} questions: {stats['answerable']} answerable, "
        f"{stats['unanswerable']} unanswerable, {stats['with_question_date']} with question_date"
    )
    print("OK: by kind: " + ", ".join(f"{k} {by_kind[k]}" for k in sorted(KINDS)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
