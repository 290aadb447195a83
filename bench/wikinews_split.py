"""The fixed train / held-out split of the Wikinews-QAMR questions (run once; the output is committed).

Answerable questions are split by article, so no held-out question is about an article the
ranker saw in training; unanswerable ones (no article) by question id. The split depends only
on sha256 of those ids, so re-running this script reproduces the committed files exactly.

    python bench/wikinews_split.py [--data ../shared/data/wikinews-qamr]

writes bench/data/wikinews-train.jsonl and bench/data/wikinews-heldout.jsonl. Never tune
anything on the held-out file: it is what the README and closing notes report.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parent.parent / "shared" / "data" / "wikinews-qamr"
HELDOUT_SHARE = 0.4


def held_out(key: str) -> bool:
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < HELDOUT_SHARE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=HERE / "data")
    args = parser.parse_args()
    lines = (args.data / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    parts: dict[str, list[str]] = {"train": [], "heldout": []}
    for line in lines:
        if not line.strip():
            continue
        q = json.loads(line)
        key = q["article_ids"][0] if q["article_ids"] else q["id"]
        parts["heldout" if held_out(key) else "train"].append(line)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, rows in parts.items():
        (args.out / f"wikinews-{name}.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
        kinds = [json.loads(r)["type"] for r in rows]
        articles = {a for r in rows for a in json.loads(r)["article_ids"]}
        print(f"{name}: {len(rows)} questions ({kinds.count('answerable')} answerable, "
              f"{kinds.count('unanswerable')} unanswerable) over {len(articles)} articles")


if __name__ == "__main__":
    main()
