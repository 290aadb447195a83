"""The chat window in a real browser: headless Chromium against `assistant serve`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.test_api import QUESTION, ROOT, SEED_TITLE, ingested_services

CHROMIUM = os.environ.get("ASSISTANT_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SEED_QUOTE = "President Donald Trump has invited Israeli Prime Minister Benjamin Netanyahu"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`assistant serve` in a subprocess over a store of the seed article."""
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"headless browser test needs Chromium at {CHROMIUM} "
                    "(apt-get install chromium); `make test` installs it")
    pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency")
    store = tmp_path_factory.mktemp("ui") / "store"
    ingested_services(store, [ROOT / "seeds"])
    port = free_port()
    command = [sys.executable, "-c", "from assistant.cli import main; main()", "serve",
               "--store", str(store), "--port", str(port)]
    env = {**os.environ, "ASSISTANT_LLM": "extractive"}
    log = tmp_path_factory.mktemp("ui-log") / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env,
                                   cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, f"assistant serve exited:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"server did not start:\n{log.read_text()}"
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def test_browser_user_asks_and_sees_an_answer_quoting_the_seed_article(served: str) -> None:
    from playwright.sync_api import sync_playwright

    outside: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("request", lambda r: outside.append(r.url)
                    if not r.url.startswith((served, "data:", "blob:")) else None)
            page.goto(served, wait_until="load")
            page.wait_for_selector("#chat", timeout=30_000)
            assert "extractive" in page.inner_text("#header")
            assert "1 article ·" in page.inner_text("#header")

            page.fill("#question textarea", QUESTION)
            page.keyboard.press("Enter")
            page.wait_for_selector("#chat .sources details.src", timeout=30_000)
            answer = page.inner_text("#chat .answer")
            assert "Netanyahu" in answer and "[1]" in answer
            source = page.locator("#chat details.src").first
            assert SEED_TITLE in source.inner_text()
            assert SEED_QUOTE in source.locator(".src-quote").first.inner_text()

            # Opening the source shows the quote highlighted in its article.
            source.locator("summary").click()
            highlighted = source.locator(".src-context mark").first
            highlighted.wait_for(state="visible", timeout=5_000)
            assert SEED_QUOTE in " ".join(source.locator(".src-context").inner_text().split())
        finally:
            browser.close()
    assert outside == [], f"the page reached outside the server: {outside[:3]}"
