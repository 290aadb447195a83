"""The fixed question samples for measuring the LLM answerer (run once; the output is committed).

A real local LLM answers a question in 20 s or more, so the LLM path is measured on small
samples, chosen by a rule that depends only on sha256 of the question ids:

- bench/data/llm-sample.jsonl, the tuning sample (prompts and thresholds are tuned on it
  only): 30 questions of tests/fixtures/corpus_questions.jsonl. 22 answerable: 3 about the
  prompt-injection article, 7 with a question date (relative: "this week", "latest"), 12
  others; 8 unanswerable: 2 with a question date, 6 others.
- bench/data/llm-heldout-sample.jsonl, report only (never tuned on): 20 questions of
  bench/data/wikinews-heldout.jsonl, 16 answerable (at most one per article) and 4
  unanswerable.

Within each group the questions with the smallest sha256(id) are taken; the output keeps the
source files' order. Re-running this script reproduces the committed files exactly.

    python bench/llm_sample.py
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
INJECTION_ARTICLE = "c-injection-chatbot-prompt-attacks"

Row = dict[str, Any]


def digest(row: Row) -> str:
    return hashlib.sha256(row["id"].encode("utf-8")).hexdigest()


def take(rows: list[Row], n: int, keep: Callable[[Row], bool], taken: set[str]) -> list[Row]:
    """The `n` rows with the smallest digest that `keep` accepts and are not yet taken."""
    chosen = [r for r in sorted(rows, key=digest) if keep(r) and r["id"] not in taken][:n]
    if len(chosen) < n:
        raise SystemExit(f"only {len(chosen)} questions fit a group that needs {n}")
    taken.update(r["id"] for r in chosen)
    return chosen


def read(path: Path) -> list[Row]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def write(path: Path, rows: list[Row], order: list[Row]) -> None:
    ids = {r["id"] for r in rows}
    kept = [r for r in order if r["id"] in ids]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in kept),
                    encoding="utf-8")
    kinds = [r["type"] for r in kept]
    print(f"{path.relative_to(ROOT)}: {len(kept)} questions ({kinds.count('answerable')} "
          f"answerable, {kinds.count('unanswerable')} unanswerable)")


def tuning_sample() -> None:
    rows = read(ROOT / "tests" / "fixtures" / "corpus_questions.jsonl")
    taken: set[str] = set()

    def answerable(r: Row) -> bool:
        return r["type"] == "answerable"

    def injection(r: Row) -> bool:
        return answerable(r) and INJECTION_ARTICLE in r["article_ids"]

    def dated(r: Row) -> bool:
        return bool(r.get("question_date"))

    chosen = (
        take(rows, 3, injection, taken)
        + take(rows, 7, lambda r: answerable(r) and dated(r), taken)
        + take(rows, 12, answerable, taken)
        + take(rows, 2, lambda r: not answerable(r) and dated(r), taken)
        + take(rows, 6, lambda r: not answerable(r), taken)
    )
    write(HERE / "data" / "llm-sample.jsonl", chosen, rows)


def heldout_sample() -> None:
    rows = read(HERE / "data" / "wikinews-heldout.jsonl")
    taken: set[str] = set()
    articles: set[str] = set()
    chosen: list[Row] = []
    for row in sorted(rows, key=digest):
        if row["type"] == "answerable" and row["article_ids"][0] not in articles \
                and len(chosen) < 16:
            articles.add(row["article_ids"][0])
            chosen.append(row)
            taken.add(row["id"])
    chosen += take(rows, 4, lambda r: r["type"] == "unanswerable", taken)
    write(HERE / "data" / "llm-heldout-sample.jsonl", chosen, rows)


if __name__ == "__main__":
    tuning_sample()
    heldout_sample()
