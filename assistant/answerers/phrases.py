"""Answer phrases: the name, number or date inside a sentence that answers the question.

Candidates are found by shape (quoted titles, runs of capitalised words, numbers with their
unit, dates) and scored by a learned linear model on SPAN_FEATURES; the answerer shows the best
one as the short answer line when the model is confident enough.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from assistant.keyword import STOPWORDS, terms
from assistant.question import DATE, NUMBER_WORDS, QuestionInfo, gives_measure

_TOKEN = re.compile(r"[$£€]?\d[\d,.:]*%?|[A-Za-z][\w'’.&-]*|[“”\"‘’']")
_CONNECTORS = {"of", "the", "de", "du", "la", "le", "von", "van", "and", "&", "for", "upon", "on"}
MONTHS = frozenset("january february march april may june july august september october "
                    "november december".split())
CALENDAR = frozenset("monday tuesday wednesday thursday friday saturday sunday".split()) | MONTHS
_AGE = re.compile(r"[\w]+-years?-old", re.I)
_QUOTED = re.compile(r"[“\"]([^“”\"]{2,80})[”\"]|‘([^‘’]{2,80})’|(?<![A-Za-z])'([^']{2,80})'(?![A-Za-z])")
_NUMBER_PHRASE = re.compile(
    # A score or vote ("6-3", "5–2") is one value; a currency may carry its country ("US$");
    # pence may be written "205p".
    rf"(?<![\w-])(?:\d{{1,3}}[-–]\d{{1,3}}(?![\d\w-])|(?:(?:US|A|C|NZ|HK|S)?[$£€]\s?)?"
    rf"(?:\d{{1,3}}(?:,\d{{3}})+(?:\.\d+)?|\d+(?:\.\d+)?(?:p\b(?!\.))?"
    rf"|(?:{NUMBER_WORDS})(?:[- ](?:{NUMBER_WORDS}))*)(?![\d\w])"
    r"(?:\s?%|\s?(?:percent|per cent|million|billion|thousand|trillion|bn|m)\b)?)",
    re.I,
)
# The word after an amount belongs to the answer when it is what was counted ("312 points",
# "95,000 homes") or a unit; not when the sentence simply goes on ("1964, carries").
_UNIT = re.compile(
    r"\s((?:[a-z]+s)|mph|km|kg|g|mg|lbs?|oz|cm|mm|ml|miles?|metres?|meters?|feet|foot|acres?|"
    r"tons?|tonnes?|hectares?|"
    r"people|percent|degrees?|years?|months?|weeks?|days?|hours?|minutes?|seconds?)\b"
)
_DATE_PHRASE = re.compile(
    r"\b(?:(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday),?\s)?"
    r"(?:(?:January|February|March|April|May|June|July|August|September|October|November|"
    r"December)(?:\s\d{1,2}(?:st|nd|rd|th)?)?(?:,?\s(?:1[89]|20)\d\d)?"
    r"|\d{1,2}(?:st|nd|rd|th)?\s(?:January|February|March|April|May|June|July|August|September|"
    r"October|November|December)(?:\s(?:1[89]|20)\d\d)?"
    r"|(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
    r"|(?:(?:early|mid|late|the end of|the start of|the spring of|the summer of|the autumn of|"
    r"the fall of|the winter of|spring|summer|autumn|fall|winter)[- ])?(?:1[89]|20)\d\d)\b"
)
_TIME_PHRASE = re.compile(
    r"\b(?:about |around )?\d{1,2}(?::\d\d)?\s?(?:a\.m\.|p\.m\.|am\b|pm\b)"
    r"(?:,? (?:on )?(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday))?"
    r"|\b(?:noon|midnight)\b"
)
# A wire story's dateline: "KERRIN POINT, March 12 (Meridian Wire) - ...".
_DATELINE = re.compile(r"\s*[A-Z][A-Z.'’ -]+,\s*$")
_PLACE_PREPOSITIONS = {"in", "at", "from", "to", "near", "outside", "inside", "across"}
_SPAN_WORDS = re.compile(r"[A-Za-z0-9][\w'’&.-]*")

SPAN_FEATURES = (
    "quoted", "capital", "number", "date",
    "type_match", "type_miss_typed", "in_question", "near_question", "far_question",
    "words", "position", "at_start", "from_title", "after_place_preposition",
    "who_person", "where_place", "what_any_capital", "how_many_number", "when_date",
    "has_stopword_edge", "name_question", "right_after_match", "unit_in_question", "same_kind",
    "distance", "title_only", "quoted_title_only", "quoted_name", "title_named_indirectly",
    "previous_value", "measure_match", "measure_miss",
)
# "up from 4,500", "compared with 12 a year ago": the value a report says it replaced.
PREVIOUS = re.compile(r"\b(?:from|than|compared (?:with|to)|previously|was|were)\s+(?:about |"
                       r"around |some |nearly |almost )?$", re.I)


@dataclass(frozen=True)
class Phrase:
    """A candidate answer phrase at `[start, end)` of its sentence text."""

    start: int
    end: int
    text: str
    kind: str  # quoted | capital | number | date


def phrases(text: str) -> list[Phrase]:
    """Every candidate phrase of the sentence, without duplicates."""
    found: dict[tuple[int, int], Phrase] = {}

    def add(start: int, end: int, kind: str) -> None:
        piece = text[start:end]
        stripped = piece.strip(" ,.;:!?\"'“”‘’()")
        if not stripped or len(stripped) > 80:
            return
        offset = start + piece.index(stripped)
        if _DATELINE.match(text[:offset]) and _DATE_PHRASE.match(stripped):
            return  # the day a wire story was filed, not a day it tells of
        end_at = offset + len(stripped)
        # "a.m." and "U.S." keep their last full stop.
        if re.search(r"(?:^|[\s.])[A-Za-z]\.[A-Za-z]$", stripped) and text[end_at:end_at + 1] == ".":
            end_at += 1
        key = (offset, end_at)
        if key not in found:
            found[key] = Phrase(key[0], key[1], text[key[0]:key[1]], kind)

    for m in _QUOTED.finditer(text):
        group = next(i for i in (1, 2, 3) if m.group(i))
        add(m.start(group), m.end(group), "quoted")
    for m in _DATE_PHRASE.finditer(text):
        add(m.start(), m.end(), "date")
    times = [(m.start(), m.end()) for m in _TIME_PHRASE.finditer(text)]
    for start, end in times:
        add(start, end, "date")
        core = re.match(r"(?:about |around )?[\d:]+\s?(?:a\.m\.|p\.m\.|am|pm)?", text[start:end])
        if core:  # "5:30 a.m." as well as "about 5:30 a.m. on Thursday"
            add(start, start + core.end(), "date")
    for m in _NUMBER_PHRASE.finditer(text):
        if any(start <= m.start() < end for start, end in times):
            continue
        if not re.search(r"\d", m.group()) and not re.match(NUMBER_WORDS, m.group(), re.I):
            continue
        before = text[:m.start()].rstrip().split()
        if before and before[-1][:1].isupper() and not before[-1].endswith((".", ",", ":")) \
                and len(before) > 1:
            continue  # "Pier 4", "Phase 3": part of a name, not an amount
        add(m.start(), m.end(), "number")
        unit = _UNIT.match(text, m.end())
        if unit and unit.group(1).lower() not in STOPWORDS:
            add(m.start(), unit.end(), "number")
    for start, end in _capital_runs(text):
        add(start, end, "capital")
    return sorted(found.values(), key=lambda p: (p.start, p.end))


def candidate_phrases(info: QuestionInfo, text: str, headline: bool = False) -> list[Phrase]:
    """The phrases of `text` that could answer: not those that only modify a word of the
    question itself ("the wildly popular South Korean show" for "Which ... show ...?").

    In a headline a name comes before its verb ("Dunlin Tunnel reopens", "Ada Quarrie wins
    Thornfield Prize"), so there only a modifier of the noun asked about is dropped, and not
    even that when it names a thing of that kind ("Brightwell kettles recalled" for "Which
    brand of electric kettle ...?").
    """
    found = phrases(text)
    # "Who won ...?": the name right before "won" is who did it, not a modifier.
    verb = re.match(r"\s*who\s+([a-z]+)", info.text, re.I)
    acted = set(terms(verb.group(1))) if verb and verb.group(1).lower() not in _AUXILIARIES \
        else set()
    starts = [m.start() for m in _SPAN_WORDS.finditer(text)
              if (stem := set(terms(m.group())))
              and (stem & info.asked_kind if headline else info.synonym_matches(stem))
              and not stem & acted]
    return [p for p in found
            if not any(0 < s - p.end <= 2 for s in starts) or p.kind in ("number", "date")
            or (headline and names_kind(info, text, p))]


_AUXILIARIES = frozenset("is was are were will would has have had did does do can could may might "
                         "should shall must".split())


def mostly_asked(info: QuestionInfo, text: str) -> bool:
    """Whether the phrase is the question's own subject: half or more of its words are the
    question's, or it ends in a name the question uses ("Democrat Nancy Pelosi" does not answer
    "Who defeated Nancy Pelosi?", nor "Israeli Prime Minister Benjamin Netanyahu" "Who invited
    Netanyahu?"), whatever else the sentence says. The kind of thing asked for is not its
    subject: "Fenwick Dairy" answers "Which dairy ...?"."""
    raw = [w.strip(".'’") for w in _SPAN_WORDS.findall(text)]
    said = [w.lower() for w in raw if w.lower() not in STOPWORDS] or [w.lower() for w in raw]
    said = [w for w in said if not set(terms(w)) & info.asked_kind] or said
    if said and sum(w in info.words for w in said) >= len(said) / 2:
        return True
    names = {w.lower() for name in info.entities for w in name.split()}
    return bool(raw) and raw[-1][:1].isupper() and raw[-1].lower() in names


def _capital_runs(text: str) -> list[tuple[int, int]]:
    """Runs of capitalised words ("Maura Healey", "Bank of England"), sentence start included."""
    runs: list[tuple[int, int]] = []
    tokens = list(_SPAN_WORDS.finditer(text))
    i = 0
    while i < len(tokens):
        if not tokens[i].group()[0].isupper():
            i += 1
            continue
        j = i
        while j + 1 < len(tokens):
            nxt = tokens[j + 1]
            gap = text[tokens[j].end():nxt.start()]
            if gap not in (" ", "-"):
                break
            if nxt.group()[0].isupper() or nxt.group()[0].isdigit():
                j += 1
            elif (nxt.group().lower() in _CONNECTORS and j + 2 < len(tokens)
                  and tokens[j + 2].group()[0].isupper()
                  and tokens[j + 2].group().rstrip(".").lower() not in CALENDAR  # "Kew on Monday"
                  and text[nxt.end():tokens[j + 2].start()] == " "):
                j += 2
            else:
                break
        first = i
        # A sentence-initial "The" or other stopword, or an age ("Sixteen-year-old Lena
        # Brandt"), is not part of the name.
        while first <= j and (tokens[first].group().lower() in STOPWORDS
                              or _AGE.fullmatch(tokens[first].group())):
            first += 1
        if first <= j:
            runs.append((tokens[first].start(), tokens[j].end()))
            # "Lydia Chen of Channel 6" is also "Lydia Chen" and "Channel 6".
            for k in range(first + 1, j):
                if tokens[k].group().lower() in _CONNECTORS:
                    runs.append((tokens[first].start(), tokens[k - 1].end()))
                    runs.append((tokens[k + 1].start(), tokens[j].end()))
        i = j + 1
    return runs


def names_kind(info: QuestionInfo, text: str, p: Phrase) -> bool:
    """Whether the name `p` of `text` names a thing of the kind the question asks for:
    'Fenwick Dairy' for 'Which dairy ...', 'Brightwell' in 'Brightwell kettles recalled' for
    'Which brand of electric kettle ...'."""
    if not info.asked_kind or p.kind != "capital":
        return False
    stems = [set(terms(w)) for w in _SPAN_WORDS.findall(p.text)]
    following = _SPAN_WORDS.findall(text[p.end:])[:1]
    kind_after = bool(following) and bool(set(terms(following[0])) & info.asked_kind)
    kind_last = bool(stems) and bool(stems[-1] & info.asked_kind)
    # More than the kind's own words, and not the question's names.
    own = [w for w in _SPAN_WORDS.findall(p.text)
           if not set(terms(w)) & info.asked_kind and w.lower() not in info.words]
    return bool(own) and (kind_last or kind_after)


def span_features(info: QuestionInfo, text: str, candidates: list[Phrase],
                  from_title: bool, sentence: str = "") -> np.ndarray:
    """One row of SPAN_FEATURES per candidate phrase of `text` (a headline, when `from_title`;
    `sentence` is then the best body sentence, which may name the thing only indirectly)."""
    x = np.zeros((len(candidates), len(SPAN_FEATURES)))
    if not candidates:
        return x
    tokens = list(_SPAN_WORDS.finditer(text))
    n_tokens = max(len(tokens), 1)
    matches = [t.start() for t in tokens
               if (stem := terms(t.group())) and info.synonym_matches(set(stem))]
    match_ends = [t.end() for t in tokens
                  if (stem := terms(t.group())) and info.synonym_matches(set(stem))]
    typed = info.kind != "any"
    kinds = [p.kind for p in candidates]
    # "the hit crime drama", "the paper mill": the best sentence names the thing the question
    # asks about only by description, so its name may be in the headline.
    asked = re.search(r"\b(?:which|what)\s+((?:[\w'’-]+\s+){0,2}[\w'’-]+)", info.text, re.I)
    heads = {t for w in asked.group(1).split() for t in terms(w)} if asked else set()
    indirect = from_title and any(
        re.search(rf"\b(?:the|its|their|his|her|this|a|an) (?:[\w'’-]+ ){{0,4}}{re.escape(w)}\b",
                  sentence, re.I)
        for w in _SPAN_WORDS.findall(sentence) if set(terms(w)) & heads)
    for i, p in enumerate(candidates):
        span_words = [w.lower() for w in _SPAN_WORDS.findall(p.text)]
        in_question = (sum(w.strip(".'’") in info.words for w in span_words) / len(span_words)
                       if span_words else 1.0)
        first_token = next((k for k, t in enumerate(tokens) if t.start() >= p.start), n_tokens)
        distance = min((abs(m - p.start) for m in matches if not p.start <= m < p.end),
                       default=len(text))
        before = text[:p.start].split()
        prev_word = before[-1].lower().strip(",") if before else ""
        kind_entity = p.kind in ("capital", "quoted")
        gap_before = min((p.start - e for e in match_ends if 0 <= p.start - e <= 25), default=99)
        last_word = span_words[-1] if span_words else ""
        unit_terms = set(terms(last_word)) if p.kind == "number" and len(span_words) > 1 else set()
        match = ((info.kind == "entity" and kind_entity) or (info.kind == p.kind)
                 or (info.kind == "date" and p.kind == "number" and bool(DATE.search(p.text))))
        words = len(span_words)
        # The phrase and what follows it: "24," after a name is an age, "40 percent" a share.
        gives = info.measure is not None and gives_measure(
            text[max(0, p.start - 2):p.end + 10], info.measure)
        x[i] = (
            float(p.kind == "quoted"),
            float(p.kind == "capital"),
            float(p.kind == "number"),
            float(p.kind == "date"),
            float(match),
            float(typed and not match),
            in_question,
            float(distance <= 40),
            float(distance > 120),
            min(words, 8) / 8,
            first_token / n_tokens,
            float(first_token <= 1),
            float(from_title),
            float(prev_word in _PLACE_PREPOSITIONS),
            float(info.wh == "who" and p.kind == "capital" and words >= 2),
            float(info.wh == "where" and kind_entity and prev_word in _PLACE_PREPOSITIONS),
            float(info.wh in ("what", "which") and info.kind == "any" and kind_entity),
            float(info.kind == "number" and p.kind == "number"),
            float(info.wh == "when" and p.kind == "date"),
            float(bool(span_words) and (span_words[0] in STOPWORDS or span_words[-1] in STOPWORDS)),
            float(info.asks_name and kind_entity),
            float(gap_before <= 25),
            float(bool(unit_terms) and bool(info.synonym_matches(unit_terms))),
            min(kinds.count(p.kind), 6) / 6,
            min(math.log1p(distance) / 6, 1.0),
            float(from_title and not indirect and p.text.lower() not in sentence.lower()),
            float(from_title and p.kind == "quoted" and p.text.lower() not in sentence.lower()),
            # A short quoted name ("Gearbox Gus"), not a fragment of someone's speech.
            float(p.kind == "quoted" and len(span_words) <= 4 and p.text[:1].isupper()),
            float(indirect and kind_entity and p.text.lower() not in sentence.lower()),
            float(bool(PREVIOUS.search(text[max(0, p.start - 30):p.start]))),
            float(gives),
            float(info.measure is not None and not gives),
        )
    return x
