"""Every command in the README runs as written, from a fresh clone, after `make run`.

The shell blocks are read from README.md itself. Commands that take minutes, serve forever or
need a placeholder filled in are not run, but each must still start with a program that exists
after `make run` (a bare `assistant` is not on PATH). The rest run with bash in a copy of the
repository's files, with `.venv` linked in as `make` would have made it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
# Not run here: installing and serving (`make`, `serve`, `chroma run`, `curl` against a
# server), the placeholders of "your own articles" and of a Chroma server's host, and
# evaluations over the larger sets (minutes). Also not run: the "Using a local model"
# commands, which need a model server the user installs (Ollama, llama.cpp) and the commands
# pointed at it.
NOT_RUN = ("make ", "path/to/", " serve", "chroma run", "chroma.internal", "curl ",
           "corpus_questions.jsonl", "wikinews-articles.jsonl", "ollama ", "llama-server ",
           "OPENAI_BASE_URL=")
PROGRAMS = (".venv/bin/assistant", ".venv/bin/chroma", "make", "curl")
MODEL_SERVERS = ("ollama", "llama-server")
# Settings given on the command line (`ASSISTANT_CHROMA_URL=... .venv/bin/assistant ...`).
ENVIRONMENT = re.compile(r"^(?:[A-Z_][A-Z0-9_]*=\S*\s+)+")


def shell_commands(text: str) -> list[str]:
    """The commands of the ```sh blocks, continuation lines joined, in order."""
    commands: list[str] = []
    for block in re.findall(r"^```sh\n(.*?)^```", text, re.S | re.M):
        pending = ""
        for line in block.splitlines():
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1] + " "
                continue
            command = (pending + line).strip()
            pending = ""
            if command and not command.startswith("#"):
                commands.append(command)
    return commands


def expected_output(command: str) -> str | None:
    """What a `# -> ...` comment says the command prints."""
    found = re.search(r"#\s*->\s*(.+)$", command)
    return found.group(1).strip() if found else None


def fresh_clone(target: Path) -> Path:
    """The repository's files (as in the working tree) without .venv or an index."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.splitlines()
    for name in listed:
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    (target / ".venv").symlink_to(ROOT / ".venv")  # what `make` installs
    return target


def test_every_readme_command_names_a_program_that_exists_after_make_run() -> None:
    commands = shell_commands(README.read_text(encoding="utf-8"))
    assert len(commands) >= 10
    for command in commands:
        program = ENVIRONMENT.sub("", command)
        assert program.startswith(PROGRAMS) or program.split()[0] in MODEL_SERVERS, \
            f"not runnable from a fresh clone: {command}"


@pytest.mark.slow
def test_the_cheap_readme_commands_run_as_written_from_a_fresh_clone(tmp_path: Path) -> None:
    if not (ROOT / ".venv" / "bin" / "assistant").exists():
        pytest.skip("needs the project's .venv (make dev)")
    clone = fresh_clone(tmp_path / "clone")
    # PATH as on a fresh machine: the venv is not activated.
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                           if ".venv" not in p)
    env = {**os.environ, "PATH": path}

    def bash(command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", "-c", command], cwd=clone, env=env, capture_output=True,
                              text=True, timeout=600)

    # What `make run` does before serving.
    made = bash(".venv/bin/assistant ingest seeds/ --prune")
    assert made.returncode == 0, made.stderr
    ran = 0
    for command in shell_commands(README.read_text(encoding="utf-8")):
        if any(skip in f"{command} " for skip in NOT_RUN):
            continue
        result = bash(command)
        assert result.returncode == 0, f"{command}\n{result.stderr}"
        assert "command not found" not in result.stderr
        expected = expected_output(command)
        if expected is not None:
            assert expected in result.stdout, f"{command}\n{result.stdout}"
        ran += 1
    assert ran >= 8
