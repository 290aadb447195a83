"""Errors whose message a user can act on; turned into exit codes or HTTP errors in one place."""

from __future__ import annotations


class AssistantError(Exception):
    """Base class: the message is shown to the user as is, on one line."""

    exit_code = 1


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
    """The LLM server failed: down, wrong key, rate-limited past retries, or a bad reply."""


class PromptError(AssistantError):
    """A prompt file is missing or a placeholder was not given a value."""


class ArticleError(AssistantError):
    """One input file (or one line of it) could not be read as an article.

    `path` is where to look, as shown to the user (`file:line` for a line of a JSON Lines
    file); `file` is the file alone, for code that needs it (a file name may contain ':').
    """

    def __init__(self, path: str, reason: str, line: int | None = None) -> None:
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {reason}")
        self.path = where
        self.file = path
        self.line = line
        self.reason = reason
