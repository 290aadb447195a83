"""Query latency at 1k, 10k and 100k chunks: our hybrid retriever and extractive answer against
the plain llama-index retriever over the same Chroma collection.

    python bench/query.py                                   # sizes 1000,10000,100000
    python bench/query.py --sizes 1000 --repeats 3 --cache /tmp/bench-query

Stores are built once per size under --cache (default: $TMPDIR/bench-query-cache) and reused.
Sizes up to --real-max chunks are built with `assistant.ingest.ingest` and the real model.
Larger ones are built by writing random unit vectors (chunks and sentences) plus the real
chunk text through `Store.write_articles`, because embedding 100k chunks takes most of an hour
here and query latency does not depend on the vectors' values; dense hits (and so hit@8) are
then meaningless, latency is not. Questions are always embedded by the real model. Stores are
keyed by size, seed, vector kind and embedder name.

Each size runs in its own subprocess (so peak RSS is per size). Every question is asked
--repeats times by each method, interleaved; p50/p95 are over all those calls.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ingest import (
    RESULT_PREFIX,
    current_rss_mb,
    machine_description,
    offline_environment,
    peak_rss_mb,
    plain_embed_model,
)
from synthetic import Question, make_article, sample_questions

STORE_VERSION = 1  # bump when the way stores are built changes
WRITE_GROUP = 256  # chunks per Store.write_articles call, as assistant.ingest does
TARGETS = {"hybrid": 60.0, "ask": 250.0}  # p95 ms at 100k chunks


# -- building a store of a given size ------------------------------------------------------------


def _article(index: int, seed: int) -> Any:
    from assistant.articles import content_hash
    from assistant.types import Article

    synthetic = make_article(index, seed)
    article = Article(
        id=synthetic.id, title=synthetic.title, body=synthetic.body,
        path=f"synthetic/{synthetic.id}.md", date=synthetic.date, source=synthetic.source,
        url=synthetic.url,
    )
    return dataclasses.replace(article, content_hash=content_hash(article))


def build_store(store_dir: Path, size: int, seed: int, real: bool) -> dict[str, Any]:
    """Fill `store_dir` with at least `size` chunks of synthetic articles; returns build facts."""
    import numpy as np

    from assistant.app import build
    from assistant.chunking import chunk_article
    from assistant.config import Settings
    from assistant.ingest import ingest

    started = time.perf_counter()
    services = build(Settings(store=store_dir))
    store = services.open_store(create=True)
    embedder = services.embedder
    embedder.count_tokens("load the tokenizer")
    chunking_started = time.perf_counter()
    corpus: list[Any] = []
    chunked: dict[str, list[Any]] = {}
    total = 0
    while total < size:  # as many articles as it takes to reach `size` chunks
        article = _article(len(corpus), seed)
        chunks = chunk_article(article, embedder.count_tokens, 200, 30)
        corpus.append(article)
        chunked[article.id] = chunks
        total += len(chunks)
    chunk_seconds = time.perf_counter() - chunking_started
    write_seconds: list[float] = []
    if real:
        folder = store_dir / "corpus"
        folder.mkdir(parents=True, exist_ok=True)
        for index in range(len(corpus)):
            synthetic = make_article(index, seed)
            (folder / f"{synthetic.id}.md").write_text(synthetic.to_markdown(), encoding="utf-8")
        t = time.perf_counter()
        report = ingest(store, embedder, [folder])
        write_seconds.append(time.perf_counter() - t)
        total = report.chunks_total
    else:
        rng = np.random.default_rng(seed)

        def unit(rows: int) -> np.ndarray:
            v = rng.standard_normal((rows, embedder.dimension)).astype(np.float32)
            return v / np.linalg.norm(v, axis=1, keepdims=True)

        group: list[Any] = []
        count = 0
        for i, article in enumerate(corpus):
            group.append(article)
            count += len(chunked[article.id])
            if count < WRITE_GROUP and i < len(corpus) - 1:
                continue
            chunks = [c for a in group for c in chunked[a.id]]
            vectors = unit(len(chunks))
            t = time.perf_counter()
            store.write_articles(
                group,
                {a.id: chunked[a.id] for a in group},
                {c.id: vectors[j] for j, c in enumerate(chunks)},
                {c.id: unit(len(c.sentences)) for c in chunks},
                embedder.name,
            )
            write_seconds.append(time.perf_counter() - t)
            group, count = [], 0
        t = time.perf_counter()
        store.keyword_index()
        write_seconds.append(time.perf_counter() - t)
    facts = {
        "size": size, "seed": seed, "vectors": "real model" if real else "random unit",
        "articles": len(corpus), "chunks": total, "build_s": time.perf_counter() - started,
        "chunking_s": chunk_seconds,
        "first_write_s": write_seconds[0] if write_seconds else 0.0,
        "last_write_s": write_seconds[-2] if len(write_seconds) > 1 else 0.0,
        "writes": len(write_seconds),
    }
    (store_dir / "bench.json").write_text(json.dumps(facts))
    return facts


# -- measuring ----------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _timed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[float, Any]:
    """Milliseconds taken by `fn(*args, **kwargs)`, and what it returned."""
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return (time.perf_counter() - t) * 1000, out


def measure(store_dir: Path, questions: list[Question], repeats: int) -> dict[str, Any]:
    from llama_index.core import VectorStoreIndex
    from llama_index.vector_stores.chroma import ChromaVectorStore

    from assistant.app import build
    from assistant.config import Settings

    services = build(Settings(store=store_dir, llm="extractive"))
    retriever, asker, store = services.retriever, services.asker, services.store
    embedder = services.embedder
    plain = VectorStoreIndex.from_vector_store(
        ChromaVectorStore(chroma_collection=store.collection), embed_model=plain_embed_model()
    ).as_retriever(similarity_top_k=8)
    texts = [q.question for q in questions]

    # First calls pay for loading the BM25 index, the registry snapshot and Chroma's HNSW file.
    first = {
        "hybrid": _timed(retriever.search, texts[0], 8)[0],
        "plain": _timed(plain.retrieve, texts[0])[0],
        "ask": _timed(asker.ask, texts[0])[0],
    }
    for text in texts[:3]:  # warm-up
        retriever.search(text, 8)
        plain.retrieve(text)
        asker.ask(text)

    methods: dict[str, Callable[[str], Any]] = {
        "hybrid": lambda q: retriever.search(q, 8),
        "plain": lambda q: plain.retrieve(q),
        "ask": lambda q: asker.ask(q),
    }
    times: dict[str, list[float]] = {name: [] for name in methods}
    hits: dict[str, int] = {"hybrid": 0, "plain": 0, "ask": 0}
    names = list(methods)
    for rep in range(repeats):
        for i, question in enumerate(questions):
            order = names[(i + rep) % 3:] + names[: (i + rep) % 3]  # rotate to spread drift
            for name in order:
                ms, out = _timed(methods[name], question.question)
                times[name].append(ms)
                if rep == 0:
                    hits[name] += _hit(name, out, question)

    # Where the hybrid search's time goes, component by component (same questions).
    parts: dict[str, list[float]] = {
        "embed": [], "count": [], "dense": [], "bm25": [], "search_rest": []
    }
    keyword = store.keyword_index()
    for question in questions:
        ms, vectors = _timed(embedder.embed, [question.question])
        vector = vectors[0]
        parts["embed"].append(ms)
        # Store.dense_search asks Chroma for the collection's size before every query.
        parts["count"].append(_timed(store.collection.count)[0])
        dense_ms, _ = _timed(store.dense_search, vector, 60)
        bm25_ms, _ = _timed(keyword.search, question.question, 50)
        total_ms, _ = _timed(retriever.search, question.question, 8, vector=vector)
        parts["dense"].append(dense_ms)
        parts["bm25"].append(bm25_ms)
        parts["search_rest"].append(max(total_ms - dense_ms - bm25_ms, 0.0))
    return {
        "latency": {n: {"p50": percentile(v, 0.5), "p95": percentile(v, 0.95),
                        "mean": statistics.fmean(v), "calls": len(v)} for n, v in times.items()},
        "first_ms": first,
        "hits": hits,
        "questions": len(questions),
        "parts_p50": {n: percentile(v, 0.5) for n, v in parts.items()},
        "rss_mb": current_rss_mb(),
        "peak_rss_mb": peak_rss_mb(),
    }


def _hit(name: str, out: Any, question: Question) -> int:
    """Hybrid/plain: the question's article is among the 8; ask: the answer holds the answer."""
    if name == "hybrid":
        return int(any(p.article.id == question.article_id for p in out))
    if name == "plain":
        return int(any(n.node.metadata.get("article_id") == question.article_id for n in out))
    return int(question.answer.lower() in out.answer.lower())


def worker(size: int, cache: Path, seed: int, real_max: int, n_questions: int,
           repeats: int) -> dict[str, Any]:
    offline_environment()
    import hashlib

    from assistant.config import Settings
    from assistant.embeddings import build_embedder

    real = size <= real_max
    # Keyed by the embedder too: a store built with another model must not be reused.
    model = hashlib.sha256(build_embedder(Settings()).name.encode()).hexdigest()[:8]
    kind = "real" if real else "random"
    store_dir = cache / f"chunks{size}-seed{seed}-{kind}-{model}-v{STORE_VERSION}"
    facts_file = store_dir / "bench.json"
    built_now = False
    if facts_file.is_file():
        facts = json.loads(facts_file.read_text())
    else:
        if store_dir.exists():  # an interrupted build: start again
            import shutil

            shutil.rmtree(store_dir)
        facts = build_store(store_dir, size, seed, real)
        built_now = True
    questions = sample_questions(facts["articles"], n_questions, seed)
    result = measure(store_dir, questions, repeats)
    return {**result, "build": facts, "built_now": built_now, "store": str(store_dir)}


# -- report -----------------------------------------------------------------------------------


def print_report(results: list[dict[str, Any]]) -> None:
    print(f"{'chunks':>8} {'articles':>8} {'vectors':>12} | "
          f"{'ours hybrid p50/p95':>20} | {'plain llama-index p50/p95':>26} | "
          f"{'ours ask p50/p95':>18} | {'1st query ms':>14} | {'hit@8 ours/plain':>16} | "
          f"{'ask ok':>6} | {'RSS MB':>7}")
    for r in results:
        lat, b = r["latency"], r["build"]

        def pair(name: str, lat: dict[str, Any] = lat) -> str:
            return f"{lat[name]['p50']:.1f} / {lat[name]['p95']:.1f} ms"

        n = r["questions"]
        print(
            f"{b['chunks']:>8} {b['articles']:>8} {b['vectors']:>12} | {pair('hybrid'):>20} | "
            f"{pair('plain'):>26} | {pair('ask'):>18} | "
            f"{r['first_ms']['hybrid']:>6.0f}/{r['first_ms']['ask']:>6.0f} | "
            f"{r['hits']['hybrid'] / n:>7.2f}/{r['hits']['plain'] / n:<8.2f} | "
            f"{r['hits']['ask'] / n:>6.2f} | {r['peak_rss_mb']:>7.0f}"
        )
    print("\nours hybrid, p50 by component (ms):")
    print(f"{'chunks':>8} {'embed question':>15} {'dense_search':>13} {'(of it count())':>16} "
          f"{'BM25':>7} {'fusion+dedup+bodies':>20}")
    for r in results:
        p = r["parts_p50"]
        print(f"{r['build']['chunks']:>8} {p['embed']:>15.1f} {p['dense']:>13.1f} "
              f"{p['count']:>16.1f} {p['bm25']:>7.1f} {p['search_rest']:>20.1f}")
    print("\nbuilds:")
    for r in results:
        b = r["build"]
        state = f"built now in {b['build_s']:.0f} s" if r["built_now"] else "cached"
        print(f"  {b['chunks']} chunks ({b['vectors']} vectors): {state}; chunking "
              f"{b['chunking_s']:.0f} s; write call first {b['first_write_s']:.2f} s, last "
              f"{b['last_write_s']:.2f} s over {b['writes']} writes; {r['store']}")
    largest = max(results, key=lambda r: r["build"]["chunks"])
    lat = largest["latency"]
    print(
        f"\ntargets at {largest['build']['chunks']} chunks: hybrid p95 "
        f"{lat['hybrid']['p95']:.1f} ms (<= {TARGETS['hybrid']:.0f}), extractive answer p95 "
        f"{lat['ask']['p95']:.1f} ms (<= {TARGETS['ask']:.0f})"
    )
    print("1st query = first hybrid search / first ask after opening the store (loads BM25, "
          "registry snapshot, HNSW). hit@8 and 'ask ok' (answer contains the gold string) are "
          "sanity checks; with random vectors the dense half contributes nothing to them.")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000,10000,100000", help="chunk counts")
    parser.add_argument("--cache", type=Path,
                        default=Path(tempfile.gettempdir()) / "bench-query-cache",
                        help="where built stores are kept between runs")
    parser.add_argument("--real-max", type=int, default=1000,
                        help="sizes up to this many chunks are embedded with the real model")
    parser.add_argument("--questions", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker is not None:
        result = worker(args.worker, args.cache, args.seed, args.real_max, args.questions,
                        args.repeats)
        print(RESULT_PREFIX + json.dumps(result), flush=True)
        return

    print(f"machine: {machine_description()}")
    print(f"{args.questions} questions x {args.repeats} repeats per method; cache {args.cache}\n")
    args.cache.mkdir(parents=True, exist_ok=True)
    results = []
    for size in [int(s) for s in args.sizes.split(",") if s.strip()]:
        print(f"size {size} ...", file=sys.stderr, flush=True)
        command = [sys.executable, str(Path(__file__).resolve()), "--worker", str(size),
                   "--cache", str(args.cache), "--real-max", str(args.real_max),
                   "--questions", str(args.questions), "--repeats", str(args.repeats),
                   "--seed", str(args.seed)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        lines = [x for x in done.stdout.splitlines() if x.startswith(RESULT_PREFIX)]
        if not lines:
            raise SystemExit(f"size {size} failed ({done.returncode}):\n{done.stderr[-3000:]}")
        results.append(json.loads(lines[-1][len(RESULT_PREFIX):]))
    print_report(results)


if __name__ == "__main__":
    main()
