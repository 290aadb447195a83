"""The LLM answerer: any OpenAI-compatible chat server (OpenAI, Ollama, vLLM, llama.cpp)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Literal

from assistant.answerers.base import NOT_IN_ARTICLES, Draft, Evidence
from assistant.citations import format_passages
from assistant.errors import LLMError
from assistant.prompts import PromptLibrary
from assistant.types import Turn

REFUSAL_MARKERS = ("the articles don't say", "the articles do not say", "not in the articles")


def format_history(history: Sequence[Turn]) -> str:
    if not history:
        return "(none)"
    return "\n".join(f"{t.role}: {t.content}" for t in history)


def looks_like_refusal(text: str) -> bool:
    low = text.strip().lower().replace("’", "'")
    return any(low.startswith(m) or low == m for m in REFUSAL_MARKERS)


class LLMAnswerer:
    """Asks the model for an answer with `[n]` markers; citations are verified afterwards."""

    mode: Literal["extractive", "llm"] = "llm"

    def __init__(self, client: Any, model: str, prompts: PromptLibrary, *,
                 temperature: float = 0.0, base_url: str = "") -> None:
        self._client = client
        self.model = model
        self.prompts = prompts
        self.temperature = temperature
        self.base_url = base_url
        self.label = f"LLM: {model}"
        prompts.require("answer", "passages", "history", "question")
        prompts.require("condense", "history", "question")
        prompts.template("answer_system")

    def _messages(self, evidence: Evidence, history: Sequence[Turn]) -> list[dict[str, str]]:
        user = self.prompts.render(
            "answer",
            passages=format_passages(evidence.passages),
            history=format_history(history),
            question=evidence.question,
        )
        return [
            {"role": "system", "content": self.prompts.template("answer_system").strip()},
            {"role": "user", "content": user},
        ]

    def _call(self, messages: list[dict[str, str]], stream: bool = False) -> Any:
        return chat_completion(self._client, self.base_url, model=self.model, messages=messages,
                               temperature=self.temperature, stream=stream)

    def condense(self, question: str, history: Sequence[Turn]) -> str:
        if not history:
            return question
        prompt = self.prompts.render("condense", history=format_history(history), question=question)
        reply = self._call([{"role": "user", "content": prompt}])
        text = (reply.choices[0].message.content or "").strip().strip('"')
        return text.splitlines()[0].strip() if text else question

    def draft(self, evidence: Evidence, history: Sequence[Turn]) -> Draft:
        reply = self._call(self._messages(evidence, history))
        text = (reply.choices[0].message.content or "").strip()
        return self._finish(text, token_usage(getattr(reply, "usage", None)))

    def stream(self, evidence: Evidence, history: Sequence[Turn]) -> Iterator[str | Draft]:
        import openai

        pieces: list[str] = []
        usage = None
        chunks = self._call(self._messages(evidence, history), stream=True)
        try:
            for chunk in chunks:
                usage = token_usage(getattr(chunk, "usage", None)) or usage  # some servers send it
                if not chunk.choices:
                    continue
                delta = chunk.choices[0].delta.content or ""
                if delta:
                    pieces.append(delta)
                    yield delta
        except openai.OpenAIError as exc:
            raise LLMError(f"the LLM stream broke off: {_short(str(exc))}") from None
        yield self._finish("".join(pieces).strip(), usage)

    def _finish(self, text: str, usage: dict[str, int] | None = None) -> Draft:
        if not text or looks_like_refusal(text):
            return Draft(text or NOT_IN_ARTICLES, grounded=False, usage=usage)
        return Draft(text, grounded=True, usage=usage)


def token_usage(usage: Any) -> dict[str, int] | None:
    """The server's token counts from an OpenAI `usage` object, when it sent one."""
    if usage is None or getattr(usage, "prompt_tokens", None) is None:
        return None
    prompt, completion = int(usage.prompt_tokens), int(usage.completion_tokens or 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion}


def chat_completion(client: Any, base_url: str, **request: Any) -> Any:
    """`client.chat.completions.create(**request)` with failures turned into clear LLMErrors.

    The openai client itself retries 429 and 5xx with backoff (`max_retries`).
    """
    import openai

    try:
        return client.chat.completions.create(**request)
    except openai.AuthenticationError:
        raise LLMError(
            f"the LLM server at {base_url} rejected the API key (401); check OPENAI_API_KEY"
        ) from None
    except openai.RateLimitError:
        raise LLMError(
            f"the LLM server at {base_url} kept rate-limiting (429) after retries; try again later"
        ) from None
    except openai.APITimeoutError:
        raise LLMError(
            f"the LLM server at {base_url} did not answer in time; "
            "raise ASSISTANT_LLM_TIMEOUT or check the server"
        ) from None
    except openai.APIConnectionError:
        raise LLMError(
            f"cannot reach the LLM server at {base_url}; is it running? "
            "(set OPENAI_BASE_URL, or ASSISTANT_LLM=extractive to answer offline)"
        ) from None
    except openai.APIStatusError as exc:
        raise LLMError(
            f"the LLM server at {base_url} failed with HTTP {exc.status_code}: {_short(exc.message)}"
        ) from None
    except openai.OpenAIError as exc:
        raise LLMError(f"LLM request failed: {_short(str(exc))}") from None


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
