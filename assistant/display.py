"""What a person is shown of an answer: the answer line once, and its sources numbered 1..m.

An `Answer` keeps passage numbers: the `[n]` markers of its text and `citations[].n` point into
`answer.passages`, so the streamed text, the final answer and the API agree. People are shown
the cited sources numbered 1..m in the order the answer first cites them
(`Answer.source_numbers`). The answer line is the short answer when the answerer found one
(its supporting sentence is the quote in the source card), and a quote the line already shows
word for word is not repeated in its card. The chat window, the CLI and the Markdown export
all show this one view.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.citations import renumber_markers
from assistant.types import Answer, ArticleMeta, Citation


def flat(text: str) -> str:
    """Whitespace collapsed to single spaces."""
    return " ".join(text.split())


@dataclass(frozen=True)
class Source:
    """One cited passage as shown: its source number, article and the quotes to show."""

    number: int
    passage: int  # the passage number: `citations[].n` and `passages[].n` in the API
    article: ArticleMeta
    citations: tuple[Citation, ...]
    quotes: tuple[str, ...]
    # The same article printed elsewhere (wire copies), named instead of shown again.
    also_reported_by: tuple[ArticleMeta, ...] = ()

    @property
    def also_line(self) -> str:
        """'also reported by Outlet (2026-11-20), ...', or '' when nobody reprinted it."""
        if not self.also_reported_by:
            return ""
        names = [f"{a.source or a.title}" + (f" ({a.date})" if a.date else "")
                 for a in self.also_reported_by]
        return "also reported by " + ", ".join(names)

    @property
    def body_spans(self) -> list[tuple[int, int]]:
        """Offsets of the quotes taken from the article body (not from its headline)."""
        return [(c.start, c.end) for c in self.citations if c.field == "body"]


@dataclass(frozen=True)
class AnswerView:
    """The answer line (markers numbered as the sources) and the sources in that order."""

    line: str
    sources: tuple[Source, ...]


def answer_line(answer: Answer) -> str:
    """The short answer with its marker when the answerer put one first, else the whole text."""
    if answer.grounded and answer.short_answer:
        short = answer.short_answer.rstrip(".")
        found = re.match(re.escape(short) + r"\s*(?:\[\d+(?:\s*,\s*\d+)*\]\s*)+\.?", answer.answer)
        if found:
            line = found.group().strip()
            return line if line.endswith(".") else line + "."
    return answer.answer


def answer_view(answer: Answer) -> AnswerView:
    """The view of `answer` every way in shows."""
    numbers = answer.source_numbers()
    line = answer_line(answer)
    plain_line = renumber_markers(line, {})
    metas = {p.n: p.article for p in answer.passages}
    copies = {p.n: tuple(p.also_reported_by) for p in answer.passages}
    groups: dict[int, list[Citation]] = {}
    for c in answer.citations:
        groups.setdefault(c.n, []).append(c)
    sources = []
    for n, group in groups.items():  # in order of first citation, as `numbers` counts them
        first = group[0]
        meta = metas.get(n) or ArticleMeta(first.article_id, first.title, first.path, "",
                                           first.date, None, first.url)
        shown = [flat(c.quote) for c in group]
        quotes = tuple(dict.fromkeys(
            q for q in shown if q and q not in plain_line and q != flat(meta.title)))
        sources.append(Source(numbers[n], n, meta, tuple(group), quotes, copies.get(n, ())))
    return AnswerView(renumber_markers(line, numbers), tuple(sources))
