"""The server as `assistant serve` runs it: idle and slow connections are closed, others kept.

Raw sockets on a real uvicorn, with short timeouts (keep-alive 1 s, request headers 2 s) so a
broken timeout shows as a connection still open long after it should have been closed.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from .test_api import serve_in_thread

KEEP_ALIVE = 1
HEADER_TIMEOUT = 2
# Far longer than either timeout: only reached when a connection is never closed.
NEVER = 20


@pytest.fixture(scope="module")
def address(news_services: Any) -> Iterator[tuple[str, int]]:
    from assistant.api import create_app

    settings = news_services.settings.model_copy(
        update={"keep_alive_timeout": KEEP_ALIVE, "header_timeout": HEADER_TIMEOUT})
    for base in serve_in_thread(create_app(news_services, ui=False), settings):
        host, port = base.removeprefix("http://").split(":")
        yield host, int(port)


def closed_by_server(sock: socket.socket, wait: float = NEVER) -> bool:
    """Whether the server closes `sock` (reads end or it is reset) within `wait` seconds."""
    sock.settimeout(wait)
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        pass
    return True


def read_response(sock: socket.socket) -> tuple[int, bytes]:
    """Status and body of one HTTP/1.1 response with a Content-Length."""
    sock.settimeout(NEVER)
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(4096)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = next(int(v) for k, _, v in (line.partition(": ") for line in lines[1:])
                  if k.lower() == "content-length")
    while len(body) < length:
        body += sock.recv(4096)
    return int(lines[0].split()[1]), body


def test_a_connection_that_never_sends_a_request_is_closed(address: tuple[str, int]) -> None:
    with socket.create_connection(address) as sock:
        assert closed_by_server(sock)


def test_an_idle_keep_alive_connection_is_closed_after_its_last_response(
        address: tuple[str, int]) -> None:
    with socket.create_connection(address) as sock:
        for _ in range(2):  # the connection is kept for a second request...
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
            status, body = read_response(sock)
            assert status == 200 and json.loads(body)["status"] == "ok"
        assert closed_by_server(sock)  # ...and closed once idle


def test_a_client_trickling_its_request_headers_is_cut_off(address: tuple[str, int]) -> None:
    with socket.create_connection(address) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n")
        deadline = time.monotonic() + NEVER
        cut_off = False
        while not cut_off and time.monotonic() < deadline:
            try:
                sock.sendall(b"X-Slow: 1\r\n")  # each byte would have reset uvicorn's timer
            except (BrokenPipeError, ConnectionResetError):
                cut_off = True
            else:
                cut_off = closed_by_server(sock, wait=0.25)
        assert cut_off


def test_a_request_whose_headers_came_in_time_is_answered_however_slow_its_body(
        address: tuple[str, int]) -> None:
    body = json.dumps({"query": "Harbor Bridge", "k": 1}).encode()
    with socket.create_connection(address) as sock:
        sock.sendall(b"POST /api/search HTTP/1.1\r\nHost: test\r\n"
                     b"Content-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body))
        time.sleep(HEADER_TIMEOUT + 1)  # past the header deadline: it must not apply any more
        sock.sendall(body)
        status, reply = read_response(sock)
    assert status == 200
    assert "harbor-bridge" in json.loads(reply)["passages"][0]["article_id"]
