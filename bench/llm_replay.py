"""Replay a real model's captured replies through the answer pipeline, without the model.

The model's text is fixed once captured (`bench/llm_capture.py`), so everything that happens
after it (marker parsing, per-claim support, post-hoc citations, refusal rules) can be tuned
and measured in seconds: this script asks every fixture question through the real Asker, with
an answerer that returns the captured reply, at each support threshold given.

    python bench/llm_replay.py /tmp/run.capture.jsonl bench/data/llm-sample.jsonl \\
        --corpus tests/fixtures/corpus --corpus seeds --thresholds 0.4,0.5,0.6

Tune only on the tuning sample (bench/data/llm-sample.jsonl).
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from assistant.answerers.base import Answerer, Draft, Evidence
from assistant.answerers.llm import confident, reply_draft
from assistant.answering import Asker
from assistant.config import Settings
from assistant.evaluate import QuestionResult, corpus_services, evaluate, load_questions
from assistant.types import Turn

_QUESTION = re.compile(r"^Question: (.+)$", re.M)


def answer_replies(capture: Path) -> dict[str, str]:
    """Question -> the model's reply, from the answer requests of a capture file."""
    replies: dict[str, str] = {}
    for line in capture.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        messages = record["request"].get("messages", [])
        if len(messages) < 2 or messages[0]["role"] != "system" or record["status"] != 200:
            continue  # the judge and condense prompts are single user messages
        asked = _QUESTION.findall(messages[-1]["content"])
        if asked:
            replies[asked[-1].strip()] = record["content"]
    return replies


class ReplayAnswerer:
    """Answers with the captured reply to the same question."""

    label = "LLM: replay"

    def __init__(self, replies: dict[str, str], checked: bool = True,
                 offline: Answerer | None = None) -> None:
        self.replies = replies
        # The answerer whose answer replaces a reply no passage supports (as LLMAnswerer's
        # gate does), if any.
        self.offline = offline
        self.missing: list[str] = []
        # As an "extractive" answerer its drafts get the marker check alone (pointing at a
        # given passage), which is how LLM answers were verified before per-claim support.
        self.mode: Literal["extractive", "llm"] = "llm" if checked else "extractive"

    def condense(self, question: str, history: Sequence[Turn]) -> str:
        return question

    def draft(self, evidence: Evidence, history: Sequence[Turn]) -> Draft:
        text = self.replies.get(evidence.question)
        if text is None:
            self.missing.append(evidence.question)
            text = ""
        return reply_draft(text.strip())

    def stream(self, evidence: Evidence, history: Sequence[Turn]) -> Iterator[str | Draft]:
        draft = self.draft(evidence, history)
        yield draft.text
        yield draft

    def fallback(self, evidence: Evidence, history: Sequence[Turn]) -> Draft | None:
        if self.offline is None:
            return None
        return confident(self.offline.draft(evidence, history))


def figures(results: Sequence[QuestionResult]) -> dict[str, Any]:
    answerable = [r for r in results if r.question.answerable]
    unanswerable = [r for r in results if not r.question.answerable]
    valid = [v for r in results for v in r.citation_valid]
    precise = [p for r in answerable for p in r.citation_precise]
    refused = [r for r in results if r.refused]

    def ratio(a: float, b: float) -> str:
        return f"{a / b:.3f}" if b else "-"

    return {
        "grounded(ans)": ratio(sum(not r.refused for r in answerable), len(answerable)),
        "accuracy": ratio(sum(r.correct for r in answerable), len(answerable)),
        "cit.valid": ratio(sum(valid), len(valid)),
        "cit.precision": ratio(sum(precise), len(precise)),
        "unsupported": ratio(sum(bool(r.answer.unsupported_sentences) for r in results),
                             len(results)),
        "ref.precision": ratio(sum(not r.question.answerable for r in refused), len(refused)),
        "ref.recall": ratio(sum(r.refused for r in unanswerable), len(unanswerable)),
    }


def changes(before: Sequence[QuestionResult], after: Sequence[QuestionResult]) -> dict[str, int]:
    """What a reader sees change: answers that became (un)grounded, and grounded answers
    whose cited articles differ."""
    flipped = sum(a.answer.grounded != b.answer.grounded for a, b in zip(before, after,
                                                                         strict=True))
    moved = sum(a.answer.grounded and b.answer.grounded
                and {c.article_id for c in a.answer.citations}
                != {c.article_id for c in b.answer.citations}
                for a, b in zip(before, after, strict=True))
    return {"grounding changed": flipped, "cited articles changed": moved}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("capture", type=Path, nargs="+")
    parser.add_argument("fixtures", type=Path)
    parser.add_argument("--corpus", type=Path, action="append", required=True)
    parser.add_argument("--thresholds", default="0.5",
                        help="support thresholds to compare with the marker check alone")
    parser.add_argument("-k", type=int, default=Settings().top_k,
                        help="passages per question, as in the captured run")
    parser.add_argument("--no-fallback", action="store_true",
                        help="keep a reply no passage supports instead of the offline "
                             "answerer's answer (the product's behaviour before stop 20)")
    parser.add_argument("--out", type=Path, default=None,
                        help="write each question's answer and outcome at the last threshold "
                             "(JSONL), to compare two versions of the code")
    args = parser.parse_args()
    replies: dict[str, str] = {}
    for path in args.capture:
        replies.update(answer_replies(path))
    questions = load_questions(args.fixtures)
    settings = Settings(llm="extractive")
    with corpus_services(settings, args.corpus) as services:
        answerer = ReplayAnswerer(replies, offline=None if args.no_fallback
                                  else services.answerer)
        def run(answerer: ReplayAnswerer, threshold: float) -> list[QuestionResult]:
            asker = Asker(services.store, services.retriever, answerer, args.k,
                          settings.max_question_chars, threshold)
            return evaluate(asker, questions).results

        base = run(ReplayAnswerer(replies, checked=False), 0.0)
        print(json.dumps({"check": "markers only", **figures(base)}))
        for threshold in [float(t) for t in args.thresholds.split(",")]:
            results = run(answerer, threshold)
            print(json.dumps({"check": f"support >= {threshold}", **figures(results),
                              **changes(base, results)}))
        if args.out is not None:
            with args.out.open("w", encoding="utf-8") as f:
                for r in results:
                    f.write(json.dumps({"id": r.question.id, "refused": r.refused,
                                        "correct": r.correct, "answer": r.answer.answer}) + "\n")
        if answerer.missing:
            print(f"{len(set(answerer.missing))} question(s) had no captured reply")


if __name__ == "__main__":
    main()
