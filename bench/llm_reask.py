"""Ask a running model the captured second looks again, under other instructions.

A second look (assistant/answerers/llm.py) is the second request for a question in a capture
(bench/llm_capture.py). This re-sends each with `--system` as its system message and writes a
copy of the capture with the new replies; `bench/llm_replay.py` then scores the copy. Only the
second looks are asked again (about 4 s each with the 1.5B model instead of a whole run):

    python bench/llm_reask.py run.capture.jsonl new.capture.jsonl \\
        --system prompts/answer_system_focused.md --server http://127.0.0.1:8089
"""

from __future__ import annotations

import argparse
import json
import re
import time
import urllib.request
from pathlib import Path
from typing import Any

_QUESTION = re.compile(r"Question: (.*)")


def ask(server: str, request: dict[str, Any]) -> str:
    body = json.dumps({**request, "stream": False}).encode()
    sent = urllib.request.Request(f"{server.rstrip('/')}/v1/chat/completions", body,
                                  {"Content-Type": "application/json"})
    with urllib.request.urlopen(sent, timeout=600) as reply:
        return str(json.load(reply)["choices"][0]["message"]["content"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("capture", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--system", type=Path, required=True,
                        help="the second look's system message, e.g. a prompt file")
    parser.add_argument("--server", default="http://127.0.0.1:8089")
    args = parser.parse_args()
    system = args.system.read_text(encoding="utf-8").strip()
    seen: set[str] = set()
    with args.out.open("w", encoding="utf-8") as out:
        for line in args.capture.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            messages = record["request"]["messages"]
            asked = _QUESTION.findall(messages[-1]["content"]) if len(messages) > 1 else []
            question = asked[-1] if asked else None
            if question is not None and question in seen:
                request = {**record["request"],
                           "messages": [{"role": "system", "content": system}, messages[-1]]}
                started = time.perf_counter()
                content = ask(args.server, request)
                print(f"{question[:70]} | was: {record['content'][:50]!r} | now: "
                      f"{content[:70]!r} ({time.perf_counter() - started:.0f} s)", flush=True)
                record = {**record, "request": request, "content": content}
            if question is not None:
                seen.add(question)
            out.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
