"""Shared fixtures: the network is off, the ONNX model is real, stores live in temp dirs."""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
SEEDS = ROOT / "seeds"
CORPUS = FIXTURES / "corpus"
SEED_ID = "000_0c3e0a23974ec483"

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["ANONYMIZED_TELEMETRY"] = "False"
# A fresh cache, as on a new machine: the quantized model is derived once per test run, and
# every subprocess the tests start shares it.
os.environ["ASSISTANT_MODEL_CACHE"] = tempfile.mkdtemp(prefix="assistant-model-cache-")
# The tests decide the answerer; a developer's own key must not leak into them.
for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ASSISTANT_LLM", "ASSISTANT_STORE",
             "ASSISTANT_CHROMA_URL", "ASSISTANT_API_TOKEN", "ASSISTANT_EMBED_URL"):
    os.environ.pop(name, None)


def _is_loopback(address: Any) -> bool:
    if isinstance(address, (str, bytes)):
        return True  # unix sockets
    if not (isinstance(address, tuple) and address):
        return False
    host = str(address[0])
    try:
        return host in ("localhost", "") or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True, scope="session")
def _network_off() -> Iterator[None]:
    """Only loopback connections: anything else would not work on a fresh offline machine."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def guard(address: Any) -> None:
        if not _is_loopback(address):
            raise OSError(f"network is off in tests: refused connection to {address!r}")

    def connect(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            guard(address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            guard(address)
        return real_connect_ex(self, address)

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    yield
    socket.socket.connect = real_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = real_connect_ex  # type: ignore[method-assign]


@pytest.fixture(scope="session")
def embedder() -> Any:
    """The real ONNX MiniLM as the product runs it (quantized, cached), loaded once."""
    from assistant.config import Settings
    from assistant.embeddings import OnnxEmbedder

    settings = Settings()
    return OnnxEmbedder(threads=1, batch_size=settings.embed_batch_size, quantize=True,
                        cache_dir=settings.model_cache)


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`assistant ARGS` in a fresh process, from the repository root."""
    return subprocess.run([sys.executable, "-c", "from assistant.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def write_articles(folder: Path, articles: dict[str, tuple[str, str, str]]) -> Path:
    """Markdown articles with front matter in `folder` (created): id -> (title, date, body)."""
    folder.mkdir(parents=True, exist_ok=True)
    for article_id, (title, date, body) in articles.items():
        (folder / f"{article_id}.md").write_text(
            f'---\nid: "{article_id}"\ntitle: "{title}"\ndate: "{date}"\n---\n{body}\n',
            encoding="utf-8")
    return folder


def make_services(store: Path, embedder: Any, **settings: Any) -> Any:
    from assistant.app import build
    from assistant.config import Settings

    settings.setdefault("llm", "extractive")
    return build(Settings(store=store, **settings), embedder=embedder)


@pytest.fixture()
def services_factory(tmp_path: Path, embedder: Any) -> Any:
    def factory(name: str = "store", **settings: Any) -> Any:
        return make_services(tmp_path / name, embedder, **settings)

    return factory


@pytest.fixture(scope="session")
def news_services(tmp_path_factory: pytest.TempPathFactory, embedder: Any) -> Any:
    """Seeds plus the 46-article test corpus, ingested once for read-only tests."""
    from assistant.ingest import ingest

    services = make_services(tmp_path_factory.mktemp("news") / "store", embedder)
    report = ingest(services.open_store(create=True), services.embedder, [SEEDS, CORPUS])
    assert not report.skipped
    return services
