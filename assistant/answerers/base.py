"""The answerer interface and what it gets and gives."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

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
    today: dt.date | None = None  # the day the question is asked ("this week" counts from it)

    def body(self, article_id: str) -> str | None:
        return self.bodies.get(article_id)


@dataclass
class Draft:
    """An answer before verification. `quotes` maps a marker to the exact spans it stands for."""

    text: str
    grounded: bool
    quotes: dict[int, list[Span]] = field(default_factory=dict)
    scores: dict[int, float] = field(default_factory=dict)
    usage: dict[str, int] = field(default_factory=dict)  # token counts the LLM server reported


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
