"""How many conversation messages per second does the bot store and keep metrics for? (issue 7)

    .venv/bin/python bench/ingest.py                     # 20,000 messages over 200 conversations
    .venv/bin/python bench/ingest.py --messages 50000 --conversations 500
    .venv/bin/python bench/ingest.py --many-rooms         # 5,000 conversations, 1 message each
    .venv/bin/python bench/ingest.py --store postgresql://user:pw@127.0.0.1:5432/postgres
    .venv/bin/python bench/ingest.py --store auto         # a throwaway PostgreSQL (initdb)

With `--store`, every row runs on SQLite and then on PostgreSQL, side by side in the same run
(each on a fresh database: the URL's user must be allowed to CREATE DATABASE; the bench drops
what it created). `auto` starts a temporary cluster with the installed `initdb` (tests/pg.py),
with fsync and synchronous commits on, as a real server would run.

A real SQLite store (WAL, in a temp dir) with 200 conversations already taken by agents, and a
stream of messages in their rooms, contact and agent alternating, as they arrive from the server.
Each row is the same stream into a fresh store:

- `1 txn/message` (baseline): the minimum a bot must do per message, in one transaction
  per message: upsert the message row and update the conversation's metrics row;
- `app.process`: the bot's real path, synchronously on one thread, one message per call: the
  dispatcher (own-message filter, de-duplication by id + revision, room kind, command parse),
  the workflow storing the message with its conversation's metrics (one transaction), the
  handler chain (the workflow's auto-resume check, the timers' re-arm mark), then marking the
  message processed and advancing the room cursor (one transaction);
- `app (8 workers)`: the same through `App.on_message`, i.e. the dispatcher's pool with one
  serial queue per room, until idle. This is how the bot runs: a worker takes the plain
  messages waiting at the heads of the rooms' queues (up to 256) and handles them as one batch
  (one transaction to store them, one to mark them; see `bot.chat.ingest`), so the faster
  messages come, the bigger the batches;
- `app (unbatched)`: the pool with batches of one message (`max_batch=1`): what the pool does
  when no two messages ever wait at once;
- `batched x500`: only the store work (rows + metrics), one transaction per 500 messages: the
  ceiling for this schema;
- `timers flush`: only the timers' share: the same stream through the pool with the flush
  thread held off (untimed), then one timed flush re-arming every room the stream touched.

The goal (issue 7) is >= 5,000 messages/s on a 2-core machine.

Every app row includes the timers' flush (a re-arm check per room a message touched). With
many rooms and few messages each (`--many-rooms`) that flush is a large share of the time: it
reads all the dirty rooms' conversations in one statement and writes only the alarms that
change, in one job-store transaction.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bot.chat.types import Message, User, UserRef
from bot.config.load import parse_config
from bot.dispatch.app import App
from bot.domain import AGENT, CONTACT, Conversation
from bot.runtime.compose import compose
from bot.store import Store
from bot.store.conversation_rows import metrics_row
from bot.store.conversations import ConversationRepo
from bot.store.messages import MessageRepo
from bot.store.schema_conversations import conversations

# Real time: the scheduler runs for real (its flush thread included), and no alarm is due
# during the run (the timers below are hours away).
T0 = datetime.now(UTC)
GOAL = 5000.0
CONFIG = """
server: {url: "http://127.0.0.1:9", username: omnicat, password: x}
departments: {support: {agents: [%s]}}
timers:
  abandoned: {after: 2h, action: close}
  unanswered_transfer: {after: 1h}
"""


class NullChat:
    """The chat port for a bench that never talks: plain messages cause no chat effects."""

    bot_user = User(id="bot0", username="omnicat", roles=("bot",))

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"the ingest path called chat.{name}")


@dataclass
class Setup:
    store: Store
    convs: list[Conversation]


def prepare(where: Path | str, conversations_n: int, agents: list[str]) -> Setup:
    """A store (a SQLite file's path, or any store URL) with the taken conversations."""
    store = Store(f"sqlite:///{where}" if isinstance(where, Path) else where)
    repo = ConversationRepo(store)
    convs = []
    for i in range(conversations_n):
        conv, _ = repo.create(f"contact{i}", T0, by=f"contact{i}", department="support")
        repo.attach_room(conv.number, f"room{i}")
        agent = agents[i % len(agents)]
        result = repo.transition(conv.number, lambda c, a=agent: c.take(a, T0))
        convs.append(result.conversation)
    return Setup(store, convs)


def stream(convs: list[Conversation], n: int) -> list[tuple[Message, Conversation, str]]:
    """`n` messages round-robin over the rooms, contact and agent taking turns per room."""
    out = []
    for i in range(n):
        conv = convs[i % len(convs)]
        turn = i // len(convs)
        sender = CONTACT if turn % 2 == 0 else AGENT
        username = conv.contact_username if sender == CONTACT else (conv.agent or "agent")
        msg = Message(
            id=f"m{i}",
            rid=conv.rid or "",
            text=f"message {i} in #{conv.number}: my printer says error {i % 997}",
            ts=T0 + timedelta(seconds=60 + turn, microseconds=i % 1000),
            author=UserRef(f"u-{username}", username),
            room_type="p",
        )
        out.append((msg, conv, sender))
    return out


def make_app(store: Store, agents: list[str], **timer_options: Any) -> tuple[App, Any]:
    config = parse_config(CONFIG % ", ".join(agents), "<bench>", env={})
    parts = compose(
        store=store,
        config=config,
        chat=NullChat(),
        transcripts=False,
        reports=False,
        shortcuts=False,
        timer_options=timer_options,
        live=True,
    )
    assert parts.timers is not None
    parts.timers.start()
    return parts.app, parts.timers


def run_app_sync(store: Store, agents: list[str], msgs: list[Any]) -> float:
    app, timers = make_app(store, agents)
    try:
        started = time.perf_counter()
        for msg, _conv, _sender in msgs:
            result = app.process(msg)
            if result != "conversation":
                raise RuntimeError(f"{msg.id}: {result}")
        timers.flush()  # the timers' share of the work, had it not run meanwhile
        return time.perf_counter() - started
    finally:
        timers.stop()
        app.stop(30)


def run_app_pool(store: Store, agents: list[str], msgs: list[Any], max_batch: int = 256) -> float:
    app, timers = make_app(store, agents)
    app.rooms.max_batch = max_batch
    try:
        started = time.perf_counter()
        for msg, _conv, _sender in msgs:
            app.on_message(msg)
        if not app.wait_idle(600):
            raise RuntimeError("the dispatcher did not drain")
        timers.flush()
        return time.perf_counter() - started
    finally:
        timers.stop()
        app.stop(30)


def run_timers_flush(store: Store, agents: list[str], msgs: list[Any]) -> float:
    app, timers = make_app(store, agents, flush_every=3600.0)  # no flush during the ingest
    try:
        for msg, _conv, _sender in msgs:
            app.on_message(msg)
        if not app.wait_idle(600):
            raise RuntimeError("the dispatcher did not drain")
        started = time.perf_counter()
        timers.flush()
        return time.perf_counter() - started
    finally:
        timers.stop()
        app.stop(30)


def run_app_unbatched(store: Store, agents: list[str], msgs: list[Any]) -> float:
    return run_app_pool(store, agents, msgs, max_batch=1)


def run_txn_per_message(store: Store, agents: list[str], msgs: list[Any]) -> float:
    """The store work of one message (its row + its conversation's metrics) in one
    transaction each."""
    return run_batched(store, agents, msgs, batch=1)


def run_batched(store: Store, _agents: list[str], msgs: list[Any], batch: int = 500) -> float:
    repo, messages = ConversationRepo(store), MessageRepo(store)
    live = {c.number: c for c in repo.open_conversations()}
    update = (
        conversations.update()
        .where(conversations.c.number == sa.bindparam("n"))
        .values({k: sa.bindparam(k) for k in metrics_row(next(iter(live.values())).metrics)})
    )
    started = time.perf_counter()
    for start in range(0, len(msgs), batch):
        chunk = msgs[start : start + batch]
        touched: dict[int, Conversation] = {}
        for msg, conv, sender in chunk:
            current = live[conv.number].note_message(sender, msg.ts)
            live[conv.number] = touched[conv.number] = current
        with store.transaction() as conn:
            conn.execute(messages._upsert, [_row_of(m, c.number) for m, c, _s in chunk])
            conn.execute(update, [{"n": n, **metrics_row(c.metrics)} for n, c in touched.items()])
        messages._bump({m.rid for m, _c, _s in chunk})
    return time.perf_counter() - started


def _row_of(message: Message, number: int) -> dict[str, Any]:
    from bot.store.messages import _row

    return _row(message, number)


def check(store: Store, msgs: list[Any]) -> None:
    """Every message stored, every conversation's metrics advanced."""
    with store.reading() as conn:
        count = conn.execute(sa.text("SELECT count(*) FROM messages")).scalar_one()
    if count != len(msgs):
        raise RuntimeError(f"stored {count} of {len(msgs)} messages")
    repo = ConversationRepo(store)
    last = {c.number: m.ts for m, c, s in msgs if s == CONTACT}
    for number, ts in last.items():
        got = repo.get(number)
        assert got is not None and got.metrics.last_contact_message_at == ts, number


RUNS: list[tuple[str, Callable[..., float]]] = [
    ("1 txn/message", run_txn_per_message),
    ("app.process", run_app_sync),
    ("app (8 workers)", run_app_pool),
    ("app (unbatched)", run_app_unbatched),
    ("batched x500", run_batched),
    ("timers flush", run_timers_flush),
]


class Databases:
    """Fresh stores per row: SQLite files in a temp dir, PostgreSQL databases on a server."""

    def __init__(self, tmp: Path, pg_url: str | None) -> None:
        self.tmp = tmp
        self.pg: Any = None
        self.cluster: Any = None
        if pg_url is None:
            return
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
        from pg import PgCluster, PgServer, find_bindir

        if pg_url == "auto":
            bindir = find_bindir()
            if bindir is None:
                raise SystemExit("--store auto needs initdb (apt-get install postgresql)")
            self.cluster = PgCluster(bindir, durable=True).start()  # like a real server
            pg_url = self.cluster.url
        self.pg = PgServer(pg_url)

    def backends(self) -> list[str]:
        return ["sqlite"] if self.pg is None else ["sqlite", "postgresql"]

    def fresh(self, backend: str, name: str) -> str:
        if backend == "sqlite":
            return f"sqlite:///{self.tmp / f'{name}.db'}"
        return self.pg.fresh_database()

    def done(self, backend: str, url: str) -> None:
        if backend == "postgresql":
            self.pg.drop(url)

    def close(self) -> None:
        if self.cluster is not None:
            self.cluster.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--only", default="", help="comma-separated run names to keep")
    parser.add_argument(
        "--store",
        default=None,
        help="a PostgreSQL URL (or 'auto': a throwaway cluster) to run every row on as well",
    )
    parser.add_argument(
        "--many-rooms",
        action="store_true",
        help="the many-rooms shape: --conversations 5000 --messages 5000 (one message each)",
    )
    args = parser.parse_args(argv)
    if args.many_rooms:
        args.conversations = args.messages = 5000
    agents = [f"agent{i}" for i in range(args.agents)]
    only = [x.strip() for x in args.only.split(",") if x.strip()]
    with tempfile.TemporaryDirectory(prefix="omnicat-ingest-") as tmp:
        dbs = Databases(Path(tmp), args.store)
        try:
            _table(args, agents, only, dbs)
        finally:
            dbs.close()
    return 0


def _table(args: argparse.Namespace, agents: list[str], only: list[str], dbs: Databases) -> None:
    backends = dbs.backends()
    where = "SQLite WAL" if len(backends) == 1 else "SQLite WAL and PostgreSQL"
    print(
        f"ingest: {args.messages:,} messages over {args.conversations} conversations "
        f"({where}, one fresh store per row)"
    )
    header = (
        f"{'path':<18}{'store':<12}{'seconds':>9}{'msgs/s':>10}{'vs 1 txn':>10}{'goal 5,000/s':>14}"
    )
    print(header)
    print("-" * len(header))
    rates: dict[tuple[str, str], float] = {}
    for i, (name, fn) in enumerate(RUNS):
        if only and name not in only:
            continue
        for backend in backends:
            url = dbs.fresh(backend, f"run{i}")
            setup = prepare(url, args.conversations, agents)
            msgs = stream(setup.convs, args.messages)
            seconds = fn(setup.store, agents, msgs)
            check(setup.store, msgs)
            setup.store.close()
            dbs.done(backend, url)
            rate = rates[(name, backend)] = args.messages / seconds
            base = rates.get(("1 txn/message", backend))
            ratio = f"{rate / base:.2f}x" if base else "-"
            verdict = "met" if rate >= GOAL else "not met"
            if name == "timers flush":
                verdict = "-"  # a share of the path, not a path: the goal is for the app rows
            print(f"{name:<18}{backend:<12}{seconds:>9.2f}{rate:>10,.0f}{ratio:>10}{verdict:>14}")


if __name__ == "__main__":
    sys.exit(main())
