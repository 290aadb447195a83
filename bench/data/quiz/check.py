#!/usr/bin/env python3
"""Validate the held-out news-quiz set (stdlib only): articles/*.md and questions.jsonl.

Articles: front matter with id/title/date/source/url, id == file stem, date empty or
YYYY-MM-DD, url on example.org, 250-600 words of body; 40-50 articles, 3-4 undated, and at
least two wire reprints (identical bodies under different ids).

Questions: required keys, ids q-001, q-002, ... in order, a known `kind`, no duplicate
questions. Answerable: every article id exists; every evidence string is a verbatim
substring of a listed article's body, or its title for `headline` questions (whose answer
must then be absent from that body); every answer has at most 6 words and is found in the
evidence, case-insensitively or after the number normalisation `assistant eval` also applies
("forty-one" == "41"); no answer appears in its own question. `as-of-date` questions carry a
question_date no earlier than any listed article, and list first the article the answer
comes from, which must be the latest of them. Unanswerable: empty answers, article_ids and
evidence; an `absent-entity` question names something (a capitalised phrase) found in no
article, a `missing-detail` question names only things the articles do contain.

Usage: python3 bench/data/quiz/check.py   (exit code 1 on errors)
"""
from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ARTICLES_DIR = HERE / "articles"
QUESTIONS = HERE / "questions.jsonl"

REQUIRED_META = ("id", "title", "date", "source", "url")
REQUIRED_Q = ("id", "question", "type", "answers", "article_ids", "evidence", "kind")
KINDS = {
    "answerable": {"paraphrase", "why-how", "headline", "as-of-date", "reprint"},
    "unanswerable": {"missing-detail", "absent-entity"},
}
MAX_ANSWER_WORDS = 6
BODY_WORDS = (250, 600)
ARTICLE_COUNT = (40, 50)
UNDATED_COUNT = (3, 4)
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
QUESTION_WORDS = {"who", "what", "which", "where", "when", "how", "why", "whom", "whose", "in",
                  "on", "at", "by", "for", "from", "to", "of", "did", "does", "is", "was", "has"}

_UNITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
          "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
          "eighteen", "nineteen"]
_TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
NUMBER_WORDS = {w: i for i, w in enumerate(_UNITS)}
NUMBER_WORDS.update({w: 10 * (i + 2) for i, w in enumerate(_TENS)})
NUMBER_WORDS.update({f"{t}-{u}": 10 * (i + 2) + j
                     for i, t in enumerate(_TENS) for j, u in enumerate(_UNITS[1:10], 1)})

errors: list[str] = []


def err(msg: str) -> None:
    errors.append(msg)


def normalise(text: str) -> str:
    """Lower case, number words as digits, '1,200' as '1200', punctuation and articles dropped.

    A rough stand-in for assistant.evaluate.normalize_answer, kept stdlib-only so the data can
    be checked without installing the project.
    """
    text = text.lower().replace("%", " percent ")
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)
    words = re.findall(r"[a-z]+(?:-[a-z]+)?|\d+(?:\.\d+)?", text)
    out: list[str] = []
    for word in words:
        parts = [word] if word in NUMBER_WORDS else word.split("-")
        out.extend(str(NUMBER_WORDS.get(p, p)) for p in parts if p not in ("a", "an", "the"))
    return " ".join(out)


def contains(haystack: str, needle: str) -> bool:
    """Needle in haystack case-insensitively, or as whole normalised words."""
    if needle.lower() in haystack.lower():
        return True
    wanted = normalise(needle)
    return bool(wanted) and f" {wanted} " in f" {normalise(haystack)} "


def unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    return value


def load_articles() -> dict[str, dict[str, Any]]:
    articles: dict[str, dict[str, Any]] = {}
    for path in sorted(ARTICLES_DIR.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        end = text.find("\n---\n", 3)
        if not text.startswith("---\n") or end == -1:
            err(f"{path.name}: front matter must open and close with '---' lines")
            continue
        meta: dict[str, str] = {}
        for line in text[4:end].splitlines():
            key, sep, value = line.partition(":")
            if not sep:
                err(f"{path.name}: bad front matter line {line!r}")
                continue
            meta[key.strip()] = unquote(value)
        body = text[end + len("\n---\n"):]
        for key in REQUIRED_META:
            if key not in meta:
                err(f"{path.name}: missing front matter key {key!r}")
        if meta.get("id") != path.stem:
            err(f"{path.name}: id {meta.get('id')!r} != file stem {path.stem!r}")
        date = meta.get("date", "")
        if date and not DATE_RE.match(date):
            err(f"{path.name}: date {date!r} is not YYYY-MM-DD")
        if not meta.get("url", "").startswith("https://example.org/"):
            err(f"{path.name}: url must be on https://example.org/")
        words = len(body.split())
        if not BODY_WORDS[0] <= words <= BODY_WORDS[1]:
            err(f"{path.name}: body has {words} words (want {BODY_WORDS[0]}-{BODY_WORDS[1]})")
        articles[path.stem] = {"meta": meta, "title": meta.get("title", ""), "body": body,
                               "date": date}
    return articles


def check_corpus(articles: dict[str, dict[str, Any]]) -> Counter[str]:
    stats: Counter[str] = Counter()
    stats["articles"] = len(articles)
    stats["undated"] = sum(1 for a in articles.values() if not a["date"])
    by_body: dict[str, list[str]] = {}
    for aid, article in articles.items():
        by_body.setdefault(article["body"], []).append(aid)
    stats["reprints"] = sum(len(ids) - 1 for ids in by_body.values())
    if not ARTICLE_COUNT[0] <= stats["articles"] <= ARTICLE_COUNT[1]:
        err(f"{stats['articles']} articles (want {ARTICLE_COUNT[0]}-{ARTICLE_COUNT[1]})")
    if not UNDATED_COUNT[0] <= stats["undated"] <= UNDATED_COUNT[1]:
        err(f"{stats['undated']} undated articles (want {UNDATED_COUNT[0]}-{UNDATED_COUNT[1]})")
    if stats["reprints"] < 2:
        err(f"{stats['reprints']} wire reprints (identical bodies under another id), want 2")
    return stats


def capitalised_phrases(question: str) -> list[str]:
    """Runs of capitalised words, e.g. 'Lisvane Film Festival', minus a leading question word."""
    phrases = re.findall(r"[A-Z][\w'&.-]*(?:\s+(?:&\s+)?[A-Z][\w'&.-]*)*", question)
    out = []
    for phrase in phrases:
        words = phrase.split()
        while words and words[0].lower() in QUESTION_WORDS:
            words = words[1:]
        if words:
            out.append(re.sub(r"'s$", "", " ".join(words)).rstrip(".'"))
    return out


def check_answerable(q: dict[str, Any], where: str, articles: dict[str, dict[str, Any]]) -> None:
    listed = [articles[aid] for aid in q["article_ids"] if aid in articles]
    for aid in q["article_ids"]:
        if aid not in articles:
            err(f"{where}: unknown article id {aid!r}")
    if not q["answers"] or not q["evidence"] or not listed:
        err(f"{where}: an answerable question needs answers, evidence and article_ids")
        return
    headline = q["kind"] == "headline"
    for ev in q["evidence"]:
        if headline and not any(ev == a["title"] for a in listed):
            err(f"{where}: headline evidence is not a listed article's title: {ev[:70]!r}")
        elif not any(ev in a["body"] or ev == a["title"] for a in listed):
            err(f"{where}: evidence neither verbatim in a listed body nor a title: {ev[:70]!r}")
    for answer in q["answers"]:
        if not answer.strip() or len(answer.split()) > MAX_ANSWER_WORDS:
            err(f"{where}: answer {answer!r} empty or longer than {MAX_ANSWER_WORDS} words")
        if not any(contains(ev, answer) for ev in q["evidence"]):
            err(f"{where}: answer {answer!r} not found in the evidence")
        if f" {normalise(answer)} " in f" {normalise(q['question'])} ":
            err(f"{where}: answer {answer!r} is given away by the question")
        if headline and any(contains(a["body"], answer) for a in listed):
            err(f"{where}: headline answer {answer!r} also appears in the body")
    if q["kind"] == "reprint":
        copies = {aid for aid, a in articles.items() if a["body"] == listed[0]["body"]}
        if len(copies) < 2 or set(q["article_ids"]) != copies:
            err(f"{where}: a reprint question lists every copy of one story: {sorted(copies)}")
    qdate = q.get("question_date")
    if q["kind"] == "as-of-date" and not qdate:
        err(f"{where}: an as-of-date question needs a question_date")
    if qdate:
        if not isinstance(qdate, str) or not DATE_RE.match(qdate):
            err(f"{where}: bad question_date {qdate!r}")
            return
        dates = [a["date"] for a in listed]
        if any(not d or d > qdate for d in dates):
            err(f"{where}: every listed article must be dated on or before {qdate}: {dates}")
        elif dates[0] != max(dates):
            err(f"{where}: list the latest report first ({dates})")
        elif not any(ev in listed[0]["body"] for ev in q["evidence"]):
            err(f"{where}: the evidence must come from the first (latest) listed article")


def check_unanswerable(q: dict[str, Any], where: str, corpus_text: str) -> None:
    if q["answers"] or q["article_ids"] or q["evidence"]:
        err(f"{where}: an unanswerable question has empty answers, article_ids and evidence")
    phrases = capitalised_phrases(q["question"])
    unknown = [p for p in phrases if p not in corpus_text]
    if q["kind"] == "absent-entity" and not unknown:
        err(f"{where}: absent-entity question names nothing absent from the corpus: {phrases}")
    if q["kind"] == "missing-detail" and unknown:
        err(f"{where}: missing-detail question names things not in the corpus: {unknown}")


def check_questions(articles: dict[str, dict[str, Any]]) -> Counter[str]:
    stats: Counter[str] = Counter()
    corpus_text = "\n".join(a["title"] + "\n" + a["body"] for a in articles.values())
    seen_text: set[str] = set()
    lines = [ln for ln in QUESTIONS.read_text(encoding="utf-8").splitlines() if ln.strip()]
    for n, raw in enumerate(lines, 1):
        where = f"{QUESTIONS.name}:{n}"
        try:
            q = json.loads(raw)
        except json.JSONDecodeError as exc:
            err(f"{where}: invalid JSON ({exc})")
            continue
        missing = [k for k in REQUIRED_Q if k not in q]
        if missing:
            err(f"{where}: missing keys {missing}")
            continue
        where = f"{where} ({q['id']})"
        if q["id"] != f"q-{n:03d}":
            err(f"{where}: expected id q-{n:03d}")
        if q["question"] in seen_text:
            err(f"{where}: duplicate question")
        seen_text.add(q["question"])
        if q["type"] not in KINDS or q["kind"] not in KINDS[q["type"]]:
            err(f"{where}: type {q['type']!r} with kind {q['kind']!r} is not one of {KINDS}")
            continue
        for key in ("answers", "article_ids", "evidence"):
            if not isinstance(q[key], list) or not all(isinstance(x, str) for x in q[key]):
                err(f"{where}: {key} must be a list of strings")
                break
        else:
            stats[q["type"]] += 1
            stats[q["kind"]] += 1
            stats["with question_date"] += bool(q.get("question_date"))
            if q["type"] == "answerable":
                check_answerable(q, where, articles)
            else:
                check_unanswerable(q, where, corpus_text)
    return stats


def main() -> int:
    articles = load_articles()
    corpus = check_corpus(articles)
    questions = check_questions(articles)
    for message in errors:
        print("ERROR:", message)
    if errors:
        print(f"FAILED: {len(errors)} error(s)")
        return 1
    total = questions["answerable"] + questions["unanswerable"]
    print(f"OK: {corpus['articles']} articles ({corpus['undated']} undated, "
          f"{corpus['reprints']} wire reprints)")
    print(f"OK: {total} questions: {questions['answerable']} answerable, "
          f"{questions['unanswerable']} unanswerable, "
          f"{questions['with question_date']} with question_date")
    kinds = sorted((k, v) for k, v in questions.items()
                   if k not in ("answerable", "unanswerable", "with question_date"))
    print("    by kind: " + ", ".join(f"{k} {v}" for k, v in kinds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
