"""Split an article into overlapping chunks and sentences, keeping exact character offsets."""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache

from assistant.types import Article, ArticleMeta, Chunk, Span

TokenCounter = Callable[[str], Sequence[int]]

_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "st", "jr", "sr", "gen", "gov", "sen", "rep", "lt", "col",
    "sgt", "capt", "cmdr", "adm", "maj", "rev", "hon", "pres", "inc", "ltd", "co", "corp", "vs",
    "etc", "no", "nos", "vol", "fig", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep",
    "sept", "oct", "nov", "dec", "mt", "ft", "ave", "blvd", "rd", "approx", "est", "dept", "univ",
    "u.s", "u.k", "u.n", "e.g", "i.e", "a.m", "p.m",
}
# A sentence ends at . ! or ? (plus closing quotes/brackets), before whitespace and a capital,
# digit or opening quote; or at a line break.
_BOUNDARY = re.compile(r"[.!?]+[\"'”’)\]]*(?=\s+[\"'“‘(\[]?[A-Z0-9])")
_WORD_BEFORE = re.compile(r"([A-Za-z][A-Za-z.]*)$")
# An abbreviation is a few letters, so only the end of the text before a full stop is searched:
# searching all of it made splitting a 1 MB single-line article take four minutes.
_LOOKBACK = 64


def split_sentences(text: str, offset: int = 0) -> list[Span]:
    """Sentence spans of `text`, shifted by `offset`, trimmed of surrounding white space."""
    spans: list[Span] = []
    for line_start, line_end in _lines(text):
        start = line_start
        segment = text[line_start:line_end]
        for match in _BOUNDARY.finditer(segment):
            word = _WORD_BEFORE.search(segment, max(0, match.start() - _LOOKBACK), match.start())
            if match.group().startswith(".") and word:
                token = word.group(1).lower()
                # Abbreviations and initials ("J. Smith") do not end a sentence.
                if token in _ABBREVIATIONS or (len(token) == 1 and token.isalpha()):
                    continue
            end = line_start + match.end()
            _append_trimmed(spans, text, start, end, offset)
            start = end
        _append_trimmed(spans, text, start, line_end, offset)
    return spans


def _lines(text: str) -> Iterator[tuple[int, int]]:
    """The text's lines, a line wrapped mid-sentence joined to the next ("covered the farms
    in the valley" / "with ash."): the line ends without a full stop or the like and the next
    begins in lower case. A headline line is followed by a capital, so it stays a line."""
    start = end = -1
    for line in re.finditer(r"[^\r\n]+", text):
        if start >= 0 and not re.search(r"[.!?:;\"'”’)\]]\s*$", text[start:end]) \
                and re.match(r"\s*[a-z0-9(]", line.group()):
            end = line.end()
            continue
        if start >= 0:
            yield start, end
        start, end = line.start(), line.end()
    if start >= 0:
        yield start, end


def _append_trimmed(spans: list[Span], text: str, start: int, end: int, offset: int) -> None:
    piece = text[start:end]
    stripped = piece.strip()
    if not stripped:
        return
    lead = len(piece) - len(piece.lstrip())
    spans.append(Span(offset + start + lead, offset + start + lead + len(stripped)))


@lru_cache(maxsize=8)
def _splitter(chunk_tokens: int, chunk_overlap: int, counter: TokenCounter):  # type: ignore[no-untyped-def]
    from llama_index.core.node_parser import SentenceSplitter

    return SentenceSplitter(
        chunk_size=chunk_tokens,
        chunk_overlap=chunk_overlap,
        tokenizer=counter,
        paragraph_separator="\n\n",
        include_metadata=False,
        include_prev_next_rel=False,
    )


def chunk_article(
    article: Article, count_tokens: TokenCounter, chunk_tokens: int = 200, chunk_overlap: int = 30
) -> list[Chunk]:
    """Chunks sized in word-pieces by llama-index's SentenceSplitter, located in the body.

    Each chunk's text is `article.body[start:end]` by construction; its sentences are the
    article's sentence spans clipped to the chunk, so they can be pooled from the chunk's
    token vectors and quoted by offset.
    """
    body = article.body
    pieces = _splitter(chunk_tokens, chunk_overlap, count_tokens).split_text(body)
    sentences = split_sentences(body)
    # Sentences do not overlap, so both lists are sorted: each chunk finds its own by bisection.
    starts = [s.start for s in sentences]
    ends = [s.end for s in sentences]
    chunks: list[Chunk] = []
    cursor = 0
    for piece in pieces:
        span = locate(body, piece, cursor)
        if span is None:
            continue
        cursor = span.start + 1
        overlapping = sentences[bisect_right(ends, span.start) : bisect_left(starts, span.end)]
        inside = tuple(
            Span(max(s.start, span.start), min(s.end, span.end))
            for s in overlapping
            if min(s.end, span.end) - max(s.start, span.start) >= 3
        )
        index = len(chunks)
        chunks.append(
            Chunk(
                id=chunk_id(article, index),
                article_id=article.id,
                index=index,
                start=span.start,
                end=span.end,
                text=body[span.start : span.end],
                sentences=inside,
            )
        )
    return chunks


def chunk_id(article: Article | ArticleMeta, index: int) -> str:
    """Stable per content version, so a retried write replaces rather than duplicates."""
    return f"{article.id}#{article.content_hash[:12]}#{index}"


def locate(body: str, piece: str, hint: int = 0) -> Span | None:
    """Where `piece` occurs in `body` at or after `hint`, tolerating changed white space."""
    text = piece.strip()
    if not text:
        return None
    found = body.find(text, hint)
    if found < 0:
        found = body.find(text)
    if found >= 0:
        return Span(found, found + len(text))
    # The splitter may have joined words with a different white space; match word by word.
    words = text.split()
    pattern = r"\s+".join(re.escape(w) for w in words)
    match = re.compile(pattern).search(body, hint) or re.compile(pattern).search(body)
    if match:
        return Span(match.start(), match.end())
    return None
