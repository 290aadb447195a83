#!/usr/bin/env python3
"""Validate the hand-written "updates" training set in bench/data/updates-train (stdlib only).

The set has the layout of bench/data/updates-dev (whose checker runs the held-out set's checker;
that file is not used or read here, so this one is adapted from bench/data/own-train-2/check.py
and written to the conventions documented in bench/data/updates-dev/README.md).

Articles (articles/*.md):
  * front matter with exactly id, title, date, source, url (all quoted), id == file stem, a
    2025 date, a url on https://example.org/, a 150-350 word body;
  * ids `utNNx-slug` (story NN, report x = a..d) or `utNNxr-slug` (a reprint of report x: the
    same wire text under another id and outlet, same date, word 3-gram overlap >= 0.8);
  * 16 stories of 2-4 reports, letters a, b, ... without gaps, each report 1-31 days after the
    one before; reports of one story that are not reprints overlap by less than 0.5;
  * no id used in tests/fixtures/corpus, own-train, own-train-2 or updates-dev, and no
    capitalised name that occurs in those sets (ordinary words are allowed).

Questions (questions.jsonl), ids `ut-NNN` (update), `ut-aNN` (answerable), `ut-nNN` (unanswerable):
  * update: `story`, `asked` ("between" or "after-last"), `question_date` not before the story's
    first report and before the next report not yet out; `article_ids` are all the story's
    articles dated on or before question_date, newest first (a reprint right after its
    original); `asked` is "after-last" exactly when every report is listed; evidence is
    verbatim in the newest listed article; answers are in the evidence; `earlier` is empty
    exactly when one report is listed, and each earlier value occurs in an older listed report
    (as a whole word), newest first by the report that first gave it, and is not an answer;
  * answerable: evidence verbatim in a listed article, answers in the evidence;
  * unanswerable: empty answers, article_ids and evidence;
  * answers at most six words; no question asked twice; every story has a "between" and an
    "after-last" update question; the counts below.

Usage: python3 bench/data/updates-train/check.py   (exit code 1 on errors)
"""
from __future__ import annotations

import datetime as dt
import itertools
import json
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
ARTICLES = HERE / "articles"
QUESTIONS = HERE / "questions.jsonl"
# Sets whose ids and names must not be reused (the held-out sets are deliberately not read).
OTHER_SETS = (
    REPO / "tests" / "fixtures" / "corpus",
    REPO / "bench" / "data" / "own-train" / "articles",
    REPO / "bench" / "data" / "own-train-2" / "articles",
    REPO / "bench" / "data" / "updates-dev" / "articles",
)

META_KEYS = ["id", "title", "date", "source", "url"]
YEAR = 2025
WORDS = (150, 350)
MAX_ANSWER_WORDS = 6
GAP_DAYS = (1, 31)
REPORTS_PER_STORY = (2, 4)
REPRINT_MIN_OVERLAP = 0.8
FOLLOW_UP_MAX_OVERLAP = 0.5
N_STORIES = 16
N_ARTICLES = 48
N_REPRINTS = 3
N_QUESTIONS = {"update": 42, "answerable": 12, "unanswerable": 6}
ASKED = ("between", "after-last")

REPORT_RE = re.compile(r"^ut(\d{2})([a-d])-[a-z0-9-]+$")
REPRINT_RE = re.compile(r"^ut(\d{2})([a-d])r-[a-z0-9-]+$")
QID_RE = {"update": re.compile(r"^ut-\d{3}$"), "answerable": re.compile(r"^ut-a\d{2}$"),
          "unanswerable": re.compile(r"^ut-n\d{2}$")}
STORY_ID_RE = re.compile(r"^ut\d{2}$")
URL_RE = re.compile(r"^https://example\.org/[a-z0-9-]+/[a-z0-9-]+$")
NAME_RE = re.compile(r"\b[A-Z][a-z]+[A-Za-z'-]*")
# Capitalised words that are ordinary English (in headlines, at the start of sentences or in
# names of institutions), not names, although they never occur in lower case in these texts.
ORDINARY = {
    "About", "An", "At", "But", "By", "Dr", "Even", "Every", "He", "Her", "His", "In", "It",
    "Its", "My", "No", "Nobody", "Of", "One", "Only", "Outside", "Some", "St", "That", "The",
    "There", "These", "They", "This", "Two", "Five", "Four", "Six", "Seven", "Under", "We",
    "What", "More", "She", "If", "Magistrates'", "Tuesday's", "Shield", "Royal", "Northern",
    "Regional", "Opposition", "Superintendent", "Inspector", "Detective", "Councillor",
    "Commissioner", "Mayor", "Chair", "Chief", "Association", "Foods", "Partners", "Rescue",
    "Organisers", "Campaigners",
}

errors: list[str] = []


def err(msg: str) -> None:
    errors.append(msg)


def split_article(path: Path) -> tuple[list[tuple[str, str]], str] | None:
    text = path.read_text(encoding="utf-8")
    if not text.startswith("---\n"):
        err(f"{path.name}: does not start with front matter '---'")
        return None
    end = text.find("\n---\n", 4)
    if end < 0:
        err(f"{path.name}: front matter is not closed")
        return None
    pairs = []
    for line in text[4:end].splitlines():
        m = re.fullmatch(r'(\w+): "(.*)"', line)
        if not m:
            err(f"{path.name}: bad front matter line {line!r}")
            continue
        pairs.append((m.group(1), m.group(2)))
    return pairs, text[end + 5:]


def shingles(body: str) -> set[tuple[str, ...]]:
    w = re.findall(r"[\w'£€.,-]+", body.lower())
    return {tuple(w[i:i + 3]) for i in range(len(w) - 2)}


def overlap(a: str, b: str) -> float:
    sa, sb = shingles(a), shingles(b)
    return len(sa & sb) / max(1, len(sa | sb))


def load_articles() -> dict[str, dict]:
    arts: dict[str, dict] = {}
    for p in sorted(ARTICLES.glob("*.md")):
        parsed = split_article(p)
        if parsed is None:
            continue
        pairs, body = parsed
        keys = [k for k, _ in pairs]
        if keys != META_KEYS:
            err(f"{p.name}: front matter keys {keys}, want {META_KEYS}")
        meta = dict(pairs)
        aid = meta.get("id", "")
        if aid != p.stem:
            err(f"{p.name}: id {aid!r} != file stem")
        m = REPORT_RE.match(aid) or REPRINT_RE.match(aid)
        if not m:
            err(f"{p.name}: id should look like utNNx-slug or utNNxr-slug")
            continue
        try:
            date = dt.date.fromisoformat(meta.get("date", ""))
        except ValueError:
            err(f"{p.name}: bad date {meta.get('date')!r}")
            continue
        if date.year != YEAR:
            err(f"{p.name}: dated {date}, want {YEAR}")
        if not meta.get("title", "").strip() or not meta.get("source", "").strip():
            err(f"{p.name}: empty title or source")
        if not URL_RE.match(meta.get("url", "")):
            err(f"{p.name}: url should be https://example.org/outlet/slug")
        n = len(body.split())
        if not WORDS[0] <= n <= WORDS[1]:
            err(f"{p.name}: body has {n} words (want {WORDS[0]}-{WORDS[1]})")
        arts[aid] = {"meta": meta, "body": body, "date": date, "story": f"ut{m.group(1)}",
                     "letter": m.group(2), "reprint": bool(REPRINT_RE.match(aid))}
    return arts


def check_stories(arts: dict[str, dict]) -> dict[str, list[str]]:
    """Story id -> its report ids (no reprints), oldest first."""
    stories: dict[str, list[str]] = defaultdict(list)
    for aid, a in arts.items():
        if not a["reprint"]:
            stories[a["story"]].append(aid)
    for sid, ids in sorted(stories.items()):
        ids.sort(key=lambda i: arts[i]["letter"])
        letters = "".join(arts[i]["letter"] for i in ids)
        if letters != "abcd"[:len(ids)]:
            err(f"{sid}: report letters {letters!r}, want a, b, ... without gaps or repeats")
        if not REPORTS_PER_STORY[0] <= len(ids) <= REPORTS_PER_STORY[1]:
            err(f"{sid}: {len(ids)} reports (want {REPORTS_PER_STORY[0]}-{REPORTS_PER_STORY[1]})")
        for prev, cur in itertools.pairwise(ids):
            gap = (arts[cur]["date"] - arts[prev]["date"]).days
            if not GAP_DAYS[0] <= gap <= GAP_DAYS[1]:
                err(f"{cur}: {gap} days after {prev} (want {GAP_DAYS[0]}-{GAP_DAYS[1]})")
        for i, x in enumerate(ids):
            for y in ids[i + 1:]:
                o = overlap(arts[x]["body"], arts[y]["body"])
                if o >= FOLLOW_UP_MAX_OVERLAP:
                    err(f"{x} and {y}: bodies overlap {o:.2f}, too close for follow-ups")
    if len(stories) != N_STORIES:
        err(f"{len(stories)} stories (want {N_STORIES})")
    reprints = [aid for aid, a in arts.items() if a["reprint"]]
    for aid in reprints:
        a = arts[aid]
        orig = [i for i in stories.get(a["story"], []) if arts[i]["letter"] == a["letter"]]
        if not orig:
            err(f"{aid}: no report {a['story']}{a['letter']} for this reprint")
            continue
        o = arts[orig[0]]
        if a["date"] != o["date"]:
            err(f"{aid}: dated {a['date']}, its original {orig[0]} {o['date']}")
        if a["meta"]["source"] == o["meta"]["source"]:
            err(f"{aid}: same source as its original {orig[0]}")
        ov = overlap(a["body"], o["body"])
        if ov < REPRINT_MIN_OVERLAP:
            err(f"{aid}: overlaps its original {orig[0]} by only {ov:.2f}")
    if len(reprints) != N_REPRINTS:
        err(f"{len(reprints)} reprints (want {N_REPRINTS})")
    if len(arts) != N_ARTICLES:
        err(f"{len(arts)} articles (want {N_ARTICLES})")
    multi = sum(1 for ids in stories.values() if len({arts[i]["meta"]["source"] for i in ids}) > 1)
    if multi < N_STORIES // 2:
        err(f"only {multi} stories are covered by more than one outlet")
    return dict(stories)


def check_other_sets(arts: dict[str, dict]) -> None:
    other_ids: set[str] = set()
    other_text = []
    for d in OTHER_SETS:
        for p in d.glob("*.md"):
            other_ids.add(p.stem)
            other_text.append(p.read_text(encoding="utf-8"))
    for aid in sorted(set(arts) & other_ids):
        err(f"{aid}: id also used in {', '.join(str(d.relative_to(REPO)) for d in OTHER_SETS)}")
    text = "\n".join(other_text)
    their_names = set(NAME_RE.findall(text))
    mine_text = "\n".join(a["body"] for a in arts.values())
    lower_words = set(re.findall(r"\b[a-z][a-z'-]*", text + "\n" + mine_text))
    for aid, a in sorted(arts.items()):
        mine = set(NAME_RE.findall(a["meta"]["title"] + "\n" + a["body"]))
        for name in sorted(mine & their_names):
            if name in ORDINARY or name.lower() in lower_words:
                continue
            if re.fullmatch(r"(Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day|January|February|March|"
                            r"April|May|June|July|August|September|October|November|December",
                            name):
                continue
            err(f"{aid}: name {name!r} is also used in another set")


def expected_ids(arts: dict[str, dict], story: str, day: dt.date) -> list[str]:
    rows = [(a["date"], a["letter"], 0 if a["reprint"] else 1, aid) for aid, a in arts.items()
            if a["story"] == story and a["date"] <= day]
    return [r[3] for r in sorted(rows, reverse=True)]


def norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def check_questions(arts: dict[str, dict], stories: dict[str, list[str]]) -> Counter:
    counts: Counter = Counter()
    seen_ids: set[str] = set()
    seen_text: set[str] = set()
    asked_by_story: dict[str, set[str]] = defaultdict(set)
    if not QUESTIONS.exists():
        err(f"{QUESTIONS.name}: missing")
        return counts
    for ln, raw in enumerate(QUESTIONS.read_text(encoding="utf-8").splitlines(), 1):
        where = f"{QUESTIONS.name}:{ln}"
        if not raw.strip():
            err(f"{where}: empty line")
            continue
        try:
            q = json.loads(raw)
        except json.JSONDecodeError as e:
            err(f"{where}: invalid JSON ({e})")
            continue
        if not isinstance(q, dict):
            err(f"{where}: not an object")
            continue
        kind = q.get("type")
        if kind not in QID_RE:
            err(f"{where}: bad type {kind!r}")
            continue
        counts[kind] += 1
        qid = q.get("id")
        where = f"{where} ({qid})"
        if not isinstance(qid, str) or not QID_RE[kind].match(qid):
            err(f"{where}: a {kind} question id should look like {QID_RE[kind].pattern}")
        if qid in seen_ids:
            err(f"{where}: duplicate id")
        seen_ids.add(qid)
        text = q.get("question")
        if not isinstance(text, str) or not text.strip():
            err(f"{where}: empty question")
            continue
        if norm(text) in seen_text:
            err(f"{where}: question asked twice")
        seen_text.add(norm(text))
        lists = ("answers", "article_ids", "evidence") + (("earlier",) if kind == "update" else ())
        bad = [k for k in lists
               if not isinstance(q.get(k), list) or not all(isinstance(x, str) for x in q[k])]
        if bad:
            err(f"{where}: {bad} must be lists of strings")
            continue
        want_keys = ["id", "question", "type", "answers", "article_ids", "evidence"]
        if kind == "update":
            want_keys = ["id", "question", "type", "answers", "earlier", "article_ids",
                         "question_date", "evidence", "story", "asked"]
        if list(q) != want_keys:
            err(f"{where}: keys {list(q)}, want {want_keys}")
        if kind == "unanswerable":
            if q["answers"] or q["article_ids"] or q["evidence"]:
                err(f"{where}: an unanswerable question has empty answers, article_ids, evidence")
            continue
        if not q["answers"] or not q["evidence"] or not q["article_ids"]:
            err(f"{where}: needs answers, article_ids and evidence")
            continue
        unknown = [i for i in q["article_ids"] if i not in arts]
        if unknown:
            err(f"{where}: unknown article ids {unknown}")
            continue
        if len(set(q["article_ids"])) != len(q["article_ids"]):
            err(f"{where}: an article is listed twice")
        for ans in q["answers"]:
            if not ans.strip() or len(ans.split()) > MAX_ANSWER_WORDS:
                err(f"{where}: answer {ans!r} is empty or longer than {MAX_ANSWER_WORDS} words")
            if not any(ans.lower() in ev.lower() for ev in q["evidence"]):
                err(f"{where}: answer {ans!r} not in the evidence")
        if kind == "answerable":
            for ev in q["evidence"]:
                if not any(ev in arts[i]["body"] for i in q["article_ids"]):
                    err(f"{where}: evidence not verbatim in a listed article: {ev[:70]!r}")
            continue
        check_update(where, q, arts, stories, asked_by_story)
    for kind, want in N_QUESTIONS.items():
        if counts[kind] != want:
            err(f"{QUESTIONS.name}: {counts[kind]} {kind} questions (want {want})")
    for sid in sorted(stories):
        missing = [a for a in ASKED if a not in asked_by_story[sid]]
        if missing:
            err(f"{sid}: no update question asked {missing}")
    return counts


def check_update(where: str, q: dict, arts: dict[str, dict], stories: dict[str, list[str]],
                 asked_by_story: dict[str, set[str]]) -> None:
    story, asked = q.get("story"), q.get("asked")
    if not isinstance(story, str) or story not in stories:
        err(f"{where}: unknown story {story!r}")
        return
    if asked not in ASKED:
        err(f"{where}: asked {asked!r}, want one of {ASKED}")
        return
    asked_by_story[story].add(asked)
    try:
        day = dt.date.fromisoformat(str(q.get("question_date")))
    except ValueError:
        err(f"{where}: bad question_date {q.get('question_date')!r}")
        return
    reports = stories[story]
    if day < arts[reports[0]]["date"]:
        err(f"{where}: question_date {day} is before the story's first report")
        return
    listed_reports = [r for r in reports if arts[r]["date"] <= day]
    later = [r for r in reports if arts[r]["date"] > day]
    if later and day >= arts[later[0]]["date"]:
        err(f"{where}: question_date is not before the next report {later[0]}")
    want_ids = expected_ids(arts, story, day)
    if q["article_ids"] != want_ids:
        err(f"{where}: article_ids {q['article_ids']}, want {want_ids}")
        return
    if (asked == "after-last") != (not later):
        err(f"{where}: asked {asked!r} but {len(later)} report(s) come after question_date")
    newest = q["article_ids"][0]
    for ev in q["evidence"]:
        if ev not in arts[newest]["body"]:
            err(f"{where}: evidence not verbatim in the newest report {newest}: {ev[:70]!r}")
    earlier = q["earlier"]
    if bool(earlier) != (len(listed_reports) > 1):
        err(f"{where}: earlier should be empty exactly when one report is listed")
    older = [i for i in q["article_ids"] if arts[i]["date"] < arts[newest]["date"]]  # newest first
    last_pos = -1
    answers = {a.lower() for a in q["answers"]}
    for value in earlier:
        if value.lower() in answers:
            err(f"{where}: {value!r} is both an answer and an earlier value")
        # Where the value first appeared: the oldest listed report that gives it (later
        # reports may repeat it, "up from six").
        found = [k for k, i in enumerate(older) if re.search(
            r"(?<!\w)" + re.escape(value.lower()) + r"(?!\w)", arts[i]["body"].lower())]
        if not found:
            err(f"{where}: earlier value {value!r} is not in an older listed report")
            continue
        pos = max(found)
        if pos < last_pos:
            err(f"{where}: earlier values should be listed newest first ({value!r})")
        last_pos = pos


def main() -> int:
    arts = load_articles()
    stories = check_stories(arts)
    check_other_sets(arts)
    counts = check_questions(arts, stories)
    if errors:
        for e in errors:
            print("ERROR:", e)
        print(f"FAILED: {len(errors)} error(s)")
        return 1
    sizes = Counter(len(ids) for ids in stories.values())
    reprints = sum(1 for a in arts.values() if a["reprint"])
    print(f"OK: {len(arts)} articles: {len(arts) - reprints} reports of {len(stories)} stories "
          f"({', '.join(f'{sizes[n]} with {n} reports' for n in sorted(sizes))}) "
          f"and {reprints} reprints")
    print(f"OK: {sum(counts.values())} questions: {counts['update']} update, "
          f"{counts['answerable']} answerable, {counts['unanswerable']} unanswerable")
    return 0


if __name__ == "__main__":
    sys.exit(main())
