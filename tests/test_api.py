"""The HTTP server over real components: the ONNX model, Chroma and BM25 in a temp store.

Most routes are exercised in-process (FastAPI's TestClient); the streaming, OpenAI-client and
gradio_client checks go through a real uvicorn on 127.0.0.1.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest

from assistant.answerers.base import Draft, Evidence
from assistant.app import Services, build, quiet_offline_environment
from assistant.config import Settings
from assistant.errors import LLMError
from assistant.types import Turn

ROOT = Path(__file__).resolve().parent.parent
SEED_ID = "000_0c3e0a23974ec483"
SEED_TITLE = "Trump Invites Netanyahu to White House"
QUESTION = "Who did Trump invite to the White House?"
TOKEN = "s3cret-token"


# -- helpers shared by the server tests (kept here: tests/conftest.py belongs to the pipeline) --


def ingested_services(folder: Path, paths: Sequence[Path], **settings: Any) -> Services:
    """Services over a fresh store holding `paths`, answering extractively."""
    from assistant.ingest import ingest

    quiet_offline_environment()
    services = build(Settings(store=folder, llm="extractive", embed_threads=2, **settings))
    report = ingest(services.open_store(create=True), services.embedder, list(paths))
    assert not report.skipped
    return services


def news_services_for(tmp_path_factory: pytest.TempPathFactory) -> Services:
    """Seeds plus the test corpus. The store sits at one path per test session, so the modules
    that need it share it: a second ingest of unchanged files embeds nothing."""
    folder = tmp_path_factory.getbasetemp() / "news-store"
    return ingested_services(folder, [ROOT / "seeds", ROOT / "tests" / "fixtures" / "corpus"])


def sibling(services: Services, **settings: Any) -> Services:
    """Services over the same store and model with other settings (token, CORS, answerer)."""
    answerer = settings.pop("answerer", None)
    parts: dict[str, Any] = {"embedder": services.embedder}
    if answerer is not None:
        parts["answerer"] = answerer
    return build(Settings(store=services.settings.store, llm="extractive", **settings), **parts)


def serve_in_thread(app: Any, settings: Settings | None = None) -> Iterator[str]:
    """A real uvicorn, configured as `assistant serve` runs it, on a free loopback port; yields
    its base URL."""
    import uvicorn

    from assistant.server import server_options

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # Open keep-alive and event-stream connections must not hold up the shutdown.
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on",
                                           timeout_graceful_shutdown=1,
                                           **server_options(settings or Settings())))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
    sock.close()


def sse_events(lines: Iterator[str]) -> list[tuple[str | None, str]]:
    """(event, data) pairs of a server-sent event stream."""
    events: list[tuple[str | None, str]] = []
    event: str | None = None
    data: list[str] = []
    for line in lines:
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif not line and data:
            events.append((event, "\n".join(data)))
            event, data = None, []
    if data:
        events.append((event, "\n".join(data)))
    return events


class FailingAnswerer:
    """An answerer whose LLM server is down (or which crashes): records what it was asked."""

    mode: Literal["llm"] = "llm"
    label = "LLM: broken"

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.asked: list[str] = []

    def condense(self, question: str, history: Sequence[Turn]) -> str:
        return question

    def draft(self, evidence: Evidence, history: Sequence[Turn]) -> Draft:
        self.asked.append(evidence.question)
        raise self.error

    def stream(self, evidence: Evidence, history: Sequence[Turn]) -> Iterator[str | Draft]:
        self.asked.append(evidence.question)
        raise self.error
        yield ""  # a generator, like the real ones


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Services:
    return news_services_for(tmp_path_factory)


@pytest.fixture(scope="module")
def client(services: Services) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from assistant.api import create_app

    with TestClient(create_app(services, ui=False)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def server(services: Services) -> Iterator[str]:
    """The whole app, chat window included, on a real loopback port."""
    from assistant.api import create_app

    yield from serve_in_thread(create_app(services))


@pytest.fixture()
def client_for(services: Services) -> Iterator[Callable[..., Any]]:
    """Builds a TestClient over the same store with other settings."""
    from fastapi.testclient import TestClient

    from assistant.api import create_app

    opened: list[Any] = []

    def make(ui: bool = False, raise_errors: bool = True, **settings: Any) -> Any:
        app = create_app(sibling(services, **settings), ui=ui)
        test_client = TestClient(app, raise_server_exceptions=raise_errors)
        test_client.__enter__()
        opened.append(test_client)
        return test_client

    yield make
    for test_client in opened:
        test_client.__exit__(None, None, None)


def cited_articles(answer: dict[str, Any]) -> set[str]:
    return {c["article_id"] for c in answer["citations"]}


# -- answers --------------------------------------------------------------------------------


def test_answer_is_the_same_object_as_ask_json(client: Any, services: Services) -> None:
    reply = client.post("/api/answer", json={"question": QUESTION})
    assert reply.status_code == 200
    answer = reply.json()
    expected = services.asker.ask(QUESTION).to_dict()
    del answer["timings_ms"], expected["timings_ms"]
    assert answer == expected
    assert answer["grounded"] is True and "Netanyahu" in answer["answer"]
    assert "[1]" in answer["answer"]
    assert cited_articles(answer) == {SEED_ID}


def test_citation_quotes_are_found_in_the_article_body(client: Any) -> None:
    answer = client.post("/api/answer", json={"question": QUESTION}).json()
    for citation in answer["citations"]:
        article = client.get(f"/api/articles/{citation['article_id']}").json()
        assert article["body"][citation["start"]:citation["end"]] == citation["quote"]
        assert article["title"].startswith(SEED_TITLE)


def test_follow_up_question_is_answered_from_the_conversation(client: Any) -> None:
    history = [{"role": "user", "content": "Why was the Harbor Bridge closed?"},
               {"role": "assistant", "content": "For repairs."}]
    alone = client.post("/api/answer", json={"question": "How much did it cost?"}).json()
    follow_up = client.post("/api/answer", json={"question": "How much did it cost?",
                                                 "history": history}).json()
    assert alone["grounded"] is False
    assert follow_up["grounded"] is True
    assert any("harbor-bridge" in a for a in cited_articles(follow_up))


def test_unanswerable_question_says_so_and_offers_nearest_passages(client: Any) -> None:
    answer = client.post("/api/answer", json={"question": "What is the capital of Mars?"}).json()
    assert answer["grounded"] is False
    assert answer["answer"] == "The articles don't say."
    assert answer["citations"] == [] and answer["passages"]


def test_date_filter_limits_the_articles_an_answer_may_cite(client: Any) -> None:
    answer = client.post("/api/answer", json={
        "question": "How many jobs did Corvane cut?", "since": "2026-09-01"}).json()
    for citation in answer["citations"]:
        assert citation["date"] >= "2026-09-01"


def test_streamed_answer_sends_text_pieces_then_the_whole_answer(server: str) -> None:
    with httpx.stream("POST", f"{server}/api/answer", timeout=30,
                      json={"question": QUESTION, "stream": True}) as reply:
        assert reply.status_code == 200
        assert reply.headers["content-type"].startswith("text/event-stream")
        events = sse_events(reply.iter_lines())
    deltas = [json.loads(data)["text"] for event, data in events if event == "delta"]
    assert len(deltas) > 3
    assert events[-1][0] == "answer"
    final = json.loads(events[-1][1])
    assert "".join(deltas) == final["answer"]
    assert cited_articles(final) == {SEED_ID}


# -- search and articles ----------------------------------------------------------------------


def test_search_returns_passages_with_scores_and_metadata(client: Any) -> None:
    reply = client.post("/api/search", json={"query": "Harbor Bridge reopening", "k": 3})
    assert reply.status_code == 200
    passages = reply.json()["passages"]
    assert len(passages) == 3
    assert [p["n"] for p in passages] == [1, 2, 3]
    assert all(p["score"] > 0 and p["title"] and p["text"] for p in passages)
    assert "harbor-bridge" in passages[0]["article_id"]


def test_articles_are_listed_in_pages_newest_first(client: Any) -> None:
    first = client.get("/api/articles", params={"limit": 10}).json()
    second = client.get("/api/articles", params={"limit": 10, "offset": 10}).json()
    assert first["total"] == 47
    assert len(first["articles"]) == 10
    assert not {a["id"] for a in first["articles"]} & {a["id"] for a in second["articles"]}
    dates = [a["date"] for a in first["articles"]]
    assert dates == sorted(dates, reverse=True)
    assert set(first["articles"][0]) == {"id", "title", "date", "source", "url", "chunks"}
    everything = client.get("/api/articles", params={"limit": 500}).json()["articles"]
    undated = [a["date"] is None for a in everything]
    assert undated == sorted(undated)  # undated articles come last
    assert SEED_ID in {a["id"] for a in everything if a["date"] is None}


def test_unknown_article_is_a_404_naming_the_id(client: Any) -> None:
    reply = client.get("/api/articles/no-such-article")
    assert reply.status_code == 404
    assert reply.json()["error"]["field"] == "id"
    assert "no-such-article" in reply.json()["error"]["message"]


def test_health_reports_counts_and_answerer_mode(client: Any) -> None:
    health = client.get("/healthz").json()
    assert health["status"] == "ok"
    assert health["articles"] == 47 and health["chunks"] == health["vectors"] > 47
    assert health["answerer"] == {"mode": "extractive", "label": "extractive (offline)"}


def test_openapi_schema_documents_every_route(client: Any) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/api/answer", "/api/search", "/api/articles", "/api/articles/{article_id}",
                 "/healthz", "/v1/chat/completions", "/v1/models"):
        assert path in paths
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "/api/answer" in docs.text or "swagger-ui" in docs.text
    assert "cdn." not in docs.text  # the docs page works offline


# -- bad requests ---------------------------------------------------------------------------

LONG = "why " * 600


@pytest.mark.parametrize(("path", "body", "status", "field"), [
    ("/api/answer", {}, 422, "question"),
    ("/api/answer", {"question": ""}, 400, "question"),
    ("/api/answer", {"question": "   "}, 400, "question"),
    ("/api/answer", {"question": LONG}, 400, "question"),
    ("/api/answer", {"question": 42}, 422, "question"),
    ("/api/answer", {"question": "Why?", "history": "none"}, 422, "history"),
    ("/api/answer", {"question": "Why?", "history": [{"role": "boss", "content": "x"}]},
     422, "history[0].role"),
    ("/api/answer", {"question": "Why?", "history": [{"role": "user"}]},
     422, "history[0].content"),
    ("/api/answer", {"question": "Why?",
                     "history": [{"role": "user", "content": "x"}] * 51}, 400, "history"),
    ("/api/answer", {"question": "Why?",
                     "history": [{"role": "user", "content": "x" * 1900}] * 11}, 400, "history"),
    ("/api/answer", {"question": "Why?", "k": 0}, 422, "k"),
    ("/api/answer", {"question": "Why?", "k": "many"}, 422, "k"),
    ("/api/answer", {"question": "Why?", "k": True}, 422, "k"),
    ("/api/answer", {"question": "\u0000"}, 400, "question"),
    ("/api/answer", {"question": "\u0000\u200b\u0000 "}, 400, "question"),
    ("/api/answer", {"question": "Why \ud800?"}, 400, "question"),
    ("/api/answer", {"question": "Why \ud800?", "stream": True}, 400, "question"),
    ("/api/answer", {"question": "Why?", "history": [{"role": "user", "content": "a"},
                                                     {"role": "user", "content": "\udfff"}]},
     400, "history[1].content"),
    ("/api/answer", {"question": "Why?", "since": "last week"}, 400, "since"),
    ("/api/answer", {"question": "Why?", "until": "2026-13-01"}, 400, "until"),
    ("/api/answer", {"question": "Why?", "since": "2026-10-01", "until": "2026-09-01"},
     400, "since"),
    ("/api/answer", {"question": "Why?", "today": "tomorrow"}, 400, "today"),
    ("/api/answer", {"question": "Why?", "sinse": "2026-01-01"}, 422, "sinse"),
    ("/api/answer", {"question": "", "stream": True}, 400, "question"),
    ("/api/answer", ["Why?"], 422, None),
    ("/api/search", {"query": ""}, 400, "query"),
    ("/api/search", {"query": "bridge", "k": 500}, 422, "k"),
    ("/api/search", {"query": "bridge", "k": True}, 422, "k"),
    ("/api/search", {"query": "bridge \ud800"}, 400, "query"),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "Hi \ud800"}]},
     400, "messages[0].content"),
    ("/v1/chat/completions", {"messages": [{"role": "system", "content": "Be brief."},
                                           {"role": "user", "content": "\udc80"},
                                           {"role": "assistant", "content": "Hello"},
                                           {"role": "user", "content": "Why?"}]},
     400, "messages[1].content"),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "Why?"}], "k": True},
     422, "k"),
    ("/v1/chat/completions", {"messages": []}, 422, "messages"),
    ("/v1/chat/completions", {"messages": [{"role": "system", "content": "Be brief."}]},
     400, "messages"),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "Hi"},
                                           {"role": "assistant", "content": "Hello"}]},
     400, "messages"),
    ("/v1/chat/completions", {"messages": [{"role": "tool", "content": "42"}]},
     400, "messages[0].role"),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": ""}]},
     400, "messages[0].content"),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "x"}}]}]}, 400, "messages[0].content"),
    # Found by a hostile trial: these were accepted and ignored.
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "Why?"}], "n": 2},
     422, "n"),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "Why?"}],
                              "temperature": 5}, 422, "temperature"),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "Why?"}],
                              "stream": "yes"}, 422, "stream"),
    ("/api/answer", {"question": "Why?", "stream": "yes"}, 422, "stream"),
    ("/api/answer", {"question": "Why?", "debug": 1}, 422, "debug"),
])
def test_bad_request_gets_a_4xx_naming_the_field(client: Any, path: str, body: Any, status: int,
                                                 field: str | None) -> None:
    # Sent as text: a lone surrogate is valid in JSON's \\u escapes but not in UTF-8 bytes.
    reply = client.post(path, content=json.dumps(body),
                        headers={"content-type": "application/json"})
    assert reply.status_code == status, reply.text
    error = reply.json()["error"]
    assert error["field"] == field
    assert error["message"] and "Traceback" not in reply.text


def test_the_model_is_found_by_its_id_as_openai_clients_ask(client: Any) -> None:
    listed = client.get("/v1/models").json()["data"][0]
    assert client.get(f"/v1/models/{listed['id']}").json() == listed
    reply = client.get("/v1/models/gpt-4")
    assert reply.status_code == 404 and reply.json()["error"]["field"] == "model"


def test_relative_question_counted_from_the_first_days_of_the_calendar_is_answered(
        client: Any) -> None:
    for path, body in (("/api/answer", {"question": "What happened this week?"}),
                       ("/api/search", {"query": "what happened recently"})):
        reply = client.post(path, json={**body, "today": "0001-01-03"})
        assert reply.status_code == 200, reply.text


def test_body_that_is_not_json_gets_a_422(client: Any) -> None:
    reply = client.post("/api/answer", content=b"{question: why",
                        headers={"content-type": "application/json"})
    assert reply.status_code == 422
    assert "not valid JSON" in reply.json()["error"]["message"]


def test_body_over_64_kib_is_refused(client: Any) -> None:
    reply = client.post("/api/answer", json={"question": "x" * 70_000})
    assert reply.status_code == 413
    assert "64 KiB" in reply.json()["error"]["message"]


def test_streamed_body_over_64_kib_is_refused_without_content_length(server: str) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"question": "'
        for _ in range(80):
            yield b"x" * 1024
        yield b'"}'

    reply = httpx.post(f"{server}/api/answer", content=chunks(), timeout=30,
                       headers={"content-type": "application/json"})
    assert reply.status_code == 413
    assert reply.json()["error"]["message"].startswith("the request body is larger")


def test_unknown_route_is_a_json_404(client: Any) -> None:
    reply = client.get("/api/nothing-here")
    assert reply.status_code == 404
    assert "no route" in reply.json()["error"]["message"]


def test_llm_failure_is_a_502_with_the_reason(client_for: Callable[..., Any]) -> None:
    down = FailingAnswerer(LLMError("cannot reach the LLM server at http://127.0.0.1:9; "
                                    "is it running?"))
    test_client = client_for(answerer=down)
    for body in ({"question": QUESTION}, {"question": QUESTION, "stream": True}):
        reply = test_client.post("/api/answer", json=body)
        assert reply.status_code == 502
        assert "cannot reach the LLM server" in reply.json()["error"]["message"]
    reply = test_client.post("/v1/chat/completions",
                             json={"messages": [{"role": "user", "content": QUESTION}]})
    assert reply.status_code == 502
    assert down.asked == [QUESTION] * 3


def test_unexpected_crash_is_a_json_500_without_traceback(
        client_for: Callable[..., Any]) -> None:
    test_client = client_for(answerer=FailingAnswerer(RuntimeError("boom")),
                             raise_errors=False)
    reply = test_client.post("/api/answer", json={"question": QUESTION})
    assert reply.status_code == 500
    assert reply.json()["error"]["message"] == "internal error; see the server log"
    assert "boom" not in reply.text and "Traceback" not in reply.text


def test_after_a_500_the_keep_alive_connection_serves_the_next_request(
        services: Services) -> None:
    from assistant.api import create_app

    crashing = sibling(services, answerer=FailingAnswerer(RuntimeError("boom")))
    statuses, local_ends = [], set()
    for base in serve_in_thread(create_app(crashing)):
        with httpx.Client(base_url=base, timeout=30) as http:
            for request in (http.build_request("POST", "/api/answer", json={"question": QUESTION}),
                            http.build_request("GET", "/api/articles"),
                            http.build_request("POST", "/api/answer", json={"question": QUESTION}),
                            http.build_request("GET", "/healthz")):
                reply = http.send(request)
                statuses.append(reply.status_code)
                local_ends.add(reply.extensions["network_stream"].get_extra_info("client_addr"))
                if reply.status_code == 500:
                    assert reply.json()["error"]["message"] == "internal error; see the server log"
    assert statuses == [500, 200, 500, 200]
    # One connection carried all four: the server did not drop it after each 500.
    assert len(local_ends) == 1


# -- auth and CORS --------------------------------------------------------------------------


def test_with_a_token_the_api_needs_the_bearer_token(client_for: Callable[..., Any]) -> None:
    test_client = client_for(api_token=TOKEN)
    body = {"question": QUESTION}
    missing = test_client.post("/api/answer", json=body)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert "bearer token" in missing.json()["error"]["message"]
    wrong = test_client.post("/api/answer", json=body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert test_client.get("/v1/models").status_code == 401
    assert test_client.get("/api/articles").status_code == 401
    right = test_client.post("/api/answer", json=body,
                             headers={"Authorization": f"Bearer {TOKEN}"})
    assert right.status_code == 200 and right.json()["grounded"] is True
    assert test_client.get("/healthz").status_code == 200


def test_without_a_token_the_api_is_open(client: Any) -> None:
    assert client.get("/api/articles").status_code == 200
    assert client.get("/v1/models").status_code == 200


def test_with_a_token_the_chat_window_asks_for_it_once(client_for: Callable[..., Any]) -> None:
    test_client = client_for(ui=True, api_token=TOKEN)
    page = test_client.get("/")
    assert page.status_code == 401
    assert 'name="token"' in page.text and "<form" in page.text
    assert test_client.get("/config").status_code == 401  # Gradio's own routes too
    refused = test_client.post("/auth/token", data={"token": "nope"}, follow_redirects=False)
    assert refused.status_code == 401 and "not right" in refused.text
    signed_in = test_client.post("/auth/token", data={"token": TOKEN}, follow_redirects=False)
    assert signed_in.status_code == 303
    assert TOKEN not in signed_in.headers["set-cookie"]
    assert "httponly" in signed_in.headers["set-cookie"].lower()
    page = test_client.get("/")  # the client kept the cookie
    assert page.status_code == 200 and "<gradio-app" in page.text.lower()


def test_cors_is_off_unless_origins_are_listed(client: Any,
                                               client_for: Callable[..., Any]) -> None:
    preflight = {"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"}
    closed = client.options("/api/answer", headers=preflight)
    assert "access-control-allow-origin" not in closed.headers
    test_client = client_for(cors_origins="http://localhost:3000, http://example.org")
    allowed = test_client.options("/api/answer", headers=preflight)
    assert allowed.headers["access-control-allow-origin"] == "http://localhost:3000"
    other = test_client.options("/api/answer", headers={**preflight, "Origin": "http://evil.test"})
    assert "access-control-allow-origin" not in other.headers


def test_no_route_allows_cross_origin_access_unless_configured(server: str) -> None:
    # Gradio's own CORS handling allowed any localhost origin, with credentials, on its routes.
    origin = {"Origin": "http://localhost:9999"}
    preflight = {**origin, "Access-Control-Request-Method": "POST"}
    for route in ("/", "/config", "/gradio_api/info", "/gradio_api/queue/join", "/api/articles",
                  "/api/answer", "/healthz", "/docs"):
        for reply in (httpx.get(f"{server}{route}", headers=origin, timeout=30),
                      httpx.options(f"{server}{route}", headers=preflight, timeout=30)):
            allowed = {k for k in reply.headers if k.startswith("access-control-allow-origin")}
            assert not allowed, (route, reply.request.method, dict(reply.headers))
            assert "access-control-allow-credentials" not in reply.headers


def test_configured_origins_reach_the_chat_window_routes_too(
        client_for: Callable[..., Any]) -> None:
    test_client = client_for(ui=True, cors_origins="http://localhost:3000")
    for route in ("/config", "/api/articles"):
        allowed = test_client.get(route, headers={"Origin": "http://localhost:3000"})
        assert allowed.headers["access-control-allow-origin"] == "http://localhost:3000"
        other = test_client.get(route, headers={"Origin": "http://localhost:9999"})
        assert "access-control-allow-origin" not in other.headers


# -- OpenAI-compatible endpoint ---------------------------------------------------------------


def test_openai_client_gets_an_answer_with_citations(server: str) -> None:
    from openai import OpenAI

    ai = OpenAI(base_url=f"{server}/v1", api_key="unused", max_retries=0)
    assert [m.id for m in ai.models.list()] == ["news-assistant"]
    completion = ai.chat.completions.create(model="news-assistant", messages=[
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": QUESTION}])
    content = completion.choices[0].message.content or ""
    assert "Netanyahu" in content and "[1]" in content
    extra = completion.model_extra or {}
    assert {c["article_id"] for c in extra["citations"]} == {SEED_ID}
    assert extra["assistant"]["answer"] == content


def test_openai_client_streams_chunks_ending_with_the_citations(server: str) -> None:
    from openai import OpenAI

    ai = OpenAI(base_url=f"{server}/v1", api_key="unused", max_retries=0)
    stream = ai.chat.completions.create(model="news-assistant", stream=True,
                                        messages=[{"role": "user", "content": QUESTION}])
    chunks = list(stream)
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"
    final = chunks[-1].model_extra or {}
    assert final["assistant"]["answer"] == text
    assert {c["article_id"] for c in final["citations"]} == {SEED_ID}


def test_raw_stream_ends_with_done(server: str) -> None:
    with httpx.stream("POST", f"{server}/v1/chat/completions", timeout=30, json={
            "model": "news-assistant", "stream": True,
            "messages": [{"role": "user", "content": QUESTION}]}) as reply:
        events = sse_events(reply.iter_lines())
    assert events[-1] == (None, "[DONE]")
    first = json.loads(events[0][1])
    assert first["choices"][0]["delta"]["role"] == "assistant"


def test_openai_client_with_the_token_as_api_key(client_for: Callable[..., Any]) -> None:
    import openai

    test_client = client_for(api_token=TOKEN)
    ai = openai.OpenAI(base_url="http://testserver/v1", api_key=TOKEN, http_client=test_client,
                       max_retries=0)
    completion = ai.chat.completions.create(model="news-assistant", messages=[
        {"role": "user", "content": QUESTION}])
    assert "Netanyahu" in (completion.choices[0].message.content or "")
    wrong = openai.OpenAI(base_url="http://testserver/v1", api_key="nope",
                          http_client=test_client, max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        wrong.chat.completions.create(model="news-assistant",
                                      messages=[{"role": "user", "content": QUESTION}])


# -- the chat window's function, from a script -------------------------------------------------


# Gradio's queue trips pandas deprecation warnings of its own.
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_gradio_client_calls_the_chat_function(server: str) -> None:
    from gradio_client import Client

    chat = Client(server, verbose=False, download_files=False)
    box, messages = chat.predict(QUESTION, None, None, api_name="/chat")
    assert box == ""
    assert [m["role"] for m in messages] == ["user", "assistant"]
    reply = json.dumps(messages[-1]["content"])
    assert "Netanyahu" in reply and SEED_TITLE in reply and "<mark>" in reply
    # The session keeps the conversation: a follow-up is answered in its light.
    _, messages = chat.predict("Where will they meet?", None, None, api_name="/chat")
    assert len(messages) == 4


def test_a_wrong_method_or_unknown_route_gets_the_json_error_with_the_chat_window_mounted(
        server: str) -> None:
    """Found by a hostile trial: with the chat window mounted at `/`, `PUT /api/answer` got
    Gradio's `{"detail": "Not Found"}` instead of a 405 in the API's error shape."""
    for method in ("PUT", "GET", "DELETE"):
        reply = httpx.request(method, f"{server}/api/answer", timeout=30)
        assert reply.status_code == 405 and reply.headers["allow"] == "POST"
        assert reply.json()["error"]["message"] == (
            f"{method} is not allowed on /api/answer; use POST")
    reply = httpx.post(f"{server}/v1/models", timeout=30)
    assert reply.status_code == 405 and "use GET" in reply.json()["error"]["message"]
    reply = httpx.get(f"{server}/api/nothing-here", timeout=30)
    assert reply.status_code == 404
    assert reply.json()["error"]["message"] == "no route GET /api/nothing-here; see /docs"
    assert httpx.get(f"{server}/api/articles", timeout=30).status_code == 200
    # The bare prefix, a trailing slash, HEAD and OPTIONS too (found in review).
    reply = httpx.get(f"{server}/api", timeout=30)
    assert reply.status_code == 404 and "see /docs" in reply.json()["error"]["message"]
    reply = httpx.post(f"{server}/api/answer/", json={"question": QUESTION}, timeout=30)
    assert reply.status_code == 404
    assert reply.json()["error"]["message"].endswith("did you mean /api/answer?")
    reply = httpx.options(f"{server}/api/answer", timeout=30)
    assert reply.status_code == 204 and reply.headers["allow"] == "POST, OPTIONS"
    reply = httpx.head(f"{server}/api/answer", timeout=30)
    assert reply.status_code == 405 and reply.headers["allow"] == "POST"
    assert httpx.head(f"{server}/api/articles", timeout=30).headers["allow"] == "GET"


def test_a_body_that_is_not_utf8_json_or_not_sent_as_json_is_named_so(server: str) -> None:
    reply = httpx.post(f"{server}/api/answer", content='{"question": "café"}'.encode("latin-1"),
                       headers={"content-type": "application/json"}, timeout=30)
    assert reply.status_code == 400 and "UTF-8" in reply.json()["error"]["message"]
    reply = httpx.post(f"{server}/api/answer", content=json.dumps({"question": QUESTION}),
                       headers={"content-type": "text/plain"}, timeout=30)
    assert reply.status_code == 422
    assert reply.json()["error"]["message"] == (
        "send the body as JSON with the header Content-Type: application/json (it came as "
        "text/plain)")
