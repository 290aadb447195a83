"""Number passages, parse `[n]` markers, and turn them into quotes verified against the source."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from assistant.chunking import split_sentences
from assistant.keyword import terms
from assistant.types import Citation, Passage, Span

MARKER = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")
BodyLookup = Callable[[str], "str | None"]


@dataclass(frozen=True)
class SentenceClaim:
    """One sentence of an answer and the passage numbers it cites."""

    text: str
    markers: tuple[int, ...]


def format_passages(passages: Sequence[Passage]) -> str:
    """Passages numbered and fenced as quoted data, for a prompt."""
    blocks = []
    for p in passages:
        date = p.article.date or "undated"
        text = p.text.replace("```", "'''")
        blocks.append(f"[{p.n}] {p.article.title} ({date})\n```\n{text}\n```")
    return "\n\n".join(blocks)


def parse_claims(answer: str) -> list[SentenceClaim]:
    """The answer's sentences with the markers each carries (a marker cites its sentence)."""
    claims = []
    for span in split_sentences(answer):
        sentence = answer[span.start : span.end]
        numbers: list[int] = []
        for match in MARKER.finditer(sentence):
            numbers.extend(int(x) for x in match.group(1).split(","))
        claims.append(SentenceClaim(sentence, tuple(dict.fromkeys(numbers))))
    return _attach_trailing_markers(claims)


_LEADING = re.compile(r"^(\s*\[\d+(?:\s*,\s*\d+)*\])+")


def _attach_trailing_markers(claims: list[SentenceClaim]) -> list[SentenceClaim]:
    """Markers written after a full stop ('... East. [1] Next ...') cite the sentence before."""
    out: list[SentenceClaim] = []
    for claim in claims:
        lead = _LEADING.match(claim.text)
        if out and lead:
            moved = tuple(int(x) for m in MARKER.finditer(lead.group()) for x in m.group(1).split(","))
            prev = out.pop()
            out.append(SentenceClaim(prev.text + " " + lead.group().strip(),
                                     tuple(dict.fromkeys(prev.markers + moved))))
            rest = claim.text[lead.end():].strip()
            if not rest:
                continue
            own = tuple(int(x) for m in MARKER.finditer(rest) for x in m.group(1).split(","))
            claim = SentenceClaim(rest, tuple(dict.fromkeys(own)))
        out.append(claim)
    return out


def strip_invalid_markers(answer: str, valid: set[int]) -> str:
    """Remove markers that point to no given passage; keep the valid ones as they were."""

    def fix(match: re.Match[str]) -> str:
        kept = [x.strip() for x in match.group(1).split(",") if int(x) in valid]
        return f"[{', '.join(kept)}]" if kept else ""

    return _tidy(MARKER.sub(fix, answer))


def _tidy(text: str) -> str:
    """No double spaces or space before punctuation where markers were taken out."""
    return re.sub(r"[ \t]+([.,;:!?])", r"\1", re.sub(r"[ \t]{2,}", " ", text)).strip()


def best_supporting_sentence(claim: str, passage: Passage, body: str) -> Span:
    """The sentence of the passage that shares most content words with the claim."""
    wanted = set(terms(MARKER.sub("", claim)))
    best: tuple[float, int, Span] | None = None
    for span in split_sentences(body[passage.start : passage.end], passage.start):
        got = terms(body[span.start : span.end])
        if not got:
            continue
        overlap = len(wanted & set(got)) / (len(wanted) or 1)
        key = (overlap, -span.start, span)
        if best is None or key[:2] > best[:2]:
            best = key
    return best[2] if best else Span(passage.start, passage.end)


def make_citation(n: int, passage: Passage, span: Span, body: str, score: float) -> Citation | None:
    """A citation whose quote is checked against the article (body, or headline for a title
    span); None if it does not match."""
    text = passage.article.title if span.field == "title" else body
    quote = text[span.start : span.end]
    if not quote.strip() or not (0 <= span.start < span.end <= len(text)):
        return None
    a = passage.article
    return Citation(n, a.id, a.title, a.date, a.url, a.path, span.start, span.end, quote, score,
                    span.field)


def verify(citation: Citation, body_of: BodyLookup, title_of: BodyLookup | None = None) -> bool:
    """True when the quote is exactly the article body (or headline) at its offsets."""
    lookup = title_of if citation.field == "title" else body_of
    text = lookup(citation.article_id) if lookup is not None else None
    return text is not None and text[citation.start : citation.end] == citation.quote


def renumber_markers(text: str, numbers: dict[int, int]) -> str:
    """Markers rewritten through `numbers` (passage -> source number); a number missing from
    it is dropped, as `strip_invalid_markers` drops markers that point to no passage."""

    def fix(match: re.Match[str]) -> str:
        kept = dict.fromkeys(numbers[int(x)] for x in match.group(1).split(",")
                             if int(x) in numbers)
        return f"[{', '.join(map(str, kept))}]" if kept else ""

    return _tidy(MARKER.sub(fix, text))
