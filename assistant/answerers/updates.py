"""When the news changed: the same fact given differently by the reports of one story.

The best sentence's answer phrase is compared with the sentences of the story's other reports
that say the same thing (they share the words of the best sentence that answer the question)
and hold a phrase of the same kind. Different values become an `Update`: the value of the
latest report dated on or before the question's day is current, the others are earlier.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from assistant.answerers.phrases import (
    CALENDAR,
    MONTHS,
    Phrase,
    candidate_phrases,
    span_features,
)
from assistant.keyword import terms
from assistant.models import LinearScorer
from assistant.question import (
    NUMBER_WORDS,
    QuestionInfo,
    asks_count,
    asks_current,
    asks_outcome,
    asks_reason_or_manner,
    synonym_groups,
)

_NUMBER_WORD = re.compile(NUMBER_WORDS)
# Candidates this far down the ranking are about something else.
UPDATE_DEPTH = 12
# Another report's sentence must answer the question nearly as well as the best one: at most
# this far below it in the sentence ranker's logit (reports of one fact measured -0.1 to -3.7
# on the training corpora, sentences about another fact of the story -4.3 and below).
MAX_LOGIT_GAP = 4.0
# A later report's best sentence may word an amount asked about as it stands now quite unlike
# the question ("the number of confirmed fatalities stands at 17" for "the latest death toll"):
# it may be this far below the best sentence.
LATER_LOGIT_GAP = 6.0
# Asked how a story stands, the latest report's best sentence answers if it is at most this far
# below the best sentence (an earlier report's, which the ranker read as closer to the words).
OUTCOME_LOGIT_GAP = 2.0
# Of the words the best sentence shares with the question, how many another report's
# sentence must share too to be about the same fact.
SAME_FACT_SHARE = 0.6


@dataclass(frozen=True)
class Report:
    """One report's value of the fact: the phrase, the sentence it is in, the report's date."""

    candidate: Any  # extractive.Candidate (not imported: that module imports this one)
    value: str
    date: str


@dataclass(frozen=True)
class Update:
    """The fact's value in the latest report, and the different values reported before
    (none when the reports differ only in values of another measure)."""

    current: Report
    earlier: list[Report]

    def to_dict(self, fact: str) -> dict[str, Any]:
        def one(r: Report) -> dict[str, Any]:
            return {"n": r.candidate.n, "value": r.value, "date": r.date}

        return {"fact": fact, "current": one(self.current), "earlier": [one(r) for r in self.earlier]}


_NUMBERS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty".split())}


def value_key(value: str) -> str:
    """A value as compared across reports: 'Eleven' and '11' are one value."""
    tokens = re.findall(r"[a-z0-9.]+", value.lower().replace(",", ""))
    return " ".join(_NUMBERS.get(t, t) for t in tokens)


_MONEY_UNITS = frozenset(terms("pence penny pound pounds dollar dollars euro euros cent cents "
                               "yen francs"))


# The value a report says it replaced: "up from the £2.4 million", "revised from the
# provisional 38.6 percent", "rose to 26 from 23", "had been due to open on April 6". Not the
# span model's PREVIOUS ("was", "than": "Turnout was 41 percent" is the report's own value).
REPLACED = re.compile(
    r"(?:\b(?:up|down|increased|decreased|rose|risen|fell|fallen|dropped|revised|raised|"
    r"lowered|cut|reduced|changed|moved|pushed back|brought forward)"
    r"|\b(?:rose|risen|increased|fell|fallen|dropped|revised|raised|lowered|cut|reduced|climbed|"
    r"jumped) (?:to|at) [$£€]?[\d.,]+(?: \w+)?) from (?:the |a |an |its |their )?(?:\w+ )?$"
    r"|\bcompared (?:with|to) (?:the |a |an )?(?:\w+ )?$"
    r"|\bpreviously (?:estimated|reported|put|given|set|scheduled|expected|announced)"
    r"(?: at| as| on| for)?\s+$"
    r"|\bhad been (?:due|set|scheduled|expected|planned|slated)(?: to \w+)?"
    r"(?: on| for| in| at)?\s+$|\b(?:initially|originally) (?:put|set|estimated|gave|"
    r"scheduled|planned|expected)(?: \w+)?(?: at| as| on| for)?\s+$", re.I)
# Who a count counts, where reports of one fact word it differently.
_PEOPLE = frozenset(terms("people persons residents victims passengers individuals"))


# The last word of a place's name, and any word of an organisation's.
_PLACE_ENDS = frozenset("street road avenue lane square station park bridge river lake "
                        "county city town village harbour harbor port airport stadium".split())
_ORGANISATION_WORDS = frozenset(
    "authority council company corporation inc ltd plc group association union department "
    "agency commission board bank university college school hospital club party court police "
    "ministry services trust foundation institute committee office".split())


def _measure(value: str) -> str:
    """What a value counts: 'percent' ('41 percent', '4.2%'), 'money' ('$1.2 billion',
    '455 pence'), 'year' ('1937') or 'count' ('18,400 ballots', 'Eleven', 'April 6'); for a
    name, 'place' ('Fulton Street'), 'organisation' ('Riverton Metro Transit Authority') or
    'name' (any other)."""
    name = re.findall(r"[a-z]+", value.lower())
    if name and not re.search(r"\d", value) and not any(
            _NUMBER_WORD.fullmatch(w) or w in CALENDAR for w in name):
        if name[-1] in _PLACE_ENDS:
            return "place"
        if _ORGANISATION_WORDS & set(name):
            return "organisation"
        return "name"
    if "%" in value:
        return "percent"
    if re.search(r"[$£€]|\d(?:\.\d+)?p$", value.strip()):
        return "money"
    if re.fullmatch(r"(?:in )?(?:1[89]|20)\d\d", value.strip()):
        return "year"
    found = re.search(r"\d[\d,.]*\s*(?:(?:thousand|million|billion|trillion)\b\s*)?([A-Za-z]*)",
                      value, re.I)
    unit = terms(found.group(1)) if found else []
    if unit and unit[0] in ("percent", "percentag"):
        return "percent"
    return "money" if unit and unit[0] in _MONEY_UNITS else "count"


def _unit(value: str) -> str | None:
    """The thing an amount counts ('flats' in '22 flats'); None for a bare number, a sum, a
    share, and anything not an amount (a name, a date: 'Jane Doe', '6 April')."""
    tokens = value.split()
    amount = len(tokens) > 1 and (tokens[0][:1].isdigit()
                                  or bool(_NUMBER_WORD.fullmatch(tokens[0].lower())))
    last = tokens[-1] if tokens else ""
    unit = terms(last) if amount and last.isalpha() and last.lower() not in CALENDAR else []
    if not unit or unit[0] in _MONEY_UNITS or _NUMBER_WORD.fullmatch(tokens[-1].lower()) \
            or unit[0] in ("percent", "percentag"):
        return None
    return "people" if unit[0] in _PEOPLE else unit[0]


def plausible(info: QuestionInfo, phrase: Phrase, text: str) -> bool:
    """Whether a phrase may be the value asked for: not one its sentence says was replaced
    ("11, up from eight"), and for a count ("How many ...?") not a bare decimal (an
    earthquake's magnitude 6.1)."""
    return not (REPLACED.search(text[max(0, phrase.start - 40):phrase.start])
                or (asks_count(info.text) and re.fullmatch(r"\d+\.\d+", phrase.text.strip())))


def same_measure(a: str, b: str, strict: bool = False) -> bool:
    """Whether two values can be one fact's: '41 percent' and '18,400 ballots' cannot, nor
    '22 flats' and 'five residents', nor the year 1937 and April 6. `strict`: nor '15' and
    '25 mph' (a count told shortly and one with its unit)."""
    measures = {_measure(a), _measure(b)}
    # A name of a kind not known may be a place's or an organisation's.
    if len(measures) > 1 and not (len(measures) == 2 and "name" in measures
                                  and measures <= {"name", "place", "organisation"}):
        return False
    unit_a, unit_b = _unit(a), _unit(b)
    if not unit_a or not unit_b:
        # "nine" and "13 people": the same count, told shortly
        return not strict or unit_a == unit_b
    return unit_a == unit_b or bool(synonym_groups().get(unit_a, frozenset())
                                    & synonym_groups().get(unit_b, frozenset()))


def value_in(model: LinearScorer, info: QuestionInfo, text: str, kind: str,
             prefer: str | None = None, own_only: bool = False) -> Phrase | None:
    """The likeliest phrase of `kind` ("number", "date" or a name) in `text`; the one equal to
    `prefer` (the value a headline gave) when there is one. With `own_only`, None when every
    such phrase is a value the sentence says was replaced ("had been due on April 6")."""
    names = ("capital", "quoted")
    found = [p for p in candidate_phrases(info, text)
             if p.kind == kind or (kind in names and p.kind in names)]
    if not found:
        return None
    same = [p for p in found if prefer is not None and value_key(p.text) == value_key(prefer)]
    if same:
        return same[0]
    if asks_count(info.text):  # a count is a whole number
        found = [p for p in found if not re.fullmatch(r"\d+\.\d+", p.text.strip())]
    # "up from 4,500": the value this report replaced, not its own.
    own = [p for p in found if plausible(info, p, text)]
    if (own_only and not own) or not found:
        return None
    found = own or found
    probabilities = model.probability(span_features(info, text, found, False, text))
    return found[int(np.argmax(probabilities))]


def find_update(info: QuestionInfo, ranked: list[Any], top_phrase: Phrase | None,
                dates: dict[int, str | None], stories: dict[int, str | None],
                span_model: LinearScorer, today: dt.date) -> Update | None:
    """The update of the fact the best sentence answers, if the story's reports disagree.

    Args:
        ranked: candidates best first (extractive.Candidate, headlines too); the first answers.
        top_phrase: the answer phrase in the first one's text.
        dates, stories: each passage number's article date and story id.
    """
    # How a story stands ("What happened to the strike?") is told, not a value that changed.
    if not ranked or top_phrase is None or asks_reason_or_manner(info.text) or (
            info.kind == "any" and asks_outcome(info.text)):
        return None
    best = ranked[0]
    story, best_date = stories.get(best.n), dates.get(best.n)
    if not story or not best_date:
        return None
    if info.wh == "who":
        person = top_phrase if top_phrase.kind == "capital" else value_in(
            span_model, info, best.text, "capital")
        gone = successor(info, ranked, best, person.text if person else None, dates, stories,
                         today)
        if gone:
            return gone
    shared = info.synonym_matches(set(terms(best.text)))
    kind = top_phrase.kind
    reports = [Report(best, top_phrase.text, best_date)]
    # Each report's entry in `reports`; one holding a value of another measure ("58 minutes"
    # beside a £2.95 toll) still makes the latest report answer, and gives way to a sentence
    # of that report with this fact's value further down.
    entry = {best.article_id: 0}
    named = replaced_values(info, best.text, kind)
    asked = _asked_words(info, best.text)
    for depth, c in enumerate(ranked[1:], start=1):
        date = dates.get(c.n)
        if stories.get(c.n) != story or not date or date > today.isoformat() or (
                c.article_id in entry and (entry[c.article_id] == 0 or same_measure(
                    reports[entry[c.article_id]].value, top_phrase.text))):
            continue
        # A sentence looking back at the superseded value says nothing of the report's own.
        phrase = value_in(span_model, info, c.text, kind, own_only=True)
        if phrase is None:
            continue
        # Reports that name each other's values are about one fact however differently they
        # word it ("has reached 11, up from eight" and "has risen to eight"); others must
        # answer the question nearly as well and share its words with the best sentence.
        names = replaced_values(info, c.text, kind)
        linked = value_key(phrase.text) in named or bool(
            names & {value_key(r.value) for r in reports})
        # Further down, only a sentence naming the same measure with every word of the
        # question the best sentence has, besides names ("cut to £3.20 each way" for "the car
        # toll ... now", where follow-ups drop "Port Allerby and Sandwick").
        alike = (depth < UPDATE_DEPTH and _answers_alike(info, best, shared, c)) or (
            len(asked) >= 2 and asked <= _asked_words(info, c.text)
            and same_measure(phrase.text, top_phrase.text, strict=True))
        if not linked and not alike:
            continue
        if c.article_id in entry:
            if not same_measure(phrase.text, top_phrase.text):
                continue
            reports[entry[c.article_id]] = Report(c, phrase.text, date)
        else:
            entry[c.article_id] = len(reports)
            reports.append(Report(c, phrase.text, date))
        named |= names
    if asks_current(info.text) and (top_phrase.kind == "number" or (
            top_phrase.kind == "date" and _calendar_day(top_phrase.text))):
        reports += _later_reports(info, ranked, best, top_phrase, entry, dates, stories,
                                  span_model, today)
    values = {value_key(r.value) for r in reports}
    if len(values) < 2:
        return None
    reports.sort(key=lambda r: r.date, reverse=True)
    current = restated(reports[0], reports[1:], ranked[:UPDATE_DEPTH], info, span_model, kind)
    # A value of another measure ("18,400 ballots" beside "41 percent" turnout) is another
    # fact, not an earlier value; the latest report still answers.
    earlier = [r for r in reports[1:] if value_key(r.value) != value_key(current.value)
               and same_measure(r.value, current.value)
               and not (kind in ("capital", "quoted") and _still_named(r.value, current, ranked))]
    return Update(current, earlier)


# A person a report says has gone: "Gwyneth Abernant has withdrawn", "Eskdale quits", "have
# sacked head coach Fintan Drummond". Whoever a report names beside them holds the post now.
_PUT_OUT = r"(?:sacked|fired|dismissed|ousted|removed)"
_GONE = (r"(?:withdrawn|withdraws|withdrew|resigned|resigns|quit|quits|stepped down|"
         r"steps down|stood down|stands down|pulled out|pulls out|left|leaves|retired|retires)")
_LEFT = rf"(?:{_PUT_OUT}|{_GONE})"
# "Slade has resigned", "Voss was sacked"; not "The Gulls have sacked ...", who did it.
_DEPARTED_AFTER = re.compile(
    rf"^(?:, [^,]{{1,40}},)? (?:(?:has |have |had |was |were |is )?(?:been )?{_GONE}"
    rf"|(?:has |have |had )?been {_PUT_OUT}|(?:was|were|is) {_PUT_OUT})\b")
_DEPARTED_BEFORE = re.compile(r"\b(?:sacked|fired|dismissed|ousted|replaced|replaces|replacing|"
                              r"succeeds|succeeded|succeeding)(?: (?:its|their|the|his|her|"
                              r"head|chief|coach|executive|manager|chairman|chair|leader|"
                              r"candidate|boss|captain|director|mayor|president),?){0,4} $")
# How a report names who takes over: "would stand in her place", "will take charge as interim
# head coach", "as Independents turn to Rennick".
_IN_PLACE = re.compile(r"\b(?:in (?:his|her|their) place|take[sn]? (?:over|charge)|took (?:over|"
                       r"charge)|replac\w*|succeed\w*|successor|appoint\w*|named|interim|"
                       r"acting|caretaker|will (?:run|lead)|turns? to|turned to|chosen|picked|"
                       r"instead)\b", re.I)
# "Who is ...?", "Who coaches ...?": who holds the post as of the day asked, not who did once.
_ASKS_PRESENT = re.compile(r"^\W*who(?:'s| (?:is|are|now|currently|still|has|(?!was\b)[a-z]+s))\b",
                           re.I)
# A post someone holds ("Who coaches ...?", "Who is in charge of ...?", "... the candidate ...").
_ASKS_POST = re.compile(r"\b(?:coach\w*|manag\w*|chief|executive|boss|head|leader|leads?|"
                        r"leading|candidate|captain|chair\w*|director|president|mayor|minister|"
                        r"governor|secretary|editor|principal|superintendent|commissioner|"
                        r"in charge|runs?|running|helm)\b", re.I)
# Asked about the leaving itself ("Who resigned?"), the one who left is the answer.
_ASKS_LEAVING = re.compile(rf"\b(?:{_LEFT}|sack|fire|dismiss|oust|resign|withdraw|step down|"
                           r"stand down|leave|retire|replace[ds]?|succeed(?:s|ed)?|replac\w*)\b",
                           re.I)


def departed(name: str, text: str) -> bool:
    """Whether the text says the person named has gone (resigned, been sacked, withdrawn)."""
    for m in _mention(name).finditer(text):
        if _DEPARTED_AFTER.match(text[m.end():]) or _DEPARTED_BEFORE.search(text[:m.start()]):
            return True
    return False


def successor(info: QuestionInfo, ranked: list[Any], best: Any, name: str | None,
              dates: dict[int, str | None], stories: dict[int, str | None],
              today: dt.date) -> Update | None:
    """For "Who is ...?" answered with a person a report of the story (as late as the best
    sentence's or later) says has gone, the person that report names in their place: "Tobias
    Rennick ... would stand in her place" after "Gwyneth Abernant has withdrawn". When the best
    sentence names nobody who has gone (`name`), the latest later report saying so tells who."""
    if _ASKS_LEAVING.search(info.text) or not _ASKS_POST.search(info.text) or not (
            _ASKS_PRESENT.search(info.text) or asks_current(info.text)):
        return None
    story, best_date = stories.get(best.n), dates.get(best.n) or ""
    reports = [c for c in ranked if stories.get(c.n) == story
               and best_date <= (dates.get(c.n) or "") <= today.isoformat()]
    gone = next((c for c in reports if name and departed(name, c.text)), None)
    if gone is None:
        # A later report than the best sentence's, the latest first; within one, the ranker's
        # order. (In the best sentence's own report, the one who left is news it tells beside
        # its answer: "... will be Marcus Ebright, after the first choice, Renata Voss, withdrew".)
        later = [c for c in reports if (dates.get(c.n) or "") > best_date]
        for c in sorted(later, key=lambda c: dates.get(c.n) or "", reverse=True):
            left = next((p.text for p in candidate_phrases(info, c.text) if p.kind == "capital"
                         and _measure(p.text) == "name" and departed(p.text, c.text)), None)
            if left:
                gone, name = c, left
                break
    if gone is None or name is None:
        return None
    # The post asked about is the one that changed hands ("Who is the captain?" is not answered
    # by a new head coach).
    post = {t for m in _ASKS_POST.finditer(info.text) for t in terms(m.group())}
    name_words = {w.lower() for w in name.split()}
    for c in ranked:
        if c.article_id != gone.article_id or not _IN_PLACE.search(c.text) or not post & (
                info.synonym_matches(set(terms(c.text)) | set(terms(gone.text)))):
            continue
        found = [p for p in candidate_phrases(info, c.text) if p.kind == "capital"
                 and _measure(p.text) == "name" and not departed(p.text, c.text)
                 and not {w.lower() for w in p.text.split()} & (name_words | info.words)]
        if found:
            # The first full name: the subject of "Ottilie Fairbairn, who spent 22 years at
            # Granton Foods, took over", the object of "named assistant coach Maeve Kinsella".
            phrase = ([p for p in found if len(p.text.split()) >= 2] or found)[0]
            current = Report(c, phrase.text, dates.get(c.n) or best_date)
            # Earlier reports that gave the one who has gone, one per report.
            earlier: dict[str, Report] = {}
            for e in ranked:
                date = dates.get(e.n) or ""
                if stories.get(e.n) == story and date < current.date \
                        and e.article_id not in earlier and _mention(name).search(e.text):
                    earlier[e.article_id] = Report(e, name, date)
            return Update(current, list(earlier.values()))
    return None


def _mention(name: str) -> re.Pattern[str]:
    """The person named in full, or by surname."""
    return re.compile(rf"\b(?:{re.escape(name)}|{re.escape(name.split()[-1])})\b")


def latest_report_first(info: QuestionInfo, ranked: list[Any], dates: dict[int, str | None],
                        stories: dict[int, str | None], today: dt.date) -> int:
    """Where in `ranked` the sentence to answer with is, for a question on how a story stands
    ("What happened to the strike?"): the best one of the story's latest report published by
    `today`, when it answers nearly as well as the best sentence; else 0."""
    if not ranked or not asks_outcome(info.text) or not stories.get(ranked[0].n):
        return 0
    story, day = stories[ranked[0].n], today.isoformat()
    own = [(i, dates.get(c.n) or "") for i, c in enumerate(ranked) if stories.get(c.n) == story]
    latest = max((d for _, d in own if d <= day), default="")
    if not latest or (dates.get(ranked[0].n) or "") >= latest:
        return 0
    i = next(i for i, d in own if d == latest)
    return i if ranked[i].score >= ranked[0].score - OUTCOME_LOGIT_GAP else 0


def _calendar_day(text: str) -> bool:
    """A day of the calendar ("April 25"), not only of the week ("said on Friday": the day a
    report was made)."""
    return any(w in MONTHS for w in re.findall(r"[a-z]+", text.lower()))


def _later_reports(info: QuestionInfo, ranked: list[Any], best: Any, top_phrase: Phrase,
                   entry: dict[str, int], dates: dict[int, str | None],
                   stories: dict[int, str | None], span_model: LinearScorer,
                   today: dt.date) -> list[Report]:
    """For a question about an amount or a calendar date as it stands now, the value in each
    later report of the story the words did not link: follow-ups reword the fact ("the number
    of confirmed fatalities stands at 17" after "the death toll has risen to 11"). A later
    report counts when the sentence that answers the question best in it gives a value of the
    same measure and answers nearly as well as the best sentence. Not for names nor days of the
    week: a later report's best sentence names other people and places, and the day it was
    made ("said on Friday")."""
    found: list[Report] = []
    seen: set[str] = set(entry)
    for c in ranked[1:]:
        date = dates.get(c.n)
        if c.article_id in seen or stories.get(c.n) != stories.get(best.n) or not date \
                or date <= (dates.get(best.n) or "") or date > today.isoformat():
            continue
        seen.add(c.article_id)  # only the report's best sentence speaks for it
        if c.score < best.score - LATER_LOGIT_GAP:
            continue
        phrase = value_in(span_model, info, c.text, top_phrase.kind, own_only=True)
        if phrase is not None and same_measure(phrase.text, top_phrase.text, strict=True) and (
                phrase.kind != "date" or _calendar_day(phrase.text)):
            found.append(Report(c, phrase.text, date))
    return found


def _still_named(value: str, current: Report, ranked: list[Any]) -> bool:
    """Whether the latest report names this earlier name too: then it is another name of the
    story ("Oakline Textiles", who own the warehouse, beside "Riverton"), not one it replaced."""
    key = f" {value_key(value)} "
    return any(c.article_id == current.candidate.article_id and key in f" {value_key(c.text)} "
               for c in ranked)


def _asked_words(info: QuestionInfo, text: str) -> set[str]:
    """The question's words other than names that the text has, as themselves or paraphrased."""
    return info.synonym_matches(set(terms(text))) & info.content_terms


def _answers_alike(info: QuestionInfo, best: Any, shared: set[str], other: Any) -> bool:
    """Whether another report's sentence answers the question nearly as well as the best one
    and shares the question's words the best one has (so it is about the same fact)."""
    if other.score < best.score - MAX_LOGIT_GAP:
        return False
    own = info.synonym_matches(set(terms(other.text)))
    return not shared or len(shared & own) >= SAME_FACT_SHARE * len(shared)


def restated(current: Report, earlier: list[Report], candidates: list[Any], info: QuestionInfo,
             span_model: LinearScorer, kind: str) -> Report:
    """The latest report's value of the fact, read where the report says which earlier value
    it replaced: in "the final death toll at 26, up from 23", 26 is the value of the fact the
    earlier reports gave as 23, whatever other number the best sentence holds ("the last
    three people listed as missing")."""
    replaced = {value_key(r.value) for r in earlier} - {value_key(current.value)}
    shared = info.synonym_matches(set(terms(current.candidate.text)))
    for c in candidates:
        if c.article_id != current.candidate.article_id or c is current.candidate:
            continue
        names = replaced_values(info, c.text, kind)
        # A sentence of the latest report that says which value it replaced restates the fact,
        # even when the earlier reports were read as giving other figures ("the bodies of four
        # more people" in a report headlined "toll reaches 23"), if it is as much about what
        # was asked as the best sentence.
        if not names & replaced and not (
                names and len(info.synonym_matches(set(terms(c.text)))) >= len(shared)):
            continue
        own = value_in(span_model, info, c.text, kind)
        if own is not None and value_key(own.text) not in replaced \
                and same_measure(own.text, current.value, strict=True):
            return Report(c, own.text, current.date)
    return current


def replaced_values(info: QuestionInfo, text: str, kind: str) -> set[str]:
    """The values of `kind` the sentence says were replaced ("up from eight": {"8"})."""
    return {value_key(p.text) for p in candidate_phrases(info, text)
            if p.kind == kind and REPLACED.search(text[max(0, p.start - 40):p.start])}


def inline(value: str) -> str:
    """A value quoted mid-sentence: 'Three people' -> 'three people' (names keep capitals)."""
    text = " ".join(value.split())
    first = text.split(" ", 1)[0]
    return text[0].lower() + text[1:] if _NUMBER_WORD.fullmatch(first.lower()) else text


def earlier_line(update: Update) -> str:
    """'Earlier reports gave seven on 4 February 2026 [2].'; a report of the current one's
    day disagrees rather than came earlier: 'Another report that day gave 11 [2].'"""
    today = update.current.date

    def listed(reports: list[Report], dated: bool) -> str:
        return "; ".join(f"{inline(r.value)}{f' on {day(r.date)}' if dated else ''} "
                         f"[{r.candidate.n}]" for r in reports)

    same = [r for r in update.earlier if r.date == today]
    before = [r for r in update.earlier if r.date != today]
    lines = []
    if same:
        lines.append(f"{'Another report' if len(same) == 1 else 'Other reports'} that day "
                     f"gave {listed(same, False)}.")
    if before:
        lines.append(f"Earlier reports gave {listed(before, True)}.")
    return " ".join(lines)


def day(iso: str) -> str:
    """'2026-02-07' -> '7 February 2026'."""
    date = dt.date.fromisoformat(iso)
    return f"{date.day} {date:%B %Y}"
