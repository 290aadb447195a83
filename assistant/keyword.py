"""BM25 keyword index over chunk texts (bm25s), persisted beside the store and never rebuilt per query."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

_WORD = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)?")
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
    def build(cls, chunk_ids: list[str], texts: Sequence[str], generation: int) -> KeywordIndex:
        bm25s = _bm25s()
        retriever = bm25s.BM25()
        corpus = [terms(t) or ["_empty_"] for t in texts]
        if corpus:
            retriever.index(corpus, show_progress=False)
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
        old = folder.with_name(folder.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if folder.exists():
            os.replace(folder, old)
        os.replace(tmp, folder)
        shutil.rmtree(old, ignore_errors=True)

    @staticmethod
    def saved_generation(folder: Path) -> int | None:
        """The generation of the index saved in `folder`, if any."""
        try:
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
