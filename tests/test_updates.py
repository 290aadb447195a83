"""A story whose figure changed, asked as of different days, as a hostile trial asked it: the
value as of the day asked, earlier values of the same fact only, never a later report's."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from assistant.answerers.updates import REPLACED, plausible, same_measure
from assistant.ingest import ingest
from assistant.question import QuestionInfo

from .conftest import make_services, write_articles

# Built on the trial's reports: a magnitude beside the first toll, a reprint of the second
# under another outlet, and a final report naming the value it replaced ("up from eight").
QUAKE = {
    "quake-1": ("Earthquake strikes Valdoria province", "2026-03-02", """\
A magnitude 6.1 earthquake struck the mountain town of Kestrel in Valdoria province early on \
Monday.

At least three people were killed when a school gymnasium collapsed, the provincial governor \
Ana Ruiz said.

Rescue teams from the capital were sent to Kestrel by road because the airport runway was \
damaged."""),
    "quake-2": ("Kestrel earthquake death toll rises", "2026-03-03", """\
The death toll from Monday's earthquake in Kestrel has risen to eight, governor Ana Ruiz said \
on Tuesday.

Five more bodies were recovered from the collapsed school gymnasium overnight.

About 400 residents are sleeping in tents on the town's football field."""),
    "quake-3": ("Kestrel mourns as earthquake toll reaches eleven", "2026-03-05", """\
The number of people killed by the Kestrel earthquake has reached 11, up from eight on \
Tuesday, governor Ana Ruiz said on Thursday.

Two injured teachers died in hospital and a third victim was found under rubble near the \
market.

The national government pledged 20 million crowns for rebuilding the school."""),
    "chess-final": ("Teenager wins national chess championship", "2026-03-04", """\
Sixteen-year-old Lena Brandt won the national chess championship in Oberfeld on Wednesday.

She beat the defending champion Tomas Reyes in a tie-break game that lasted four hours."""),
}


@pytest.fixture(scope="module")
def quake(tmp_path_factory: pytest.TempPathFactory, embedder: Any) -> Any:
    folder = tmp_path_factory.mktemp("quake")
    services = make_services(folder / "store", embedder)
    report = ingest(services.open_store(create=True), services.embedder,
                    [write_articles(folder / "articles", QUAKE)])
    assert not report.skipped
    return services


def cited(answer: Any) -> set[str]:
    return {c.article_id for c in answer.citations}


@pytest.mark.parametrize("question", [
    "How many people were killed in Kestrel?",
    "What is the death toll from the Kestrel earthquake?",
])
def test_the_latest_value_with_the_one_it_replaced(quake: Any, question: str) -> None:
    """Worded unlike the earlier report ("has reached 11, up from eight"), the final report
    still gives the value: the reports name each other's values, so they are one fact."""
    answer = quake.asker.ask(question, today=dt.date(2026, 3, 6))
    assert answer.grounded and answer.short_answer == "11"
    [update] = answer.updates
    assert update["current"]["value"] == "11"
    assert "8" in {u.replace("eight", "8") for u in (e["value"] for e in update["earlier"])}
    assert "quake-3" in cited(answer)


def test_an_answer_as_of_a_past_day_never_uses_a_later_report(quake: Any) -> None:
    """Asked on the 3rd or 4th, the report of the 5th did not exist: it is neither cited nor
    its figure given. (Which earlier report answers is the ranker's choice: "three" from the
    2nd still outranks "risen to eight" from the 3rd for this wording, a miss noted in
    bench/README.md.)"""
    for today in (dt.date(2026, 3, 3), dt.date(2026, 3, 4)):
        for question in ("How many people have died in the Kestrel earthquake so far?",
                         "What is the death toll from the Kestrel earthquake?"):
            answer = quake.asker.ask(question, today=today)
            assert answer.grounded and "quake-3" not in cited(answer)
            assert answer.short_answer in ("three", "eight")
            assert all(p.article.id != "quake-3" or p.n not in {c.n for c in answer.citations}
                       for p in answer.passages)


def test_a_magnitude_is_never_a_count_nor_an_earlier_toll(quake: Any) -> None:
    for today in (dt.date(2026, 3, 2), dt.date(2026, 3, 3), dt.date(2026, 3, 6)):
        for question in ("What is the death toll from the Kestrel earthquake?",
                         "How many people have died in the Kestrel earthquake so far?"):
            answer = quake.asker.ask(question, today=today)
            assert answer.short_answer != "6.1"
            assert all(e["value"] != "6.1" for u in answer.updates for e in u["earlier"])


def test_who_did_it_is_the_name_before_the_verb(quake: Any) -> None:
    """'Sixteen-year-old Lena Brandt won ... in Oberfeld on Wednesday': the age is not part of
    the name, a weekday never joins a place, and the name before "won" answers "Who won?"."""
    answer = quake.asker.ask("Who won the national chess championship?")
    assert answer.short_answer == "Lena Brandt"


def test_values_of_one_fact() -> None:
    assert same_measure("nine", "13 people") and same_measure("£2.4 million", "£3.15 million")
    assert not same_measure("22 flats", "five residents")
    assert not same_measure("1937", "April 6")
    assert not same_measure("41 percent", "18,400 ballots")
    assert same_measure("12", "25 mph") and not same_measure("12", "25 mph", strict=True)
    assert same_measure("205p", "182 pence", strict=True) and not same_measure("205p", "18")
    # Only amounts have units: names and dates of one fact are compared whole.
    assert same_measure("Jane Doe", "John Smith") and same_measure("6 April", "20 June")
    # A street is not an organisation, nor a name a date or a count (found in LLM mode:
    # "Earlier reports gave Riverton Metro Transit Authority" after "near Fulton Street").
    assert not same_measure("Fulton Street", "Riverton Metro Transit Authority")
    assert not same_measure("Feb 11", "Westbrook Primary School")
    assert not same_measure("Anton Reeves", "nine")
    assert same_measure("Anton Reeves", "Maeve Kinsella")
    assert same_measure("Kestle Fields", "Tarrow Ice Dome")


def test_nothing_published_by_the_day_asked_is_a_refusal(quake: Any) -> None:
    """The chess report is dated the 4th: asked on the 3rd, no report says who won, and the
    confidence is that of the reports published by then (a review found "Kestrel" given)."""
    answer = quake.asker.ask("Who won the national chess championship?",
                             today=dt.date(2026, 3, 3))
    assert not answer.grounded and "don't say" in answer.answer
    # Nor is the later report shown among the passages (found by a hostile trial).
    assert answer.passages and all(p.article.date <= "2026-03-03" for p in answer.passages)


@pytest.mark.parametrize(("before", "replaced"), [
    ("has reached 11, up from ", True), ("increased its proposed fine to £3.15 million, up from the ",
                                         True),
    ("the final turnout was 41.9 percent, revised from the provisional ", True),
    ("The centre had been due to open on ", True), ("the toll rose to 26 from ", True),
    ("Turnout was ", False), ("more than ", False), ("will run from ", False),
    ("Food parcels were sent to 300 families from ", False), ("It was first reported on ", False),
    ("The hall, which previously housed ", False), ("the toll was previously put at ", True),
])
def test_a_value_the_report_says_it_replaced(before: str, replaced: bool) -> None:
    assert bool(REPLACED.search(before)) is replaced
    text = before + "23 people"
    info = QuestionInfo.of("How many people died?")
    from assistant.answerers.phrases import Phrase

    phrase = Phrase(len(before), len(text), "23 people", "number")
    assert plausible(info, phrase, text) is not replaced


# A hostile trial's story: the same wire text from two outlets on one day with different
# tolls, and a first report naming the warehouse's owner.
FIRE_BODY = ("The death toll from Sunday's fire at the Oakline Textiles warehouse in Riverton "
             "has risen to {n}, fire chief Marta Lindqvist said on Tuesday.\n\nTwo of the "
             "injured died in hospital and two bodies were found in the rubble.\n\n"
             "Investigators said the fire started in an electrical panel on the ground floor.")
FIRE = {
    "fire-0302": ("Warehouse fire in Riverton kills seven", "2026-03-02",
                  "A fire at a textile warehouse in Riverton killed seven people on Sunday "
                  "night, the city fire department said.\n\nFire chief Marta Lindqvist said 40 "
                  "firefighters fought the blaze for six hours.\n\nThe cause of the fire is "
                  "under investigation. The warehouse belonged to Oakline Textiles."),
    "fire-0304": ("Death toll rises", "2026-03-04", FIRE_BODY.format(n=12)),
    "wire-8831": ("Death toll rises", "2026-03-04", FIRE_BODY.format(n=11)),
}


def test_the_same_text_with_another_figure_is_no_copy_and_both_figures_are_shown(
        tmp_path: Any, embedder: Any) -> None:
    """Found by a hostile trial: the wire text saying 11 was filed as a copy of the paper's
    saying 12, so 12 was never shown, and the wire was credited as the source."""
    services = make_services(tmp_path / "store", embedder)
    store = services.open_store(create=True)
    ingest(store, embedder, [write_articles(tmp_path / "articles", FIRE)])
    filed = store.stories.all()
    assert filed["wire-8831"].reprint_of is None and filed["fire-0304"].reprint_of is None
    assert len({s.story_id for s in filed.values()}) == 1
    answer = services.asker.ask("How many died in the Riverton fire?")
    cited = {c.article_id for c in answer.citations}
    assert {"fire-0304", "wire-8831", "fire-0302"} <= cited
    assert "Another report that day gave" in answer.answer and "seven" in answer.answer
    # Names the latest report still gives are not values it replaced.
    for question in ("Who owns the warehouse?", "fire?"):
        assert "Earlier reports gave" not in services.asker.ask(question).answer


def test_a_follow_up_borrows_the_topic_not_the_question_asked_before(
        tmp_path: Any, embedder: Any) -> None:
    """Found by a hostile trial: after "How many people died in the Riverton fire?", "And
    what caused it?" borrowed "many people died" and was answered "seven"."""
    from assistant.types import Turn

    services = make_services(tmp_path / "store", embedder)
    ingest(services.open_store(create=True), embedder,
           [write_articles(tmp_path / "articles", FIRE)])
    history = [Turn("user", "How many people died in the Riverton fire?"),
               Turn("assistant", "12 [1].")]
    answer = services.asker.ask("And what caused it?", history)
    assert answer.grounded and answer.standalone_question is not None
    assert "Riverton fire" in answer.standalone_question
    assert "died" not in answer.standalone_question
    assert any(w in answer.answer for w in ("cause", "started")), answer.answer


# Follow-ups that drop the place names the question uses, and whose figure sits below
# sentences with other numbers: each report's value of the toll is still found.
TOLL = {
    "toll-1": ("Harl Estuary Bridge toll set at £3.80 for cars", "2026-05-04", """\
Drivers will pay £3.80 each way to cross the new Harl Estuary Bridge when it opens in \
September, the company that will run the crossing said on Monday.

The 2.6-kilometre bridge between Dunmoor and Keswater cuts the journey between the two \
towns from 58 minutes to 9.

Vans will be charged £6.50 and lorries £11.20, Harl Crossing Company said."""),
    "toll-2": ("Harl bridge toll cut after backlash from drivers", "2026-05-22", """\
Engineers completed load tests on Tuesday, driving 48 loaded lorries onto the deck of the \
2.6-kilometre bridge.

Business groups in Dunmoor had said the charge was too high for people who cross every day.

The toll for cars on the new Harl Estuary Bridge has been cut to £3.20 each way from the \
£3.80 announced this month, after the regional transport authority agreed to pay the \
company £4 million a year."""),
    "toll-3": ("Drivers to pay less on Harl bridge under national subsidy deal", "2026-06-09",
               """\
Car drivers will pay £2.95 each way when the bridge between Dunmoor and Keswater opens on \
September 12.

The national transport ministry will put £2.5 million a year towards the cost of the \
crossing for five years.

The toll for vans stays at £6.50 and lorries will pay £11.20."""),
}


def services_with(tmp_path: Any, embedder: Any, articles: dict[str, tuple[str, str, str]]) -> Any:
    """A fresh store holding `articles`."""
    services = make_services(tmp_path / "store", embedder)
    ingest(services.open_store(create=True), services.embedder,
           [write_articles(tmp_path / "articles", articles)])
    return services


def test_each_report_of_a_figure_is_found_below_other_numbers(
        tmp_path: Any, embedder: Any) -> None:
    services = services_with(tmp_path, embedder, TOLL)
    answer = services.asker.ask(
        "What is the car toll on the bridge between Dunmoor and Keswater now?",
        today=dt.date(2026, 6, 15))
    assert answer.grounded and answer.short_answer == "£2.95"
    [update] = answer.updates
    assert update["current"]["value"] == "£2.95"
    assert {e["value"] for e in update["earlier"]} == {"£3.20", "£3.80"}


# A follow-up that words the toll in its own way ("confirmed fatalities") and shares no word of
# the question with the earlier reports' sentences.
FERRY = {
    "ferry-1": ("Four dead as ferry sinks on Lake Orvan", "2026-08-01", """\
The death toll from the sinking of the Lady Corran ferry on Lake Orvan stands at four, rescue \
officials said on Saturday.

The ferry was carrying 62 passengers from Tarnby to the island of Mool when it capsized in a \
sudden squall."""),
    "ferry-2": ("Lake Orvan ferry death toll rises to nine", "2026-08-03", """\
The death toll from the sinking of the Lady Corran has risen to nine, up from four on \
Saturday, after divers reached the wreck, rescue officials said on Monday.

Relatives have gathered at the harbour in Tarnby."""),
    "ferry-3": ("Divers end search of sunken Lake Orvan ferry", "2026-08-06", """\
Police divers ended their underwater search of the Lady Corran on Thursday.

The number of confirmed fatalities stands at 14, and two people remain unaccounted for.

The operator, Orvan Lines, said it would pay for the funerals."""),
}


# A launch date that slips twice; the last report tells it in other words, under a dateline.
LAUNCH = {
    "launch-1": ("Corvid-4 probe cleared for June launch", "2026-05-25", """\
The Corvid-4 space probe will launch on June 9 from the Harnoy spaceport, the national space \
agency said on Monday.

The probe will spend three years studying the solar wind."""),
    "launch-2": ("Fuel leak delays Corvid-4 launch", "2026-06-02", """\
The launch of the Corvid-4 space probe has been delayed to June 23 after engineers found a \
small fuel leak in the rocket's second stage, the space agency said on Tuesday.

Engineers expect the repair to take about a week."""),
    "launch-3": ("Corvid-4 probe launch delayed again by storms at Harnoy spaceport", "2026-06-19", """\
HARNOY, June 19 (Polar Wire) - The Corvid-4 space probe will have to wait longer: storms \
have closed the pad at Harnoy for a week, and the agency now plans to send it on its way on \
July 7.

The Corvid-4 launch had already slipped once, after a fuel leak was found in the rocket's \
second stage, and the space agency said engineers would use the extra week to replace a \
cooling pump on the probe."""),
}


@pytest.mark.parametrize(("articles", "question", "today", "current", "earlier", "before"), [
    (FERRY, "What is the latest death toll from the sinking of the Lady Corran?",
     dt.date(2026, 8, 10), "14", "nine", dt.date(2026, 8, 4)),
    # The dateline's June 19 is no answer.
    (LAUNCH, "What is the latest launch date for Corvid-4?", dt.date(2026, 6, 25), "July 7",
     "June 23", dt.date(2026, 6, 10)),
])
def test_the_latest_value_is_found_in_a_follow_up_that_rewords_it(
        tmp_path: Any, embedder: Any, articles: dict[str, tuple[str, str, str]], question: str,
        today: dt.date, current: str, earlier: str, before: dt.date) -> None:
    services = services_with(tmp_path, embedder, articles)
    answer = services.asker.ask(question, today=today)
    assert answer.grounded and answer.short_answer == current, answer.answer
    [update] = answer.updates
    assert update["current"]["value"] == current
    assert earlier in {e["value"] for e in update["earlier"]}
    # As of a day before the follow-up, it is not used.
    then = services.asker.ask(question, today=before)
    assert then.short_answer is not None and current not in then.answer, then.answer


# A coach backed, then sacked with a successor named in the same report.
COACH = {
    "coach-1": ("Harbour City Gulls back Tiernan after fourth defeat", "2026-09-01", """\
The Harbour City Gulls have given head coach Rhona Tiernan their full support after a fourth \
defeat in a row, chairman Ivo Brandt said on Monday.

Tiernan, 44, led the Gulls to the league title two seasons ago.

The Gulls, who play at Quayside Park, are second from bottom of the table."""),
    "coach-2": ("Gulls sack Tiernan after sixth straight defeat", "2026-09-15", """\
The Harbour City Gulls have sacked head coach Rhona Tiernan after a sixth straight defeat, \
two weeks after chairman Ivo Brandt said she had the board's full support.

Assistant coach Callum Rees will take charge of the team as interim head coach while the Gulls \
look for a permanent replacement, the club said on Tuesday."""),
}


@pytest.mark.parametrize(("articles", "question", "today", "current", "earlier"), [
    (COACH, "Who is the head coach of the Harbour City Gulls now?", dt.date(2026, 9, 20),
     "Callum Rees", "Rhona Tiernan"),
    # The best sentence names nobody ("The Gulls, who play at Quayside Park, ..."): the later
    # report says who has gone and who is in charge.
    (COACH, "Who is in charge of the Gulls at Quayside Park at the moment?",
     dt.date(2026, 9, 20), "Callum Rees", "Rhona Tiernan"),
])
def test_who_holds_a_post_now(tmp_path: Any, embedder: Any,
                              articles: dict[str, tuple[str, str, str]], question: str,
                              today: dt.date, current: str, earlier: str) -> None:
    services = services_with(tmp_path, embedder, articles)
    now = services.asker.ask(question, today=today)
    assert now.grounded and now.short_answer == current, now.answer
    [update] = now.updates
    assert [e["value"] for e in update["earlier"]] == [earlier]


def test_who_held_a_post_or_left_it_is_not_the_successor(
        tmp_path: Any, embedder: Any) -> None:
    services = services_with(tmp_path, embedder, COACH)
    then = services.asker.ask("Who is the head coach of the Harbour City Gulls now?",
                              today=dt.date(2026, 9, 5))
    assert "Tiernan" in then.answer and "Rees" not in then.answer, then.answer
    # Asked about the leaving, or about the past, the one who left is the answer.
    for question in ("Who did the Harbour City Gulls sack?",
                     "Who led the Gulls to the league title two seasons ago?"):
        answer = services.asker.ask(question, today=dt.date(2026, 9, 20))
        assert "Tiernan" in answer.answer and "Rees" not in answer.answer.split(".")[0], \
            answer.answer


# A strike voted for, suspended, then called off: how it stands is told by the latest report,
# though the first one says more of the words asked.
STRIKE = {
    "strike-1": ("Penmorrow bus drivers vote for strike", "2026-04-06", """\
Bus drivers in Penmorrow will strike for ten days from April 20 after voting for action in a \
dispute over pay with Coastway Buses, their union said on Monday.

About 310 drivers work for Coastway, which runs 40 routes in and around Penmorrow."""),
    "strike-2": ("Penmorrow bus strike suspended for talks", "2026-04-16", """\
The strike by Penmorrow bus drivers due to start on Monday has been suspended while union \
members consider a new pay offer from Coastway Buses.

Coastway said the offer was its final one."""),
    "strike-3": ("Penmorrow bus drivers accept Coastway offer", "2026-04-28", """\
Penmorrow's bus drivers have voted to accept Coastway's pay offer, and the strike has been \
called off for good, their union said on Tuesday.

The deal raises pay by 5.2 percent this year."""),
}


def test_how_a_story_stands_is_told_by_its_latest_report(tmp_path: Any, embedder: Any) -> None:
    services = services_with(tmp_path, embedder, STRIKE)
    now = services.asker.ask("What happened to the Penmorrow bus drivers' strike?",
                             today=dt.date(2026, 5, 1))
    assert now.grounded and "called off" in now.answer, now.answer
    between = services.asker.ask("Are Penmorrow's bus drivers still going to strike?",
                                 today=dt.date(2026, 4, 18))
    assert between.grounded and "suspended" in between.answer, between.answer
    assert "called off" not in between.answer
