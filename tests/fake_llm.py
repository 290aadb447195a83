"""A scripted OpenAI-compatible chat server on 127.0.0.1: the one stand-in the tests use.

The real `openai` client talks to it over HTTP. Each request takes the next scripted reply
from a queue and is recorded, so tests can check what the assistant sent.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    content: str = ""
    status: int = 200
    stream: bool = False
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    # Token counts a streamed reply ends with (as OpenAI sends them with include_usage).
    usage: dict[str, int] | None = None


class FakeOpenAIServer:
    def __init__(self) -> None:
        self.replies: deque[Reply] = deque()
        self.requests: list[dict[str, Any]] = []
        self.auth_headers: list[str | None] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                server.requests.append(body)
                server.auth_headers.append(self.headers.get("Authorization"))
                reply = server.replies.popleft() if server.replies else Reply(
                    "no scripted reply left", status=500)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.status != 200:
                    self._json(reply.status, {"error": {"message": reply.content or "error",
                                                        "type": "test"}}, reply.headers)
                elif body.get("stream"):
                    self._stream(reply.content, reply.usage)
                else:
                    self._json(200, {
                        "id": "chatcmpl-test", "object": "chat.completion", "created": 0,
                        "model": body.get("model", "test"),
                        "choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": reply.content}}],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                    }, reply.headers)

            def _json(self, status: int, obj: Any, headers: dict[str, str]) -> None:
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, content: str, usage: dict[str, int] | None) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                pieces = [content[i:i + 7] for i in range(0, len(content), 7)] or [""]
                for piece in pieces:
                    chunk = {"id": "chatcmpl-test", "object": "chat.completion.chunk",
                             "created": 0, "model": "test",
                             "choices": [{"index": 0, "delta": {"content": piece},
                                          "finish_reason": None}]}
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()
                if usage is not None:
                    last = {"id": "chatcmpl-test", "object": "chat.completion.chunk",
                            "created": 0, "model": "test", "choices": [], "usage": usage}
                    self.wfile.write(f"data: {json.dumps(last)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def enqueue(self, content: str = "", **kwargs: Any) -> None:
        self.replies.append(Reply(content, **kwargs))

    def __enter__(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
