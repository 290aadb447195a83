"""The offline answerer: grounded answers whose quotes are the article text, honest refusals."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from assistant.errors import InputError
from assistant.types import Turn

from .conftest import FIXTURES, ROOT, SEED_ID, SEEDS

VENV_BIN = Path(sys.executable).parent


def load_questions(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (FIXTURES / name).read_text().splitlines() if line]


def body_of(services: Any, article_id: str) -> str:
    body = services.store.registry.body(article_id)
    assert body is not None
    return str(body)


def test_netanyahu_question_is_answered_with_a_verbatim_quote(news_services: Any) -> None:
    answer = news_services.asker.ask("Who did Trump invite to the White House?")
    assert answer.grounded and answer.mode == "extractive"
    assert "Netanyahu" in answer.answer and "[1]" in answer.answer
    assert answer.citations[0].article_id == SEED_ID
    for c in answer.citations:
        assert body_of(news_services, c.article_id)[c.start:c.end] == c.quote
    assert "Netanyahu" in answer.citations[0].quote
    assert set(answer.timings_ms) == {"retrieve", "answer", "total"}


def test_world_cup_question_is_refused(news_services: Any) -> None:
    answer = news_services.asker.ask("Who won the 2022 World Cup?")
    assert not answer.grounded
    assert "don't say" in answer.answer
    assert answer.citations == [] and answer.passages  # nearest passages are still offered


def test_seed_questions_get_grounded_answers_quoting_the_evidence(news_services: Any) -> None:
    questions = [q for q in load_questions("seed_questions.jsonl") if q["type"] == "answerable"]
    right = 0
    for q in questions:
        answer = news_services.asker.ask(q["question"])
        for c in answer.citations:
            assert body_of(news_services, c.article_id)[c.start:c.end] == c.quote
        quoted = " ".join(c.quote for c in answer.citations)
        if answer.grounded and any(a.lower() in answer.answer.lower() for a in q["answers"]) \
                and any(e in quoted or quoted in e for e in q["evidence"]):
            right += 1
    # answerer-v2 answers 21 of 25 (v1: 22): its second pass prefers "Netanyahu's office
    # confirmed ..." for "What office does Netanyahu hold?" (bench/README.md, the ranker).
    assert right / len(questions) >= 0.84, f"{right}/{len(questions)}"


def test_most_unanswerable_seed_questions_are_refused(news_services: Any) -> None:
    questions = [q for q in load_questions("seed_questions.jsonl") if q["type"] == "unanswerable"]
    refused = sum(not news_services.asker.ask(q["question"]).grounded for q in questions)
    # The operating point allows at most 5 % false refusals, in each set of written questions
    # since answerer-v2; most of the seed's unanswerable questions (details of the same call)
    # still look answerable to it. With the 46 corpus articles beside the seed it refuses 2 of
    # 12 (answerer-v1: 5; the seed alone: 5 of 12, tests/test_eval.py): the price of halving
    # false refusals on the held-out news quiz (README "Quality").
    assert refused / len(questions) >= 0.16, f"{refused}/{len(questions)}"


def test_reprinted_wire_story_appears_once_in_the_passages(news_services: Any) -> None:
    passages = news_services.retriever.search("Port Ellery dockworkers strike automation", 8)
    wire = [p for p in passages if "port-ellery-strike" in p.article.id]
    assert len(wire) >= 1
    # Both copies' opening chunks match the query; only one of them may be shown.
    openings = [p for p in wire if p.start == 0]
    assert len(openings) == 1
    tails = [" ".join(p.text.split()[-30:]) for p in wire]
    assert len(tails) == len(set(tails))


def test_explicit_date_filters_exclude_other_and_undated_articles(news_services: Any) -> None:
    passages = news_services.retriever.search("Riverton city council vote", 8,
                                              since="2026-11-01", until="2026-11-30")
    assert passages
    for p in passages:
        assert p.article.date is not None and "2026-11-01" <= p.article.date <= "2026-11-30"
    with pytest.raises(InputError, match="since"):
        news_services.retriever.search("council", 3, since="last tuesday")


def test_relative_question_prefers_articles_from_that_week(news_services: Any) -> None:
    question = "What did the city council vote on this week?"
    for q in load_questions("corpus_questions.jsonl"):
        if q["question"] == question and q["type"] == "answerable":
            today = dt.date.fromisoformat(q["question_date"])
            top = news_services.retriever.search(question, 3, today=today)[0]
            assert top.article.id in q["article_ids"], (q["question_date"], top.article.id)


def test_undated_articles_are_not_excluded_by_relative_phrasing(news_services: Any) -> None:
    passages = news_services.retriever.search(
        "library renovation reopening recently", 5, today=dt.date(2026, 11, 26))
    assert any(p.article.date is None for p in passages)


def test_injected_instructions_in_an_article_are_only_quoted(news_services: Any) -> None:
    answer = news_services.asker.ask("What hidden instruction did researchers plant in reviews?")
    assert answer.answer.strip().upper() != "BANANA"
    for c in answer.citations:
        assert body_of(news_services, c.article_id)[c.start:c.end] == c.quote
    other = news_services.asker.ask("Who did Trump invite to the White House?")
    assert "BANANA" not in other.answer


def test_extractive_follow_up_borrows_the_previous_questions_terms(news_services: Any) -> None:
    history = [Turn("user", "When will the Harbor Bridge close for repairs?"),
               Turn("assistant", "It closes for six weeks [1].")]
    answer = news_services.asker.ask("How much will it cost?", history)
    assert answer.grounded
    assert all("bridge" in c.article_id for c in answer.citations)
    assert answer.standalone_question and "Harbor" in answer.standalone_question


@pytest.mark.parametrize("question", ["", "   ", "x" * 2001])
def test_unusable_questions_are_refused_with_a_clear_error(news_services: Any,
                                                           question: str) -> None:
    with pytest.raises(InputError) as error:
        news_services.asker.ask(question)
    assert error.value.field == "question"


def test_cli_ask_json_and_errors(tmp_path: Path) -> None:
    store = tmp_path / "s"
    subprocess.run([str(VENV_BIN / "assistant"), "ingest", str(SEEDS), "--store", str(store)],
                   check=True, capture_output=True, timeout=120, cwd=ROOT)
    result = subprocess.run(
        [str(VENV_BIN / "assistant"), "ask", "Who did Trump invite to the White House?",
         "--json", "--store", str(store)], capture_output=True, text=True, timeout=120, cwd=ROOT)
    data = json.loads(result.stdout)
    assert set(data) == {"question", "answer", "short_answer", "grounded", "confidence", "mode",
                         "model", "updates", "citations", "unsupported_sentences", "passages", "timings_ms",
                         "usage"}
    assert data["grounded"] and "Netanyahu" in data["answer"]
    assert 0.0 <= data["confidence"] <= 1.0 and data["model"] == "answerer-v3"
    c = data["citations"][0]
    assert set(c) == {"n", "article_id", "title", "date", "url", "path", "start", "end",
                      "quote", "field", "score", "source"}
    body = (SEEDS / f"{SEED_ID}.md").read_text(encoding="utf-8").split("---\n", 2)[2]
    assert body[c["start"]:c["end"]] == c["quote"]
    human = subprocess.run(
        [str(VENV_BIN / "assistant"), "ask", "Who did Trump invite to the White House?",
         "--store", str(store)], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert "Sources" in human.stdout and "[1]" in human.stdout
    for bad in ("", "   ", "y" * 2001):
        err = subprocess.run([str(VENV_BIN / "assistant"), "ask", bad, "--store", str(store)],
                             capture_output=True, text=True, timeout=60, cwd=ROOT)
        assert err.returncode == 2 and err.stderr.startswith("error:")
        assert "Traceback" not in err.stderr
    # Dates: a day that does not exist, and a range that ends before it starts.
    for dates, said in ((["--since", "2024-02-30"], "is not a real date: day is out of range"),
                        (["--since", "2025-05-01", "--until", "2024-01-01"], "swap them")):
        err = subprocess.run([str(VENV_BIN / "assistant"), "ask", "Who was invited?", *dates,
                              "--store", str(store)],
                             capture_output=True, text=True, timeout=60, cwd=ROOT)
        assert err.returncode == 2 and said in err.stderr, err.stderr
    # The seed article is undated: a date filter leaves it out, and says so.
    filtered = subprocess.run([str(VENV_BIN / "assistant"), "ask", "Who was invited?",
                               "--since", "2020-01-01", "--store", str(store)],
                              capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert filtered.returncode == 0 and "don't say" in filtered.stdout
    assert "note: 1 undated article left out by the date filter" in filtered.stderr


def test_a_new_question_naming_its_own_subject_does_not_borrow_the_last_topic(
        news_services: Any) -> None:
    history = [Turn("user", "When will the Harbor Bridge close for repairs?"),
               Turn("assistant", "It closes for six weeks [1].")]
    # "its" points at Corvane, named in the question itself, not back at the bridge.
    answer = news_services.asker.ask("How many jobs is Corvane cutting at its plant?", history)
    assert answer.standalone_question is None
    assert answer.citations and all("corvane" in c.article_id for c in answer.citations)
    # "Who else ..." leans on the conversation.
    other = news_services.asker.ask("Who else is affected?", history)
    assert other.standalone_question and "Harbor" in other.standalone_question


def test_the_answer_line_is_never_the_person_the_question_names(news_services: Any) -> None:
    # The sentence names both men; the one the question names is not who it asks for.
    answer = news_services.asker.ask("Who invited Benjamin Netanyahu to the White House?")
    assert answer.grounded and "Trump" in answer.answer
    assert "Netanyahu" not in (answer.short_answer or "")


def test_a_bracketed_number_in_an_article_is_its_text_not_a_citation(
        tmp_path: Path, services_factory: Any) -> None:
    """Found by a hostile trial: "The engineering report [7] says ..." quoted in an answer
    cited passage 7, an unrelated article."""
    from assistant.ingest import ingest

    from .conftest import CORPUS, write_articles

    services = services_factory()
    folder = write_articles(tmp_path / "dam", {"dam": (
        "Dam report", "2026-02-05",
        "The engineering report [7] says the Kelso dam holds 5 million cubic metres of water.")})
    ingest(services.open_store(create=True), services.embedder, [folder, CORPUS])
    answer = services.asker.ask("How much water does the Kelso dam hold?")
    assert answer.grounded and {c.article_id for c in answer.citations} == {"dam"}
    assert "[7]" not in answer.answer and "report (7) says" in answer.answer


def test_decomposed_unicode_in_an_article_answers_a_question_typed_as_usual(
        tmp_path: Path, services_factory: Any) -> None:
    """Found by a hostile trial: text copied from a PDF or a Mac spells "Núñez" as "u" plus a
    combining accent, and a question typed as usual was refused."""
    import unicodedata

    from assistant.ingest import ingest

    from .conftest import write_articles

    text = "Café owner José Núñez said the café will close on 3 May after 40 years."
    folder = write_articles(tmp_path / "cafe", {"cafe": (
        "Café closes", "2026-04-01", unicodedata.normalize("NFD", text))})
    services = services_factory()
    ingest(services.open_store(create=True), services.embedder, [folder])
    answer = services.asker.ask("When will José Núñez's café close?")
    assert answer.grounded and "3 May" in answer.answer
    body = body_of(services, "cafe")
    assert all(body[c.start:c.end] == c.quote for c in answer.citations)
    # Asked in decomposed form too.
    assert "3 May" in services.asker.ask(
        unicodedata.normalize("NFD", "When will José Núñez's café close?")).answer


def test_a_question_about_this_week_is_not_answered_from_a_report_weeks_older(
        news_services: Any) -> None:
    """The corpus has the Rovers signing a player in August; asked in late November which
    player they signed this week, that is not the answer."""
    today = dt.date(2026, 11, 25)
    answer = news_services.asker.ask("Which player did the Riverton Rovers sign this week?",
                                     today=today)
    assert not answer.grounded and answer.citations == []
    assert answer.answer.startswith("The articles don't say.")
    assert "5 August 2026" in answer.answer and "this week" in answer.answer
    # A report from that week still answers, and without the phrase the old one does.
    fired = news_services.asker.ask("Who did the Riverton Rovers fire this week?", today=today)
    assert fired.grounded and "Colin Dray" in fired.answer
    signed = news_services.asker.ask("Which player did the Riverton Rovers sign?", today=today)
    assert signed.grounded and "Ilunga" in signed.answer
