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


QuoteField = Literal["body", "title"]


@dataclass(frozen=True)
class Span:
    """A character range `[start, end)` of an article's body (or of its headline)."""

    start: int
    end: int
    field: QuoteField = "body"


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

    def with_body(self, body: str) -> Article:
        """The stored article whole again, from what the store keeps and its body."""
        return Article(id=self.id, title=self.title, body=body, path=self.path, date=self.date,
                       source=self.source, url=self.url, content_hash=self.content_hash)

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
    dense_rank: int | None = None  # 1-based rank in dense search, None when not found by it
    keyword_rank: int | None = None  # 1-based rank in BM25 search
    story_id: str | None = None  # the news event this article reports (assistant/stories.py)
    # The same article printed elsewhere (wire copies): shown once, with these named.
    also_reported_by: list[ArticleMeta] = field(default_factory=list)
    # Its row of retrieval.FUSION_FEATURES, as fusion ranked it (for "why this answer").
    features: tuple[float, ...] = ()

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
            "dense_rank": self.dense_rank,
            "keyword_rank": self.keyword_rank,
            "story_id": self.story_id,
            "also_reported_by": [
                {"id": a.id, "title": a.title, "source": a.source, "date": a.date, "url": a.url}
                for a in self.also_reported_by],
        }


@dataclass(frozen=True)
class Citation:
    """A verified quote: `quote == body[start:end]` of article `article_id` (or of its
    headline, `title[start:end]`, when `field` is "title")."""

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
    field: QuoteField = "body"

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
            "field": self.field,
            "score": round(self.score, 6),
        }


@dataclass(frozen=True)
class Turn:
    """One message of a conversation."""

    role: Literal["user", "assistant"]
    content: str


# The passage fields an answer carries (a subset of Passage.to_dict(), as the API documents).
ANSWER_PASSAGE_FIELDS = ("n", "article_id", "title", "date", "url", "start", "end", "text", "score",
                         "story_id", "also_reported_by")


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
    # The answer phrase alone ("Massachusetts"), when the answerer found one.
    short_answer: str | None = None
    # Probability that the passages answer the question (the refusal gate), when computed.
    confidence: float | None = None
    model: str | None = None  # version of the learned answerer models in use
    # Facts the story's reports gave differently: [{fact, current: {n, value, date},
    # earlier: [{n, value, date}]}], latest first.
    updates: list[dict[str, Any]] = field(default_factory=list)
    # Prompt and completion size, OpenAI-style: the LLM server's token counts when it reports
    # them, otherwise words (always, for the extractive answerer).
    usage: dict[str, int] | None = None
    # "Why this answer": retrieval and answerer scores, filled only when asked for (debug).
    debug: dict[str, Any] | None = None

    def source_numbers(self) -> dict[int, int]:
        """Passage number -> source number: the cited passages numbered 1..m in the order the
        answer first cites them, as the chat window, the CLI and exports show them."""
        numbers: dict[int, int] = {}
        for c in self.citations:
            numbers.setdefault(c.n, len(numbers) + 1)
        return numbers

    def to_dict(self) -> dict[str, Any]:
        sources = self.source_numbers()
        out = {
            "question": self.question,
            "answer": self.answer,
            "short_answer": self.short_answer,
            "grounded": self.grounded,
            "confidence": None if self.confidence is None else round(self.confidence, 4),
            "mode": self.mode,
            "model": self.model,
            "updates": self.updates,
            "citations": [{**c.to_dict(), "source": sources[c.n]} for c in self.citations],
            "unsupported_sentences": list(self.unsupported_sentences),
            "passages": [
                {k: v for k, v in p.to_dict().items() if k in ANSWER_PASSAGE_FIELDS}
                for p in self.passages
            ],
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
            "usage": self.usage,
        }
        if self.debug is not None:
            out["debug"] = self.debug
        return out
