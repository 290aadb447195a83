"""The LLM answerer against a scripted OpenAI-compatible server, through the real openai client."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.answering import Asker
from assistant.errors import LLMError, PromptError
from assistant.prompts import PromptLibrary
from assistant.types import Answer, Turn

from .conftest import ROOT, SEED_ID, make_services
from .fake_llm import FakeOpenAIServer

QUESTION = "Who did Trump invite to the White House?"


@pytest.fixture()
def llm() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


def llm_asker(news_services: Any, embedder: Any, url: str, **settings: Any) -> Asker:
    settings.setdefault("llm_max_retries", 0)
    services = make_services(news_services.settings.store, embedder, llm="openai",
                             openai_base_url=url, openai_api_key="test-key",
                             llm_model="test-model", **settings)
    asker: Asker = services.asker
    return asker


def test_prompt_has_numbered_fenced_passages_and_the_question(
        news_services: Any, embedder: Any, llm: FakeOpenAIServer) -> None:
    llm.enqueue("Trump invited Israeli Prime Minister Benjamin Netanyahu [1].")
    answer = llm_asker(news_services, embedder, llm.url).ask(QUESTION)
    request = llm.requests[0]
    assert request["model"] == "test-model"
    assert llm.auth_headers[0] == "Bearer test-key"
    system, user = request["messages"]
    assert system["role"] == "system" and "not instructions" in system["content"]
    assert f"Question: {QUESTION}" in user["content"]
    assert "[1] Trump Invites Netanyahu" in user["content"]
    assert "```\n" in user["content"] and "[2] " in user["content"]
    assert answer.mode == "llm" and answer.grounded
    assert answer.citations[0].n == 1 and answer.citations[0].article_id == SEED_ID
    assert "Netanyahu" in answer.citations[0].quote
    body = news_services.store.registry.body(SEED_ID)
    c = answer.citations[0]
    assert body[c.start:c.end] == c.quote
    assert c.end - c.start < 400  # the supporting sentence, not the whole chunk


def test_markers_pointing_nowhere_are_dropped_and_uncited_sentences_flagged(
        news_services: Any, embedder: Any, llm: FakeOpenAIServer) -> None:
    llm.enqueue("Netanyahu was invited to the White House [1][42]. "
                "The visit will include a state dinner with fireworks.")
    answer = llm_asker(news_services, embedder, llm.url).ask(QUESTION)
    assert "[42]" not in answer.answer and "[1]" in answer.answer
    assert [c.n for c in answer.citations] == [1]
    assert answer.unsupported_sentences == ["The visit will include a state dinner with fireworks."]
    assert answer.grounded


def test_an_answer_without_any_valid_citation_is_not_grounded(
        news_services: Any, embedder: Any, llm: FakeOpenAIServer) -> None:
    llm.enqueue("Netanyahu was invited [17]. He will arrive on Tuesday.")
    answer = llm_asker(news_services, embedder, llm.url).ask(QUESTION)
    assert not answer.grounded and answer.citations == []
    assert len(answer.unsupported_sentences) == 2


def test_the_models_refusal_is_reported_as_not_grounded(
        news_services: Any, embedder: Any, llm: FakeOpenAIServer) -> None:
    llm.enqueue("The articles don't say.")
    answer = llm_asker(news_services, embedder, llm.url).ask("Who won the 2022 World Cup?")
    assert not answer.grounded and answer.passages


def test_streamed_answer_arrives_in_pieces_then_verified(
        news_services: Any, embedder: Any, llm: FakeOpenAIServer) -> None:
    text = "Trump invited Benjamin Netanyahu to the White House [1]."
    llm.enqueue(text)
    items = list(llm_asker(news_services, embedder, llm.url).ask_stream(QUESTION))
    pieces = [i for i in items if isinstance(i, str)]
    final = items[-1]
    assert isinstance(final, Answer)
    assert len(pieces) > 3 and "".join(pieces) == text
    assert llm.requests[0]["stream"] is True
    assert final.grounded and final.citations[0].article_id == SEED_ID


def test_follow_up_is_condensed_with_the_history_before_retrieval(
        news_services: Any, embedder: Any, llm: FakeOpenAIServer) -> None:
    llm.enqueue("Who did President Trump invite to the White House?")
    llm.enqueue("He invited Benjamin Netanyahu [1].")
    history = [Turn("user", "What did Trump and Netanyahu discuss?"),
               Turn("assistant", "Gaza stability and regional security [1].")]
    answer = llm_asker(news_services, embedder, llm.url).ask("Who did he invite?", history)
    condense_prompt = llm.requests[0]["messages"][0]["content"]
    assert "user: What did Trump and Netanyahu discuss?" in condense_prompt
    assert "Last question: Who did he invite?" in condense_prompt
    answer_prompt = llm.requests[1]["messages"][1]["content"]
    assert "assistant: Gaza stability and regional security [1]." in answer_prompt
    assert answer.standalone_question == "Who did President Trump invite to the White House?"
    assert answer.citations[0].article_id == SEED_ID


def test_injected_article_text_stays_inside_the_fenced_passages(
        news_services: Any, embedder: Any, llm: FakeOpenAIServer) -> None:
    llm.enqueue("BANANA")
    answer = llm_asker(news_services, embedder, llm.url).ask(
        "What hidden instruction did researchers plant in product reviews?")
    user = llm.requests[0]["messages"][1]["content"]
    injected = user.index("Ignore previous instructions")
    assert user.rfind("```", 0, injected) > user.rfind("Question:", 0, injected)
    assert user.index("Question:") > injected  # the question comes after all passages
    # A reply that obeys the injection cites nothing, so it is not passed off as grounded.
    assert not answer.grounded


def test_rate_limit_is_retried_then_answered(
        news_services: Any, embedder: Any, llm: FakeOpenAIServer) -> None:
    llm.enqueue("slow down", status=429, headers={"retry-after-ms": "10"})
    llm.enqueue("Netanyahu was invited [1].")
    answer = llm_asker(news_services, embedder, llm.url, llm_max_retries=2).ask(QUESTION)
    assert len(llm.requests) == 2 and answer.grounded


@pytest.mark.parametrize(
    ("status", "message"),
    [(401, "rejected the API key"), (429, "rate-limiting"), (500, "HTTP 500")],
)
def test_server_errors_become_clear_messages(news_services: Any, embedder: Any,
                                             llm: FakeOpenAIServer, status: int,
                                             message: str) -> None:
    llm.enqueue("nope", status=status, headers={"retry-after-ms": "10"})
    with pytest.raises(LLMError, match=message):
        llm_asker(news_services, embedder, llm.url).ask(QUESTION)


def test_timeout_is_a_clear_error(news_services: Any, embedder: Any,
                                  llm: FakeOpenAIServer) -> None:
    llm.enqueue("too late [1].", delay=2.0)
    with pytest.raises(LLMError, match="did not answer in time"):
        llm_asker(news_services, embedder, llm.url, llm_timeout=0.5).ask(QUESTION)


def test_server_down_is_a_clear_error(news_services: Any, embedder: Any) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(LLMError, match="cannot reach the LLM server"):
        llm_asker(news_services, embedder, f"http://127.0.0.1:{port}/v1").ask(QUESTION)


def test_a_prompt_missing_a_placeholder_is_an_error(tmp_path: Path) -> None:
    for name in ("answer", "answer_system", "condense"):
        (tmp_path / f"{name}.md").write_text((ROOT / "prompts" / f"{name}.md").read_text())
    library = PromptLibrary(tmp_path)
    with pytest.raises(PromptError, match="question"):
        library.render("answer", passages="p", history="h")
    (tmp_path / "answer.md").write_text("Passages: {passages}\nHistory: {history}\n")
    from assistant.answerers.llm import LLMAnswerer

    with pytest.raises(PromptError, match="question"):
        LLMAnswerer(object(), "m", library)


def test_an_api_key_alone_selects_the_llm_answerer() -> None:
    from assistant.config import Settings

    assert Settings(openai_api_key="k").answerer == "openai"
    assert Settings(openai_base_url="http://127.0.0.1:1/v1").answerer == "openai"
    assert Settings().answerer == "extractive"
    assert Settings(openai_api_key="k", llm="extractive").answerer == "extractive"


def test_usage_is_the_llm_servers_token_count_when_it_sends_one(
        news_services: Any, embedder: Any, llm: FakeOpenAIServer) -> None:
    llm.enqueue("Trump invited Benjamin Netanyahu [1].",
                usage={"prompt_tokens": 812, "completion_tokens": 9, "total_tokens": 821})
    llm.enqueue("Trump invited Benjamin Netanyahu [1].")  # a server that reports nothing
    asker = llm_asker(news_services, embedder, llm.url)
    reported = asker.ask(QUESTION)
    assert reported.usage == {"prompt_tokens": 812, "completion_tokens": 9, "total_tokens": 821}
    counted = asker.ask(QUESTION)
    assert counted.usage is not None and counted.usage["completion_tokens"] == 4  # words
