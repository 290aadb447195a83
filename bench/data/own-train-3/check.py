#!/usr/bin/env python3
"""Validate the hand-written training questions in bench/data/own-train-3 (stdlib only).

The checks are own-train-2's (bench/data/own-train-2/check.py, which lists them), run on this
folder with "t3" ids, and no article id may clash with own-train-2's articles either.

Usage: python3 bench/data/own-train-3/check.py   (exit code 1 on errors)
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
_SPEC = importlib.util.spec_from_file_location("own_train_2_check",
                                               HERE.parent / "own-train-2" / "check.py")
assert _SPEC is not None and _SPEC.loader is not None
check = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(check)
check.OWN_DIR = HERE / "articles"
check.QUESTIONS = HERE / "questions.jsonl"
check.OTHER_DIRS = (*check.OTHER_DIRS, HERE.parent / "own-train-2" / "articles")
check.PREFIX = "t3"
check.ARTICLE_ID_RE = re.compile(r"^t3-\d{2}-[a-z0-9-]+$")
check.QUESTION_ID_RE = re.compile(r"^t3-\d{3}$")

if __name__ == "__main__":
    sys.exit(check.main())
