"""Answerers: turn a question and retrieved passages into an answer with `[n]` markers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from assistant.config import Settings

if TYPE_CHECKING:
    from assistant.answerers.base import Answerer
    from assistant.embeddings import Embedder


def openai_client(settings: Settings) -> Any:
    """The one place an OpenAI chat client is created (answerer and eval judge)."""
    from openai import OpenAI

    return OpenAI(
        api_key=settings.openai_api_key or "not-needed",
        base_url=settings.openai_base_url,
        timeout=settings.llm_timeout,
        max_retries=settings.llm_max_retries,
    )


def llm_base_url(settings: Settings) -> str:
    return settings.openai_base_url or "https://api.openai.com/v1"


def build_answerer(settings: Settings, embedder: Embedder) -> Answerer:
    """The answerer the settings choose."""
    from assistant.answerers.extractive import ExtractiveAnswerer, RefusalGate
    from assistant.models import load_models

    # The local model's word vectors, for the ranker's second pass (not from a server).
    token_vectors = getattr(embedder, "token_vectors", None)
    if settings.answerer == "openai":
        from assistant.answerers.llm import LLMAnswerer
        from assistant.prompts import PromptLibrary

        models = load_models()
        threshold = models.llm_gate if settings.llm_gate is None else settings.llm_gate
        # Built even when it never refuses (threshold 0): its scores also decide a second look.
        gate = RefusalGate(ExtractiveAnswerer(models, threshold=settings.refusal_threshold,
                                              token_vectors=token_vectors),
                           threshold)
        return LLMAnswerer(
            openai_client(settings),
            settings.llm_model,
            PromptLibrary(settings.prompts_dir),
            temperature=settings.llm_temperature,
            base_url=llm_base_url(settings),
            max_tokens=settings.llm_max_tokens,
            excerpt_sentences=settings.llm_excerpt_sentences,
            gate=gate,
            second_look=settings.llm_second_look,
        )
    return ExtractiveAnswerer(load_models(), threshold=settings.refusal_threshold,
                              token_vectors=token_vectors)
