"""BM25 keyword index over chunk texts (bm25s), persisted beside the store and never rebuilt per query."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
from array import array
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path

import numpy as np

_WORD = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)?")
# The same words with the apostrophe suffix left out by the pattern itself (bulk tokenizing).
_WORD_HEAD = re.compile(r"([A-Za-z0-9]+)(?:['’][A-Za-z]+)?")
# bm25s's defaults (method "lucene"), which the bulk build reproduces score for score.
K1, B = 1.5, 0.75
EMPTY_TERM = "_empty_"
GENERATION_FILE = "generation"
BM25_BLOCK = 8192  # documents per block when scoring in bulk
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself yourselves
    s t also said says say""".split()
)


def _bm25s():  # type: ignore[no-untyped-def]
    import bm25s

    # bm25s sets its own logger to DEBUG on import; its progress notes are not for our users.
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    return bm25s


@lru_cache(maxsize=1)
def _stemmer():  # type: ignore[no-untyped-def]
    import Stemmer

    return Stemmer.Stemmer("english")


def words(text: str) -> list[str]:
    """Lower-cased words of `text` (apostrophe suffixes dropped)."""
    return [w.split("'")[0].split("’")[0].lower() for w in _WORD.findall(text)]


def terms(text: str) -> list[str]:
    """Stemmed content words: what BM25 and lexical overlap compare."""
    stem = _stemmer().stemWord
    return [stem(w) for w in words(text) if w not in STOPWORDS]


class KeywordIndex:
    """bm25s over chunks; row i of the index is `chunk_ids[i]`."""

    def __init__(self, retriever: object, chunk_ids: list[str], generation: int) -> None:
        self._retriever = retriever
        self.chunk_ids = chunk_ids
        self.generation = generation
        self.row_of = {cid: i for i, cid in enumerate(chunk_ids)}
        vocab = getattr(retriever, "vocab_dict", None) or {}
        self._vocab: dict[str, int] = vocab

    @classmethod
    def build(cls, chunks: Iterable[tuple[str, str]], generation: int) -> KeywordIndex:
        """The index of (chunk id, text) pairs, in their order, scored exactly as bm25s does.

        bm25s's own `index()` keeps every chunk's terms as a list of strings and counts them
        in Python loops: about 5 GB and minutes at a million chunks. Here each word is stemmed
        once per build, chunks become arrays of term numbers, and the counting is numpy.
        """
        bm25s = _bm25s()
        retriever = bm25s.BM25()
        chunk_ids: list[str] = []
        term_ids, lengths, vocab = _term_ids(_noting(chunks, chunk_ids))
        if len(lengths):
            scores = _bm25_scores(term_ids, lengths, len(vocab))
            del term_ids  # before bm25s keeps the index: the term numbers are as big
            retriever.scores = scores
            vocab[""] = len(vocab)  # bm25s's own empty token, last as in its `index()`
            retriever.vocab_dict = vocab
            retriever.unique_token_ids_set = set(vocab.values())
            retriever.nonoccurrence_array = None  # only the BM25L and BM25+ methods use it
        return cls(retriever, chunk_ids, generation)

    def save(self, folder: Path) -> None:
        """Write to a fresh folder and swap it in, so a reader never sees half an index."""
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        if self.chunk_ids:
            self._retriever.save(str(tmp), show_progress=False)  # type: ignore[attr-defined]
        (tmp / "chunks.json").write_text(
            json.dumps({"generation": self.generation, "chunk_ids": self.chunk_ids})
        )
        # Read before deciding to load: cheaper than chunks.json at a million chunks.
        (tmp / GENERATION_FILE).write_text(str(self.generation))
        old = folder.with_name(folder.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if folder.exists():
            os.replace(folder, old)
        os.replace(tmp, folder)
        shutil.rmtree(old, ignore_errors=True)

    @staticmethod
    def saved_generation(folder: Path) -> int | None:
        """The generation of the index saved in `folder`, if any."""
        with contextlib.suppress(OSError, ValueError):
            return int((folder / GENERATION_FILE).read_text())
        try:  # saved by an older version
            return int(json.loads((folder / "chunks.json").read_text())["generation"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    @classmethod
    def load(cls, folder: Path) -> KeywordIndex | None:
        """The saved index, or None when it is missing or unreadable (then it is rebuilt)."""
        bm25s = _bm25s()
        meta = folder / "chunks.json"
        if not meta.is_file():
            return None
        try:
            info = json.loads(meta.read_text())
            chunk_ids = list(info["chunk_ids"])
            retriever = (
                bm25s.BM25.load(str(folder), mmap=False, show_progress=False)
                if chunk_ids
                else bm25s.BM25()
            )
        except (OSError, ValueError, KeyError):
            return None
        return cls(retriever, chunk_ids, int(info["generation"]))

    def unknown(self, wanted: set[str] | frozenset[str]) -> frozenset[str]:
        """The terms no indexed chunk contains at all."""
        return frozenset(t for t in wanted if t not in self._vocab)

    def search(self, query: str, k: int, mask: np.ndarray | None = None) -> list[tuple[str, float]]:
        """Top chunks for `query` with raw BM25 scores; `mask` (0/1 per row) filters rows."""
        if not self.chunk_ids:
            return []
        tokens = [t for t in terms(query) if t in self._vocab]
        if not tokens:
            return []
        k = min(k, len(self.chunk_ids))
        docs, scores = self._retriever.retrieve(  # type: ignore[attr-defined]
            [tokens], k=k, show_progress=False, weight_mask=mask, n_threads=1
        )
        return [
            (self.chunk_ids[int(d)], float(s))
            for d, s in zip(docs[0], scores[0], strict=True)
            if s > 0
        ]


def _noting(chunks: Iterable[tuple[str, str]], ids: list[str]) -> Iterator[str]:
    """The texts of (id, text) pairs, appending each id to `ids` as its text is taken."""
    for chunk_id, text in chunks:
        ids.append(chunk_id)
        yield text


def _term_ids(texts: Iterable[str]) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """Every text's terms (as `terms()` gives them) as numbers: all of them in one array,
    each text's count, and the vocabulary. A text with no terms counts as one EMPTY_TERM."""
    stem = _stemmer().stemWord
    vocab: dict[str, int] = {}
    known: dict[str, int] = {}  # lower-cased word -> term number, -1 for a stopword
    ids = array("i")
    lengths = array("i")
    for text in texts:
        found = " ".join(_WORD_HEAD.findall(text)).lower().split()
        for word in set(found).difference(known):
            known[word] = -1 if word in STOPWORDS else vocab.setdefault(stem(word), len(vocab))
        row = [t for t in map(known.__getitem__, found) if t >= 0]
        if not row:
            row = [vocab.setdefault(EMPTY_TERM, len(vocab))]
        ids.extend(row)
        lengths.append(len(row))
    return (np.frombuffer(ids, dtype=np.int32), np.frombuffer(lengths, dtype=np.int32), vocab)


def _bm25_scores(term_ids: np.ndarray, lengths: np.ndarray, n_terms: int) -> dict[str, object]:
    """bm25s's score matrix (documents x terms, CSC) for these documents, as bm25s computes it:
    lucene idf in float32, term-frequency part in float64, their product stored as float32.

    Done in blocks of documents, so the temporary arrays stay the size of a block: at a
    million chunks, whole-corpus temporaries took several GB for a 0.5 GB index.
    """
    n_docs = len(lengths)
    ends = np.cumsum(lengths, dtype=np.int64)
    blocks = [(d0, min(d0 + BM25_BLOCK, n_docs)) for d0 in range(0, n_docs, BM25_BLOCK)]
    # Pass 1: each document's distinct terms and their counts; document frequencies.
    distinct = np.zeros(n_docs, dtype=np.int32)  # distinct terms per document
    terms: list[np.ndarray] = []
    counts: list[np.ndarray] = []
    df = np.zeros(n_terms, dtype=np.int64)
    for d0, d1 in blocks:
        first = int(ends[d0] - lengths[d0])
        docs = np.repeat(np.arange(d1 - d0, dtype=np.int64), lengths[d0:d1])
        pairs, tf = np.unique(docs * n_terms + term_ids[first : int(ends[d1 - 1])],
                              return_counts=True)
        distinct[d0:d1] = np.bincount(pairs // n_terms, minlength=d1 - d0)
        terms.append((pairs % n_terms).astype(np.int32))
        counts.append(tf.astype(np.uint16 if tf.max(initial=0) < 2**16 else np.uint32))
        df += np.bincount(terms[-1], minlength=n_terms)
    with np.errstate(divide="ignore"):
        idf = np.log(1 + (n_docs - df + 0.5) / (df + 0.5)).astype(np.float32)
    idf[df == 0] = 0
    norm = K1 * ((1 - B) + B * lengths.astype(np.float64) / float(np.mean(lengths)))
    # Pass 2: scores, written straight into their CSC place: column-major by term, documents
    # ascending within a term (bm25s's layout). Blocks come in document order, so each
    # term's next free slot only moves forward.
    indptr = np.zeros(n_terms + 1, dtype=np.int64)
    np.cumsum(df, out=indptr[1:])
    data = np.empty(int(indptr[-1]), dtype=np.float32)
    indices = np.empty(int(indptr[-1]), dtype=np.int32)
    free = indptr[:-1].copy()
    for (d0, d1), term, tf in zip(blocks, terms, counts, strict=True):
        doc = np.repeat(np.arange(d0, d1, dtype=np.int32), distinct[d0:d1])
        tf32 = tf.astype(np.float32)
        score = (idf[term] * (tf32 / (norm[doc] + tf32))).astype(np.float32)
        order = np.argsort(term, kind="stable")
        term = term[order]
        group = np.flatnonzero(np.r_[True, term[1:] != term[:-1]])
        sizes = np.diff(np.r_[group, len(term)])
        slot = free[term] + (np.arange(len(term)) - np.repeat(group, sizes))
        data[slot] = score[order]
        indices[slot] = doc[order]
        free[term[group]] += sizes
    return {"data": data, "indices": indices, "indptr": indptr, "num_docs": n_docs}
