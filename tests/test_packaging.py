"""How the project installs: no build warnings a newcomer would see on every `make`."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_licence_is_an_spdx_string_so_setuptools_does_not_warn_on_every_install() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    # The table form ({text = "MIT"}) printed a deprecation warning three times per `make test`.
    assert project["project"]["license"] == "MIT"
    # The string form needs setuptools 77 or later in the build environment.
    requires = project["build-system"]["requires"]
    assert any(r.replace(" ", "").startswith("setuptools>=") and
               int(r.split(">=")[1].split(".")[0].split(",")[0]) >= 77 for r in requires)


def test_the_demo_corpus_stays_clear_of_the_held_out_evaluation_and_is_attributed() -> None:
    import json

    from assistant.articles import read_articles

    held_out = set()
    for line in (ROOT / "bench/data/wikinews-heldout.jsonl").read_text().splitlines():
        if line.strip():
            held_out.update(json.loads(line)["article_ids"])
    articles, problems = read_articles([ROOT / "demo" / "articles"])
    assert not problems and 40 <= len(articles) <= 60
    assert held_out and not {a.id for a in articles} & held_out
    attribution = (ROOT / "demo" / "LICENSE_ATTRIBUTION.md").read_text()
    assert "CC BY 2.5" in attribution and "not Wikinews headlines" in attribution
    for a in articles:  # each links its Wikinews article, as the licence asks
        assert a.url and a.url.startswith("https://en.wikinews.org/wiki/?curid=")
        assert a.id == f"wn-{a.url.rsplit('=', 1)[1]}"
