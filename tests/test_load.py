"""Many clients at once against a real uvicorn: no errors, and no answer crossed with another's."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.test_api import news_services_for, serve_in_thread

CLIENTS = 16
REQUESTS = 200
# Question -> the article its answer must cite.
QUESTIONS = {
    "Who did Trump invite to the White House?": "000_0c3e0a23974ec483",
    "Which contractor is carrying out the Harbor Bridge repairs?": "c01-harbor-bridge-closure",
    "How many jobs is Corvane Systems cutting?": "c21-corvane-layoffs",
    "When does the plastic bag ban take effect?": "c05-council-plastic-bag-ban",
    "Who won the Riverton mayoral election?": "c19-mayoral-election-results",
    # The follow-up report raised the count to 15; the answer comes from it.
    "How many people were injured in the Green Line derailment?":
        "c10-green-line-derailment-update",
    "Where was Delphine forecast to make landfall?": "c12-storm-delphine-forecast",
    "How many turbines will the Gull Point Wind Farm have?": "c36-wind-farm-approval",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from assistant.api import create_app

    services = news_services_for(tmp_path_factory)
    yield from serve_in_thread(create_app(services, ui=False))


async def hammer(base_url: str) -> list[tuple[str, int, dict[str, Any], float]]:
    """CLIENTS workers share REQUESTS questions; returns (question, status, body, seconds)."""
    questions = list(QUESTIONS)
    queue: asyncio.Queue[str] = asyncio.Queue()
    for i in range(REQUESTS):
        queue.put_nowait(questions[i % len(questions)])
    results: list[tuple[str, int, dict[str, Any], float]] = []

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            question = queue.get_nowait()
            started = time.perf_counter()
            reply = await client.post("/api/answer", json={"question": question})
            results.append((question, reply.status_code, reply.json(),
                            time.perf_counter() - started))

    limits = httpx.Limits(max_connections=CLIENTS)
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as client:
        await asyncio.gather(*(worker(client) for _ in range(CLIENTS)))
    return results


def test_sixteen_concurrent_clients_each_get_the_answer_to_their_own_question(
        server: str) -> None:
    results = asyncio.run(hammer(server))
    assert len(results) == REQUESTS
    for question, status, body, _ in results:
        assert status == 200, body
        assert body["question"] == question
        assert body["grounded"] is True
        assert QUESTIONS[question] in {c["article_id"] for c in body["citations"]}, question
    slowest = max(seconds for *_, seconds in results)
    assert slowest < 15, f"an answer took {slowest:.1f} s under load"
