"""`assistant eval`: fixture parsing, answer normalisation, metric arithmetic, CLI and floors.

The end-to-end tests use the real ONNX model and a real Chroma store in a temporary folder.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from assistant.cli import main
from assistant.config import Settings
from assistant.errors import ConfigError, InputError
from assistant.evaluate import (
    EvalReport,
    FixtureError,
    Question,
    best_token_f1,
    build_judge,
    contains_answer,
    corpus_services,
    evaluate,
    load_questions,
    normalize_answer,
    parse_question,
    parse_verdict,
    score_question,
    summarize,
    token_f1,
)
from assistant.report import render_html
from assistant.types import Answer, ArticleMeta, Citation, Passage

from .fake_llm import FakeOpenAIServer

# Regression floors for the extractive answerer, a few points under what was measured on
# 2026-12-02 with the learned models answerer-v2 (`assistant eval <set> --corpus <dir> --json`,
# extractive, k=8, int8 MiniLM, refusal at the trained operating point):
#   seed (37 q):    hit@1 1.000, accuracy 0.840, citation precision 1.000, refusal recall 0.417,
#                   false refusals 0.000
#   corpus (173 q): hit@1 0.881, hit@5 1.000, mrr@10 0.932, accuracy 0.815, citation precision
#                   0.826, refusal recall 0.227, false refusals 0.000
#                   (answers that also cite a story's earlier reports, which the fixtures do
#                   not list as supporting, count against precision)
# answerer-v1 measured seed 0.880 / 0.500 and corpus 0.801 / 0.227. answerer-v2 answers one
# seed question less ("What office does Netanyahu hold?" takes "Netanyahu's office confirmed
# ...") and refuses one unanswerable seed question less, for +0.06 accuracy and half the false
# refusals on the held-out news quiz (README "Quality"): the seed floors were lowered by that
# one question each, on purpose.
# Both sets are training data of answerer-v2 (held-out figures: README "Quality"). Refusal
# recall is lower than the hand-set threshold of 0.5 gave (0.917 / 0.591): the learned operating
# point allows at most 5 % false refusals, where the old one refused 4-8 % of answerable
# questions on these sets and 19-22 % on paraphrased news-quiz questions. The ceilings on
# false refusals below are the other half of that trade.
# On these small sets one question moves a figure by 0.7-4 points, so each floor allows about
# one or two questions. Raise the floors when the answerer improves, and treat a drop below
# them as a regression to explain, not a number to lower.
FLOORS: dict[str, dict[str, float]] = {
    "seed": {"retrieval.hit@1": 0.95, "answer.accuracy": 0.80, "citations.valid": 1.0,
             "citations.precision": 0.95, "refusal.recall": 0.33},
    "corpus": {"retrieval.hit@1": 0.86, "retrieval.hit@5": 0.98, "retrieval.mrr@10": 0.91,
               "answer.accuracy": 0.77, "citations.valid": 1.0, "citations.precision": 0.80,
               "refusal.recall": 0.18},
}
# Refusing answerable questions is the failure users notice most; these are ceilings.
CEILINGS: dict[str, dict[str, float]] = {
    "seed": {"refusal.false_refusal_rate": 0.08},
    "corpus": {"refusal.false_refusal_rate": 0.05},
}

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
SEEDS = ROOT / "seeds"
SUMMARY_SHAPE = {
    "retrieval": {"hit@1", "hit@5", "hit@10", "mrr@10"},
    "answer": {"accuracy", "line_accuracy", "token_f1", "words"},
    "citations": {"valid", "precision"},
    "refusal": {"precision", "recall", "false_refusal_rate"},
    "latency_ms": {"p50", "p95"},
}
# Keep tests on the offline answerer and off any LLM a developer has configured.
CLI_ENV = {"ASSISTANT_LLM": "extractive", "OPENAI_API_KEY": "", "OPENAI_BASE_URL": "",
           "ASSISTANT_OPENAI_API_KEY": "", "ASSISTANT_OPENAI_BASE_URL": "",
           "ASSISTANT_CHROMA_URL": ""}


def line(**fields: Any) -> str:
    base = {"id": "q1", "question": "Who?", "type": "answerable", "answers": ["Ann"],
            "article_ids": ["a1"]}
    base.update(fields)
    return json.dumps(base)


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), env=CLI_ENV, catch_exceptions=False)


def metric(summary: dict[str, Any], dotted: str) -> float:
    group, name = dotted.split(".")
    value = summary[group][name]
    assert value is not None, f"{dotted} was not measured"
    return float(value)


# -- fixture parsing ----------------------------------------------------------------------------


def test_a_fixture_file_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text(line(id="q1") + "\n", encoding="utf-8-sig")
    assert [q.id for q in load_questions(path)] == ["q1"]


def test_malformed_line_is_reported_with_its_line_number(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "q.jsonl", [line(id="q1"), "", '{"id": "q2", "question": '])
    with pytest.raises(FixtureError, match=r"q\.jsonl:3: not valid JSON"):
        load_questions(path)


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (line(type="maybe"), "'type' must be 'answerable' or 'unanswerable'"),
        (line(answers="Ann"), "'answers' must be a list of strings"),
        (line(answers=[]), "an answerable question needs at least one answer"),
        (line(question="  "), "'question' must be a non-empty string"),
        (line(question_date="26/11/2026"), "'question_date' must be a date"),
        ("[1, 2]", "expected a JSON object"),
        # Found by a hostile trial: a missing field was called one of the wrong type.
        (json.dumps({"id": "u", "question": "Who?", "type": "unanswerable", "article_ids": []}),
         "'answers' is missing"),
    ],
)
def test_each_kind_of_bad_line_names_the_problem(tmp_path: Path, bad: str, reason: str) -> None:
    path = write_lines(tmp_path / "q.jsonl", [line(id="ok"), bad])
    with pytest.raises(FixtureError) as caught:
        load_questions(path)
    assert f"q.jsonl:2: {reason}" in str(caught.value)


def test_bad_fixture_stops_the_cli_before_anything_is_asked(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "q.jsonl", [line(id="q1"), line(id="q2", type="sure")])
    missing_store = tmp_path / "no-index"
    result = run_cli("eval", str(path), "--store", str(missing_store), "--json")
    assert result.exit_code == 2
    # The fixture error wins over the missing index: nothing was opened, let alone asked.
    assert f"{path}:2: 'type' must be" in result.stderr
    assert result.stdout == ""
    assert not missing_store.exists()


def test_unknown_fields_are_ignored_and_optional_ones_read(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "q.jsonl", [
        line(id="q1", difficulty="hard", source={"x": 1}, question_date="2026-11-20",
             evidence=["Ann did it."]),
        json.dumps({"id": "q2", "question": "Why?", "type": "unanswerable", "answers": [],
                    "article_ids": []}),
    ])
    first, second = load_questions(path)
    assert first.question_date is not None and first.question_date.isoformat() == "2026-11-20"
    assert first.evidence == ("Ann did it.",)
    assert not second.answerable and second.evidence == () and second.question_date is None


def test_schema_accepts_the_shipped_fixtures_and_rejects_what_the_loader_rejects(
        tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((FIXTURES / "fixture.schema.json").read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    for name in ("seed_questions.jsonl", "corpus_questions.jsonl"):
        for raw in (FIXTURES / name).read_text(encoding="utf-8").splitlines():
            assert not list(validator.iter_errors(json.loads(raw))), raw
        assert load_questions(FIXTURES / name)
    for bad in (line(type="maybe"), line(answers=[]), line(question_date="26/11/2026")):
        assert list(validator.iter_errors(json.loads(bad))), bad
        with pytest.raises(FixtureError):
            load_questions(write_lines(tmp_path / "bad.jsonl", [bad]))


# -- normalisation and string metrics ----------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("The U.S. President's", "us president"),
        ("An apple, a day!", "apple day"),
        ("Twenty-five", "25"),
        ("two hundred and ten people", "210 people"),
        ("1,000 cars", "1000 cars"),
        ("September 8th", "september 8"),
        ("six weeks", "6 weeks"),
        ("40%", "40 percent"),
        ("3.5 million", "3.5 million"),
        ("for the first time", "for 1 time"),
    ],
)
def test_normalisation_folds_case_punctuation_articles_and_number_words(
        given: str, expected: str) -> None:
    assert normalize_answer(given) == expected


def test_answer_matches_whole_words_after_normalisation() -> None:
    assert contains_answer("The bridge will close for 6 weeks [1].", ["six weeks"])
    assert contains_answer("It cost twenty-five million dollars [2].", ["$25 million"])
    assert not contains_answer("He played the trumpet [1].", ["Trump"])
    assert not contains_answer("Anything at all.", ["the"])  # an answer of only articles


def test_token_f1_is_squad_style() -> None:
    assert token_f1("Donald Trump", "President Donald Trump") == pytest.approx(0.8)
    assert token_f1("the Harbor Bridge", "Harbor Bridge") == 1.0
    assert token_f1("a cat", "the dog") == 0.0
    assert best_token_f1("six weeks [1]", ["two months", "6 weeks"]) == 1.0
    assert best_token_f1("anything", []) == 0.0


# -- metric arithmetic on hand-made results -----------------------------------------------------

BODIES = {"a1": "Alpha beta. Gamma delta.", "a2": "Other text here.", "a3": "Alpha beta. Copy."}


def meta(article_id: str) -> ArticleMeta:
    return ArticleMeta(article_id, f"Title {article_id}", f"{article_id}.md", "hash")


def cite(n: int, article_id: str, start: int, end: int, quote: str | None = None) -> Citation:
    text = BODIES[article_id][start:end] if quote is None else quote
    return Citation(n, article_id, f"Title {article_id}", None, None, f"{article_id}.md", start,
                    end, text, 0.5)


def answer(text: str, grounded: bool, citations: Sequence[Citation] = (),
           given: tuple[str, ...] = ()) -> Answer:
    passages = [Passage(f"{a}:0", meta(a), 0, len(BODIES[a]), BODIES[a], 0.1, n=i)
                for i, a in enumerate(given, 1)]
    return Answer("q", text, grounded, "extractive", list(citations), passages=passages)


def hand_made_results() -> list[Any]:
    q = Question
    cases = [
        (q("q1", "Which?", "answerable", ("gamma delta",), ("a1",), ("Gamma delta.",)),
         answer("Gamma delta [1].", True, [cite(1, "a1", 12, 24)], ("a1",)), ["a2", "a1"], 10.0),
        (q("q2", "How many?", "answerable", ("seven",), ("a1",)),
         answer("The articles don't say.", False, given=("a1",)), ["a1"], 20.0),
        (q("q3", "Why?", "unanswerable"),
         answer("The articles don't say.", False), ["a2"], 30.0),
        (q("q4", "Who else?", "unanswerable"),
         answer("Other text here [1].", True, [cite(1, "a2", 0, 16)], ("a2",)), ["a2"], 40.0),
        (q("q5", "What?", "answerable", ("beta",), ("a1",), ("Alpha beta.",)),
         answer("Other text here [1]. Alpha beta [2].", True, [
             cite(1, "a2", 0, 16),           # valid, from another article: imprecise
             cite(2, "a3", 0, 11),           # a reprint quoting the evidence: precise
             cite(2, "a1", 0, 5, "Wrong"),   # supporting article, but not its text: invalid
         ], ("a2", "a3")), [], 50.0),
    ]
    return [score_question(qn, ans, retrieved, ms, BODIES.get)
            for qn, ans, retrieved, ms in cases]


def test_summary_arithmetic_on_hand_made_results() -> None:
    summary = summarize(hand_made_results(), "extractive")
    assert (summary["n"], summary["n_answerable"], summary["n_unanswerable"]) == (5, 3, 2)
    # Refused: q2 (answerable) and q3 (unanswerable).
    assert summary["refusal"] == {"precision": 0.5, "recall": 0.5, "false_refusal_rate": 0.3333}
    # Answerable citations: q1 precise, q5 imprecise + precise + precise (but invalid).
    assert summary["citations"] == {"valid": 0.8, "precision": 0.75}
    assert summary["answer"]["accuracy"] == pytest.approx(0.6667)
    assert summary["answer"]["words"] == pytest.approx(3.3333)  # 'Gamma delta.' etc, no markers
    # q1 found at rank 2, q2 at rank 1, q5 retrieved nothing.
    assert summary["retrieval"] == {"hit@1": 0.3333, "hit@5": 0.6667, "hit@10": 0.6667,
                                    "mrr@10": 0.5}
    assert summary["latency_ms"]["p50"] == 30.0


def test_each_failure_gets_an_outcome_and_a_reason() -> None:
    results = {r.question.id: r for r in hand_made_results()}
    assert results["q1"].outcome == "correct" and results["q1"].failure is None
    assert results["q2"].outcome == "refused"
    assert "rank 1" in (results["q2"].failure or "")
    assert results["q3"].outcome == "correct"
    assert results["q4"].outcome == "answered_unanswerable"
    assert results["q5"].outcome == "bad_citation"
    row = results["q5"].to_dict()
    assert [c["valid"] for c in row["citations"]] == [True, True, False]
    assert [c["precise"] for c in row["citations"]] == [False, True, True]


def test_ratios_with_nothing_to_count_are_null_not_zero() -> None:
    only_answered = hand_made_results()[:1]
    summary = summarize(only_answered, "extractive")
    assert summary["refusal"]["precision"] is None  # nothing was refused
    assert summary["refusal"]["recall"] is None  # no unanswerable question


def test_report_html_escapes_text_and_draws_svg() -> None:
    results = hand_made_results()
    results[3].question = Question("q4", "<script>alert(1)</script>?", "unanswerable")
    report = EvalReport(results, "extractive", 8, source="<hand made>")
    page = render_html(report.summary(), [r.to_dict() for r in results], source=report.source)
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;?" in page
    assert page.count("<svg") == 3
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")


# -- the judge ----------------------------------------------------------------------------------


def test_verdicts_are_read_leniently() -> None:
    verdict = parse_verdict('Sure!\n{"correct": true, "faithful": "no", "reason": "adds a date"}')
    assert (verdict.correct, verdict.faithful, verdict.reason) == (True, False, "adds a date")
    unreadable = parse_verdict("I think it is fine")
    assert unreadable.correct is None and "unparsed" in unreadable.reason


def test_judge_without_an_llm_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="OPENAI_API_KEY or OPENAI_BASE_URL"):
        build_judge(offline_settings(tmp_path))
    path = write_lines(tmp_path / "q.jsonl", [line()])
    result = run_cli("eval", str(path), "--corpus", str(SEEDS), "--judge")
    assert result.exit_code == 2
    assert "--judge needs an OpenAI-compatible LLM" in result.stderr


# -- end to end: real ONNX model, real Chroma in a temporary folder ------------------------------


def offline_settings(store: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"llm": "extractive", "openai_api_key": None,
                              "openai_base_url": None, "chroma_url": None, **overrides}
    return Settings(store=store, **values)


@pytest.fixture(scope="module")
def seed_services(tmp_path_factory: pytest.TempPathFactory, embedder: Any) -> Iterator[Any]:
    with corpus_services(offline_settings(tmp_path_factory.mktemp("unused")), [SEEDS],
                         embedder=embedder) as services:
        yield services


def test_judge_scores_answered_questions_beside_string_metrics(
        seed_services: Any, tmp_path: Path) -> None:
    questions = load_questions(FIXTURES / "seed_questions.jsonl")[:3]
    with FakeOpenAIServer() as llm:
        for _ in questions:
            llm.enqueue('{"correct": true, "faithful": false, "reason": "adds a claim"}')
        judge = build_judge(offline_settings(tmp_path, openai_base_url=llm.url,
                                             llm_model="judge-model", llm_max_retries=0))
        report = evaluate(seed_services, questions, judge=judge)
    answered = [r for r in report.results if not r.refused]
    assert answered and len(llm.requests) == len(answered)
    prompt = llm.requests[0]["messages"][0]["content"]
    assert llm.requests[0]["model"] == "judge-model"
    assert answered[0].question.question in prompt and "[1] " in prompt
    assert "{" not in prompt.split("Reply with one JSON object")[0]  # every placeholder filled
    summary = report.summary()
    assert summary["judge"]["model"] == "judge-model"
    assert summary["judge"]["faithfulness"] == 0.0
    assert summary["answer"]["accuracy"] is not None  # the string metrics stay beside it
    assert answered[0].to_dict()["judge"]["reason"] == "adds a claim"


def test_a_judge_server_that_fails_is_recorded_and_the_run_goes_on(
        seed_services: Any, tmp_path: Path) -> None:
    questions = load_questions(FIXTURES / "seed_questions.jsonl")[:2]
    with FakeOpenAIServer() as llm:
        llm.enqueue("overloaded", status=503)
        llm.enqueue('{"correct": true, "faithful": true, "reason": "fine"}')
        judge = build_judge(offline_settings(tmp_path, openai_base_url=llm.url,
                                             llm_max_retries=0))
        report = evaluate(seed_services, questions, judge=judge)
    first, second = (r.verdict for r in report.results)
    assert first is not None and first.correct is None
    assert f"judge failed: the LLM server at {llm.url} failed with HTTP 503" in first.reason
    assert second is not None and second.correct is True


def test_evaluate_accepts_an_asker_as_well_as_services(seed_services: Any) -> None:
    questions = load_questions(FIXTURES / "seed_questions.jsonl")[:2]
    report = evaluate(seed_services.asker, questions, k=3)
    assert report.k == 3 and len(report.results) == 2
    assert all(len(r.answer.passages) <= 3 for r in report.results)
    assert all(len(r.retrieved) <= 10 for r in report.results)


def test_cli_json_prints_exactly_the_summary_object() -> None:
    result = run_cli("eval", str(FIXTURES / "seed_questions.jsonl"), "--corpus", str(SEEDS),
                     "--json")
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.strip().splitlines()) == 1
    summary = json.loads(result.stdout)
    assert set(summary) == {"n", "n_answerable", "n_unanswerable", *SUMMARY_SHAPE, "mode",
                            "refusal_curve", "refusal_threshold"}
    for group, names in SUMMARY_SHAPE.items():
        assert set(summary[group]) == names, group
        assert all(isinstance(v, float) for v in summary[group].values()), summary[group]
    # The refusal curve: refusing more (a higher threshold) never finds fewer unanswerables.
    curve = summary["refusal_curve"]
    assert [p["threshold"] for p in curve] == sorted(p["threshold"] for p in curve)
    recalls = [p["recall"] for p in curve]
    assert recalls == sorted(recalls) and 0 < summary["refusal_threshold"] < 1
    assert summary["n"] == summary["n_answerable"] + summary["n_unanswerable"] == 37
    assert summary["mode"] == "extractive"
    assert result.stderr == ""  # no progress bar when the output is for a program


def test_an_out_folder_that_cannot_be_written_is_refused_before_anything_is_asked(
        tmp_path: Path) -> None:
    """Found by a hostile trial: the run ended in a traceback and its results were lost."""
    (tmp_path / "a-file").write_text("", encoding="utf-8")
    result = CliRunner().invoke(main, ["eval", str(FIXTURES / "seed_questions.jsonl"),
                                       "--corpus", str(SEEDS), "--out",
                                       str(tmp_path / "a-file" / "out")], env=CLI_ENV)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "cannot write results to" in result.stderr and "Not a directory" in result.stderr
    assert "embedding corpus" not in result.stderr


def test_article_ids_the_index_lacks_are_named(tmp_path: Path) -> None:
    """Found by a hostile trial: a mistyped article id only showed as hit@1 0.000."""
    path = write_lines(tmp_path / "q.jsonl", [line(article_ids=["no-such-article"])])
    result = run_cli("eval", str(path), "--corpus", str(SEEDS))
    assert result.exit_code == 0
    assert "1 article id(s) in" in result.stderr and "(first: no-such-article)" in result.stderr


def test_cli_out_writes_results_and_a_self_contained_report(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_cli("eval", str(FIXTURES / "seed_questions.jsonl"), "--corpus", str(SEEDS),
                     "--limit", "12", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    assert "accuracy" in result.stdout and str(out / "report.html") in result.stdout
    rows = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 12
    assert {"id", "answer", "citations", "scores", "outcome", "failure"} <= set(rows[0])
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "<svg" in page and "<script" not in page
    assert "Refusal precision and recall by confidence threshold" in page
    assert "operating point" in page
    assert all(0.0 <= r["confidence"] <= 1.0 for r in rows)
    accuracy = sum(r["scores"]["correct"] for r in rows if r["type"] == "answerable") / sum(
        r["type"] == "answerable" for r in rows)
    assert f"{accuracy:.3f}" in page  # the summary numbers are on the page


def test_corpus_and_store_together_are_refused(tmp_path: Path) -> None:
    result = run_cli("eval", str(FIXTURES / "seed_questions.jsonl"), "--corpus", str(SEEDS),
                     "--store", str(tmp_path))
    assert result.exit_code == 2 and "not both" in result.stderr


def test_missing_corpus_is_named(tmp_path: Path) -> None:
    settings = offline_settings(tmp_path)
    with pytest.raises(InputError, match="nowhere"), corpus_services(settings, [tmp_path / "nowhere"]):
        pass


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "questions", "corpus"),
    [("seed", "seed_questions.jsonl", SEEDS),
     ("corpus", "corpus_questions.jsonl", FIXTURES / "corpus")],
)
def test_extractive_answerer_stays_above_measured_floors(
        tmp_path: Path, embedder: Any, name: str, questions: str, corpus: Path) -> None:
    with corpus_services(offline_settings(tmp_path), [corpus], embedder=embedder) as services:
        summary = evaluate(services, load_questions(FIXTURES / questions)).summary()
    report = json.dumps(summary)
    for dotted, floor in FLOORS[name].items():
        assert metric(summary, dotted) >= floor, f"{name} {dotted} below {floor}: {report}"
    for dotted, ceiling in CEILINGS[name].items():
        assert metric(summary, dotted) <= ceiling, f"{name} {dotted} above {ceiling}: {report}"


def test_update_questions_score_the_current_value_and_the_flagged_earlier_one() -> None:
    raw = {"id": "u1", "question": "How many have died?", "type": "update", "answers": ["eleven"],
           "earlier": ["seven"], "article_ids": ["a1"], "question_date": "2026-02-10"}
    question = parse_question(raw, "f:1")
    assert question.answerable and question.earlier == ("seven",)
    with pytest.raises(FixtureError, match="earlier"):
        parse_question({k: v for k, v in raw.items() if k != "earlier"}, "f:2")
    both = score_question(question, answer("Eleven [1]. Earlier reports gave seven [1].", True,
                                           [cite(1, "a1", 0, 5)], ("a1",)), ["a1"], 1.0,
                          BODIES.get)
    stale = score_question(question, answer("Seven [1].", True, [cite(1, "a1", 0, 5)],
                                            ("a1",)), ["a1"], 1.0, BODIES.get)
    current_only = score_question(question, answer("Eleven [1].", True, [cite(1, "a1", 0, 5)],
                                                   ("a1",)), ["a1"], 1.0, BODIES.get)
    assert (both.correct, both.flags_earlier) == (True, True)
    assert (stale.correct, stale.flags_earlier) == (False, True)
    assert (current_only.correct, current_only.flags_earlier) == (True, False)
    # A report's date is not an earlier value: the 7 of "7 February" is not "seven".
    dated = score_question(question, answer(
        "Eleven [1]. Earlier reports gave 9 people on 7 February 2026 [1].", True,
        [cite(1, "a1", 0, 5)], ("a1",)), ["a1"], 1.0, BODIES.get)
    assert (dated.correct, dated.flags_earlier) == (True, False)
    summary = summarize([both, stale, current_only], "extractive")
    assert summary["updates"] == {"n": 3, "current": 0.6667, "earlier_flagged": 0.6667}
    page = render_html(summary, [r.to_dict() for r in (both, stale, current_only)])
    assert "Updates (3 questions)" in page and "asked 2026-02-10" in page


def test_a_right_quote_under_a_wrong_answer_line_counts_against_the_answer_line() -> None:
    from assistant.evaluate import Question, QuestionResult
    from assistant.types import Answer

    question = Question(id="q", question="Who defeated Nancy Pelosi?", type="answerable",
                        answers=("John Boehner",), article_ids=("a",))
    wrong_line = Answer(question.question, "Democrat Nancy Pelosi [1]. Republican John Boehner "
                        "defeated Democrat Nancy Pelosi [1].", grounded=True, mode="extractive",
                        short_answer="Democrat Nancy Pelosi")
    result = QuestionResult(question, wrong_line, ["a"], 1.0, [True], [True])
    assert result.correct and not result.line_correct
    right = Answer(question.question, "John Boehner defeated Nancy Pelosi [1].", grounded=True,
                   mode="extractive")
    assert QuestionResult(question, right, ["a"], 1.0, [True], [True]).line_correct
