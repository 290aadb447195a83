"""uvicorn options for `assistant serve`: timeouts, so idle or slow connections are closed.

uvicorn 0.54 closes an idle keep-alive connection after `timeout_keep_alive`, but only once a
response has been sent, and any byte from the client cancels that timer. It has no limit on how
long a client may take to send a request's headers: a client that connects and says nothing,
or trickles header bytes (slowloris), holds its connection forever. The protocol here starts
the keep-alive timer on connecting too, and adds that limit: a connection must deliver complete
request headers within `header_timeout` seconds of connecting, or of the end of the previous
response, or it is closed. Bodies are not timed: they are capped at 64 KiB by the app.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assistant.config import Settings


def _http_protocol() -> type[asyncio.Protocol]:
    """The class uvicorn's "auto" setting would pick: httptools when installed, else h11."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # pragma: no cover - httptools is installed with uvicorn[standard]
        from uvicorn.protocols.http.h11_impl import H11Protocol

        return H11Protocol
    return HttpToolsProtocol


def header_deadline_protocol(header_timeout: float) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol with a deadline for receiving each request's headers."""
    base: Any = _http_protocol()

    class HeaderDeadlineProtocol(base):
        # Both uvicorn protocols create `self.cycle` once a request's headers are parsed, and
        # call `on_response_complete` when a response has been sent.
        _deadline: asyncio.TimerHandle | None = None
        _waiting_after: object = None

        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(transport)
            # uvicorn arms its keep-alive timer only after a response: a connection that never
            # sends a byte is idle too, and closed after the same time.
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler)
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self._deadline is not None and not self._waiting():
                self._disarm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if self._idle():  # not when a pipelined request is already being answered
                self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _idle(self) -> bool:
            return not self.transport.is_closing() and (
                self.cycle is None or self.cycle.response_complete)

        def _waiting(self) -> bool:
            """Still waiting for the headers of the request the deadline is for."""
            upgraded = self.transport.get_protocol() is not self  # now a WebSocket
            return not upgraded and self.cycle is self._waiting_after and self._idle()

        def _arm(self) -> None:
            self._disarm()
            self._waiting_after = self.cycle
            self._deadline = self.loop.call_later(header_timeout, self._expire)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expire(self) -> None:
            self._deadline = None
            if self._waiting():
                self.transport.close()

    return HeaderDeadlineProtocol


def server_options(settings: Settings) -> dict[str, Any]:
    """The uvicorn options `assistant serve` adds (tests run their servers with them too)."""
    return {"http": header_deadline_protocol(settings.header_timeout),
            "timeout_keep_alive": settings.keep_alive_timeout}
