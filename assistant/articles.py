"""Read files of every supported format into `Article`s; bad files become `ArticleError`s."""

from __future__ import annotations

import codecs
import datetime as dt
import errno
import hashlib
import json
import logging
import os
import re
import stat
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from assistant.errors import ArticleError
from assistant.types import Article

TEXT_SUFFIXES = {".md", ".markdown", ".txt"}
SUFFIXES = TEXT_SUFFIXES | {".html", ".htm", ".json", ".jsonl", ".pdf"}
# The longest long-form news pieces run to about 30,000 words (some 200,000 characters); a
# million characters is five times that, a 600-page book. Past it a file is a dump, not an
# article, and chunking and embedding it would take minutes. ASSISTANT_MAX_ARTICLE_CHARS.
MAX_ARTICLE_CHARS = 1_000_000
# UTF-8, UTF-16 and UTF-32 spend at most 4 bytes on a character, so a text or HTML file larger
# than 4 bytes per allowed character cannot hold an article under the limit and is refused
# before it is read.
MAX_BYTES_PER_CHAR = 4
_OPENED = re.compile(r"\A---[ \t]*\r?\n")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(?:(.*?)\r?\n)?---[ \t]*(?:\r?\n|\Z)", re.DOTALL)
_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%d %B %Y", "%B %d, %Y", "%b %d, %Y", "%d %b %Y")
_ISO_DATE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}\b")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# Byte-order marks, longest first (the UTF-32 LE mark begins with the UTF-16 LE one).
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
# An article and where it sits in its file: the JSON Lines line or the JSON array index.
Located = tuple[Article, int | None, int | None]


def find_files(paths: Iterable[Path], ignored: Counter[str] | None = None
               ) -> tuple[list[Path], list[ArticleError]]:
    """Expand folders recursively into supported files; report paths that do not exist.
    Files of other types met in folders are counted by suffix into `ignored`."""
    files: list[Path] = []
    problems: list[ArticleError] = []
    for path in paths:
        if path.is_dir():
            found, trouble = _walk(path, ignored)
            files.extend(found)
            problems.extend(trouble)
        elif path.is_file():
            if path.suffix.lower() in SUFFIXES:
                files.append(path)
            else:
                problems.append(
                    ArticleError(
                        _shown(path),
                        f"unsupported file type {path.suffix or '(none)'!r}; "
                        f"use one of {', '.join(sorted(SUFFIXES))}",
                    )
                )
        elif path.is_symlink():
            problems.append(ArticleError(_shown(path), _broken_link(path)))
        else:
            problems.append(ArticleError(_shown(path), "no such file or folder"))
    return files, problems


def _walk(root: Path, ignored: Counter[str] | None = None
          ) -> tuple[list[Path], list[ArticleError]]:
    """Supported files under `root`, hidden ones left out. Symlinked folders are followed,
    but a link back to a folder it sits in is reported instead of walked round and round."""
    files: list[Path] = []
    problems: list[ArticleError] = []
    root_stat = root.stat()
    visited = {(root_stat.st_dev, root_stat.st_ino)}
    stack: list[tuple[Path, frozenset[tuple[int, int]]]] = [(root, frozenset(visited))]
    while stack:
        folder, ancestors = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            problems.append(ArticleError(_shown(folder), f"cannot read folder: {exc.strerror or exc}"))
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            try:
                info = entry.stat()
            except OSError:
                # A dangling link or a link loop: listed when it looks like an article, so it
                # is reported by the reader rather than silently missed.
                if path.suffix.lower() in SUFFIXES:
                    files.append(path)
                elif entry.is_symlink():
                    problems.append(ArticleError(_shown(path), _broken_link(path)))
                continue
            if stat.S_ISDIR(info.st_mode):
                key = (info.st_dev, info.st_ino)
                if key in ancestors:
                    target = _shown(os.path.realpath(path))
                    problems.append(ArticleError(_shown(path), f"symlink loop: it leads back to "
                                                               f"{target}, a folder it is in"))
                elif key not in visited:  # else already read through another link
                    visited.add(key)
                    stack.append((path, ancestors | {key}))
            elif stat.S_ISREG(info.st_mode) and path.suffix.lower() in SUFFIXES:
                files.append(path)
            elif stat.S_ISREG(info.st_mode) and ignored is not None:
                ignored[path.suffix.lower() or "(none)"] += 1
    return sorted(files), problems


def resolved(path: Path | str) -> Path:
    """The absolute path with symlinks resolved; never raises (Python 3.11's `resolve` does on
    a symlink loop), a loop is left as it is."""
    try:
        return Path(path).resolve()
    except (OSError, RuntimeError):
        return Path(os.path.abspath(path))


def _broken_link(path: Path) -> str:
    try:
        path.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symlink loop: the link leads back to itself"
        return f"broken symlink: {exc.strerror or exc}"
    return "broken symlink"  # pragma: no cover - it resolved after all


def _shown(path: Path | str) -> str:
    """A path as it can be printed: bytes of a non-UTF-8 file name shown as \\xNN escapes."""
    return str(path).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def read_articles(
    paths: Iterable[Path], max_chars: int = MAX_ARTICLE_CHARS,
    ignored: Counter[str] | None = None,
) -> tuple[list[Article], list[ArticleError]]:
    """Read every article under `paths`; one bad file (or JSON line) never stops the rest."""
    files, problems = find_files(paths, ignored)
    articles: list[Article] = []
    seen: dict[str, str] = {}
    for path in files:
        try:
            for article, line, item in read_file(path, max_chars):
                if article.id in seen:
                    problems.append(
                        ArticleError(
                            article.path,
                            f"duplicate article id {article.id!r} (also in {seen[article.id]})",
                            line, item,
                        )
                    )
                    continue
                seen[article.id] = ArticleError.locate(article.path, line, item)
                articles.append(article)
        except LineErrors as exc:
            problems.extend(exc.problems)
        except ArticleError as exc:
            problems.append(exc)
        except Exception as exc:
            # Whatever else goes wrong with one file must not stop the run; the exception's
            # type stays in the reason so that a bug of ours is still visible as one.
            detail = " ".join(str(exc).split())[:300]
            problems.append(ArticleError(_shown(path), f"unexpected {type(exc).__name__}: {detail}"))
    return articles, problems


def read_file(path: Path, max_chars: int = MAX_ARTICLE_CHARS) -> Iterator[Located]:
    """Articles in one file, each with its line or array index.

    Raises `ArticleError` for a file that cannot be read at all, `LineErrors` (after the good
    ones) for bad lines or array elements.
    """
    if _SURROGATE.search(str(path)):  # the path is stored, as text, with the article
        raise ArticleError(_shown(path), "the file name is not valid UTF-8; rename the file")
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        yield _finish(_read_pdf(path, max_chars), max_chars), None, None
        return
    if suffix in (".json", ".jsonl"):  # many articles a file: each is checked on its own
        text = _read_text(path)
    else:
        text = _read_text(path, MAX_BYTES_PER_CHAR * max_chars)
    if suffix in TEXT_SUFFIXES:
        if len(text) > max_chars:  # before its front matter is parsed
            raise ArticleError(str(path), _too_large(f"{len(text):,} characters", max_chars))
        yield _finish(_parse_text(text, path), max_chars), None, None
    elif suffix in (".html", ".htm"):
        yield _finish(_parse_html(text, path), max_chars), None, None
    elif suffix == ".json":
        yield from _parse_json(text, path, max_chars)
    elif suffix == ".jsonl":
        yield from _parse_jsonl(text, path, max_chars)
    else:  # pragma: no cover - find_files filters suffixes
        raise ArticleError(str(path), f"unsupported file type {suffix!r}")


def content_hash(article: Article) -> str:
    """A hash of everything that ends up in the index, so any change re-indexes the article."""
    fields: list[Any] = [article.id, article.title, article.date, article.source, article.url,
                         article.body]
    # Bylines count only when there are some, so an article without any keeps the hash it
    # had before they were stored (and is not indexed again for them).
    if article.authors:
        fields.append(list(article.authors))
    payload = json.dumps(fields, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _finish(article: Article, max_chars: int) -> Article:
    # Composed Unicode (NFC): "Núñez" from a PDF or a Mac is often decomposed ("u" plus a
    # combining accent), which no question typed as usual would match. Offsets are into the
    # text as stored, so citations still quote it exactly.
    article = replace(article, title=unicodedata.normalize("NFC", article.title),
                      body=unicodedata.normalize("NFC", article.body))
    if not article.body.strip():
        raise ArticleError(article.path, "empty article: no body text")
    if len(article.body) > max_chars:
        raise ArticleError(article.path, _too_large(f"{len(article.body):,} characters", max_chars))
    return replace(article, content_hash=content_hash(article))


def _too_large(size: str, max_chars: int, files: str = "") -> str:
    return f"too large: {size}, the limit is {max_chars:,} characters{files} " \
           "(ASSISTANT_MAX_ARTICLE_CHARS)"


def _read_bytes(path: Path, max_bytes: int | None = None) -> bytes:
    """The file's bytes; one over `max_bytes` is refused by its size, before it is read."""
    try:
        size = path.stat().st_size
        if max_bytes is not None and size > max_bytes:
            raise ArticleError(str(path), _too_large(
                f"{size:,} bytes", max_bytes // MAX_BYTES_PER_CHAR, f", {max_bytes:,} bytes a file"))
        return path.read_bytes()
    except OSError as exc:
        reason = _broken_link(path) if exc.errno == errno.ELOOP else \
            f"cannot read file: {exc.strerror or exc}"
        raise ArticleError(str(path), reason) from None


def _read_text(path: Path, max_bytes: int | None = None) -> str:
    data = _read_bytes(path, max_bytes)
    if not data.strip():
        raise ArticleError(str(path), "empty file")
    encoding = next((name for bom, name in _BOMS if data.startswith(bom)), "utf-8-sig")
    if encoding == "utf-8-sig" and b"\x00" in data[:8192]:
        raise ArticleError(str(path), "binary file, not text (UTF-16 text needs a byte-order "
                                      "mark; or re-save it as UTF-8)")
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        name = encoding.replace("-sig", "").upper()
        raise ArticleError(
            str(path),
            f"not {name} text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "re-save the file as UTF-8",
        ) from None
    return text


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
    except ValueError as exc:
        iso_error = str(exc)
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            continue
    if _ISO_DATE.fullmatch(text):  # the right shape, but no such day (2024-02-30)
        raise ArticleError(where, f"no such date {text!r}: {iso_error}")
    raise ArticleError(where, f"unreadable date {text!r}; write it as YYYY-MM-DD")


def _require_unicode(value: Any, field: str, path: Path) -> None:
    """Refuse lone UTF-16 surrogates (JSON's "\\ud800"): SQLite and the tokenizer cannot take
    them, so they are caught here, naming the field, rather than failing the whole ingest."""
    for text in value if isinstance(value, list) else [value]:
        if isinstance(text, str) and (bad := _SURROGATE.search(text)):
            raise ArticleError(
                _shown(path), f"{field} holds a lone surrogate {bad.group()!r} at character "
                f"{bad.start()}, which is not valid Unicode text")


_KINDS = {list: "a list", dict: "a mapping", bool: "true/false", int: "a number",
          float: "a number"}


def _kind(value: Any) -> str:
    """How a value that is not text is named in an error ('a list', 'true/false')."""
    return next((name for t, name in _KINDS.items() if isinstance(value, t)),
                type(value).__name__)


def _str_or_none(value: Any, field: str = "", path: Path | None = None) -> str | None:
    """A field's text; a list, mapping or yes/no where text belongs is refused by name (it
    would otherwise be stored as Python's spelling of it, "['a', 'b']")."""
    if value is None:
        return None
    if isinstance(value, (list, dict, bool)) and path is not None:
        raise ArticleError(_shown(path), f"field {field!r} must be text, not {_kind(value)}"
                           + (" (quote it)" if isinstance(value, bool) else ""))
    text = str(value).strip()
    return text or None


def _authors(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(a.strip() for a in value.split(",") if a.strip())
    if isinstance(value, list) and all(isinstance(a, str) for a in value):
        return tuple(a.strip() for a in value if a.strip())
    raise ValueError("'authors' must be a name, names separated by commas, or a list of names")


def _from_fields(fields: dict[str, Any], body: str, path: Path, default_id: str,
                 body_field: str = "the text") -> Article:
    for key in ("id", "title", "date", "source", "url", "authors"):
        _require_unicode(fields.get(key), f"field {key!r}", path)
    _require_unicode(body, body_field, path)
    article_id = _str_or_none(fields.get("id"), "id", path) or default_id
    try:
        authors = _authors(fields.get("authors"))
    except ValueError as exc:
        raise ArticleError(_shown(path), str(exc)) from None
    return Article(
        id=article_id,
        title=_str_or_none(fields.get("title"), "title", path) or _first_line(body) or article_id,
        body=body,
        path=str(path),
        date=normalise_date(fields.get("date"), str(path)),
        source=_str_or_none(fields.get("source"), "source", path),
        url=_str_or_none(fields.get("url"), "url", path),
        authors=authors,
    )


class _FrontMatterLoader(_YAML_LOADER):
    """libyaml's safe loader when present (8x faster than the pure-Python one), where a date
    that does not exist (2024-02-30) stays text, so it is reported like any unreadable date,
    and a number stays the text it was written as: every field is text, and YAML would read
    `id: 0123` as 83, `0x1F` as 31 and `12:30` as 750."""

    def construct_yaml_timestamp(self, node: Any) -> Any:
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError:
            return self.construct_scalar(node)


_FrontMatterLoader.add_constructor("tag:yaml.org,2002:timestamp",
                                   _FrontMatterLoader.construct_yaml_timestamp)
for _tag in ("int", "float"):
    _FrontMatterLoader.add_constructor(f"tag:yaml.org,2002:{_tag}",
                                       _FrontMatterLoader.construct_scalar)


def load_front_matter(text: str) -> Any:
    """The YAML front matter as Python data. Aliases (`*name`) are refused: a few hundred bytes
    of nested aliases ("billion laughs") expand into billions of values once printed."""
    loader = _FrontMatterLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        seen: set[int] = set()
        stack = [node]
        while stack:  # an alias is the same node object met twice
            current = stack.pop()
            if id(current) in seen:
                raise yaml.YAMLError("YAML aliases (*name) are not supported; write the value out")
            seen.add(id(current))
            if isinstance(current, yaml.SequenceNode):
                stack.extend(current.value)
            elif isinstance(current, yaml.MappingNode):
                stack.extend(part for pair in current.value for part in pair)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _parse_text(text: str, path: Path) -> Article:
    fields: dict[str, Any] = {}
    body = text
    match = _FRONT_MATTER.match(text)
    if match:
        try:
            loaded = load_front_matter(match.group(1) or "")
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f" (line {mark.line + 2})" if mark is not None else ""
            raise ArticleError(str(path), f"malformed front matter{line}: {exc}") from None
        except RecursionError:
            raise ArticleError(str(path), "malformed front matter: nested too deeply") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ArticleError(str(path), "front matter must be a mapping of key: value lines")
        fields = loaded or {}
        body = text[match.end() :]
    elif _OPENED.match(text):
        # Otherwise the whole block would be indexed as the body, with "---" as its title.
        raise ArticleError(str(path), "malformed front matter: it opens with '---' but no line "
                                      "'---' closes it")
    return _from_fields(fields, body, path, path.stem, "the body")


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
        return _from_fields(fields, body, path, path.stem, "the page text")
    except ArticleError:
        # A page's own date meta tag is often odd; the article is still worth indexing.
        fields["date"] = None
        return _from_fields(fields, body, path, path.stem, "the page text")


def _read_pdf(path: Path, max_chars: int) -> Article:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    # pypdf logs what it repairs ("invalid pdf header") with no file name; a file it cannot
    # read is reported by path below instead.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    pages: list[str] = []
    chars = 0
    try:
        reader = PdfReader(str(path))
        for page in reader.pages:
            pages.append(page.extract_text() or "")
            chars += len(pages[-1])
            if chars > max_chars:  # stop reading: the rest cannot make it fit
                raise ArticleError(str(path), _too_large(f"over {max_chars:,} characters",
                                                         max_chars))
        info = reader.metadata
    except (PdfReadError, OSError, ValueError) as exc:
        raise ArticleError(str(path), f"unreadable PDF: {exc}") from None
    body = "\n\n".join(p.strip("\n") for p in pages if p.strip())
    fields: dict[str, Any] = {}
    if info is not None:
        fields["title"] = info.title
        fields["authors"] = info.author
    return _from_fields(fields, body, path, path.stem, "the PDF text")


def _article_from_object(obj: Any, path: Path, default_id: str, max_chars: int,
                         line: int | None = None, item: int | None = None) -> Article:
    if not isinstance(obj, dict):
        raise ArticleError(str(path), "expected a JSON object with a 'text' field", line, item)
    text = obj.get("text")
    if text is not None and not isinstance(text, str):
        raise ArticleError(str(path), f"field 'text' must be text, not {_kind(text)}", line,
                           item)
    if not text or not text.strip():
        raise ArticleError(str(path), "missing or empty 'text' field", line, item)
    try:
        return _finish(_from_fields(obj, text, path, default_id, "field 'text'"), max_chars)
    except ArticleError as exc:
        raise ArticleError(str(path), exc.reason, line, item) from None


def _located(obj: Any, path: Path, default_id: str, max_chars: int, line: int | None = None,
             item: int | None = None) -> Located | ArticleError:
    """The article in one JSON value of a collection, or the error that says why there is none."""
    try:
        return _article_from_object(obj, path, default_id, max_chars, line, item), line, item
    except ArticleError as exc:
        return exc


def _good_then_bad(found: Iterable[Located | ArticleError]) -> Iterator[Located]:
    """Yields the good articles of a collection, then raises LineErrors naming the bad ones."""
    problems: list[ArticleError] = []
    for one in found:
        if isinstance(one, ArticleError):
            problems.append(one)
        else:
            yield one
    if problems:
        raise LineErrors(problems)


def _load_json(text: str) -> Any:
    """Parsed JSON; ValueError (JSONDecodeError among them) for anything that is not."""
    try:
        return json.loads(text)
    except RecursionError:
        # Python's decoder recurses once per level: `[` x 200,000 would exhaust the stack.
        raise ValueError("nested too deeply") from None


def _json_problem(exc: ValueError) -> str:
    # Other ValueErrors: an integer of more than 4,300 digits, say.
    return exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)


def _parse_json(text: str, path: Path, max_chars: int) -> Iterator[Located]:
    """One object, or a list of them; a bad element is reported by index, the rest still load."""
    try:
        data = _load_json(text)
    except ValueError as exc:
        line = exc.lineno if isinstance(exc, json.JSONDecodeError) else None
        raise ArticleError(str(path), f"malformed JSON: {_json_problem(exc)}", line) from None
    if isinstance(data, dict):
        yield _article_from_object(data, path, path.stem, max_chars), None, None
        return
    if not isinstance(data, list):
        raise ArticleError(str(path), "expected a JSON object or a list of objects")
    yield from _good_then_bad(_located(obj, path, f"{path.stem}-{i + 1}", max_chars, item=i)
                              for i, obj in enumerate(data))


def _parse_jsonl(text: str, path: Path, max_chars: int) -> Iterator[Located]:
    """One article per line; a malformed line is reported by number and the rest still load."""

    def each_line() -> Iterator[Located | ArticleError]:
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = _load_json(line)
            except ValueError as exc:
                yield ArticleError(str(path), f"malformed JSON line: {_json_problem(exc)}", number)
                continue
            yield _located(obj, path, f"{path.stem}-{number}", max_chars, line=number)

    yield from _good_then_bad(each_line())


class LineErrors(ArticleError):
    """Several bad lines (or array elements) of one file, raised after its good ones were
    yielded."""

    def __init__(self, problems: list[ArticleError]) -> None:
        super().__init__(problems[0].file, problems[0].reason)
        self.problems = problems
