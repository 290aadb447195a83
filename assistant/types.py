"""The data that flows through the pipeline: articles, chunks, passages, citations, answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class Article:
    """One news article; `body` is kept exactly as read so citations can quote it by offsets."""

    id: str
    title: str
    body: str
    path: str
    date: str | None = None  # ISO YYYY-MM-DD
    source: str | None = None
    url: str | None = None
    authors: tuple[str, ...] = ()
    content_hash: str = ""


@dataclass(frozen=True)
class Span:
    """A character range `[start, end)` of an article body."""

    start: int
    end: int


@dataclass(frozen=True)
class Chunk:
    """A passage of an article: `text == article.body[start:end]`, with its sentences."""

    id: str
    article_id: str
    index: int
    start: int
    end: int
    text: str
    sentences: tuple[Span, ...] = ()


@dataclass(frozen=True)
class ArticleMeta:
    """What the store keeps about an article besides its chunks."""

    id: str
    title: str
    path: str
    content_hash: str
    date: str | None = None
    source: str | None = None
    url: str | None = None
    chunks: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "date": self.date,
            "source": self.source,
            "url": self.url,
            "path": self.path,
            "chunks": self.chunks,
        }


@dataclass
class Passage:
    """A retrieved chunk with its article's metadata and retrieval scores."""

    chunk_id: str
    article: ArticleMeta
    start: int
    end: int
    text: str
    score: float
    dense_score: float | None = None
    keyword_score: float | None = None
    n: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "chunk_id": self.chunk_id,
            "article_id": self.article.id,
            "title": self.article.title,
            "date": self.article.date,
            "source": self.article.source,
            "url": self.article.url,
            "path": self.article.path,
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "score": round(self.score, 6),
            "dense_score": None if self.dense_score is None else round(self.dense_score, 6),
            "keyword_score": None if self.keyword_score is None else round(self.keyword_score, 6),
        }


@dataclass(frozen=True)
class Citation:
    """A verified quote: `quote == body[start:end]` of article `article_id`."""

    n: int
    article_id: str
    title: str
    date: str | None
    url: str | None
    path: str
    start: int
    end: int
    quote: str
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "article_id": self.article_id,
            "title": self.title,
            "date": self.date,
            "url": self.url,
            "path": self.path,
            "start": self.start,
            "end": self.end,
            "quote": self.quote,
            "score": round(self.score, 6),
        }


@dataclass(frozen=True)
class Turn:
    """One message of a conversation."""

    role: Literal["user", "assistant"]
    content: str


# The passage fields an answer carries (a subset of Passage.to_dict(), as the API documents).
ANSWER_PASSAGE_FIELDS = ("n", "article_id", "title", "date", "url", "start", "end", "text", "score")


@dataclass
class Answer:
    """The answer to one question, with its verified citations and the passages it was given."""

    question: str
    answer: str
    grounded: bool
    mode: Literal["extractive", "llm"]
    citations: list[Citation] = field(default_factory=list)
    unsupported_sentences: list[str] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    standalone_question: str | None = None
    usage: dict[str, int] = field(default_factory=dict)  # LLM tokens, when the server says

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.answer,
            "grounded": self.grounded,
            "mode": self.mode,
            "citations": [c.to_dict() for c in self.citations],
            "unsupported_sentences": list(self.unsupported_sentences),
            "passages": [
                {k: v for k, v in p.to_dict().items() if k in ANSWER_PASSAGE_FIELDS}
                for p in self.passages
            ],
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
            # LLM answers only, when the server reports token counts.
            **({"usage": dict(self.usage)} if self.usage else {}),
        }
