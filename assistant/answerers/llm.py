"""The LLM answerer: any OpenAI-compatible chat server (OpenAI, Ollama, vLLM, llama.cpp)."""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from assistant.answerers.base import NOT_IN_ARTICLES, Draft, Evidence, sentence_gap
from assistant.answerers.updates import earlier_line, value_key
from assistant.citations import MARKER, format_passages, latest_reports, normalize_markers
from assistant.errors import LLMError, PromptError
from assistant.keyword import terms, words
from assistant.prompts import PromptLibrary
from assistant.types import Passage, Turn

if TYPE_CHECKING:
    from assistant.answerers.extractive import RefusalGate, Scored

log = logging.getLogger(__name__)

# The offline ranker's best sentences a second look shows the model (with their neighbours).
SECOND_LOOK_SENTENCES = 3
# When a second look may follow, a streamed reply that starts like a refusal is held back
# until it is one or its complete words are this long, so a refusal is never shown before
# the second answer.
HOLD_CHARS = 40
# The first words of the refusals `_REFUSAL` knows.
_OPENERS = ("the", "not", "none", "there", "no", "i", "this", "that")

# How models say the passages do not answer: the project's own sentence, and the common ways
# small models put it (measured on Qwen2.5-1.5B). Only checked at the start of a reply.
_REFUSAL = re.compile(
    r"^\W*(the (articles?|passages?|sources?|texts?|provided \w+) (don'?t|do not|does not|doesn'?t)"
    r" (say|mention|contain|provide|specify|state|answer|include|give)"
    r"|not in the articles|none of the (passages|articles)|there is no (information|mention)"
    r"|no information|i (don'?t|do not) know|i (can'?t|cannot) (find|answer|determine)"
    r"|(this|that|the answer) is not (mentioned|stated|provided|given))",
    re.I,
)


def format_history(history: Sequence[Turn]) -> str:
    if not history:
        return "(none)"
    return "\n".join(f"{t.role}: {t.content}" for t in history)


def looks_like_refusal(text: str) -> bool:
    return bool(_REFUSAL.search(text.strip().replace("’", "'")))


def excerpt(passage: Passage, evidence: Evidence, sentences: int) -> str:
    """The passage's `sentences` most relevant sentences with their neighbours.

    Relevance is the share of the question's words a sentence has plus its embedding
    similarity to the question. Gaps between kept sentences are shown as "…". Falls back to
    the whole passage when its sentences are not known.
    """
    record = evidence.records.get(passage.chunk_id)
    body = evidence.body(passage.article.id)
    if record is None or body is None or len(record.sentences) <= sentences + 2:
        return passage.text
    wanted = set(terms(evidence.question))
    scores = np.zeros(len(record.sentences))
    if evidence.question_vector is not None and len(record.sentence_vectors):
        scores += record.sentence_vectors @ evidence.question_vector
    for i, (start, end) in enumerate(record.sentences):
        scores[i] += len(wanted & set(terms(body[start:end]))) / (len(wanted) or 1)
    best = [int(i) for i in np.argsort(-scores, kind="stable")[:sentences]]
    return _around(body, record.sentences, best)


def _around(body: str, sentences: Sequence[tuple[int, int]], chosen: Sequence[int]) -> str:
    """The chosen sentences with their neighbours, gaps shown as "…"."""
    keep: set[int] = set()
    for i in chosen:
        keep.update(j for j in (i - 1, i, i + 1) if 0 <= j < len(sentences))
    parts: list[str] = []
    previous = -1
    for i in sorted(keep):
        if parts and i != previous + 1:
            parts.append("…")
        start, end = sentences[i]
        parts.append(" ".join(body[start:end].split()))
        previous = i
    if min(keep) > 0:
        parts.insert(0, "…")
    if max(keep) < len(sentences) - 1:
        parts.append("…")
    return " ".join(parts)


def focus(evidence: Evidence, scored: Scored, sentences: int = SECOND_LOOK_SENTENCES,
          ) -> tuple[list[Passage], dict[int, str]]:
    """The passages of the offline ranker's best sentences, best first, each cut to those
    sentences and their neighbours: the short prompt of a second look.

    Of a story reported on several days only the latest report (up to the question's day)
    is shown: small models refuse when the reports' figures disagree (measured on the
    update set's development stories, bench/README.md).
    """
    by_n = {p.n: p for p in evidence.passages}
    latest = _latest_of_story(evidence)
    chosen: dict[int, list[int]] = {}
    taken = 0
    for c in scored.candidates:
        passage = by_n.get(c.n)
        record = evidence.records.get(passage.chunk_id) if passage is not None else None
        if passage is None or record is None or not record.sentences:
            continue
        # A headline is shown atop its passage anyway: with it, the passage's first sentence.
        index = 0 if c.is_title else next(
            (i for i, (start, _) in enumerate(record.sentences) if start == c.span.start), None)
        if index is None:
            continue
        shown = latest.get(passage.story_id or "", passage)
        if shown.article.id == passage.article.id:
            shown = passage  # another chunk of the latest report is shown as it is
        chosen.setdefault(shown.n, []).extend([index] if shown is passage else [])
        taken += 1
        if taken == sentences:
            break
    texts: dict[int, str] = {}
    for n, indices in chosen.items():
        passage = by_n[n]
        record, body = evidence.records.get(passage.chunk_id), evidence.body(passage.article.id)
        if record is None or body is None:
            continue
        texts[n] = (_around(body, record.sentences, sorted(set(indices))) if indices
                    else excerpt(passage, evidence, 2))
    return [by_n[n] for n in chosen if n in texts], texts


def _latest_of_story(evidence: Evidence) -> dict[str, Passage]:
    """Each story's latest report dated up to the question's day, among the passages."""
    today = (evidence.today or dt.date.today()).isoformat()
    latest: dict[str, Passage] = {}
    for p in evidence.passages:
        date = p.article.date
        if not p.story_id or not date or date > today:
            continue
        best = latest.get(p.story_id)
        if best is None or date > (best.article.date or ""):
            latest[p.story_id] = p
    return latest


def _undecided(text: str) -> bool:
    """Whether the start of a streamed reply may still turn out to be a refusal or bare
    markers; "Trump invited ..." is an answer from its first word. Anything `_REFUSAL` skips
    before its first word ("- ", "> ", a curly quote) is skipped here too, and a long start
    is decided on its complete words ("... does not mentio" may yet be a refusal)."""
    start = re.sub(r"^[^\w\[(【]+", "", text)
    if len(start) >= HOLD_CHARS:
        return len(start[:max(start.rfind(" "), start.rfind("\n"), 0)]) < HOLD_CHARS
    if start[:1] in ("", "[", "(", "【"):
        return True
    first = re.match(r"[a-z]*", start.lower())
    word = first.group() if first else ""
    if len(word) == len(start):  # the first word may not be complete yet
        return any(o.startswith(word) for o in _OPENERS)
    return word in _OPENERS


def _bare(text: str, passages: int) -> bool:
    """A reply with no words besides markers ("[2]"): the model pointed but did not answer."""
    return not words(MARKER.sub(" ", normalize_markers(text, passages)))


# The offline answer replaces an unsupported model answer only when the passages more likely
# than not answer the question (its confidence is a probability fitted on training questions):
# below that it answers unanswerable questions too often to speak for the model.
FALLBACK_CONFIDENCE = 0.5


def confident(draft: Draft) -> Draft | None:
    """`draft`, if it answers with at least FALLBACK_CONFIDENCE."""
    return draft if draft.grounded and (draft.confidence or 0.0) >= FALLBACK_CONFIDENCE else None


class LLMAnswerer:
    """Asks the model for an answer with `[n]` markers; citations are verified afterwards."""

    mode: Literal["extractive", "llm"] = "llm"

    def __init__(self, client: Any, model: str, prompts: PromptLibrary, *,
                 temperature: float = 0.0, base_url: str = "", max_tokens: int = 0,
                 excerpt_sentences: int = 0, gate: RefusalGate | None = None,
                 second_look: bool = True) -> None:
        self._client = client
        self.gate = gate
        self.ask_twice = second_look
        self._stream_usage = True
        self.model = model
        self.prompts = prompts
        self.temperature = temperature
        self.base_url = base_url
        self.max_tokens = max_tokens
        self.excerpt_sentences = excerpt_sentences
        self.label = f"LLM: {model}"
        prompts.require("answer", "passages", "history", "question")
        prompts.require("condense", "history", "question")
        prompts.template("answer_system")
        # The second look's instructions say its few sentences were picked to hold the answer:
        # told only "if no passage answers", the 1.5B model refused half of its second looks
        # (bench/README.md). Optional, so a prompts folder made before it still works.
        try:
            self.focused_system = prompts.template("answer_system_focused")
        except PromptError:
            self.focused_system = prompts.template("answer_system")

    def messages(self, evidence: Evidence, history: Sequence[Turn],
                 focused: Scored | None = None) -> list[dict[str, str]]:
        """The chat messages for this question: instructions, then passages and question.

        With `focused` (a second look), only the offline ranker's best sentences are sent.
        """
        passages: Sequence[Passage] = evidence.passages
        texts = None
        if focused is not None:
            passages, texts = focus(evidence, focused)
        elif self.excerpt_sentences:
            texts = {p.n: excerpt(p, evidence, self.excerpt_sentences) for p in evidence.passages}
        today = (evidence.today or dt.date.today()).isoformat()
        user = self.prompts.render(
            "answer",
            passages=format_passages(passages, texts, latest_reports(evidence.passages)),
            history=format_history(history),
            question=evidence.question,
            today=today,
        )
        system = self.focused_system if focused is not None else self.prompts.template(
            "answer_system")
        return [
            {"role": "system", "content": system.strip()},
            {"role": "user", "content": user},
        ]

    def _call(self, messages: list[dict[str, str]], stream: bool = False) -> Any:
        request: dict[str, Any] = {"model": self.model, "messages": messages,
                                   "temperature": self.temperature, "stream": stream}
        if self.max_tokens:
            request["max_tokens"] = self.max_tokens
        if stream and self._stream_usage:
            # OpenAI sends a streamed reply's token counts only when asked; a server that
            # does not know the option and answers 400 is asked again without it, once.
            try:
                return chat_completion(self._client, self.base_url, **request,
                                       stream_options={"include_usage": True})
            except LLMError as exc:
                if exc.status != 400:
                    raise
                self._stream_usage = False
        return chat_completion(self._client, self.base_url, **request)

    def condense(self, question: str, history: Sequence[Turn]) -> str:
        if not history:
            return question
        prompt = self.prompts.render("condense", history=format_history(history), question=question)
        reply = self._call([{"role": "user", "content": prompt}])
        text = (reply.choices[0].message.content or "").strip().strip('"')
        return text.splitlines()[0].strip() if text else question

    def gated(self, evidence: Evidence, history: Sequence[Turn]
              ) -> tuple[Scored | None, Draft | None]:
        """The gate's view of the passages, and the refusal to give without asking the model
        when they almost surely do not answer."""
        if not evidence.passages:  # e.g. every passage was published after the question's day
            return None, Draft(NOT_IN_ARTICLES, grounded=False)
        if self.gate is None:
            return None, None
        from assistant.answerers.extractive import dangling_reference

        scored = self.gate.scorer.score(evidence)
        # "How much did it cost?" with nothing before it: a model answers with any cost it
        # reads, as the extractive answerer would (which refuses it the same way).
        if scored.confidence < self.gate.threshold or (
                not history and dangling_reference(scored.info)):
            return scored, Draft(NOT_IN_ARTICLES, grounded=False, confidence=scored.confidence)
        return scored, None

    def second_look(self, scored: Scored | None) -> Scored | None:
        """The ranker's view to show the model again if it refuses, or None: only when the
        offline answerer would answer itself (confidence at or above its own refusal
        threshold) and has sentences to show.

        Small models refuse answerable questions when the answer is one sentence among eight
        passages (measured in bench/README.md); shown that sentence with its neighbours they
        answer. A second refusal is kept.
        """
        if not self.ask_twice or self.gate is None or scored is None \
                or scored.confidence < self.gate.scorer.threshold or not scored.candidates:
            return None
        return scored

    def draft(self, evidence: Evidence, history: Sequence[Turn]) -> Draft:
        scored, refusal = self.gated(evidence, history)
        if refusal is not None:
            return refusal
        reply = self._call(self.messages(evidence, history))
        text = (reply.choices[0].message.content or "").strip()
        usage = token_usage(getattr(reply, "usage", None))
        again = self.second_look(scored)
        if again is not None and self._refused(text, evidence):
            try:
                reply = self._call(self.messages(evidence, history, focused=again))
            except LLMError as exc:
                log.warning("second look failed, keeping the first reply: %s", exc)
            else:
                text = (reply.choices[0].message.content or "").strip()
                usage = added(usage, token_usage(getattr(reply, "usage", None)))
        return self._complete(text, usage, evidence, scored)

    def fallback(self, evidence: Evidence, history: Sequence[Turn]) -> Draft | None:
        """The offline answerer's answer, quoted from the passages, when it would answer
        itself: shown instead of a model's answer that no passage supports ("$1.1 billion"
        where the articles say $17.8 million). A refusal of the model's own is kept."""
        if self.gate is None:
            return None
        return confident(self.gate.scorer.draft(evidence, history))

    def _complete(self, text: str, usage: dict[str, int] | None, evidence: Evidence,
                  scored: Scored | None) -> Draft:
        draft = self._finish(text, usage)
        draft.confidence = scored.confidence if scored is not None else None
        self._note_earlier(draft, evidence, scored)
        return draft

    def _note_earlier(self, draft: Draft, evidence: Evidence, scored: Scored | None) -> None:
        """When the model gave the latest value of a fact the story's earlier reports gave
        differently, and did not say so, the earlier values follow as a quoted sentence.

        Small models rarely compare reports (bench/README.md, the update set); the extractive
        answerer finds the change (assistant/answerers/updates.py) and its sentence quotes the
        reports, so it is verified like an extractive answer.
        """
        if not draft.grounded or scored is None or self.gate is None:
            return
        update = self.gate.scorer.update_of(evidence, scored)
        if update is None or not update.earlier:
            return
        said = f" {value_key(MARKER.sub(' ', draft.text))} "
        if f" {value_key(update.current.value)} " not in said or any(
                f" {value_key(r.value)} " in said for r in update.earlier):
            return
        draft.addendum = earlier_line(update)
        for r in update.earlier:
            draft.quotes.setdefault(r.candidate.n, []).append(r.candidate.span)
        draft.updates = [update.to_dict(evidence.question)]

    def _refused(self, text: str, evidence: Evidence) -> bool:
        return not text or looks_like_refusal(text) or _bare(
            text, max((p.n for p in evidence.passages), default=0))

    def stream(self, evidence: Evidence, history: Sequence[Turn]) -> Iterator[str | Draft]:
        scored, refusal = self.gated(evidence, history)
        if refusal is not None:
            yield refusal.text
            yield refusal
            return
        again = self.second_look(scored)
        pieces: list[str] = []
        first: dict[str, int] = {}
        held = again is not None
        for delta in self._deltas(self.messages(evidence, history), first):
            pieces.append(delta)
            if not held:
                yield delta
            elif not _undecided("".join(pieces)) and not self._refused("".join(pieces),
                                                                       evidence):
                held = False  # an answer: show what was held back, then the rest as it comes
                yield "".join(pieces)
        text = "".join(pieces).strip()
        usage = first or None
        if held and again is not None and self._refused(text, evidence):
            second: dict[str, int] = {}
            shown: list[str] = []
            try:
                for delta in self._deltas(self.messages(evidence, history, focused=again),
                                          second):
                    shown.append(delta)
                    yield delta
            except LLMError as exc:
                if shown:
                    raise
                log.warning("second look failed, keeping the first reply: %s", exc)
                yield "".join(pieces)
            else:
                text = "".join(shown).strip()
                usage = added(usage, second or None)
        elif held and pieces:
            yield "".join(pieces)
        draft = self._complete(text, usage, evidence, scored)
        if draft.addendum:
            yield sentence_gap(text) + draft.addendum
        yield draft

    def _deltas(self, messages: list[dict[str, str]], usage: dict[str, int]) -> Iterator[str]:
        """A streamed reply's text pieces; `usage` gets its token counts if the server sends
        them."""
        import openai

        chunks = self._call(messages, stream=True)
        try:
            for chunk in chunks:
                usage.update(token_usage(getattr(chunk, "usage", None)) or {})
                if chunk.choices and chunk.choices[0].delta.content:
                    yield chunk.choices[0].delta.content
        except openai.OpenAIError as exc:
            raise LLMError(f"the LLM stream broke off: {_short(str(exc))}") from None

    def _finish(self, text: str, usage: dict[str, int] | None = None) -> Draft:
        return reply_draft(text, usage)


def reply_draft(text: str, usage: dict[str, int] | None = None) -> Draft:
    """The draft a model's reply makes: its own refusal is kept as it said it; anything else
    is checked claim by claim afterwards (assistant/support.py)."""
    if not text or looks_like_refusal(text):
        return Draft(text or NOT_IN_ARTICLES, grounded=False, usage=usage)
    return Draft(text, grounded=True, usage=usage)


def added(first: dict[str, int] | None, second: dict[str, int] | None
          ) -> dict[str, int] | None:
    """Token counts of two calls together; the one call's counts when the server sent none
    for the other (a lower bound), None when it sent none at all."""
    if first is None or second is None:
        return first or second
    return {k: first[k] + second[k] for k in first}


def token_usage(usage: Any) -> dict[str, int] | None:
    """The server's token counts from an OpenAI `usage` object, when it sent one."""
    if usage is None or getattr(usage, "prompt_tokens", None) is None:
        return None
    prompt, completion = int(usage.prompt_tokens), int(usage.completion_tokens or 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion}


def chat_completion(client: Any, base_url: str, **request: Any) -> Any:
    """`client.chat.completions.create(**request)` with failures turned into clear LLMErrors.

    The openai client itself retries 429 and 5xx with backoff (`max_retries`). Messages show
    the server's URL without credentials (AssistantError redacts it).
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
        timeout = getattr(client, "timeout", None)
        within = f" within {timeout:g} s" if isinstance(timeout, int | float) else " in time"
        raise LLMError(
            f"the LLM server at {base_url} did not answer{within}; raise ASSISTANT_LLM_TIMEOUT "
            "(a local model on a CPU can need minutes) or check the server"
        ) from None
    except openai.APIConnectionError:
        raise LLMError(
            f"cannot reach the LLM server at {base_url}; is it running? "
            "(set OPENAI_BASE_URL, or ASSISTANT_LLM=extractive to answer offline)"
        ) from None
    except openai.APIStatusError as exc:
        raise LLMError(
            f"the LLM server at {base_url} failed with HTTP {exc.status_code}: {_short(exc.message)}",
            exc.status_code,
        ) from None
    except openai.OpenAIError as exc:
        raise LLMError(f"LLM request failed: {_short(str(exc))}") from None


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
