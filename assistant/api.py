"""The HTTP way in: a JSON API, an OpenAI-compatible chat endpoint and the chat window, one app.

`create_app(services)` receives a built `Services` and never creates clients itself, so tests
pass in one built from `Settings(store=tmp_path, llm="extractive")`. Errors are converted here,
once: a bad request gets a 4xx whose JSON body names the field, `{"error": {"message", "field"}}`
(422 when the JSON has the wrong shape or types, 400 when a value is unusable, 404 for an
unknown article), a failing LLM server a 502, and nothing ever a traceback.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import importlib.util
import itertools
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt
from starlette.exceptions import HTTPException
from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistant.answering import check_question, check_text
from assistant.app import Services
from assistant.citations import MARKER, normalize_markers
from assistant.errors import AssistantError, InputError, LLMError, StoreError, StoreMissingError
from assistant.feedback import MAX_CITATIONS, MAX_NOTE_CHARS, Feedback, FeedbackLog
from assistant.keyword import words
from assistant.retrieval import check_range, parse_date
from assistant.transcript import TITLE as TRANSCRIPT_TITLE
from assistant.transcript import conversation_markdown
from assistant.types import Answer, Citation, Turn

log = logging.getLogger("assistant.api")

MAX_BODY_BYTES = 64 * 1024
MAX_HISTORY_TURNS = 50
MAX_HISTORY_CHARS = 20_000
MODEL_ID = "news-assistant"
SESSION_COOKIE = "assistant_session"
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


# -- request models -----------------------------------------------------------------------


class HistoryTurn(BaseModel):
    """One earlier message of the conversation."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant"]
    content: str


class AnswerRequest(BaseModel):
    """A question about the articles, optionally a follow-up in a conversation."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"question": "Who did Trump invite to the White House?"},
        {"question": "When did it reopen?", "since": "2024-01-01",
         "history": [{"role": "user", "content": "Why was the Harbor Bridge closed?"},
                     {"role": "assistant", "content": "For repairs [1]."}]},
    ]})

    question: str = Field(description="At most 2,000 characters.")
    history: list[HistoryTurn] = Field(
        default_factory=list,
        description=f"Earlier turns, oldest first: at most {MAX_HISTORY_TURNS} turns and "
                    f"{MAX_HISTORY_CHARS:,} characters.",
    )
    # Strict: JSON `true` is not a number of passages (pydantic would read it as 1).
    k: StrictInt | None = Field(None, ge=1, le=50, description="How many passages to read [8].")
    since: str | None = Field(None, description="Only articles dated on or after YYYY-MM-DD.")
    until: str | None = Field(None, description="Only articles dated on or before YYYY-MM-DD.")
    today: str | None = Field(
        None, description="YYYY-MM-DD that 'this week' or 'recently' count from [today]."
    )
    # Strict: "yes" and 1 are not JSON booleans (pydantic would read them as true).
    stream: StrictBool = Field(
        False,
        description="Reply with server-sent events: `delta` events carry answer text pieces, "
                    "`citation` events each verified citation as soon as its sentence is "
                    "complete (LLM answers), then one `answer` event carries the whole answer "
                    "object, which is what counts.",
    )
    debug: StrictBool = Field(
        False,
        description="Add `debug` to the answer: per passage its dense and BM25 ranks and scores, "
                    "date adjustment and fused score; for the extractive answerer the top "
                    "candidate sentences with their feature scores and the refusal confidence.",
    )


class SearchRequest(BaseModel):
    """A search for passages, without answering."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"query": "Gaza ceasefire", "k": 5}]})

    query: str
    k: StrictInt = Field(8, ge=1, le=50)
    since: str | None = None
    until: str | None = None
    today: str | None = None


class ChatMessage(BaseModel):
    """An OpenAI chat message; only text content is read."""

    model_config = ConfigDict(extra="allow")

    role: str
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(BaseModel):
    """An OpenAI chat completion request. Sampling options within OpenAI's ranges are
    accepted and ignored (answers are deterministic); one choice is given."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [
        {"model": MODEL_ID, "messages": [
            {"role": "user", "content": "Who did Trump invite to the White House?"}]}]})

    model: str = MODEL_ID
    messages: list[ChatMessage] = Field(min_length=1)
    stream: StrictBool = False
    n: StrictInt = Field(1, ge=1, le=1, description="Choices: only 1 is offered.")
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    k: StrictInt | None = Field(None, ge=1, le=50)
    since: str | None = None
    until: str | None = None
    today: str | None = None


# -- errors -------------------------------------------------------------------------------


class NotFoundError(InputError):
    """An article or model this server does not have (a 404, unlike other bad input)."""


def error_body(message: str, field: str | None = None,
               kind: str = "invalid_request_error") -> dict[str, Any]:
    """The one error shape; `type` and `message` are where OpenAI clients look."""
    return {"error": {"message": message, "field": field, "type": kind}}


def error_status(exc: AssistantError) -> int:
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, InputError):
        return 400
    if isinstance(exc, LLMError):
        return 502
    if isinstance(exc, StoreError | StoreMissingError):
        return 503
    return 500


def assistant_error_body(exc: AssistantError) -> dict[str, Any]:
    field = exc.field if isinstance(exc, InputError) else None
    kind = "invalid_request_error" if isinstance(exc, InputError) else "server_error"
    return error_body(str(exc), field, kind)


def field_name(loc: Sequence[Any]) -> str | None:
    """('body', 'history', 3, 'role') -> 'history[3].role'."""
    name = ""
    for part in loc[1:] if loc and loc[0] in ("body", "query", "path") else loc:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or None


def validation_message(error: dict[str, Any]) -> tuple[str, str | None]:
    """A sentence a client developer can act on, and the field it is about."""
    field = field_name(error.get("loc", ()))
    kind = error.get("type", "")
    if kind == "json_invalid":
        reason = (error.get("ctx") or {}).get("error", "")
        return f"the request body is not valid JSON ({reason})", None
    if field is None or field.isdigit():
        return "the request body must be a JSON object", None
    if kind == "missing":
        return f"{field} is required", field
    if kind == "extra_forbidden":
        return f"{field} is not a known field; see /docs for the request schema", field
    return f"{field}: {error.get('msg', 'invalid value')}", field


# -- middleware ---------------------------------------------------------------------------


def _json_response(status: int, body: dict[str, Any],
                   headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers)


class BodyLimitMiddleware:
    """Refuses request bodies over `limit` bytes, by Content-Length and by counting the stream.

    Counting matters because a chunked upload has no Content-Length to check up front.
    """

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    def _too_large(self) -> JSONResponse:
        return _json_response(
            413, error_body(f"the request body is larger than {self.limit // 1024} KiB", None))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await _json_response(400, error_body("Content-Length is not a number"))(
                    scope, receive, send)
                return
            if int(declared) > self.limit:
                await self._too_large()(scope, receive, send)
                return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    # An HTTPException passes through FastAPI's body parsing untouched and
                    # reaches the app's handler, which answers in the usual error shape.
                    raise HTTPException(413, f"the request body is larger than "
                                             f"{self.limit // 1024} KiB")
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except HTTPException as exc:
            if exc.status_code != 413 or started:
                raise
            await self._too_large()(scope, receive, send)


class CrashGuardMiddleware:
    """Answers an unexpected exception with the JSON 500, and keeps the connection usable.

    Starlette's own last-resort handler sends its 500 and then re-raises, and uvicorn answers
    a re-raised exception by closing the connection, so a keep-alive client's next request on
    it was reset. Here the error is logged and handled. Only a reply already part-sent lets the
    exception go on: that reply cannot be finished, so its connection must close.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = finished = False

        async def tracking_send(message: Message) -> None:
            nonlocal started, finished
            if message["type"] == "http.response.start":
                started = True
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                finished = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            log.error("unhandled error on %s %s", scope["method"], scope["path"], exc_info=exc)
            if finished:  # e.g. the chat window's own 500, sent whole before it re-raised
                return
            if started:
                raise
            await _json_response(500, error_body("internal error; see the server log", None,
                                                 "server_error"))(scope, receive, send)


def session_value(token: str) -> str:
    """The UI cookie: derived from the token so the cookie never carries the token itself."""
    return hmac.new(token.encode(), b"assistant-ui-session", hashlib.sha256).hexdigest()


def token_matches(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def is_open_path(path: str) -> bool:
    """Paths the UI gate leaves alone: the API checks its own bearer token."""
    return any(path == p or path.startswith(p + "/") for p in ("/api", "/v1", "/docs")) or \
        path in ("/healthz", "/openapi.json", "/auth/token")


LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>News assistant: sign in</title>
<style>
body{{font-family:system-ui,sans-serif;background:#f6f7f9;color:#1f2937;display:grid;
place-items:center;min-height:100vh;margin:0}}
form{{background:#fff;padding:2rem;border-radius:12px;box-shadow:0 2px 12px #0001;
width:min(22rem,90vw)}}
h1{{font-size:1.25rem;margin:0 0 .5rem}} p{{color:#4b5563;font-size:.9rem}}
input{{width:100%;box-sizing:border-box;padding:.6rem;font-size:1rem;border:1px solid #cbd5e1;
border-radius:8px}}
button{{margin-top:1rem;width:100%;padding:.6rem;font-size:1rem;border:0;border-radius:8px;
background:#2563eb;color:#fff;cursor:pointer}} .error{{color:#b91c1c}}
</style></head><body>
<form method="post" action="/auth/token">
<h1>News assistant</h1>
<p>This server needs its access token (<code>ASSISTANT_API_TOKEN</code>). You are asked once;
the browser remembers it.</p>{error}
<input type="password" name="token" autocomplete="current-password" placeholder="Access token"
 autofocus required aria-label="Access token">
<button type="submit">Open the assistant</button>
</form></body></html>"""


class TokenGateMiddleware:
    """With a token set, the chat window and Gradio's own routes need the session cookie
    (or the bearer token, for scripts using gradio_client); a browser is shown a sign-in page."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token
        self.session = session_value(token)

    def allowed(self, scope: Scope) -> bool:
        headers = dict(scope["headers"])
        auth = headers.get(b"authorization", b"").decode("latin-1")
        if auth[:7].lower() == "bearer " and token_matches(auth[7:].strip(), self.token):
            return True
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get(b"cookie", b"").decode("latin-1"))
        except Exception:  # a malformed cookie header is simply no session
            return False
        morsel = cookie.get(SESSION_COOKIE)
        return morsel is not None and token_matches(morsel.value, self.session)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or is_open_path(scope["path"]) \
                or self.allowed(scope):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["method"] == "GET" and scope["path"] == "/":
            response: Any = HTMLResponse(LOGIN_PAGE.format(error=""), status_code=401)
        else:
            response = _json_response(401, error_body("sign in first: the server needs its token"))
        await response(scope, receive, send)


# -- helpers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckedQuestion:
    """A checked question with its conversation and filters."""

    question: str
    history: list[Turn]
    k: int | None
    since: str | None
    until: str | None
    today: dt.date | None


def check_history(history: Sequence[Turn], field: str = "history") -> None:
    for i, turn in enumerate(history):
        check_text(turn.content, f"{field}[{i}].content")
    if len(history) > MAX_HISTORY_TURNS:
        raise InputError(f"{field} has {len(history)} turns; the limit is {MAX_HISTORY_TURNS}",
                         field)
    chars = sum(len(t.content) for t in history)
    if chars > MAX_HISTORY_CHARS:
        raise InputError(f"{field} is {chars:,} characters long; the limit is "
                         f"{MAX_HISTORY_CHARS:,}", field)


def check_filters(since: str | None, until: str | None,
                  today: str | None) -> tuple[str | None, str | None, dt.date | None]:
    """Dates as ISO strings (and `today` as a date), with errors naming the bad one."""
    since_iso, until_iso = parse_date(since, "since"), parse_date(until, "until")
    check_range(since_iso, until_iso)
    today_iso = parse_date(today, "today")
    return since_iso, until_iso, dt.date.fromisoformat(today_iso) if today_iso else None


def make_query(question: str, history: list[Turn], k: int | None, since: str | None,
               until: str | None, today: str | None, limit: int,
               history_field: str = "history", question_field: str = "question") -> CheckedQuestion:
    checked = check_question(question, question_field, limit)
    check_history(history, history_field)
    since_iso, until_iso, today_date = check_filters(since, until, today)
    return CheckedQuestion(checked, history, k, since_iso, until_iso, today_date)


def chat_to_query(request: ChatRequest, limit: int) -> CheckedQuestion:
    """OpenAI messages -> question + history: the last user message asks, system ones are
    instructions for a model we do not run, so they are dropped."""
    turns: list[Turn] = []
    last = 0
    for i, message in enumerate(request.messages):
        if message.role in ("system", "developer"):
            continue
        if message.role not in ("user", "assistant"):
            raise InputError(f"messages[{i}].role {message.role!r} is not supported; use "
                             "'system', 'user' or 'assistant'", f"messages[{i}].role")
        role: Literal["user", "assistant"] = "user" if message.role == "user" else "assistant"
        turns.append(Turn(role, message_text(message, f"messages[{i}].content")))
        last = i
    if not turns or turns[-1].role != "user":
        raise InputError("the last message must be the user's question", "messages")
    return make_query(turns[-1].content, turns[:-1], request.k, request.since, request.until,
                      request.today, limit, history_field="messages",
                      question_field=f"messages[{last}].content")


def message_text(message: ChatMessage, field: str) -> str:
    content = message.content
    if content is None:
        return ""
    if isinstance(content, str):
        return check_text(content, field)
    texts = []
    for part in content:
        if part.get("type") != "text" or not isinstance(part.get("text"), str):
            raise InputError(f"{field} may only hold text parts", field)
        texts.append(part["text"])
    return check_text("\n".join(texts), field)


def primed(items: Iterator[Any]) -> Iterator[Any]:
    """Runs a generator up to its first item now, so a bad request fails with a 4xx before
    the first byte of a stream is sent."""
    first = next(items, None)  # a StopIteration must not cross the threadpool boundary
    return iter(()) if first is None else itertools.chain([first], items)


def sse(data: Any, event: str | None = None) -> str:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data, ensure_ascii=False)}\n\n"


def stream_errors(events: Iterator[str],
                  on_error: Callable[[dict[str, Any]], str]) -> Iterator[str]:
    """Once the 200 is sent a failure can only be reported inside the stream."""
    try:
        yield from events
    except AssistantError as exc:
        yield on_error(assistant_error_body(exc))
    except Exception:
        log.exception("answer stream failed")
        yield on_error(error_body("internal error; see the server log", None, "server_error"))


def streamed_citation(citation: Citation, sources: dict[int, int]) -> dict[str, Any]:
    """A citation sent ahead of its answer, numbered as the final answer will number it
    (sources in the order they are first cited, see Answer.source_numbers)."""
    sources.setdefault(citation.n, len(sources) + 1)
    return {**citation.to_dict(), "source": sources[citation.n]}


def answer_events(items: Iterator[str | Citation | Answer]) -> Iterator[str]:
    sources: dict[int, int] = {}
    for item in items:
        if isinstance(item, Answer):
            yield sse(item.to_dict(), "answer")
        elif isinstance(item, Citation):
            yield sse(streamed_citation(item, sources), "citation")
        else:
            yield sse({"text": item}, "delta")


def completion(answer: Answer, model: str) -> dict[str, Any]:
    data = answer.to_dict()
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": answer.answer}}],
        "usage": data["usage"],
        "citations": data["citations"],
        "assistant": data,
    }


def completion_chunks(items: Iterator[str | Citation | Answer], model: str) -> Iterator[str]:
    base = {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion.chunk",
            "created": int(time.time()), "model": model}

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        return sse({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                    **extra})

    yield chunk({"role": "assistant", "content": ""})
    sources: dict[int, int] = {}
    streamed: list[str] = []
    for item in items:
        if isinstance(item, Answer):
            if not says_the_same("".join(streamed), item):
                # The model's words went out as they came; the checked answer says otherwise
                # (a claim no passage supports, a report too old for "this week"). Clients that
                # only join the deltas must see the verified answer too.
                yield chunk({"content": f"\n\n{CHECKED}{item.answer}"})
            data = item.to_dict()
            yield chunk({}, "stop", usage=data["usage"], citations=data["citations"],
                        assistant=data)
        elif isinstance(item, Citation):
            # An extra field on an empty chunk: OpenAI clients pass it through untouched.
            yield chunk({}, citation=streamed_citation(item, sources))
        else:
            streamed.append(item)
            yield chunk({"content": item})


# Put before the verified answer when a stream's text turned out not to be it.
CHECKED = "Checked against the articles: "


def says_the_same(streamed: str, answer: Answer) -> bool:
    """Whether the streamed text has the answer's words (markers and spacing aside)."""
    passages = max((p.n for p in answer.passages), default=0)
    return words(MARKER.sub(" ", normalize_markers(streamed, passages))) == words(
        MARKER.sub(" ", answer.answer))


def done_after(events: Iterator[str]) -> Iterator[str]:
    yield from events
    yield "data: [DONE]\n\n"


def warm(services: Services) -> None:
    """Open the store and load the model now, so the first question is as fast as the rest.

    Raises StoreMissingError when there is no index yet.
    """
    services.asker  # noqa: B018 - builds store, retriever and answerer
    services.retriever.search("warm up", 1)


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("news-assistant")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0"


# -- the app ------------------------------------------------------------------------------


def create_app(services: Services, *, ui: bool = True) -> FastAPI:
    """The server for these services: API routes, then the chat window mounted at `/`."""
    settings = services.settings
    token = settings.api_token
    limit = settings.max_question_chars
    started = int(time.time())
    app = FastAPI(
        title="News assistant",
        version=package_version(),
        description=(
            "Answers questions about the indexed news articles; every answer cites verified "
            "quotes. Errors are `{\"error\": {\"message\", \"field\", \"type\"}}`: 422 for a "
            "body of the wrong shape, 400 for unusable values, 404 for unknown articles, 413 "
            f"for bodies over {MAX_BODY_BYTES // 1024} KiB, 502 when the LLM server fails. "
            "With `ASSISTANT_API_TOKEN` set, `/api/*` and `/v1/*` need "
            "`Authorization: Bearer <token>`."
        ),
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app)
    install_docs(app)

    bearer = HTTPBearer(auto_error=False, description="The server's ASSISTANT_API_TOKEN")

    def require_token(
        credentials: HTTPAuthorizationCredentials | None = Depends(bearer),  # noqa: B008
    ) -> None:
        assert token is not None
        if credentials is None or not token_matches(credentials.credentials, token):
            raise HTTPException(401, "missing or wrong bearer token; send "
                                     "`Authorization: Bearer <ASSISTANT_API_TOKEN>`",
                                headers={"WWW-Authenticate": "Bearer"})

    guarded = [Depends(require_token)] if token else []
    api = APIRouter(prefix="/api", tags=["assistant"], dependencies=guarded)
    openai = APIRouter(prefix="/v1", tags=["OpenAI-compatible"], dependencies=guarded)

    # Plain `def` endpoints: FastAPI runs them in its threadpool, because the answerer
    # (onnxruntime, the openai client) is synchronous and would otherwise block the loop.

    @api.post("/answer", response_model=None, summary="Answer a question, with citations")
    def answer(body: AnswerRequest) -> Any:
        """The same object as `assistant ask --json`. With `"stream": true`, server-sent
        events: `delta` (`{"text"}` pieces) and `citation` (each verified citation once its
        sentence is complete), then `answer` (the whole object, final), or `error`."""
        q = make_query(body.question, [Turn(t.role, t.content) for t in body.history], body.k,
                       body.since, body.until, body.today, limit)
        if not body.stream:
            return services.asker.ask(q.question, q.history, k=q.k, since=q.since,
                                      until=q.until, today=q.today, debug=body.debug).to_dict()
        items = primed(services.asker.ask_stream(q.question, q.history, k=q.k, since=q.since,
                                                 until=q.until, today=q.today, debug=body.debug,
                                                 citations=True))
        events = stream_errors(answer_events(items), lambda e: sse(e, "error"))
        return StreamingResponse(events, media_type="text/event-stream", headers=SSE_HEADERS)

    @api.post("/search", response_model=None, summary="Find passages (no answer)")
    def search(body: SearchRequest) -> dict[str, Any]:
        """The passages that best match `query`, with scores and article metadata."""
        query = check_question(body.query, "query", limit)
        since, until, today = check_filters(body.since, body.until, body.today)
        timings: dict[str, float] = {}
        passages = services.retriever.search(query, body.k, since, until, today, timings)
        return {"query": query, "passages": [p.to_dict() for p in passages],
                "timings_ms": {k: round(v, 2) for k, v in timings.items()}}

    @api.get("/articles", response_model=None, summary="List the indexed articles")
    def list_articles(
        offset: int = Query(0, ge=0),
        limit: int = Query(50, ge=1, le=500),
    ) -> dict[str, Any]:
        """Newest first (undated last): id, title, date, source, url and chunk count."""
        metas = sorted(services.store.registry.ready_articles().values(),
                       key=lambda m: (m.date or "", m.title), reverse=True)
        metas.sort(key=lambda m: m.date is None)
        page = metas[offset:offset + limit]
        return {
            "total": len(metas), "offset": offset, "limit": limit,
            "articles": [{"id": m.id, "title": m.title, "date": m.date, "source": m.source,
                          "url": m.url, "chunks": m.chunks} for m in page],
        }

    @api.get("/articles/{article_id:path}", response_model=None, summary="One article")
    def get_article(article_id: str) -> dict[str, Any]:
        """Metadata, the full body (citation `start`/`end` are offsets into `body`) and the
        other reports of its story (`story`: follow-ups and reprints, oldest first)."""
        meta = services.retriever.article(article_id)
        body = services.retriever.body(article_id) if meta else None
        if meta is None or body is None:
            raise NotFoundError(f"no article with id {article_id!r}; "
                                "GET /api/articles lists them", "id")
        story = [{"id": m.id, "title": m.title, "date": m.date, "source": m.source,
                  "url": m.url, "reprint_of": reprint}
                 for m, reprint in services.retriever.story(article_id)]
        return {**meta.to_dict(), "authors": list(services.store.registry.authors(article_id)),
                "body": body, "story": story}

    @openai.post("/chat/completions", response_model=None, summary="OpenAI chat completions")
    def chat_completions(body: ChatRequest) -> Any:
        """The last user message is the question, earlier ones the history. The reply's
        content has `[n]` markers; `citations` (and the whole answer under `assistant`) ride
        along as extra top-level fields, in the last chunk when streaming; while streaming,
        each verified citation also comes early in a chunk's extra `citation` field."""
        q = chat_to_query(body, limit)
        if not body.stream:
            result = services.asker.ask(q.question, q.history, k=q.k, since=q.since,
                                        until=q.until, today=q.today)
            return completion(result, MODEL_ID)
        items = primed(services.asker.ask_stream(q.question, q.history, k=q.k, since=q.since,
                                                 until=q.until, today=q.today, citations=True))
        events = done_after(stream_errors(completion_chunks(items, MODEL_ID), sse))
        return StreamingResponse(events, media_type="text/event-stream", headers=SSE_HEADERS)

    def model_card() -> dict[str, Any]:
        return {"id": MODEL_ID, "object": "model", "created": started,
                "owned_by": "news-assistant", "description": services.answerer.label}

    @openai.get("/models", response_model=None, summary="OpenAI model list")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [model_card()]}

    @openai.get("/models/{model_id:path}", response_model=None, summary="One OpenAI model")
    def model(model_id: str) -> dict[str, Any]:
        if model_id != MODEL_ID:
            raise NotFoundError(f"no model {model_id!r}; the one model is {MODEL_ID!r}",
                                "model")
        return model_card()

    @app.get("/healthz", response_model=None, tags=["health"], summary="Liveness and counts")
    def healthz() -> Any:
        """Whether the store answers a real (date-filtered) query, what it holds, and which
        answerer is in use."""
        try:
            stats = services.store.stats()
            vectors = services.store.probe()
        except Exception as exc:  # any failure here means "not healthy"
            return _json_response(503, {"status": "error", **error_body(
                f"store unreachable: {exc}", None, "server_error")})
        return {"status": "ok", "articles": stats.articles, "chunks": stats.chunks,
                "vectors": vectors, "first_date": stats.first_date,
                "last_date": stats.last_date,
                "answerer": {"mode": services.answerer.mode, "label": services.answerer.label}}

    @app.get("/readyz", response_model=None, tags=["health"], summary="Readiness")
    def readyz() -> Any:
        """200 once this process can answer: the store answers a query, the model and the
        index (articles, chunks, BM25) are loaded. Also the store's generation and the one
        loaded here, which lags by a moment after each ingest commit. The first call starts
        the loading."""
        state = services.readiness()
        return _json_response(200 if state.pop("ready") else 503, state)

    add_feedback_and_export_routes(api, services)
    app.include_router(api)
    app.include_router(openai)

    if token:
        @app.post("/auth/token", include_in_schema=False)
        async def sign_in(request: Request) -> Any:
            form = parse_qs((await request.body()).decode("utf-8", "replace"))
            if not token_matches((form.get("token") or [""])[0], token):
                page = LOGIN_PAGE.format(error='<p class="error">That token is not right.</p>')
                return HTMLResponse(page, status_code=401)
            response = RedirectResponse("/", status_code=303)
            response.set_cookie(SESSION_COOKIE, session_value(token), max_age=30 * 86400,
                                httponly=True, samesite="strict",
                                secure=request.url.scheme == "https")
            return response

    add_fallback_routes(app)
    if ui:
        from assistant.ui import mount_ui

        mount_ui(app, services)

    # Added last = outermost: CORS headers then reach even the 401, 413 and 500 replies.
    if token and ui:
        app.add_middleware(TokenGateMiddleware, token=token)
    app.add_middleware(BodyLimitMiddleware, limit=MAX_BODY_BYTES)
    app.add_middleware(CrashGuardMiddleware)
    # Installed even with no origins listed: without it Gradio's own CORS handling takes over
    # the routes under / and allows any localhost origin (any origin at all when the Host is
    # not localhost), with credentials. With it, Gradio defers to this one everywhere.
    from fastapi.middleware.cors import CORSMiddleware

    origins = [o.strip() for o in (settings.cors_origins or "").split(",") if o.strip()]
    app.add_middleware(CORSMiddleware, allow_origins=origins,
                       allow_methods=["GET", "POST", "OPTIONS"],
                       allow_headers=["Authorization", "Content-Type"])
    return app


# -- feedback on answers, and conversations as Markdown -------------------------------------


class CitationIn(BaseModel):
    """A citation as /api/answer returned it; fields not listed here are ignored."""

    model_config = ConfigDict(extra="ignore")

    n: StrictInt
    article_id: str
    title: str = ""
    quote: str
    start: StrictInt = Field(ge=0)
    end: StrictInt = Field(ge=0)
    field: Literal["body", "title"] = "body"
    date: str | None = None
    url: str | None = None


class AnswerIn(BaseModel):
    """An answer object as /api/answer returned it. Fields not listed here (`passages`,
    `timings_ms`, `debug`) are ignored and may be left out."""

    model_config = ConfigDict(extra="ignore")

    question: str
    answer: str
    grounded: bool
    mode: Literal["extractive", "llm"]
    citations: list[CitationIn] = Field(default_factory=list, max_length=MAX_CITATIONS)
    short_answer: str | None = None
    model: str | None = None

    def to_answer(self, limit: int, field: str = "answer") -> Answer:
        """The checked answer: the question as /api/answer checks it, and no text that cannot
        be written as UTF-8 (a lone surrogate), named by its field."""

        def text(value: str | None, name: str) -> Any:
            return None if value is None else check_text(value, f"{field}.{name}")

        citations = [
            Citation(c.n, text(c.article_id, f"citations[{i}].article_id"),
                     text(c.title, f"citations[{i}].title"), text(c.date, f"citations[{i}].date"),
                     text(c.url, f"citations[{i}].url"), "", c.start, c.end,
                     text(c.quote, f"citations[{i}].quote"), 0.0, c.field)
            for i, c in enumerate(self.citations)
        ]
        return Answer(check_question(self.question, f"{field}.question", limit),
                      text(self.answer, "answer"), self.grounded, self.mode, citations=citations,
                      short_answer=text(self.short_answer, "short_answer"),
                      model=text(self.model, "model"))


class FeedbackRequest(BaseModel):
    """A thumbs up or down on an answer, with an optional note giving the right answer."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"rating": "down", "note": "Gearbox Gus", "date": "2026-11-30",
         "answer": {"question": "What was the robot called?", "answer": "The articles don't say.",
                    "grounded": False, "mode": "extractive", "citations": []}}]})

    rating: Literal["up", "down"]
    answer: AnswerIn = Field(description="The answer object /api/answer returned.")
    note: str | None = Field(
        None, description=f"The right answer, in your words (at most {MAX_NOTE_CHARS:,} "
                          "characters). With a thumbs-down it becomes the fixture's answer.")
    date: str | None = Field(
        None, description="YYYY-MM-DD the question was asked (its `today`) [today].")


class ExportRequest(BaseModel):
    """The answers of one conversation, oldest first, as /api/answer returned them."""

    model_config = ConfigDict(extra="forbid")

    answers: list[AnswerIn] = Field(min_length=1, max_length=MAX_HISTORY_TURNS)
    title: str | None = Field(None, max_length=200)


def add_feedback_and_export_routes(api: APIRouter, services: Services) -> None:
    """POST /api/feedback and POST /api/conversations/markdown (behind the API's token)."""
    limit = services.settings.max_question_chars

    @api.post("/feedback", response_model=None, status_code=201,
              summary="Rate an answer (kept with the index)")
    def feedback(body: FeedbackRequest) -> dict[str, Any]:
        """Stores the rating in the index folder (`feedback.jsonl`); `assistant feedback
        export --fixtures FILE` turns ratings into `assistant eval` questions."""
        answer = body.answer.to_answer(limit)
        asked_iso = parse_date(body.date, "date")
        asked = dt.date.fromisoformat(asked_iso) if asked_iso else dt.date.today()
        note = check_text(body.note, "note") if body.note is not None else None
        item = FeedbackLog(services.settings.store).add(
            Feedback.of_answer(answer, body.rating, asked, note))
        return item.to_dict()

    @api.post("/conversations/markdown", response_model=None,
              summary="A conversation as Markdown",
              responses={200: {"content": {"text/markdown": {}}}})
    def conversation_markdown_route(body: ExportRequest) -> Response:
        """Each question with its answer line and numbered sources with their quotes, as the
        chat window shows them. Leave `passages` out of the answers of long conversations:
        request bodies are limited to 64 KiB."""
        answers = [a.to_answer(limit, f"answers[{i}]") for i, a in enumerate(body.answers)]
        title = check_text(body.title, "title") if body.title else TRANSCRIPT_TITLE
        text = conversation_markdown(answers, title)
        return Response(text, media_type="text/markdown; charset=utf-8", headers={
            "Content-Disposition": 'attachment; filename="conversation.md"'})


def add_fallback_routes(app: FastAPI) -> None:
    """Under /api and /v1, a wrong method (405, with Allow) or an unknown path (404) gets the
    JSON error shape: the chat window, mounted at `/` after these, would otherwise answer
    with its own 404 for any request no route takes whole."""

    # The methods an Allow header names; HEAD and OPTIONS are caught too, never offered.
    offered = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    methods = [*offered, "HEAD", "OPTIONS"]

    def allowed(request: Request, path: str) -> list[str]:
        scope = {**request.scope, "path": path}
        return [m for m in offered if any(
            route.matches({**scope, "method": m})[0] == Match.FULL
            for route in app.routes  # not the chat window's mount, which takes any path
            if not isinstance(route, Mount) and getattr(route, "endpoint", None) is not fallback)]

    async def fallback(request: Request) -> Any:
        path = request.url.path
        here = allowed(request, path)
        if here and request.method == "OPTIONS":
            return Response(status_code=204, headers={"Allow": ", ".join([*here, "OPTIONS"])})
        if here:
            raise HTTPException(405, f"{request.method} is not allowed on {path}; use "
                                     f"{' or '.join(here)}", headers={"Allow": ", ".join(here)})
        if path.endswith("/") and allowed(request, path.rstrip("/")):
            raise HTTPException(404, f"no route {request.method} {path}; did you mean "
                                     f"{path.rstrip('/')}?")
        raise HTTPException(404, "Not Found")

    for prefix in ("/api", "/v1"):
        for route in (prefix, prefix + "/{rest:path}"):
            app.add_api_route(route, fallback, include_in_schema=False, methods=methods)


def install_error_handlers(app: FastAPI) -> None:
    """Every expected failure becomes the JSON error shape (unexpected ones: CrashGuard)."""

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = list(exc.errors())
        message, field = validation_message(errors[0]) if errors else ("invalid request", None)
        sent = request.headers.get("content-type", "").split(";")[0].strip()
        if field is None and request.method == "POST" and sent != "application/json":
            # FastAPI reads any other content type as no JSON at all.
            message = (f"send the body as JSON with the header Content-Type: application/json "
                       f"(it came as {sent or 'no content type'})")
        return _json_response(422, error_body(message, field))

    async def on_assistant_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AssistantError)
        return _json_response(error_status(exc), assistant_error_body(exc))

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        if exc.status_code == 404 and message == "Not Found":
            message = f"no route {request.method} {request.url.path}; see /docs"
        if exc.status_code == 400 and message == "There was an error parsing the body":
            message = "the request body could not be read as JSON text (is it UTF-8?)"
        return _json_response(exc.status_code, error_body(message), headers=exc.headers)

    handlers: list[tuple[type[Exception], Callable[[Request, Exception], Awaitable[Any]]]] = [
        (RequestValidationError, on_validation),
        (AssistantError, on_assistant_error),
        (HTTPException, on_http_error),
    ]
    for kind, handler in handlers:
        app.add_exception_handler(kind, handler)


def install_docs(app: FastAPI) -> None:
    """Swagger UI at /docs from local files when swagger-ui-py is installed; otherwise a plain
    page made from the same OpenAPI schema (FastAPI's default page loads Swagger from a CDN,
    which an offline machine cannot reach)."""
    spec = importlib.util.find_spec("swagger_ui")
    static = Path(spec.origin).parent / "static" if spec and spec.origin else None
    if static is None or not (static / "swagger-ui-bundle.js").is_file():

        @app.get("/docs", include_in_schema=False)
        def plain_docs() -> HTMLResponse:
            return HTMLResponse(schema_page(app.openapi()))

        return

    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles

    app.mount("/docs/static", StaticFiles(directory=static), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    def swagger_docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="News assistant API",
                                   swagger_js_url="/docs/static/swagger-ui-bundle.js",
                                   swagger_css_url="/docs/static/swagger-ui.css",
                                   swagger_favicon_url="/docs/static/favicon-32x32.png")


def schema_page(schema: dict[str, Any]) -> str:
    """The routes and request schemas of an OpenAPI document as one self-contained page."""
    from html import escape

    parts = [f"<h1>{escape(schema['info']['title'])} API</h1>",
             f"<p>{escape(schema['info'].get('description', ''))}</p>",
             '<p>Machine-readable: <a href="/openapi.json">/openapi.json</a></p>']
    for path, operations in schema.get("paths", {}).items():
        for method, op in operations.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            ref = body.get("schema", {}).get("$ref", "").rsplit("/", 1)[-1]
            parts.append(f"<h2><code>{method.upper()} {escape(path)}</code></h2>"
                         f"<p><b>{escape(op.get('summary', ''))}</b></p>"
                         f"<p>{escape(op.get('description', ''))}</p>"
                         + (f'<p>Body: <a href="#{escape(ref)}">{escape(ref)}</a></p>'
                            if ref else ""))
    for name, model in schema.get("components", {}).get("schemas", {}).items():
        parts.append(f'<h3 id="{escape(name)}">{escape(name)}</h3>'
                     f"<pre>{escape(json.dumps(model, indent=2))}</pre>")
    style = ("body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;"
             "padding:0 1rem;color:#1f2937}pre{background:#f3f4f6;padding:.8rem;overflow:auto}"
             "h2{font-size:1.1rem;margin-top:2rem}")
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>News assistant '
            f"API</title><style>{style}</style></head><body>{''.join(parts)}</body></html>")
