"""Thumbs up or down on answers, kept with the index, and turned into `assistant eval` fixtures.

Ratings are appended to `<store>/feedback.jsonl`, one JSON object a line. Ingest and
`--rebuild` never touch that file (they rewrite the registry and Chroma only). A note added
later to a rating is one more line with the same id; when reading, the last line of an id
wins, so nothing is ever rewritten in place and an interrupted write loses at most that line.

`export()` turns ratings into fixture lines, so the complaints of users become regression
questions: a thumbs-down with a note ("the right answer is ...") becomes an answerable question
with that answer, a thumbs-up keeps a right answer (or a right refusal) right, and what cannot
be scored without a person (a thumbs-down with no note, or on a refusal) is listed to review.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from assistant.errors import InputError
from assistant.keyword import terms
from assistant.types import Answer, ArticleMeta

FEEDBACK_FILE = "feedback.jsonl"
MAX_NOTE_CHARS = 1000
MAX_CITATIONS = 20
# A note's answer found in more articles than this says too little about where it is.
MAX_NOTE_ARTICLES = 5
Rating = Literal["up", "down"]
RATINGS: tuple[Rating, ...] = ("up", "down")


@dataclass(frozen=True)
class CitedQuote:
    """What a rating keeps of one citation: enough to find the quote in its article again."""

    n: int
    article_id: str
    title: str
    quote: str
    start: int
    end: int
    field: Literal["body", "title"] = "body"


@dataclass(frozen=True)
class Feedback:
    """One rating of one answer, with the answer as it was given."""

    id: str
    rating: Rating
    question: str
    answer: str
    grounded: bool
    mode: str
    question_date: str  # YYYY-MM-DD: the day the question was asked (its "today")
    created: str  # ISO timestamp, UTC
    citations: tuple[CitedQuote, ...] = ()
    note: str | None = None
    short_answer: str | None = None
    model: str | None = None
    # Taken back by its author (the thumb clicked again): kept in the file, never exported.
    withdrawn: bool = False

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["citations"] = [asdict(c) for c in self.citations]
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Feedback:
        citations = tuple(CitedQuote(**c) for c in raw.get("citations") or ())
        return cls(**{**raw, "citations": citations})

    @classmethod
    def of_answer(cls, answer: Answer, rating: Rating, asked: dt.date,
                  note: str | None = None) -> Feedback:
        """A new rating of an answer the assistant just gave."""
        return new_feedback(
            rating, answer.question, answer.answer, answer.grounded, answer.mode, asked,
            [CitedQuote(c.n, c.article_id, c.title, c.quote, c.start, c.end, c.field)
             for c in answer.citations],
            note=note, short_answer=answer.short_answer, model=answer.model)


def check_note(note: str | None, field: str = "note") -> str | None:
    """The note, stripped (None when blank); an InputError naming `field` when too long."""
    if note is None or not note.strip():
        return None
    note = note.strip()
    if len(note) > MAX_NOTE_CHARS:
        raise InputError(f"{field} is {len(note):,} characters long; the limit is "
                         f"{MAX_NOTE_CHARS:,}", field)
    return note


def new_feedback(rating: Rating, question: str, answer: str, grounded: bool, mode: str,
                 asked: dt.date, citations: Sequence[CitedQuote], *, note: str | None = None,
                 short_answer: str | None = None, model: str | None = None) -> Feedback:
    if rating not in RATINGS:
        raise InputError(f"rating must be 'up' or 'down', not {rating!r}", "rating")
    if len(citations) > MAX_CITATIONS:
        raise InputError(f"an answer has at most {MAX_CITATIONS} citations", "citations")
    return Feedback(
        id=uuid.uuid4().hex, rating=rating, question=question, answer=answer,
        grounded=grounded, mode=mode, question_date=asked.isoformat(),
        created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        citations=tuple(citations), note=check_note(note), short_answer=short_answer,
        model=model)


@dataclass
class FeedbackLog:
    """The ratings of one index: `<store>/feedback.jsonl`."""

    root: Path
    unreadable: int = 0  # lines of the file that could not be read at the last `all()`

    @property
    def path(self) -> Path:
        return self.root / FEEDBACK_FILE

    def add(self, item: Feedback) -> Feedback:
        """Append one rating (or a later version of it) as one line, under a lock."""
        line = (json.dumps(item.to_dict(), ensure_ascii=False) + "\n").encode("utf-8")
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # two servers or threads never interleave lines
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                line = b"\n" + line  # a line cut short by a crash stays a line of its own
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        return item

    def add_note(self, feedback_id: str, note: str | None) -> Feedback:
        """The rating `feedback_id` with this note, stored as its newest version."""
        found = self.get(feedback_id)
        if found is None:
            raise InputError(f"no feedback with id {feedback_id!r}", "id")
        return self.add(replace(found, note=check_note(note)))

    def withdraw(self, feedback_id: str) -> None:
        """Takes the rating `feedback_id` back (a newest version marked withdrawn)."""
        found = self.get(feedback_id)
        if found is not None:
            self.add(replace(found, withdrawn=True))

    def get(self, feedback_id: str) -> Feedback | None:
        return next((f for f in self.all() if f.id == feedback_id), None)

    def all(self) -> list[Feedback]:
        """Every rating in its newest version, oldest rating first; withdrawn ones left out."""
        latest: dict[str, Feedback] = {}
        self.unreadable = 0
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        for line in lines:
            if not line.strip():
                continue
            try:
                item = Feedback.from_dict(json.loads(line))
            except (ValueError, TypeError):
                self.unreadable += 1  # a line cut short by a crash, or edited by hand
                continue
            latest[item.id] = item  # dicts keep the first insertion's place
        return [item for item in latest.values() if not item.withdrawn]


# -- fixtures ---------------------------------------------------------------------------------


@dataclass
class Export:
    """Fixture lines `assistant eval` accepts, and the ratings a person has to look at."""

    fixtures: list[dict[str, Any]] = field(default_factory=list)
    review: list[dict[str, Any]] = field(default_factory=list)


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _without_markers(text: str) -> str:
    from assistant.evaluate import strip_markers

    return strip_markers(text)


def _articles_holding(answer: str, question: str, candidates: Iterable[str],
                      text_of: Callable[[str], str]) -> list[str]:
    """The articles with a sentence that gives the note's answer. A short answer ("12") is
    in many sentences about other things ("section 12"): the sentence must then also share a
    word with the question."""
    from assistant.chunking import split_sentences
    from assistant.evaluate import contains_answer

    short = len(terms(answer)) < 2
    asked = set(terms(question))

    def gives(text: str) -> bool:
        return any(contains_answer(text[s.start:s.end], [answer])
                   and (not short or bool(asked & set(terms(text[s.start:s.end]))))
                   for s in split_sentences(text))

    return [a for a in _unique(candidates) if gives(text_of(a))]


def export(items: Sequence[Feedback], articles: Mapping[str, ArticleMeta],
           body_of: Callable[[str], str | None]) -> Export:
    """Fixture lines for `items` (the newest rating of each question wins) and the rest to
    review. Every fixture line is checked with the parser `assistant eval` uses."""
    from assistant.evaluate import parse_question

    def text_of(article_id: str) -> str:
        meta = articles.get(article_id)
        return f"{meta.title}\n{body_of(article_id) or ''}" if meta else ""

    newest: dict[tuple[str, str], Feedback] = {}
    for item in items:
        key = (" ".join(item.question.lower().split()), item.question_date)
        newest.pop(key, None)  # a later rating of the same question replaces the earlier one
        newest[key] = item
    out = Export()
    for item in newest.values():
        cited = _unique(c.article_id for c in item.citations if c.article_id in articles)
        base: dict[str, Any] = {
            "id": f"feedback-{item.id[:12]}",
            "question": item.question,
            "question_date": item.question_date,
            "feedback_id": item.id,
            "rating": item.rating,
        }
        evidence = _unique(" ".join(c.quote.split()) for c in item.citations if c.field == "body")
        line: dict[str, Any] | None = None
        reason = ""
        if item.rating == "up" and not item.grounded:
            line = {**base, "type": "unanswerable", "answers": [], "article_ids": []}
        elif item.rating == "up":
            answer = item.short_answer or _without_markers(item.answer)
            if cited:
                line = {**base, "type": "answerable", "answers": [answer], "article_ids": cited,
                        "evidence": evidence}
            else:
                reason = "rated right, but its cited articles are no longer in the index"
        elif item.note:
            answer = re.sub(r"^\s*the right answer is\b[:\s]*", "", item.note, flags=re.I)
            answer = answer.strip().rstrip(".")
            holding = _articles_holding(answer, item.question, cited, text_of) or \
                _articles_holding(answer, item.question, articles, text_of)
            if 0 < len(holding) <= MAX_NOTE_ARTICLES:
                line = {**base, "type": "answerable", "answers": [answer],
                        "article_ids": holding, "note": item.note}
            elif holding:
                reason = (f"the note's answer {answer!r} is in {len(holding)} articles; "
                          "list the ones that answer the question")
            else:
                reason = f"the note's answer {answer!r} is in no article of the index"
        elif item.grounded:
            reason = "rated wrong with no note: the right answer is not known"
        else:
            reason = "refused, and rated wrong: find the answer and the article that gives it"
        if line is not None:
            parse_question(line, f"feedback {item.id}")  # what `assistant eval` will read
            out.fixtures.append(line)
        else:
            out.review.append({**base, "type": "answerable", "answers": [], "article_ids": [],
                               "review": reason, "given_answer": item.answer,
                               "note": item.note, "cited_article_ids": cited})
    return out


def stats(items: Sequence[Feedback], exported: Export, unreadable: int = 0) -> dict[str, Any]:
    """Counts for `assistant feedback stats`."""
    refusals = [f for f in items if not f.grounded]
    dates = sorted(f.created[:10] for f in items)
    modes: dict[str, dict[str, int]] = {}
    for f in items:
        counts = modes.setdefault(f.mode, {"up": 0, "down": 0})
        counts[f.rating] += 1
    return {
        "ratings": len(items),
        "up": sum(f.rating == "up" for f in items),
        "down": sum(f.rating == "down" for f in items),
        "down_with_note": sum(f.rating == "down" and bool(f.note) for f in items),
        "refusals_rated": {"up": sum(f.rating == "up" for f in refusals),
                           "down": sum(f.rating == "down" for f in refusals)},
        "by_mode": modes,
        "fixtures": len(exported.fixtures),
        "to_review": len(exported.review),
        "first": dates[0] if dates else None,
        "last": dates[-1] if dates else None,
        "unreadable_lines": unreadable,
    }
