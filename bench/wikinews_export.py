"""The Wikinews-QAMR articles this repo ships (run once; the output is committed).

    python bench/wikinews_export.py [--data ../shared/data/wikinews-qamr]

writes
- bench/data/wikinews-articles.jsonl: all the articles as one JSON Lines corpus, read exactly as
  `assistant ingest` reads the .md files, so the README's Wikinews quality row can be measured
  from a clean clone (`assistant eval bench/data/wikinews-heldout.jsonl --corpus
  bench/data/wikinews-articles.jsonl`);
- demo/articles/*.md: DEMO_SIZE news excerpts for trying the assistant, taken only from articles
  that no held-out question is about (the held-out evaluation stays clean), longest first,
  leaving out interviews. Each gets a title made from its first sentence: the excerpts carry no
  headline. demo/LICENSE_ATTRIBUTION.md says so.

Re-running reproduces the committed files exactly.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "wikinews-qamr"
DEMO = ROOT / "demo"
DEMO_SIZE = 50
TITLE_CHARS = 90
# "Earlier today, ..." says when, not what: a title starts after it.
_WHEN = re.compile(
    r"^(?:earlier today|today|yesterday|last (?:week|month|night)|this (?:week|morning)|"
    r"on (?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)(?: night| morning)?)"
    r",?\s+", re.I)
_INTERVIEW = re.compile(r"^[A-Z][\w.' -]{0,30}:\s")  # "TZ: I know what events I swam."
# An excerpt that opens mid-story ("He had been hospitalized since late 2014.") makes a poor
# title and a confusing first read.
_MID_STORY = re.compile(r"^(?:he|she|they|it|its|this|that|these|those|his|her|their|theirs|"
                        r"although|but|and|however|in regards)\b|^[\"“']", re.I)


def held_out_articles() -> set[str]:
    ids: set[str] = set()
    for line in (HERE / "data" / "wikinews-heldout.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            ids.update(json.loads(line)["article_ids"])
    return ids


def title_of(body: str) -> str:
    """The opening words of the first sentence, as a headline-like title."""
    first = re.split(r"(?<=[.!?])\s+(?=[A-Z\"“])", body.strip(), maxsplit=1)[0].rstrip(".")
    first = _WHEN.sub("", first)
    first = first[:1].upper() + first[1:]
    if len(first) <= TITLE_CHARS:
        return first
    return first[:TITLE_CHARS].rsplit(" ", 1)[0].rstrip(",;:") + "…"


def front_matter(fields: dict[str, object]) -> str:
    lines = [f"{key}: {json.dumps(value, ensure_ascii=False)}" for key, value in fields.items()]
    return "---\n" + "\n".join(lines) + "\n---\n"


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from assistant.articles import read_articles

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    articles, problems = read_articles([args.data / "articles"])
    if problems:
        raise SystemExit(f"cannot read {problems[0].path}: {problems[0].reason}")
    articles.sort(key=lambda a: a.id)

    corpus = HERE / "data" / "wikinews-articles.jsonl"
    with corpus.open("w", encoding="utf-8") as out:
        for a in articles:
            out.write(json.dumps({"id": a.id, "title": a.title, "date": a.date, "url": a.url,
                                  "source": a.source, "text": a.body}, ensure_ascii=False) + "\n")
    print(f"wrote {len(articles)} articles to {corpus.relative_to(ROOT)}")

    held = held_out_articles()
    candidates = [a for a in articles if a.id not in held and not _MID_STORY.match(a.body)
                  and not any(_INTERVIEW.match(p) for p in a.body.splitlines() if p.strip())]
    chosen = sorted(candidates, key=lambda a: (-len(a.body), a.id))[:DEMO_SIZE]
    folder = DEMO / "articles"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for a in chosen:
        fields = {"id": a.id, "title": title_of(a.body), "source": "English Wikinews (excerpt)",
                  "url": a.url,
                  "licence": "CC BY 2.5, Wikinews contributors; see ../LICENSE_ATTRIBUTION.md"}
        (folder / f"{a.id}.md").write_text(front_matter(fields) + a.body, encoding="utf-8")
    print(f"wrote {len(chosen)} demo articles to {folder.relative_to(ROOT)} "
          f"(none of the {len(held)} articles held-out questions are about)")


if __name__ == "__main__":
    main()
