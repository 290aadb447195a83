"""A conversation as Markdown: each question, its answer line, and its numbered sources with
their quotes, as the chat window showed them (the chat window's download and the API's export)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

from assistant.display import answer_view, flat
from assistant.types import Answer

TITLE = "Conversation with the news assistant"


def _inline(text: str) -> str:
    """One line of text that Markdown shows as written (no accidental emphasis or links)."""
    return re.sub(r"([\\`*_\[\]<>#|])", r"\\\1", flat(text))


def answer_markdown(answer: Answer) -> list[str]:
    view = answer_view(answer)
    lines = [f"## {_inline(answer.question)}", ""]
    if not answer.grounded:
        lines += [f"*{_inline(answer.answer)}*", ""]
        return lines
    # The answer line keeps its [n] markers; they match the numbered sources below.
    lines += [re.sub(r"\\\[(\d+(?:, \d+)*)\\\]", r"[\1]", _inline(view.line)), ""]
    if view.sources:
        lines += ["Sources:", ""]
    for source in view.sources:
        meta = source.article
        where = ", ".join(x for x in (meta.date or "undated", meta.source) if x)
        title = _inline(meta.title)
        link = f"[{title}]({meta.url})" if meta.url and meta.url.startswith(("http://", "https://")) \
            else f"**{title}**"
        lines.append(f"{source.number}. {link} ({_inline(where)})")
        for quote in dict.fromkeys(flat(c.quote) for c in source.citations):
            lines.append(f"   > {_inline(quote)}")
        lines.append("")
    return lines


def conversation_markdown(answers: Sequence[Answer], title: str = TITLE,
                          when: dt.datetime | None = None) -> str:
    """The whole conversation, oldest question first."""
    when = when or dt.datetime.now(dt.timezone.utc)
    count = len(answers)
    lines = [f"# {_inline(title)}", "",
             f"Exported {when.strftime('%Y-%m-%d %H:%M %Z').strip()} · {count} "
             f"question{'' if count == 1 else 's'}", ""]
    for i, answer in enumerate(answers):
        if i:
            lines += ["---", ""]
        lines += answer_markdown(answer)
    return "\n".join(lines).rstrip() + "\n"
