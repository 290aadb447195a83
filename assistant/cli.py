"""The `assistant` command: one group, one command per job."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from assistant.config import load_settings
from assistant.errors import AssistantError, InputError

F = TypeVar("F", bound=Callable[..., Any])
EXIT_SKIPPED = 3


class Group(click.Group):
    """Turns our errors into one line on stderr and an exit code, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AssistantError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted; run the same command again to finish safely", err=True)
            sys.exit(130)


def store_option(func: F) -> F:
    return click.option(
        "--store",
        type=click.Path(path_type=Path, file_okay=False),
        default=None,
        help="Index folder [default: vectorstore/, or $ASSISTANT_STORE].",
    )(func)


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")(func)


def date_options(func: F) -> F:
    func = click.option("--until", default=None, metavar="YYYY-MM-DD",
                        help="Only articles dated on or before this day.")(func)
    func = click.option("--since", default=None, metavar="YYYY-MM-DD",
                        help="Only articles dated on or after this day.")(func)
    return func


def today_option(func: F) -> F:
    return click.option(
        "--today", default=None, metavar="YYYY-MM-DD",
        help="The date relative questions ('this week', 'recently') count from [default: today].",
    )(func)


def _services(**overrides: Any):  # type: ignore[no-untyped-def]
    from assistant.app import build

    return build(load_settings(**overrides))


def _today(value: str | None) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InputError(f"--today must be a date like 2026-11-26, not {value!r}", "today") from None


class ProgressBar:
    """A tqdm bar on stderr when it is a terminal (and not --json); silent otherwise.

    The bar appears once its total is known, so its methods fit the pipeline's callbacks.
    """

    def __init__(self, enabled: bool, desc: str, unit: str) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.desc = desc
        self.unit = unit
        self._bar: Any = None

    def start(self, total: int) -> None:
        self.close()
        if self.enabled and total:
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit=self.unit, desc=self.desc, file=sys.stderr)

    def update(self, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _print_json(obj: Any) -> None:
    click.echo(json.dumps(obj, ensure_ascii=False))


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="news-assistant")
def main() -> None:
    """Ask questions about a collection of news articles; every answer cites its sources.

    \b
    Quick start:
      assistant ingest seeds/          # index the articles (incremental)
      assistant ask "Who did Trump invite to the White House?"
      assistant serve                  # chat window + API on http://127.0.0.1:7860
    """


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@store_option
@click.option("--prune/--no-prune", default=None,
              help="Remove stored articles from these folders whose files are gone "
                   "[default: on for the default seeds/ folder, off otherwise].")
@click.option("--rebuild", is_flag=True, help="Delete the index and embed everything again.")
@click.option("--threads", type=click.IntRange(0, 64), default=None,
              help="onnxruntime threads for embedding; 0 = all cores "
                   "[default: 0, or $ASSISTANT_INGEST_THREADS].")
@json_option
def ingest(paths: tuple[Path, ...], store: Path | None, prune: bool | None, rebuild: bool,
           threads: int | None, as_json: bool) -> None:
    """Index articles from folders or files (default: seeds/), embedding only what changed.

    Reads .md/.txt (optional YAML front matter: id, title, date, source, url, authors),
    .html, .json/.jsonl (one article per object: id, title, text, date, url, source) and .pdf.
    A file that cannot be read is reported and skipped; the rest is indexed.

    Exit codes: 0 all read, 3 some files skipped, 2 bad arguments, 75 another ingest is
    writing to the same store (one writer at a time; searching and serving go on).
    """
    from assistant.app import build
    from assistant.ingest import ingest as run_ingest

    settings = load_settings(store=store)
    services = build(settings.model_copy(update={
        "embed_threads": settings.ingest_threads if threads is None else threads}))
    settings = services.settings
    targets = list(paths) or [Path("seeds")]
    do_prune = (not paths) if prune is None else prune
    index = services.open_store(create=True)
    bar = ProgressBar(not as_json, "embedding", "chunk")
    try:
        report = run_ingest(
            index, services.embedder, targets, prune=do_prune, rebuild=rebuild,
            chunk_tokens=settings.chunk_tokens, chunk_overlap=settings.chunk_overlap,
            max_article_chars=settings.max_article_chars,
            on_total=bar.start, on_progress=bar.update,
        )
    finally:
        bar.close()
    if as_json:
        _print_json(report.to_dict())
    else:
        for note in report.notes:
            click.echo(f"note: {note}", err=True)
        for problem in report.skipped:
            click.echo(f"skipped {problem.path}: {problem.reason}", err=True)
        click.echo(report.summary())
    if report.skipped:
        sys.exit(EXIT_SKIPPED)


@main.command()
@store_option
@json_option
def stats(store: Path | None, as_json: bool) -> None:
    """Show what the index holds: articles, chunks, date range, embedding model."""
    from assistant.models import load_models

    services = _services(store=store)
    info = services.store.stats()
    models = load_models().version
    if as_json:
        _print_json({**info.to_dict(), "answerer_models": models})
        return
    dates = f"{info.first_date} .. {info.last_date}" if info.first_date else "none"
    click.echo(f"store:           {info.store}")
    click.echo(f"vectors:         {info.chroma}")
    click.echo(f"articles:        {info.articles} ({info.undated} undated)")
    click.echo(f"chunks:          {info.chunks}")
    click.echo(f"stories:         {info.stories} (reports of one event grouped, reprints included)")
    click.echo(f"dates:           {dates}")
    click.echo(f"embedding model: {info.embedding_model or '-'}")
    click.echo(f"answerer models: {models} (assistant/models/{models}.md)")


@main.command()
@click.argument("query")
@store_option
@click.option("-k", "k", type=click.IntRange(1, 100), default=8, show_default=True,
              help="How many passages.")
@date_options
@today_option
@json_option
def search(query: str, store: Path | None, k: int, since: str | None, until: str | None,
           today: str | None, as_json: bool) -> None:
    """Show the passages that best match QUERY (hybrid dense + keyword search)."""
    from assistant.answering import check_question

    check_question(query, "query")
    services = _services(store=store)
    timings: dict[str, float] = {}
    passages = services.retriever.search(query, k, since, until, _today(today), timings)
    if as_json:
        _print_json({"query": query, "passages": [p.to_dict() for p in passages],
                     "timings_ms": {k: round(v, 2) for k, v in timings.items()}})
        return
    if not passages:
        click.echo("no matching passages")
    for p in passages:
        date = p.article.date or "undated"
        click.echo(click.style(f"[{p.n}] {p.article.title}", bold=True)
                   + f"  ({date}, score {p.score:.4f})")
        click.echo(f"    {p.article.id} chars {p.start}-{p.end}")
        click.echo("    " + " ".join(p.text.split())[:400])


def print_answer(answer: Any) -> None:
    """The answer, then its numbered sources with their quotes."""
    color = None if answer.grounded else "yellow"
    click.echo(click.style(answer.answer, fg=color))
    if answer.citations:
        click.echo()
        click.echo(click.style("Sources", bold=True))
        for c in answer.citations:
            meta = ", ".join(x for x in (c.date or "undated", c.url) if x)
            click.echo(f"[{c.n}] {c.title} ({meta})")
            click.echo(f"    “{' '.join(c.quote.split())}”")
    elif answer.passages:
        click.echo()
        click.echo(click.style("Nearest passages", bold=True))
        for p in answer.passages[:3]:
            click.echo(f"[{p.n}] {p.article.title} ({p.article.date or 'undated'})")
            click.echo("    " + " ".join(p.text.split())[:200] + "…")
    for sentence in answer.unsupported_sentences:
        click.echo(click.style(f"unsupported: {sentence}", fg="yellow"), err=True)


@main.command()
@click.argument("question")
@store_option
@click.option("-k", "k", type=click.IntRange(1, 50), default=None,
              help="How many passages to read [default: 8].")
@date_options
@today_option
@click.option("--history", "history_file", type=click.Path(path_type=Path, dir_okay=False),
              default=None, help='Earlier turns: a JSON file [{"role": "user", "content": ...}].')
@json_option
def ask(question: str, store: Path | None, k: int | None, since: str | None, until: str | None,
        today: str | None, history_file: Path | None, as_json: bool) -> None:
    """Answer QUESTION from the articles, citing the passages it used.

    Offline by default (extractive answerer). With OPENAI_API_KEY or OPENAI_BASE_URL set it
    answers through that LLM; every citation is checked against the article text either way.
    """
    from assistant.answering import check_question
    from assistant.types import Turn

    check_question(question)
    history: list[Turn] = []
    if history_file is not None:
        history = parse_history(_read_json(history_file))
    services = _services(store=store)
    answer = services.asker.ask(question, history, k=k, since=since, until=until,
                                today=_today(today))
    if as_json:
        _print_json(answer.to_dict())
    else:
        print_answer(answer)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read {path} as JSON: {exc}", "history") from None


def parse_history(raw: Any, field: str = "history") -> list[Any]:
    """Turns from a list of {role, content} objects, with errors that name the bad item."""
    from assistant.answering import check_text
    from assistant.types import Turn

    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InputError(f"{field} must be a list of {{role, content}} objects", field)
    turns = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or item.get("role") not in ("user", "assistant") \
                or not isinstance(item.get("content"), str):
            raise InputError(
                f"{field}[{i}] must be an object with role 'user' or 'assistant' and a string "
                "content", f"{field}[{i}]")
        turns.append(Turn(item["role"], check_text(item["content"], f"{field}[{i}].content")))
    return turns


@main.command("eval")
@click.argument("fixtures", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--corpus", type=click.Path(path_type=Path), multiple=True,
              help="Articles to ingest into a fresh temporary index for this run (repeatable); "
                   "your own index is not touched.")
@store_option
@click.option("-k", "k", type=click.IntRange(1, 50), default=None,
              help="How many passages the answerer reads [default: 8].")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Only the first N questions.")
@json_option
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Write results.jsonl and report.html into this folder.")
@click.option("--judge", is_flag=True,
              help="Also grade correctness and faithfulness with the configured LLM "
                   "(needs OPENAI_API_KEY or OPENAI_BASE_URL).")
def eval_command(fixtures: Path, corpus: tuple[Path, ...], store: Path | None, k: int | None,
                 limit: int | None, as_json: bool, out_dir: Path | None, judge: bool) -> None:
    """Score retrieval, answers, citations and refusals on FIXTURES (JSON Lines questions).

    Each line: {"id", "question", "type": "answerable"|"unanswerable", "answers": [...],
    "article_ids": [...], "evidence": [...], "question_date": "YYYY-MM-DD"}; see
    tests/fixtures/fixture.schema.json. The whole file is checked before anything is asked.

    \b
    Example:
      assistant eval tests/fixtures/seed_questions.jsonl --corpus seeds --out eval-out/
    """
    from contextlib import nullcontext

    from assistant.app import build
    from assistant.evaluate import (
        build_judge,
        corpus_services,
        evaluate,
        format_summary,
        load_questions,
        write_outputs,
    )

    questions = load_questions(fixtures)
    if limit is not None:
        questions = questions[:limit]
    if corpus and store is not None:
        raise InputError("use --corpus (a temporary index) or --store (an existing one), not both",
                         "store")
    settings = load_settings(store=store)
    llm_judge = build_judge(settings) if judge else None
    embedding = ProgressBar(not as_json, "embedding corpus", "chunk")
    asking = ProgressBar(not as_json, "asking", "question")
    try:
        context = (corpus_services(settings, corpus, embedding.start, embedding.update)
                   if corpus else nullcontext(build(settings)))
        with context as services:
            embedding.close()
            asking.start(len(questions))
            report = evaluate(services, questions, k, judge=llm_judge,
                              on_progress=lambda _: asking.update(), source=str(fixtures))
    finally:
        embedding.close()
        asking.close()
    summary = report.summary()
    paths = write_outputs(report, out_dir) if out_dir is not None else None
    if as_json:
        _print_json(summary)
        return
    click.echo(format_summary(summary))
    if paths is not None:
        click.echo(f"wrote {paths[0]} and {paths[1]}")


@main.command()
@store_option
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Interface to listen on; 0.0.0.0 exposes the server to the network.")
@click.option("--port", type=click.IntRange(1, 65535), default=7860, show_default=True,
              help="Port to listen on.")
def serve(store: Path | None, host: str, port: int) -> None:
    """Start the chat window (at /) and the JSON API (/api, /v1, /docs) in one process.

    Loads the index and model once at start-up. With ASSISTANT_API_TOKEN set, the API needs
    `Authorization: Bearer <token>` and the chat window asks for the token once.
    """
    import socket

    services = _services(store=store)
    from assistant.api import create_app, warm

    warm(services)  # a missing index fails here, as one line, before the port is taken
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        import errno

        reason = "it is already in use" if exc.errno == errno.EADDRINUSE else str(exc)
        raise InputError(f"cannot listen on {host}:{port}: {reason}; pick another --port "
                         "or --host", "port") from None
    if host not in ("127.0.0.1", "localhost", "::1") and not services.settings.api_token:
        click.echo(f"warning: serving on {host} without ASSISTANT_API_TOKEN; anyone who can "
                   "reach this port can use the assistant", err=True)
    app = create_app(services)
    import uvicorn

    from assistant.server import server_options

    shown = f"[{host}]" if ":" in host else host
    click.echo(f"News assistant on http://{shown}:{port}  (API docs: /docs, "
               f"answerer: {services.answerer.label})", err=True)
    uvicorn.run(app, host=host, port=port, log_level="info", timeout_graceful_shutdown=5,
                **server_options(services.settings))
