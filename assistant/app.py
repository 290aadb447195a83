"""`build(settings)`: the one place where real clients (Chroma, ONNX, OpenAI) are created."""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any

from assistant.config import Settings

if TYPE_CHECKING:
    from assistant.answerers.base import Answerer
    from assistant.answering import Asker
    from assistant.embeddings import Embedder
    from assistant.retrieval import Retriever
    from assistant.store import Store


def quiet_offline_environment() -> None:
    """Keep libraries from phoning home: this product runs with no network at all."""
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # llama-index ships tiktoken's data; point tiktoken at it without importing llama-index
    # here (that import alone costs seconds of start-up).
    spec = importlib.util.find_spec("llama_index.core")
    if spec is not None and spec.submodule_search_locations:
        folder = next(iter(spec.submodule_search_locations))
        os.environ.setdefault("TIKTOKEN_CACHE_DIR", os.path.join(folder, "_static", "tiktoken_cache"))


class Services:
    """The wired-up assistant. Heavy parts are built on first use, so `stats` stays light."""

    def __init__(self, settings: Settings, *, embedder: Embedder | None = None,
                 answerer: Answerer | None = None,
                 announce: Callable[[str], None] | None = None) -> None:
        self.settings = settings
        self._warming = threading.Lock()
        self._model_thread: threading.Thread | None = None
        # Told about slow one-off set-up (the CLI prints it), so a first run is not silent.
        self.announce = announce
        if embedder is not None:
            self.__dict__["embedder"] = embedder
        if answerer is not None:
            self.__dict__["answerer"] = answerer

    def open_store(self, create: bool = False) -> Store:
        """The store, opened once per Services (and created first when `create`)."""
        from assistant.store import Store, open_chroma

        if "store" in self.__dict__:
            return self.__dict__["store"]
        root = self.settings.store
        url = self.settings.chroma_url
        if not create and not url:
            Store.require(root)  # before anything is created in a folder that is not a store
        host_port = self.settings.chroma_host_port if url else None
        chroma = open_chroma(root, url, host_port, self.settings.chroma_token)
        store = Store(root, chroma, self.settings.collection,
                      exact_search_max_chunks=self.settings.exact_search_max_chunks,
                      create=create, lease_seconds=self.settings.writer_lease_seconds)
        self.__dict__["store"] = store
        return store

    @cached_property
    def store(self) -> Store:
        return self.open_store(create=False)

    @cached_property
    def embedder(self) -> Embedder:
        from assistant.embeddings import build_embedder

        return build_embedder(self.settings, self.announce)

    @cached_property
    def retriever(self) -> Retriever:
        from assistant.models import load_models
        from assistant.retrieval import Retriever

        return Retriever(self.store, self.embedder, load_models().fusion)

    @cached_property
    def answerer(self) -> Answerer:
        from assistant.answerers import build_answerer

        return build_answerer(self.settings, self.embedder)

    def readiness(self) -> dict[str, Any]:
        """Whether this process can answer now, for a load balancer's readiness check.

        Ready means: the store answers a real query, the model is loaded and a view of the
        index (articles, chunks, BM25) is in memory. The first call starts loading whatever
        is missing in the background, so a new replica becomes ready without a first query.
        """
        try:
            store = self.store
            generation = store.registry.generation()
            vectors = store.probe()
        except Exception as exc:  # any failure here means "not ready"
            return {"ready": False, "status": "error", "error": str(exc)}
        view = store.loaded_view()
        if view is None or view.generation != generation:
            store.warm()
        model = "embedder" in self.__dict__
        if not model:
            self._warm_model()
        failed = store.refresh_error() if view is None else None
        state: dict[str, Any] = {
            "ready": view is not None and model,
            "status": "ready" if view is not None and model else "loading",
            "generation": generation,
            "loaded_generation": None if view is None else view.generation,
            "articles": None if view is None else len(view.articles),
            "chunks": None if view is None else len(view.chunks),
            "vectors": vectors,
            "model_loaded": model,
        }
        if failed is not None:
            state.update(status="error", error=f"cannot load the index: {failed}")
        return state

    def _warm_model(self) -> None:
        with self._warming:
            if self._model_thread is None or not self._model_thread.is_alive():
                self._model_thread = threading.Thread(target=lambda: self.embedder,
                                                      name="warm-model", daemon=True)
                self._model_thread.start()

    @cached_property
    def asker(self) -> Asker:
        from assistant.answering import Asker

        return Asker(self.store, self.retriever, self.answerer, self.settings.top_k,
                     self.settings.max_question_chars, self.settings.llm_support_threshold)


def build(settings: Settings, **parts: object) -> Services:
    """The assistant for these settings; tests pass fakes through `parts`."""
    quiet_offline_environment()
    return Services(settings, **parts)  # type: ignore[arg-type]
