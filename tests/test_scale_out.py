"""Several machines on one Chroma server: `assistant serve` replicas with empty store folders
answer from the server alone, follow an ingest run elsewhere, agree after ingests killed at
random moments, and keep answering when one of them dies. Everything is real: `chroma run`,
the CLI and the servers in their own processes, the ONNX model, HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from assistant.articles import read_articles
from assistant.errors import StoreBusyError
from assistant.ingest import ingest

from .conftest import CORPUS, ROOT, make_services
from .test_shared_store import NEW_ARTICLE
from .test_stories import FOLLOW_UP

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
TODAY = "2026-12-01"
NEW_QUESTION = "What did the Quillbury volcano cover with ash?"
# Question -> the article its answer must cite (from the 46-article test corpus).
QUESTIONS = {
    "Which contractor is carrying out the Harbor Bridge repairs?": "c01-harbor-bridge-closure",
    "How many jobs is Corvane Systems cutting?": "c21-corvane-layoffs",
    "When does the plastic bag ban take effect?": "c05-council-plastic-bag-ban",
    "How many turbines will the Gull Point Wind Farm have?": "c36-wind-farm-approval",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[Any], what: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"{what} exited with {proc.returncode}"
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} did not start listening on {port}")


def stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def chroma_server(folder: Path) -> Iterator[str]:
    """`chroma run` on 127.0.0.1, as the README tells a user to start it."""
    port = free_port()
    log = (folder.parent / f"{folder.name}.log").open("w")
    proc = subprocess.Popen(
        [str(BIN / "chroma"), "run", "--path", str(folder), "--host", "127.0.0.1",
         "--port", str(port)], stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "ANONYMIZED_TELEMETRY": "False"})
    try:
        wait_for_port(port, proc, "chroma run", 60)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)
        log.close()


def environment(chroma_url: str) -> dict[str, str]:
    return {**os.environ, "ASSISTANT_CHROMA_URL": chroma_url, "ASSISTANT_LLM": "extractive"}


def run_cli(chroma_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "assistant"), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, env=environment(chroma_url))


@dataclass
class Replica:
    """`assistant serve` with an empty store folder of its own and only the Chroma URL."""

    chroma_url: str
    store: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Replica:
        assert not self.store.exists() or not any(self.store.iterdir())
        log = (self.store.parent / f"{self.store.name}.log").open("ab")
        self.proc = subprocess.Popen(
            [str(BIN / "assistant"), "serve", "--port", str(self.port), "--store", str(self.store)],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=environment(self.chroma_url))
        log.close()
        return self

    def wait_ready(self) -> dict[str, Any]:
        assert self.proc is not None
        wait_for_port(self.port, self.proc, f"replica on {self.port}", 240)
        deadline = time.monotonic() + 60
        while True:
            reply = httpx.get(f"{self.url}/readyz", timeout=30)
            if reply.status_code == 200 or time.monotonic() > deadline:
                assert reply.status_code == 200, reply.text
                return dict(reply.json())
            time.sleep(0.2)

    def answer(self, question: str) -> dict[str, Any]:
        reply = httpx.post(f"{self.url}/api/answer", json={"question": question, "today": TODAY},
                           timeout=60)
        assert reply.status_code == 200, reply.text
        body = dict(reply.json())
        body.pop("timings_ms")
        return body

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()


@dataclass
class Cluster:
    chroma_url: str
    work: Path
    corpus: Path
    replicas: list[Replica]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A Chroma server holding the test corpus, ingested by a job on its own store folder,
    and two replicas started afterwards on empty folders of their own."""
    work = tmp_path_factory.mktemp("scale-out")
    corpus = work / "articles"
    shutil.copytree(CORPUS, corpus)
    with chroma_server(work / "chroma-server") as url:
        job = run_cli(url, "ingest", str(corpus), "--store", str(work / "job"), "--json")
        assert job.returncode == 0, job.stderr
        assert json.loads(job.stdout)["added"] == 46
        replicas = [Replica(url, work / name).start() for name in ("replica-a", "replica-b")]
        try:
            for replica in replicas:
                replica.wait_ready()
            yield Cluster(url, work, corpus, replicas)
        finally:
            for replica in replicas:
                if replica.proc is not None:
                    stop(replica.proc)


def wait_until_cited(replica: Replica, question: str, article_id: str,
                     seconds: float = 60) -> tuple[dict[str, Any], float]:
    """The replica's answer once it cites `article_id`, and how long that took."""
    started = time.monotonic()
    while True:
        body = replica.answer(question)
        if article_id in {c["article_id"] for c in body["citations"]}:
            return body, time.monotonic() - started
        assert time.monotonic() - started < seconds, (replica.url, body["answer"])
        time.sleep(0.25)


def test_replicas_on_empty_folders_answer_a_newly_ingested_article_alike(
        cluster: Cluster) -> None:
    a, b = cluster.replicas
    assert not (a.store / "registry.sqlite3").exists()  # nothing but caches on a replica
    before = a.answer(NEW_QUESTION)
    assert "quillbury-volcano" not in {c["article_id"] for c in before["citations"]}

    (cluster.corpus / "quillbury.md").write_text(NEW_ARTICLE, encoding="utf-8")
    other = run_cli(cluster.chroma_url, "ingest", str(cluster.corpus),
                    "--store", str(cluster.work / "job-elsewhere"), "--json")
    assert other.returncode == 0, other.stderr
    assert json.loads(other.stdout)["added"] == 1
    # No restart: each replica notices the new generation and loads it within seconds
    # (the bound here only keeps a broken build from hanging the suite).
    from_a, _ = wait_until_cited(a, NEW_QUESTION, "quillbury-volcano", seconds=30)
    from_b, _ = wait_until_cited(b, NEW_QUESTION, "quillbury-volcano", seconds=30)
    assert from_a["grounded"] and "zebra farms" in from_a["answer"]
    assert from_a == from_b  # answer, citations with offsets, passages and scores
    for question in QUESTIONS:
        assert a.answer(question) == b.answer(question)

    # A one-shot CLI on yet another empty folder answers the same too.
    asked = run_cli(cluster.chroma_url, "ask", NEW_QUESTION, "--today", TODAY, "--json",
                    "--store", str(cluster.work / "laptop"))
    assert asked.returncode == 0, asked.stderr
    from_cli = json.loads(asked.stdout)
    from_cli.pop("timings_ms")
    assert from_cli == from_a


def story_of(replica: Replica, article_id: str) -> dict[str, str | None]:
    """The other reports of the article's story as the replica lists them: id -> reprint_of."""
    reply = httpx.get(f"{replica.url}/api/articles/{article_id}", timeout=30)
    assert reply.status_code == 200, reply.text
    return {s["id"]: s["reprint_of"] for s in reply.json()["story"]}


def test_stories_filed_on_other_machines_are_the_embedded_stories_on_every_replica(
        cluster: Cluster, news_services: Any) -> None:
    a, b = cluster.replicas
    assert not list(a.store.glob("*.sqlite3"))  # a replica files nothing: it reads the server
    # The wire reprint pair (ingested by the cluster's job) is shown once, naming the copy.
    reply = httpx.post(f"{a.url}/api/search", timeout=60, json={
        "query": "Port Ellery dockworkers strike automation", "k": 8, "today": TODAY})
    assert reply.status_code == 200, reply.text
    wire = [p for p in reply.json()["passages"] if "port-ellery-strike" in p["article_id"]]
    assert len({p["article_id"] for p in wire}) == 1
    pair = {"c37-wire-port-ellery-strike", "c38-wire-port-ellery-strike-reprint"}
    assert [r["id"] for r in wire[0]["also_reported_by"]] == [
        (pair - {wire[0]["article_id"]}).pop()]
    # Every article's story is the one an embedded store files for it.
    embedded = news_services.retriever  # seeds and the corpus in one embedded store
    corpus = {article.id for article in read_articles([CORPUS])[0]}
    for article_id in sorted(corpus):
        expected = {m.id: reprint for m, reprint in embedded.story(article_id) if m.id in corpus}
        assert story_of(a, article_id) == story_of(b, article_id) == expected, article_id

    # A follow-up ingested from yet another machine is filed against the server's stories.
    (cluster.corpus / "c46-port-ellery-strike-ends.md").write_text(FOLLOW_UP, encoding="utf-8")
    other = run_cli(cluster.chroma_url, "ingest", str(cluster.corpus),
                    "--store", str(cluster.work / "job-third-machine"), "--json")
    assert other.returncode == 0, other.stderr
    assert json.loads(other.stdout)["added"] == 1
    for replica in (a, b):
        deadline = time.monotonic() + 30
        while "c46-port-ellery-strike-ends" not in story_of(replica,
                                                            "c37-wire-port-ellery-strike"):
            assert time.monotonic() < deadline, replica.url
            time.sleep(0.25)
        assert story_of(replica, "c46-port-ellery-strike-ends") == {
            "c37-wire-port-ellery-strike": None,
            "c38-wire-port-ellery-strike-reprint": "c37-wire-port-ellery-strike"}


@functools.lru_cache
def chroma_client(chroma_url: str) -> Any:
    """A plain chromadb client, to look at the server's collections from outside."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    host, port = chroma_url.rsplit(":", 1)
    return chromadb.HttpClient(host=host.split("//")[1], port=int(port),
                               settings=ChromaSettings(anonymized_telemetry=False))


def chroma_records(chroma_url: str, collection: str = "news_chunks") -> dict[str, set[str]]:
    """The ids in each of the server's collections for this index."""
    client = chroma_client(chroma_url)
    out = {}
    for kind in ("", "_articles", "_bodies", "_sentences"):
        ids = client.get_collection(collection + kind).get(include=[])["ids"]
        assert len(ids) == len(set(ids))
        out[kind or "chunks"] = set(ids)
    return out


# `assistant ingest` that kills itself with SIGKILL just before (or just after) its N-th write
# request to Chroma: every distinct state a kill can leave behind is a write boundary, and
# counting requests reaches each of them, where a timer mostly lands in the embedding.
KILLABLE_INGEST = """
import os, signal, sys
from chromadb.api.fastapi import FastAPI
import assistant.ingest
from assistant.cli import main

assistant.ingest.WRITE_CHUNKS = 6  # many small commits: many moments to be killed at
kill_at, after = int(sys.argv[1]), sys.argv[2] == "after"
real = FastAPI._make_request
writes = 0

def counted(self, method, path, **kwargs):
    global writes
    if method != "post" or path.rsplit("/", 1)[-1] not in ("add", "upsert", "update", "delete"):
        return real(self, method, path, **kwargs)
    writes += 1
    if writes == kill_at and not after:
        os.kill(os.getpid(), signal.SIGKILL)
    out = real(self, method, path, **kwargs)
    if writes == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    return out

FastAPI._make_request = counted
main(sys.argv[3:])
"""


def change_corpus(folder: Path, rng: random.Random, run: int) -> None:
    """Edit some articles, delete one, add two: each run of ingest has work to do."""
    files = sorted(p for p in folder.glob("*.md") if p.is_file())
    for path in rng.sample(files, 4):
        with path.open("a", encoding="utf-8") as f:
            f.write(f"\n\nUpdate {run}: officials in Riverton confirmed the details on "
                    f"day {run} of the week, and said more reports would follow.\n")
    rng.choice(files).unlink()
    for i in range(2):
        (folder / f"added-{run}-{i}.md").write_text(
            f"---\nid: added-{run}-{i}\ntitle: Report {run}-{i} on the Dunmore ferry\n"
            f"date: 2026-11-{10 + i:02d}\n---\nThe Dunmore ferry carried {100 * run + i} "
            "passengers across the bay on its first day. The crossing took forty minutes and "
            "the harbor master called it a success.\n", encoding="utf-8")


def test_ingests_killed_at_random_moments_leave_chroma_and_every_replica_in_agreement(
        cluster: Cluster) -> None:
    rng = random.Random(13)
    job = cluster.work / "killed-job"
    checker = make_services(cluster.work / "checker", None,
                            chroma_url=cluster.chroma_url).open_store()
    left_pending = []
    for run in range(6):
        change_corpus(cluster.corpus, rng, run)
        proc = subprocess.run(
            [sys.executable, "-c", KILLABLE_INGEST, str(rng.randint(1, 40)),
             rng.choice(["before", "after"]), "ingest", str(cluster.corpus), "--prune",
             "--store", str(job)], cwd=ROOT, env=environment(cluster.chroma_url),
            capture_output=True, text=True, timeout=600)
        # Killed (or done, when the run had fewer writes); a dead writer on this machine
        # leaves its lease to the next ingest at once.
        assert proc.returncode in (0, -signal.SIGKILL), proc.stderr
        left_pending.append(sum(s != "ready" for _, s in checker.registry.states().values()))
    assert max(left_pending) > 0  # some kills did land between a write's two phases

    final = run_cli(cluster.chroma_url, "ingest", str(cluster.corpus), "--prune",
                    "--store", str(job), "--json")
    assert final.returncode == 0, final.stderr
    again = run_cli(cluster.chroma_url, "ingest", str(cluster.corpus), "--prune",
                    "--store", str(job), "--json")
    assert json.loads(again.stdout)["chunks_embedded"] == 0  # nothing left to repair

    # Nothing lost, nothing duplicated: every file's article is ready, with exactly its
    # chunks in Chroma, and no record of a previous version or a deleted article remains.
    articles, problems = read_articles([cluster.corpus])
    assert not problems
    states = checker.registry.states()
    assert set(states) == {a.id for a in articles}
    assert {state for _, state in states.values()} == {"ready"}
    assert {h for h, _ in states.values()} == {a.content_hash for a in articles}
    chunk_ids = {row[0] for row in checker.registry.ready_chunks()}
    records = chroma_records(cluster.chroma_url)
    assert records["chunks"] == chunk_ids == records["_sentences"]
    assert records["_articles"] == records["_bodies"] == set(states)
    # Every article filed in a story once, and no filing left of a deleted one.
    client = chroma_client(cluster.chroma_url)
    for kind in ("_stories", "_story_filing"):
        assert set(client.get_collection("news_chunks" + kind).get(include=[])["ids"]) == set(
            states), kind
    generation = checker.registry.generation()

    # Every replica catches up to the same generation and serves the same index.
    edited = max(articles, key=lambda a: a.body.count("Update "))
    for replica in cluster.replicas:
        deadline = time.monotonic() + 60
        while (ready := replica.wait_ready())["loaded_generation"] != generation:
            assert time.monotonic() < deadline, ready
            time.sleep(0.25)
        assert ready["articles"] == len(articles) and ready["chunks"] == len(chunk_ids)
        listed = httpx.get(f"{replica.url}/api/articles", params={"limit": 500}).json()
        assert {a["id"] for a in listed["articles"]} == set(states)
        served = httpx.get(f"{replica.url}/api/articles/{edited.id}").json()
        assert served["body"] == edited.body
    a, b = cluster.replicas
    for question in QUESTIONS:
        assert a.answer(question) == b.answer(question)


async def hammer(urls: list[str], per_replica: int, stop_after: float,
                 kill: tuple[float, Replica]) -> dict[str, list[tuple[int, str, dict[str, Any]]]]:
    """`per_replica` clients per URL ask questions until `stop_after` seconds; `kill` says
    when to kill which replica. Returns each URL's (status, question, body) results; a
    connection error is status 0."""
    results: dict[str, list[tuple[int, str, dict[str, Any]]]] = {u: [] for u in urls}
    questions = list(QUESTIONS)
    started = time.monotonic()

    async def client(url: str, index: int) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            i = index
            while time.monotonic() - started < stop_after:
                question = questions[i % len(questions)]
                i += 1
                try:
                    reply = await http.post("/api/answer",
                                            json={"question": question, "today": TODAY})
                    results[url].append((reply.status_code, question, reply.json()))
                except httpx.TransportError:
                    results[url].append((0, question, {}))
                    await asyncio.sleep(0.05)

    async def killer() -> None:
        await asyncio.sleep(kill[0])
        await asyncio.to_thread(kill[1].kill)

    await asyncio.gather(killer(), *(client(u, i) for u in urls for i in range(per_replica)))
    return results


def test_a_replica_killed_under_load_leaves_the_other_answering_without_errors(
        cluster: Cluster) -> None:
    a, b = cluster.replicas
    results = asyncio.run(hammer([a.url, b.url], per_replica=4, stop_after=20, kill=(6, a)))
    survived = results[b.url]
    assert len(survived) >= 20
    for status, question, body in survived:
        assert status == 200, body
        assert body["question"] == question and body["grounded"] is True
        assert QUESTIONS[question] in {c["article_id"] for c in body["citations"]}
    lost = results[a.url]
    assert any(status == 200 for status, *_ in lost)  # it was answering before it died
    assert a.proc is not None and a.proc.returncode == -signal.SIGKILL

    # The dead replica left nothing behind in the server: a new one on another empty folder
    # answers exactly like the survivor.
    fresh = Replica(cluster.chroma_url, cluster.work / "replica-c").start()
    cluster.replicas.append(fresh)
    fresh.wait_ready()
    for question in QUESTIONS:
        assert fresh.answer(question) == b.answer(question)


# -- the writer lease, in one process against a real server ---------------------------------


@pytest.fixture()
def chroma_url(tmp_path: Path) -> Iterator[str]:
    with chroma_server(tmp_path / "chroma-server") as url:
        yield url


def few_articles(folder: Path) -> Path:
    folder.mkdir()
    for name in sorted(os.listdir(CORPUS))[:3]:
        shutil.copy(CORPUS / name, folder / name)
    return folder


# `assistant ingest` that waits at the writer lease until the test opens the gate, so two of
# them ask for it at the same moment.
AT_THE_GATE = """
import os, sys, time
from pathlib import Path
import assistant.registry
from assistant.cli import main

gate = Path(sys.argv[1])
take = assistant.registry.ChromaLease.take

def take_at_the_gate(self, command):
    (gate / f"waiting-{os.getpid()}").touch()
    while not (gate / "open").exists():
        time.sleep(0.002)
    return take(self, command)

assistant.registry.ChromaLease.take = take_at_the_gate
main(sys.argv[2:])
"""


def test_two_ingests_started_at_once_on_two_machines_do_not_both_write(
        tmp_path: Path, chroma_url: str) -> None:
    corpus = tmp_path / "articles"
    shutil.copytree(CORPUS, corpus)
    gate = tmp_path / "gate"
    gate.mkdir()
    procs = [subprocess.Popen(
        [sys.executable, "-c", AT_THE_GATE, str(gate), "ingest", str(corpus), "--json",
         "--store", str(tmp_path / f"machine-{i}")], cwd=ROOT, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment(chroma_url))
        for i in (1, 2)]
    deadline = time.monotonic() + 300
    while len(list(gate.glob("waiting-*"))) < 2:
        assert all(p.poll() is None for p in procs) and time.monotonic() < deadline
        time.sleep(0.05)
    (gate / "open").touch()
    outcomes = sorted((p.wait(timeout=600), p.pid, *p.communicate()) for p in procs)
    (won, winner, out, err), (refused, _, _, message) = outcomes
    assert (won, refused) == (0, 75), (err, message)
    assert json.loads(out)["added"] == 46
    assert f"another ingest (pid {winner} on {socket.gethostname()}, started " in message
    assert f"is writing to {chroma_url}; wait for it or stop it" in message
    store = make_services(tmp_path / "checker", None, chroma_url=chroma_url).open_store()
    assert {c[0] for c in store.registry.ready_chunks()} == chroma_records(chroma_url)["chunks"]
    assert store.stats().articles == 46


def test_a_lease_left_by_a_crashed_ingest_on_another_machine_blocks_only_until_it_expires(
        tmp_path: Path, chroma_url: str, embedder: Any) -> None:
    services = make_services(tmp_path / "here", embedder, chroma_url=chroma_url)
    store = services.open_store(create=True)
    meta = store.registry._collection("meta")  # what a crashed writer elsewhere left behind
    meta.add(ids=["lease-000000000001"], embeddings=[[0.5]], metadatas=[{
        "kind": "lease", "n": 1, "token": "theirs", "pid": 4242, "host": "newsroom-7",
        "boot": "other-boot", "pid_started": 1, "command": "ingest",
        "started": "2026-12-01T09:00:00", "expires": time.time() + 3, "released": False}])
    folder = few_articles(tmp_path / "articles")
    with pytest.raises(StoreBusyError, match="pid 4242 on newsroom-7"):
        ingest(store, services.embedder, [folder])
    assert store.stats().articles == 0
    time.sleep(3.5)
    report = ingest(store, services.embedder, [folder])
    assert report.added == 3 and store.stats().articles == 3


def test_an_ingest_whose_lease_was_taken_over_stops_before_writing(
        tmp_path: Path, chroma_url: str, embedder: Any) -> None:
    folder = few_articles(tmp_path / "articles")
    first = make_services(tmp_path / "first", embedder, chroma_url=chroma_url)
    store = first.open_store(create=True)
    ingest(store, first.embedder, [folder])
    second = make_services(tmp_path / "second", embedder, chroma_url=chroma_url)
    other = second.open_store()
    with store.writing():
        # This writer stalls past its lease (a long GC pause, a stopped VM): it expires, and
        # another machine's ingest takes over.
        meta = store.registry._collection("meta")
        held = meta.get(where={"kind": "lease"})
        meta.update(ids=held["ids"], metadatas=[{"expires": time.time() - 1}] * len(held["ids"]))
        with other.writing(), pytest.raises(StoreBusyError, match="lost the writer lease"):
            store.remove_articles([a.id for a in read_articles([folder])[0]])
    assert other.stats().articles == 3 and store.registry.states() == other.registry.states()


def test_readyz_tells_a_load_balancer_when_a_replica_can_answer_and_at_which_generation(
        tmp_path: Path, embedder: Any) -> None:
    from fastapi.testclient import TestClient

    from assistant.api import create_app

    folder = few_articles(tmp_path / "articles")
    server = chroma_server(tmp_path / "chroma-server")
    url = server.__enter__()
    try:
        job = make_services(tmp_path / "job", embedder, chroma_url=url)
        ingest(job.open_store(create=True), job.embedder, [folder])
        replica = make_services(tmp_path / "replica", embedder, chroma_url=url)
        with TestClient(create_app(replica, ui=False)) as client:

            def ready_at(generation: int) -> dict[str, Any]:
                deadline = time.monotonic() + 60
                while True:  # the first call starts loading; a balancer polls like this
                    reply = client.get("/readyz")
                    body = dict(reply.json())
                    if reply.status_code == 200 and body["loaded_generation"] == generation:
                        return body
                    assert reply.status_code in (200, 503) and body["status"] != "error", body
                    assert time.monotonic() < deadline, body
                    time.sleep(0.1)

            first = ready_at(job.store.registry.generation())
            assert first["status"] == "ready" and first["articles"] == 3
            assert first["chunks"] == first["vectors"] == len(job.store.registry.ready_chunks())

            (folder / "quillbury.md").write_text(NEW_ARTICLE, encoding="utf-8")
            ingest(job.store, job.embedder, [folder])
            later = ready_at(job.store.registry.generation())
            assert later["generation"] > first["generation"] and later["articles"] == 4

            server.__exit__(None, None, None)  # the Chroma server goes away
            gone = client.get("/readyz")
            assert gone.status_code == 503, gone.text
            assert gone.json()["status"] == "error"
            assert "Chroma" in gone.json()["error"]
    finally:
        server.__exit__(None, None, None)


def test_a_server_store_from_before_the_registry_moved_into_the_server_is_moved_not_re_embedded(
        tmp_path: Path, chroma_url: str, embedder: Any) -> None:
    folder = few_articles(tmp_path / "articles")
    # What an older version left behind: vectors in the server, the registry (articles,
    # offsets, sentence vectors) in the store folder of the machine that ingested.
    made = make_services(tmp_path / "store", embedder)
    ingest(made.open_store(create=True), made.embedder, [folder])
    question = "Who led the team that tested the chatbots?"
    before = made.asker.ask(question, today=dt.date(2026, 12, 1)).to_dict()
    local = made.store.collection.get(include=["embeddings", "metadatas", "documents"])
    chroma_client(chroma_url).create_collection(
        "news_chunks", metadata={"hnsw:space": "cosine"}, embedding_function=None).add(
        ids=local["ids"], embeddings=local["embeddings"], metadatas=local["metadatas"],
        documents=local["documents"])
    made.store.close()
    shutil.rmtree(tmp_path / "store" / "chroma")

    upgraded = make_services(tmp_path / "store", embedder, chroma_url=chroma_url)
    report = ingest(upgraded.open_store(create=True), upgraded.embedder, [folder])
    assert (report.chunks_embedded, report.unchanged, report.added) == (0, 3, 0)
    assert report.notes[0].startswith("moved the registry of 3 articles")
    assert not (tmp_path / "store" / "registry.sqlite3").exists()

    replica = make_services(tmp_path / "replica", embedder, chroma_url=chroma_url)
    after = replica.asker.ask(question, today=dt.date(2026, 12, 1)).to_dict()
    assert after["grounded"] and "Kowalczyk" in after["answer"]
    assert after["answer"] == before["answer"]  # and it is the same answer as before the move
    for part, keys in (("citations", ("article_id", "start", "end", "quote")),
                       ("passages", ("article_id", "start", "end", "text"))):
        # (Scores may differ in the 7th digit between embedded and server Chroma.)
        assert [[c[k] for k in keys] for c in after[part]] == [
            [c[k] for k in keys] for c in before[part]]


# An ingest that dies inside its last commit: the records are written, the generation that
# tells readers about them is not.
DIE_BEFORE_PUBLISHING = """
import os, signal, sys
import assistant.registry
from assistant.cli import main

def die(self, value=None):
    os.kill(os.getpid(), signal.SIGKILL)

assistant.registry.ChromaRegistry._bump = die
main(sys.argv[1:])
"""


def test_the_ingest_after_one_that_died_before_publishing_makes_replicas_read_again(
        tmp_path: Path, chroma_url: str, embedder: Any) -> None:
    folder = few_articles(tmp_path / "articles")
    job = make_services(tmp_path / "job", embedder, chroma_url=chroma_url)
    ingest(job.open_store(create=True), job.embedder, [folder])
    replica = make_services(tmp_path / "replica", embedder, chroma_url=chroma_url)
    assert len(replica.store.view().articles) == 3

    removed = sorted(folder.iterdir())[0]
    removed.unlink()
    died = subprocess.run([sys.executable, "-c", DIE_BEFORE_PUBLISHING, "ingest", str(folder),
                           "--prune", "--store", str(tmp_path / "job")], cwd=ROOT,
                          env=environment(chroma_url), capture_output=True, text=True,
                          timeout=300)
    assert died.returncode == -signal.SIGKILL, died.stderr
    # The next ingest finds nothing left to do, yet replicas must drop the removed article.
    again = run_cli(chroma_url, "ingest", str(folder), "--prune", "--store", str(tmp_path / "job"),
                    "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["chunks_embedded"] == 0
    deadline = time.monotonic() + 30
    while len(replica.store.view().articles) != 2:
        assert time.monotonic() < deadline, "the replica still lists the removed article"
        time.sleep(0.2)
    assert removed.stem not in replica.store.view().articles


@contextlib.contextmanager
def token_proxy(target: str, token: str) -> Iterator[tuple[str, list[str | None]]]:
    """An HTTP proxy on 127.0.0.1 that forwards to `target` only requests carrying
    `Authorization: Bearer <token>` (what a user puts in front of `chroma run`, which checks
    no credentials) and answers 401 to the rest; yields its URL and each request's header."""
    import http.client
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    host, port = target.split("//")[1].rsplit(":", 1)
    seen: list[str | None] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def forward(self) -> None:
            given = self.headers.get("Authorization")
            seen.append(given)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if given != f"Bearer {token}":
                # A wrong token gets a JSON reason; none at all an empty body (as Caddy's
                # `respond 401` sends), which Chroma's client reports as an empty error.
                reply = b'{"error": "Unauthorized", "message": "wrong token"}' if given else b""
                self.send_response(401)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)
                return
            upstream = http.client.HTTPConnection(host, int(port), timeout=60)
            headers = {k: v for k, v in self.headers.items()
                       if k.lower() not in ("host", "authorization", "connection")}
            upstream.request(self.command, self.path, body or None, headers)
            answer = upstream.getresponse()
            data = answer.read()
            self.send_response(answer.status)
            for k, v in answer.getheaders():
                if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            upstream.close()

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = forward

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_a_chroma_server_behind_a_token_proxy(tmp_path: Path) -> None:
    """ASSISTANT_CHROMA_TOKEN goes as a bearer token on every request; without it, or with a
    wrong one, the command stops with a message naming the setting, not a traceback."""
    corpus = tmp_path / "articles"
    corpus.mkdir()
    (corpus / "quillbury.md").write_text(NEW_ARTICLE, encoding="utf-8")
    with chroma_server(tmp_path / "chroma-server") as url, \
            token_proxy(url, "s3cret-T0ken") as (proxy, seen):
        def cli(token: str | None, *args: str) -> subprocess.CompletedProcess[str]:
            env = environment(proxy)
            env.pop("ASSISTANT_CHROMA_TOKEN", None)
            if token is not None:
                env["ASSISTANT_CHROMA_TOKEN"] = token
            return subprocess.run([str(BIN / "assistant"), *args], cwd=ROOT,
                                  capture_output=True, text=True, timeout=600, env=env)

        job = cli("s3cret-T0ken", "ingest", str(corpus), "--store", str(tmp_path / "job"))
        assert job.returncode == 0, job.stderr
        assert job.stdout.startswith("1 added")
        assert seen and all(h == "Bearer s3cret-T0ken" for h in seen)

        asked = cli("s3cret-T0ken", "ask", NEW_QUESTION, "--store", str(tmp_path / "reader"))
        assert asked.returncode == 0, asked.stderr
        assert "[1]" in asked.stdout and "Quillbury" in asked.stdout

        for token, hint in ((None, "set ASSISTANT_CHROMA_TOKEN"),
                            ("n0t-the-T0ken", "check ASSISTANT_CHROMA_TOKEN")):
            refused = cli(token, "stats", "--store", str(tmp_path / "other"))
            assert refused.returncode != 0
            assert "refused this client" in refused.stderr and hint in refused.stderr
            assert "Traceback" not in refused.stderr and "T0ken" not in refused.stderr


def test_reads_by_id_go_in_parts_and_server_errors_are_reported(
        cluster: Cluster, tmp_path: Path) -> None:
    """Reading many records by id once failed with the server's "too many SQL variables"
    (the first ingest after an index without stories read 100k chunks' sentences at once),
    as a traceback. Reads go in parts now, and what the server refuses is a StoreError."""
    from assistant.errors import StoreError

    store = make_services(tmp_path / "reader", None,
                          chroma_url=cluster.chroma_url).open_store()
    registry = store.registry
    chunk_ids = [row[0] for row in registry.ready_chunks()]
    made_up = [f"no-such-chunk-{i}" for i in range(40_000)]
    records = registry.chunk_records(made_up + chunk_ids)
    assert set(records) == set(chunk_ids)
    assert all(len(r.sentences) == len(r.sentence_vectors) for r in records.values())
    ready = list(registry.ready_articles())
    assert set(registry.bodies(ready + made_up)) == set(ready)

    with pytest.raises(StoreError, match=r"the Chroma server at .* failed to get"):
        registry._call("sentences", "get", ids=made_up, include=["metadatas"])
