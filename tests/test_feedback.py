"""Ratings of answers: kept with the index, never lost, and turned into `assistant eval` fixtures."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.app import Services
from assistant.feedback import FEEDBACK_FILE, FeedbackLog
from tests.conftest import run_cli
from tests.test_api import QUESTION, ROOT, SEED_ID, TOKEN, ingested_services, sibling

REFUSED = "Who won the 2022 World Cup?"


@pytest.fixture(scope="module")
def seed_services(tmp_path_factory: pytest.TempPathFactory) -> Services:
    return ingested_services(tmp_path_factory.mktemp("feedback") / "store", [ROOT / "seeds"])


@pytest.fixture()
def services(seed_services: Services, tmp_path: Path) -> Iterator[Services]:
    """The seed store with no ratings yet (each test starts from an empty feedback file)."""
    log = seed_services.settings.store / FEEDBACK_FILE
    log.unlink(missing_ok=True)
    yield seed_services
    log.unlink(missing_ok=True)


@pytest.fixture()
def client(services: Services) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from assistant.api import create_app

    with TestClient(create_app(services, ui=False)) as test_client:
        yield test_client


def rate(client: Any, question: str, rating: str, note: str | None = None,
         date: str = "2026-12-01") -> dict[str, Any]:
    answer = client.post("/api/answer", json={"question": question}).json()
    body: dict[str, Any] = {"rating": rating, "answer": answer, "date": date}
    if note is not None:
        body["note"] = note
    reply = client.post("/api/feedback", json=body)
    assert reply.status_code == 201, reply.text
    return dict(reply.json())


def read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def test_a_rating_posted_to_the_api_is_kept_with_the_index(client: Any,
                                                            services: Services) -> None:
    stored = rate(client, QUESTION, "down", note="Benjamin Netanyahu")
    assert stored["rating"] == "down" and stored["note"] == "Benjamin Netanyahu"
    [item] = FeedbackLog(services.settings.store).all()
    assert item.id == stored["id"] and item.question == QUESTION and item.mode == "extractive"
    assert item.question_date == "2026-12-01" and item.grounded
    assert item.citations[0].article_id == SEED_ID and "Netanyahu" in item.citations[0].quote


def test_ratings_survive_reingest_and_rebuild(client: Any, services: Services) -> None:
    rate(client, QUESTION, "up")
    rate(client, REFUSED, "down")
    store = str(services.settings.store)
    for args in (["ingest", str(ROOT / "seeds"), "--store", store],
                 ["ingest", str(ROOT / "seeds"), "--store", store, "--rebuild"]):
        result = run_cli(*args)
        assert result.returncode == 0, result.stderr
        ratings = FeedbackLog(services.settings.store).all()
        assert [r.question for r in ratings] == [QUESTION, REFUSED]


def test_a_thumbs_down_with_the_right_answer_becomes_a_question_eval_accepts(
        client: Any, services: Services, tmp_path: Path) -> None:
    rate(client, QUESTION, "down", note="Israeli Prime Minister Benjamin Netanyahu")
    rate(client, REFUSED, "up")  # refusing was right: an unanswerable question
    fixtures, review = tmp_path / "fixtures.jsonl", tmp_path / "review.jsonl"
    store = str(services.settings.store)
    result = run_cli("feedback", "export", "--fixtures", str(fixtures), "--review", str(review),
                     "--store", store)
    assert result.returncode == 0, result.stderr
    assert "wrote 2 questions" in result.stdout
    corrected, unanswerable = read_lines(fixtures)
    assert corrected["question"] == QUESTION and corrected["type"] == "answerable"
    assert corrected["answers"] == ["Israeli Prime Minister Benjamin Netanyahu"]
    assert corrected["article_ids"] == [SEED_ID]
    assert unanswerable["question"] == REFUSED and unanswerable["type"] == "unanswerable"
    assert read_lines(review) == []

    scored = run_cli("eval", str(fixtures), "--store", store, "--json")
    assert scored.returncode == 0, scored.stderr
    summary = json.loads(scored.stdout)
    assert summary["n"] == 2 and summary["n_answerable"] == 1


def test_thumbs_down_with_no_note_or_on_a_refusal_goes_to_review(
        client: Any, services: Services, tmp_path: Path) -> None:
    rate(client, REFUSED, "down")
    rate(client, QUESTION, "down")
    fixtures, review = tmp_path / "f.jsonl", tmp_path / "r.jsonl"
    result = run_cli("feedback", "export", "--fixtures", str(fixtures), "--review", str(review),
                     "--store", str(services.settings.store))
    assert result.returncode == 0, result.stderr
    assert read_lines(fixtures) == []
    refused, wrong = read_lines(review)
    assert refused["question"] == REFUSED and "refused" in refused["review"]
    assert wrong["question"] == QUESTION and "no note" in wrong["review"]
    assert refused["answers"] == [] and refused["feedback_id"]


def test_a_note_found_in_no_article_goes_to_review(client: Any, services: Services) -> None:
    from assistant.feedback import export

    rate(client, QUESTION, "down", note="Queen Elizabeth the Second")
    registry = services.store.registry
    exported = export(FeedbackLog(services.settings.store).all(), registry.ready_articles(),
                      registry.body)
    assert exported.fixtures == []
    assert "in no article" in exported.review[0]["review"]


def test_the_newest_rating_of_a_question_wins(client: Any, services: Services,
                                              tmp_path: Path) -> None:
    rate(client, QUESTION, "down")
    rate(client, QUESTION, "up")
    fixtures = tmp_path / "f.jsonl"
    result = run_cli("feedback", "export", "--fixtures", str(fixtures), "--store",
                     str(services.settings.store))
    assert result.returncode == 0, result.stderr
    [kept] = read_lines(fixtures)
    assert kept["rating"] == "up" and kept["answers"] == ["Israeli Prime Minister Benjamin Netanyahu"]


def test_export_never_overwrites_a_file_of_other_questions(services: Services,
                                                           tmp_path: Path) -> None:
    mine = tmp_path / "mine.jsonl"
    mine.write_text((ROOT / "tests/fixtures/seed_questions.jsonl").read_text(), encoding="utf-8")
    before = mine.read_text()
    result = run_cli("feedback", "export", "--fixtures", str(mine), "--store",
                     str(services.settings.store))
    assert result.returncode == 2 and "not exported from feedback" in result.stderr
    assert mine.read_text() == before


def test_feedback_stats_summarises_the_ratings(client: Any, services: Services) -> None:
    rate(client, QUESTION, "down", note="Benjamin Netanyahu")
    rate(client, REFUSED, "down")
    rate(client, QUESTION + " Again?", "up")
    result = run_cli("feedback", "stats", "--json", "--store", str(services.settings.store))
    assert result.returncode == 0, result.stderr
    stats = json.loads(result.stdout)
    assert (stats["ratings"], stats["up"], stats["down"], stats["down_with_note"]) == (3, 1, 2, 1)
    assert stats["refusals_rated"]["down"] == 1
    assert (stats["fixtures"], stats["to_review"]) == (2, 1)
    text = run_cli("feedback", "stats", "--store", str(services.settings.store))
    assert "3 (1 up, 2 down" in text.stdout


def test_a_line_cut_short_by_a_crash_loses_only_itself(client: Any, services: Services) -> None:
    rate(client, QUESTION, "up")
    path = services.settings.store / FEEDBACK_FILE
    with path.open("a", encoding="utf-8") as out:
        out.write('{"id": "cut", "rating": "do')  # the process died mid-write
    rate(client, REFUSED, "up")
    log = FeedbackLog(services.settings.store)
    assert [f.question for f in log.all()] == [QUESTION, REFUSED] and log.unreadable == 1


@pytest.mark.parametrize(("change", "status", "field"), [
    ({"rating": "sideways"}, 422, "rating"),
    ({"rating": None}, 422, "rating"),
    ({"note": "x" * 1001}, 400, "note"),
    ({"date": "yesterday"}, 400, "date"),
    ({"answer": None}, 422, "answer"),
    ({"answer": {"question": QUESTION}}, 422, "answer.answer"),
    ({"answer": {"question": "", "answer": "a", "grounded": True, "mode": "extractive"}},
     400, "answer.question"),
    ({"answer": {"question": "q?", "answer": "a \ud800", "grounded": True,
                 "mode": "extractive"}}, 400, "answer.answer"),
    ({"answer": {"question": "q?", "answer": "a", "grounded": True, "mode": "extractive",
                 "citations": [{"n": 1}]}}, 422, "answer.citations[0].article_id"),
    ({"answer": {"question": "q?", "answer": "a", "grounded": True, "mode": "extractive",
                 "short_answer": "\udfff"}}, 400, "answer.short_answer"),
    ({"answer": {"question": "q?", "answer": "a", "grounded": True, "mode": "extractive",
                 "citations": [{"n": 1, "article_id": "x", "quote": "q", "start": 0, "end": 1,
                                "title": "T \ud83d"}]}}, 400, "answer.citations[0].title"),
    ({"stars": 5}, 422, "stars"),
])
def test_bad_ratings_get_a_4xx_naming_the_field_and_store_nothing(
        client: Any, services: Services, change: dict[str, Any], status: int,
        field: str) -> None:
    body: dict[str, Any] = {"rating": "up", "answer": {
        "question": QUESTION, "answer": "Netanyahu [1].", "grounded": True,
        "mode": "extractive", "citations": []}}
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None or k == "rating"}
    # Sent as text: a lone surrogate is valid in JSON's \\u escapes but not in UTF-8 bytes.
    reply = client.post("/api/feedback", content=json.dumps(body),
                        headers={"content-type": "application/json"})
    assert reply.status_code == status, reply.text
    assert reply.json()["error"]["field"] == field
    assert FeedbackLog(services.settings.store).all() == []


def test_with_a_token_rating_and_export_need_the_bearer_token(services: Services) -> None:
    from fastapi.testclient import TestClient

    from assistant.api import create_app

    body = {"rating": "up", "answer": {"question": QUESTION, "answer": "Netanyahu.",
                                       "grounded": True, "mode": "extractive"}}
    with TestClient(create_app(sibling(services, api_token=TOKEN), ui=False)) as guarded:
        for path, payload in (("/api/feedback", body),
                              ("/api/conversations/markdown", {"answers": [body["answer"]]})):
            assert guarded.post(path, json=payload).status_code == 401
            ok = guarded.post(path, json=payload, headers={"Authorization": f"Bearer {TOKEN}"})
            assert ok.status_code in (200, 201), ok.text
    assert len(FeedbackLog(services.settings.store).all()) == 1


def test_a_rating_over_64_kib_is_refused(client: Any, services: Services) -> None:
    body = {"rating": "up", "note": "n" * 70_000, "answer": {
        "question": QUESTION, "answer": "a", "grounded": True, "mode": "extractive"}}
    assert client.post("/api/feedback", json=body).status_code == 413
    assert FeedbackLog(services.settings.store).all() == []


def test_a_thumb_changed_or_taken_back_in_the_chat_window_leaves_no_stale_rating(
        services: Services) -> None:
    import datetime as dt

    from assistant.ui import Conversation, rate

    answer = services.asker.ask(QUESTION)
    conversation = Conversation(answers={1: (answer, dt.date(2026, 12, 1))})
    log = FeedbackLog(services.settings.store)
    up, conversation = rate(services, conversation, [1, 0], True)
    assert up is not None and [f.rating for f in log.all()] == ["up"]
    down, conversation = rate(services, conversation, [1, 0], False)  # changed their mind
    assert down is not None and down.id == up.id
    assert [f.rating for f in log.all()] == ["down"]
    assert conversation is not None and conversation.rating_for_note == down.id
    taken_back, conversation = rate(services, conversation, [1, 0], "")  # clicked it again
    assert taken_back is None and log.all() == []
    assert conversation is not None and conversation.rating_for_note is None
    # The file keeps every version (append-only); reading it leaves the withdrawn one out.
    assert len(log.path.read_text(encoding="utf-8").splitlines()) == 3


def test_a_short_note_is_looked_for_in_sentences_about_the_question() -> None:
    """Found by a hostile trial: the note "12" exported a question whose expected articles
    included one that only had "section 12"."""
    import datetime as dt

    from assistant.feedback import export, new_feedback
    from assistant.types import ArticleMeta

    bodies = {"fire": "The death toll from the fire has risen to 12, the chief said.",
              "budget": "The council approved the budget under section 12 of the charter."}
    articles = {a: ArticleMeta(a, a.title(), f"{a}.md", "h") for a in bodies}
    rating = new_feedback("down", "How many people died in the fire?", "Seven [1].", True,
                          "extractive", dt.date(2026, 3, 5), [], note="12")
    (line,) = export([rating], articles, bodies.get).fixtures
    assert line["article_ids"] == ["fire"] and line["answers"] == ["12"]
