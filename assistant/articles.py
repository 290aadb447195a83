"""Read files of every supported format into `Article`s; bad files become `ArticleError`s."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from assistant.errors import ArticleError
from assistant.types import Article

TEXT_SUFFIXES = {".md", ".markdown", ".txt"}
SUFFIXES = TEXT_SUFFIXES | {".html", ".htm", ".json", ".jsonl", ".pdf"}
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.DOTALL)
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%d %B %Y", "%B %d, %Y", "%b %d, %Y", "%d %b %Y")


def find_files(paths: Iterable[Path]) -> tuple[list[Path], list[ArticleError]]:
    """Expand folders recursively into supported files; report paths that do not exist."""
    files: list[Path] = []
    problems: list[ArticleError] = []
    for path in paths:
        if path.is_dir():
            files.extend(
                p
                for p in sorted(path.rglob("*"))
                # A dangling link is listed too, so it is reported rather than silently missed.
                if (p.is_file() or (p.is_symlink() and not p.exists()))
                and p.suffix.lower() in SUFFIXES
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        elif path.is_file():
            if path.suffix.lower() in SUFFIXES:
                files.append(path)
            else:
                problems.append(
                    ArticleError(
                        str(path),
                        f"unsupported file type {path.suffix or '(none)'!r}; "
                        f"use one of {', '.join(sorted(SUFFIXES))}",
                    )
                )
        else:
            problems.append(ArticleError(str(path), "no such file or folder"))
    return files, problems


def read_articles(paths: Iterable[Path]) -> tuple[list[Article], list[ArticleError]]:
    """Read every article under `paths`; one bad file (or JSON line) never stops the rest."""
    files, problems = find_files(paths)
    articles: list[Article] = []
    seen: dict[str, str] = {}
    for path in files:
        try:
            for article in read_file(path):
                if article.id in seen:
                    problems.append(
                        ArticleError(
                            article.path,
                            f"duplicate article id {article.id!r} (also in {seen[article.id]})",
                        )
                    )
                    continue
                seen[article.id] = article.path
                articles.append(article)
        except LineErrors as exc:
            problems.extend(exc.problems)
        except ArticleError as exc:
            problems.append(exc)
    return articles, problems


def read_file(path: Path) -> Iterator[Article]:
    """Articles in one file. Raises `ArticleError` for a file that cannot be read at all."""
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        yield _finish(_read_pdf(path))
        return
    text = _read_text(path)
    if suffix in TEXT_SUFFIXES:
        yield _finish(_parse_text(text, path))
    elif suffix in (".html", ".htm"):
        yield _finish(_parse_html(text, path))
    elif suffix == ".json":
        yield from _parse_json(text, path)
    elif suffix == ".jsonl":
        yield from _parse_jsonl(text, path)
    else:  # pragma: no cover - find_files filters suffixes
        raise ArticleError(str(path), f"unsupported file type {suffix!r}")


def content_hash(article: Article) -> str:
    """A hash of everything that ends up in the index, so any change re-indexes the article."""
    payload = json.dumps(
        [article.id, article.title, article.date, article.source, article.url, article.body],
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _finish(article: Article) -> Article:
    if not article.body.strip():
        raise ArticleError(article.path, "empty article: no body text")
    return replace(article, content_hash=content_hash(article))


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ArticleError(str(path), f"cannot read file: {exc.strerror or exc}") from None


def _read_text(path: Path) -> str:
    data = _read_bytes(path)
    if not data.strip():
        raise ArticleError(str(path), "empty file")
    if b"\x00" in data[:8192]:
        raise ArticleError(str(path), "binary file, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ArticleError(
            str(path),
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "re-save the file as UTF-8",
        ) from None


def _first_line(text: str) -> str:
    for line in text.splitlines():
        stripped = line.strip().lstrip("#").strip()
        if stripped:
            return stripped[:300]
    return ""


def normalise_date(value: Any, where: str) -> str | None:
    """ISO `YYYY-MM-DD` from a date, datetime or common date string; None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value).strip()
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).date().isoformat()
    except ValueError:
        pass
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            continue
    raise ArticleError(where, f"unreadable date {text!r}; write it as YYYY-MM-DD")


def _str_or_none(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _authors(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(a.strip() for a in value.split(",") if a.strip())
    if isinstance(value, list):
        return tuple(str(a).strip() for a in value if str(a).strip())
    return (str(value),)


def _from_fields(fields: dict[str, Any], body: str, path: Path, where: str, default_id: str) -> Article:
    article_id = _str_or_none(fields.get("id")) or default_id
    return Article(
        id=article_id,
        title=_str_or_none(fields.get("title")) or _first_line(body) or article_id,
        body=body,
        path=str(path),
        date=normalise_date(fields.get("date"), where),
        source=_str_or_none(fields.get("source")),
        url=_str_or_none(fields.get("url")),
        authors=_authors(fields.get("authors")),
    )


def _parse_text(text: str, path: Path) -> Article:
    fields: dict[str, Any] = {}
    body = text
    match = _FRONT_MATTER.match(text)
    if match:
        try:
            # libyaml's loader when present: 8x faster, same result.
            loaded = yaml.load(match.group(1), Loader=_YAML_LOADER)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f" (line {mark.line + 2})" if mark is not None else ""
            raise ArticleError(str(path), f"malformed front matter{line}: {exc}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ArticleError(str(path), "front matter must be a mapping of key: value lines")
        fields = loaded or {}
        body = text[match.end() :]
    return _from_fields(fields, body, path, str(path), path.stem)


def _parse_html(text: str, path: Path) -> Article:
    import trafilatura

    body = trafilatura.extract(text, include_comments=False, include_tables=False) or ""
    meta = trafilatura.extract_metadata(text)
    fields: dict[str, Any] = {}
    if meta is not None:
        fields = {
            "title": meta.title,
            "date": meta.date,
            "source": meta.sitename or meta.hostname,
            "url": meta.url,
            "authors": meta.author,
        }
    try:
        return _from_fields(fields, body, path, str(path), path.stem)
    except ArticleError:
        # A page's own date meta tag is often odd; the article is still worth indexing.
        fields["date"] = None
        return _from_fields(fields, body, path, str(path), path.stem)


def _read_pdf(path: Path) -> Article:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        pages = [page.extract_text() or "" for page in reader.pages]
        info = reader.metadata
    except (PdfReadError, OSError, ValueError) as exc:
        raise ArticleError(str(path), f"unreadable PDF: {exc}") from None
    body = "\n\n".join(p.strip("\n") for p in pages if p.strip())
    fields: dict[str, Any] = {}
    if info is not None:
        fields["title"] = info.title
        fields["authors"] = info.author
    return _from_fields(fields, body, path, str(path), path.stem)


def _article_from_object(obj: Any, path: Path, where: str, default_id: str, line: int | None) -> Article:
    if not isinstance(obj, dict):
        raise ArticleError(str(path), "expected a JSON object with a 'text' field", line)
    text = obj.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ArticleError(str(path), "missing or empty 'text' field", line)
    try:
        article = _from_fields(obj, text, path, where, default_id)
    except ArticleError as exc:
        raise ArticleError(str(path), exc.reason, line) from None
    return _finish(article)


def _parse_json(text: str, path: Path) -> Iterator[Article]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ArticleError(str(path), f"malformed JSON: {exc.msg}", exc.lineno) from None
    if isinstance(data, dict):
        yield _article_from_object(data, path, str(path), path.stem, None)
        return
    if not isinstance(data, list):
        raise ArticleError(str(path), "expected a JSON object or a list of objects")
    for i, obj in enumerate(data):
        yield _article_from_object(obj, path, f"{path}[{i}]", f"{path.stem}-{i + 1}", None)


def _parse_jsonl(text: str, path: Path) -> Iterator[Article]:
    """One article per line; a malformed line is reported by number and the rest still load."""
    problems: list[ArticleError] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            yield _article_from_object(obj, path, f"{path}:{number}", f"{path.stem}-{number}", number)
        except json.JSONDecodeError as exc:
            problems.append(ArticleError(str(path), f"malformed JSON line: {exc.msg}", number))
        except ArticleError as exc:
            problems.append(exc)
    if problems:
        raise LineErrors(problems)


class LineErrors(ArticleError):
    """Several bad lines of one JSON Lines file, raised after its good lines were yielded."""

    def __init__(self, problems: list[ArticleError]) -> None:
        super().__init__(problems[0].path, problems[0].reason)
        self.problems = problems
