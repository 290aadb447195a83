"""A recording proxy for an OpenAI-compatible chat server: every exchange goes to a JSONL file.

Put it between the assistant and a real model to keep what the model actually wrote; the
replies become test fixtures (tests/fixtures/llm_replies/) and can be replayed through the
scripted server with `bench/llm_replay.py` to tune what happens after the model has answered
(marker parsing, claim support) without asking the model again.

    python bench/llm_capture.py --upstream http://127.0.0.1:8089 --port 8090 --out replies.jsonl
    OPENAI_BASE_URL=http://127.0.0.1:8090/v1 ... assistant eval ...

Each line: {"request": <the JSON body sent>, "content": <the reply text>, "usage": {...},
"status": <HTTP status>, "seconds": <wall time>}. Streamed replies are joined into one text.
Loopback only; one request at a time, like the local model server.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

LOCK = threading.Lock()


def streamed_text(raw: bytes) -> str:
    """The content of an SSE chat completion stream, joined."""
    parts = []
    for line in raw.decode("utf-8").splitlines():
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        chunk = json.loads(line[6:])
        for choice in chunk.get("choices") or []:
            parts.append((choice.get("delta") or {}).get("content") or "")
    return "".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", default="http://127.0.0.1:8089")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    upstream = args.upstream.rstrip("/")
    out = args.out

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *rest: Any) -> None:
            pass

        def _forward(self, method: str, body: bytes | None) -> tuple[int, bytes, str]:
            request = urllib.request.Request(upstream + self.path, data=body, method=method,
                                             headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=3600) as reply:
                    return reply.status, reply.read(), reply.headers.get("Content-Type", "")
            except urllib.error.HTTPError as exc:
                return exc.code, exc.read(), exc.headers.get("Content-Type", "")

        def _send(self, status: int, data: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind or "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._send(*self._forward("GET", None))

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            started = time.perf_counter()
            with LOCK:
                status, data, kind = self._forward("POST", body)
            seconds = time.perf_counter() - started
            request = json.loads(body or b"{}")
            content, usage = "", None
            if status == 200 and request.get("stream"):
                content = streamed_text(data)
            elif status == 200:
                reply = json.loads(data)
                content = reply["choices"][0]["message"]["content"] or ""
                usage = reply.get("usage")
            record = {"request": request, "content": content, "usage": usage, "status": status,
                      "seconds": round(seconds, 2)}
            with LOCK, out.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            self._send(status, data, kind)

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"recording {upstream} on http://127.0.0.1:{args.port} into {out}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
