"""What people are shown of an answer: sources numbered from 1, the short answer line once, the
"why this answer" scores, the conversation as Markdown, and usage counts."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from assistant.app import Services
from assistant.display import answer_view
from assistant.ui import answer_html
from tests.conftest import run_cli
from tests.test_api import QUESTION, SEED_ID, news_services_for

# The answer to this cites passage 3 only (measured on seeds + the test corpus on this day).
THIRD_PASSAGE_QUESTION = "Who is Riverton's public works director?"
TODAY = dt.date(2026, 12, 1)


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Services:
    return news_services_for(tmp_path_factory)


@pytest.fixture(scope="module")
def client(services: Services) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from assistant.api import create_app

    with TestClient(create_app(services, ui=False)) as test_client:
        yield test_client


def test_an_answer_citing_only_passage_3_shows_source_1_in_text_and_card(
        services: Services) -> None:
    answer = services.asker.ask(THIRD_PASSAGE_QUESTION, today=TODAY)
    assert answer.grounded and {c.n for c in answer.citations} == {3}
    html = answer_html(answer, services.retriever.body)
    line = re.search(r'<div class="answer">(.*?)</div>', html)
    assert line is not None and '<span class="cite">[1]</span>' in line.group(1)
    assert "[3]" not in html.split('<details class="why">')[0]
    numbers = re.findall(r'<span class="src-n">(\d+)</span>', html)
    assert numbers == ["1"]


def test_the_api_keeps_passage_numbers_and_says_which_source_number_is_shown(
        client: Any) -> None:
    answer = client.post("/api/answer", json={"question": THIRD_PASSAGE_QUESTION,
                                              "today": TODAY.isoformat()}).json()
    # Markers in `answer` and citations[].n point into `passages`; `source` is what is shown.
    assert "[3]" in answer["answer"]
    assert [(c["n"], c["source"]) for c in answer["citations"]] == [(3, 1)]
    assert [p["n"] for p in answer["passages"]][:3] == [1, 2, 3]
    assert answer["passages"][2]["article_id"] == answer["citations"][0]["article_id"]


def test_sources_are_numbered_in_the_order_the_answer_first_cites_them(
        services: Services) -> None:
    from assistant.types import Answer, Citation

    def cite(n: int, quote: str) -> Citation:
        return Citation(n, f"a{n}", f"Title {n}", None, None, "", 0, len(quote), quote, 0.5)

    answer = Answer("q?", "Rain fell [4]. Roads closed [2, 4]. Schools shut [2].", True,
                    "llm", citations=[cite(4, "Rain fell."), cite(2, "Roads closed."),
                                      cite(2, "Schools shut.")])
    view = answer_view(answer)
    assert view.line == "Rain fell [1]. Roads closed [2, 1]. Schools shut [2]."
    assert [(s.number, s.passage) for s in view.sources] == [(1, 4), (2, 2)]
    assert answer.to_dict()["citations"][0]["source"] == 1


def test_the_short_answer_line_is_shown_once_and_its_sentence_only_in_the_card(
        services: Services) -> None:
    answer = services.asker.ask(QUESTION, today=TODAY)
    sentence = "President Donald Trump has invited Israeli Prime Minister Benjamin Netanyahu"
    assert answer.short_answer and sentence in answer.answer  # the API keeps both
    html = answer_html(answer, services.retriever.body).split('<details class="why">')[0]
    line = re.search(r'<div class="answer">(.*?)</div>', html)
    assert line is not None and sentence not in line.group(1)
    assert answer.short_answer in line.group(1)
    quotes = re.findall(r'<span class="src-quote">(.*?)</span>', html)
    assert len(quotes) == 1 and sentence in quotes[0]
    # Shown once; the article view under "Show in the article" is folded away.
    assert re.sub(r'<div class="src-context">.*?</details>', "", html).count(sentence) == 1


def test_an_answer_without_a_short_answer_does_not_repeat_its_sentence_in_the_card(
        services: Services) -> None:
    answer = services.asker.ask("What did inspectors find on the Harbor Bridge?", today=TODAY)
    assert answer.grounded and answer.short_answer is None
    html = answer_html(answer, services.retriever.body).split('<details class="why">')[0]
    view = answer_view(answer)
    assert re.findall(r'<span class="src-quote">', html) == []
    quote = " ".join(answer.citations[0].quote.split())
    shown = re.sub(r'<div class="src-context">.*?</details>', "", html)
    assert shown.count(quote[:60]) == 1 and quote[:60] in view.line


def test_cli_prints_the_answer_line_and_numbered_sources_with_their_quotes(
        services: Services) -> None:
    store = str(services.settings.store)
    result = run_cli("ask", THIRD_PASSAGE_QUESTION, "--today", TODAY.isoformat(), "--store", store)
    assert result.returncode == 0, result.stderr
    first, *rest = result.stdout.splitlines()
    assert first.endswith("[1].") and "[3]" not in result.stdout
    sources = [line for line in rest if re.match(r"\[\d+\] ", line)]
    assert len(sources) == 1 and sources[0].startswith("[1] ")
    assert any(line.startswith("    “") for line in rest)  # the quote, under its source


def test_debug_shows_retrieval_and_answerer_scores_in_the_api(client: Any) -> None:
    answer = client.post("/api/answer", json={"question": QUESTION, "debug": True}).json()
    debug = answer["debug"]
    passages = debug["retrieval"]["passages"]
    assert [p["n"] for p in passages] == [p["n"] for p in answer["passages"]]
    top = passages[0]
    assert top["article_id"] == SEED_ID and top["dense_rank"] >= 1 and top["keyword_rank"] >= 1
    for key in ("dense_similarity", "keyword_score", "date_adjustment", "fused_score"):
        assert isinstance(top[key], float), key
    assert top["fused_score"] == pytest.approx(answer["passages"][0]["score"], abs=1e-4)
    assert set(top["features"]) >= {"dense", "keyword_norm", "rrf", "after_today", "in_window"}
    answerer = debug["answerer"]
    assert answerer["mode"] == "extractive" and answerer["refused"] is False
    assert answerer["confidence"] == answer["confidence"]
    assert 0 < answerer["threshold"] < answerer["confidence"]
    best = answerer["candidates"][0]
    assert best["text"] in " ".join(answer["citations"][0]["quote"].split())
    assert {"cosine", "lexical", "type_match"} <= set(best["features"])
    assert "top_logit" in answerer["confidence_features"]
    plain = client.post("/api/answer", json={"question": QUESTION}).json()
    assert "debug" not in plain  # only when asked for


def test_debug_of_a_refusal_shows_the_confidence_under_the_threshold(client: Any) -> None:
    answer = client.post("/api/answer", json={"question": "Who won the 2022 World Cup?",
                                              "debug": True}).json()
    assert answer["grounded"] is False
    gate = answer["debug"]["answerer"]
    assert gate["refused"] is True and gate["confidence"] < gate["threshold"]


def test_cli_ask_debug_prints_the_scores_as_json_and_as_text(services: Services) -> None:
    store = str(services.settings.store)
    result = run_cli("ask", QUESTION, "--json", "--debug", "--store", store)
    assert result.returncode == 0, result.stderr
    debug = json.loads(result.stdout)["debug"]
    assert debug["retrieval"]["passages"][0]["article_id"] == SEED_ID
    assert debug["answerer"]["candidates"]
    text = run_cli("ask", QUESTION, "--debug", "--store", store)
    assert "Why this answer" in text.stdout and "confidence" in text.stdout
    assert "dense 1/" in text.stdout


def test_chat_window_answer_has_a_collapsed_why_panel(services: Services) -> None:
    answer = services.asker.ask(QUESTION, debug=True)
    html = answer_html(answer, services.retriever.body)
    panel = html.split('<details class="why">', 1)[1]
    assert '<details class="why" open' not in html  # collapsed
    assert "Why this answer" in panel and "source 1" in panel and "confidence" in panel


def test_openai_replies_carry_usage_counted_in_words_by_the_extractive_answerer(
        client: Any) -> None:
    reply = client.post("/v1/chat/completions",
                        json={"messages": [{"role": "user", "content": QUESTION}]}).json()
    usage = reply["usage"]
    answer = reply["assistant"]
    words = len(QUESTION.split()) + sum(len(p["text"].split()) for p in answer["passages"])
    assert usage["prompt_tokens"] == words
    shown = re.sub(r"\s*\[\d+\]", "", reply["choices"][0]["message"]["content"])
    assert usage["completion_tokens"] == len(shown.split())
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_streamed_openai_reply_ends_with_usage(client: Any) -> None:
    with client.stream("POST", "/v1/chat/completions", json={
            "stream": True, "messages": [{"role": "user", "content": QUESTION}]}) as reply:
        chunks = [json.loads(line[5:]) for line in reply.iter_lines()
                  if line.startswith("data:") and "[DONE]" not in line]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["usage"]["completion_tokens"] > 0


def test_a_conversation_exports_as_markdown_with_sources_and_quotes(
        services: Services, client: Any) -> None:
    first = client.post("/api/answer", json={"question": THIRD_PASSAGE_QUESTION,
                                             "today": TODAY.isoformat()}).json()
    second = client.post("/api/answer", json={"question": "Who won the 2022 World Cup?"}).json()
    reply = client.post("/api/conversations/markdown", json={"answers": [first, second]})
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/markdown")
    assert "attachment" in reply.headers["content-disposition"]
    text = reply.text
    assert text.startswith("# Conversation with the news assistant")
    assert f"## {THIRD_PASSAGE_QUESTION.replace(chr(39), chr(39))}" in text.replace("\\'", "'")
    quote = " ".join(first["citations"][0]["quote"].split())
    assert f"   > {quote}" in text.replace("\\", "")
    assert "[1]" in text and "[3]" not in text  # numbered as shown
    assert "1. [" in text or "1. **" in text
    assert "*The articles don't say.*" in text


@pytest.mark.parametrize(("body", "status", "field"), [
    ({"answers": []}, 422, "answers"),
    ({"answers": [{"question": "q?", "answer": "a", "grounded": True}]}, 422, "answers[0].mode"),
    ({"answers": [{"question": " ", "answer": "a", "grounded": True, "mode": "extractive"}]},
     400, "answers[0].question"),
    ({"answers": [{"question": "q?", "answer": "a", "grounded": True, "mode": "extractive"}],
      "format": "pdf"}, 422, "format"),
])
def test_bad_export_requests_get_a_4xx_naming_the_field(client: Any, body: Any, status: int,
                                                         field: str) -> None:
    reply = client.post("/api/conversations/markdown", json=body)
    assert reply.status_code == status
    assert reply.json()["error"]["field"] == field


def test_openapi_schema_documents_the_new_routes_and_the_debug_flag(client: Any) -> None:
    schema = client.get("/openapi.json").json()
    for path in ("/api/feedback", "/api/conversations/markdown"):
        assert path in schema["paths"]
    assert "debug" in schema["components"]["schemas"]["AnswerRequest"]["properties"]
