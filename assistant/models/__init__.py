"""Small learned models shipped as data: linear scorers read with numpy.

Each model is a JSON file beside this module (`answerer-v3.json`), written by
`bench/train_answerer.py` from public data, with a model card (`answerer-v3.md`). A scorer
lists the feature names it was fitted on; the code refuses a file whose names differ from the
features it computes, so training and answering can never drift apart silently.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from assistant.errors import ModelError

HERE = Path(__file__).resolve().parent
VERSION = "answerer-v3"


@dataclass(frozen=True)
class LinearScorer:
    """score(x) = w · (x - mean) / scale + bias: a logit; `probability` squashes it."""

    features: tuple[str, ...]
    weights: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    bias: float
    threshold: float | None = None

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> LinearScorer:
        return cls(
            features=tuple(raw["features"]),
            weights=np.asarray(raw["weights"], np.float64),
            mean=np.asarray(raw["mean"], np.float64),
            scale=np.asarray(raw["scale"], np.float64),
            bias=float(raw["bias"]),
            threshold=None if raw.get("threshold") is None else float(raw["threshold"]),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": list(self.features),
            "weights": [round(float(w), 6) for w in self.weights],
            "mean": [round(float(m), 6) for m in self.mean],
            "scale": [round(float(s), 6) for s in self.scale],
            "bias": round(self.bias, 6),
            "threshold": None if self.threshold is None else round(self.threshold, 6),
        }

    def require(self, names: tuple[str, ...], what: str) -> None:
        if names != self.features:
            raise ModelError(
                f"the {what} model in {VERSION}.json was fitted on other features than this code "
                "computes; retrain it with `python bench/train_answerer.py`"
            )

    def score(self, x: np.ndarray) -> np.ndarray:
        """Logits for the rows of `x` (n × len(features))."""
        if x.size == 0:
            return np.zeros(len(x))
        return ((x - self.mean) / self.scale) @ self.weights + self.bias

    def probability(self, x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.score(x)))

    def shift(self, row: Sequence[float], names: Sequence[str]) -> float:
        """How far these features move the logit of `row` from where it would be were they 0."""
        return float(sum(self.weights[i] * row[i] / self.scale[i]
                         for i in (self.features.index(n) for n in names)))


@dataclass(frozen=True)
class AnswererModels:
    """The learned parts of retrieval and the extractive answerer, one version together."""

    version: str
    fusion: LinearScorer
    sentence: LinearScorer
    span: LinearScorer
    confidence: LinearScorer
    # Below this confidence the LLM answerer refuses without asking the LLM.
    llm_gate: float
    # The second pass over the sentence ranker's best candidates (none in older files).
    rerank: LinearScorer | None = None


@lru_cache(maxsize=4)
def load_models(path: Path | None = None) -> AnswererModels:
    """The shipped models (or those at `path`, for training experiments)."""
    path = path or HERE / f"{VERSION}.json"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        parts = {name: LinearScorer.from_dict(raw["models"][name])
                 for name in ("fusion", "sentence", "span", "confidence")}
        rerank = (LinearScorer.from_dict(raw["models"]["rerank"])
                  if "rerank" in raw["models"] else None)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"cannot read the answerer models at {path}: {exc}; reinstall the "
                         "package or retrain with `python bench/train_answerer.py`") from None
    return AnswererModels(version=str(raw.get("version", path.stem)),
                          llm_gate=float(raw.get("llm_gate", 0.0)), rerank=rerank, **parts)
