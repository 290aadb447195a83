"""Prompts are files in prompts/ with `{name}` placeholders; a missing value is an error."""

from __future__ import annotations

import re
from pathlib import Path

from assistant.errors import PromptError

_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


class PromptLibrary:
    """Loads `prompts/<name>.md` and renders it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def template(self, name: str) -> str:
        path = self.folder / f"{name}.md"
        try:
            return path.read_text(encoding="utf-8")
        except OSError:
            raise PromptError(f"prompt file {path} is missing") from None

    def placeholders(self, name: str) -> set[str]:
        return set(_PLACEHOLDER.findall(self.template(name)))

    def require(self, name: str, *placeholders: str) -> None:
        """Fail at start-up, not on the first question, when a prompt file lacks a placeholder."""
        missing = set(placeholders) - self.placeholders(name)
        if missing:
            raise PromptError(f"prompt {name!r} lacks placeholders: {', '.join(sorted(missing))}")

    def render(self, name: str, **values: str) -> str:
        """Fill every placeholder; values are inserted as is (braces in them are data)."""
        template = self.template(name)
        missing = sorted(set(_PLACEHOLDER.findall(template)) - values.keys())
        if missing:
            raise PromptError(f"prompt {name!r} needs values for: {', '.join(missing)}")
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)
