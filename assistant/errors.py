"""Errors whose message a user can act on; turned into exit codes or HTTP errors in one place."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit, urlunsplit

_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"<>`]+", re.I)
HIDDEN = "***"


def redact_url(url: str) -> str:
    """The URL without credentials: user:password and every query-string value become ***.

    Base URLs like `https://user:pass@host/v1?api-key=...` end up in error messages, API
    replies and logs; the secrets in them must not.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return HIDDEN
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{HIDDEN}@{netloc.rsplit('@', 1)[1]}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = "&".join(f"{key}={HIDDEN}" for key, _ in pairs) if pairs else HIDDEN
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact(text: str) -> str:
    """`text` with every URL in it redacted (see `redact_url`)."""
    return _URL.sub(lambda m: redact_url(m.group()), text)


class AssistantError(Exception):
    """Base class: the message is shown to the user as is, on one line.

    Any URL in the message loses its credentials here, once for every error.
    """

    exit_code = 1

    def __init__(self, *args: object) -> None:
        super().__init__(*(redact(a) if isinstance(a, str) else a for a in args))


class ConfigError(AssistantError):
    """A setting has a value the assistant cannot use."""

    exit_code = 2


class InputError(AssistantError):
    """A request or command-line argument is invalid; `field` names the culprit."""

    exit_code = 2

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class StoreMissingError(AssistantError):
    """No index exists yet at the configured store."""

    exit_code = 2


class StoreError(AssistantError):
    """The vector store could not be reached or is inconsistent."""


class StoreBusyError(AssistantError):
    """Another process is writing to the store; only one writer at a time."""

    # EX_TEMPFAIL (sysexits.h): nothing is wrong with the command, run it again later.
    exit_code = 75


class ModelError(AssistantError):
    """The embedding model or its tokenizer could not be loaded or run."""


class LLMError(AssistantError):
    """The LLM server failed: down, wrong key, rate-limited past retries, or a bad reply.
    `status` is the server's HTTP status when it answered with an error."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class PromptError(AssistantError):
    """A prompt file is missing or a placeholder was not given a value."""


class ArticleError(AssistantError):
    """One input file (or one line or array element of it) could not be read as an article.

    `path` says where (`file.jsonl:3`, `file.json[2]`); `file` is the file alone, so callers
    never have to take `path` apart (file names may contain `:` or `[`).
    """

    def __init__(self, path: str, reason: str, line: int | None = None,
                 item: int | None = None) -> None:
        where = self.locate(path, line, item)
        super().__init__(f"{where}: {reason}")
        self.path = where
        self.file = path
        self.line = line
        self.reason = reason

    @staticmethod
    def locate(path: str, line: int | None = None, item: int | None = None) -> str:
        """`file`, `file:line` (JSON Lines) or `file[item]` (a JSON array)."""
        if line is not None:
            return f"{path}:{line}"
        return f"{path}[{item}]" if item is not None else path
