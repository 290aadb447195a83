"""Replay a real model's captured replies through the answer pipeline, without the model.

The model's text is fixed once captured (`bench/llm_capture.py`), so everything that happens
after it (marker parsing, per-claim support, post-hoc citations, refusal rules) can be tuned
and measured in seconds: this script asks every fixture question through the real Asker, with
an answerer that returns the captured reply, at each support threshold given.

    python bench/llm_replay.py /tmp/run.capture.jsonl bench/data/llm-sample.jsonl \\
        --corpus tests/fixtures/corpus --corpus seeds --thresholds 0,0.4,0.5,0.6
    python bench/llm_replay.py CAPTURE FIXTURES --corpus ... --claims   # per-sentence scores

Tune only on the tuning sample (bench/data/llm-sample.jsonl).
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from assistant.answerers.base import Draft, Evidence
from assistant.answerers.llm import reply_draft
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

    def __init__(self, replies: dict[str, str], checked: bool = True) -> None:
        self.replies = replies
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


def signature(result: QuestionResult) -> tuple[bool, frozenset[tuple[int, str]]]:
    """What a reader sees change: grounded or not, and which passages are cited."""
    return result.answer.grounded, frozenset((c.n, c.article_id) for c in result.answer.citations)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("capture", type=Path, nargs="+")
    parser.add_argument("fixtures", type=Path)
    parser.add_argument("--corpus", type=Path, action="append", required=True)
    parser.add_argument("--thresholds", default="0.5",
                        help="support thresholds to compare with the marker check alone")
    parser.add_argument("--claims", action="store_true",
                        help="print each answer sentence with its best support, for labelling")
    args = parser.parse_args()
    replies: dict[str, str] = {}
    for path in args.capture:
        replies.update(answer_replies(path))
    questions = load_questions(args.fixtures)
    answerer = ReplayAnswerer(replies)
    settings = Settings(llm="extractive")
    with corpus_services(settings, args.corpus) as services:
        def run(answerer: ReplayAnswerer, threshold: float) -> list[QuestionResult]:
            asker = Asker(services.store, services.retriever, answerer, settings.top_k,
                          settings.max_question_chars, threshold)
            return evaluate(asker, questions).results

        base = run(ReplayAnswerer(replies, checked=False), 0.0)
        print(json.dumps({"check": "markers only", **figures(base)}))
        for threshold in [float(t) for t in args.thresholds.split(",")]:
            results = run(answerer, threshold)
            changed = sum(signature(a) != signature(b) for a, b in zip(base, results,
                                                                       strict=True))
            print(json.dumps({"check": f"support >= {threshold}", **figures(results),
                              "changed": changed}))
        if answerer.missing:
            print(f"{len(set(answerer.missing))} question(s) had no captured reply")
        if args.claims:
            print_claims(services, answerer, questions, settings)


def print_claims(services: Any, answerer: ReplayAnswerer, questions: Any,
                 settings: Settings) -> None:
    """Every answer sentence with the best supporting sentence's score parts (tab-separated)."""
    from assistant.citations import claim_regions, normalize_markers
    from assistant.keyword import terms
    from assistant.support import ClaimChecker, bare

    asker = Asker(services.store, services.retriever, answerer, settings.top_k,
                  settings.max_question_chars)
    for q in questions:
        evidence = asker._evidence(q.question, [], None, None, None, q.question_date, {})
        text = answerer.replies.get(q.question, "")
        if reply_draft(text.strip()).grounded is False:
            print(f"{q.id}\t{q.type}\tREFUSAL\t{' '.join(text.split())[:80]}")
            continue
        checker = ClaimChecker(evidence, services.embedder, 0.0)
        normal = normalize_markers(text, len(evidence.passages))
        for region in claim_regions(normal):
            sentence = normal[region.start:region.end]
            supports = checker.supports(sentence)
            _, new = checker.claim_terms(sentence)
            best = supports[0] if supports else None
            quote = ""
            if best is not None:
                passage = checker.by_n[best.n]
                body = evidence.body(passage.article.id) or ""
                quote = " ".join(body[best.span.start:best.span.end].split())
                gold = passage.article.id in q.article_ids
            else:
                gold = False
            given = [n for n in re.findall(r"\[(\d+)\]", sentence)]
            print("\t".join([
                q.id, q.type, f"{best.score:.3f}" if best else "-", f"[{best.n}]" if best else "-",
                f"given={','.join(given) or '-'}", f"gold={gold}", f"new={len(new)}",
                bare(sentence)[:100], quote[:140],
                f"new_in_quote={len(new & set(terms(quote)))}",
            ]))


if __name__ == "__main__":
    main()
