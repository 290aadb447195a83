"""The `assistant` command: one group, one command per job."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

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


def load_settings(**overrides: Any) -> Any:
    """The settings; pydantic-settings is imported here, not at start-up (`--help` needs none)."""
    from assistant.config import load_settings as load

    return load(**overrides)


def _note(message: str) -> None:
    click.echo(f"note: {message}", err=True)


def _note_undated(services: Any, since: str | None, until: str | None) -> None:
    """A date filter leaves undated articles out; say how many, or an empty result puzzles."""
    if since or until:
        # From the view the query used: stats() would read every article again.
        undated = sum(1 for a in services.store.view().articles.values() if not a.date)
        if undated:
            _note(f"{undated} undated article{'s' if undated != 1 else ''} left out by the "
                  "date filter (--since/--until)")


def _services(**overrides: Any):  # type: ignore[no-untyped-def]
    from assistant.app import build

    return build(load_settings(**overrides), announce=_note)


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
@click.option("--rebuild", is_flag=True,
              help="Embed every article again, in place: the index answers meanwhile. (After "
                   "a change of embedding model it starts from an empty index.)")
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

    missing = [str(p) for p in paths if not p.exists() and not p.is_symlink()]
    if missing:  # a mistyped path is a usage error, not a file that failed to read
        raise InputError(f"no such file or folder: {', '.join(missing)}", "paths")
    settings = load_settings(store=store)
    services = build(settings.model_copy(update={
        "embed_threads": settings.ingest_threads if threads is None else threads}),
        announce=_note)
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
@click.option("-k", "k", type=click.IntRange(1, 50), default=8, show_default=True,
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
    _note_undated(services, since, until)
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
    """The answer line, then its sources numbered 1..m with their quotes."""
    from assistant.display import answer_view, flat

    view = answer_view(answer)
    color = None if answer.grounded else "yellow"
    click.echo(click.style(view.line, fg=color))
    if view.sources:
        click.echo()
        click.echo(click.style("Sources", bold=True))
        for source in view.sources:
            meta = ", ".join(x for x in (source.article.date or "undated", source.article.url) if x)
            click.echo(f"[{source.number}] {source.article.title} ({meta})")
            if source.also_line:
                click.echo(f"    {source.also_line}")
            for quote in source.quotes:
                click.echo(f"    “{quote}”")
    elif answer.passages:
        click.echo()
        click.echo(click.style("Nearest passages", bold=True))
        for p in answer.passages[:3]:
            click.echo(f"[{p.n}] {p.article.title} ({p.article.date or 'undated'})")
            click.echo("    " + flat(p.text)[:200] + "…")
    for sentence in answer.unsupported_sentences:
        click.echo(click.style(f"unsupported: {sentence}", fg="yellow"), err=True)


def print_debug(debug: dict[str, Any]) -> None:
    """The "why this answer" scores as a few aligned lines."""
    click.echo()
    click.echo(click.style("Why this answer", bold=True))
    retrieval = debug["retrieval"]
    click.echo(f"passages ({retrieval['fusion']} fusion): fused score, dense rank/similarity, "
               "BM25 rank/score, date adjustment")

    def num(value: Any, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    for p in retrieval["passages"]:
        click.echo(f"  {p['n']:>2}. {p['fused_score']:>7.3f}  dense {num(p['dense_rank'], '')}/"
                   f"{num(p['dense_similarity'], '.3f')}  bm25 {num(p['keyword_rank'], '')}/"
                   f"{num(p['keyword_score'], '.2f')}  date {num(p['date_adjustment'], '+.2f')}  "
                   f"{p['title'][:60]}")
    answerer = debug["answerer"]
    if answerer.get("confidence") is not None:
        click.echo(f"answerer ({answerer['mode']}): confidence {answerer['confidence']:.3f}, "
                   f"refuses below {num(answerer.get('threshold'), '.3f')}")
    for c in answerer.get("candidates", []):
        text = c["text"] if len(c["text"]) <= 90 else c["text"][:89] + "…"
        click.echo(f"  p={c['probability']:.3f} logit={c['score']:+.2f}  [{c['n']}] {c['field']}: "
                   f"{text}")
    phrase = answerer.get("phrase")
    if phrase:
        click.echo(f"answer phrase: {phrase['text']!r} (p={phrase['probability']:.3f}, "
                   f"from [{phrase['n']}] {phrase['field']})")


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
@click.option("--debug", is_flag=True,
              help="Also show why: each passage's dense and BM25 ranks and scores, date "
                   "adjustment and fused score; the answerer's best candidate sentences with "
                   "their feature scores and its refusal confidence.")
def ask(question: str, store: Path | None, k: int | None, since: str | None, until: str | None,
        today: str | None, history_file: Path | None, as_json: bool, debug: bool) -> None:
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
                                today=_today(today), debug=debug)
    _note_undated(services, since, until)
    if as_json:
        _print_json(answer.to_dict())
        return
    print_answer(answer)
    if answer.debug is not None:
        print_debug(answer.debug)


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

    Each line: {"id", "question", "type": "answerable"|"unanswerable"|"update", "answers":
    [...], "article_ids": [...], "evidence": [...], "question_date": "YYYY-MM-DD"}, and for
    an update question "earlier": [values earlier reports gave]; see
    tests/fixtures/fixture.schema.json. The whole file is checked before anything is asked.

    \b
    Example:
      assistant eval tests/fixtures/seed_questions.jsonl --corpus seeds --out eval-out/
    """
    from contextlib import nullcontext

    from assistant.app import build
    from assistant.evaluate import (
        build_judge,
        check_out_dir,
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
    if out_dir is not None:
        check_out_dir(out_dir)
    embedding = ProgressBar(not as_json, "embedding corpus", "chunk")
    asking = ProgressBar(not as_json, "asking", "question")
    try:
        context = (corpus_services(settings, corpus, embedding.start, embedding.update,
                                   announce=_note)
                   if corpus else nullcontext(build(settings, announce=_note)))
        with context as services:
            embedding.close()
            known = services.store.registry.states()
            unknown = sorted({a for q in questions for a in q.article_ids if a not in known})
            if unknown:
                _note(f"{len(unknown)} article id(s) in {fixtures} are not in the index "
                      f"(first: {', '.join(unknown[:3])}); their questions count as "
                      "retrieval misses")
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


@main.group()
def feedback() -> None:
    """Ratings of answers (thumbs in the chat window, POST /api/feedback), kept with the index.

    \b
    Turn them into regression questions for `assistant eval`:
      assistant feedback stats
      assistant feedback export --fixtures feedback.jsonl --review to-review.jsonl
      assistant eval feedback.jsonl
    """


def _exported(store: Path | None) -> tuple[Any, Any, list[Any]]:
    from assistant.feedback import FeedbackLog, export

    services = _services(store=store)
    log = FeedbackLog(services.settings.store)
    items = log.all()
    registry = services.store.registry
    return log, export(items, registry.ready_articles(), registry.body), items


def _write_lines(path: Path, lines: list[dict[str, Any]], option: str) -> None:
    """Writes JSON Lines to `path` at once, never over a file of someone else's questions."""
    import os

    if path.exists():
        try:
            previous = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()
                        if x.strip()]
        except (OSError, ValueError, UnicodeDecodeError):
            previous = [None]
        if any(not isinstance(p, dict) or "feedback_id" not in p for p in previous):
            raise InputError(f"{path} holds lines that were not exported from feedback; "
                             "choose another file (it would be overwritten)", option)
    text = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc}", option) from None


@feedback.command("export")
@click.option("--fixtures", "fixtures_file", required=True,
              type=click.Path(path_type=Path, dir_okay=False),
              help="Where to write the fixture lines (JSON Lines for `assistant eval`; "
                   "rewritten on every export).")
@click.option("--review", "review_file", default=None,
              type=click.Path(path_type=Path, dir_okay=False),
              help="Where to write the ratings a person has to complete (same shape, with "
                   "empty answers and a `review` reason).")
@store_option
@json_option
def feedback_export(fixtures_file: Path, review_file: Path | None, store: Path | None,
                    as_json: bool) -> None:
    """Write `assistant eval` questions made from the ratings.

    A thumbs-down with a note becomes an answerable question whose answer is the note (its
    articles: those of the index that contain it). A thumbs-up keeps a right answer right (or
    a right refusal, as an unanswerable question). A thumbs-down with no note, or on a
    refusal, cannot be scored without a person: it goes to --review. The newest rating of a
    question wins.
    """
    _, exported, items = _exported(store)
    _write_lines(fixtures_file, exported.fixtures, "fixtures")
    if review_file is not None:
        _write_lines(review_file, exported.review, "review")
    if as_json:
        _print_json({"ratings": len(items), "fixtures": len(exported.fixtures),
                     "to_review": len(exported.review), "fixtures_file": str(fixtures_file),
                     "review_file": None if review_file is None else str(review_file)})
        return
    click.echo(f"{len(items)} ratings: wrote {len(exported.fixtures)} questions to "
               f"{fixtures_file}")
    if exported.review:
        where = f"wrote them to {review_file}" if review_file is not None else \
            "add --review FILE to write them"
        click.echo(f"{len(exported.review)} need a person to complete them; {where}")
    if exported.fixtures:
        click.echo(f"run them: assistant eval {fixtures_file}")


@feedback.command("stats")
@store_option
@json_option
def feedback_stats(store: Path | None, as_json: bool) -> None:
    """How answers were rated: up and down, notes, refusals, and what an export would give."""
    from assistant.feedback import stats as summarize

    log, exported, items = _exported(store)
    summary = summarize(items, exported, log.unreadable)
    if as_json:
        _print_json(summary)
        return
    if not items:
        click.echo(f"no ratings yet in {log.path}; rate answers in the chat window or with "
                   "POST /api/feedback")
        return
    refusals = summary["refusals_rated"]
    click.echo(f"ratings:         {summary['ratings']} ({summary['up']} up, {summary['down']} "
               f"down, {summary['down_with_note']} of them with the right answer)")
    click.echo(f"on refusals:     {refusals['up']} up, {refusals['down']} down")
    for mode, counts in sorted(summary["by_mode"].items()):
        click.echo(f"{mode + ':':<17}{counts['up']} up, {counts['down']} down")
    click.echo(f"dates:           {summary['first']} .. {summary['last']}")
    click.echo(f"export would give {summary['fixtures']} questions, {summary['to_review']} "
               "to review")
    if summary["unreadable_lines"]:
        click.echo(f"unreadable lines in {log.path}: {summary['unreadable_lines']}", err=True)
