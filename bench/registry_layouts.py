"""How to keep the registry in a Chroma server: the layouts assistant/registry.py chose between.

    python bench/registry_layouts.py                  # 3,000 synthetic articles
    python bench/registry_layouts.py --articles 1000

Each layout is written to a fresh `chroma run` server (its own folder, so its disk use is its
own), in groups of 80 articles (about 256 chunks, as `assistant ingest` writes):

- bodies as documents: one record per article, the body as the Chroma document;
- bodies compressed: the body zlib-compressed and base64-encoded in the metadata;
- sentences as embeddings: one record per sentence, its vector as the record's embedding;
- sentences packed: one record per chunk, its sentences' float16 vectors base64-encoded in
  the metadata.

Vectors are random unit vectors (their values do not matter here); texts, chunks and sentence
spans are real. Reads are timed as the assistant makes them: a whole scan of the articles, and
the 8 passages' bodies or sentences of one answer.
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import sys
import tempfile
import time
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ingest import machine_description, offline_environment
from query import _article
from scale import chroma_server, disk_mb

GROUP = 80  # articles per write


def write_layout(layout: str, client: Any, corpus: list[tuple[Any, list[Any]]],
                 rng: Any) -> list[float]:
    import numpy as np

    def unit(rows: int) -> np.ndarray:
        v = rng.standard_normal((rows, 384)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    collection = client.create_collection(layout.replace(" ", "-"), embedding_function=None)
    times = []
    for g in range(0, len(corpus), GROUP):
        group = corpus[g : g + GROUP]
        t = time.perf_counter()
        if layout == "bodies as documents":
            collection.add(ids=[a.id for a, _ in group], embeddings=[[1.0]] * len(group),
                           documents=[a.body for a, _ in group],
                           metadatas=[{"hash": a.content_hash} for a, _ in group])
        elif layout == "bodies compressed":
            collection.add(ids=[a.id for a, _ in group], embeddings=[[1.0]] * len(group),
                           metadatas=[{"hash": a.content_hash, "body": base64.b64encode(
                               zlib.compress(a.body.encode(), 6)).decode()} for a, _ in group])
        elif layout == "sentences as embeddings":
            ids, vectors, metadatas = [], [], []
            for _, chunks in group:
                for c in chunks:
                    for i, (s, v) in enumerate(zip(c.sentences, unit(len(c.sentences)),
                                                   strict=True)):
                        ids.append(f"{c.id}@{i}")
                        vectors.append(v)
                        metadatas.append({"chunk_id": c.id, "start": s.start, "end": s.end})
            collection.add(ids=ids, embeddings=np.array(vectors), metadatas=metadatas)
        else:
            chunks = [c for _, cs in group for c in cs]
            collection.add(ids=[c.id for c in chunks], embeddings=[[1.0]] * len(chunks),
                           metadatas=[{"sentences": json.dumps([[s.start, s.end]
                                                                for s in c.sentences]),
                                       "vectors": base64.b64encode(unit(len(c.sentences)).astype(
                                           np.float16).tobytes()).decode()} for c in chunks])
        times.append(time.perf_counter() - t)
    return times


def read_layout(layout: str, client: Any, corpus: list[tuple[Any, list[Any]]]) -> dict[str, float]:
    collection = client.get_collection(layout.replace(" ", "-"))
    chunk_ids = [c.id for _, cs in corpus for c in cs]
    out: dict[str, float] = {}
    if layout.startswith("bodies"):
        include = ["documents", "metadatas"] if layout == "bodies as documents" else ["metadatas"]
        t = time.perf_counter()
        offset = 0
        while True:
            page = collection.get(limit=1000, offset=offset, include=include)
            if layout == "bodies compressed":
                for m in page["metadatas"]:
                    zlib.decompress(base64.b64decode(m["body"]))
            offset += 1000
            if len(page["ids"]) < 1000:
                break
        out["scan_s"] = time.perf_counter() - t
        ids = [a.id for a, _ in corpus]
        picks = [[ids[(k * 37 + j * 101) % len(ids)] for j in range(8)] for k in range(50)]
        out["answer_ms"] = statistics.median(
            _timed(lambda p=p: collection.get(ids=p, include=include)) for p in picks)
    else:
        picks = [[chunk_ids[(k * 37 + j * 101) % len(chunk_ids)] for j in range(8)]
                 for k in range(50)]
        if layout == "sentences as embeddings":
            out["answer_ms"] = statistics.median(_timed(lambda p=p: collection.get(
                where={"chunk_id": {"$in": p}}, include=["embeddings", "metadatas"]))
                for p in picks)
        else:
            out["answer_ms"] = statistics.median(_timed(lambda p=p: collection.get(
                ids=p, include=["metadatas"])) for p in picks)
    return out


def _timed(action: Any) -> float:
    t = time.perf_counter()
    action()
    return (time.perf_counter() - t) * 1000


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    offline_environment()
    import chromadb
    import numpy as np
    from chromadb.config import Settings as ChromaSettings

    from assistant.chunking import chunk_article
    from assistant.config import Settings
    from assistant.embeddings import build_embedder

    print(f"machine: {machine_description()}")
    embedder = build_embedder(Settings())
    corpus = []
    for i in range(args.articles):
        article = _article(i, args.seed)
        corpus.append((article, chunk_article(article, embedder.count_tokens, 200, 30)))
    text_mb = sum(len(a.body.encode()) for a, _ in corpus) / 2**20
    chunks = sum(len(cs) for _, cs in corpus)
    sentences = sum(len(c.sentences) for _, cs in corpus for c in cs)
    print(f"{args.articles:,} articles, {text_mb:.1f} MB of text, {chunks:,} chunks, "
          f"{sentences:,} sentences\n")
    print(f"{'layout':<24} | {'write s':>8} | {'disk MB':>8} | {'full scan s':>11} | "
          f"{'one answer ms':>13}")
    for layout in ("bodies as documents", "bodies compressed", "sentences as embeddings",
                   "sentences packed"):
        print(f"{layout} ...", file=sys.stderr, flush=True)
        folder = Path(tempfile.mkdtemp(prefix="bench-layout-")) / "chroma"
        with chroma_server(folder) as url:
            host, port = url.rsplit(":", 1)
            client = chromadb.HttpClient(host=host.split("//")[1], port=int(port),
                                         settings=ChromaSettings(anonymized_telemetry=False))
            times = write_layout(layout, client, corpus, np.random.default_rng(args.seed))
            reads = read_layout(layout, client, corpus)
        scan = f"{reads['scan_s']:.2f}" if "scan_s" in reads else "-"
        print(f"{layout:<24} | {sum(times):>8.1f} | {disk_mb(folder):>8.0f} | {scan:>11} | "
              f"{reads['answer_ms']:>13.1f}")
    print("\none answer = the 8 passages' bodies, or their chunks' sentence spans and vectors")


if __name__ == "__main__":
    main()
