"""Measure the per-claim support score on labelled claims, to choose its threshold.

Claims come from two places, all about the tuning sample (bench/data/llm-sample.jsonl):

- sentences a real model wrote (captured with `bench/llm_capture.py`), labelled by hand in
  bench/data/llm-claim-labels.jsonl: does one of the given passages state it?
- made-up ones with known labels: each answerable question's gold answer (supported), the
  gold answer of another question (not supported) and the reply an injection asks for,
  "BANANA" (not supported).

For each claim the best support over all sentences of the given passages is computed; the
script prints, per threshold, how many supported claims pass and unsupported ones are caught.

    python bench/llm_support.py CAPTURE... --corpus tests/fixtures/corpus --corpus seeds
    python bench/llm_support.py CAPTURE... --corpus ... --unlabelled   # claims still to label
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from assistant.answerers.llm import reply_draft
from assistant.citations import claim_regions, normalize_markers
from assistant.config import Settings
from assistant.evaluate import corpus_services, load_questions
from assistant.support import ClaimChecker, bare

HERE = Path(__file__).resolve().parent
SAMPLE = HERE / "data" / "llm-sample.jsonl"
LABELS = HERE / "data" / "llm-claim-labels.jsonl"
THRESHOLDS = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6)


def model_claims(captures: list[Path], questions: dict[str, Any]) -> list[tuple[str, str]]:
    """(question id, claim sentence) for every sentence of every non-refusal reply."""
    from llm_replay import answer_replies  # type: ignore[import-not-found]

    by_text = {q.question: q.id for q in questions.values()}
    out: list[tuple[str, str]] = []
    for capture in captures:
        for question, reply in answer_replies(capture).items():
            if question not in by_text or not reply_draft(reply.strip()).grounded:
                continue
            normal = normalize_markers(reply, 8)
            for region in claim_regions(normal):
                claim = bare(normal[region.start:region.end])
                if claim:  # a reply of markers alone says nothing
                    out.append((by_text[question], claim))
    return list(dict.fromkeys(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("capture", type=Path, nargs="*")
    parser.add_argument("--corpus", type=Path, action="append", required=True)
    parser.add_argument("--unlabelled", action="store_true",
                        help="print the model's claims that have no label yet, with evidence")
    args = parser.parse_args()
    questions = {q.id: q for q in load_questions(SAMPLE)}
    labels: dict[tuple[str, str], bool] = {}
    if LABELS.exists():
        for line in LABELS.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            labels[(row["id"], row["claim"])] = row["supported"]
    claims: list[tuple[str, str, bool | None, str]] = []
    for qid, claim in model_claims(args.capture, questions):
        claims.append((qid, claim, labels.get((qid, claim)), "model"))
    claims += [(qid, claim, supported, "labelled") for (qid, claim), supported in labels.items()
               if (qid, claim, supported, "model") not in claims]
    answerable = [q for q in questions.values() if q.answerable]
    for i, q in enumerate(answerable):
        other = answerable[(i + 7) % len(answerable)]
        claims.append((q.id, q.answers[0], True, "gold answer"))
        claims.append((q.id, other.answers[0], False, "another question's answer"))
        claims.append((q.id, "BANANA", False, "injection"))
    seen: set[tuple[str, str]] = set()
    unique = []
    for c in claims:
        if (c[0], c[1]) not in seen:
            seen.add((c[0], c[1]))
            unique.append(c)
    settings = Settings(llm="extractive")
    with corpus_services(settings, args.corpus) as services:
        asker = services.asker
        scored: list[tuple[str, str, bool | None, str, float, str]] = []
        for qid, claim, supported, origin in unique:
            q = questions[qid]
            evidence = asker._evidence(q.question, [], None, None, None, q.question_date, {})
            checker = ClaimChecker(evidence, services.embedder)
            ranked = checker.supports(claim)
            best = ranked[0] if ranked else None
            quote = ""
            if best is not None:
                passage = checker.by_n[best.n]
                body = evidence.body(passage.article.id) or ""
                quote = " ".join(body[best.span.start:best.span.end].split())
            scored.append((qid, claim, supported, origin, best.score if best else 0.0, quote))
    if args.unlabelled:
        for qid, claim, supported, _, score, quote in scored:
            if supported is None:
                print(json.dumps({"id": qid, "question": questions[qid].question,
                                  "claim": claim, "score": round(score, 3), "quote": quote}))
        return
    known = [s for s in scored if s[2] is not None]
    print(f"{len(known)} labelled claims ({sum(bool(s[2]) for s in known)} supported); "
          f"{len(scored) - len(known)} unlabelled left out")
    for origin in dict.fromkeys(s[3] for s in known):
        group = [s for s in known if s[3] == origin]
        print(f"  {origin}: {len(group)}")
    print("threshold  supported kept  unsupported caught  (model claims: kept / caught)")
    for t in THRESHOLDS:
        pos = [s for s in known if s[2]]
        neg = [s for s in known if not s[2]]
        mpos = [s for s in pos if s[3] in ("model", "labelled")]
        mneg = [s for s in neg if s[3] in ("model", "labelled")]
        print(f"{t:9.2f}  {sum(s[4] >= t for s in pos):3d}/{len(pos):<3d}        "
              f"{sum(s[4] < t for s in neg):3d}/{len(neg):<3d}            "
              f"{sum(s[4] >= t for s in mpos)}/{len(mpos)} / {sum(s[4] < t for s in mneg)}/"
              f"{len(mneg)}")
    print("errors at the chosen threshold (MIN_SUPPORT):")
    from assistant.support import MIN_SUPPORT

    for qid, claim, supported, origin, score, quote in known:
        if (score >= MIN_SUPPORT) != supported:
            print(f"  {qid} {origin} supported={supported} score={score:.3f}: {claim[:70]!r} "
                  f"| {quote[:90]!r}")


if __name__ == "__main__":
    main()
