"""Ingest throughput: our pipeline against a plain llama-index pipeline, on the same articles.

Each route runs in its own subprocess on a fresh temp store, so peak RSS is per route:

    (a)  ours: assistant.ingest.ingest(...) with the embedder from assistant.app.build
         (by default the int8 model it derives from the shipped one);
    (a') ours-shipped: the same with Settings(embed_quantize=False), the shipped model file;
    (b)  plain: VectorStoreIndex.from_documents(...) into a fresh Chroma collection, with
         SentenceSplitter(200/30, MiniLM word-pieces) and a llama-index BaseEmbedding adapter
         around the shipped ONNX model, llama-index and onnxruntime defaults otherwise (the
         metadata header is embedded with every chunk and counts against its size);
    (b') plain-same-text: (b) with every metadata key excluded, so it embeds our chunk texts;
    (c)  reingest: a no-change re-ingest of the same articles with (a), in a fresh process.

    python bench/ingest.py                  # N=1,000 articles, all routes
    python bench/ingest.py --sweep          # also: threads 1/2 x batch 1/8/16/32, 300 articles
    python bench/ingest.py --n 200 --routes ours,plain --threads 2 --batch 8

Times cover the ingest call only (reading files, chunking, embedding, writing); imports and
model loading are reported separately as "setup". CPU is process CPU time (all threads) plus
that of any children; peak RSS is the subprocess's ru_maxrss.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import importlib.metadata
import importlib.util
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthetic import write_corpus

if TYPE_CHECKING:
    from llama_index.core.embeddings import BaseEmbedding

RESULT_PREFIX = "BENCH-RESULT "
ROUTES = ("ours", "ours-shipped", "plain", "plain-same-text", "reingest")  # reingest last
SWEEP_THREADS = (1, 2)
SWEEP_BATCHES = (1, 8, 16, 32)


# -- shared by the benchmark scripts ------------------------------------------------------------


def offline_environment() -> None:
    """No network: tiktoken's bundled cache and no telemetry, set before llama-index loads."""
    spec = importlib.util.find_spec("llama_index.core")
    if spec is not None and spec.submodule_search_locations:
        core = next(iter(spec.submodule_search_locations))
        os.environ.setdefault("TIKTOKEN_CACHE_DIR", os.path.join(core, "_static", "tiktoken_cache"))
    from assistant.app import quiet_offline_environment

    quiet_offline_environment()


@functools.cache
def _adapter_class() -> type[BaseEmbedding]:
    # Defined on first use so that the parent process never imports llama-index, and so that
    # TIKTOKEN_CACHE_DIR is set before it is.
    offline_environment()
    import numpy as np
    from llama_index.core.bridge.pydantic import PrivateAttr
    from llama_index.core.embeddings import BaseEmbedding

    from assistant.embeddings import MAX_TOKENS, model_files

    class OnnxMiniLMEmbedding(BaseEmbedding):
        """The same all-MiniLM-L6-v2 ONNX model, wired the way a plain llama-index user would:
        a default `InferenceSession` (default threads, memory arena on), the tokenizer padding
        each batch to its longest text, mean pooling and L2 normalisation."""

        _session: Any = PrivateAttr()
        _tokenizer: Any = PrivateAttr()
        _tokens: int = PrivateAttr(default=0)
        _padded_tokens: int = PrivateAttr(default=0)

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(model_name="all-MiniLM-L6-v2 (int8 ONNX)", **kwargs)
            import onnxruntime as ort
            from tokenizers import Tokenizer

            model_path, tokenizer_path = model_files()
            self._session = ort.InferenceSession(str(model_path))
            tokenizer = Tokenizer.from_file(str(tokenizer_path))
            tokenizer.enable_truncation(MAX_TOKENS)
            tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # to the batch's longest
            self._tokenizer = tokenizer

        @classmethod
        def class_name(cls) -> str:
            return "OnnxMiniLMEmbedding"

        @property
        def token_counts(self) -> tuple[int, int]:
            """(word-pieces embedded, word-pieces including padding) so far."""
            return self._tokens, self._padded_tokens

        def _embed(self, texts: list[str]) -> list[list[float]]:
            encodings = self._tokenizer.encode_batch(texts)
            ids = np.array([e.ids for e in encodings], np.int64)
            mask = np.array([e.attention_mask for e in encodings], np.int64)
            hidden = self._session.run(
                None,
                {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
            )[0]
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
            self._tokens += int(mask.sum())
            self._padded_tokens += int(mask.size)
            vectors: list[list[float]] = pooled.astype(np.float32).tolist()
            return vectors

        def _get_query_embedding(self, query: str) -> list[float]:
            return self._embed([query])[0]

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._get_query_embedding(query)

        def _get_text_embedding(self, text: str) -> list[float]:
            return self._embed([text])[0]

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            return self._embed(texts)

    return OnnxMiniLMEmbedding


def plain_embed_model(**kwargs: Any) -> BaseEmbedding:
    """The llama-index embedding adapter around our ONNX model (llama-index defaults)."""
    return _adapter_class()(**kwargs)


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = []
    for package in ("onnxruntime", "llama-index-core", "chromadb", "bm25s"):
        try:
            versions.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return (
        f"{dt.datetime.now():%Y-%m-%d %H:%M}; {os.cpu_count()} cores ({cpu}); "
        f"Python {platform.python_version()}; {', '.join(versions)}"
    )


def current_rss_mb() -> float:
    """Resident set size now (VmRSS), in MB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# -- workers (one route per subprocess) ---------------------------------------------------------


def _measure(work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Wall and CPU seconds (self + children) of `work()`, merged into what it returns."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu, wall = time.process_time(), time.perf_counter()
    out = work()
    wall = time.perf_counter() - wall
    cpu = time.process_time() - cpu
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu += (after.ru_utime - children.ru_utime) + (after.ru_stime - children.ru_stime)
    return {**out, "wall_s": wall, "cpu_s": cpu}


def _ours_settings(store: Path, threads: int | None, batch: int | None, shipped: bool) -> Any:
    """Settings as `assistant ingest` builds them: ingest_threads unless --threads is given."""
    from assistant.config import Settings

    extra: dict[str, int | bool] = {}
    if shipped:  # the shipped model as is, not the int8 model derived from it
        extra["embed_quantize"] = False
    if batch is not None:
        extra["embed_batch_size"] = batch
    settings = Settings(store=store, **extra)  # type: ignore[arg-type]
    return settings.model_copy(
        update={"embed_threads": settings.ingest_threads if threads is None else threads}
    )


def worker_ours(corpus: Path, store_dir: Path, threads: int | None, batch: int | None,
                route: str = "ours") -> dict[str, Any]:
    started = time.perf_counter()
    offline_environment()
    from assistant.app import build
    from assistant.ingest import ingest

    reingest = route == "reingest"
    settings = _ours_settings(store_dir, threads, batch, shipped=route == "ours-shipped")
    services = build(settings)
    store = services.open_store(create=True)
    embedder = services.embedder
    embedder.count_tokens("warm up")
    setup = time.perf_counter() - started
    rss_before = current_rss_mb()
    reports: list[Any] = []

    def work() -> dict[str, Any]:
        reports.append(ingest(store, embedder, [corpus]))
        return {"report": reports[-1].to_dict()}

    result = _measure(work)
    report = reports[-1]
    chunk_tokens = 0
    if not reingest:  # word-pieces per chunk, counted after the timed part
        rows = store.registry.ready_chunks()
        bodies = store.registry.bodies({r[1] for r in rows})
        for _, article_id, start, end in rows:
            chunk_tokens += min(len(embedder.count_tokens(bodies[article_id][start:end])) + 2, 256)
    return {
        **result,
        "route": route,
        "model": embedder.name,
        "threads": settings.embed_threads,
        "batch": settings.embed_batch_size,
        "articles": report.added + report.updated + report.unchanged,
        "chunks": report.chunks_embedded if not reingest else report.chunks_total,
        "embedded": report.chunks_embedded,
        "tokens": chunk_tokens,
        "setup_s": setup,
        "rss_before_mb": rss_before,
        "peak_rss_mb": peak_rss_mb(),
        "load": os.getloadavg()[0],
    }


def worker_plain(corpus: Path, store_dir: Path, same_text: bool = False) -> dict[str, Any]:
    started = time.perf_counter()
    offline_environment()
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from llama_index.core import Document, StorageContext, VectorStoreIndex
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.vector_stores.chroma import ChromaVectorStore

    from assistant.articles import read_articles
    from assistant.embeddings import OnnxTokenCounter
    from assistant.store import date_number

    embed_model = plain_embed_model()
    counter = OnnxTokenCounter()
    client = chromadb.PersistentClient(
        path=str(store_dir), settings=ChromaSettings(anonymized_telemetry=False)
    )
    # embedding_function=None: Chroma must never embed (nor fetch its default model).
    collection = client.get_or_create_collection(
        "plain", metadata={"hnsw:space": "cosine"}, embedding_function=None
    )
    setup = time.perf_counter() - started
    rss_before = current_rss_mb()

    def work() -> dict[str, Any]:
        articles, _ = read_articles([corpus])
        hidden = ["date_num", "hash"]  # the same exclusions as our route's records
        if same_text:  # no metadata header: chunks and embedded texts as in our route
            hidden = ["article_id", "title", "date", "date_num", "source", "url", "path", "hash"]
        documents = [
            Document(
                id_=a.id,
                text=a.body,
                metadata={
                    "article_id": a.id, "title": a.title, "date": a.date or "",
                    "date_num": date_number(a.date), "source": a.source or "", "url": a.url or "",
                    "path": a.path, "hash": a.content_hash,
                },
                excluded_embed_metadata_keys=hidden,
                excluded_llm_metadata_keys=hidden,
            )
            for a in articles
        ]
        VectorStoreIndex.from_documents(
            documents,
            storage_context=StorageContext.from_defaults(
                vector_store=ChromaVectorStore(chroma_collection=collection)
            ),
            embed_model=embed_model,
            transformations=[SentenceSplitter(chunk_size=200, chunk_overlap=30, tokenizer=counter)],
        )
        return {"articles": len(articles)}

    result = _measure(work)
    tokens, padded = embed_model.token_counts  # type: ignore[attr-defined]
    return {
        **result,
        "route": "plain-same-text" if same_text else "plain",
        "model": f"{embed_model.model_name}, shipped file, default InferenceSession",
        "threads": "ort default",
        "batch": embed_model.embed_batch_size,
        "chunks": collection.count(),
        "embedded": collection.count(),
        "tokens": tokens,
        "padded_tokens": padded,
        "setup_s": setup,
        "rss_before_mb": rss_before,
        "peak_rss_mb": peak_rss_mb(),
        "load": os.getloadavg()[0],
    }


def run_worker(route: str, corpus: Path, store_dir: Path, threads: int | None = None,
               batch: int | None = None) -> dict[str, Any]:
    """Run one route in a fresh interpreter and return what it measured."""
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", route,
               "--corpus", str(corpus), "--store", str(store_dir)]
    if threads is not None:
        command += ["--threads", str(threads)]
    if batch is not None:
        command += ["--batch", str(batch)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return {**json.loads(line[len(RESULT_PREFIX):]), "process_s": elapsed}
    raise RuntimeError(f"{route} worker failed ({done.returncode}):\n{done.stderr[-3000:]}")


# -- report -----------------------------------------------------------------------------------


def _row(label: str, r: dict[str, Any]) -> str:
    chunks = max(r["chunks"], 1)
    tokens = r.get("tokens", 0)
    per_chunk = f"{tokens / chunks:.0f}" if tokens else "-"
    return (
        f"{label:<26} {r['threads']!s:>11} {r['batch']!s:>5} {r['articles']:>8} {r['chunks']:>7} "
        f"{per_chunk:>6} {r['wall_s']:>8.1f} {r['chunks'] / r['wall_s']:>9.1f} "
        f"{r['articles'] / r['wall_s']:>8.1f} {1000 * r['cpu_s'] / chunks:>11.1f} "
        f"{r['peak_rss_mb']:>8.0f} {r['setup_s']:>7.1f} {r['load']:>5.1f}"
    )


HEADER = (
    f"{'route':<26} {'threads':>11} {'batch':>5} {'articles':>8} {'chunks':>7} {'wp/ch':>6} "
    f"{'wall s':>8} {'chunks/s':>9} {'art/s':>8} {'CPU-s/1k ch':>11} {'peak MB':>8} "
    f"{'setup s':>7} {'load':>5}"
)


def print_comparison(results: dict[str, dict[str, Any]]) -> None:
    print(HEADER)
    labels = {"ours": "(a) ours", "ours-shipped": "(a') ours, shipped model",
              "plain": "(b) plain llama-index", "plain-same-text": "(b') plain, no metadata"}
    for route, label in labels.items():
        if route in results:
            print(_row(label, results[route]))
    for route, label in labels.items():
        if route in results:
            print(f"  {label}: {results[route]['model']}")
    ours = results.get("ours")
    for route in ("ours-shipped", "plain", "plain-same-text"):
        plain = results.get(route)
        if ours is None or plain is None:
            continue
        speed = (ours["chunks"] / ours["wall_s"]) / (plain["chunks"] / plain["wall_s"])
        articles = plain["wall_s"] / ours["wall_s"]
        cpu = (plain["cpu_s"] / plain["chunks"]) / (ours["cpu_s"] / ours["chunks"])
        target = " (target: >= 2x chunks/s, aim 3x)" if route.startswith("plain") else ""
        print(
            f"\nours / {route}: {speed:.2f}x chunks/s, {articles:.2f}x articles/s (wall), "
            f"{cpu:.2f}x less CPU per chunk, peak RSS {ours['peak_rss_mb']:.0f} vs "
            f"{plain['peak_rss_mb']:.0f} MB{target}"
        )
        if "padded_tokens" in plain:
            waste = 1 - plain["tokens"] / max(plain["padded_tokens"], 1)
            print(f"  {route} embedded {plain['tokens'] / plain['chunks']:.0f} word-pieces per "
                  f"chunk (ours {ours['tokens'] / ours['chunks']:.0f}); {waste:.0%} of its model "
                  f"input was padding")
    if "reingest" in results:
        r = results["reingest"]
        print(
            f"\n(c) no-change re-ingest of {r['articles']} articles ({r['chunks']} chunks, "
            f"{r['embedded']} embedded): ingest() {r['wall_s']:.2f} s (target < 3 s); "
            f"whole command incl. interpreter, imports and model load {r['process_s']:.1f} s"
        )


def print_sweep(results: list[dict[str, Any]]) -> None:
    print(HEADER)
    for r in results:
        print(_row(f"ours t={r['threads']} b={r['batch']}", r))
    best = max(results, key=lambda r: r["chunks"] / r["wall_s"])
    print(f"\nfastest: threads={best['threads']} batch={best['batch']} "
          f"({best['chunks'] / best['wall_s']:.1f} chunks/s)")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=1000, help="articles to ingest (1,000)")
    parser.add_argument("--seed", type=int, default=7, help="synthetic corpus seed")
    parser.add_argument("--threads", type=int,
                        help="our embedder's onnxruntime threads (default: ingest_threads, "
                             "0 = all cores, as `assistant ingest` uses)")
    parser.add_argument("--batch", type=int, help="our embedder's batch size")
    parser.add_argument("--routes", default=",".join(ROUTES),
                        help=f"comma-separated subset of {','.join(ROUTES)}")
    parser.add_argument("--sweep", action="store_true",
                        help="also time our route with threads 1/2 x batch 1/8/16/32")
    parser.add_argument("--sweep-n", type=int, default=300, help="articles for --sweep (300)")
    parser.add_argument("--worker", choices=ROUTES, help=argparse.SUPPRESS)
    parser.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--store", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        if args.worker.startswith("plain"):
            result = worker_plain(args.corpus, args.store, args.worker == "plain-same-text")
        else:
            result = worker_ours(args.corpus, args.store, args.threads, args.batch, args.worker)
        print(RESULT_PREFIX + json.dumps(result, default=str), flush=True)
        return

    routes = [r.strip() for r in args.routes.split(",") if r.strip()]
    print(f"machine: {machine_description()}")
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        root = Path(tmp)
        corpus = root / "corpus"
        articles = write_corpus(corpus, args.n, args.seed)
        words = sum(len(a.body.split()) for a in articles)
        print(f"corpus: {len(articles)} synthetic articles (seed {args.seed}), "
              f"{words / len(articles):.0f} words on average\n")
        results: dict[str, dict[str, Any]] = {}
        for route in ROUTES[:-1]:
            if route in routes:
                print(f"running {route} ...", file=sys.stderr, flush=True)
                results[route] = run_worker(route, corpus, root / f"store-{route}",
                                            args.threads, args.batch)
        if "reingest" in routes:
            if "ours" not in results:  # a re-ingest needs a store built by our route
                run_worker("ours", corpus, root / "store-ours", args.threads, args.batch)
            print("running reingest ...", file=sys.stderr, flush=True)
            results["reingest"] = run_worker("reingest", corpus, root / "store-ours",
                                             args.threads, args.batch)
        print_comparison(results)

        if args.sweep:
            small = root / "corpus-sweep"
            write_corpus(small, args.sweep_n, args.seed)
            print(f"\nsweep: our route on {args.sweep_n} articles, one fresh process each")
            sweep = []
            for threads in SWEEP_THREADS:
                for batch in SWEEP_BATCHES:
                    print(f"running threads={threads} batch={batch} ...", file=sys.stderr,
                          flush=True)
                    sweep.append(run_worker("ours", small, root / f"sweep-{threads}-{batch}",
                                            threads, batch))
            print_sweep(sweep)


if __name__ == "__main__":
    main()
