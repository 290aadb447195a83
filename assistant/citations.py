"""Number passages, parse `[n]` markers, and turn them into quotes verified against the source."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from assistant.chunking import split_sentences
from assistant.keyword import terms
from assistant.types import Citation, Passage, Span

MARKER = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")
BodyLookup = Callable[[str], "str | None"]
# A field from an article shown in a prompt (headline, source, date) is cut to this length.
FIELD_CHARS = 200
FENCE = "`" * 3


@dataclass(frozen=True)
class SentenceClaim:
    """One sentence of an answer and the passage numbers it cites."""

    text: str
    markers: tuple[int, ...]


def flat_field(value: str | None, limit: int = FIELD_CHARS) -> str:
    """An article field for a prompt: one line, no backticks, at most `limit` characters.

    Titles and sources come from the files being indexed, so they are as untrusted as the
    text: a newline or a code fence in them must not step outside the quoted passage.
    """
    text = " ".join((value or "").replace("`", "'").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def format_passages(passages: Sequence[Passage], texts: Mapping[int, str] | None = None,
                    latest: set[int] | None = None) -> str:
    """Passages numbered and fenced as quoted data, for a prompt.

    Everything that comes from an article (headline, date, source, and the text or the
    excerpt of it that `texts` gives by passage number) is inside the fence; only the
    passage number, and our mark of a story's latest report, are outside. `latest` gives
    the passage numbers to mark when the shown passages are a part of those retrieved.
    """
    blocks = []
    latest = latest_reports(passages) if latest is None else latest
    for p in passages:
        a = p.article
        date = flat_field(a.date) or "undated"
        if a.source:
            date += f", {flat_field(a.source)}"
        text = (texts[p.n] if texts and p.n in texts else p.text).replace(FENCE, "'''")
        # Our words, outside the fence.
        mark = " (the latest report of this story)" if p.n in latest else ""
        blocks.append(f"[{p.n}]{mark}\n{FENCE}\nHeadline: {flat_field(a.title)}\n"
                      f"Published: {date}\n{text}\n{FENCE}")
    return "\n\n".join(blocks)


def latest_reports(passages: Sequence[Passage]) -> set[int]:
    """The passage numbers of the latest report of each story the passages report on more
    than one day: a model told nothing takes whichever figure it reads first, often an
    outdated one. Measured with a 1.5B model on bench/data/updates (development stories):
    marking the latest report beat no mark and beat an instruction to compare reports, which
    made the model refuse more (bench/README.md)."""
    stories: dict[str, list[Passage]] = {}
    for p in passages:
        if p.story_id:
            stories.setdefault(p.story_id, []).append(p)
    latest = set()
    for members in stories.values():
        dated = [p for p in members if p.article.date]
        if len({p.article.date for p in dated}) >= 2:
            latest.add(max(dated, key=lambda p: (p.article.date or "", -p.n)).n)
    return latest


# Markers as models write them. Every form is rewritten to `[n]` (one bracket per passage)
# before markers are checked, so the rest of the pipeline knows a single form.
_LABEL = r"(?:passages?|sources?|articles?|docs?|documents?|refs?|references?|citations?)"
_JOIN = r"(?:,|;|&|\band\b|-|–|—|\bto\b)"
_NUMBERS = rf"\d{{1,3}}(?:\s*{_JOIN}\s*(?:{_LABEL}\s*#?\s*)?\d{{1,3}})*"
_BRACKETED = re.compile(rf"[\[【〔]\s*\^?\s*(?:{_LABEL}\s*#?\s*)?({_NUMBERS})\s*[\]】〕]", re.I)
_PARENTHESISED = re.compile(rf"\(\s*({_LABEL}\s*#?\s*)?({_NUMBERS})\s*\)", re.I)
_SOURCE_LABEL = re.compile(
    rf"\b(?:sources?|citations?|references?|refs?)\s*:\s*"
    rf"((?:\[?\s*(?:{_LABEL}\s*#?\s*)?\d{{1,3}}\s*\]?(?:\s*{_JOIN}\s*)?)+)", re.I)
_PASSAGE_WORD = re.compile(r"\bpassages?\s*#?\s*(\d{1,2})\b", re.I)
_DOUBLE_WRAPPED = re.compile(r"[(\[]\s*((?:\[\d+\]\s*)+)[)\]]")
_LISTED = re.compile(r"\](?:\s*(?:,|;|&|\band\b)\s*)\[(?=\d+\])")
_LONGEST_RANGE = 10


def marker_numbers(text: str) -> list[int]:
    """'1, 2' -> [1, 2]; '1-3' -> [1, 2, 3]; 'Passage 1 and Passage 4' -> [1, 4]."""
    numbers: list[int] = []
    for match in re.finditer(r"(\d+)(?:\s*(?:-|–|—|\bto\b)\s*(\d+))?", text):
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) else low
        if high < low or high - low >= _LONGEST_RANGE:
            high = low
        numbers.extend(range(low, high + 1))
    return list(dict.fromkeys(numbers))


def _brackets(numbers: Sequence[int]) -> str:
    return "".join(f"[{n}]" for n in numbers)


def normalize_markers(answer: str, passages: int) -> str:
    """Rewrite the citation forms models write into `[n]` markers, one bracket per passage.

    `[1, 2]`, `[1-3]`, `【1】`, `[Passage 1]`, `(Passage 2)`, `Source: 1` and a closing
    "Sources: [1], [2]" line all become `[1][2]`-style markers. Bare numbers in parentheses,
    `(1)`, and "passage 2" in prose count only when they name a given passage (1..`passages`),
    so "(1964)" stays a year.
    """

    def labelled(match: re.Match[str]) -> str:
        listed = match.group(1)
        return _brackets(marker_numbers(listed)) + listed[len(listed.rstrip()):]

    def bracketed(match: re.Match[str]) -> str:
        return _brackets(marker_numbers(match.group(1)))

    def parenthesised(match: re.Match[str]) -> str:
        numbers = marker_numbers(match.group(2))
        if match.group(1) or all(1 <= n <= passages for n in numbers):
            return _brackets(numbers)
        return match.group()

    def passage_word(match: re.Match[str]) -> str:
        n = int(match.group(1))
        return f"[{n}]" if 1 <= n <= passages else match.group()

    text = _SOURCE_LABEL.sub(labelled, answer)
    text = _BRACKETED.sub(bracketed, text)
    text = _PARENTHESISED.sub(parenthesised, text)
    text = _PASSAGE_WORD.sub(passage_word, text)
    # "([1])" and "[[1]]" are one marker wrapped twice; "[1], [2]" is "[1][2]".
    text = _DOUBLE_WRAPPED.sub(lambda m: "".join(m.group(1).split()), text)
    return _LISTED.sub("][", text)


def cited_numbers(text: str) -> tuple[int, ...]:
    """The passage numbers of every `[n]` marker in `text`, in order, without repeats."""
    numbers = [int(x) for m in MARKER.finditer(text) for x in m.group(1).split(",")]
    return tuple(dict.fromkeys(numbers))


_LEADING = re.compile(r"(?:\s*\[\d+(?:\s*,\s*\d+)*\])+")


def claim_regions(answer: str) -> list[Span]:
    """Each sentence of the answer with the markers that cite it.

    Markers written after a full stop ('... East. [1] Next ...') cite the sentence before, so
    they belong to its region.
    """
    regions: list[Span] = []
    for span in split_sentences(answer):
        lead = _LEADING.match(answer, span.start, span.end)
        if lead and regions:
            regions[-1] = Span(regions[-1].start, lead.end())
            start = lead.end() + len(answer[lead.end():span.end]) - len(
                answer[lead.end():span.end].lstrip())
            if start >= span.end:
                continue
            span = Span(start, span.end)
        regions.append(span)
    return regions


def parse_claims(answer: str) -> list[SentenceClaim]:
    """The answer's sentences with the markers each carries (a marker cites its sentence)."""
    claims = []
    for region in claim_regions(answer):
        sentence = answer[region.start:region.end]
        claims.append(SentenceClaim(sentence, cited_numbers(sentence)))
    return claims


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
