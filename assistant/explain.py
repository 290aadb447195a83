""""Why this answer": the scores retrieval and the answerer computed, laid out for people.

Nothing is computed again here. Each passage carries its row of fusion features from ranking;
the extractive answerer hands over its ranked candidates, their feature rows and the refusal
confidence (`Draft.trace`). This module only names and rounds them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from assistant.answerers.base import Draft
from assistant.models import LinearScorer
from assistant.retrieval import FUSION_FEATURES
from assistant.types import Passage

# The fusion features that depend on the article's date against the question's day.
DATE_FEATURES = ("after_today", "in_window", "undated", "story_latest", "story_behind")
TOP_CANDIDATES = 5
DIGITS = 4


def _named(names: Sequence[str], row: Sequence[float]) -> dict[str, float]:
    return {name: round(float(value), DIGITS) for name, value in zip(names, row, strict=True)}


def _maybe(value: float | None) -> float | None:
    return None if value is None else round(value, DIGITS)


def passage_scores(passage: Passage, fusion: LinearScorer | None) -> dict[str, Any]:
    """One passage's retrieval evidence: both searches, the date signals and the fused score."""
    features = _named(FUSION_FEATURES, passage.features) if passage.features else {}
    date_shift = (fusion.shift(passage.features, DATE_FEATURES)
                  if fusion is not None and passage.features else None)
    return {
        "n": passage.n,
        "article_id": passage.article.id,
        "title": passage.article.title,
        "date": passage.article.date,
        "dense_rank": passage.dense_rank,
        "dense_similarity": _maybe(passage.dense_score),
        "keyword_rank": passage.keyword_rank,
        "keyword_score": _maybe(passage.keyword_score),
        # What the date signals add to the fused score (negative: pushed down).
        "date_adjustment": _maybe(date_shift),
        "date_signals": {k: features[k] for k in DATE_FEATURES if k in features},
        "fused_score": round(passage.score, DIGITS),
        "features": features,
    }


def answerer_scores(draft: Draft, threshold: float | None) -> dict[str, Any]:
    """The extractive answerer's view: the best candidate sentences and the refusal gate."""
    from assistant.answerers.extractive import CONFIDENCE_FEATURES, SENTENCE_FEATURES, Scored

    scored = draft.trace
    if not isinstance(scored, Scored):
        return {"confidence": _maybe(draft.confidence), "threshold": threshold}
    candidates = [
        {
            "n": c.n,
            "field": c.span.field,
            "text": " ".join(c.text.split()),
            "start": c.span.start,
            "end": c.span.end,
            "score": round(c.score, DIGITS),
            "probability": round(c.probability, DIGITS),
            "features": _named(SENTENCE_FEATURES, row),
        }
        for c, row in zip(scored.candidates[:TOP_CANDIDATES],
                          scored.features[:TOP_CANDIDATES], strict=True)
    ]
    phrase = scored.phrase
    return {
        "confidence": round(scored.confidence, DIGITS),
        "threshold": threshold,
        "refused": not draft.grounded,
        "confidence_features": _named(CONFIDENCE_FEATURES, scored.confidence_features[0]),
        "question_kind": scored.info.kind,
        "candidates_considered": len(scored.candidates),
        "candidates": candidates,
        "phrase": None if phrase is None else {
            "text": " ".join(phrase.phrase.text.split()),
            "n": phrase.source.n,
            "field": phrase.source.span.field,
            "probability": round(phrase.probability, DIGITS),
        },
    }


def explain(passages: Sequence[Passage], draft: Draft, mode: str,
            fusion: LinearScorer | None, threshold: float | None) -> dict[str, Any]:
    """The debug object of `ask --json --debug` and `"debug": true` on /api/answer."""
    return {
        "retrieval": {
            "fusion": "learned" if fusion is not None else "reciprocal rank",
            "passages": [passage_scores(p, fusion) for p in passages],
        },
        "answerer": {"mode": mode, **answerer_scores(draft, threshold)},
    }
