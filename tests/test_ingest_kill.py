"""kill -9 in the middle of a batched ingest burst loses nothing and counts nothing twice.

A child process ingests a burst through the real dispatcher pool (batches across rooms) and gets
SIGKILL while it works: at a random moment, or at the worst one (a batch stored with its metrics
and handled, its marks not yet written: the child kills itself as it is about to write them).
The bot then starts again on the same SQLite file and gets every message once more (as catch-up
would replay them). Every message must be stored once and marked processed, and each
conversation's metrics must equal the one-by-one rule applied once per message: a batch stored
before the kill but not marked must not count again.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from functools import reduce
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from bot.domain import AGENT, CONTACT
from bot.store import Store
from bot.store.conversations import ConversationRepo

ROOT = Path(__file__).parents[1]
AGENTS = [f"agent{i}" for i in range(4)]
CONVERSATIONS, MESSAGES = 40, 12_000

CHILD = """
import sys
from datetime import datetime
sys.path.insert(0, {tests!r})
from test_ingest_kill import load_bench
from bot.store import Store
from bot.store.conversations import ConversationRepo
bench = load_bench()
bench.T0 = datetime.fromisoformat({t0!r})
store = Store("sqlite:///" + {db!r})
convs = ConversationRepo(store).open_conversations()
app, timers = bench.make_app(store, {agents!r})
if {kill_at}:
    import os, signal, threading
    real, calls, lock = store.record_processed, [], threading.Lock()
    def record_processed(*args, **kwargs):
        with lock:  # the earlier batches' marks are committed when the kill comes
            calls.append(1)
            if len(calls) == {kill_at}:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(*args, **kwargs)
    store.record_processed = record_processed
for message, _conv, _sender in bench.stream(convs, {n}):
    app.on_message(message)
print("submitted", flush=True)
app.wait_idle(600)
print("done", flush=True)
"""


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_ingest", ROOT / "bench" / "ingest.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    sys.modules["bench_ingest"] = bench
    spec.loader.exec_module(bench)
    return bench


def marked(db: Path) -> int:
    con = sqlite3.connect(db, timeout=30)
    try:
        return con.execute("SELECT count(*) FROM processed_messages").fetchone()[0]
    finally:
        con.close()


@pytest.mark.parametrize("kill_at", [0, 10], ids=["random-moment", "before-the-marks"])
def test_kill_9_mid_burst_then_replay(tmp_path: Path, kill_at: int) -> None:
    bench = load_bench()
    # now, as in the bench: the timers (running for real) are hours away during the test
    T0 = bench.T0 = datetime.now(UTC)
    db = tmp_path / "omnicat.db"
    setup = bench.prepare(db, CONVERSATIONS, AGENTS)
    setup.store.close()
    messages = bench.stream(setup.convs, MESSAGES)

    code = CHILD.format(
        tests=str(ROOT / "tests"),
        t0=T0.isoformat(),
        db=str(db),
        agents=AGENTS,
        n=MESSAGES,
        kill_at=kill_at,
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 120
        if kill_at:
            assert child.wait(120) == -signal.SIGKILL
        else:
            while marked(db) == 0 and child.poll() is None and time.monotonic() < deadline:
                time.sleep(0.002)
            child.send_signal(signal.SIGKILL)
            child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(30)
    done_before = marked(db)
    assert 0 < done_before < MESSAGES, f"killed too late to test anything ({done_before})"

    store = Store(f"sqlite:///{db}")
    app, timers = bench.make_app(store, AGENTS)
    try:
        results = app.process_many([m for m, _c, _s in messages])
        assert results.count("duplicate") >= done_before
        assert set(results) <= {"conversation", "duplicate"}
    finally:
        timers.stop()
        app.stop(30)
    bench.check(store, messages)  # every message stored; the last contact message noted
    assert marked(db) == MESSAGES

    def note(conv: Any, item: Any) -> Any:
        message, _conv, sender = item
        return conv.note_message(CONTACT if sender == CONTACT else AGENT, message.ts)

    repo = ConversationRepo(store)
    for conv in setup.convs:
        mine = [item for item in messages if item[1].number == conv.number]
        stored = repo.get(conv.number)
        assert stored is not None
        assert stored.metrics == reduce(note, mine, conv).metrics, conv.number
    store.close()
