"""The BM25 index: built in bulk (numpy over term numbers), it must score like bm25s itself."""

from __future__ import annotations

from typing import Any

from assistant.articles import read_articles
from assistant.chunking import chunk_article
from assistant.keyword import KeywordIndex, terms

from .conftest import CORPUS, SEEDS


def test_bm25_index_built_in_bulk_ranks_every_query_exactly_as_bm25s_does(embedder: Any) -> None:
    from assistant.keyword import _bm25s

    articles, _ = read_articles([SEEDS, CORPUS])
    chunks = [(c.id, c.text) for a in articles
              for c in chunk_article(a, embedder.count_tokens, 200, 30)]
    chunks += [("empty#0", ""), ("stopwords#0", "the and of it"), ("odd#0", "Zyx'qu ’s K9")]
    bulk = KeywordIndex.build(chunks, generation=1)
    reference = _bm25s().BM25()
    reference.index([terms(t) or ["_empty_"] for _, t in chunks], show_progress=False)
    by_bm25s = KeywordIndex(reference, [cid for cid, _ in chunks], 1)

    queries = ["Harbor Bridge repairs contractor", "How many jobs is Corvane cutting?",
               "plastic bag ban", "storm landfall forecast", "zyx", "k9", "the of"]
    queries += [a.title for a in articles]
    for query in queries:
        assert bulk.search(query, 20) == by_bm25s.search(query, 20), query
    assert bulk.unknown({"corvan", "xylophon"}) == by_bm25s.unknown({"corvan", "xylophon"})
