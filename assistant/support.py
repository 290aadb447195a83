"""Per-claim support for LLM answers: a marker counts only when its passage backs the sentence.

A model's `[n]` is a claim, not a fact. Each sentence of an LLM answer is checked against the
sentences of the passage it cites (and its headline): the best one must reach a minimum
support score (the answer's new words found in it, plus embedding similarity). If it does not, the other given
passages are tried, and a sentence the model left without a marker gets the passage that
supports it. A sentence nothing supports is reported in `unsupported_sentences`, never cited.
A sentence that only restates the question carries no claim; an answer made only of those is
a refusal, and so is one that gives no count when the question asks for one.

The same check runs sentence by sentence while an answer streams in (`ClaimVerifier.feed`),
so each citation can be sent as soon as its sentence is complete.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from assistant.answerers.base import NOT_IN_ARTICLES, Evidence
from assistant.chunking import split_sentences
from assistant.citations import (
    MARKER,
    cited_numbers,
    claim_regions,
    make_citation,
    normalize_markers,
    verify,
)
from assistant.embeddings import Embedder
from assistant.keyword import terms, words
from assistant.question import NUMBER_WORDS, asks_about_steering, asks_count, steering
from assistant.types import Citation, Passage, Span

# The least support a cited sentence must give a claim (see `support_score`); measured on the
# LLM tuning sample, bench/README.md "The LLM answerer".
MIN_SUPPORT = 0.5
# A count: a number not given as a share ("47.6%", "12 percent").
_COUNT = re.compile(rf"(?:\b(?:{NUMBER_WORDS})\b|\b\d(?:[\d,.]*\d)?)(?![\d,.]*\s*(?:%|per ?cent))",
                    re.I)
_MARKERS_WITH_SPACE = re.compile(r"[ \t]*" + MARKER.pattern)
_CLOSING = re.compile(r"[.!?]+[\"'”’)]*$")
_LABEL = re.compile(r"^\s*(?:answer|final answer)\s*:\s*", re.I)
# Small words that change what a sentence claims; stop-word lists drop them, the check must not
# ("voted against it", "did not resume").
_NEGATIONS = frozenset({"not", "no", "never", "nor", "against", "without"})
_AFFIRMATIONS = frozenset({"yes"})
_YES_NO = re.compile(r"\s*(did|does|do|is|are|was|were|will|has|have|had|can|could|should|would)"
                     r"\b", re.I)
_AFTER_STOP = re.compile(r"[.!?][\"'”’)]*\s*(?:\[\d+\]\s*)+$")


def bare(text: str) -> str:
    """The sentence without its markers: 'It rained [1].' -> 'It rained.'."""
    return " ".join(_MARKERS_WITH_SPACE.sub("", text).split())


def content(text: str) -> set[str]:
    """The words a claim is checked on: stemmed content words plus negations."""
    return set(terms(text)) | (_NEGATIONS & set(words(text)))


def place_markers(sentence: str, numbers: Sequence[int]) -> str:
    """'It rained.' + [2] -> 'It rained [2].': markers stay inside the sentence they cite."""
    marks = "".join(f"[{n}]" for n in numbers)
    if not marks:
        return sentence
    match = _CLOSING.search(sentence)
    if not match:
        return f"{sentence} {marks}"
    return f"{sentence[: match.start()]} {marks}{match.group()}"


@dataclass(frozen=True)
class Candidate:
    """A sentence of a given passage that an answer sentence may cite."""

    n: int
    span: Span
    terms: frozenset[str]
    vector: np.ndarray


@dataclass(frozen=True)
class SupportParts:
    """What a passage sentence shares with an answer sentence read with its question."""

    new: float  # share of the claim's new words (not in the question: the answer) it has
    context: float  # share of the words of question and claim together it has
    cosine: float  # embedding similarity of "question claim" and the sentence

    @property
    def score(self) -> float:
        """Support, 0..1: the answer's own words must be there, in the question's context.

        A one-word answer found in an unrelated sentence ("BANANA") has `new` 1 but little
        context, so the product keeps it low.
        """
        return self.new * (0.5 * self.context + 0.5 * max(self.cosine, 0.0))


@dataclass(frozen=True)
class Support:
    """How well one passage sentence backs one answer sentence."""

    n: int
    span: Span
    parts: SupportParts

    @property
    def score(self) -> float:
        return self.parts.score


@dataclass(frozen=True)
class CheckedSentence:
    """One answer sentence after the check: its text with honoured markers, what backs it."""

    text: str
    supports: tuple[Support, ...]
    claim: bool  # False for a sentence that adds nothing to the question
    changed: bool  # the markers differ from the valid ones the model wrote

    @property
    def unsupported(self) -> bool:
        return self.claim and not self.supports


@dataclass
class CheckedAnswer:
    """A verified LLM answer: rewritten text, citations, and sentences nothing supports."""

    text: str
    citations: list[Citation]
    unsupported: list[str]
    grounded: bool
    changed: int  # sentences whose markers the check changed


class ClaimChecker:
    """Scores answer sentences against every sentence of the given passages."""

    def __init__(self, evidence: Evidence, embedder: Embedder,
                 threshold: float = MIN_SUPPORT) -> None:
        self.evidence = evidence
        self.embedder = embedder
        self.threshold = threshold
        self.question_terms = content(evidence.question)
        self.yes_no = bool(_YES_NO.match(evidence.question))
        self.by_n: dict[int, Passage] = {p.n: p for p in evidence.passages}
        self.candidates = self._candidates()

    def _candidates(self) -> list[Candidate]:
        out: list[Candidate] = []
        missing: list[tuple[int, Span, str]] = []
        for p in self.evidence.passages:
            body = self.evidence.body(p.article.id)
            if body is None:
                continue
            record = self.evidence.records.get(p.chunk_id)
            if record is not None and len(record.sentence_vectors) == len(record.sentences):
                for (start, end), vector in zip(record.sentences, record.sentence_vectors,
                                                strict=True):
                    out.append(Candidate(p.n, Span(start, end), frozenset(content(body[start:end])),
                                         vector))
            else:
                for span in split_sentences(body[p.start:p.end], p.start):
                    missing.append((p.n, span, body[span.start:span.end]))
        # Headlines are evidence too: a model may answer from the headline it was shown
        # ("FDA lets Halvora restart migraine trial"), which no body sentence words the same.
        titled: dict[str, int] = {}
        for p in self.evidence.passages:
            if p.article.title.strip():
                titled.setdefault(p.article.id, p.n)
        for n in titled.values():
            title = self.by_n[n].article.title
            missing.append((n, Span(0, len(title), "title"), title))
        if missing:  # no stored sentence vectors (headlines never have them): embed them now
            vectors = self.embedder.embed([text for _, _, text in missing])
            for (n, span, text), vector in zip(missing, vectors, strict=True):
                out.append(Candidate(n, span, frozenset(content(text)), vector))
        # A line written to steer an assistant supports no claim, whatever the model made of it.
        if not asks_about_steering(self.evidence.question):
            out = [c for c in out if not steering(self._text(c))]
        return [c for c in out if c.terms]

    def _text(self, c: Candidate) -> str:
        text = self.evidence.text(self.by_n[c.n].article.id, c.span.field) or ""
        return text[c.span.start:c.span.end]

    def claim_terms(self, sentence: str) -> tuple[set[str], set[str]]:
        """(all content words, the ones the question does not already have).

        The answer to a yes/no question may repeat it word for word ("Yes, the council
        approved it"): then all of its words are what a passage must state.
        """
        said = content(_LABEL.sub("", bare(sentence))) - _AFFIRMATIONS
        new = said - self.question_terms
        if not new and self.yes_no:
            new = said
        return said, new

    def supports(self, sentence: str) -> list[Support]:
        """Every candidate's support for `sentence`, best first."""
        said, new = self.claim_terms(sentence)
        if not new or not self.candidates:
            return []
        context = said | self.question_terms
        claim = _LABEL.sub("", bare(sentence))
        vector = self.embedder.embed([f"{self.evidence.question} {claim}"])[0]
        cosines = np.stack([c.vector for c in self.candidates]) @ vector
        scored = [Support(c.n, c.span, SupportParts(len(new & c.terms) / len(new),
                                                    len(context & c.terms) / len(context),
                                                    float(cos)))
                  for c, cos in zip(self.candidates, cosines, strict=True)]
        scored.sort(key=lambda s: (-s.score, s.n, s.span.start))
        return scored

    def check(self, sentence: str) -> CheckedSentence:
        """Honour the sentence's markers that its passages support; else find the one that does."""
        written = cited_numbers(sentence)
        given = tuple(n for n in written if n in self.by_n)
        _, new = self.claim_terms(sentence)
        if not new:
            return CheckedSentence(bare(sentence), (), claim=False, changed=bool(given))
        ranked = self.supports(sentence)
        best_of: dict[int, Support] = {}
        for s in ranked:
            best_of.setdefault(s.n, s)
        honoured = [best_of[n] for n in given if n in best_of and best_of[n].score >= self.threshold]
        if not honoured and ranked and ranked[0].score >= self.threshold:
            honoured = [ranked[0]]
        numbers = tuple(s.n for s in honoured)
        # Rewritten only when needed, so the model's wording and marker places survive;
        # markers after the full stop ("It rained.\n[1]") move inside.
        keep = numbers == written and not _AFTER_STOP.search(sentence)
        text = sentence.strip() if keep else place_markers(bare(sentence), numbers)
        return CheckedSentence(text, tuple(honoured), claim=True, changed=numbers != given)


def _is_complete(text: str, regions: list[Span], i: int) -> bool:
    """Whether region `i` can no longer change as more text arrives.

    True once the next sentence has begun with a whole word that is not a "Sources:" label
    (whose markers would still belong to the sentences before it).
    """
    if i + 1 >= len(regions):
        return False
    first = re.match(r"\s*([A-Za-z0-9'’-]+)\s", text[regions[i + 1].start:])
    if first is None:
        return False
    return not re.match(r"(sources?|citations?|references?|refs?)$", first.group(1), re.I)


@dataclass
class ClaimVerifier:
    """Verifies an LLM answer sentence by sentence, also while it streams in."""

    checker: ClaimChecker
    _text: str = ""
    _checked: dict[str, CheckedSentence] = field(default_factory=dict)
    _sent: set[tuple[int, int, int]] = field(default_factory=set)
    _done: int = 0

    @classmethod
    def for_evidence(cls, evidence: Evidence, embedder: Embedder,
                     threshold: float = MIN_SUPPORT) -> ClaimVerifier:
        return cls(ClaimChecker(evidence, embedder, threshold))

    def _check(self, sentence: str) -> CheckedSentence:
        if sentence not in self._checked:
            self._checked[sentence] = self.checker.check(sentence)
        return self._checked[sentence]

    def feed(self, piece: str) -> Iterator[Citation]:
        """The citations of the sentences this piece of text completes (each only once)."""
        self._text += piece
        text = normalize_markers(self._text, max(self.checker.by_n, default=0))
        regions = claim_regions(text)
        while self._done < len(regions) and _is_complete(text, regions, self._done):
            region = regions[self._done]
            self._done += 1
            for citation in self._citations([self._check(text[region.start:region.end])]):
                key = (citation.n, citation.start, citation.end)
                if key not in self._sent:
                    self._sent.add(key)
                    yield citation

    def unsent(self, citations: Sequence[Citation]) -> Iterator[Citation]:
        """Those of the final citations the stream has not sent yet (the last sentence's)."""
        for citation in citations:
            key = (citation.n, citation.start, citation.end)
            if key not in self._sent:
                self._sent.add(key)
                yield citation

    def _citations(self, sentences: Sequence[CheckedSentence]) -> list[Citation]:
        out: list[Citation] = []
        seen: set[tuple[int, Span]] = set()
        evidence = self.checker.evidence
        for checked in sentences:
            for s in checked.supports:
                passage = self.checker.by_n[s.n]
                body = self.checker.evidence.body(passage.article.id)
                if body is None or (s.n, s.span) in seen:
                    continue
                citation = make_citation(s.n, passage, s.span, body, s.score)
                if citation is not None and verify(citation, evidence.body,
                                                   lambda a: evidence.text(a, "title")):
                    seen.add((s.n, s.span))
                    out.append(citation)
        return out

    def finish(self, answer: str) -> CheckedAnswer:
        """The whole answer checked: the same per-sentence results the stream already sent."""
        text = normalize_markers(answer, max(self.checker.by_n, default=0)).strip()
        regions = claim_regions(text)
        checked = [self._check(text[r.start:r.end]) for r in regions]
        pieces: list[str] = []
        last = 0
        for region, result in zip(regions, checked, strict=True):
            pieces.append(text[last:region.start])
            pieces.append(result.text)
            last = region.end
        pieces.append(text[last:])
        rewritten = _tidy("".join(pieces))
        claims = [c for c in checked if c.claim]
        # An answer that only restates the question, or that gives no count when a count is
        # asked for ("47.6% [1]" for "How many votes ..."), answers nothing.
        if not claims or (asks_count(self.checker.evidence.question)
                          and not any(_COUNT.search(bare(c.text)) for c in claims)):
            return CheckedAnswer(NOT_IN_ARTICLES, [], [], grounded=False, changed=0)
        citations = self._citations(checked)
        return CheckedAnswer(
            text=rewritten,
            citations=citations,
            unsupported=[bare(c.text) for c in claims if c.unsupported],
            grounded=bool(citations),
            changed=sum(c.changed for c in checked),
        )


def _tidy(text: str) -> str:
    """Spaces left where markers were removed: 'A .' -> 'A.'."""
    text = re.sub(r"[ \t]{2,}", " ", text)
    return re.sub(r"[ \t]+([.,;:!?])", r"\1", text).strip()
