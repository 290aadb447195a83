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
