"""The offline embedder: the shipped model, its cached int8 derivative, pooling and padding."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from assistant.embeddings import OnnxEmbedder, model_files, quantized_model

TEXTS = [
    "President Donald Trump has invited Israeli Prime Minister Benjamin Netanyahu to the White House.",
    "The Harbor Bridge will close to all traffic for six weeks of repairs starting Monday.",
    "Short.",
    "Riverton Rovers fired manager Colin Dray on Sunday, a day after a 4-0 defeat. " * 8,
]


def test_quantized_model_is_built_once_and_agrees_with_the_shipped_one(tmp_path: Path) -> None:
    import onnx

    path = quantized_model(model_files()[0], tmp_path)
    assert path.is_file() and quantized_model(model_files()[0], tmp_path) == path
    ops = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert ("IsNaN" not in ops and "MatMulInteger" in ops | {"DynamicQuantizeMatMul"}) or \
        "DynamicQuantizeMatMul" in ops
    shipped = OnnxEmbedder().embed(TEXTS)
    fast = OnnxEmbedder(quantize=True, cache_dir=tmp_path)
    assert fast.name != OnnxEmbedder().name  # one index never mixes the two
    cosines = (fast.embed(TEXTS) * shipped).sum(axis=1)
    assert cosines.min() > 0.98


def test_vectors_are_unit_length_and_batching_does_not_change_them(embedder: Any) -> None:
    for model in (embedder, OnnxEmbedder(batch_size=16)):  # product default; padded batches
        together = model.embed(TEXTS)
        alone = np.vstack([model.embed([t]) for t in TEXTS])
        assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
        assert np.allclose(together, alone, atol=1e-3)  # padding and batch-mates leave no trace


def test_long_texts_are_truncated_at_256_word_pieces_not_128(embedder: Any) -> None:
    filler = "The council met again to talk about the budget. " * 15
    pieces = len(embedder.count_tokens(filler))
    assert 140 < pieces < 230
    # Text after piece 128 still counts (the shipped tokenizer.json would cut it off) ...
    a, b = embedder.embed([filler + "Harbor bridge repairs.", filler + "Football cup final."])
    assert float(a @ b) < 0.999
    # ... and text after piece 256 does not.
    long_filler = filler * 2
    c, d = embedder.embed([long_filler + "Harbor bridge.", long_filler + "Football cup."])
    assert float(c @ d) > 0.99999


def test_sentence_vectors_pooled_inside_a_chunk_point_at_their_own_sentence(embedder: Any) -> None:
    chunk = ("The council approved the budget on Tuesday. "
             "Meanwhile, Riverton Rovers won the Regional Cup final 2-1.")
    spans = [(0, 43), (44, len(chunk))]
    _, (pooled,) = embedder.embed_with_spans([chunk], [spans])
    question = embedder.embed(["Which football club won the cup final?"])[0]
    assert pooled.shape == (2, 384)
    assert float(pooled[1] @ question) > float(pooled[0] @ question)
