#!/usr/bin/env python3
"""Validate the hand-written news "updates" set in bench/data/updates (stdlib only).

Articles (articles/*.md):
  * front matter with id/title/date/source/url; id == file stem; a YYYY-MM-DD date; a url on
    https://example.org/; a body of 150-400 words; ids unique and not used by tests/fixtures/corpus;
  * ids are `upNNx-...` (story NN, report x = a, b, c, d), `rpNNx-...` (wire reprint pair NN,
    copy a or b) or `dxNN-...` (distractor);
  * a story has 2-4 reports lettered a, b, ... without gaps, dated in that order 1-31 days apart,
    under different headlines;
  * a reprint pair is two copies with different ids, sources and headlines whose bodies are equal
    or differ in exactly one line (an outlet tag), dated at most two days apart.

Questions (questions.jsonl), every type:
  * valid JSON object with id, question, type, answers, article_ids; ids and question texts unique;
    listed article ids exist; question_date, when given, is YYYY-MM-DD and no listed article is
    dated after it;
  * answerable and update: evidence strings are verbatim in the body of the FIRST listed article,
    every answer is found (case-insensitive, whole words) in that article's body and in one of the
    evidence strings; a question listing one copy of a reprint pair lists the other too;
  * unanswerable: empty answers, article_ids and evidence.

Update questions additionally:
  * a question_date and a non-empty `earlier` list; all listed articles belong to one story;
  * the listed articles are exactly the story's reports dated on or before question_date, the
    latest first (so no report after question_date is listed, and none before it is left out);
  * every `earlier` string is found in one of the other listed articles and is not found inside
    an answer string (or the other way round), so giving one is never giving the other;
  * a numeric answer (digits or a number word) is not found in any earlier listed report: the
    value really changed. Names are exempt: a runner-up named in the first report may win later;
  * each story has exactly two update questions: one asked after its last report, one asked
    between two reports (after b and before c, or after a and before b for a two-report story);
    a between question on a two-report story has nothing earlier, so its `earlier` is empty.

Usage: python3 bench/data/updates/check.py   (exit code 1 on errors)
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
CORPUS_DIR = REPO / "tests" / "fixtures" / "corpus"

REQUIRED_META = ("id", "title", "date", "source", "url")
REQUIRED_Q = ("id", "question", "type", "answers", "article_ids")
TYPES = {"update", "answerable", "unanswerable"}
WORDS = (150, 400)
STORY_GAP_DAYS = (1, 31)
REPRINT_GAP_DAYS = 2
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
STORY = "up"  # story ids: upNN (bench/data/updates-dev/check.py sets "ud")
STORY_RE = re.compile(r"^up(\d{2})([a-d])-[a-z0-9-]+$")
REPRINT_RE = re.compile(r"^rp(\d{2})([ab])-[a-z0-9-]+$")
DISTRACTOR_RE = re.compile(r"^dx\d{2}-[a-z0-9-]+$")
NUMBER_WORDS = re.compile(
    r"\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|"
    r"fifty|hundred|thousand|million|billion)\b", re.I)
# Words that mark a question as asked "as of now"; only counted for the summary line.
AS_OF_WORDS = re.compile(r"\b(latest|so far|now|yet|still|current|currently|at the moment)\b", re.I)

errors: list[str] = []


def err(msg: str) -> None:
    errors.append(msg)


def unquote(v: str) -> str:
    v = v.strip()
    if len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'":
        v = v[1:-1]
    return v


def parse_article(path: Path) -> tuple[dict[str, str], str] | None:
    text = path.read_text(encoding="utf-8")
    if not text.startswith("---\n"):
        err(f"{path.name}: does not start with front matter '---'")
        return None
    end = text.find("\n---\n", 3)
    if end == -1:
        err(f"{path.name}: front matter not closed")
        return None
    meta: dict[str, str] = {}
    for line in text[4:end].splitlines():
        if not line.strip():
            continue
        if ":" not in line:
            err(f"{path.name}: bad front matter line {line!r}")
            continue
        k, v = line.split(":", 1)
        meta[k.strip()] = unquote(v)
    return meta, text[end + len("\n---\n"):]


def parse_date(value: object) -> dt.date | None:
    if not isinstance(value, str) or not DATE_RE.match(value):
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def found(needle: str, haystack: str) -> bool:
    """Case-insensitive match on word boundaries, so '26' is not found in '1926' or '2,600'."""
    pattern = r"(?<![\w,.])" + re.escape(needle.strip()) + r"(?![\w]|[,.]\d)"
    return re.search(pattern, haystack, re.I) is not None


def load_articles() -> dict[str, dict]:
    corpus_ids = {p.stem for p in CORPUS_DIR.glob("*.md")}
    arts: dict[str, dict] = {}
    for p in sorted(ARTICLES.glob("*.md")):
        parsed = parse_article(p)
        if parsed is None:
            continue
        meta, body = parsed
        missing = [k for k in REQUIRED_META if not meta.get(k)]
        if missing:
            err(f"{p.name}: missing front matter {missing}")
            continue
        aid = meta["id"]
        if aid != p.stem:
            err(f"{p.name}: id {aid!r} != file stem {p.stem!r}")
        date = parse_date(meta["date"])
        if date is None:
            err(f"{p.name}: bad date {meta['date']!r}")
            continue
        if not meta["url"].startswith("https://example.org/"):
            err(f"{p.name}: url should be on https://example.org/")
        n = len(body.split())
        if not WORDS[0] <= n <= WORDS[1]:
            err(f"{p.name}: body has {n} words (want {WORDS[0]}-{WORDS[1]})")
        if aid in corpus_ids:
            err(f"{p.name}: id also used in tests/fixtures/corpus")
        if aid in arts:
            err(f"{p.name}: duplicate article id {aid!r}")
        if not (STORY_RE.match(aid) or REPRINT_RE.match(aid) or DISTRACTOR_RE.match(aid)):
            err(f"{p.name}: id should look like upNNa-..., rpNNa-... or dxNN-...")
        arts[aid] = {"meta": meta, "body": body, "date": date}
    return arts


def group(arts: dict[str, dict], pattern: re.Pattern[str]) -> dict[str, list[str]]:
    """Article ids by story/pair number, in letter order."""
    groups: dict[str, list[str]] = defaultdict(list)
    for aid in sorted(arts):
        m = pattern.match(aid)
        if m:
            groups[m.group(1)].append(aid)
    return dict(groups)


def letter(aid: str) -> str:
    m = STORY_RE.match(aid) or REPRINT_RE.match(aid)
    assert m
    return m.group(2)


def check_stories(arts: dict[str, dict], stories: dict[str, list[str]]) -> None:
    for num, ids in stories.items():
        letters = "".join(letter(a) for a in ids)
        if letters != "abcd"[: len(ids)]:
            err(f"story {STORY}{num}: reports lettered {letters!r}, want a, b, ... without gaps")
        if not 2 <= len(ids) <= 4:
            err(f"story {STORY}{num}: {len(ids)} reports (want 2-4)")
        for prev, nxt in itertools.pairwise(ids):
            gap = (arts[nxt]["date"] - arts[prev]["date"]).days
            if not STORY_GAP_DAYS[0] <= gap <= STORY_GAP_DAYS[1]:
                err(f"story {STORY}{num}: {nxt} is {gap} days after {prev} "
                    f"(want {STORY_GAP_DAYS[0]}-{STORY_GAP_DAYS[1]})")
        titles = [arts[a]["meta"]["title"] for a in ids]
        if len(set(titles)) != len(titles):
            err(f"story {STORY}{num}: two reports share a headline")


def check_reprints(arts: dict[str, dict], pairs: dict[str, list[str]]) -> None:
    for num, ids in pairs.items():
        if [letter(a) for a in ids] != ["a", "b"]:
            err(f"reprint rp{num}: want exactly copies a and b, got {ids}")
            continue
        a, b = (arts[i] for i in ids)
        for key in ("source", "title"):
            if a["meta"][key] == b["meta"][key]:
                err(f"reprint rp{num}: both copies have the same {key}")
        if abs((b["date"] - a["date"]).days) > REPRINT_GAP_DAYS:
            err(f"reprint rp{num}: copies more than {REPRINT_GAP_DAYS} days apart")
        la, lb = a["body"].strip().splitlines(), b["body"].strip().splitlines()
        differing = len(la) != len(lb) or sum(x != y for x, y in zip(la, lb, strict=True)) > 1
        if differing:
            err(f"reprint rp{num}: bodies differ in more than one line")


def story_of(aid: str) -> str | None:
    m = STORY_RE.match(aid)
    return m.group(1) if m else None


def partner(aid: str) -> str | None:
    m = REPRINT_RE.match(aid)
    return m.group(1) if m else None


def is_numeric(answer: str) -> bool:
    return bool(re.search(r"\d", answer) or NUMBER_WORDS.search(answer))


def check_grounding(where: str, q: dict, arts: dict[str, dict]) -> None:
    """Evidence verbatim in the first listed article; answers in it and in the evidence."""
    first = arts[q["article_ids"][0]]
    evidence = q.get("evidence")
    if not isinstance(evidence, list) or not evidence or not all(isinstance(e, str) for e in evidence):
        err(f"{where}: needs a non-empty 'evidence' list of strings")
        return
    if not q["answers"]:
        err(f"{where}: needs at least one answer")
    for ev in evidence:
        if not ev.strip() or ev not in first["body"]:
            err(f"{where}: evidence not verbatim in {q['article_ids'][0]}: {ev[:70]!r}")
    for ans in q["answers"]:
        if not ans.strip():
            err(f"{where}: empty answer")
        elif not found(ans, first["body"]):
            err(f"{where}: answer {ans!r} not in {q['article_ids'][0]}")
        elif not any(found(ans, ev) for ev in evidence):
            err(f"{where}: answer {ans!r} not in the evidence")
    reprints = {partner(a) for a in q["article_ids"] if partner(a)}
    for num in reprints:
        copies = [a for a in arts if partner(a) == num]
        if not set(copies) <= set(q["article_ids"]):
            err(f"{where}: lists one copy of reprint rp{num}; list both {copies}")


def check_update(where: str, q: dict, qdate: dt.date | None, arts: dict[str, dict],
                 stories: dict[str, list[str]], asked: dict[str, list[str]]) -> None:
    if qdate is None:
        err(f"{where}: an update question needs a question_date")
        return
    earlier = q.get("earlier")
    if not isinstance(earlier, list) or not all(isinstance(e, str) and e.strip() for e in earlier):
        err(f"{where}: 'earlier' must be a list of non-empty strings")
        return
    nums = {story_of(a) for a in q["article_ids"]}
    if len(nums) != 1 or None in nums:
        err(f"{where}: update questions list the reports of one story (upNN...), got {nums}")
        return
    num = nums.pop()
    assert num is not None
    reports = stories[num]
    known = [a for a in reports if arts[a]["date"] <= qdate]
    want = [known[-1], *reversed(known[:-1])] if known else []
    if q["article_ids"] != want:
        err(f"{where}: article_ids should be {want} (reports up to {qdate}, latest first)")
    first, others = q["article_ids"][0], q["article_ids"][1:]
    for e in earlier:
        if not any(found(e, arts[o]["body"]) for o in others):
            err(f"{where}: earlier value {e!r} not in any earlier listed report")
        for ans in q["answers"]:
            if found(e, ans) or found(ans, e):
                err(f"{where}: earlier value {e!r} and answer {ans!r} overlap")
    for ans in q["answers"]:
        if is_numeric(ans):
            for o in others:
                if found(ans, arts[o]["body"]):
                    err(f"{where}: answer {ans!r} already in earlier report {o}: not a change")
    if len(known) >= 2 and not earlier:
        err(f"{where}: {len(known)} reports listed but no earlier value")
    # "between" is after b and before c; a two-report story has only a and b to fall between.
    between = 1 if len(reports) == 2 else 2
    if len(known) == len(reports):
        asked[num].append("after-last")
    elif len(known) == between:
        asked[num].append("between")
    else:
        asked[num].append(f"after report {letter(first)}")
    if q.get("story") not in (None, f"{STORY}{num}"):
        err(f"{where}: story {q.get('story')!r} but lists {STORY}{num}")
    if q.get("asked") not in (None, asked[num][-1]):
        err(f"{where}: asked {q.get('asked')!r} but its date makes it {asked[num][-1]!r}")


def check_questions(arts: dict[str, dict], stories: dict[str, list[str]]) -> Counter:
    stats: Counter = Counter()
    if not QUESTIONS.exists():
        err(f"{QUESTIONS.name}: missing")
        return stats
    seen_ids: set[str] = set()
    seen_text: set[str] = set()
    asked: dict[str, list[str]] = defaultdict(list)
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
            err(f"{where}: not a JSON object")
            continue
        missing = [k for k in REQUIRED_Q if k not in q]
        if missing:
            err(f"{where}: missing keys {missing}")
            continue
        where = f"{QUESTIONS.name}:{ln} ({q['id']})"
        if q["id"] in seen_ids:
            err(f"{where}: duplicate question id")
        seen_ids.add(q["id"])
        text = " ".join(str(q["question"]).lower().split())
        if not text:
            err(f"{where}: empty question")
        if text in seen_text:
            err(f"{where}: same question text as an earlier line")
        seen_text.add(text)
        if q["type"] not in TYPES:
            err(f"{where}: type {q['type']!r} not one of {sorted(TYPES)}")
            continue
        bad = [k for k in ("answers", "article_ids")
               if not isinstance(q[k], list) or not all(isinstance(x, str) for x in q[k])]
        if bad:
            err(f"{where}: {bad} must be lists of strings")
            continue
        unknown = [a for a in q["article_ids"] if a not in arts]
        if unknown:
            err(f"{where}: unknown article ids {unknown}")
            continue
        qdate = None
        if "question_date" in q:
            qdate = parse_date(q["question_date"])
            if qdate is None:
                err(f"{where}: bad question_date {q['question_date']!r}")
                continue
            late = [a for a in q["article_ids"] if arts[a]["date"] > qdate]
            if late:
                err(f"{where}: lists articles dated after question_date {qdate}: {late}")
        stats[q["type"]] += 1
        if q["type"] == "unanswerable":
            if q["answers"] or q["article_ids"] or q.get("evidence"):
                err(f"{where}: unanswerable questions have empty answers, article_ids, evidence")
            continue
        if not q["article_ids"]:
            err(f"{where}: needs at least one article id")
            continue
        check_grounding(where, q, arts)
        if q["type"] == "update":
            check_update(where, q, qdate, arts, stories, asked)
            stats["update, as-of wording" if AS_OF_WORDS.search(q["question"])
                  else "update, plain wording"] += 1
            stats["update, with earlier values" if q.get("earlier") else "update, no earlier"] += 1
        elif any(partner(a) for a in q["article_ids"]):
            stats["answerable, about a reprint"] += 1
    for num in stories:
        if sorted(asked.get(num, [])) != ["after-last", "between"]:
            err(f"story {STORY}{num}: update questions asked {asked.get(num, [])}; "
                "want one after-last and one between")
    return stats


def main() -> int:
    arts = load_articles()
    stories = group(arts, STORY_RE)
    pairs = group(arts, REPRINT_RE)
    check_stories(arts, stories)
    check_reprints(arts, pairs)
    stats = check_questions(arts, stories)
    reports = sum(len(v) for v in stories.values())
    distractors = sum(1 for a in arts if DISTRACTOR_RE.match(a))
    print(f"{len(arts)} articles: {len(stories)} stories with {reports} reports "
          f"({dict(sorted(Counter(len(v) for v in stories.values()).items()))} by report count), "
          f"{len(pairs)} reprint pairs, {distractors} distractors")
    print(f"questions: {dict(sorted(stats.items()))}")
    if errors:
        print(f"{len(errors)} error(s):", file=sys.stderr)
        for e in errors:
            print(f"  {e}", file=sys.stderr)
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
