"""The chat window (Gradio): streamed answers with their numbered, quoted sources.

Each answer is rendered as one block of HTML in the chat: the text with its `[n]` markers,
then one entry per source (title, date, source, link and the quoted sentences). Opening an
entry shows the quote highlighted in the context of its article. Every piece of article text
is escaped here, because ingested pages are untrusted input.
"""

from __future__ import annotations

import datetime as dt
import html
import re
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.answering import check_question
from assistant.api import check_filters
from assistant.app import Services, quiet_offline_environment
from assistant.citations import MARKER, renumber_markers
from assistant.display import Source, answer_view, flat
from assistant.errors import AssistantError, InputError
from assistant.feedback import Feedback, FeedbackLog
from assistant.transcript import conversation_markdown
from assistant.types import Answer, ArticleMeta, Passage, Turn

if TYPE_CHECKING:
    from fastapi import FastAPI

# Follow-ups need only the last few exchanges, and a short history keeps LLM prompts small.
HISTORY_TURNS = 10
CONTEXT_CHARS = 450
EXAMPLES = 3

# Gradio scopes `css` to elements inside its layout; the page frame needs a plain <style>.
PAGE_CSS = """
.gradio-container { width: 100% !important; max-width: 960px !important;
  margin: 0 auto !important; }
@media (max-width: 640px) { .gradio-container .main { padding: 10px 8px !important; } }
"""
# Gradio's autoscroll follows the bottom of the chat, which pushes the question out of view as
# soon as its answer (with sources) is taller than the chat, and at once on a phone. Instead the
# newest question is kept at the top of the chat while its answer arrives below it, until the
# reader scrolls the chat themselves.
SCROLL_JS = """
(() => {
  let log = null, questions = -1, anchor = null, mine = null, moved = false;
  function place() {
    if (!log || !anchor || moved) return;
    const logTop = log.getBoundingClientRect().top;
    // Below the chat's own buttons (clear), which float over its top right corner.
    const panel = log.parentElement && log.parentElement.querySelector('.top-panel');
    const pad = panel ? Math.max(8, panel.getBoundingClientRect().bottom - logTop + 6) : 8;
    const top = anchor.getBoundingClientRect().top - logTop + log.scrollTop - pad;
    const target = Math.max(0, Math.min(top, log.scrollHeight - log.clientHeight));
    if (Math.abs(log.scrollTop - target) > 1) log.scrollTop = target;
    mine = log.scrollTop;
  }
  function watch() {
    const found = document.querySelector('#chat [role=log]');
    if (found !== log) {
      log = found;
      if (!log) return;
      log.addEventListener('scroll', () => {
        if (mine !== null && Math.abs(log.scrollTop - mine) > 4) moved = true;
      }, {passive: true});
    }
    if (!log) return;
    const rows = log.querySelectorAll('.message-row.user-row');
    if (rows.length !== questions) {  // a new question, or the chat was cleared
      questions = rows.length;
      anchor = rows.length ? rows[rows.length - 1] : null;
      moved = false;
    }
    place();
  }
  new MutationObserver(watch).observe(document.documentElement,
                                      {childList: true, subtree: true, characterData: true});
})();
"""
CSS = """
#chat .example { border: 1px solid var(--border-color-primary); border-radius: 12px;
  background: var(--background-fill-secondary); }
#chat .example:hover { border-color: var(--color-accent); }
#chat .placeholder { padding: 0 1rem; }
#header { padding: .25rem 0 0; }
#header .top { display: flex; align-items: center; gap: .6rem; flex-wrap: wrap; }
#header h1 { font-size: 1.35rem; margin: 0; font-weight: 700; }
#header .mode { font-size: .75rem; font-weight: 600; padding: .15rem .55rem; border-radius: 999px;
  background: var(--color-accent-soft); color: var(--color-accent); border: 1px solid
  var(--color-accent); white-space: nowrap; }
#header .mode.llm { background: #f3e8ff; color: #6b21a8; border-color: #a855f7; }
#header .status { font-size: .8rem; color: var(--body-text-color-subdued); margin-top: .2rem; }
#chat .answer { line-height: 1.55; }
#chat .cite { color: var(--color-accent); font-weight: 700; font-size: .85em;
  white-space: nowrap; }
#chat .cursor { animation: blink 1s steps(1) infinite; color: var(--color-accent); }
@keyframes blink { 50% { opacity: 0; } }
#chat .pending { color: var(--body-text-color-subdued); font-style: italic; }
#chat .sources { margin-top: .8rem; padding-top: .5rem;
  border-top: 1px solid var(--border-color-primary); }
#chat .sources-head { font-size: .7rem; font-weight: 700; letter-spacing: .06em;
  text-transform: uppercase; color: var(--body-text-color-subdued); margin-bottom: .3rem; }
#chat details.src { border: 1px solid var(--border-color-primary); border-radius: 10px;
  margin: .45rem 0; background: var(--background-fill-primary); overflow: hidden; }
#chat details.src > summary { list-style: none; cursor: pointer; display: flex; gap: .65rem;
  padding: .55rem .7rem; align-items: flex-start; }
#chat details.src > summary::-webkit-details-marker { display: none; }
#chat details.src > summary:hover { background: var(--background-fill-secondary); }
#chat .src-n { flex: none; min-width: 1.55rem; height: 1.55rem; border-radius: 999px;
  background: var(--color-accent); color: #fff; display: inline-flex; align-items: center;
  justify-content: center; font-size: .75rem; font-weight: 700; margin-top: .1rem; }
#chat .src-main { display: block; min-width: 0; }
#chat .src-title { display: block; font-weight: 600; line-height: 1.3; }
#chat .src-meta { display: block; font-size: .78rem; color: var(--body-text-color-subdued);
  margin-top: .1rem; }
#chat .src-meta a { color: var(--color-accent); }
#chat .src-quote { display: block; margin-top: .35rem; padding-left: .6rem;
  border-left: 3px solid var(--color-accent); font-size: .9rem; }
#chat .src-open { display: block; font-size: .75rem; color: var(--color-accent);
  margin-top: .3rem; }
#chat details[open] .src-open { display: none; }
#chat .src-context { padding: .2rem .9rem .7rem 2.9rem; font-size: .88rem; max-height: 22rem;
  overflow: auto; color: var(--body-text-color); }
#chat .src-context p { margin: .35rem 0; }
#chat .src-context .gap { color: var(--body-text-color-subdued); text-align: center; }
#chat .src-context .where { font-size: .72rem; text-transform: uppercase;
  letter-spacing: .05em; color: var(--body-text-color-subdued); margin: .3rem 0 0; }
#chat mark { background: #fde68a; color: #1f2937; padding: 0 .15em; border-radius: 3px; }
#chat .nf { border-left: 4px solid #d97706; background: #fffbeb; color: #78350f;
  padding: .55rem .8rem; border-radius: 8px; }
#chat .nf b { display: block; font-size: .72rem; letter-spacing: .06em; text-transform: uppercase;
  margin-bottom: .15rem; }
#chat .nearest details.src { opacity: .9; }
#chat .warn { margin-top: .6rem; font-size: .8rem; color: #92400e; }
#chat .failed { border-left: 4px solid #dc2626; background: #fef2f2; color: #7f1d1d;
  padding: .55rem .8rem; border-radius: 8px; }
.dark #chat .nf { background: #422006; color: #fde68a; }
.dark #chat .failed { background: #450a0a; color: #fecaca; }
.dark #chat .warn { color: #fbbf24; }
#chat details.why { margin-top: .7rem; font-size: .8rem; color: var(--body-text-color-subdued); }
#chat details.why > summary { cursor: pointer; font-weight: 600; }
#chat .why-body { padding: .3rem 0 0; }
#chat .why-body p { margin: .4rem 0; }
#chat .why-scroll { overflow-x: auto; }
#chat .why-body table { border-collapse: collapse; width: 100%; font-size: .75rem; }
#chat .why-body th, #chat .why-body td { border-bottom: 1px solid var(--border-color-primary);
  padding: .2rem .35rem; text-align: right; white-space: nowrap; }
#chat .why-body td.t, #chat .why-body th:nth-child(2) { text-align: left; white-space: normal;
  min-width: 10rem; }
#chat .why-body ol { margin: .2rem 0; padding-left: 1.2rem; }
#chat .why-body li { margin: .3rem 0; }
#chat .src-tag { font-size: .7rem; font-weight: 700; color: var(--color-accent);
  white-space: nowrap; }
#chat details.feats > summary { cursor: pointer; font-size: .72rem; }
#chat details.feats div { display: flex; flex-wrap: wrap; gap: .15rem .7rem; font-size: .72rem; }
#download { max-width: 22rem; margin: 0 auto; }
#footer { font-size: .75rem; color: var(--body-text-color-subdued); text-align: center; }
#footer a { color: inherit; }
@media (max-width: 640px) {
  #chat .message-row { margin-left: 4px !important; margin-right: 4px !important; }
  #chat .message-row.bot-row { max-width: calc(100% - 8px) !important; }
  #header h1 { font-size: 1.15rem; }
  #chat details.src > summary { display: block; padding: .5rem .55rem; }
  #chat .src-n { float: left; margin: 0 .45rem 0 0; }
  #chat .src-quote { padding-left: .45rem; }
  #chat .src-context { padding: .2rem .6rem .6rem; }
}
"""


# -- rendering (pure functions of an answer and the article bodies) --------------------------


def esc(text: str) -> str:
    return html.escape(text, quote=True)


def one_line(text: str) -> str:
    return " ".join(text.split())


def marked_text(text: str) -> str:
    """Escaped answer text whose `[n]` markers stand out."""
    return MARKER.sub(r'<span class="cite">[\1]</span>', esc(text))


def safe_url(url: str | None) -> str | None:
    return url if url and url.lower().startswith(("http://", "https://")) else None


def merge_windows(spans: Iterable[tuple[int, int]], size: int,
                  around: int) -> list[tuple[int, int]]:
    windows: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        lo, hi = max(0, start - around), min(size, end + around)
        if windows and lo <= windows[-1][1]:
            windows[-1] = (windows[-1][0], max(hi, windows[-1][1]))
        else:
            windows.append((lo, hi))
    return windows


def context_html(body: str, spans: Sequence[tuple[int, int]], around: int = CONTEXT_CHARS) -> str:
    """The article text around `spans`, paragraph by paragraph, with the spans in <mark>."""
    gap = '<p class="gap">…</p>'
    parts: list[str] = []
    end_of_last = 0
    for lo, hi in merge_windows(spans, len(body), around):
        # Cut at word boundaries so the excerpt does not start or end mid-word.
        if lo > 0:
            space = body.find(" ", lo, spans_start(spans, lo))
            lo = space + 1 if space != -1 else lo
        if hi < len(body):
            space = body.rfind(" ", spans_end(spans, hi), hi)
            hi = space if space != -1 else hi
        if lo > 0:
            parts.append(gap)
        for match in re.finditer(r"[^\n]+", body[lo:hi]):
            p_start, p_end = lo + match.start(), lo + match.end()
            if body[p_start:p_end].strip():
                parts.append(f"<p>{paragraph_html(body, p_start, p_end, spans)}</p>")
        end_of_last = hi
    if body[end_of_last:].strip():
        parts.append(gap)
    return "".join(parts)


def spans_start(spans: Sequence[tuple[int, int]], lo: int) -> int:
    """The first span start at or after `lo` (a cut must not fall inside a quote)."""
    return min((s for s, _ in spans if s >= lo), default=lo)


def spans_end(spans: Sequence[tuple[int, int]], hi: int) -> int:
    return max((e for _, e in spans if e <= hi), default=hi)


def paragraph_html(body: str, start: int, end: int, spans: Sequence[tuple[int, int]]) -> str:
    out: list[str] = []
    pos = start
    for s, e in sorted(spans):
        s, e = max(s, start), min(e, end)
        if s >= e or s < pos:
            continue
        out.append(esc(body[pos:s]))
        out.append(f"<mark>{esc(body[s:e])}</mark>")
        pos = e
    out.append(esc(body[pos:end]))
    return "".join(out)


def meta_html(meta: ArticleMeta) -> str:
    bits = [esc(meta.date or "undated")]
    if meta.source:
        bits.append(esc(meta.source))
    url = safe_url(meta.url)
    if url:
        bits.append(f'<a href="{esc(url)}" target="_blank" rel="noopener noreferrer">'
                    "original article ↗</a>")
    return " · ".join(bits)


def source_html(n: int, meta: ArticleMeta, quotes: Sequence[str], context: str,
                open_label: str = "Show in the article", also: str = "") -> str:
    quote_html = "".join(f'<span class="src-quote">“{esc(one_line(q))}”</span>' for q in quotes)
    also_html = f'<span class="src-meta src-also">{esc(also)}</span>' if also else ""
    return (
        f'<details class="src"><summary><span class="src-n">{n}</span>'
        f'<span class="src-main"><span class="src-title">{esc(meta.title)}</span>'
        f'<span class="src-meta">{meta_html(meta)}</span>{also_html}{quote_html}'
        f'<span class="src-open">{open_label} ▾</span></span></summary>'
        f'<div class="src-context">{context}</div></details>'
    )


def cited_sources_html(sources: Sequence[Source], body_of: Callable[[str], str | None]) -> str:
    """One entry per source, numbered as the answer line cites them; opening it shows its
    quotes marked in their article (or the article's opening, for a headline quote)."""
    items = []
    for source in sources:
        body = body_of(source.article.id)
        spans = source.body_spans or [(0, 0)]
        context = context_html(body, spans) if body else \
            esc(" … ".join(flat(c.quote) for c in source.citations))
        items.append(source_html(source.number, source.article, source.quotes, context,
                                 also=source.also_line))
    return '<div class="sources"><div class="sources-head">Sources</div>' + "".join(items) + \
        "</div>"


def nearest_html(passages: Sequence[Passage], limit: int = 3) -> str:
    if not passages:
        return ""
    items = []
    for p in passages[:limit]:
        preview = one_line(p.text)
        preview = preview if len(preview) <= 180 else preview[:179].rsplit(" ", 1)[0] + "…"
        context = "".join(f"<p>{esc(line)}</p>" for line in p.text.splitlines() if line.strip())
        items.append(source_html(p.n, p.article, [preview], context, "Read the passage"))
    return ('<div class="sources nearest"><div class="sources-head">Nearest passages</div>'
            + "".join(items) + "</div>")


def answer_html(answer: Answer, body_of: Callable[[str], str | None]) -> str:
    """A finished answer: its line and sources, or the distinct 'not in the articles' look;
    then, collapsed, why it is this answer."""
    why = why_html(answer) if answer.debug is not None else ""
    if not answer.grounded:
        return (f'<div class="nf"><b>Not in the articles</b>{esc(answer.answer)}</div>'
                + nearest_html(answer.passages) + why)
    view = answer_view(answer)
    out = f'<div class="answer">{marked_text(view.line)}</div>'
    if answer.unsupported_sentences:
        out += ('<div class="warn">No quote backs: '
                + " ".join(f"“{esc(s)}”" for s in answer.unsupported_sentences) + "</div>")
    return out + cited_sources_html(view.sources, body_of) + why


def pending_html(text: str) -> str:
    """The answer as it streams in, without markers: they are numbered once verified."""
    if not text:
        return '<div class="pending">Reading the articles…</div>'
    shown = renumber_markers(re.sub(r"\[[\d,\s]*$", "", text), {})
    return f'<div class="answer">{esc(shown)}<span class="cursor">▍</span></div>'


def _score(value: Any, spec: str = ".3f") -> str:
    return "–" if value is None else esc(format(value, spec))


def _features_html(features: dict[str, float]) -> str:
    cells = "".join(f"<span><i>{esc(k)}</i> {_score(v, '.3g')}</span>" for k, v in features.items())
    return f'<details class="feats"><summary>features</summary><div>{cells}</div></details>'


def why_html(answer: Answer) -> str:
    """The "why this answer" panel: retrieval scores per passage, then the answerer's view."""
    debug = answer.debug or {}
    retrieval, answerer = debug.get("retrieval", {}), debug.get("answerer", {})
    sources = answer.source_numbers()
    rows = []
    for p in retrieval.get("passages", []):
        cited = f' <span class="src-tag">source {sources[p["n"]]}</span>' if p["n"] in sources \
            else ""
        rows.append(
            f'<tr><td>{p["n"]}</td><td class="t">{esc(p["title"])}{cited}</td>'
            f'<td>{_score(p["fused_score"], ".2f")}</td>'
            f'<td>{_score(p["dense_rank"], "")} · {_score(p["dense_similarity"])}</td>'
            f'<td>{_score(p["keyword_rank"], "")} · {_score(p["keyword_score"], ".2f")}</td>'
            f'<td>{_score(p["date_adjustment"], "+.2f")}</td></tr>')
    parts = [
        f'<p>Passages, ranked by {esc(retrieval.get("fusion", ""))} fusion of dense search and '
        "BM25:</p>",
        '<div class="why-scroll"><table><thead><tr><th>#</th><th>article</th><th>fused</th>'
        "<th>dense rank · sim.</th><th>BM25 rank · score</th><th>date adj.</th></tr></thead>"
        f'<tbody>{"".join(rows)}</tbody></table></div>',
    ]
    if answerer.get("confidence") is not None:
        verdict = "refused" if answerer.get("refused") else "answered"
        parts.append(
            f'<p>Answerer ({esc(answerer.get("mode", ""))}): confidence that the passages answer '
            f'<b>{_score(answerer["confidence"])}</b>; it refuses below '
            f'{_score(answerer.get("threshold"))}, so it {verdict}.</p>')
    candidates = answerer.get("candidates", [])
    if candidates:
        items = "".join(
            f'<li><b>p {_score(c["probability"])}</b> · logit {_score(c["score"], "+.2f")} · '
            f'passage {c["n"]}{" (headline)" if c["field"] == "title" else ""}: '
            f'“{esc(c["text"])}”{_features_html(c["features"])}</li>'
            for c in candidates)
        parts.append(f"<p>Best of {answerer.get('candidates_considered', len(candidates))} "
                     f"candidate sentences:</p><ol>{items}</ol>")
    phrase = answerer.get("phrase")
    if phrase:
        parts.append(f'<p>Answer phrase: “{esc(phrase["text"])}” (p '
                     f'{_score(phrase["probability"])}, passage {phrase["n"]}).</p>')
    return ('<details class="why"><summary>Why this answer</summary>'
            f'<div class="why-body">{"".join(parts)}</div></details>')


def failure_html(message: str) -> str:
    return f'<div class="failed">{esc(message)}</div>'


def status_text(articles: int, chunks: int, first: str | None, last: str | None) -> str:
    if not articles:
        return "The index is empty: run `assistant ingest` and reload this page."
    dates = f" · {first} to {last}" if first and last and first != last else \
        (f" · {first}" if first else "")
    return f"{plural(articles, 'article')} · {plural(chunks, 'passage')}{dates}"


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def header_html(services: Services) -> str:
    stats = services.store.stats()
    status = status_text(stats.articles, stats.chunks, stats.first_date, stats.last_date)
    answerer = services.answerer
    return (
        '<div class="top"><h1>News assistant</h1>'
        f'<span class="mode {esc(answerer.mode)}" title="Answerer in use">'
        f'{esc(answerer.label)}</span></div><div class="status">{esc(status)}</div>'
    )


def example_questions(metas: Iterable[ArticleMeta], limit: int = EXAMPLES) -> list[dict[str, str]]:
    """Chips for the newest articles: the headline to see, a question to send."""
    newest = sorted(metas, key=lambda m: (m.date or "", m.title), reverse=True)
    newest.sort(key=lambda m: m.date is None)
    out: list[dict[str, str]] = []
    for meta in newest:
        headline = re.split(r"\s+(?:as|after|amid|while)\s+|\s*[:|—–]\s*|\s+-\s+", meta.title)[0]
        headline = headline.strip(" .,;!?\"'“”")
        if len(headline) < 12:
            continue
        if len(headline) > 70:
            headline = headline[:70].rsplit(" ", 1)[0] + "…"
        chip = {"text": f"Tell me about “{headline}”", "display_text": f"Ask about: {headline}"}
        if chip not in out:
            out.append(chip)
        if len(out) >= limit:
            break
    return out


def welcome_text(articles: int) -> str:
    """What the empty chat says; shown again with the current count on every page load."""
    if not articles:
        return "**The index is empty.** Run `assistant ingest` and reload."
    return (f"**Ask about the {plural(articles, 'article')} in the index.**<br>"
            "Every answer cites the passages it quotes; open a source to read it in its article.")


def filter_label(since: str | None, until: str | None) -> str:
    if not since and not until:
        return "Date filter: all dates"
    return (f"Date filter: {since or 'any date'} to {until or 'any date'} "
            "(undated articles left out)")


# -- the conversation ---------------------------------------------------------------------


@dataclass
class Conversation:
    """One browser session's chat, kept on the server (gr.State) so requests stay small."""

    messages: list[dict[str, str]] = field(default_factory=list)
    turns: list[Turn] = field(default_factory=list)
    # Each finished answer under the index of its chat message, with the day it was asked.
    answers: dict[int, tuple[Answer, dt.date]] = field(default_factory=dict)
    # The rating that a note typed next completes (the last thumbs-down).
    rating_for_note: str | None = None
    # The rating given to each answer (chat message index -> feedback id): a thumb changed or
    # taken back updates that rating instead of adding one.
    ratings: dict[int, str] = field(default_factory=dict)


def chat(services: Services, message: str, since: str | None, until: str | None,
         conversation: Conversation | None) -> Iterator[tuple[str, list[dict[str, str]],
                                                               Conversation]]:
    """Streams the answer into the chat; yields (input box, chat messages, conversation).

    Bad input raises InputError before anything is shown, so the question stays in the box.
    """
    conversation = conversation or Conversation()
    question = check_question(message, limit=services.settings.max_question_chars)
    since_iso, until_iso, _ = check_filters(since, until, None)
    asked = dt.date.today()
    shown = [*conversation.messages, {"role": "user", "content": question},
             {"role": "assistant", "content": pending_html("")}]
    yield "", shown, conversation
    text = ""
    answer: Answer | None = None
    try:
        for item in services.asker.ask_stream(question, conversation.turns[-HISTORY_TURNS:],
                                              since=since_iso, until=until_iso, today=asked,
                                              debug=True):
            if isinstance(item, Answer):
                answer = item
            elif isinstance(item, str):
                text += item
                shown[-1] = {"role": "assistant", "content": pending_html(text)}
                yield "", shown, conversation
    except AssistantError as exc:
        shown[-1] = {"role": "assistant", "content": failure_html(str(exc))}
        yield "", shown, replace(conversation, messages=shown)
        return
    assert answer is not None
    shown[-1] = {"role": "assistant", "content": answer_html(answer, services.retriever.body)}
    turns = [*conversation.turns, Turn("user", question), Turn("assistant", answer.answer)]
    answers = {**conversation.answers, len(shown) - 1: (answer, asked)}
    yield "", shown, Conversation(shown, turns, answers)


def rate(services: Services, conversation: Conversation | None, index: Any,
         liked: Any) -> tuple[Feedback | None, Conversation | None]:
    """Stores a thumbs up (liked True) or down (False) on the answer at chat message `index`.

    Changing the thumb changes that answer's rating; taking it back (Gradio sends an empty
    value) withdraws it. A message that is not an answer (an error) is not rated.
    """
    position = index[0] if isinstance(index, list | tuple) else index
    found = conversation.answers.get(position) if conversation is not None else None
    if conversation is None or found is None:
        return None, conversation
    log = FeedbackLog(services.settings.store)
    ratings = dict(conversation.ratings)
    earlier = ratings.pop(position, None)
    if not isinstance(liked, bool):
        if earlier is not None:
            log.withdraw(earlier)
        note_for = None if conversation.rating_for_note == earlier else conversation.rating_for_note
        return None, replace(conversation, ratings=ratings, rating_for_note=note_for)
    answer, asked = found
    item = Feedback.of_answer(answer, "up" if liked else "down", asked)
    if earlier is not None:
        item = replace(item, id=earlier)  # the same rating, changed: one line per version
    log.add(item)
    ratings[position] = item.id
    return item, replace(conversation, ratings=ratings,
                         rating_for_note=None if liked else item.id)


# The chat window's names for the API's fields.
_FIELD_LABELS = {"since": "From", "until": "To"}


def field_message(exc: AssistantError) -> str:
    """The error as the chat window names its fields ("From", not "since")."""
    text = str(exc)
    field = exc.field if isinstance(exc, InputError) else None
    label = _FIELD_LABELS.get(field or "")
    if label and field and text.startswith(field):
        text = label + text[len(field):]
    return text


def conversation_file(conversation: Conversation, folder: Path) -> Path:
    """The conversation as Markdown in `folder/conversation.md` (for the download button)."""
    answers = [answer for _, (answer, _) in sorted(conversation.answers.items())]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "conversation.md"
    path.write_text(conversation_markdown(answers), encoding="utf-8")
    return path


def build_ui(services: Services) -> Any:
    """The gr.Blocks of the chat window (not yet mounted)."""
    quiet_offline_environment()
    import gradio as gr

    exports = Path(tempfile.mkdtemp(prefix="assistant-conversations-"))

    def chat_props() -> dict[str, Any]:
        """The empty chat's welcome text and example chips, for the index as it is now."""
        examples = example_questions(services.store.registry.ready_articles().values())
        return {"placeholder": welcome_text(services.store.stats().articles),
                "examples": examples or None}

    def respond(message: str, since: str | None, until: str | None,
                conversation: Conversation | None) -> Iterator[Any]:
        try:
            yield from chat(services, message, since, until, conversation)
        except AssistantError as exc:
            # Bad input: say so in a notice and leave the chat and the question as they were
            # (gr.Error would replace the whole chat with an error badge).
            gr.Warning(field_message(exc))
            kept = conversation or Conversation()
            yield message, kept.messages, kept

    def pick_example(event: gr.SelectData) -> str:
        return str(event.value.get("text", "")) if isinstance(event.value, dict) else ""

    def on_rate(conversation: Conversation | None, event: gr.LikeData) -> tuple[Any, Any, Any]:
        item, conversation = rate(services, conversation, event.index, event.liked)
        if item is None or item.rating == "up":
            if item is not None:
                gr.Info("Thanks: your rating is saved with the index.")
            return gr.Group(visible=False), gr.Textbox(value=""), conversation
        label = f"What is the right answer to “{item.question}”? (optional)"
        return gr.Group(visible=True), gr.Textbox(value="", label=label), conversation

    def send_note(note: str, conversation: Conversation | None) -> tuple[Any, Any, Any]:
        if conversation is None or conversation.rating_for_note is None:
            return gr.Group(visible=False), "", conversation
        try:
            FeedbackLog(services.settings.store).add_note(conversation.rating_for_note, note)
        except AssistantError as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        gr.Info("Thanks: the right answer is saved with your rating.")
        return gr.Group(visible=False), "", replace(conversation, rating_for_note=None)

    def offer_download(conversation: Conversation | None) -> Any:
        if conversation is None or not conversation.answers:
            return gr.DownloadButton(visible=False)
        folder = exports / uuid.uuid4().hex
        return gr.DownloadButton(value=str(conversation_file(conversation, folder)), visible=True)

    # Gradio finds an event-data parameter by its type; under postponed annotations that
    # type is only a string ("gr.SelectData"), which it cannot resolve on its own.
    pick_example.__annotations__["event"] = gr.SelectData
    on_rate.__annotations__["event"] = gr.LikeData

    def clear() -> tuple[str, list[dict[str, str]], None, Any, Any]:
        return "", [], None, gr.DownloadButton(visible=False), gr.Group(visible=False)

    with gr.Blocks(title="News assistant", fill_height=True) as blocks:
        header = gr.HTML(header_html(services), elem_id="header")
        chatbot = gr.Chatbot(
            elem_id="chat",
            show_label=False,
            scale=1,
            height="62vh",
            min_height=320,
            buttons=["copy"],
            feedback_options=["Like", "Dislike"],
            latex_delimiters=[],
            group_consecutive_messages=False,
            # The page script keeps each new question at the top of its answer instead.
            autoscroll=False,
            **chat_props(),
        )
        with gr.Group(visible=False, elem_id="note-row") as note_row:
            note = gr.Textbox(label="What is the right answer? (optional)", max_lines=3,
                              elem_id="note", placeholder="The right answer is …")
            send = gr.Button("Save the right answer", elem_id="send-note", size="sm")
        box = gr.Textbox(
            show_label=False,
            placeholder="Ask a question about the articles…",
            submit_btn=True,
            max_lines=5,
            autofocus=True,
            elem_id="question",
        )
        with gr.Accordion(filter_label(None, None), open=False, elem_id="filters") as filters, \
                gr.Row():
            # Wide enough minimums that on a phone the two pickers stack instead of overflowing.
            since = gr.DateTime(label="From", include_time=False, type="string", min_width=200,
                                elem_id="since")
            until = gr.DateTime(label="To", include_time=False, type="string", min_width=200)
        download = gr.DownloadButton("Download the conversation (Markdown)", visible=False,
                                     size="sm", elem_id="download", variant="secondary")
        gr.HTML('<div id="footer">JSON API and OpenAI-compatible endpoint: '
                '<a href="/docs" target="_blank">/docs</a></div>')
        conversation = gr.State(None)

        chat_io: dict[str, Any] = {
            "fn": respond,
            "inputs": [box, since, until, conversation],
            "outputs": [box, chatbot, conversation],
            "show_progress": "hidden",
            "concurrency_limit": 8,
        }
        offer: dict[str, Any] = {"fn": offer_download, "inputs": conversation,
                                 "outputs": download, "api_visibility": "private",
                                 "show_progress": "hidden"}
        box.submit(api_name="chat", **chat_io).then(**offer)
        chatbot.example_select(pick_example, None, box, api_visibility="private").then(
            api_visibility="private", **chat_io).then(**offer)
        chatbot.like(on_rate, conversation, [note_row, note, conversation],
                     api_visibility="private", show_progress="hidden")
        for trigger in (send.click, note.submit):
            trigger(send_note, [note, conversation], [note_row, note, conversation],
                    api_visibility="private", show_progress="hidden")
        chatbot.clear(clear, None, [box, chatbot, conversation, download, note_row],
                      api_visibility="private")
        for picker in (since, until):
            picker.change(lambda a, b: gr.Accordion(label=filter_label(a, b)), [since, until],
                          filters, api_visibility="private", show_progress="hidden")
        # Another process may have ingested since the page was built: count again on load.
        blocks.load(lambda: (header_html(services), gr.Chatbot(**chat_props())), None,
                    [header, chatbot], api_visibility="private")
    return blocks


def mount_ui(app: FastAPI, services: Services) -> None:
    """Mounts the chat window at `/` of `app` (after the API routes, which take precedence)."""
    quiet_offline_environment()
    import gradio as gr

    theme = gr.themes.Soft(primary_hue="blue", neutral_hue="slate",
                           font=["system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"])
    gr.mount_gradio_app(app, build_ui(services), path="/", footer_links=[], run_history=False,
                        ssr_mode=False, show_error=True, theme=theme, css=CSS,
                        head=f"<style>{PAGE_CSS}</style><script>{SCROLL_JS}</script>")
