"""The chat window (Gradio): streamed answers with their numbered, quoted sources.

Each answer is rendered as one block of HTML in the chat: the text with its `[n]` markers,
then one entry per source (title, date, source, link and the quoted sentences). Opening an
entry shows the quote highlighted in the context of its article. Every piece of article text
is escaped here, because ingested pages are untrusted input.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from assistant.answering import check_question
from assistant.api import check_filters
from assistant.app import Services, quiet_offline_environment
from assistant.errors import AssistantError
from assistant.types import Answer, ArticleMeta, Citation, Passage, Turn

if TYPE_CHECKING:
    from fastapi import FastAPI

# Follow-ups need only the last few exchanges, and a short history keeps LLM prompts small.
HISTORY_TURNS = 10
CONTEXT_CHARS = 450
EXAMPLES = 3
MARKER = re.compile(r"\[(\d+)\]")

# Gradio scopes `css` to elements inside its layout; the page frame needs a plain <style>.
PAGE_CSS = """
.gradio-container { width: 100% !important; max-width: 960px !important;
  margin: 0 auto !important; }
@media (max-width: 640px) { .gradio-container .main { padding: 10px 8px !important; } }
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
                open_label: str = "Show in the article") -> str:
    quote_html = "".join(f'<span class="src-quote">“{esc(one_line(q))}”</span>' for q in quotes)
    return (
        f'<details class="src"><summary><span class="src-n">{n}</span>'
        f'<span class="src-main"><span class="src-title">{esc(meta.title)}</span>'
        f'<span class="src-meta">{meta_html(meta)}</span>{quote_html}'
        f'<span class="src-open">{open_label} ▾</span></span></summary>'
        f'<div class="src-context">{context}</div></details>'
    )


def cited_sources_html(citations: Sequence[Citation], passages: Sequence[Passage],
                       body_of: Callable[[str], str | None]) -> str:
    """One entry per cited passage number, all its quotes marked in one context view."""
    by_n: dict[int, list[Citation]] = {}
    for c in citations:
        by_n.setdefault(c.n, []).append(c)
    metas = {p.n: p.article for p in passages}
    items = []
    for n, group in sorted(by_n.items()):
        first = group[0]
        meta = metas.get(n) or ArticleMeta(first.article_id, first.title, first.path, "",
                                           first.date, None, first.url)
        body = body_of(first.article_id)
        spans = [(c.start, c.end) for c in group]
        context = context_html(body, spans) if body else esc(" … ".join(c.quote for c in group))
        items.append(source_html(n, meta, [c.quote for c in group], context))
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
    """A finished answer: text and sources, or the distinct 'not in the articles' look."""
    if not answer.grounded:
        return (f'<div class="nf"><b>Not in the articles</b>{esc(answer.answer)}</div>'
                + nearest_html(answer.passages))
    out = f'<div class="answer">{marked_text(answer.answer)}</div>'
    if answer.unsupported_sentences:
        out += ('<div class="warn">No quote backs: '
                + " ".join(f"“{esc(s)}”" for s in answer.unsupported_sentences) + "</div>")
    return out + cited_sources_html(answer.citations, answer.passages, body_of)


def pending_html(text: str) -> str:
    if not text:
        return '<div class="pending">Reading the articles…</div>'
    return f'<div class="answer">{marked_text(text)}<span class="cursor">▍</span></div>'


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


def example_questions(metas: Iterable[ArticleMeta], limit: int = EXAMPLES) -> list[str]:
    """Questions about the newest articles, made from their headlines."""
    newest = sorted(metas, key=lambda m: (m.date or "", m.title), reverse=True)
    newest.sort(key=lambda m: m.date is None)
    out: list[str] = []
    for meta in newest:
        headline = re.split(r"\s+(?:as|after|amid|while)\s+|\s*[:|—–]\s*|\s+-\s+", meta.title)[0]
        headline = headline.strip(" .,;!?\"'“”")
        if len(headline) < 12:
            continue
        if len(headline) > 70:
            headline = headline[:70].rsplit(" ", 1)[0]
        question = f"What happened: {headline}?"
        if question not in out:
            out.append(question)
        if len(out) >= limit:
            break
    return out


def filter_label(since: str | None, until: str | None) -> str:
    if not since and not until:
        return "Date filter: all dates"
    return f"Date filter: {since or 'any date'} to {until or 'any date'}"


# -- the conversation ---------------------------------------------------------------------


@dataclass
class Conversation:
    """One browser session's chat, kept on the server (gr.State) so requests stay small."""

    messages: list[dict[str, str]] = field(default_factory=list)
    turns: list[Turn] = field(default_factory=list)


def chat(services: Services, message: str, since: str | None, until: str | None,
         conversation: Conversation | None) -> Iterator[tuple[str, list[dict[str, str]],
                                                               Conversation]]:
    """Streams the answer into the chat; yields (input box, chat messages, conversation).

    Bad input raises InputError before anything is shown, so the question stays in the box.
    """
    conversation = conversation or Conversation()
    question = check_question(message, limit=services.settings.max_question_chars)
    since_iso, until_iso, _ = check_filters(since, until, None)
    shown = [*conversation.messages, {"role": "user", "content": question},
             {"role": "assistant", "content": pending_html("")}]
    yield "", shown, conversation
    text = ""
    answer: Answer | None = None
    try:
        for item in services.asker.ask_stream(question, conversation.turns[-HISTORY_TURNS:],
                                              since=since_iso, until=until_iso):
            if isinstance(item, Answer):
                answer = item
            elif isinstance(item, str):
                text += item
                shown[-1] = {"role": "assistant", "content": pending_html(text)}
                yield "", shown, conversation
    except AssistantError as exc:
        shown[-1] = {"role": "assistant", "content": failure_html(str(exc))}
        yield "", shown, Conversation(shown, conversation.turns)
        return
    assert answer is not None
    shown[-1] = {"role": "assistant", "content": answer_html(answer, services.retriever.body)}
    turns = [*conversation.turns, Turn("user", question), Turn("assistant", answer.answer)]
    yield "", shown, Conversation(shown, turns)


def build_ui(services: Services) -> Any:
    """The gr.Blocks of the chat window (not yet mounted)."""
    quiet_offline_environment()
    import gradio as gr

    examples = example_questions(services.store.registry.ready_articles().values())
    articles = services.store.stats().articles

    def respond(message: str, since: str | None, until: str | None,
                conversation: Conversation | None) -> Iterator[Any]:
        try:
            yield from chat(services, message, since, until, conversation)
        except AssistantError as exc:  # bad input: say so, keep the question in the box
            raise gr.Error(str(exc), print_exception=False) from None

    def pick_example(event: gr.SelectData) -> str:
        return str(event.value.get("text", "")) if isinstance(event.value, dict) else ""

    # Gradio finds the event-data parameter by its type; under postponed annotations that
    # type is only the string "gr.SelectData", which it cannot resolve on its own.
    pick_example.__annotations__["event"] = gr.SelectData

    def clear() -> tuple[str, list[dict[str, str]], None]:
        return "", [], None

    with gr.Blocks(title="News assistant", fill_height=True) as blocks:
        header = gr.HTML(header_html(services), elem_id="header")
        chatbot = gr.Chatbot(
            elem_id="chat",
            show_label=False,
            scale=1,
            height="62vh",
            min_height=320,
            placeholder=(
                f"**Ask about the {plural(articles, 'article')} in the index.**<br>"
                "Every answer cites the passages it quotes; open a source to read it in its "
                "article." if articles else
                "**The index is empty.** Run `assistant ingest` and reload."
            ),
            examples=[{"text": q} for q in examples] or None,
            buttons=["copy"],
            feedback_options=None,
            latex_delimiters=[],
            group_consecutive_messages=False,
            autoscroll=True,
        )
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
            since = gr.DateTime(label="From", include_time=False, type="string", min_width=200)
            until = gr.DateTime(label="To", include_time=False, type="string", min_width=200)
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
        box.submit(api_name="chat", **chat_io)
        chatbot.example_select(pick_example, None, box, api_visibility="private").then(
            api_visibility="private", **chat_io)
        chatbot.clear(clear, None, [box, chatbot, conversation], api_visibility="private")
        for picker in (since, until):
            picker.change(lambda a, b: gr.Accordion(label=filter_label(a, b)), [since, until],
                          filters, api_visibility="private", show_progress="hidden")
        blocks.load(lambda: header_html(services), None, header, api_visibility="private")
    return blocks


def mount_ui(app: FastAPI, services: Services) -> None:
    """Mounts the chat window at `/` of `app` (after the API routes, which take precedence)."""
    quiet_offline_environment()
    import gradio as gr

    theme = gr.themes.Soft(primary_hue="blue", neutral_hue="slate",
                           font=["system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"])
    gr.mount_gradio_app(app, build_ui(services), path="/", footer_links=[], run_history=False,
                        ssr_mode=False, show_error=True, theme=theme, css=CSS,
                        head=f"<style>{PAGE_CSS}</style>")
