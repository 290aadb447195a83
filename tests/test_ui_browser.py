"""The chat window in a real browser: headless Chromium against `assistant serve`."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import run_cli
from tests.test_api import QUESTION, ROOT, SEED_TITLE, ingested_services

CHROMIUM = os.environ.get("ASSISTANT_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SEED_QUOTE = "President Donald Trump has invited Israeli Prime Minister Benjamin Netanyahu"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def need_browser() -> None:
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"headless browser test needs Chromium at {CHROMIUM} "
                    "(apt-get install chromium); `make test` installs it")
    pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency")


@pytest.fixture(scope="module")
def seed_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need_browser()
    store = tmp_path_factory.mktemp("ui") / "store"
    ingested_services(store, [ROOT / "seeds"])
    return store


@pytest.fixture(scope="module")
def served(seed_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`assistant serve` in a subprocess over a store of the seed article."""
    yield from serve(seed_store, tmp_path_factory)


def serve(store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
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


# -- the chat tool: chips, welcome text, scrolling, thumbs, "why", export -------------------

SHOTS = Path(os.environ.get("ASSISTANT_TEST_SCREENSHOTS", "")) if os.environ.get(
    "ASSISTANT_TEST_SCREENSHOTS") else None
DESKTOP = (1280, 900)
PHONE = (390, 844)


@contextmanager
def chat_page(url: str, size: tuple[int, int] = DESKTOP) -> Iterator[Any]:
    """A headless Chromium page showing the chat window, ready for a question."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": size[0], "height": size[1]},
                                    accept_downloads=True)
            page.goto(url, wait_until="load")
            page.wait_for_selector("#chat", timeout=30_000)
            yield page
        finally:
            browser.close()


def ask(page: Any, question: str, answers_before: int = 0) -> None:
    """Types a question, sends it and waits for its finished answer."""
    page.fill("#question textarea", question)
    page.keyboard.press("Enter")
    page.wait_for_function(
        "n => document.querySelectorAll('#chat .answer, #chat .nf').length > n && "
        "!document.querySelector('#chat .cursor, #chat .pending')", arg=answers_before,
        timeout=30_000)
    page.wait_for_timeout(400)  # the page script places the question, then it must stay put


def screenshot(page: Any, name: str) -> None:
    if SHOTS is not None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"))


QUESTION_PLACE = """() => {
  const log = document.querySelector('#chat [role=log]');
  const rows = log.querySelectorAll('.message-row.user-row');
  const q = rows[rows.length - 1].getBoundingClientRect();
  const l = log.getBoundingClientRect();
  return {top: q.top, bottom: q.bottom, logTop: l.top, logBottom: l.bottom,
          height: window.innerHeight, scrollable: log.scrollHeight > log.clientHeight + 4};
}"""


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["1280x900", "390x844"])
def test_the_question_stays_in_view_above_its_answer(served: str, size: tuple[int, int]) -> None:
    with chat_page(served, size) as page:
        ask(page, QUESTION)
        ask(page, "What did Trump and Netanyahu discuss on the call?", answers_before=1)
        place = page.evaluate(QUESTION_PLACE)
        screenshot(page, f"question-in-view-{size[0]}x{size[1]}")
        assert place["scrollable"]  # the chat holds more than it shows: scrolling was needed
        assert place["logTop"] - 1 <= place["top"] and place["bottom"] <= place["logBottom"] + 1
        assert place["top"] >= 0 and place["bottom"] <= place["height"]


def test_example_chips_read_ask_about_and_send_a_question(served: str) -> None:
    with chat_page(served) as page:
        chip = page.locator("#chat .example").first
        assert chip.inner_text().startswith("Ask about: Trump Invites Netanyahu to White House")
        chip.click()
        page.wait_for_selector("#chat .sources details.src", timeout=30_000)
        asked = page.locator("#chat .message-row.user-row").first.inner_text()
        assert asked.startswith("Tell me about “Trump Invites Netanyahu to White House")
        assert "What happened:" not in asked


def test_thumbs_down_with_the_right_answer_becomes_a_fixture_eval_accepts(
        served: str, seed_store: Path, tmp_path: Path) -> None:
    with chat_page(served) as page:
        ask(page, QUESTION)
        page.get_by_label("Dislike").last.click()
        page.wait_for_selector("#note textarea", state="visible", timeout=10_000)
        page.fill("#note textarea", "Benjamin Netanyahu")
        page.click("#send-note")
        page.wait_for_selector("#note textarea", state="hidden", timeout=10_000)
        screenshot(page, "thumbs-down-saved")
    fixtures = tmp_path / "from-feedback.jsonl"
    exported = run_cli("feedback", "export", "--fixtures", str(fixtures), "--store",
                       str(seed_store))
    assert exported.returncode == 0, exported.stderr
    lines = [json.loads(x) for x in fixtures.read_text().splitlines()]
    mine = [x for x in lines if x["question"] == QUESTION and x["rating"] == "down"]
    assert mine and mine[-1]["answers"] == ["Benjamin Netanyahu"]
    assert mine[-1]["article_ids"] == ["000_0c3e0a23974ec483"]
    scored = run_cli("eval", str(fixtures), "--store", str(seed_store), "--json")
    assert scored.returncode == 0, scored.stderr
    summary = json.loads(scored.stdout)
    assert summary["n"] == len(lines) and summary["answer"]["accuracy"] == 1.0


def test_why_this_answer_panel_shows_the_scores(served: str) -> None:
    with chat_page(served) as page:
        ask(page, QUESTION)
        panel = page.locator("#chat details.why").last
        assert not panel.locator(".why-body").is_visible()  # collapsed until opened
        panel.locator("> summary").click()
        body = panel.locator(".why-body")
        body.wait_for(state="visible", timeout=5_000)
        screenshot(page, "why-this-answer")
        first = body.locator("tbody tr").first
        cells = [c.strip() for c in first.locator("td").all_inner_texts()]
        assert cells[0] == "1" and "source 1" in cells[1]
        assert float(cells[2]) and " · " in cells[3] and " · " in cells[4]
        text = body.inner_text()
        assert "confidence that the passages answer" in text and "candidate sentences" in text


def test_the_conversation_downloads_as_markdown(served: str) -> None:
    with chat_page(served) as page:
        ask(page, QUESTION)
        button = page.locator("#download")
        button.wait_for(state="visible", timeout=10_000)
        with page.expect_download() as download:
            button.click()
        text = Path(download.value.path()).read_text(encoding="utf-8")
    assert text.startswith("# Conversation with the news assistant")
    assert f"## {QUESTION}" in text and "Netanyahu" in text
    assert "   > President Donald Trump has invited Israeli Prime Minister" in text


@pytest.fixture()
def own_server(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    need_browser()
    store = tmp_path / "store"
    ingested_services(store, [ROOT / "seeds"])
    for url in serve(store, tmp_path_factory):
        yield url, store


def test_welcome_text_and_chips_follow_another_process_ingest(
        own_server: tuple[str, Path], tmp_path: Path) -> None:
    url, store = own_server
    with chat_page(url) as page:
        assert "Ask about the 1 article in the index" in page.inner_text("#chat")
        assert page.locator("#chat .example").count() == 1
        news = tmp_path / "news"
        news.mkdir()
        for name in ("c01-harbor-bridge-closure", "c26-rovers-cup-win",
                     "c36-wind-farm-approval", "c41-museum-exhibit"):
            (news / f"{name}.md").write_text(
                (ROOT / "tests/fixtures/corpus" / f"{name}.md").read_text(encoding="utf-8"),
                encoding="utf-8")
        ingested = run_cli("ingest", str(news), "--store", str(store))
        assert ingested.returncode == 0, ingested.stderr
        page.reload(wait_until="load")
        page.wait_for_selector("#chat .example", timeout=30_000)
        page.wait_for_function("document.querySelector('#chat').innerText.includes('5 articles')",
                               timeout=10_000)
        chips = page.locator("#chat .example").all_inner_texts()
        assert "5 articles ·" in page.inner_text("#header")
        assert any("Ilunga's late winner gives Rovers first trophy" in c for c in chips)
        assert len(chips) == 3


def test_a_date_that_does_not_exist_is_a_notice_and_the_chat_stays(served: str) -> None:
    with chat_page(served) as page:
        ask(page, QUESTION)
        page.locator("#filters").get_by_text("Date filter").first.click()
        page.locator("#since input").first.fill("2024-02-30")
        page.fill("#question textarea", "What did they discuss?")
        page.keyboard.press("Enter")
        toast = page.locator(".toast-wrap").first
        toast.wait_for(state="visible", timeout=15_000)
        assert "From '2024-02-30' is not a real date" in toast.inner_text()
        # The earlier answer is still there and the question is still in the box.
        assert page.locator("#chat .answer").count() == 1
        assert "Netanyahu" in page.inner_text("#chat .answer")
        assert page.input_value("#question textarea") == "What did they discuss?"
