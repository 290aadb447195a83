"""Answerers: turn a question and retrieved passages into an answer with `[n]` markers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from assistant.config import Settings

if TYPE_CHECKING:
    from assistant.answerers.base import Answerer
    from assistant.embeddings import Embedder


def build_answerer(settings: Settings, embedder: Embedder) -> Answerer:
    """The answerer the settings choose; the one place the OpenAI client is created."""
    if settings.answerer == "openai":
        from openai import OpenAI

        from assistant.answerers.llm import LLMAnswerer
        from assistant.prompts import PromptLibrary

        client = OpenAI(
            api_key=settings.openai_api_key or "not-needed",
            base_url=settings.openai_base_url,
            timeout=settings.llm_timeout,
            max_retries=settings.llm_max_retries,
        )
        return LLMAnswerer(
            client,
            settings.llm_model,
            PromptLibrary(settings.prompts_dir),
            temperature=settings.llm_temperature,
            base_url=settings.openai_base_url or "https://api.openai.com/v1",
        )
    from assistant.answerers.extractive import ExtractiveAnswerer

    return ExtractiveAnswerer(threshold=settings.refusal_threshold)
