"""Scale-out figures: the embedded default against one Chroma server with `assistant serve`
replicas, at 100k and 1M chunks.

    python bench/scale.py --sizes 100000                       # build (kept) and measure
    python bench/scale.py --sizes 100000,1000000 --work /tmp/bench-scale
    python bench/scale.py --sizes 100000 --only latency,throughput

For each size two stores hold the same synthetic articles (bench/synthetic.py, seeded): an
embedded store (a folder) and a `chroma run` server (a folder of its own), both written by
`Store.write_articles` in groups of 256 chunks as `assistant ingest` writes them. As in
bench/query.py the chunk and sentence vectors are random unit vectors (embedding 100k chunks
takes most of an hour here, a million most of a day) while texts, chunk offsets and sentence
spans are real: BM25, bodies and every payload are what real articles give, dense hits are
noise. Questions are embedded by the real model. Stores are kept under --work and reused.

Measured, each in a process of its own:
- build: write time per group and disk use of each store;
- bm25: reading every chunk text from the registry, and building the BM25 index, with peak
  memory; with --base DIR also the code in DIR (an older checkout) on the embedded store;
- latency: p50/p95 of `Retriever.search` (hybrid) and `Asker.ask` (extractive answer), 50
  questions x --repeats, embedded against server;
- start: `assistant serve` on an empty folder with only ASSISTANT_CHROMA_URL, until /readyz
  says ready, and its memory; then a restart on the same folder (BM25 cached there); the
  embedded `assistant serve` for comparison;
- follow: a running `assistant serve` (server mode, and embedded), another process writes a
  new article: seconds until the server shows it;
- throughput: POST /api/answer at concurrency 8 against one replica and against two.

Whole stores take 35 KB per chunk in the server and 21 KB embedded (3.5 and 2.1 GB per 100k
chunks), too much for a million here. `--parts 1000000` measures the parts whose cost grows
with the index instead, with the same articles and chunker: Chroma's nearest-neighbour
search (random unit vectors with our chunk metadata, no texts) embedded and in a server, and
the BM25 index (build time, memory, size, search). Run it at the sizes of whole stores too:
the same parts there show how far they explain the whole query.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
from ingest import RESULT_PREFIX, current_rss_mb, machine_description, offline_environment
from query import WRITE_GROUP, _article, _timed, percentile
from serve import SEED_QUESTIONS, Level, run_level
from synthetic import sample_questions

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
STORE_VERSION = 1  # bump when the way stores are built changes
PHASES = ("build", "bm25", "latency", "start", "follow", "throughput")


# -- a Chroma server -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def chroma_server(folder: Path) -> Iterator[str]:
    """`chroma run` on 127.0.0.1 over `folder`, for as long as the block runs."""
    port = free_port()
    folder.parent.mkdir(parents=True, exist_ok=True)
    with (folder.parent / f"{folder.name}.log").open("ab") as log:
        proc = subprocess.Popen(
            [str(BIN / "chroma"), "run", "--path", str(folder), "--host", "127.0.0.1",
             "--port", str(port)], stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, "ANONYMIZED_TELEMETRY": "False"})
    try:
        deadline = time.monotonic() + 300  # a big server replays its log before listening
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=2).is_success:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"chroma run over {folder} did not start")
            time.sleep(0.3)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM). Not ru_maxrss: Linux carries that over
    exec from the forking parent, here the large process that built the stores."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def disk_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


# -- building both stores --------------------------------------------------------------------------


def build(size: int, work: Path, seed: int) -> dict[str, Any]:
    """The embedded store and the server's collections for `size` chunks, written in one pass
    (same articles, same vectors, same groups)."""
    import numpy as np

    from assistant.app import build as build_services
    from assistant.chunking import chunk_article
    from assistant.config import Settings

    embedded_dir, server_dir = work / "embedded", work / "chroma-server"
    for folder in (embedded_dir, server_dir, work / "writer"):
        shutil.rmtree(folder, ignore_errors=True)
    started = time.perf_counter()
    with chroma_server(server_dir) as url:
        embedded_services = build_services(Settings(store=embedded_dir))
        embedder = embedded_services.embedder
        stores = {"embedded": embedded_services.open_store(create=True),
                  "server": build_services(Settings(store=work / "writer", chroma_url=url),
                                           embedder=embedder).open_store(create=True)}
        rng = np.random.default_rng(seed)

        def unit(rows: int) -> np.ndarray:
            v = rng.standard_normal((rows, embedder.dimension)).astype(np.float32)
            return v / np.linalg.norm(v, axis=1, keepdims=True)

        writes: dict[str, list[float]] = {name: [] for name in stores}
        chunking = 0.0
        articles = chunks_total = 0
        group: list[tuple[Any, list[Any]]] = []
        with stores["embedded"].writing("bench"), stores["server"].writing("bench"):
            while chunks_total < size:
                t = time.perf_counter()
                article = _article(articles, seed)
                chunks = chunk_article(article, embedder.count_tokens, 200, 30)
                chunking += time.perf_counter() - t
                articles += 1
                chunks_total += len(chunks)
                group.append((article, chunks))
                if sum(len(c) for _, c in group) < WRITE_GROUP and chunks_total < size:
                    continue
                listed = [c for _, cs in group for c in cs]
                vectors = unit(len(listed))
                arguments = ([a for a, _ in group], {a.id: cs for a, cs in group},
                             {c.id: vectors[j] for j, c in enumerate(listed)},
                             {c.id: unit(len(c.sentences)) for c in listed}, embedder.name)
                for name, store in stores.items():
                    t = time.perf_counter()
                    store.write_articles(*arguments)
                    writes[name].append(time.perf_counter() - t)
                group = []
                if len(writes["server"]) % 40 == 0:
                    print(f"  {chunks_total:,} chunks written", file=sys.stderr, flush=True)
        for store in stores.values():
            store.close()
    facts = {
        "size": size, "seed": seed, "articles": articles, "chunks": chunks_total,
        "build_s": time.perf_counter() - started, "chunking_s": chunking,
        "writes": {name: {"groups": len(t), "total_s": sum(t), "p50_s": percentile(t, 0.5),
                          "first_s": t[0], "last_s": t[-1]} for name, t in writes.items()},
        "disk_mb": {"embedded": disk_mb(embedded_dir), "server": disk_mb(server_dir)},
        "server_collections_mb": collection_sizes(server_dir),
    }
    (work / "bench.json").write_text(json.dumps(facts))
    return facts


def collection_sizes(server_dir: Path) -> dict[str, float]:
    """Disk use of the server's SQLite file (metadata, documents, log) and of each HNSW
    segment folder (named by segment id, so reported together)."""
    sqlite = sum(p.stat().st_size for p in server_dir.glob("chroma.sqlite3*")) / 2**20
    return {"sqlite (metadata, bodies, sentences, texts)": sqlite,
            "hnsw segments": disk_mb(server_dir) - sqlite}


# -- workers ---------------------------------------------------------------------------------


def services_for(mode: str, work: Path, url: str | None, folder: str) -> Any:
    from assistant.app import build as build_services
    from assistant.config import Settings

    if mode == "embedded":
        return build_services(Settings(store=work / "embedded", llm="extractive"))
    return build_services(Settings(store=work / folder, chroma_url=url, llm="extractive"))


def worker_bm25(mode: str, work: Path, url: str | None) -> dict[str, Any]:
    """Read every chunk text from the registry, then build the BM25 index from a second read
    (streamed, as a replica builds it)."""
    import inspect

    from assistant.keyword import KeywordIndex

    store = services_for(mode, work, url, "bm25-replica").open_store()
    rss_open = current_rss_mb()
    t = time.perf_counter()
    _, articles, rows = store.registry.snapshot()  # what a view holds besides BM25
    snapshot_s = time.perf_counter() - t

    def chunk_texts() -> tuple[int, Any]:
        read = store.registry.chunk_texts()
        if len(read) == 3:  # the code before: (generation, ids, texts)
            return read[0], zip(read[1], read[2], strict=True)
        return read[0], read[1]

    t = time.perf_counter()
    n = chars = 0
    for _, text in chunk_texts()[1]:
        n += 1
        chars += len(text)
    read_s = time.perf_counter() - t
    t = time.perf_counter()
    generation, texts = chunk_texts()
    if "chunks" in inspect.signature(KeywordIndex.build).parameters:
        index = KeywordIndex.build(texts, generation)
    else:  # the code before: bm25s's own index(), from (ids, texts, generation)
        ids, bodies = zip(*texts, strict=True)
        index = KeywordIndex.build(list(ids), list(bodies), generation)
    total_s = time.perf_counter() - t
    folder = Path(tempfile.mkdtemp(prefix="bench-bm25-"))
    t = time.perf_counter()
    index.save(folder / "keyword")
    save_s = time.perf_counter() - t
    t = time.perf_counter()
    KeywordIndex.load(folder / "keyword")
    load_s = time.perf_counter() - t
    shutil.rmtree(folder)
    return {"chunks": n, "chars": chars, "articles": len(articles), "rows": len(rows),
            "snapshot_s": snapshot_s, "read_s": read_s, "read_and_build_s": total_s,
            "save_s": save_s, "load_s": load_s, "rss_open_mb": rss_open,
            "peak_rss_mb": peak_rss_mb(), "rss_mb": current_rss_mb()}


def worker_latency(mode: str, work: Path, url: str | None, n_questions: int, repeats: int,
                   seed: int) -> dict[str, Any]:
    facts = json.loads((work / "bench.json").read_text())
    services = services_for(mode, work, url, "latency-replica")
    retriever, asker = services.retriever, services.asker
    questions = [q.question for q in sample_questions(facts["articles"], n_questions, seed)]
    first = {"hybrid": _timed(retriever.search, questions[0], 8)[0],
             "ask": _timed(asker.ask, questions[0])[0]}
    for question in questions[:3]:
        retriever.search(question, 8)
        asker.ask(question)
    times: dict[str, list[float]] = {"hybrid": [], "ask": []}
    for rep in range(repeats):
        for i, question in enumerate(questions):
            order = ["hybrid", "ask"] if (i + rep) % 2 == 0 else ["ask", "hybrid"]
            for name in order:
                ms, _ = _timed(retriever.search if name == "hybrid" else asker.ask, question)
                times[name].append(ms)
    return {"latency": {n: {"p50": percentile(v, 0.5), "p95": percentile(v, 0.95),
                            "mean": statistics.fmean(v), "calls": len(v)}
                        for n, v in times.items()},
            "first_ms": first, "rss_mb": current_rss_mb(), "peak_rss_mb": peak_rss_mb()}


def run_worker(args: Sequence[str], options: Sequence[str] = (),
               env: dict[str, str] | None = None) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), *options, "--worker", *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False,
                          env={**os.environ, **(env or {})})
    lines = [x for x in done.stdout.splitlines() if x.startswith(RESULT_PREFIX)]
    if not lines:
        raise SystemExit(f"worker {args} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return dict(json.loads(lines[-1][len(RESULT_PREFIX):]))


# -- replicas --------------------------------------------------------------------------------


class Replica:
    """`assistant serve` in a process of its own."""

    def __init__(self, store: Path, url: str | None, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "ASSISTANT_LLM": "extractive"}
        if url:
            env["ASSISTANT_CHROMA_URL"] = url
        self.started = time.perf_counter()
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(BIN / "assistant"), "serve", "--store", str(store), "--port", str(self.port)],
                stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)

    def wait_ready(self) -> float:
        """Seconds from starting the process until /readyz answered 200."""
        deadline = time.monotonic() + 3600
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"assistant serve exited with {self.proc.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/readyz", timeout=5).status_code == 200:
                    return time.perf_counter() - self.started
            time.sleep(0.2)
        raise SystemExit("assistant serve never became ready")

    def rss_mb(self) -> float:
        import psutil

        return float(psutil.Process(self.proc.pid).memory_info().rss) / 2**20

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def measure_starts(work: Path, url: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    folder = work / "start-replica"
    shutil.rmtree(folder, ignore_errors=True)
    for name, store, chroma in (("server, empty folder", folder, url),
                                ("server, restart (BM25 cached)", folder, url),
                                ("embedded", work / "embedded", None)):
        replica = Replica(store, chroma, work / "replicas.log")
        try:
            seconds = replica.wait_ready()
            ready = httpx.get(f"{replica.url}/readyz", timeout=30).json()
            out[name] = {"ready_s": seconds, "rss_mb": replica.rss_mb(),
                         "chunks": ready["chunks"]}
        finally:
            replica.stop()
        print(f"  start {name}: {out[name]}", file=sys.stderr, flush=True)
    return out


def measure_follow(work: Path, url: str, seed: int) -> dict[str, Any]:
    """Seconds from another process's commit of a new article until a running server lists
    it: the poll for the generation, then building the new view (articles, chunks, BM25)."""
    import numpy as np

    from assistant.app import build as build_services
    from assistant.chunking import chunk_article
    from assistant.config import Settings

    facts = json.loads((work / "bench.json").read_text())
    out: dict[str, Any] = {}
    for mode, folder, chroma in (("server", work / "follow-replica", url),
                                 ("embedded", work / "embedded", None)):
        replica = Replica(folder, chroma, work / "replicas.log")
        try:
            replica.wait_ready()
            settings = (Settings(store=work / "writer", chroma_url=url) if chroma
                        else Settings(store=work / "embedded"))
            services = build_services(settings)
            store = services.open_store()
            index = facts["articles"] + 1000
            states = store.registry.states()
            while _article(index, seed).id in states:
                index += 1
            article = _article(index, seed)
            chunks = chunk_article(article, services.embedder.count_tokens, 200, 30)
            rng = np.random.default_rng(index)
            dimension = services.embedder.dimension
            vectors = [rng.standard_normal((len(c.sentences) + 1, dimension)).astype(np.float32)
                       for c in chunks]  # row 0 for the chunk, the rest for its sentences
            vectors = [v / np.linalg.norm(v, axis=1, keepdims=True) for v in vectors]
            with store.writing("bench"):
                store.write_articles([article], {article.id: chunks},
                                     {c.id: v[0] for c, v in zip(chunks, vectors, strict=True)},
                                     {c.id: v[1:] for c, v in zip(chunks, vectors, strict=True)},
                                     services.embedder.name)
            committed = time.perf_counter()
            while httpx.get(f"{replica.url}/api/articles/{article.id}",
                            timeout=60).status_code != 200:
                time.sleep(0.05)
            out[mode] = {"seconds": time.perf_counter() - committed}
            store.close()
        finally:
            replica.stop()
        print(f"  follow {mode}: {out[mode]}", file=sys.stderr, flush=True)
    return out


def measure_throughput(work: Path, url: str, seed: int, requests: int,
                       rounds: int) -> dict[str, Any]:
    """Concurrency 8: eight clients on one replica, or four on each of two (a balancer's
    round robin per connection). Rounds alternate so drift in the machine's load hits both."""
    facts = json.loads((work / "bench.json").read_text())
    questions = [(q.question, q.article_id) for q in sample_questions(facts["articles"], 50, seed)]
    questions += list(SEED_QUESTIONS.items())
    replicas = [Replica(work / f"replica-{i}", url, work / "replicas.log") for i in (1, 2)]
    results: dict[str, list[dict[str, Any]]] = {"1 replica": [], "2 replicas": []}
    try:
        for replica in replicas:
            replica.wait_ready()

        def rss() -> float:
            return 0.0

        for replica in replicas:  # warm connections and caches
            asyncio.run(run_level(replica.url, questions, 2, 20, rss))
        for _ in range(rounds):
            for name, used in (("1 replica", replicas[:1]), ("2 replicas", replicas)):
                per = 8 // len(used)

                async def level(used: list[Replica] = used, per: int = per) -> list[Level]:
                    return list(await asyncio.gather(*(
                        run_level(r.url, questions, per, requests // len(used), rss)
                        for r in used)))

                levels = asyncio.run(level())
                latencies = [x for lv in levels for x in lv.latencies_ms]
                seconds = max(lv.seconds for lv in levels)
                done = sum(lv.requests for lv in levels)
                results[name].append({
                    "req_s": done / seconds, "p50": percentile(latencies, 0.5),
                    "p95": percentile(latencies, 0.95),
                    "errors": sum(lv.errors for lv in levels)})
                print(f"  {name}: {results[name][-1]}", file=sys.stderr, flush=True)
        rss_each = [r.rss_mb() for r in replicas]
    finally:
        for replica in replicas:
            replica.stop()
    return {name: {"req_s": statistics.median(r["req_s"] for r in rows),
                   "p50": statistics.median(r["p50"] for r in rows),
                   "p95": statistics.median(r["p95"] for r in rows),
                   "errors": sum(r["errors"] for r in rows), "rounds": len(rows)}
            for name, rows in results.items()} | {"rss_mb": rss_each}


# -- parts: dense search and BM25 alone ----------------------------------------------------------


def build_parts(size: int, work: Path, seed: int) -> dict[str, Any]:
    """A chunk collection embedded and in a server (random unit vectors, the metadata our
    chunks carry, no texts), and every chunk's text in a file for the BM25 worker."""
    import chromadb
    import numpy as np
    from chromadb.config import Settings as ChromaSettings

    from assistant.chunking import chunk_article
    from assistant.config import Settings
    from assistant.embeddings import build_embedder
    from assistant.store import date_number

    for folder in ("embedded", "chroma-server"):
        shutil.rmtree(work / folder, ignore_errors=True)
    embedder = build_embedder(Settings())
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    writes: dict[str, float] = {"embedded": 0.0, "server": 0.0}
    with chroma_server(work / "chroma-server") as url, (work / "texts.jsonl").open("w") as out:
        host, port = url.rsplit(":", 1)
        settings = ChromaSettings(anonymized_telemetry=False)
        clients = {"embedded": chromadb.PersistentClient(str(work / "embedded"), settings),
                   "server": chromadb.HttpClient(host=host.split("//")[1], port=int(port),
                                                 settings=settings)}
        collections = {name: c.create_collection("parts", metadata={"hnsw:space": "cosine"},
                                                 embedding_function=None)
                       for name, c in clients.items()}
        articles = total = 0
        batch: list[tuple[str, dict[str, Any]]] = []
        while total < size:
            article = _article(articles, seed)
            articles += 1
            for c in chunk_article(article, embedder.count_tokens, 200, 30):
                total += 1
                out.write(json.dumps([c.id, c.text]) + "\n")
                batch.append((c.id, {"article_id": article.id, "document_id": article.id,
                                     "date_num": date_number(article.date), "start": c.start,
                                     "end": c.end, "chunk": c.index, "hash": article.content_hash}))
            if len(batch) >= WRITE_GROUP or total >= size:
                vectors = rng.standard_normal((len(batch), embedder.dimension)).astype(np.float32)
                vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
                for name, collection in collections.items():
                    t = time.perf_counter()
                    collection.add(ids=[i for i, _ in batch], embeddings=vectors,
                                   metadatas=[m for _, m in batch])
                    writes[name] += time.perf_counter() - t
                batch = []
                if total % (WRITE_GROUP * 400) < WRITE_GROUP:
                    print(f"  {total:,} chunks", file=sys.stderr, flush=True)
    facts = {"size": size, "articles": articles, "chunks": total,
             "build_s": time.perf_counter() - started, "writes_s": writes,
             "disk_mb": {"embedded": disk_mb(work / "embedded"),
                         "server": disk_mb(work / "chroma-server")}}
    (work / "parts.json").write_text(json.dumps(facts))
    return facts


# Date ranges over the synthetic articles (dated through 2025): half of them, a month, a week.
RANGES = {"half": ("2025-07-01", None), "month": ("2025-12-01", None),
          "week": ("2025-12-25", None)}


def worker_parts_dense(mode: str, work: Path, url: str | None, n_questions: int,
                       repeats: int, seed: int) -> dict[str, Any]:
    """Nearest-neighbour search as `Store.dense_search` asks for it (60 results), plain and
    date-filtered: by Chroma's filter (as before), and as the store does it now
    (`store.filtered_search`: unfiltered and filtered with the view's dates when the range
    admits enough, else Chroma's filter), timed per call."""
    import chromadb
    import numpy as np
    from chromadb.config import Settings as ChromaSettings

    from assistant.config import Settings
    from assistant.embeddings import build_embedder
    from assistant.store import ChunkDates, date_bounds, date_filter, filtered_search

    facts = json.loads((work / "parts.json").read_text())
    settings = ChromaSettings(anonymized_telemetry=False)
    if url is None:
        client = chromadb.PersistentClient(str(work / "embedded"), settings)
    else:
        host, port = url.rsplit(":", 1)
        client = chromadb.HttpClient(host=host.split("//")[1], port=int(port), settings=settings)
    collection = client.get_collection("parts")
    embedder = build_embedder(Settings())
    questions = sample_questions(facts["articles"], n_questions, seed)
    vectors = [embedder.embed([q.question])[0] for q in questions]

    # The view's chunk dates, as a replica holds them (read from the chunks' metadata here).
    t = time.perf_counter()
    with (work / "texts.jsonl").open() as lines:
        ids = [json.loads(line)[0] for line in lines]
    dates = np.zeros(len(ids), np.int64)
    for b in range(0, len(ids), 5000):
        got = collection.get(ids=ids[b : b + 5000], include=["metadatas"])
        by_id = {i: m["date_num"] for i, m in zip(got["ids"], got["metadatas"], strict=True)}
        dates[b : b + 5000] = [by_id[i] for i in ids[b : b + 5000]]
    chunk_dates = ChunkDates.of({cid: row for row, cid in enumerate(ids)}, dates)
    read_s = time.perf_counter() - t

    def nearest(vector: Any, n: int, where: dict[str, Any] | None) -> list[tuple[str, float]]:
        result = collection.query(query_embeddings=[vector.tolist()], n_results=n, where=where,
                                  include=["distances"])
        return list(zip(result["ids"][0], result["distances"][0], strict=True))

    first = _timed(nearest, vectors[0], 60, None)[0]
    for vector in vectors[:3]:
        nearest(vector, 60, None)
    times: dict[str, list[float]] = {"plain": []}
    shares: dict[str, float] = {}
    for _ in range(repeats):
        for vector in vectors:
            times["plain"].append(_timed(nearest, vector, 60, None)[0])
            for name, (since, until) in RANGES.items():
                bounds = date_bounds(since, until)
                assert bounds is not None
                shares[name] = chunk_dates.share(bounds)
                ms, by_chroma = _timed(nearest, vector, 60, date_filter(bounds))
                times.setdefault(f"{name} chroma", []).append(ms)
                ms, by_store = _timed(filtered_search, nearest, vector, 60, bounds, chunk_dates)
                times.setdefault(f"{name} store", []).append(ms)
                # The same neighbours either way, but for ANN misses on either side.
                overlap = len({c for c, _ in by_chroma} & {c for c, _ in by_store}) / 60
                times.setdefault(f"{name} overlap", []).append(overlap)
    return {"first_ms": first, "rss_mb": current_rss_mb(), "peak_rss_mb": peak_rss_mb(),
            "dates_read_s": read_s, "shares": shares,
            **{name: {"p50": percentile(v, 0.5), "p95": percentile(v, 0.95),
                      "mean": statistics.fmean(v)} for name, v in times.items()}}


def worker_parts_bm25(work: Path, n_questions: int, seed: int) -> dict[str, Any]:
    """The BM25 index of every chunk text, built as a replica builds it (streamed)."""
    from assistant.keyword import KeywordIndex

    facts = json.loads((work / "parts.json").read_text())

    def texts() -> Iterator[tuple[str, str]]:
        with (work / "texts.jsonl").open() as lines:
            for line in lines:
                chunk_id, text = json.loads(line)
                yield chunk_id, text

    t = time.perf_counter()
    n = sum(1 for _ in texts())
    read_s = time.perf_counter() - t
    rss_before = current_rss_mb()
    t = time.perf_counter()
    index = KeywordIndex.build(texts(), 1)
    build_s = time.perf_counter() - t
    rss_built = current_rss_mb()
    folder = work / "keyword"
    shutil.rmtree(folder, ignore_errors=True)
    t = time.perf_counter()
    index.save(folder)
    save_s = time.perf_counter() - t
    questions = [q.question for q in sample_questions(facts["articles"], n_questions, seed)]
    searches = [_timed(index.search, q, 50)[0] for q in questions * 3]
    return {"chunks": n, "read_s": read_s, "build_s": build_s - read_s, "save_s": save_s,
            "index_mb": disk_mb(folder), "rss_before_mb": rss_before, "rss_built_mb": rss_built,
            "peak_rss_mb": peak_rss_mb(), "search_p50": percentile(searches, 0.5),
            "search_p95": percentile(searches, 0.95)}


def measure_parts(size: int, root: Path, seed: int, n_questions: int,
                  repeats: int) -> dict[str, Any]:
    work = root / f"parts{size}-seed{seed}-v{STORE_VERSION}"
    work.mkdir(parents=True, exist_ok=True)
    if not (work / "parts.json").is_file():
        print(f"building parts for {size:,} chunks in {work} ...", file=sys.stderr, flush=True)
        build_parts(size, work, seed)
    result: dict[str, Any] = {"build": json.loads((work / "parts.json").read_text())}
    options = ["--questions", str(n_questions), "--repeats", str(repeats), "--seed", str(seed)]
    print("parts: bm25 ...", file=sys.stderr, flush=True)
    result["bm25"] = run_worker(["parts-bm25", "-", str(work), "-"], options)
    with chroma_server(work / "chroma-server") as url:
        for mode in ("embedded", "server"):
            print(f"parts: dense {mode} ...", file=sys.stderr, flush=True)
            result[f"dense {mode}"] = run_worker(
                ["parts-dense", mode, str(work), "-" if mode == "embedded" else url], options)
    (work / "results.json").write_text(json.dumps(result, indent=1))
    return result


def print_parts(results: list[dict[str, Any]]) -> None:
    print("\n== parts: dense search and BM25 alone (random unit vectors, real chunk texts) ==")
    print(f"{'chunks':>9} | {'dense p50/p95 ms emb':>20} | {'server':>13} | "
          f"{'BM25 build s':>12} | {'BM25 peak MB':>12} | {'BM25 index MB':>13} | "
          f"{'BM25 search p50/p95':>19}")
    for r in results:
        e, s, b = r["dense embedded"], r["dense server"], r["bm25"]
        print(f"{r['build']['chunks']:>9,} | {e['plain']['p50']:>8.1f} / {e['plain']['p95']:<9.1f} | "
              f"{s['plain']['p50']:>5.1f} / {s['plain']['p95']:<5.1f} | "
              f"{b['build_s']:>12.1f} | {b['peak_rss_mb']:>12,.0f} | {b['index_mb']:>13,.0f} | "
              f"{b['search_p50']:>8.1f} / {b['search_p95']:<8.1f}")
    print("\ndate-filtered dense search, p50 / p95 ms: Chroma's filter (before) against the "
          "store's (now); overlap = share of the 60 results both find")
    print(f"{'chunks':>9} | {'range':>5} | {'admits':>6} | {'emb Chroma':>15} | "
          f"{'emb store':>13} | {'srv Chroma':>15} | {'srv store':>13} | {'overlap':>7}")
    for r in results:
        for name in RANGES:
            e, s = r["dense embedded"], r["dense server"]
            cells = [f"{m[f'{name} {how}']['p50']:>6.1f} / {m[f'{name} {how}']['p95']:<6.1f}"
                     for m in (e, s) for how in ("chroma", "store")]
            print(f"{r['build']['chunks']:>9,} | {name:>5} | {e['shares'][name]:>6.1%} | "
                  f"{cells[0]:>15} | {cells[1]:>13} | {cells[2]:>15} | {cells[3]:>13} | "
                  f"{e[f'{name} overlap']['mean']:>7.2f}")
    for r in results:
        print(f"  {r['build']['chunks']:,} chunks: parts built in {r['build']['build_s']:.0f} s, "
              f"disk embedded {r['build']['disk_mb']['embedded']:,.0f} MB, server "
              f"{r['build']['disk_mb']['server']:,.0f} MB; BM25 RSS before/after building "
              f"{r['bm25']['rss_before_mb']:,.0f}/{r['bm25']['rss_built_mb']:,.0f} MB; dense "
              f"process RSS embedded {r['dense embedded']['rss_mb']:,.0f} MB")


# -- the report ------------------------------------------------------------------------------


def print_report(results: list[dict[str, Any]]) -> None:
    for r in results:
        b = r["build"]
        print(f"\n== {b['chunks']:,} chunks, {b['articles']:,} articles "
              "(random unit vectors, real texts) ==")
        w = b["writes"]
        print(f"build: chunking {b['chunking_s']:.0f} s; write groups of {WRITE_GROUP} chunks "
              f"p50 embedded {w['embedded']['p50_s'] * 1000:.0f} ms, server "
              f"{w['server']['p50_s'] * 1000:.0f} ms (first/last server "
              f"{w['server']['first_s'] * 1000:.0f}/{w['server']['last_s'] * 1000:.0f} ms); "
              f"disk embedded {b['disk_mb']['embedded']:,.0f} MB, server "
              f"{b['disk_mb']['server']:,.0f} MB {b['server_collections_mb']}")
        for name, m in r.get("bm25", {}).items():
            print(f"bm25 {name}: article records and chunk offsets {m['snapshot_s']:.1f} s; "
                  f"read texts {m['read_s']:.1f} s; read + build "
                  f"{m['read_and_build_s']:.1f} s; save {m['save_s']:.1f} s, load "
                  f"{m['load_s']:.1f} s; peak RSS {m['peak_rss_mb']:,.0f} MB "
                  f"(after opening {m['rss_open_mb']:,.0f} MB)")
        if "latency" in r:
            print(f"{'mode':>20} | {'hybrid p50/p95 ms':>18} | {'answer p50/p95 ms':>18} | "
                  f"{'1st hybrid ms':>13} | {'RSS MB':>7}")
            for name, m in r["latency"].items():
                lat = m["latency"]
                print(f"{name:>20} | {lat['hybrid']['p50']:>7.1f} / {lat['hybrid']['p95']:<8.1f} | "
                      f"{lat['ask']['p50']:>7.1f} / {lat['ask']['p95']:<8.1f} | "
                      f"{m['first_ms']['hybrid']:>13,.0f} | {m['rss_mb']:>7,.0f}")
        for name, m in r.get("start", {}).items():
            print(f"start {name}: ready in {m['ready_s']:.1f} s, RSS {m['rss_mb']:,.0f} MB")
        for name, m in r.get("follow", {}).items():
            print(f"follow {name}: a new article committed by another process is served after "
                  f"{m['seconds']:.1f} s")
        if "throughput" in r:
            t = r["throughput"]
            for name in ("1 replica", "2 replicas"):
                m = t[name]
                print(f"throughput c=8, {name}: {m['req_s']:.1f} req/s, p50 {m['p50']:.0f} ms, "
                      f"p95 {m['p95']:.0f} ms, {m['errors']} errors ({m['rounds']} rounds)")
            print(f"  replica RSS after the runs: {', '.join(f'{x:,.0f} MB' for x in t['rss_mb'])}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000", help="chunk counts (whole stores)")
    parser.add_argument("--parts", default="", help="chunk counts for dense search and BM25 alone")
    parser.add_argument("--work", type=Path,
                        default=Path(tempfile.gettempdir()) / "bench-scale",
                        help="where the stores are kept between runs")
    parser.add_argument("--only", default=",".join(PHASES[1:]),
                        help=f"phases to run after building: {','.join(PHASES[1:])}")
    parser.add_argument("--base", type=Path,
                        help="also build BM25 with the code in this checkout (before/after)")
    parser.add_argument("--questions", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--requests", type=int, default=240, help="per throughput round")
    parser.add_argument("--rounds", type=int, default=3, help="throughput rounds")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    offline_environment()

    if args.worker:
        kind, mode, work, url = args.worker[0], args.worker[1], Path(args.worker[2]), args.worker[3]
        chroma = None if url == "-" else url
        if kind == "bm25":
            result = worker_bm25(mode, work, chroma)
        elif kind == "parts-bm25":
            result = worker_parts_bm25(work, args.questions, args.seed)
        elif kind == "parts-dense":
            result = worker_parts_dense(mode, work, chroma, args.questions, args.repeats,
                                        args.seed)
        else:
            result = worker_latency(mode, work, chroma, args.questions, args.repeats, args.seed)
        print(RESULT_PREFIX + json.dumps(result), flush=True)
        return

    print(f"machine: {machine_description()}")
    phases = [p for p in args.only.split(",") if p]
    results = []
    parts = [measure_parts(int(size), args.work, args.seed, args.questions, args.repeats)
             for size in args.parts.split(",") if size.strip()]
    for size in [int(s) for s in args.sizes.split(",") if s.strip()]:
        work = args.work / f"chunks{size}-seed{args.seed}-v{STORE_VERSION}"
        work.mkdir(parents=True, exist_ok=True)
        if not (work / "bench.json").is_file():
            print(f"building {size:,} chunks in {work} ...", file=sys.stderr, flush=True)
            build(size, work, args.seed)
        result: dict[str, Any] = {"build": json.loads((work / "bench.json").read_text())}
        with chroma_server(work / "chroma-server") as url:
            if "bm25" in phases:
                result["bm25"] = {}
                for mode in ("embedded", "server"):
                    print(f"bm25 {mode} ...", file=sys.stderr, flush=True)
                    result["bm25"][mode] = run_worker(["bm25", mode, str(work), url])
                if args.base:
                    print("bm25 embedded, base code ...", file=sys.stderr, flush=True)
                    result["bm25"]["embedded, base code"] = run_worker(
                        ["bm25", "embedded", str(work), "-"], env={"PYTHONPATH": str(args.base)})
            options = ["--questions", str(args.questions), "--repeats", str(args.repeats),
                       "--seed", str(args.seed)]
            if "latency" in phases:
                result["latency"] = {}
                for mode in ("embedded", "server"):
                    print(f"latency {mode} ...", file=sys.stderr, flush=True)
                    result["latency"][mode] = run_worker(
                        ["latency", mode, str(work), url], options)
                if args.base:
                    print("latency embedded, base code ...", file=sys.stderr, flush=True)
                    result["latency"]["embedded, base code"] = run_worker(
                        ["latency", "embedded", str(work), "-"], options,
                        env={"PYTHONPATH": str(args.base)})
            if "start" in phases:
                result["start"] = measure_starts(work, url)
            if "follow" in phases:
                result["follow"] = measure_follow(work, url, args.seed)
            if "throughput" in phases:
                result["throughput"] = measure_throughput(work, url, args.seed, args.requests,
                                                          args.rounds)
        results.append(result)
        (work / "results.json").write_text(json.dumps(result, indent=1))
    print_report(results)
    if parts:
        print_parts(parts)


if __name__ == "__main__":
    main()
