"""The answerer interface and what it gets and gives."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np

from assistant.store import ChunkRecord
from assistant.types import Passage, Span, Turn

NOT_IN_ARTICLES = "The articles don't say."


@dataclass
class Evidence:
    """The passages for one question, with what an answerer may need to read them."""

    question: str
    passages: list[Passage]
    bodies: dict[str, str]
    records: dict[str, ChunkRecord] = field(default_factory=dict)
    question_vector: np.ndarray | None = None
    today: dt.date | None = None
    # Question terms that no article in the index uses: the question is about something else.
    unknown_terms: frozenset[str] = frozenset()

    def body(self, article_id: str) -> str | None:
        return self.bodies.get(article_id)

    def published(self, passage: Passage) -> bool:
        """Whether a reader on the question's day (`today`, when one was given) could have
        read the passage's article: an answer as of a past day must not use later reports.
        With no day given every article counts, whatever its date says (archives hold
        misdated articles, and machines wrong clocks). Undated articles always count."""
        date = passage.article.date
        return self.today is None or not date or date <= self.today.isoformat()

    def as_of(self) -> Evidence:
        """The same evidence without the passages of articles published after `today`."""
        kept = [p for p in self.passages if self.published(p)]
        if len(kept) == len(self.passages):
            return self
        return dataclasses.replace(self, passages=kept)

    def text(self, article_id: str, field: str = "body") -> str | None:
        """The text a quote's offsets point into: the article body or its headline."""
        if field == "title":
            return next((p.article.title for p in self.passages if p.article.id == article_id),
                        None)
        return self.body(article_id)


@dataclass
class Draft:
    """An answer before verification. `quotes` maps a marker to the exact spans it stands for."""

    text: str
    grounded: bool
    quotes: dict[int, list[Span]] = field(default_factory=dict)
    scores: dict[int, float] = field(default_factory=dict)
    confidence: float | None = None
    short_answer: str | None = None
    # Facts whose value changed between the reports of a story (updates.Update.to_dict).
    updates: list[dict[str, Any]] = field(default_factory=list)
    # What the answerer computed on the way (the extractive answerer's ranked candidates), for
    # the "why this answer" view; never needed to answer.
    trace: Any = None
    # Token counts the LLM server reported ({"prompt_tokens", "completion_tokens"}), if any.
    usage: dict[str, int] | None = None
    # A sentence built from quotes (`quotes` holds its spans), put after an LLM answer once
    # the answer's own claims are checked: the earlier values of an updated fact.
    addendum: str = ""


class Answerer(Protocol):
    mode: Literal["extractive", "llm"]
    label: str

    def condense(self, question: str, history: Sequence[Turn]) -> str:
        """A standalone version of a follow-up question."""
        ...

    def draft(self, evidence: Evidence, history: Sequence[Turn]) -> Draft:
        """An answer with `[n]` markers pointing into `evidence.passages`."""
        ...

    def stream(self, evidence: Evidence, history: Sequence[Turn]) -> Iterator[str | Draft]:
        """Pieces of the answer text as they come, then the finished Draft."""
        ...

    def fallback(self, evidence: Evidence, history: Sequence[Turn]) -> Draft | None:
        """What to answer instead when no claim of the draft could be verified (an LLM's
        answer that no passage supports), if anything."""
        ...


def sentence_gap(text: str) -> str:
    """What goes between `text` and a sentence added after it: a full stop when the text
    ends without one ("Marcus Ebright [1]"), then a space."""
    return " " if re.search(r"[.!?][\"'”’)\]]*$", text.rstrip()) else ". "
