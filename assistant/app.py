"""`build(settings)`: the one place where real clients (Chroma, ONNX, OpenAI) are created."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING

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
        if not create:
            Store.require(root)
        root.mkdir(parents=True, exist_ok=True)
        host_port = self.settings.chroma_host_port if self.settings.chroma_url else None
        store = Store(root, open_chroma(root, self.settings.chroma_url, host_port),
                      self.settings.collection, self.settings.exact_search_max_chunks)
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

    @cached_property
    def asker(self) -> Asker:
        from assistant.answering import Asker

        return Asker(self.store, self.retriever, self.answerer, self.settings.top_k,
                     self.settings.max_question_chars, self.settings.llm_support_threshold)


def build(settings: Settings, **parts: object) -> Services:
    """The assistant for these settings; tests pass fakes through `parts`."""
    quiet_offline_environment()
    return Services(settings, **parts)  # type: ignore[arg-type]
