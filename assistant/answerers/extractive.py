"""The offline answerer: picks the sentence of the retrieved passages that answers the question.

Three small learned models (assistant/models, trained by bench/train_answerer.py) do the work:
a sentence ranker over SENTENCE_FEATURES, a probability that the passages answer the question
at all (`confidence`, from CONFIDENCE_FEATURES) and an answer-phrase scorer (phrases.py). The
features are computed here, by the same functions at training and at answer time.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from assistant.answerers.base import NOT_IN_ARTICLES, Draft, Evidence
from assistant.answerers.phrases import (
    SPAN_FEATURES,
    Phrase,
    candidate_phrases,
    mostly_asked,
    names_kind,
    span_features,
)
from assistant.answerers.updates import (
    Update,
    day,
    earlier_line,
    find_update,
    latest_report_first,
    plausible,
    value_in,
)
from assistant.citations import MARKER
from assistant.keyword import STOPWORDS, terms
from assistant.models import AnswererModels, LinearScorer
from assistant.question import (
    CAPITAL,
    QuestionInfo,
    asks_about_steering,
    gives_measure,
    has_type,
    question_entities,
    steering,
)
from assistant.retrieval import relative_window
from assistant.types import Span, Turn

_POINTS_BACK = re.compile(
    r"\b(it|its|they|them|their|he|him|his|she|her|that|this|those|these|there|then|the same"
    r"|else|also|others?|another)\b",
    re.I,
)
_LEANS_ON = re.compile(r"^\s*(and|what about|how about)\b", re.I)
_PERSON = re.compile(r"(?<!^)\b[A-Z][a-z]+\s[A-Z][a-z]+")
_PLACE = re.compile(r"\b(in|at|from|near)\s(the\s)?[A-Z]")
TITLE_WEIGHT = 0.35
# A second sentence joins the first only while the answer stays this short.
MAX_ANSWER_WORDS = 45

SENTENCE_FEATURES = (
    "cosine", "lexical", "lexical_syn", "lexical_plain", "bigram", "context",
    "type_match", "type_miss", "new_names", "new_numbers", "entity_cover", "content_cover",
    "passage_rr", "passage_gap", "lead", "position", "is_title", "length", "short", "quote",
    "after_today", "who_person", "where_place", "measure_match", "measure_miss",
)
# The first pass's best candidates are ranked again with what costs a run of the embedding
# model per sentence: how closely each one's words, read in context, match the question's.
# The second pass starts from the first pass's logit and weighs again only the word-match
# signals the new one overlaps with: refitting every feature on the best ten moved easy
# questions off their sentence (bench/README.md, the sentence ranker).
RERANK_DEPTH = 10
_REWEIGHED = ("cosine", "lexical_plain", "lexical", "lexical_syn")
RERANK_FEATURES = ("first_pass", *_REWEIGHED, "token_similarity")
_REWEIGHED_COLUMNS = [SENTENCE_FEATURES.index(f) for f in _REWEIGHED]
# Each text's word-piece vectors in context and the pieces (OnnxEmbedder.token_vectors).
TokenVectors = Callable[[Sequence[str]], list[tuple[np.ndarray, list[str]]]]
# Only scale-free signals: raw BM25 scores and fused logits depend on the size of the index
# (a one-article index scores everything low), so they would refuse differently per corpus.
CONFIDENCE_FEATURES = (
    "top_logit", "margin", "top_probability", "top_lexical", "top_lexical_syn", "top_cosine",
    "top_type_miss", "top_entity_cover", "top_content_cover", "best_content_cover", "dense_top",
    "entity_missing", "entity_missing_any", "term_cover", "typed", "phrase", "phrase_typed",
    "unknown_content", "unknown_any", "measure_asked", "measure_missing",
)


def with_marker(sentence: str, n: int) -> str:
    """'It rained.' -> 'It rained [2].': the marker stays inside the sentence it cites. An
    article's own bracketed number ("the report [7] says") becomes "(7)": as "[7]" it would
    read as a citation of passage 7."""
    sentence = MARKER.sub(lambda m: f"({m.group(1)})", sentence)
    match = re.search(r"[.!?]+[\"'”’)\]]*$", sentence)
    if not match:
        return f"{sentence} [{n}]"
    return f"{sentence[: match.start()]} [{n}]{match.group()}"


def headline(title: str) -> str:
    return " ".join(title.split()).lower()


@dataclass
class Candidate:
    """A sentence (or headline) that might answer, with where it is and how it scored."""

    n: int
    span: Span
    text: str
    rank: int
    article_id: str
    score: float = 0.0
    probability: float = 0.0

    @property
    def is_title(self) -> bool:
        return self.span.field == "title"


@dataclass
class Scored:
    """Every candidate of one question, ranked, with the question-level view of them."""

    info: QuestionInfo
    candidates: list[Candidate]  # best first
    features: np.ndarray  # rows in `candidates` order
    confidence_features: np.ndarray
    confidence: float
    phrase: FoundPhrase | None
    dates: dict[int, str | None]  # each passage number's article date
    stories: dict[int, str | None]  # and story id


def sentence_candidates(evidence: Evidence, info: QuestionInfo) -> tuple[list[Candidate], np.ndarray]:
    """Every sentence and headline of the passages with its SENTENCE_FEATURES row."""
    today = evidence.today or dt.date.today()
    rows: list[tuple[Candidate, float, set[str], set[str], set[str], int, float, bool]] = []
    seen: set[str] = set()
    titled: set[str] = set()
    passages = evidence.passages
    top_score = passages[0].score if passages else 0.0
    about_steering = asks_about_steering(info.text)
    for rank, passage in enumerate(passages):
        body = evidence.body(passage.article.id)
        record = evidence.records.get(passage.chunk_id)
        if body is None or record is None:
            continue
        title = passage.article.title
        title_terms = set(terms(title))
        title_key = headline(title)
        gap = min(max(top_score - passage.score, 0.0), 10.0) / 10.0
        if passage.article.id not in titled and title.strip() and (
                about_steering or not steering(title)):
            titled.add(passage.article.id)
            if title_key not in seen:
                seen.add(title_key)
                rows.append((Candidate(passage.n, Span(0, len(title), "title"), title, rank,
                                       passage.article.id), 0.0, set(terms(title)), title_terms,
                             set(), rank, gap, False))
        vectors = record.sentence_vectors
        cosines = (
            vectors @ evidence.question_vector
            if evidence.question_vector is not None and len(vectors)
            else np.zeros(len(record.sentences))
        )
        sentence_terms = [set(terms(body[s:e])) for s, e in record.sentences]
        lead_chunk = record.id.rsplit("#", 1)[-1] == "0"
        for i, ((start, end), cosine) in enumerate(zip(record.sentences, cosines, strict=True)):
            text = body[start:end]
            key = " ".join(text.split()).lower()
            # The headline repeated atop the body is the headline candidate already.
            if key in seen or len(text) < 12 or key == title_key or (
                    steering(text) and not about_steering):
                continue
            seen.add(key)
            around: set[str] = set()
            for j in (i - 1, i + 1):
                if 0 <= j < len(sentence_terms):
                    around |= sentence_terms[j]
            rows.append((Candidate(passage.n, Span(start, end), text, rank, passage.article.id),
                         float(cosine), sentence_terms[i], title_terms, around,
                         rank, gap, lead_chunk and i == 0))
    if not rows:
        return [], np.zeros((0, len(SENTENCE_FEATURES)))
    # Words shared by most candidate sentences (the story's topic) say little about which
    # sentence answers; weight question words by how rare they are among the candidates.
    n_rows = len(rows)
    weight = {t: math.log(1 + n_rows / (1 + sum(t in r[2] for r in rows))) for t in info.terms}
    entities = [e.lower() for e in info.entities]
    x = np.zeros((n_rows, len(SENTENCE_FEATURES)))
    typed = info.kind != "any"
    for row, (c, cosine, s_terms, title_terms, around, rank, gap, lead) in enumerate(rows):
        # Words of the headline name the story, not the fact asked for: a lead sentence that
        # only restates the headline should not outscore the sentence with the detail.
        w = {t: weight[t] * (TITLE_WEIGHT if t in title_terms and not c.is_title else 1.0)
             for t in info.terms}
        total = sum(w.values()) or 1.0
        exact = info.terms & s_terms
        para = info.synonym_matches(s_terms)
        near = info.terms & around - exact
        s_words = c.text.split()
        s_bigrams = set(itertools.pairwise(terms(c.text)))
        new_names = {m.group().lower() for m in CAPITAL.finditer(c.text)} - set(info.words)
        new_numbers = set(re.findall(r"\d[\d,.]*", c.text)) - set(info.words)
        match = has_type(c.text, info.kind, set(info.words))
        low = c.text.lower()
        body_len = len(evidence.body(c.article_id) or "") or 1
        gives = info.measure is not None and gives_measure(c.text, info.measure)
        x[row] = (
            cosine,
            sum(w[t] for t in exact) / total,
            sum(w[t] for t in para) / total,
            len(exact) / max(len(info.terms), 1),
            len(info.bigrams & s_bigrams) / len(info.bigrams) if info.bigrams else 0.0,
            sum(w[t] for t in near) / total,
            float(typed and match),
            float(typed and not match),
            min(len(new_names), 3) / 3,
            min(len(new_numbers), 2) / 2,
            sum(e in low for e in entities) / len(entities) if entities else 0.0,
            (sum(weight[t] for t in para & info.content_terms)
             / (sum(weight[t] for t in info.content_terms) or 1.0)) if info.content_terms else 1.0,
            1.0 / (1 + rank),
            gap,
            float(lead),
            0.0 if c.is_title else c.span.start / body_len,
            float(c.is_title),
            min(len(s_words), 60) / 60,
            float(len(s_words) < 8),
            float(any(q in c.text for q in ('"', "“", "”"))),
            float(bool(evidence.passages[rank].article.date)
                  and str(evidence.passages[rank].article.date) > today.isoformat()),
            float(info.wh == "who" and bool(_PERSON.search(c.text))),
            float(info.wh == "where" and bool(_PLACE.search(c.text))),
            float(gives) if info.measure else 0.0,
            float(not gives) if info.measure else 0.0,
        )
    return [r[0] for r in rows], x


def confidence_features(evidence: Evidence, info: QuestionInfo, candidates: Sequence[Candidate],
                        features: np.ndarray, phrase_probability: float) -> np.ndarray:
    """The question-level CONFIDENCE_FEATURES row: how well the best candidates fit at all, and
    how likely the best sentence's best phrase is the thing asked for."""
    col = {name: i for i, name in enumerate(SENTENCE_FEATURES)}
    passages = evidence.passages
    found = " ".join(p.text.lower() for p in passages[:3])
    missing = [e for e in info.entities if e.lower() not in found]
    top_terms: set[str] = set()
    for p in passages[:3]:
        top_terms |= set(terms(p.text))
    if candidates:
        top = features[0]
        second = candidates[1].score if len(candidates) > 1 else candidates[0].score - 5.0
        best = (candidates[0].score, candidates[0].score - second, candidates[0].probability,
                top[col["lexical"]], top[col["lexical_syn"]], top[col["cosine"]],
                top[col["type_miss"]], top[col["entity_cover"]], top[col["content_cover"]],
                float(features[:3, col["content_cover"]].max()))
    else:
        best = (-10.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0)
    return np.array([[
        *best,
        max((p.dense_score or 0.0) for p in passages) if passages else 0.0,
        len(missing) / len(info.entities) if info.entities else 0.0,
        float(bool(missing)),
        len(info.synonym_matches(top_terms)) / max(len(info.terms), 1),
        float(info.kind != "any"),
        phrase_probability,
        phrase_probability if info.kind != "any" else 0.0,
        len(evidence.unknown_terms & info.content_terms) / max(len(info.content_terms), 1),
        float(bool(evidence.unknown_terms)),
        float(info.measure is not None),
        float(info.measure is not None and not features[:3, col["measure_match"]].any()),
    ]])


@dataclass(frozen=True)
class FoundPhrase:
    """The best answer phrase of the top sentence (or its headline) and its probability."""

    phrase: Phrase
    source: Candidate
    probability: float


def best_phrase(model: LinearScorer, info: QuestionInfo, ranked: Sequence[Candidate],
                strict: bool = False) -> FoundPhrase | None:
    """The likeliest answer phrase in the best sentence or the headline of its article; with
    `strict`, only a `plausible` one (the models were fitted without that rule, so the
    confidence reads the phrase found without it)."""
    if not ranked:
        return None
    top = ranked[0]
    sources = [top]
    if not top.is_title:
        title = next((c for c in ranked if c.is_title and c.article_id == top.article_id), None)
        if title is not None:
            sources.append(title)
    options: list[tuple[Phrase, Candidate]] = []
    blocks = []
    for source in sources:
        found = candidate_phrases(info, source.text, source.is_title)
        options.extend((p, source) for p in found)
        blocks.append(span_features(info, source.text, found, source.is_title, top.text))
    # The model scores every phrase as at training; one mostly made of the question's own words
    # is then never the answer line (a rule on top, so the shipped model stays as trained).
    keep = [i for i, (p, source) in enumerate(options) if not mostly_asked(info, p.text)
            and (not strict or plausible(info, p, source.text))]
    if not keep:
        return None
    x = np.vstack(blocks)[keep]
    options = [options[i] for i in keep]
    probabilities = model.probability(x)
    # A name in the headline that the best sentence only describes is the name asked for:
    # a quoted title ("'Squid Game': Netflix green lights season 2" for "the wildly popular
    # South Korean show"), or a name of the kind asked about ("Fenwick Dairy sold to ..." for
    # "the family-owned dairy"). The training data holds too few such cases to learn it, so it
    # is a rule.
    named = x[:, SPAN_FEATURES.index("title_named_indirectly")] > 0
    quoted = np.array([p.kind == "quoted" or names_kind(info, source.text, p)
                       for p, source in options])
    if (named & quoted).any():
        best = int(np.argmax(np.where(named & quoted, 1.0, 0.0)))
        return FoundPhrase(options[best][0], options[best][1], 1.0)
    best = int(np.argmax(probabilities))
    return FoundPhrase(options[best][0], options[best][1], float(probabilities[best]))


def choose_sentences(ranked: Sequence[Candidate], second_below: float | None) -> list[Candidate]:
    """The best sentence, plus the runner-up when the ranker is unsure of the best one
    (probability under `second_below`, set at training for short answers) and both are short."""
    chosen = [ranked[0]]
    if second_below is None or ranked[0].probability >= second_below:
        return chosen
    for c in ranked[1:]:
        if c.is_title:
            continue
        if len(ranked[0].text.split()) + len(c.text.split()) <= MAX_ANSWER_WORDS:
            chosen.append(c)
        break
    return chosen


def dangling_reference(info: QuestionInfo) -> bool:
    """"How much did it cost?" with no conversation before it: nothing says what "it" is, so
    any sentence about any cost would be a guess."""
    return (not info.entities and len(info.content_terms) <= 2
            and bool(re.search(r"\b(it|its|they|them|their|he|him|his|she|her|this|that|these|"
                               r"those)\b", info.text, re.I)))


def token_similarity(token_vectors: TokenVectors, question: str,
                     texts: Sequence[str]) -> np.ndarray:
    """For each text, the mean over the question's content words of their best cosine with a
    word of the text, both read in context by the embedding model ("MaxSim"): a paraphrase
    ("What did Kellwick pay?" for "sold to Kellwick for $47 million") comes close where word
    overlap finds nothing. Measured in bench/README.md (the sentence ranker)."""
    if not texts:
        return np.zeros(0)
    (question_vectors, pieces), *rest = token_vectors([question, *texts])
    content = [i for i, piece in enumerate(pieces)
               if piece.isalnum() and piece.lower() not in STOPWORDS]
    if content:
        question_vectors = question_vectors[content]
    return np.array([float((question_vectors @ vectors.T).max(axis=1).mean())
                     if len(vectors) and len(question_vectors) else 0.0 for vectors, _ in rest])


def rerank_features(logits: np.ndarray, x: np.ndarray, top: np.ndarray,
                    similarity: np.ndarray) -> np.ndarray:
    """The second pass's features (RERANK_FEATURES) of the candidates `top`."""
    return np.column_stack([logits[top], x[top][:, _REWEIGHED_COLUMNS], similarity])


def reranked_logits(model: LinearScorer, logits: np.ndarray, x: np.ndarray, top: np.ndarray,
                    similarity: np.ndarray) -> np.ndarray:
    """The logits after the second pass: the candidates `top` (the first pass's best) scored
    again with their token similarity, the others kept in their order below them."""
    out = logits.astype(float).copy()
    if not len(top):
        return out
    again = model.score(rerank_features(logits, x, top, similarity))
    rest = np.setdiff1d(np.arange(len(logits)), top)
    if len(rest):
        out[rest] = logits[rest] - logits[rest].max() + again.min() - 1.0
    out[top] = again
    return out


def rank_candidates(model: LinearScorer, candidates: list[Candidate], x: np.ndarray,
                    logits: np.ndarray | None = None) -> tuple[list[Candidate], np.ndarray]:
    """Candidates best first, each with its logit (the model's, unless `logits` are given)
    and its softmax share among them."""
    if not candidates:
        return candidates, x
    logits = model.score(x) if logits is None else logits
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    for c, logit, prob in zip(candidates, logits, probs, strict=True):
        c.score, c.probability = float(logit), float(prob)
    order = np.argsort(-logits, kind="stable")
    return [candidates[i] for i in order], x[order]


def topic_words(question: str) -> list[str]:
    """The words naming what a question is about: its names (capitalised words after the
    first) and up to three words after "the", "a", "its" and the like ("the Riverton fire",
    "the Harbor Bridge close ..."), up to a common word."""
    tokens = re.findall(r"[A-Za-z0-9][\w'’-]*|[^\w\s]", question)
    found: list[str] = []
    for i, token in enumerate(tokens):
        if i and token[:1].isupper() and token.lower() not in STOPWORDS:
            found.append(token)
        if token.lower() in _DETERMINERS:
            for after in tokens[i + 1:i + 4]:
                if not after[:1].isalnum() or after.lower() in STOPWORDS:
                    break
                found.append(after)
    return list(dict.fromkeys(found))


_DETERMINERS = frozenset("the a an this that these those its their his her".split())


def new_names(question: str, previous: Sequence[str]) -> set[str]:
    """Names in `question` that no earlier question used."""
    earlier = {w.lower() for text in previous for w in re.findall(r"[\w'’-]+", text)}
    return {w for w in question_entities(question) if w.lower() not in earlier}


class RefusalGate:
    """The extractive answerer's confidence in front of an LLM: below `threshold` the passages
    almost surely do not answer, so the LLM is not asked. Small models answer unanswerable
    questions anyway, and every call costs seconds; the threshold (`llm_gate` in the models
    file) is set at training to refuse at most 1 % of answerable questions."""

    def __init__(self, scorer: ExtractiveAnswerer, threshold: float) -> None:
        self.scorer = scorer
        self.threshold = threshold


class ExtractiveAnswerer:
    """Answers with the best sentence of the passages, its answer phrase first, or refuses.

    Refuses ("The articles don't say.") when the probability that the passages answer the
    question is under `threshold` (by default the operating point chosen at training).
    """

    mode: Literal["extractive", "llm"] = "extractive"
    label = "extractive (offline)"

    def __init__(self, models: AnswererModels, threshold: float | None = None,
                 token_vectors: TokenVectors | None = None) -> None:
        models.sentence.require(SENTENCE_FEATURES, "sentence")
        if models.rerank is not None:
            models.rerank.require(RERANK_FEATURES, "rerank")
        # Without the local model's word vectors (embeddings from a server), one pass ranks.
        self.token_vectors = token_vectors if models.rerank is not None else None
        models.confidence.require(CONFIDENCE_FEATURES, "confidence")
        models.span.require(SPAN_FEATURES, "span")
        self.models = models
        self.model_version = models.version
        self.threshold = threshold if threshold is not None else (models.confidence.threshold or 0.5)

    def condense(self, question: str, history: Sequence[Turn]) -> str:
        """Adds the previous question's key terms when this one leans on it."""
        previous = [t.content for t in history if t.role == "user"]
        if not previous:
            return question
        own = set(terms(question))
        # Only a question that points back ("it", "they", "who else", "what about ...") is a
        # follow-up; a short new question must not drag the old topic along. A pronoun next
        # to a name the conversation has not used yet points at that name ("How old was
        # Robin Williams when he died?"), not back.
        if not _LEANS_ON.search(question) and (
                not _POINTS_BACK.search(question) or new_names(question, previous)):
            return question
        # What the last question was about, not what it asked: "How many people died in the
        # Riverton fire?" lends "Riverton fire" to "And what caused it?", not "people died".
        words = topic_words(previous[-1]) or re.findall(r"[A-Za-z0-9][\w'’-]*", previous[-1])
        extra = [w for w in words
                 if w.lower() not in STOPWORDS and terms(w) and terms(w)[0] not in own]
        return f"{question} ({' '.join(dict.fromkeys(extra))})" if extra else question

    def score(self, evidence: Evidence) -> Scored:
        """Rank every candidate sentence and estimate whether the passages answer at all."""
        info = QuestionInfo.of(evidence.question)
        candidates, x = sentence_candidates(evidence, info)
        logits = self.models.sentence.score(x)
        if self.token_vectors is not None and self.models.rerank is not None and len(logits):
            top = np.argsort(-logits, kind="stable")[:RERANK_DEPTH]
            similarity = token_similarity(self.token_vectors, evidence.question,
                                          [candidates[i].text for i in top])
            logits = reranked_logits(self.models.rerank, logits, x, top, similarity)
        candidates, x = rank_candidates(self.models.sentence, candidates, x, logits)
        # Asked as of a past day, the answer and the confidence in it come from the reports
        # published by then (ranked, as the models were fitted, with every passage in view).
        later = {p.n for p in evidence.passages if not evidence.published(p)}
        if later and any(c.n in later for c in candidates):
            keep = [i for i, c in enumerate(candidates) if c.n not in later]
            candidates, x = [candidates[i] for i in keep], x[keep]
        found = best_phrase(self.models.span, info, candidates)
        conf_x = confidence_features(evidence, info, candidates, x,
                                     found.probability if found else 0.0)
        confidence = float(self.models.confidence.probability(conf_x)[0])
        dates = {p.n: p.article.date for p in evidence.passages}
        stories = {p.n: p.story_id for p in evidence.passages}
        first = latest_report_first(info, candidates, dates, stories,
                                    evidence.today or dt.date.today())
        if first:
            order = [first, *(i for i in range(len(candidates)) if i != first)]
            candidates, x = [candidates[i] for i in order], x[order]
            found = best_phrase(self.models.span, info, candidates)
        # The confidence reads the phrase the models were fitted on; the answer line shows
        # only a plausible one (not a value the sentence says was replaced).
        if found is not None and not plausible(info, found.phrase, found.source.text):
            found = best_phrase(self.models.span, info, candidates, strict=True)
        return Scored(info, candidates, x, conf_x, confidence, found, dates, stories)

    def draft(self, evidence: Evidence, history: Sequence[Turn]) -> Draft:
        scored = self.score(evidence)
        ranked = scored.candidates
        if not ranked or scored.confidence < self.threshold or (
                not history and dangling_reference(scored.info)):
            return Draft(NOT_IN_ARTICLES, grounded=False, confidence=scored.confidence,
                         trace=scored)
        found = scored.phrase
        shown = found if found is not None and found.probability >= (
            self.models.span.threshold or 0.5) else None
        today = evidence.today or dt.date.today()
        update = self.update_of(evidence, scored)
        if update is not None and update.current.candidate is not ranked[0]:
            # A later report changed the value: answer with it, the earlier one follows.
            ranked = [update.current.candidate] + [c for c in ranked
                                                   if c is not update.current.candidate]
        chosen = choose_sentences(ranked, self.models.sentence.threshold)
        if update is not None:
            chosen = chosen[:1]
        parts: list[str] = []
        quotes: dict[int, list[Span]] = {}
        scores: dict[int, float] = {}
        short = None
        if update is not None:
            short = " ".join(update.current.value.split())
        elif shown is not None and " ".join(shown.phrase.text.split()) != " ".join(
                ranked[0].text.split()):
            short = " ".join(shown.phrase.text.split())
            if shown.source is not ranked[0]:
                quotes.setdefault(shown.source.n, []).append(shown.source.span)
        if short is not None:
            source_n = shown.source.n if update is None and shown is not None else ranked[0].n
            date = next((p.article.date for p in evidence.passages if p.n == ranked[0].n), None)
            as_of = f", as of {day(date)}" if date and (update is not None or relative_window(
                evidence.question, today) is not None) else ""
            parts.append(with_marker(short.rstrip(".") + as_of + ".", source_n))
        for c in chosen:
            text = " ".join(c.text.split())
            if c.is_title and not re.search(r"[.!?][\"'”’)\]]*$", text):
                text += "."  # a headline quoted as a sentence of the answer
            parts.append(with_marker(text, c.n))
            quotes.setdefault(c.n, []).append(c.span)
            scores[c.n] = max(scores.get(c.n, 0.0), c.probability)
        if update is not None and update.earlier:
            parts.append(earlier_line(update))
            for r in update.earlier:
                quotes.setdefault(r.candidate.n, []).append(r.candidate.span)
        return Draft(" ".join(parts), grounded=True, quotes=quotes, scores=scores,
                     confidence=scored.confidence, short_answer=short, trace=scored,
                     updates=[update.to_dict(evidence.question)]
                     if update and update.earlier else [])

    def fallback(self, evidence: Evidence, history: Sequence[Turn]) -> Draft | None:
        return None  # its drafts quote the passages: there is nothing to verify away

    def update_of(self, evidence: Evidence, scored: Scored) -> Update | None:
        """The fact the best sentence answers, when the story's reports give it differently."""
        ranked, found = scored.candidates, scored.phrase
        if not ranked:
            return None
        if found is not None and found.source is ranked[0]:
            value: Phrase | None = found.phrase
        else:
            kind = found.phrase.kind if found else {"number": "number", "date": "date"}.get(
                scored.info.kind, "capital")
            value = value_in(self.models.span, scored.info, ranked[0].text, kind,
                             found.phrase.text if found else None)
        return find_update(
            scored.info, ranked, value,
            scored.dates, scored.stories, self.models.span,
            evidence.today or dt.date.today())

    def stream(self, evidence: Evidence, history: Sequence[Turn]) -> Iterator[str | Draft]:
        draft = self.draft(evidence, history)
        for i, piece in enumerate(draft.text.split(" ")):
            yield piece if i == 0 else " " + piece
        yield draft
