"""How long the `assistant` command takes from launch to its answer, in a fresh process each time.

Builds a small index (seeds/, or --corpus) in a temp folder with the real CLI, then runs each
command `--repeats` times as a new process (in interleaved rounds) and prints the first,
fastest, median and slowest wall time,
and for `ask` the packages whose import costs most (python -X importtime). Target: `ask` on a
small index under 1 s. `cpu s` (user + system, median) moves less than wall time when other jobs
share the machine. "Cold" here means a new process, as a user's shell starts one; the
operating system's file cache is left warm (dropping it would slow every other job on a shared
machine).

    python bench/startup.py                       # seeds, 5 runs of each command
    python bench/startup.py --corpus demo/articles --repeats 10

`ask (through Chroma)` is the same question with ASSISTANT_EXACT_SEARCH_MAX_CHUNKS=0, the path
every index takes above 20,000 chunks or on a Chroma server: it shows what opening Chroma costs.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ingest import machine_description

ROOT = Path(__file__).resolve().parent.parent
ASSISTANT = [sys.executable, "-c", "from assistant.cli import main; main()"]
QUESTION = "Who did Trump invite to the White House?"
TARGET_S = 1.0


def timed(args: list[str], env: dict[str, str]) -> tuple[float, float] | None:
    """Wall seconds and CPU seconds (user + system) of one fresh process; None if it failed
    (an older version of the code without that option)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run([*ASSISTANT, *args], cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        return None
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu


def heaviest_imports(args: list[str], env: dict[str, str], top: int = 8) -> list[tuple[str, float]]:
    """Packages (other than ours) by cumulative import time in seconds, for one run of `args`;
    a package imported by another counts in both."""
    result = subprocess.run([sys.executable, "-X", "importtime", *ASSISTANT[1:], *args],
                            cwd=ROOT, env=env, capture_output=True, text=True)
    totals: dict[str, float] = {}
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.split("|")
        package = name.strip()
        if "." not in package and not package.startswith(("assistant", "_")):
            totals[package] = max(totals.get(package, 0.0), int(cumulative) / 1e6)
    return sorted(totals.items(), key=lambda kv: -kv[1])[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT / "seeds")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        store = str(Path(tmp) / "store")
        env = {**os.environ, "ASSISTANT_STORE": store, "ASSISTANT_LLM": "extractive"}
        for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ASSISTANT_CHROMA_URL"):
            env.pop(name, None)
        ingested = subprocess.run([*ASSISTANT, "ingest", str(args.corpus), "--json"], cwd=ROOT,
                                  env=env, capture_output=True, text=True)
        if ingested.returncode not in (0, 3):
            raise SystemExit(ingested.stderr)
        chunks = subprocess.run([*ASSISTANT, "stats", "--json"], cwd=ROOT, env=env,
                                capture_output=True, text=True).stdout
        print(f"# assistant start-up, {machine_description()}")
        print(f"index: {args.corpus.relative_to(ROOT) if args.corpus.is_relative_to(ROOT) else args.corpus}"
              f" ({chunks.strip()[:120]}...)")
        print(f"{args.repeats} fresh processes per command; seconds from launch to exit\n")
        through_chroma = {**env, "ASSISTANT_EXACT_SEARCH_MAX_CHUNKS": "0"}
        commands = [
            ("--help", ["--help"], env),
            ("stats", ["stats"], env),
            ("search", ["search", "Gaza ceasefire"], env),
            ("ask", ["ask", QUESTION], env),
            ("ask --json --debug", ["ask", QUESTION, "--json", "--debug"], env),
            ("ask (through Chroma)", ["ask", QUESTION], through_chroma),
        ]
        # Interleaved rounds: a burst of load from another job slows every command alike.
        runs: dict[str, list[tuple[float, float]]] = {label: [] for label, _, _ in commands}
        for _ in range(args.repeats):
            for label, argv, command_env in commands:
                if (measured := timed(argv, command_env)) is not None:
                    runs[label].append(measured)
        print(f"{'command':<24}{'first':>8}{'min':>8}{'median':>8}{'max':>8}{'cpu s':>8}")
        for label, measured in runs.items():
            if not measured:
                print(f"{label:<24}{'failed':>8}")
                continue
            wall = [w for w, _ in measured]
            median = statistics.median(wall)
            flag = "  <- over target" if label == "ask" and median > TARGET_S else ""
            print(f"{label:<24}{wall[0]:>8.2f}{min(wall):>8.2f}{median:>8.2f}{max(wall):>8.2f}"
                  f"{statistics.median(c for _, c in measured):>8.2f}{flag}")
        print("\nheaviest imports of `ask` (cumulative s):")
        for package, seconds in heaviest_imports(["ask", QUESTION], env):
            print(f"  {package:<28}{seconds:>6.3f}")
        print(f"\n1-minute load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
