"""Measure retrieval, answers, citations and refusals on questions with known answers.

A fixture file is JSON Lines, one question a line (schema: tests/fixtures/fixture.schema.json).
`evaluate()` asks every question through the real Asker, scores each answer with string metrics
(and optionally an LLM judge), and returns an `EvalReport` whose `summary()` is what
`assistant eval --json` prints.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from assistant.citations import MARKER
from assistant.config import Settings
from assistant.errors import ConfigError, InputError, LLMError

if TYPE_CHECKING:
    from assistant.answering import Asker
    from assistant.app import Services
    from assistant.embeddings import Embedder
    from assistant.prompts import PromptLibrary
    from assistant.types import Answer, Citation

# "update": answerable, about a fact a story's later reports changed; `answers` hold the
# current value (as of question_date), `earlier` the values reported before.
QuestionType = Literal["answerable", "unanswerable", "update"]
QUESTION_TYPES: tuple[QuestionType, ...] = ("answerable", "unanswerable", "update")
# Retrieval is scored on the top 10 passages whatever k the answerer reads, so figures stay
# comparable with FINDINGS.md when k is tuned.
RETRIEVAL_DEPTH = 10
HIT_AT = (1, 5, 10)
# An eval records an LLM failure on a question and goes on, unless it keeps failing.
MAX_FAILURES_IN_A_ROW = 3
Outcome = Literal["correct", "wrong", "not_retrieved", "refused", "answered_unanswerable",
                  "bad_citation", "error"]
OUTCOMES: tuple[Outcome, ...] = ("correct", "wrong", "not_retrieved", "refused",
                                 "answered_unanswerable", "bad_citation", "error")


class FixtureError(InputError):
    """A line of a fixture file is not a question we can score; names `path:line`."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}", "fixtures")
        self.where = where


# -- fixtures -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Question:
    """One fixture question with what counts as a right answer."""

    id: str
    question: str
    type: QuestionType
    answers: tuple[str, ...] = ()
    article_ids: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()
    question_date: dt.date | None = None
    earlier: tuple[str, ...] = ()

    @property
    def answerable(self) -> bool:
        return self.type != "unanswerable"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "question": self.question,
            "type": self.type,
            "answers": list(self.answers),
            "article_ids": list(self.article_ids),
            "evidence": list(self.evidence),
            "question_date": self.question_date.isoformat() if self.question_date else None,
            **({"earlier": list(self.earlier)} if self.type == "update" else {}),
        }


def _strings(raw: dict[str, Any], key: str, where: str, required: bool) -> tuple[str, ...]:
    if key not in raw:
        if required:
            raise FixtureError(where, f"{key!r} is missing (a list of strings; [] for none)")
        return ()
    value = raw[key]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise FixtureError(where, f"{key!r} must be a list of strings")
    return tuple(value)


def parse_question(raw: object, where: str) -> Question:
    """One question from a decoded JSON line; extra fields are ignored."""
    if not isinstance(raw, dict):
        raise FixtureError(where, "expected a JSON object")
    for key in ("id", "question"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise FixtureError(where, f"{key!r} must be a non-empty string")
    kind = raw.get("type")
    if kind not in QUESTION_TYPES:
        raise FixtureError(where, "'type' must be 'answerable' or 'unanswerable' (or 'update'), "
                                  f"not {kind!r}")
    answers = _strings(raw, "answers", where, required=True)
    article_ids = _strings(raw, "article_ids", where, required=True)
    evidence = _strings(raw, "evidence", where, required=False)
    earlier = _strings(raw, "earlier", where, required=kind == "update")
    if kind != "unanswerable" and not [a for a in answers if a.strip()]:
        raise FixtureError(where, f"an {kind} question needs at least one answer")
    if kind != "unanswerable" and not article_ids:
        raise FixtureError(where, f"an {kind} question needs at least one article id")
    date_value = raw.get("question_date")
    question_date = None
    if date_value is not None:
        try:
            question_date = dt.date.fromisoformat(str(date_value))
        except ValueError:
            raise FixtureError(
                where, f"'question_date' must be a date like 2026-11-26, not {date_value!r}"
            ) from None
    return Question(raw["id"], raw["question"].strip(), kind, answers, article_ids, evidence,
                    question_date, earlier)


def load_questions(path: Path) -> list[Question]:
    """Every question of a JSON Lines fixture file, or a FixtureError naming the first bad line.

    The whole file is read before anything is asked, so a typo on line 200 costs nothing.
    """
    try:
        # A byte-order mark (as editors on Windows write one) is not part of the first line.
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read fixture file {path}: {exc}", "fixtures") from None
    # Repeated ids are allowed: published sets have them (QAMR), and results keep file order.
    questions: list[Question] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            raw = json.loads(line)
        except ValueError as exc:
            raise FixtureError(where, f"not valid JSON ({exc})") from None
        questions.append(parse_question(raw, where))
    if not questions:
        raise InputError(f"{path} holds no questions", "fixtures")
    return questions


# -- answer normalisation and string metrics --------------------------------------------------

_UNITS = {
    w: i for i, w in enumerate([
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
        "eighteen", "nineteen",
    ])
}
_TENS = {
    w: 10 * (i + 2) for i, w in enumerate(
        ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"])
}
# "second" is left out: far more often a unit of time than an ordinal in news text.
_ORDINALS = {
    "first": "1", "third": "3", "fourth": "4", "fifth": "5", "sixth": "6", "seventh": "7",
    "eighth": "8", "ninth": "9", "tenth": "10", "eleventh": "11", "twelfth": "12",
}
_ARTICLES = frozenset({"a", "an", "the"})


def _numbers_as_digits(tokens: list[str]) -> list[str]:
    """'twenty five' -> '25', 'two hundred and ten' -> '210', 'third' -> '3'."""
    out: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token in _ORDINALS:
            out.append(_ORDINALS[token])
            i += 1
            continue
        if token not in _UNITS and token not in _TENS and token not in ("hundred", "thousand"):
            out.append(token)
            i += 1
            continue
        total, current, last = 0, 0, ""
        j = i
        while j < len(tokens):
            t = tokens[j]
            if t in _UNITS and last in ("", "ten", "scale") and not (last == "ten" and
                                                                      _UNITS[t] >= 10):
                current += _UNITS[t]
                last = "unit"
            elif t in _TENS and last in ("", "scale"):
                current += _TENS[t]
                last = "ten"
            elif t == "hundred" and last in ("", "unit", "ten"):
                current = max(current, 1) * 100
                last = "scale"
            elif t == "thousand" and last in ("", "unit", "ten", "scale"):
                total += max(current, 1) * 1000
                current = 0
                last = "scale"
            elif (t == "and" and last == "scale" and j + 1 < len(tokens)
                  and (tokens[j + 1] in _UNITS or tokens[j + 1] in _TENS)):
                pass
            else:
                break
            j += 1
        out.append(str(total + current))
        i = j
    return out


def answer_tokens(text: str) -> list[str]:
    """Normalised tokens: lower case, no punctuation or articles, numbers written as digits."""
    text = MARKER.sub(" ", text.lower())
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)  # 1,000 -> 1000
    text = re.sub(r"\b(\d+)(st|nd|rd|th)\b", r"\1", text)  # 8th -> 8
    text = text.replace("%", " percent ")
    text = re.sub(r"['’]s\b", "", text)  # possessives: Trump's -> trump
    text = re.sub(r"['’]", "", text)
    text = re.sub(r"(?<!\d)\.|\.(?!\d)", "", text)  # U.S. -> us, but keep 3.5
    text = re.sub(r"[^\w\s.]|_", " ", text)
    tokens = [t for t in text.split() if t not in _ARTICLES]
    return _numbers_as_digits(tokens)


def normalize_answer(text: str) -> str:
    """`answer_tokens` joined by single spaces: what answers are compared as."""
    return " ".join(answer_tokens(text))


def contains_answer(answer: str, golds: Sequence[str]) -> bool:
    """True when one gold answer appears, whole words, in the normalised answer."""
    padded = f" {normalize_answer(answer)} "
    for gold in golds:
        wanted = normalize_answer(gold)
        if wanted and f" {wanted} " in padded:
            return True
    return False


def token_f1(prediction: str, gold: str) -> float:
    """SQuAD-style token F1 between two answers after normalisation."""
    predicted, expected = answer_tokens(prediction), answer_tokens(gold)
    if not predicted or not expected:
        return float(predicted == expected)
    common = sum((Counter(predicted) & Counter(expected)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


def best_token_f1(prediction: str, golds: Sequence[str]) -> float:
    return max((token_f1(prediction, g) for g in golds), default=0.0)


_MARKER_WITH_SPACE = re.compile(r"\s*" + MARKER.pattern)


def strip_markers(text: str) -> str:
    """The answer as a reader sees it without `[n]` markers: 'Rain [1].' -> 'Rain.'."""
    return " ".join(_MARKER_WITH_SPACE.sub("", text).split())


def word_count(text: str) -> int:
    return len(strip_markers(text).split())


def _flat(text: str) -> str:
    return " ".join(text.split()).lower()


# -- per-question scoring ---------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """An LLM judge's view of one answer; None where it was not asked or gave no usable reply."""

    correct: bool | None
    faithful: bool | None
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"correct": self.correct, "faithful": self.faithful, "reason": self.reason}


@dataclass
class QuestionResult:
    """One question, the answer it got, and how that answer scored."""

    question: Question
    answer: Answer
    retrieved: list[str]  # article ids of the top RETRIEVAL_DEPTH passages, in rank order
    latency_ms: float
    citation_valid: list[bool]
    citation_precise: list[bool]
    verdict: Verdict | None = None
    error: str | None = None  # the LLM failed on this question; the run went on

    @property
    def refused(self) -> bool:
        return not self.answer.grounded and self.error is None

    @property
    def rank(self) -> int | None:
        """1-based rank of the first retrieved passage from a supporting article."""
        gold = set(self.question.article_ids)
        return next((i for i, a in enumerate(self.retrieved, 1) if a in gold), None)

    @property
    def correct(self) -> bool:
        return (self.question.answerable and not self.refused
                and contains_answer(self.answer.answer, self.question.answers))

    @property
    def line_correct(self) -> bool:
        """The answer line alone holds a gold answer: the short answer when one is given,
        otherwise the first sentence. Stricter than `correct`, which a right supporting
        sentence under a wrong answer line still passes."""
        line = self.answer.short_answer or _first_sentence(strip_markers(self.answer.answer))
        return (self.question.answerable and not self.refused
                and contains_answer(line, self.question.answers))

    @property
    def flags_earlier(self) -> bool:
        """For an update question: the answer also gives a value reported earlier."""
        # Without the reports' dates ("on 4 March 2024"): the 4 there is not an earlier "four".
        text = _REPORT_DATE.sub(" ", self.answer.answer)
        return (self.question.type == "update" and not self.refused
                and contains_answer(text, self.question.earlier))

    @property
    def f1(self) -> float:
        if self.refused or not self.question.answerable:
            return 0.0
        return best_token_f1(strip_markers(self.answer.answer), self.question.answers)

    @property
    def words(self) -> int:
        return word_count(self.answer.answer)

    @property
    def given_gold(self) -> bool:
        """Whether the answerer was handed a passage from a supporting article."""
        gold = set(self.question.article_ids)
        return any(p.article.id in gold for p in self.answer.passages)

    @property
    def outcome(self) -> Outcome:
        if self.error is not None:
            return "error"
        if not all(self.citation_valid):
            return "bad_citation"
        if not self.question.answerable:
            return "correct" if self.refused else "answered_unanswerable"
        if self.correct:
            return "correct"
        if self.refused:
            return "refused"
        return "wrong" if self.given_gold else "not_retrieved"

    @property
    def failure(self) -> str | None:
        """Why this question failed, in words a tuner can act on; None when it passed."""
        outcome = self.outcome
        rank = self.rank
        where = f"first supporting passage at rank {rank}" if rank else "no supporting passage " \
            f"in the top {RETRIEVAL_DEPTH}"
        if outcome == "correct":
            return None
        if outcome == "error":
            return f"no answer: {self.error}"
        if outcome == "bad_citation":
            bad = sum(not v for v in self.citation_valid)
            return f"{bad} citation(s) do not match the article text at their offsets"
        if outcome == "answered_unanswerable":
            return "answered a question the articles do not answer"
        if outcome == "refused":
            return f"refused an answerable question ({where})"
        if outcome == "not_retrieved":
            wanted = ", ".join(self.question.article_ids)
            return f"the answerer was given no passage from {wanted} ({where})"
        return f"answer lacks the expected answer although a supporting passage was given ({where})"

    def to_dict(self) -> dict[str, Any]:
        rank = self.rank
        return {
            **self.question.to_dict(),
            "answer": self.answer.answer,
            "short_answer": self.answer.short_answer,
            "grounded": self.answer.grounded,
            "confidence": self.answer.confidence,
            "unsupported_sentences": list(self.answer.unsupported_sentences),
            "citations": [
                {**c.to_dict(), "valid": v, "precise": p}
                for c, v, p in zip(self.answer.citations, self.citation_valid,
                                   self.citation_precise, strict=True)
            ],
            # Without their text: enough to find them again, small enough for 1,000 questions.
            "passages": [
                {"n": p.n, "article_id": p.article.id, "start": p.start, "end": p.end,
                 "score": round(p.score, 6)}
                for p in self.answer.passages
            ],
            "retrieved_article_ids": self.retrieved,
            "scores": {
                **{f"hit@{k}": bool(rank and rank <= k) for k in HIT_AT},
                "rank": rank,
                "correct": self.correct,
                "line_correct": self.line_correct,
                **({"earlier_flagged": self.flags_earlier}
                   if self.question.type == "update" else {}),
                "token_f1": round(self.f1, 4),
                "words": self.words,
                "refused": self.refused,
                "latency_ms": round(self.latency_ms, 2),
            },
            "usage": dict(self.answer.usage or {}),
            "judge": self.verdict.to_dict() if self.verdict else None,
            "error": self.error,
            "outcome": self.outcome,
            "failure": self.failure,
        }


def check_citation(citation: Citation, question: Question, body_of: Callable[[str], str | None],
                   title_of: Callable[[str], str | None] | None = None) -> tuple[bool, bool]:
    """(valid, precise): the quote is the body (or headline) at its offsets; it comes from the
    right place.

    Precise means the citation is from a supporting article or quotes an evidence sentence, so
    a wire story reprinted under another id still counts.
    """
    lookup = title_of if citation.field == "title" else body_of
    text = lookup(citation.article_id) if lookup is not None else None
    valid = text is not None and text[citation.start:citation.end] == citation.quote
    quote = _flat(citation.quote)
    precise = citation.article_id in question.article_ids or any(
        _flat(e) in quote for e in question.evidence if e.strip()
    )
    return valid, precise


def score_question(question: Question, answer: Answer, retrieved: Sequence[str],
                   latency_ms: float, body_of: Callable[[str], str | None],
                   title_of: Callable[[str], str | None] | None = None) -> QuestionResult:
    """Score one answer; `retrieved` is the article id of each top passage in rank order."""
    checks = [check_citation(c, question, body_of, title_of) for c in answer.citations]
    return QuestionResult(question, answer, list(retrieved[:RETRIEVAL_DEPTH]), latency_ms,
                          [v for v, _ in checks], [p for _, p in checks])


# -- aggregate metrics ------------------------------------------------------------------------


def _ratio(numerator: float, denominator: float) -> float | None:
    """None, not 0, when nothing was counted: 'no refusals' is not 'every refusal was wrong'."""
    return round(numerator / denominator, 4) if denominator else None


def _mean(values: Sequence[float]) -> float | None:
    return _ratio(sum(values), len(values))


def _percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    import numpy as np

    return round(float(np.percentile(np.asarray(values, dtype=float), q)), 2)


def retrieval_metrics(results: Sequence[QuestionResult]) -> dict[str, float | None]:
    """Article-level hit@k and MRR@10 over answerable questions (llama-index's metrics)."""
    from llama_index.core.evaluation.retrieval.metrics import MRR, HitRate

    hit_rate, mrr = HitRate(), MRR()
    scores: dict[str, list[float]] = {f"hit@{k}": [] for k in HIT_AT}
    scores["mrr@10"] = []
    for r in results:
        if not r.question.answerable:
            continue
        expected = list(r.question.article_ids)
        for k in HIT_AT:
            top = r.retrieved[:k]
            # llama-index raises on an empty list; an empty index simply retrieves nothing.
            scores[f"hit@{k}"].append(
                hit_rate.compute(expected_ids=expected, retrieved_ids=top).score if top else 0.0
            )
        top = r.retrieved[:RETRIEVAL_DEPTH]
        scores["mrr@10"].append(
            mrr.compute(expected_ids=expected, retrieved_ids=top).score if top else 0.0
        )
    return {name: _mean(values) for name, values in scores.items()}


def refusal_curve(results: Sequence[QuestionResult]) -> list[dict[str, float | None]]:
    """Refusal precision, recall and false refusals if the answerer refused every question
    whose `confidence` is under each threshold (empty when answers carry no confidence)."""
    scored = [r for r in results if r.answer.confidence is not None]
    if not scored:
        return []
    points = []
    for step in range(1, 20):
        threshold = step / 20
        refused = [r for r in scored if (r.answer.confidence or 0.0) < threshold]
        points.append({
            "threshold": threshold,
            "precision": _ratio(sum(not r.question.answerable for r in refused), len(refused)),
            "recall": _ratio(sum(not r.question.answerable for r in refused),
                             sum(not r.question.answerable for r in scored)),
            "false_refusal_rate": _ratio(sum(r.question.answerable for r in refused),
                                         sum(r.question.answerable for r in scored)),
        })
    return points


def summarize(results: Sequence[QuestionResult], mode: str) -> dict[str, Any]:
    """The figures `assistant eval --json` prints; a ratio with nothing to count is null."""
    answerable = [r for r in results if r.question.answerable]
    unanswerable = [r for r in results if not r.question.answerable]
    grounded = [r for r in results if not r.refused]
    citations_valid = [v for r in results for v in r.citation_valid]
    # Unanswerable questions have no supporting article, so their citations would all count as
    # imprecise twice over: the refusal figures already punish answering them.
    citations_precise = [p for r in answerable for p in r.citation_precise]
    refused = [r for r in results if r.refused]
    summary: dict[str, Any] = {
        "n": len(results),
        "n_answerable": len(answerable),
        "n_unanswerable": len(unanswerable),
        "retrieval": retrieval_metrics(results),
        "answer": {
            "accuracy": _mean([float(r.correct) for r in answerable]),
            "line_accuracy": _mean([float(r.line_correct) for r in answerable]),
            "token_f1": _mean([r.f1 for r in answerable]),
            # Refusals are a fixed sentence; their length says nothing about the answerer.
            "words": _mean([float(r.words) for r in grounded]),
        },
        "citations": {
            "valid": _mean([float(v) for v in citations_valid]),
            "precision": _mean([float(p) for p in citations_precise]),
        },
        "refusal": {
            "precision": _ratio(sum(not r.question.answerable for r in refused), len(refused)),
            "recall": _ratio(sum(r.refused for r in unanswerable), len(unanswerable)),
            "false_refusal_rate": _ratio(sum(r.refused for r in answerable), len(answerable)),
        },
        "latency_ms": {
            "p50": _percentile([r.latency_ms for r in results], 50),
            "p95": _percentile([r.latency_ms for r in results], 95),
        },
        "mode": mode,
    }
    updates = [r for r in results if r.question.type == "update"]
    if updates:
        summary["updates"] = {
            "n": len(updates),
            "current": _mean([float(r.correct) for r in updates]),
            # Asked before the fact first changed, a question has no earlier value to flag.
            "earlier_flagged": _mean([float(r.flags_earlier) for r in updates
                                      if r.question.earlier]),
        }
    curve = refusal_curve(results)
    if curve:
        summary["refusal_curve"] = curve
    if mode == "llm":
        summary["llm"] = llm_metrics(results)
    judged = [r for r in results if r.verdict is not None]
    if judged:
        # A refusal of an answerable question is wrong without asking, as in `accuracy`.
        correct: list[float] = []
        for r in answerable:
            if r.refused:
                correct.append(0.0)
            elif r.verdict is not None and r.verdict.correct is not None:
                correct.append(float(r.verdict.correct))
        faithful = [float(r.verdict.faithful) for r in grounded
                    if r.verdict is not None and r.verdict.faithful is not None]
        summary["judge"] = {
            "correctness": _mean(correct),
            "faithfulness": _mean(faithful),
            "unparsed": sum(r.verdict.correct is None and r.verdict.faithful is None
                            for r in judged if r.verdict is not None),
        }
    return summary


def llm_metrics(results: Sequence[QuestionResult]) -> dict[str, Any]:
    """What only an LLM answerer has: failed requests, unsupported sentences, token counts."""
    answered = [r for r in results if r.error is None]
    # Token counts the LLM server reported for the answer call (not the judge's).
    usage = [r.answer.usage for r in answered if r.answer.usage]
    return {
        "errors": len(results) - len(answered),
        # Answers with a sentence no passage supports (listed, never cited).
        "unsupported": _mean([float(bool(r.answer.unsupported_sentences)) for r in answered]),
        **{f"{kind}_tokens": _mean([float(u[f"{kind}_tokens"]) for u in usage
                                    if f"{kind}_tokens" in u])
           for kind in ("prompt", "completion")},
    }


@dataclass
class EvalReport:
    """Every question's result plus the figures over all of them."""

    results: list[QuestionResult]
    mode: str
    k: int
    judge_model: str | None = None
    source: str = ""
    created: str = field(default_factory=lambda: dt.datetime.now().isoformat(timespec="seconds"))
    refusal_threshold: float | None = None  # the answerer's operating point on `confidence`

    def summary(self) -> dict[str, Any]:
        summary = summarize(self.results, self.mode)
        if "refusal_curve" in summary:
            summary["refusal_threshold"] = self.refusal_threshold
        if "judge" in summary:
            summary["judge"]["model"] = self.judge_model
        return summary


# -- the LLM judge ----------------------------------------------------------------------------

_JSON_OBJECT = re.compile(r"\{.*\}", re.S)


class LLMJudge:
    """Asks an OpenAI-compatible model whether an answer is right and backed by its quotes."""

    def __init__(self, client: Any, model: str, prompts: PromptLibrary, base_url: str = "") -> None:
        self._client = client
        self.model = model
        self.prompts = prompts
        self.base_url = base_url
        prompts.require("judge", "question", "expected", "answer", "quotes")

    def judge(self, question: Question, answer: Answer) -> Verdict:
        expected = (
            "; ".join(question.answers) if question.answerable
            else "(none: the articles do not answer this question)"
        )
        quotes = "\n".join(
            f"[{c.n}] {' '.join(c.quote.split())}" for c in answer.citations
        ) or "(no quotes)"
        prompt = self.prompts.render(
            "judge", question=question.question, expected=expected,
            answer=strip_markers(answer.answer), quotes=quotes,
        )
        text = self._complete(prompt)
        return parse_verdict(text)

    def _complete(self, prompt: str) -> str:
        from assistant.answerers.llm import chat_completion

        reply = chat_completion(self._client, self.base_url, model=self.model,
                                messages=[{"role": "user", "content": prompt}], temperature=0.0)
        return reply.choices[0].message.content or ""


def parse_verdict(text: str) -> Verdict:
    """The judge's JSON reply as a Verdict; an unreadable reply gives an empty one, not a crash."""
    match = _JSON_OBJECT.search(text)
    try:
        raw = json.loads(match.group()) if match else None
    except ValueError:
        raw = None
    if not isinstance(raw, dict):
        return Verdict(None, None, f"unparsed judge reply: {' '.join(text.split())[:120]}")

    def flag(key: str) -> bool | None:
        value = raw.get(key)
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("yes", "true", "no", "false"):
            return value.strip().lower() in ("yes", "true")
        return None

    return Verdict(flag("correct"), flag("faithful"), str(raw.get("reason", ""))[:500])


def build_judge(settings: Settings) -> LLMJudge:
    """The judge for these settings: the one place its OpenAI client is created."""
    if not (settings.openai_api_key or settings.openai_base_url):
        raise ConfigError(
            "--judge needs an OpenAI-compatible LLM: set OPENAI_API_KEY or OPENAI_BASE_URL "
            "(e.g. http://127.0.0.1:11434/v1 for Ollama), or run without --judge"
        )
    from assistant.answerers import llm_base_url, openai_client
    from assistant.prompts import PromptLibrary

    return LLMJudge(openai_client(settings), settings.llm_model,
                    PromptLibrary(settings.prompts_dir), base_url=llm_base_url(settings))


# -- running ----------------------------------------------------------------------------------


def evaluate(
    asker_or_services: Asker | Services,
    questions: Sequence[Question],
    k: int | None = None,
    *,
    judge: LLMJudge | None = None,
    on_progress: Callable[[QuestionResult], None] | None = None,
    source: str = "",
) -> EvalReport:
    """Ask every question and score the answers.

    Args:
        asker_or_services: an `Asker`, or the `Services` whose asker to use.
        k: passages given to the answerer (default: the asker's); retrieval figures always
            look at the top 10.
        judge: also score correctness and faithfulness with this LLM judge.
        on_progress: called after each question, e.g. to advance a progress bar.
    """
    from assistant.app import Services
    from assistant.types import Answer

    asker = (asker_or_services.asker if isinstance(asker_or_services, Services)
             else asker_or_services)
    results: list[QuestionResult] = []

    def title_of(article_id: str) -> str | None:
        meta = asker.retriever.article(article_id)
        return meta.title if meta else None

    failures_in_a_row = 0
    for question in questions:
        started = time.perf_counter()
        error = None
        try:
            answer = asker.ask(question.question, k=k, today=question.question_date)
            failures_in_a_row = 0
        except LLMError as exc:
            # One slow or failing reply must not cost the answers already collected; a server
            # that fails every time is not worth waiting out question by question.
            failures_in_a_row += 1
            if failures_in_a_row >= MAX_FAILURES_IN_A_ROW:
                raise LLMError(f"the LLM failed on {failures_in_a_row} questions in a row, "
                               f"stopping; last error: {exc}") from None
            error = str(exc)
            answer = Answer(question.question, "", grounded=False, mode=asker.answerer.mode)
        latency_ms = (time.perf_counter() - started) * 1000
        top = asker.retriever.search(question.question, RETRIEVAL_DEPTH,
                                     today=question.question_date)
        result = score_question(question, answer, [p.article.id for p in top], latency_ms,
                                asker.store.registry.body, title_of)
        result.error = error
        if judge is not None and not result.refused and error is None:
            try:
                result.verdict = judge.judge(question, answer)
            except LLMError as exc:
                result.verdict = Verdict(None, None, f"judge failed: {exc}")
        results.append(result)
        if on_progress is not None:
            on_progress(result)
    return EvalReport(results, asker.answerer.mode, k or asker.default_k,
                      judge.model if judge else None, source,
                      refusal_threshold=getattr(asker.answerer, "threshold", None))


@contextmanager
def corpus_services(
    settings: Settings,
    corpus: Sequence[Path],
    on_total: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
    embedder: Embedder | None = None,
    announce: Callable[[str], None] | None = None,
) -> Iterator[Services]:
    """Services over a throw-away store holding only `corpus`, so fixtures bring their articles.

    The store is an embedded Chroma in a temporary folder even when the user's settings point at
    a Chroma server: evaluating must never touch the user's index. Pass an `embedder` to reuse
    a loaded model across runs (a tuning loop, tests).
    """
    from assistant.app import build
    from assistant.ingest import ingest

    for folder in corpus:
        if not folder.exists():
            raise InputError(f"corpus {folder} does not exist", "corpus")
    with tempfile.TemporaryDirectory(prefix="assistant-eval-") as tmp:
        parts = {"embedder": embedder} if embedder is not None else {}
        services = build(settings.model_copy(update={"store": Path(tmp), "chroma_url": None}),
                         announce=announce, **parts)
        store = services.open_store(create=True)
        report = ingest(store, services.embedder, list(corpus), chunk_tokens=settings.chunk_tokens,
                        chunk_overlap=settings.chunk_overlap,
                        max_article_chars=settings.max_article_chars, on_total=on_total,
                        on_progress=on_progress)
        if report.skipped:
            first = report.skipped[0]
            raise InputError(
                f"{len(report.skipped)} corpus file(s) could not be read, first {first.path}: "
                f"{first.reason}", "corpus")
        if report.chunks_total == 0:
            raise InputError(f"no articles found in {', '.join(map(str, corpus))}", "corpus")
        yield services


def check_out_dir(out_dir: Path) -> None:
    """Make sure results can be written there before any question is asked: a run of many
    minutes must not end in an error that throws its results away."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out_dir, prefix=".write-check-"):
            pass
    except OSError as e:
        raise InputError(f"cannot write results to {out_dir}: {e.strerror or e}", "out") from e


def write_outputs(report: EvalReport, out_dir: Path) -> tuple[Path, Path]:
    """results.jsonl (one scored question a line) and a self-contained report.html."""
    from assistant.report import render_html

    out_dir.mkdir(parents=True, exist_ok=True)
    results_path = out_dir / "results.jsonl"
    with results_path.open("w", encoding="utf-8") as fh:
        for r in report.results:
            fh.write(json.dumps(r.to_dict(), ensure_ascii=False) + "\n")
    html_path = out_dir / "report.html"
    html_path.write_text(
        render_html(report.summary(), [r.to_dict() for r in report.results],
                    source=report.source, k=report.k, created=report.created),
        encoding="utf-8",
    )
    return results_path, html_path


def _cell(value: Any, digits: int) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _digits(name: str, default: int) -> int:
    if name == "words":
        return 1
    return 0 if name.endswith("_tokens") else default


def format_summary(summary: dict[str, Any]) -> str:
    """The summary as an aligned plain-text table for the terminal."""
    lines = [
        f"questions   {summary['n']} ({summary['n_answerable']} answerable, "
        f"{summary['n_unanswerable']} unanswerable); answerer: {summary['mode']}",
    ]
    errors = summary.get("llm", {}).get("errors")
    if errors:
        lines.append(f"errors      {errors} question(s) got no answer from the LLM; "
                     "see `failure` in results.jsonl")
    groups = ["retrieval", "answer", "citations", "refusal", "updates", "latency_ms", "llm",
              "judge"]
    for group in groups:  # refusal_curve is for report.html and --json, too long for a table
        values = summary.get(group)
        if not isinstance(values, dict):
            continue
        digits = 0 if group == "latency_ms" else 3
        cells = "  ".join(
            f"{name} {_cell(v, _digits(name, digits))}" for name, v in values.items()
        )
        lines.append(f"{group:<11} {cells}")
    return "\n".join(lines)


_REPORT_DATE = re.compile(r"\b\d{1,2} (?:January|February|March|April|May|June|July|August|"
                          r"September|October|November|December) \d{4}\b")


def _first_sentence(text: str) -> str:
    from assistant.chunking import split_sentences

    spans = split_sentences(text)
    return text[spans[0].start:spans[0].end] if spans else text
