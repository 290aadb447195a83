"""Typed settings: the one reader of environment variables (prefix `ASSISTANT_`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from assistant.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PROMPTS = PROJECT_ROOT / "prompts"


class Settings(BaseSettings):
    """Every knob of the assistant. Tests build it directly: `Settings(store=tmp_path)`."""

    model_config = SettingsConfigDict(
        env_prefix="ASSISTANT_", extra="ignore", populate_by_name=True
    )

    # Where the index lives. With `chroma_url` set, everything goes to that Chroma server
    # (vectors, articles, the registry) and this folder keeps only caches (the BM25 index).
    store: Path = Path("vectorstore")
    chroma_url: str | None = None
    # Sent to the Chroma server as `Authorization: Bearer <token>`: `chroma run` checks no
    # credentials, so a server reachable beyond a private network sits behind a proxy that
    # checks this token (README, "Running on several machines").
    chroma_token: str | None = None
    collection: str = "news_chunks"
    # With a Chroma server, an ingest holds a lease on writing, renewed every third of this;
    # a crashed ingest on another machine blocks the next one for at most this long (one on
    # the same machine not at all).
    writer_lease_seconds: float = Field(30.0, ge=3, le=3600)
    # An embedded index of at most this many chunks is searched exactly from the vectors the
    # registry keeps, without opening Chroma (0: always Chroma). See store.py.
    exact_search_max_chunks: int = Field(20_000, ge=0, le=1_000_000)

    # The longest article ingest accepts. Real news stays far below (long-form pieces reach
    # about 200,000 characters); a bigger file is a dump whose embedding would take minutes.
    # Same default as articles.MAX_ARTICLE_CHARS.
    max_article_chars: int = Field(1_000_000, ge=1_000)

    # Chunking, in the embedding model's word-pieces (all-MiniLM-L6-v2 truncates at 256).
    chunk_tokens: int = Field(200, ge=32, le=256)
    chunk_overlap: int = Field(30, ge=0, le=128)

    # Embeddings: the bundled ONNX model unless an OpenAI-compatible endpoint is configured.
    embed_url: str | None = None
    embed_model: str = "all-MiniLM-L6-v2"
    embed_api_key: str | None = None
    # Answering embeds one short question per request: one thread each serves concurrent
    # requests best. Ingest embeds thousands of chunks in one process: all cores (0) measured
    # 1.6x faster than one on 2 idle cores (bench/README.md).
    embed_threads: int = Field(1, ge=0, le=64, description="onnxruntime intra-op threads; 0 = auto")
    ingest_threads: int = Field(0, ge=0, le=64, description="embedding threads for ingest; 0 = all cores")
    # One text per run is fastest for the quantized model (no padding at all) and keeps each
    # vector independent of its batch-mates (dynamic quantization scales per batch).
    embed_batch_size: int = Field(1, ge=1, le=512)
    # Quantize the shipped model's matrix products to int8 per channel (built once, cached):
    # about twice the throughput for cosine 0.99 to the shipped model. See bench/README.md.
    embed_quantize: bool = True
    model_cache: Path = Path.home() / ".cache" / "news-assistant"

    # Answering.
    llm: Literal["extractive", "openai"] | None = None
    llm_model: str = "gpt-4o-mini"
    # A local model on a CPU reads a long prompt slowly: Qwen2.5-1.5B on 2 busy cores took up to
    # 80 s per answer (bench/README.md), so the default leaves room for that.
    llm_timeout: float = Field(180.0, gt=0)
    llm_max_retries: int = Field(3, ge=0, le=10)
    llm_temperature: float = Field(0.0, ge=0, le=2)
    # Answers are one to three sentences; a cap stops a small model that rambles on.
    llm_max_tokens: int = Field(200, ge=0, le=32768, description="0 = no cap")
    # Send each passage's N most relevant sentences (with their neighbours) instead of the
    # whole chunk; 0 sends whole chunks.
    llm_excerpt_sentences: int = Field(0, ge=0, le=20)
    # A citation of an LLM answer counts only when the cited sentence supports the answer
    # sentence at least this much (assistant/support.py; measured in bench/README.md).
    llm_support_threshold: float = Field(0.5, ge=0, le=1)
    # The LLM is not asked when the extractive answerer's confidence that the passages answer
    # is below this; unset, the models file's `llm_gate` (set at training to refuse at most
    # 1 % of answerable questions); 0 always asks.
    llm_gate: float | None = Field(None, ge=0, le=1)
    # When the model refuses but the extractive answerer would answer, ask it once more with
    # only the best sentences (one more call, on refusals only).
    llm_second_look: bool = True
    openai_api_key: str | None = Field(
        None, validation_alias=AliasChoices("ASSISTANT_OPENAI_API_KEY", "OPENAI_API_KEY")
    )
    openai_base_url: str | None = Field(
        None, validation_alias=AliasChoices("ASSISTANT_OPENAI_BASE_URL", "OPENAI_BASE_URL")
    )
    prompts_dir: Path = DEFAULT_PROMPTS
    top_k: int = Field(8, ge=1, le=50)
    # The extractive answerer refuses when the probability that the passages answer is below
    # this; unset, the operating point chosen at training (assistant/models/answerer-v3.md).
    refusal_threshold: float | None = Field(None, ge=0, le=1)
    max_question_chars: int = 2000

    # Serving.
    api_token: str | None = None
    cors_origins: str | None = None
    # Seconds an idle keep-alive connection stays open, and that a client may take to send a
    # request's headers (from connecting, or from the end of the previous response): without
    # the second, a client trickling header bytes holds a connection forever.
    keep_alive_timeout: int = Field(5, ge=1, le=600)
    header_timeout: int = Field(10, ge=1, le=600)

    @field_validator("chroma_url", "chroma_token", "embed_url", "openai_base_url",
                     "openai_api_key", "api_token")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("chroma_token")
    @classmethod
    def _printable_token(cls, value: str | None) -> str | None:
        # What an HTTP header can carry (and Chroma's client accepts).
        if value is not None and not all(33 <= ord(c) < 127 for c in value):
            raise ValueError("use ASCII letters, digits and punctuation only, no spaces")
        return value

    @property
    def answerer(self) -> Literal["extractive", "openai"]:
        """The answerer in use: explicit choice, else `openai` when a key or URL is set."""
        if self.llm is not None:
            return self.llm
        return "openai" if (self.openai_api_key or self.openai_base_url) else "extractive"

    @property
    def chroma_host_port(self) -> tuple[str, int, bool]:
        """Split `chroma_url` into host, port and whether it uses TLS."""
        from urllib.parse import urlparse

        assert self.chroma_url
        parsed = urlparse(self.chroma_url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ConfigError(
                f"ASSISTANT_CHROMA_URL={self.chroma_url!r} is not a URL like http://127.0.0.1:8000"
            )
        ssl = parsed.scheme == "https"
        return parsed.hostname, parsed.port or (443 if ssl else 8000), ssl


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment plus explicit overrides, with a readable error."""
    from pydantic import ValidationError

    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**clean)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first["loc"]) or "settings"
        raise ConfigError(f"setting {name!r}: {first['msg']}") from None
