"""One question in, one answer out: condense, retrieve, draft, verify every citation."""

from __future__ import annotations

import datetime as dt
import re
import time
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from assistant.answerers.base import NOT_IN_ARTICLES, Answerer, Draft, Evidence, sentence_gap
from assistant.answerers.updates import day
from assistant.citations import (
    MARKER,
    best_supporting_sentence,
    make_citation,
    parse_claims,
    strip_invalid_markers,
    verify,
)
from assistant.errors import InputError
from assistant.keyword import terms
from assistant.retrieval import Retriever, narrow_span
from assistant.store import Store
from assistant.support import MIN_SUPPORT, ClaimVerifier
from assistant.types import Answer, Citation, Passage, Span, Turn

MAX_QUESTION_CHARS = 2000
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def check_question(question: object, field: str = "question", limit: int = MAX_QUESTION_CHARS) -> str:
    """The question, stripped; an InputError naming `field` when it is unusable."""
    if not isinstance(question, str):
        raise InputError(f"{field} must be a string", field)
    text = unicodedata.normalize("NFC", check_text(question, field)).strip()  # as articles
    # Control and format characters alone (NUL, zero-width space) ask nothing either.
    if not any(ch.isprintable() and not ch.isspace() for ch in text):
        raise InputError(f"{field} is empty; ask something about the articles", field)
    if len(text) > limit:
        raise InputError(f"{field} is {len(text)} characters long; the limit is {limit}", field)
    return text


def check_text(text: str, field: str) -> str:
    """`text`, unless it holds a lone UTF-16 surrogate (JSON's "\\ud800", or the bytes of a
    command-line argument that is not UTF-8), which the tokenizer and SQLite cannot take."""
    bad = _SURROGATE.search(text)
    if bad is not None:
        raise InputError(f"{field} is not valid Unicode text: it holds a lone surrogate "
                         f"{bad.group()!r} at character {bad.start()} (is it UTF-8?)", field)
    return text


@dataclass
class Asker:
    """Ties retrieval and an answerer together; shared by the CLI, API, UI and eval."""

    store: Store
    retriever: Retriever
    answerer: Answerer
    default_k: int = 8
    max_question_chars: int = MAX_QUESTION_CHARS
    support_threshold: float = MIN_SUPPORT  # LLM answers: least support a citation needs

    def _evidence(self, question: str, history: Sequence[Turn], k: int | None,
                  since: str | None, until: str | None, today: dt.date | None,
                  timings: dict[str, float]) -> Evidence:
        standalone = self.answerer.condense(question, history) if history else question
        vector = self.retriever.embedder.embed([standalone])[0]
        passages = self.retriever.search(standalone, k or self.default_k, since, until, today,
                                         timings, vector=vector)
        bodies = {p.article.id: self.retriever.body(p.article.id) or "" for p in passages}
        # Sentence spans and vectors: the extractive answerer picks from them, the LLM path
        # builds its excerpts and checks its claims with them.
        records = self.store.registry.chunk_records([p.chunk_id for p in passages])
        unknown = self.store.keyword_index().unknown(set(terms(standalone)))
        return Evidence(standalone, passages, bodies, records, vector, today, unknown)

    def ask(self, question: str, history: Sequence[Turn] = (), *, k: int | None = None,
            since: str | None = None, until: str | None = None,
            today: dt.date | None = None, debug: bool = False) -> Answer:
        """The answer with verified citations (and, with `debug`, the scores behind it)."""
        answer: Answer | None = None
        # Not streamed: a server reports token usage for whole replies only.
        for item in self.ask_stream(question, history, k=k, since=since, until=until, today=today,
                                    debug=debug, stream=False):
            if isinstance(item, Answer):
                answer = item
        assert answer is not None
        return answer

    def ask_stream(self, question: str, history: Sequence[Turn] = (), *, k: int | None = None,
                   since: str | None = None, until: str | None = None,
                   today: dt.date | None = None, debug: bool = False, stream: bool = True,
                   citations: bool = False) -> Iterator[str | Citation | Answer]:
        """Pieces of the answer text as they are produced, then the verified Answer.

        With `citations`, each verified citation of an LLM answer is also yielded as soon as
        its sentence is complete. `stream=False` asks the answerer for the whole draft at once.
        """
        started = time.perf_counter()
        question = check_question(question, limit=self.max_question_chars)
        timings: dict[str, float] = {}
        evidence = self._evidence(question, history, k, since, until, today, timings)
        if self.answerer.mode == "llm":
            # A model reads whatever it is shown: an answer as of a past day (the question's
            # date) would take the figure of a later report. The extractive answerer weighs
            # dates in its ranker, which was fitted with every passage in view, and answers
            # only from reports published by then (ExtractiveAnswerer.score).
            evidence = evidence.as_of()
        answer_started = time.perf_counter()
        claims = (ClaimVerifier.for_evidence(evidence, self.retriever.embedder,
                                             self.support_threshold)
                  if self.answerer.mode == "llm" else None)
        draft: Draft | None = None
        items = (self.answerer.stream(evidence, history) if stream
                 else iter([self.answerer.draft(evidence, history)]))
        for item in items:
            if isinstance(item, Draft):
                draft = item
            else:
                yield item
                if citations and claims is not None:
                    yield from claims.feed(item)
        assert draft is not None
        answer = finish(question, draft, evidence, self.answerer.mode, claims)
        if answer.mode == "llm" and not answer.grounded and answer.unsupported_sentences:
            answer = self._instead(question, answer, evidence, history)
        answer = outdated(answer, evidence) or answer
        # Reports published after the day asked about are neither cited nor shown.
        answer.passages = [p for p in answer.passages if evidence.published(p)]
        if citations and claims is not None:
            yield from claims.unsent(answer.citations)
        answer.standalone_question = evidence.question if evidence.question != question else None
        answer.model = getattr(self.answerer, "model_version", None)
        answer.usage = draft.usage or word_usage(evidence.question, history, evidence.passages,
                                                 answer.answer)
        if debug:
            from assistant.explain import explain

            answer.debug = explain(evidence.passages, draft, self.answerer.mode,
                                   self.retriever.fusion, getattr(self.answerer, "threshold", None))
        now = time.perf_counter()
        timings["answer"] = (now - answer_started) * 1000
        timings["total"] = (now - started) * 1000
        answer.timings_ms = {"retrieve": timings.get("retrieve", 0.0), "answer": timings["answer"],
                             "total": timings["total"]}
        yield answer

    def _instead(self, question: str, answer: Answer, evidence: Evidence,
                 history: Sequence[Turn]) -> Answer:
        """A verified answer in place of a model's answer no passage supports, when the
        answerer has one; the model's sentences stay listed as unsupported."""
        draft = self.answerer.fallback(evidence, history)
        if draft is None:
            return answer
        offline = finish(question, draft, evidence, "extractive")
        if not offline.grounded:
            return answer
        offline.unsupported_sentences = answer.unsupported_sentences
        return offline


def word_usage(question: str, history: Sequence[Turn], passages: Sequence[Passage],
               answer: str) -> dict[str, int]:
    """OpenAI-style usage counted in words: what an LLM would have been sent (the question,
    the conversation and the passages) and the answer without its markers."""
    prompt = len(question.split()) + sum(len(t.content.split()) for t in history) \
        + sum(len(p.text.split()) for p in passages)
    completion = len(re.sub(r"\s*" + MARKER.pattern, "", answer).split())
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion}


def finish(question: str, draft: Draft, evidence: Evidence, mode: str,
           claims: ClaimVerifier | None = None) -> Answer:
    """Check every marker against the given passages and every quote against its article.

    With `claims` (LLM answers), a marker also needs its passage to support the sentence.
    """
    if claims is not None and draft.grounded:
        checked = claims.finish(draft.text)
        text, citations = checked.text, list(checked.citations)
        updates: list[dict[str, Any]] = []
        if checked.grounded and draft.addendum:
            # The earlier values, quoted from the reports that gave them.
            added = _quoted_citations(draft.addendum, draft, evidence)
            if added:
                text = f"{text.rstrip()}{sentence_gap(text)}{draft.addendum}"
                citations += [c for c in added if c not in citations]
                updates = draft.updates
        return Answer(question=question, answer=text, grounded=checked.grounded,
                      mode="llm", citations=citations,
                      unsupported_sentences=checked.unsupported, passages=list(evidence.passages),
                      confidence=draft.confidence, updates=updates)
    by_n: dict[int, Passage] = {p.n: p for p in evidence.passages}
    text = strip_invalid_markers(draft.text, set(by_n)) if draft.grounded else draft.text
    citations = []
    unsupported: list[str] = []
    if draft.grounded:
        for claim in parse_claims(text):
            if not claim.markers:
                bare = MARKER.sub("", claim.text).strip()
                if len(terms(bare)) >= 2:
                    unsupported.append(bare)
        citations = _quoted_citations(text, draft, evidence)
    grounded = draft.grounded and bool(citations)
    return Answer(
        question=question,
        answer=text,
        grounded=grounded,
        mode="llm" if mode == "llm" else "extractive",
        citations=citations,
        unsupported_sentences=unsupported,
        passages=list(evidence.passages),
        short_answer=draft.short_answer if grounded else None,
        confidence=draft.confidence,
        updates=draft.updates if grounded else [],
    )


def outdated(answer: Answer, evidence: Evidence) -> Answer | None:
    """A refusal, when a question about the last few days ("this week") is answered only from
    reports weeks older: an old budget vote is not what the council voted on this week. Said
    with the newest cited report's date. Undated reports are never too old."""
    today = evidence.today or dt.date.today()
    narrow = narrow_span(evidence.question, today)
    if narrow is None or not answer.grounded or not answer.citations:
        return None
    phrase, oldest = narrow
    dates = [c.date for c in answer.citations]
    if any(not d or d >= oldest.isoformat() for d in dates):
        return None
    newest = max(d for d in dates if d)
    days = (today - dt.date.fromisoformat(newest)).days
    return Answer(question=answer.question,
                  answer=f"{NOT_IN_ARTICLES} The newest report they have on this is from "
                         f"{day(newest)}, {days} days before {day(today.isoformat())}, so not "
                         f"{phrase.lower()}.",
                  grounded=False, mode=answer.mode, passages=answer.passages,
                  confidence=answer.confidence)


def _quoted_citations(text: str, draft: Draft, evidence: Evidence) -> list[Citation]:
    """The verified citations of `text`'s markers: the draft's quotes for each passage, or
    the passage sentence that best supports the claim."""
    by_n: dict[int, Passage] = {p.n: p for p in evidence.passages}
    citations: list[Citation] = []
    seen: set[tuple[int, int, int, str]] = set()
    for claim in parse_claims(text):
        for n in claim.markers:
            passage = by_n.get(n)
            body = evidence.body(passage.article.id) if passage is not None else None
            if passage is None or body is None:
                continue
            spans = draft.quotes.get(n) or [best_supporting_sentence(claim.text, passage, body)]
            for span in _spans_for_claim(claim.text, spans, body, passage.article.title):
                key = (n, span.start, span.end, span.field)
                if key in seen:
                    continue
                citation = make_citation(n, passage, span, body,
                                         draft.scores.get(n, passage.score))
                if citation is not None and verify(
                        citation, evidence.body, lambda a: evidence.text(a, "title")):
                    seen.add(key)
                    citations.append(citation)
    return citations


def _spans_for_claim(claim: str, spans: list[Span], body: str, title: str) -> list[Span]:
    """Of the spans a marker stands for, the ones this claim quotes (all, if none match)."""
    if len(spans) <= 1:
        return spans
    flat = " ".join(MARKER.sub("", claim).split())
    matching = [s for s in spans
                if " ".join((title if s.field == "title" else body)[s.start:s.end].split()) in flat]
    return matching or spans
