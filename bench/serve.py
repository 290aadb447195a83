"""Throughput and latency of `POST /api/answer` (extractive) served by `assistant serve`.

Indexes the seeds plus N synthetic articles (bench/synthetic.py, seeded) into a store, starts
`assistant serve` on 127.0.0.1 in a subprocess, then sends the same number of requests at each
concurrency level and prints requests/s, p50/p95/max latency, errors, how often the answer
cited the article the question was written from, and the server's resident memory (psutil).
Target: p95 <= 300 ms at concurrency 4.

    python bench/serve.py                         # 1,000 synthetic articles, levels 1,4,16
    python bench/serve.py --articles 200 --requests 100 --work /tmp/bench-serve

With --work the corpus and store are kept there and reused (ingest is incremental), so a
second run starts in seconds. The client runs on the same machine, so it takes some of the
CPU the server could use; latencies are as a local client sees them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from ingest import machine_description
from synthetic import sample_questions, write_corpus

ROOT = Path(__file__).resolve().parent.parent
TARGET_P95_MS = 300.0
TARGET_LEVEL = 4
SEED_QUESTIONS = {"Who did Trump invite to the White House?": "000_0c3e0a23974ec483"}


@dataclass
class Level:
    clients: int
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]
    cited_expected: int
    rss_mb: float

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def build_store(work: Path, articles: int, seed: int) -> Path:
    """Seeds plus `articles` synthetic ones, ingested (incrementally) into work/store."""
    from assistant.app import build
    from assistant.config import Settings
    from assistant.ingest import ingest

    corpus = work / f"synthetic-{seed}-{articles}"
    if not corpus.is_dir():
        write_corpus(corpus, articles, seed)
    store = work / f"store-{seed}-{articles}"
    services = build(Settings(store=store, llm="extractive", embed_threads=0))
    started = time.perf_counter()
    report = ingest(services.open_store(create=True), services.embedder,
                    [ROOT / "seeds", corpus])
    print(f"index: {report.summary()} ({time.perf_counter() - started:.0f} s)", flush=True)
    return store


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(store: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-c", "from assistant.cli import main; main()", "serve",
               "--store", str(store), "--port", str(port)]
    env = {**os.environ, "ASSISTANT_LLM": "extractive"}
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env,
                                   cwd=ROOT)
    deadline = time.monotonic() + 120
    while True:
        if process.poll() is not None:
            raise SystemExit(f"assistant serve exited:\n{log.read_text()}")
        if time.monotonic() > deadline:
            process.kill()
            raise SystemExit(f"assistant serve did not start:\n{log.read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)


async def run_level(url: str, questions: list[tuple[str, str]], clients: int, requests: int,
                    rss: Any) -> Level:
    queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(questions[i % len(questions)])
    latencies: list[float] = []
    errors = cited = 0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors, cited
        while not queue.empty():
            question, article_id = queue.get_nowait()
            started = time.perf_counter()
            try:
                reply = await client.post("/api/answer", json={"question": question})
            except httpx.HTTPError:
                errors += 1
                continue
            latencies.append((time.perf_counter() - started) * 1000)
            if reply.status_code != 200:
                errors += 1
                continue
            body = reply.json()
            cited += article_id in {c["article_id"] for c in body["citations"]}

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(clients)))
        seconds = time.perf_counter() - started
    return Level(clients, requests, errors, seconds, latencies, cited, rss())


def print_table(levels: list[Level], startup_s: float, idle_rss: float, articles: int,
                chunks: int) -> None:
    print()
    print(f"POST /api/answer, extractive, {articles:,} articles / {chunks:,} chunks; "
          f"server start-up {startup_s:.1f} s, RSS idle {idle_rss:.0f} MB")
    print(f"{'clients':>7} {'requests':>8} {'errors':>6} {'req/s':>7} {'p50 ms':>7} "
          f"{'p95 ms':>7} {'max ms':>7} {'cited':>6} {'RSS MB':>7}")
    for lv in levels:
        print(f"{lv.clients:>7} {lv.requests:>8} {lv.errors:>6} "
              f"{lv.requests / lv.seconds:>7.1f} {lv.percentile(0.5):>7.0f} "
              f"{lv.percentile(0.95):>7.0f} {max(lv.latencies_ms, default=0):>7.0f} "
              f"{lv.cited_expected / lv.requests:>6.0%} {lv.rss_mb:>7.0f}")
    target = next((lv for lv in levels if lv.clients == TARGET_LEVEL), None)
    if target is not None:
        p95 = target.percentile(0.95)
        verdict = "met" if p95 <= TARGET_P95_MS else "MISSED"
        print(f"target p95 <= {TARGET_P95_MS:.0f} ms at concurrency {TARGET_LEVEL}: "
              f"{verdict} ({p95:.0f} ms)")
    print("cited = answers citing the article the question was written from")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=1000, help="synthetic articles")
    parser.add_argument("--requests", type=int, default=200, help="requests per level")
    parser.add_argument("--levels", default="1,4,16", help="concurrency levels")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--work", type=Path, default=None,
                        help="keep corpus and store here (reused next time) [a temp dir]")
    args = parser.parse_args()

    import psutil

    from assistant.app import quiet_offline_environment

    quiet_offline_environment()
    print(machine_description(), flush=True)
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-serve-"))
    work.mkdir(parents=True, exist_ok=True)
    store = build_store(work, args.articles, args.seed)
    rng = random.Random(args.seed)
    questions = [(q.question, q.article_id)
                 for q in sample_questions(args.articles, 50, args.seed)]
    questions += list(SEED_QUESTIONS.items())
    rng.shuffle(questions)

    port = free_port()
    started = time.perf_counter()
    server = start_server(store, port, work / "serve.log")
    startup = time.perf_counter() - started
    url = f"http://127.0.0.1:{port}"
    try:
        process = psutil.Process(server.pid)

        def rss() -> float:
            return float(process.memory_info().rss) / 2**20

        health = httpx.get(f"{url}/healthz").json()
        idle = rss()
        asyncio.run(run_level(url, questions, 2, 20, rss))  # warm caches and connections
        levels = []
        for clients in (int(c) for c in args.levels.split(",")):
            level = asyncio.run(run_level(url, questions, clients, args.requests, rss))
            levels.append(level)
            print(f"  concurrency {clients}: {level.requests / level.seconds:.1f} req/s, "
                  f"p95 {level.percentile(0.95):.0f} ms", flush=True)
        print_table(levels, startup, idle, health["articles"], health["chunks"])
        mean_ms = statistics.fmean(levels[0].latencies_ms) if levels else float("nan")
        print(f"mean latency at concurrency {levels[0].clients}: {mean_ms:.0f} ms")
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
