"""A seeded generator of realistic-looking synthetic news articles, written as .md files.

Each article has front matter (id, title, date, source, url) and a 150–600 word body of
paragraphs mixing topic facts (names, places, numbers, dates spread over one year) with
varied background sentences. Article `i` depends only on `(seed, i)`, so a corpus of 1,000
articles is the first 1,000 of any larger one. Every article also carries a few question
and answer pairs paraphrasing its own fact sentences, for the query benchmark.

    python bench/synthetic.py --n 200 --out /tmp/corpus
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

YEAR_START = dt.date(2025, 1, 1)


def _words(text: str) -> list[str]:
    return text.split()


FIRST_NAMES = _words("""
Aisha Alejandro Amara Anders Ana Andrei Anika Arjun Astrid Ayumi Beatriz Bongani
Camila Carlos Chen Chiara Chidi Dalia Daniel Dmitri Elena Elif Emeka Emma Farid Fatima Felix
Fiona Gabriel Grace Hana Hassan Helena Hiro Ibrahim Ines Ingrid Isaac Jamal Jana Javier Jin
Joao Jonas Julia Kai Kamala Karin Kenji Kofi Lars Leila Liam Lina Lucas Luis Maeve Malik Mara
Marcus Maria Marta Mateo Mei Miguel Mina Mohammed Nadia Naomi Nikolai Noor Olga Omar Oscar
Pablo Priya Rafael Ravi Rhys Rosa Ruth Sami Samuel Sara Sergei Shira Sofia Tariq Tatiana Theo
Tomas Umar Valentina Vera Victor Wei Yara Yusuf Zainab Zoe""")
LAST_NAMES = _words("""
Abara Achterberg Adeyemi Almeida Andersson Bakker Banerjee Barros Bauer Becker
Bianchi Brennan Castillo Chaudhry Cohen Costa Dahl Delgado Dimitrov Dubois Eriksen Esposito
Farouk Fernandes Fischer Gallagher Garcia Gomez Haddad Hansen Hartmann Hoffman Horvath Ibarra
Ivanova Jensen Kaplan Karimi Kaur Kim Kowalski Kruger Lambert Larsen Lindqvist Lopez Mahlangu
Marin Mehta Mendes Moreau Murphy Nakamura Nielsen Novak Nunez Obi Okafor Olsen Osei Park
Petrov Pham Quinn Rahman Ramos Reyes Rossi Saito Santos Schmidt Sharma Silva Sokolov Suzuki
Tanaka Taylor Torres Tran Varga Vasquez Volkov Wagner Walsh Weber Wong Yamamoto Yilmaz Zhang
Zielinski""")
PLACE_HEADS = _words("""
North East West South Port Fort Glen Lake Mount New Old Saint Red Green Silver
Stone Oak Elm Maple Cedar Pine Clear Fair Brook Kings Bay Ash Hollow Marsh High Low Spring
Willow Iron Copper Amber""")
PLACE_TAILS = _words("""
field ford ton view haven wood dale port bridge ridge water mouth side burg
ville brook stead moor crest hurst wick gate mere""")
COUNTRIES = _words("""
Norway Portugal Kenya Canada Chile Japan Ghana Poland Ireland Vietnam Peru
Morocco Finland Colombia Indonesia Austria Uruguay Tanzania""")
REGIONS = _words("""
Northern Coastal Central Highland Valley Lakes Eastern Western Southern River
Plains Harbour""")
OUTLETS = [
    ("The Harbour Ledger", "harbourledger"), ("Northfield Courier", "northfieldcourier"),
    ("Valley Evening Post", "valleypost"), ("The Daily Meridian", "dailymeridian"),
    ("Coastal Times", "coastaltimes"), ("The Lakes Gazette", "lakesgazette"),
    ("Metro Dispatch", "metrodispatch"), ("The Plains Herald", "plainsherald"),
    ("Riverside Record", "riversiderecord"), ("The Highland Observer", "highlandobserver"),
]
COMPANY_HEADS = _words("""
Velora Brightwater Northwind Kestrel Solent Arcadia Bluefin Cobalt Redwood
Tessera Lumen Halcyon Orbis Quarry Meridian Stratus Ferro Juniper Alder Vantage Nimbus Corvid
Helix Sable Tidewater""")
COMPANY_TAILS = _words("""
Systems Foods Energy Logistics Motors Pharma Bank Telecom Airlines Mining
Retail Robotics Insurance Software Materials""")
TEAM_TAILS = _words("""
Rovers United Mariners Falcons Wolves Comets Harriers Lions Tigers Rangers
Pioneers Stags""")
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]

# Slot values that are chosen per article (each list is sampled independently).
POOLS: dict[str, list[str]] = {
    "project": [
        "a light-rail extension to {place2}", "a new bus rapid transit corridor",
        "the rebuilding of the {head} Street bridge", "a protected bike-lane network",
        "the expansion of {place} Central Station", "a ring road around the old town",
        "a ferry link to {place2}", "the electrification of the {place2} line",
    ],
    "product": [
        "the {brand} X{n_small}", "the {brand} Air", "the {brand} Fold",
        "the {brand} Pro {n_small}", "the {brand} Home hub", "the {brand} Go",
    ],
    "device": [
        "folding smartphone", "home battery", "smart thermostat", "lightweight laptop",
        "e-reader", "wireless earbud set", "electric scooter", "fitness watch",
    ],
    "finding": [
        "people who walk for 30 minutes a day sleep about 40 minutes longer",
        "a common antacid may slow the growth of some tumours",
        "urban foxes have learned to open food waste bins",
        "coral reefs recover faster where fishing is banned",
        "children who read aloud daily build vocabulary twice as fast",
        "a bacterium found in soil can break down some plastics",
        "honeybees can recognise individual human faces",
        "heat waves raise hospital admissions for kidney disease",
    ],
    "journal": ["Nature Medicine", "The Lancet", "Science Advances", "Cell Reports",
                "PLOS Biology", "Environmental Research Letters", "BMJ Open"],
    "disease": ["influenza", "measles", "norovirus", "whooping cough", "dengue fever",
                "RSV", "chickenpox", "Lyme disease"],
    "storm": ["Agnes", "Bram", "Ciara", "Darragh", "Elin", "Fergus", "Gerrit", "Henk",
              "Isha", "Jocelyn", "Kathleen", "Lilian", "Mattias"],
    "charge": ["fraud", "arson", "embezzlement", "manslaughter", "money laundering",
               "bribery", "armed robbery", "tax evasion"],
    "species": ["salmon", "otters", "herons", "beavers", "kingfishers", "dragonflies",
                "water voles", "brown trout"],
    "crop": ["wheat", "barley", "potatoes", "apples", "grapes", "rapeseed", "maize", "cherries"],
    "festival": ["{place} Jazz Festival", "{place} Film Week", "{place} Book Fair",
                 "{place} Harvest Fair", "{place} Lantern Festival", "{place} Folk Weekend"],
    "work": ["Salt and Silence", "The Long Field", "Borrowed Light", "Tidelines",
             "A Map of Small Rooms", "Weathering", "Night Crossing", "The Glass Orchard"],
    "museum": ["{place} Museum of Art", "National Gallery of {country}", "{place} Arts Centre",
               "{head} Street Gallery", "{place} Photography Museum"],
    "party": ["Green", "Liberal", "Labour", "Conservative", "Progressive", "Independent",
              "Social Democratic", "People's"],
    "pledge": ["freeze council tax", "reopen the {place} library", "build 2,000 affordable homes",
               "cut bus fares by half", "hire 150 more police officers",
               "plant a tree for every child born in the city", "clean up the harbour"],
    "program": ["coding course", "free breakfast scheme", "after-school music programme",
                "language exchange", "apprenticeship track", "outdoor learning day"],
    "funder": ["the {country} Research Council", "the {brand} Foundation",
               "the European Research Council", "the Wellcome Trust",
               "the {region} Health Board"],
    "bodypart": ["knee", "ankle", "shoulder", "hamstring", "wrist", "back"],
    "league": ["Premier Division", "Coastal League", "National League", "First Division",
               "Championship"],
    "occupation": [
        "shop owner", "retired teacher", "nurse", "bus driver", "student", "farmer",
        "software developer", "pensioner", "café owner", "firefighter", "parent of three",
        "taxi driver", "architect", "local historian", "university lecturer", "plumber",
    ],
    "group": [
        "{place} Residents' Association", "{region} Taxpayers' Alliance",
        "{place} Chamber of Commerce", "Friends of {place} Park", "{region} Tenants' Union",
        "{country} Consumers' Council", "{place} Cycling Campaign", "Small Business Forum",
    ],
}

QUOTE_CLAUSES = [
    "the decision had been a long time coming", "residents deserved clearer answers",
    "nobody they knew had been consulted", "the numbers simply did not add up",
    "it was the best news the town had heard in years", "the timetable looked optimistic",
    "people were tired of promises", "the change would make daily life easier",
    "it was too early to judge the results", "the plan ignored families on low incomes",
    "the neighbourhood had been waiting for this since the 1990s",
    "costs always seem to rise once work begins", "people would believe it when they saw it",
    "the mood in the street was cautiously hopeful", "small firms would bear the brunt",
    "the announcement caught many people by surprise",
    "there was still time to get the details right", "the old system had been failing for years",
]
ARGUMENTS = [
    "the money would be better spent on schools", "the consultation had been rushed",
    "the figures relied on outdated surveys", "rural areas were once again being left behind",
    "the project would raise rents in the area", "the risks had been played down",
    "a cheaper option had been rejected without a proper study",
    "the timetable left no room for delays", "the benefits would mostly go to commuters",
]
BACKGROUND = [
    "{place} has a population of about {pop} and has grown steadily over the past decade.",
    "The {region} region has struggled with {issue} since at least {year_old}.",
    "Similar schemes in {place2} and {place3} produced mixed results, according to a review "
    "published in {month_prev}.",
    "The announcement follows months of debate in {place} over {issue}.",
    "Local newspapers first reported the plans in {month_prev}.",
    "A public meeting on the proposals is scheduled for {weekday2} evening at {place} "
    "Community Hall.",
    "Officials said a full report would be published in {month_next}.",
    "The figure compares with {n2_prev} a year earlier.",
    "{place} last saw anything comparable in {year_old}, when the {head} district was "
    "cut off for {n_small} days.",
    "Opposition councillors said they would scrutinise the costs closely.",
    "Officials declined to say how long the review would take.",
    "Data from the national statistics office show that prices in the {region} region rose "
    "{pct3} over the past twelve months.",
    "The {group} said it would hold its own meeting next month.",
    "Several hundred people signed an online petition about {issue} within a day.",
]
ISSUES = ["housing costs", "traffic congestion", "flooding", "school places", "air quality",
          "waiting lists at the hospital", "the closure of local shops", "youth unemployment",
          "water shortages", "the cost of public transport", "noise from the airport"]

# Fact templates per topic: (sentence, question paraphrasing it, answer slot).
TOPICS: dict[str, dict[str, list[Any]]] = {
    "transport": {
        "context": [
            "Commuters between {place} and {place2} currently spend an average of {n} minutes"
             " on the road each way.",
            "The plan was first proposed by a citizens' panel in {year_old} but stalled over "
             "its cost.",
            "About {pct2} of the money will come from the national government, with the rest "
             "borrowed by the city.",
            "Traffic counts on the main road into {place} have doubled since {year_old}, a "
             "council survey found.",
            "Engineers will have to move {n2} metres of water and gas pipes before the main "
             "works can start.",
            "The {group} welcomed the vote but asked for free parking near the new stops.",
            "Shops on {head} Street fear months of disruption once the road is dug up.",
        ],
        "titles": ["{place} approves {money} plan for {project_short}",
                   "Council backs {project_short} in {place}",
                   "{place} to spend {money} on transport overhaul"],
        "facts": [
            ("The {place} City Council voted {vote_for} to {vote_against} on {weekday} to "
             "approve {money} for {project}.",
             "How much money did the {place} City Council approve for {project}?", "money"),
            ("Construction is expected to begin in {month_next} and finish by {year_plus}, "
             "according to the city's transport department.",
             "When is construction of {project} in {place} expected to begin?", "month_next"),
            ("{person}, who chairs the council's transport committee, said the work would add "
             "{n} new stops across the city.",
             "How many new stops will the transport work in {place} add?", "n"),
            ("Ridership on {place}'s buses rose {pct} last year to about {big} trips a day.",
             "By how much did bus ridership in {place} rise last year?", "pct"),
        ],
    },
    "business": {
        "context": [
            "Analysts had expected revenue of around {money_b2}, according to a poll of brokers.",
            "{company} employs about {big} people worldwide, {pct2} of them in {country}.",
            "The company has been under pressure from investors to sell its loss-making "
             "{brand} division.",
            "Unions at the {place} plant said they had not been told about the job cuts in "
             "advance.",
            "Profit margins were squeezed by higher energy costs and a weaker currency, the "
             "company said.",
            "The deal still needs approval from competition regulators in {country}.",
            "{company} last cut jobs in {year_old}, when {n2} positions went.",
        ],
        "titles": ["{company} profits jump as demand holds up", "{company} to cut {n3} jobs",
                   "{company} agrees {money_b} deal for {company2}"],
        "facts": [
            ("{company} reported quarterly revenue of {money_b} on {weekday}, up {pct} from a "
             "year earlier.", "What quarterly revenue did {company} report?", "money_b"),
            ("The company said it would cut {n3} jobs, most of them at its plant in {place}.",
             "How many jobs does {company} plan to cut?", "n3"),
            ("Chief executive {person} told analysts that demand had never been stronger.",
             "Who is the chief executive of {company}?", "person"),
            ("{company} also agreed to buy its rival {company2} for {money_b2} in cash.",
             "How much will {company} pay to buy {company2}?", "money_b2"),
            ("Shares of {company} closed {pct2} higher at {price} on the {country} stock "
             "exchange.", "At what price did shares of {company} close?", "price"),
        ],
    },
    "sports": {
        "context": [
            "{team} had lost {n_small} of their previous ten matches before the game.",
            "The stadium in {place} was sold out for the first time since it reopened in "
             "{year_old}.",
            "{team2} dominated possession in the first half but failed to convert their chances.",
            "The two clubs meet again in the cup in {month_next}.",
            "Supporters in {place} celebrated in the streets until well after midnight.",
            "A late penalty appeal from {team2} was turned down by the referee after a video "
             "review.",
            "Ticket prices at {place} Stadium have risen by {pct3} this season, a fans' group"
             " said.",
        ],
        "titles": ["{team} beat {team2} {s1}-{s2}", "{last} double lifts {team}",
                   "{team} climb to {ordinal} after win over {team2}"],
        "facts": [
            ("{team} beat {team2} {s1}-{s2} on {weekday} night in front of {big} fans at "
             "{place} Stadium.", "What was the score when {team} played {team2}?", "score"),
            ("{person} scored {s1_word} of the goals, taking the striker's tally for the "
             "season to {n}.", "How many goals has {person} scored this season?", "n"),
            ("The win lifts {team} to {ordinal} place in the {league} with {n_small} games "
             "left to play.", "Where do {team} stand in the {league} after the win?",
             "ordinal"),
            ("Coach {person2} said the side would be without {person3}, who hurt a "
             "{bodypart} in training.",
             "Which player will {team} be without after an injury in training?", "person3"),
        ],
    },
    "science": {
        "context": [
            "Previous studies had reached conflicting conclusions, partly because they were "
             "much smaller.",
            "The participants were recruited from {n_small} cities, including {place2} and "
             "{place3}.",
            "Independent experts called the study careful but said it could not prove cause "
             "and effect.",
            "Data collection began in {year_old} and ended last {month_prev}.",
            "The findings could change guidance issued by health authorities in {country}, "
             "the authors said.",
            "The university has applied for a patent on one of the methods used in the study.",
            "A separate team in {country} is running a similar experiment with {n2} volunteers.",
        ],
        "titles": ["Study finds {finding_short}", "University of {place} study makes surprise "
                   "finding", "Researchers in {place} report new results"],
        "facts": [
            ("Researchers at the University of {place} have found that {finding}, according "
             "to a study published on {weekday} in the journal {journal}.",
             "What did researchers at the University of {place} find?", "finding"),
            ("The team, led by Professor {person}, followed {big} participants over {n_small} "
             "years.", "How many participants did the University of {place} study follow?",
             "big"),
            ("The research was funded by a {money} grant from {funder}.",
             "Who funded the University of {place} study?", "funder"),
            ("{last} said the results would need to be confirmed in a larger trial starting "
             "in {month_next}.",
             "When does the larger trial of the {place} findings start?", "month_next"),
        ],
    },
    "health": {
        "context": [
            "Cases usually peak in late winter, but this year's rise began unusually early.",
            "The hospital has opened {n_small} extra wards and postponed some planned operations.",
            "Pharmacies in {place2} reported running short of some medicines last week.",
            "Schools were asked to send home pupils with symptoms and to keep windows open.",
            "Vaccination rates in the region fell to {pct2} last year, below the national target.",
            "The {region} Health Board said staff absences had also risen sharply.",
            "A free helpline answered {n3} calls in its first {n_small} days.",
        ],
        "titles": ["{disease} cases surge in {place}", "{place} hospital under pressure as "
                   "{disease} spreads", "Officials urge vaccination as {disease} rises"],
        "facts": [
            ("{place} General Hospital reported {n3} cases of {disease} in the week to {day}, "
             "the highest weekly total since {year_old}.",
             "How many cases of {disease} did {place} General Hospital report?", "n3"),
            ("Health officials urged residents over {age} to get vaccinated before {month_next}.",
             "Which residents of {place} were urged to get vaccinated?", "age"),
            ("Dr {person}, the region's chief medical officer, said {n_small} clinics would "
             "extend their opening hours.",
             "Who is the chief medical officer for {place}'s region?", "person"),
            ("Waiting times in the emergency department reached {n2} minutes on average, "
             "hospital data showed.", "How long was the average wait in the emergency "
             "department at {place} General Hospital?", "n2"),
        ],
    },
    "weather": {
        "context": [
            "Schools in {place} and {place2} stayed closed on {weekday2} as crews cleared "
             "fallen trees.",
            "Trains between {place} and {place3} were cancelled for most of the day.",
            "The storm was the {ordinal_n} named storm of the season.",
            "Insurers said early estimates put the damage at around {money}.",
            "Several roads near the {river} were closed because of flooding.",
            "Residents in low-lying parts of {place} were offered sandbags at the town hall.",
            "The last storm of similar strength hit the region in {year_old}.",
        ],
        "titles": ["Storm {storm} leaves {big} homes without power",
                   "Storm {storm} batters {place}", "Clean-up begins after Storm {storm}"],
        "facts": [
            ("Storm {storm} brought winds of up to {speed} kilometres per hour to {place} on "
             "{weekday}, cutting power to {big} homes.",
             "How many homes lost power when Storm {storm} hit {place}?", "big"),
            ("The {region} emergency service said it had received {n3} calls for help "
             "overnight.", "How many calls for help did the {region} emergency service get "
             "during Storm {storm}?", "n3"),
            ("Forecasters expect a further {n2} millimetres of rain by {weekday2}.",
             "How much more rain is expected after Storm {storm}?", "n2"),
            ("{person}, a spokesperson for the power company {company}, said most customers "
             "would be reconnected within {n_small} days.",
             "When will most customers be reconnected after Storm {storm}?", "n_small"),
        ],
    },
    "technology": {
        "context": [
            "The launch comes as sales of {device}s have slowed across {country}.",
            "{company} said it had spent {money} on research for the device over {n_small} years.",
            "Reviewers who tried the device praised its screen but said it felt heavy.",
            "Rival {company2} is expected to announce a competing product in {month_next}.",
            "The data breach was discovered by an outside security researcher in {month_prev}.",
            "Customers affected by the breach are being offered free credit monitoring for a "
             "year.",
            "The device will be assembled at a new factory near {place}, creating {n2} jobs.",
        ],
        "titles": ["{company} unveils {product_name}", "{company} bets on a new {device}",
                   "{country} regulators open inquiry into {company}"],
        "facts": [
            ("{company} unveiled {product}, a {device} that will sell for {price} when it goes "
             "on sale on {day}.", "How much will {product} cost?", "price"),
            ("The company said the battery of the new {device} lasts up to {n} hours.",
             "How long does the battery of {company}'s new {device} last?", "n"),
            ("Regulators in {country} opened an inquiry into {company} after a data breach "
             "affecting {big} accounts.",
             "How many accounts were affected by the {company} data breach?", "big"),
            ("{person}, who leads the product team, said {n_small} more models would follow "
             "by {year_plus}.", "Who leads the product team at {company}?", "person"),
        ],
    },
    "education": {
        "context": [
            "Teachers' unions have warned of shortages in maths and science for several years.",
            "Average class sizes in {place} have risen to {n} pupils, above the national average.",
            "The falling birth rate means fewer children are starting primary school each year.",
            "Parents at {head} Street Primary said they had been asking for the programme for"
             " years.",
            "The board will also spend {money} on repairing leaking roofs at {n_small} schools.",
            "Exam results in the district improved for the second year running.",
            "{n3} pupils in the district now qualify for free school meals.",
        ],
        "titles": ["{place} schools to hire {n} teachers", "Enrolment falls at {place} "
                   "schools", "New {program} for {place} pupils"],
        "facts": [
            ("The {place} school board said on {weekday} it would hire {n} new teachers "
             "before the autumn term.", "How many new teachers will the {place} school board "
             "hire?", "n"),
            ("Enrolment across the district fell {pct} this year to {big} pupils.",
             "By how much did enrolment fall in {place} schools?", "pct"),
            ("Superintendent {person} said a new {program} would start in {month_next}.",
             "When will the new {program} in {place} schools start?", "month_next"),
            ("The board's budget for next year is {money}, of which {pct2} goes on salaries.",
             "What is the {place} school board's budget for next year?", "money"),
        ],
    },
    "courts": {
        "context": [
            "During the trial, the jury heard from {n} witnesses over {n_small} weeks.",
            "{last}'s lawyers said they would consider an appeal.",
            "The court heard that the scheme ran for almost {n_small} years before it was "
             "discovered.",
            "A co-defendant, {person3}, was cleared of all charges.",
            "Relatives of the victims wept in the public gallery as the verdict was read out.",
            "The maximum sentence for the offence is {n} years in prison.",
            "The case was one of the largest ever prosecuted in the {region} region.",
        ],
        "titles": ["{last} found guilty of {charge}", "Jury convicts {person} in {place} "
                   "{charge} trial", "{place} {charge} trial ends in conviction"],
        "facts": [
            ("A jury in {place} found {person} guilty of {charge} on {weekday} after {n_small} "
             "days of deliberation.", "What was {person} found guilty of?", "charge"),
            ("Judge {person2} set sentencing for {day}.",
             "When will {person} be sentenced?", "day"),
            ("Police said {n2} officers had worked on the investigation, which began in "
             "{month_prev} {year_old}.",
             "How many officers worked on the investigation into {person}?", "n2"),
            ("Prosecutors said {last} had moved {money} through accounts in {country}.",
             "How much money did prosecutors say {person} moved abroad?", "money"),
        ],
    },
    "environment": {
        "context": [
            "The {river} River was badly polluted by factory waste until the 1990s.",
            "Volunteers from {n_small} local schools helped with this year's count.",
            "The agency spent {money} on restoring wetlands along the river over the past decade.",
            "Anglers' groups said they would push for the fishing ban to be extended.",
            "Warmer summers remain a threat because they lower oxygen levels in the water.",
            "The tree-planting programme will focus on hillsides above {place} that flood "
             "regularly.",
            "Counts began in {year_old}, when volunteers found only {n2} {species}.",
        ],
        "titles": ["{species} numbers recover on the {river}", "{region} to plant {big2} trees",
                   "Good news for {species} in {place}"],
        "facts": [
            ("Volunteers counted {big} {species} along the {river} River this spring, {pct} "
             "more than last year.",
             "How many {species} did volunteers count along the {river} River?", "big"),
            ("The {region} environment agency plans to plant {big2} trees by {year_plus}.",
             "How many trees does the {region} environment agency plan to plant?", "big2"),
            ("{person}, an ecologist at the agency, credited a ban on fishing introduced in "
             "{year_old}.", "What did the ecologist credit for the recovery of {species} on "
             "the {river}?", "year_old"),
            ("Water quality in Lake {head}mere has improved for the {ordinal_n} year in a row, "
             "the agency said.", "For how many years has water quality in Lake {head}mere "
             "improved?", "ordinal_n"),
        ],
    },
    "culture": {
        "context": [
            "This year's programme featured {n2} events, from open-air concerts to children's"
             " workshops.",
            "Hotels in {place} reported occupancy of {pct2} during the festival.",
            "The exhibition brings together {n} works, several of them never shown in public "
             "before.",
            "{artist} grew up in {place2} and studied at the art school in {place3}.",
            "The organisers said the festival contributed about {money} to the local economy.",
            "Some residents complained about noise and litter near the main stage.",
            "The {museum} reopened in {year_old} after a long renovation.",
        ],
        "titles": ["{festival} draws record crowds", "{artist} opens {work} in {place}",
                   "Record year for {festival}"],
        "facts": [
            ("The {festival} drew a record {big} visitors over {n_small} days, organisers "
             "said on {weekday}.", "How many visitors did the {festival} draw?", "big"),
            ("{artist}'s new exhibition, {work}, opens at the {museum} on {day}.",
             "Where does {artist}'s exhibition {work} open?", "museum"),
            ("Tickets cost {price_small} and the show runs until the end of {month_next}.",
             "How much do tickets for {work} cost?", "price_small"),
            ("Festival director {person} said next year's edition would add a {n_small}th "
             "stage.", "Who is the director of the {festival}?", "person"),
        ],
    },
    "politics": {
        "context": [
            "The campaign was dominated by debates about {issue} and the city's finances.",
            "{person} previously worked as a {occupation} and served two terms on the city "
             "council.",
            "The result ends {n_small} decades in which the office had been held by the same "
             "party.",
            "Counting in some districts continued until the early hours of {weekday2}.",
            "Rival candidates congratulated {last} but promised to hold the new mayor to account.",
            "The new mayor will take office on {day}.",
            "Polls before the election had suggested a much closer race.",
        ],
        "titles": ["{person} elected mayor of {place}", "{party} candidate wins in {place}",
                   "{place} votes for change"],
        "facts": [
            ("{person}, the {party} candidate, won {pct} of the vote in {weekday}'s election "
             "for mayor of {place}.",
             "What share of the vote did {person} win in the {place} mayoral election?", "pct"),
            ("Turnout was {pct2}, up from {pct3} four years ago.",
             "What was the turnout in the {place} mayoral election?", "pct2"),
            ("The mayor-elect promised to {pledge} within the first {n} days in office.",
             "What did the new mayor of {place} promise to do first?", "pledge"),
            ("The outgoing mayor, {person2}, had held the post since {year_old}.",
             "Who was the outgoing mayor of {place}?", "person2"),
        ],
    },
    "energy": {
        "context": [
            "The solar farm will produce enough electricity to power about {big2} homes, the "
             "company said.",
            "Neighbours raised concerns about the loss of farmland and the view from nearby "
             "villages.",
            "Fertiliser and fuel prices rose sharply this year, squeezing farm incomes.",
            "A dry spring in {month_prev} hurt yields across the region.",
            "{company} already runs {n_small} solar farms in {country}.",
            "The regional grid operator said new lines would be needed to carry the extra power.",
            "Farm incomes in the {region} region fell {pct3} last year, official figures show.",
        ],
        "titles": ["{company} to build solar farm near {place}", "{mw} MW solar plan for "
                   "{place}", "{region} harvest and energy plans"],
        "facts": [
            ("{company} will build a {mw}-megawatt solar farm near {place} at a cost of "
             "{money_b}.", "How big is the solar farm {company} plans near {place}?", "mw"),
            ("Farmers in the {region} region harvested {big} tonnes of {crop} this year, "
             "{pct} less than last year.",
             "How much {crop} did farmers in the {region} region harvest?", "big"),
            ("The plant is due to be connected to the grid in {month_next} {year_plus}.",
             "When will the solar farm near {place} be connected to the grid?", "year_plus"),
            ("{person}, a farmer near {place}, said the project would lease {n} hectares of "
             "the family's land.", "How many hectares will the {place} solar project lease?", "n"),
        ],
    },
}


@dataclass(frozen=True)
class Question:
    """A question paraphrasing one fact sentence of an article, with its answer."""

    article_id: str
    question: str
    answer: str
    sentence: str


@dataclass(frozen=True)
class SyntheticArticle:
    id: str
    title: str
    date: str
    source: str
    url: str
    body: str
    questions: tuple[Question, ...]

    def to_markdown(self) -> str:
        def quoted(value: str) -> str:
            return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

        return (
            f"---\nid: {quoted(self.id)}\ntitle: {quoted(self.title)}\ndate: {self.date}\n"
            f"source: {quoted(self.source)}\nurl: {quoted(self.url)}\n---\n{self.body}\n"
        )


def _person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


def _place(rng: random.Random) -> str:
    head, tail = rng.choice(PLACE_HEADS), rng.choice(PLACE_TAILS)
    return f"{head} {tail.capitalize()}" if rng.random() < 0.25 else f"{head}{tail}"


def _money(rng: random.Random, low: float, high: float, unit: str) -> str:
    return f"${rng.uniform(low, high):.1f} {unit}"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _context(rng: random.Random, date: dt.date) -> dict[str, str]:
    """Every slot a template may use, drawn once per article."""
    people = [_person(rng) for _ in range(3)]
    places = [_place(rng) for _ in range(3)]
    brand = rng.choice(COMPANY_HEADS)
    s1, s2 = rng.randint(1, 5), rng.randint(0, 3)
    if s2 >= s1:
        s1, s2 = s2 + 1, s1
    ctx = {
        "person": people[0], "person2": people[1], "person3": people[2],
        "last": people[0].split()[-1],
        "place": places[0], "place2": places[1], "place3": places[2],
        "head": rng.choice(PLACE_HEADS), "region": rng.choice(REGIONS),
        "country": rng.choice(COUNTRIES), "brand": brand,
        "company": f"{brand} {rng.choice(COMPANY_TAILS)}",
        "company2": f"{rng.choice(COMPANY_HEADS)} {rng.choice(COMPANY_TAILS)}",
        "team": f"{places[0]} {rng.choice(TEAM_TAILS)}",
        "team2": f"{places[1]} {rng.choice(TEAM_TAILS)}",
        "river": rng.choice(PLACE_HEADS) + rng.choice(["wash", "brook", "water", "bourne"]),
        "artist": _person(rng),
        "s1": str(s1), "s2": str(s2), "score": f"{s1}-{s2}",
        "s1_word": ["none", "one", "two", "three", "four", "five"][min(s1, 5)],
        "n_small": str(rng.randint(2, 9)), "n": str(rng.randint(10, 60)),
        "n2": str(rng.randint(40, 400)), "n2_prev": str(rng.randint(40, 400)),
        "n3": f"{rng.randint(120, 4800):,}", "big": f"{rng.randint(1_500, 95_000):,}",
        "big2": f"{rng.randint(2, 40) * 50_000:,}", "pop": f"{rng.randint(12, 900) * 1000:,}",
        "money": _money(rng, 1.5, 95, "million"), "money_b": _money(rng, 1.1, 48, "billion"),
        "money_b2": _money(rng, 0.3, 9, "billion"),
        "price": f"${rng.randint(9, 1900)}.{rng.randint(0, 99):02d}",
        "price_small": f"${rng.randint(6, 45)}",
        "pct": f"{rng.randint(2, 61)}.{rng.randint(0, 9)} percent",
        "pct2": f"{rng.randint(30, 78)} percent",
        "pct3": f"{rng.randint(2, 12)}.{rng.randint(0, 9)}%",
        "vote_for": str(rng.randint(7, 12)), "vote_against": str(rng.randint(1, 6)),
        "speed": str(rng.randint(90, 180)), "age": str(rng.choice([50, 60, 65, 70, 75])),
        "mw": str(rng.randint(8, 60) * 5), "ordinal": _ordinal(rng.randint(1, 12)),
        "ordinal_n": ["third", "fourth", "fifth", "sixth", "seventh"][rng.randint(0, 4)],
        "weekday": WEEKDAYS[date.weekday()], "weekday2": rng.choice(WEEKDAYS),
        "day": (date + dt.timedelta(days=rng.randint(7, 60))).strftime("%B %-d"),
        "month_prev": MONTHS[(date.month - 1 - rng.randint(1, 5)) % 12],
        "month_next": MONTHS[(date.month - 1 + rng.randint(1, 6)) % 12],
        "year_plus": str(date.year + rng.randint(1, 5)), "year_old": str(rng.randint(1988, 2021)),
        "issue": rng.choice(ISSUES),
    }
    for key, pool in POOLS.items():
        ctx[key] = rng.choice(pool).format(**ctx)
    ctx["project_short"] = re.sub(r"^(a|an|the) ", "", ctx["project"])
    ctx["finding_short"] = ctx["finding"].split(" may ")[0].split(" can ")[0][:60]
    ctx["product_name"] = ctx["product"].removeprefix("the ")
    return ctx


def _an(word: str) -> str:
    return ("an " if word[0].lower() in "aeiou" else "a ") + word


class _Fillers:
    """Background sentences for one article, each template used at most once per article."""

    def __init__(self, rng: random.Random, ctx: dict[str, str], topic: list[str]) -> None:
        self._rng = rng
        self._ctx = ctx
        self._topic = rng.sample(topic, len(topic))
        self._background = rng.sample(BACKGROUND, len(BACKGROUND))
        self._quotes = rng.sample(QUOTE_CLAUSES, len(QUOTE_CLAUSES))
        self._arguments = rng.sample(ARGUMENTS, len(ARGUMENTS))

    def next(self) -> str:
        rng, ctx = self._rng, self._ctx
        local = dict(ctx)
        local.update(person_any=_person(rng), occupation=rng.choice(POOLS["occupation"]),
                     group=rng.choice(POOLS["group"]).format(**ctx), weekday2=rng.choice(WEEKDAYS),
                     issue=rng.choice(ISSUES))
        decks = [d for d in (self._topic, self._background, self._quotes, self._arguments) if d]
        if not decks:
            return rng.choice(BACKGROUND).format(**local)
        deck = rng.choices(decks, weights=[{id(self._topic): 4, id(self._background): 2,
                                            id(self._quotes): 2}.get(id(d), 1) for d in decks])[0]
        item = deck.pop()
        if deck is self._quotes:
            place = rng.choice([ctx["place"], ctx["place2"], ctx["place3"]])
            who = f"{local['person_any']}, {_an(local['occupation'])}"
            if rng.random() < 0.5:
                verb = rng.choice(["said", "told reporters", "said in an interview", "posted"])
                return f"{who} from {place}, {verb} that {item}."
            years = rng.randint(2, 40)
            quote = item[0].upper() + item[1:]
            return f'"{quote}," said {who} who has lived in {place} for {years} years.'
        if deck is self._arguments:
            return (f"Critics, including {local['person_any']} of the {local['group']}, argued "
                    f"that {item}.")
        return item.format(**local)


def make_article(index: int, seed: int = 7) -> SyntheticArticle:
    """Article number `index` of the corpus for `seed` (independent of corpus size)."""
    rng = random.Random(f"{seed}:{index}")
    date = YEAR_START + dt.timedelta(days=rng.randint(0, 364))
    topic = rng.choice(list(TOPICS))
    spec = TOPICS[topic]
    ctx = _context(rng, date)
    target = rng.randint(150, 600)
    facts = list(spec["facts"])
    lead, rest = facts[0], facts[1:]
    rng.shuffle(rest)
    sentences = [lead[0].format(**ctx)]
    questions = [Question("", lead[1].format(**ctx), ctx[lead[2]], sentences[0])]
    count = len(sentences[0].split())
    pending = list(rest)
    fillers = _Fillers(rng, ctx, spec["context"])
    while count < target:
        if pending and (rng.random() < 0.45 or count > target * 0.6):
            sentence, question, slot = pending.pop()
            sentences.append(sentence.format(**ctx))
            questions.append(Question("", question.format(**ctx), ctx[slot], sentences[-1]))
        else:
            sentences.append(fillers.next())
        count += len(sentences[-1].split())
    paragraphs: list[str] = []
    i = 0
    while i < len(sentences):
        size = 1 if i == 0 else rng.randint(1, 3)
        paragraphs.append(" ".join(sentences[i : i + size]))
        i += size
    title = rng.choice(spec["titles"]).format(**ctx)
    title = title[0].upper() + title[1:]
    outlet, domain = rng.choice(OUTLETS)
    article_id = f"syn-{seed}-{index:06d}"
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60]
    return SyntheticArticle(
        id=article_id,
        title=title,
        date=date.isoformat(),
        source=outlet,
        url=f"https://{domain}.example/{date:%Y/%m/%d}/{slug}",
        body="\n\n".join(paragraphs),
        questions=tuple(
            Question(article_id, q.question, q.answer, q.sentence) for q in questions
        ),
    )


def articles(n: int, seed: int = 7, start: int = 0) -> Iterator[SyntheticArticle]:
    for index in range(start, start + n):
        yield make_article(index, seed)


def write_corpus(folder: Path, n: int, seed: int = 7) -> list[SyntheticArticle]:
    """Write `n` articles as `<id>.md` files into `folder`; returns them."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for article in articles(n, seed):
        (folder / f"{article.id}.md").write_text(article.to_markdown(), encoding="utf-8")
        out.append(article)
    return out


def sample_questions(n_articles: int, n: int, seed: int = 7) -> list[Question]:
    """`n` questions from `n` different articles among the first `n_articles`, one fact each."""
    rng = random.Random(f"questions:{seed}")
    indices = rng.sample(range(n_articles), min(n, n_articles))
    return [rng.choice(make_article(i, seed).questions) for i in indices]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100, help="number of articles")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, required=True, help="folder to write .md files to")
    args = parser.parse_args()
    corpus = write_corpus(args.out, args.n, args.seed)
    words = [len(a.body.split()) for a in corpus]
    print(f"wrote {len(corpus)} articles to {args.out} "
          f"({min(words)}–{max(words)} words, mean {sum(words) / len(words):.0f})")


if __name__ == "__main__":
    main()
