"""The offline answerer: picks the sentences of the retrieved passages that answer the question."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from assistant.answerers.base import NOT_IN_ARTICLES, Draft, Evidence
from assistant.keyword import STOPWORDS, terms, words
from assistant.types import Span, Turn

_MONTHS = (
    "january|february|march|april|may|june|july|august|september|october|november|december|"
    "jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
)
_DATE = re.compile(
    rf"\b({_MONTHS}|monday|tuesday|wednesday|thursday|friday|saturday|sunday|today|tonight|"
    r"yesterday|tomorrow|week|weeks|month|months|year|years|days?|ago|morning|evening|night|"
    r"afternoon|spring|summer|autumn|fall|winter|noon|midnight|"
    r"(1[89]|20)\d\d|\d{1,2}:\d\d|\d+(st|nd|rd|th))\b",
    re.I,
)
_NUMBER = re.compile(
    r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|"
    r"fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|"
    r"eighty|ninety|hundred|thousand|million|billion|trillion|dozen|dozens|half|several|"
    r"single|double|triple|percent)\b",
    re.I,
)
_CAPITAL = re.compile(r"\b[A-Z][a-zA-Z'’.-]+")
_FOLLOW_UP = re.compile(
    r"\b(it|its|they|them|their|he|him|his|she|her|that|this|those|these|there|then|the same)\b"
    r"|^\s*(and|what about|how about)\b",
    re.I,
)
AnswerType = Literal["date", "number", "entity", "any"]
TITLE_WEIGHT = 0.35


def expected_type(question: str) -> AnswerType:
    """What kind of thing the question asks for, from its wh-phrase.

    The asking phrase is checked before any later clause, so "How many buses ran when the
    bridge closed?" asks for a number, not a date.
    """
    q = question.lower()
    number = re.search(r"\b(how (many|much|long|old|far|big|large|often|high|fast)|what "
                       r"(percentage|number|amount|share|proportion|price|cost)|by how)\b", q)
    date = re.search(r"(^|[,;] *)when\b|\b(what (date|day|year|month|time)|which (date|day|year|"
                     r"month)|since when|how long ago|in what year)\b", q)
    entity = re.search(r"\b(who|whom|whose|where|which (person|man|woman|official|player|"
                       r"company|firm|member|team|city|country))\b", q)
    found = [(m.start(), kind) for m, kind in ((number, "number"), (date, "date"),
                                                (entity, "entity")) if m]
    if not found:
        return "any"
    return min(found)[1]  # type: ignore[return-value]


def _has_type(sentence: str, kind: AnswerType, question_words: set[str]) -> bool:
    if kind == "date":
        return bool(_DATE.search(sentence))
    if kind == "number":
        return bool(_NUMBER.search(sentence))
    if kind == "entity":
        return any(
            m.group().lower().strip(".'’") not in question_words
            and m.group().lower() not in STOPWORDS
            for m in _CAPITAL.finditer(sentence)
        )
    return True


def with_marker(sentence: str, n: int) -> str:
    """'It rained.' -> 'It rained [2].': the marker stays inside the sentence it cites."""
    match = re.search(r"[.!?]+[\"'”’)\]]*$", sentence)
    if not match:
        return f"{sentence} [{n}]"
    return f"{sentence[: match.start()]} [{n}]{match.group()}"


def headline(title: str) -> str:
    return " ".join(title.split()).lower()


def question_entities(question: str) -> list[str]:
    """Names and numbers in the question, not counting its first word."""
    tokens = re.findall(r"[A-Za-z0-9][\w'’&.-]*", question)
    return [t.strip(".'’") for t in tokens[1:]
            if (t[0].isupper() or t[0].isdigit()) and t.lower() not in STOPWORDS]


@dataclass
class Candidate:
    n: int
    span: Span
    text: str
    score: float


class ExtractiveAnswerer:
    """Scores every sentence of the passages by meaning and word overlap with the question.

    The score mixes cosine similarity of pooled sentence vectors (0.3) with lexical overlap
    (0.7), plus a small prior for the passage's rank and a bonus for new names and numbers
    (answers are usually entities the question does not contain). Sentences lacking the kind
    of thing the question asks for (a date for "when", a number for "how many") are halved.
    Below `threshold` the evidence is too weak and it says the articles don't say.
    """

    mode: Literal["extractive", "llm"] = "extractive"
    label = "extractive (offline)"

    def __init__(self, threshold: float = 0.5, max_sentences: int = 2, ratio: float = 0.85) -> None:
        self.threshold = threshold
        self.max_sentences = max_sentences
        self.ratio = ratio

    def condense(self, question: str, history: Sequence[Turn]) -> str:
        """Adds the previous question's key terms when this one leans on it."""
        previous = [t.content for t in history if t.role == "user"]
        if not previous:
            return question
        own = set(terms(question))
        # Only a question that points back ("it", "they", "what about ...") is a follow-up;
        # a short new question must not drag the old topic along.
        if not _FOLLOW_UP.search(question):
            return question
        extra = [w for w in re.findall(r"[A-Za-z0-9][\w'’-]*", previous[-1])
                 if w.lower() not in STOPWORDS and terms(w) and terms(w)[0] not in own]
        return f"{question} ({' '.join(dict.fromkeys(extra))})" if extra else question

    def candidates(self, evidence: Evidence) -> list[Candidate]:
        question = evidence.question
        q_terms = set(terms(question))
        q_words = set(words(question))
        kind = expected_type(question)
        rows: list[tuple[int, int, Span, str, float, set[str], set[str]]] = []
        seen: set[str] = set()
        for rank, passage in enumerate(evidence.passages):
            body = evidence.body(passage.article.id)
            record = evidence.records.get(passage.chunk_id)
            if body is None or record is None:
                continue
            vectors = record.sentence_vectors
            cosines = (
                vectors @ evidence.question_vector
                if evidence.question_vector is not None and len(vectors)
                else np.zeros(len(record.sentences))
            )
            title_terms = set(terms(passage.article.title))
            title_key = headline(passage.article.title)
            for (start, end), cosine in zip(record.sentences, cosines, strict=True):
                text = body[start:end]
                key = " ".join(text.split()).lower()
                # The headline repeated atop the body names the story; it answers nothing.
                if key in seen or len(text) < 12 or key == title_key:
                    continue
                seen.add(key)
                rows.append((rank, passage.n, Span(start, end), text, float(cosine),
                             set(terms(text)), title_terms))
        # Words shared by most candidate sentences (the story's topic) say little about which
        # sentence answers; weight question words by how rare they are among the candidates.
        n_rows = max(len(rows), 1)
        weight = {t: math.log(1 + n_rows / (1 + sum(t in r[5] for r in rows))) for t in q_terms}
        total = max(len(evidence.passages), 1)
        out: list[Candidate] = []
        for rank, n, span, text, cosine, s_terms, title in rows:
            # Words of the headline name the story, not the fact asked for: a lead sentence
            # that only restates the headline should not outscore the sentence with the detail.
            w = {t: weight[t] * (TITLE_WEIGHT if t in title else 1.0) for t in q_terms}
            lexical = sum(w[t] for t in q_terms & s_terms) / (sum(w.values()) or 1.0)
            new = {m.group().lower() for m in _CAPITAL.finditer(text)} | set(
                re.findall(r"\d[\d,.]*", text))
            new = {w for w in new if w.strip(".'’") not in q_words}
            score = (
                0.3 * cosine
                + 0.7 * lexical
                + 0.05 * (1 - rank / total)
                + 0.03 * min(len(new), 3)
            )
            if not _has_type(text, kind, q_words):
                score *= 0.5
            out.append(Candidate(n, span, text, score))
        # A name or number the question relies on that no passage mentions means the
        # articles are about something else (a related story, not this fact).
        found = " ".join(p.text.lower() for p in evidence.passages[:3])
        missing = [e for e in question_entities(question) if e.lower() not in found]
        if missing:
            for c in out:
                c.score *= 0.75
        out.sort(key=lambda c: c.score, reverse=True)
        return out

    def draft(self, evidence: Evidence, history: Sequence[Turn]) -> Draft:
        ranked = self.candidates(evidence)
        if not ranked or ranked[0].score < self.threshold:
            return Draft(NOT_IN_ARTICLES, grounded=False,
                         scores={0: ranked[0].score if ranked else 0.0})
        chosen = [ranked[0]]
        for c in ranked[1:]:
            if len(chosen) >= self.max_sentences or c.score < self.ratio * ranked[0].score:
                break
            chosen.append(c)
        parts = []
        quotes: dict[int, list[Span]] = {}
        scores: dict[int, float] = {}
        for c in chosen:
            parts.append(with_marker(" ".join(c.text.split()), c.n))
            quotes.setdefault(c.n, []).append(c.span)
            scores[c.n] = max(scores.get(c.n, 0.0), c.score)
        return Draft(" ".join(parts), grounded=True, quotes=quotes, scores=scores)

    def stream(self, evidence: Evidence, history: Sequence[Turn]) -> Iterator[str | Draft]:
        draft = self.draft(evidence, history)
        for i, piece in enumerate(draft.text.split(" ")):
            yield piece if i == 0 else " " + piece
        yield draft
