"""Failover under load (issue 11): two `omnicat run` instances on one PostgreSQL, the scripted
desk of the storm test working, and the active instance killed (SIGKILL) or frozen (SIGSTOP,
resumed later) again and again. Used by `tests/test_reliability_failover.py` (correctness) and
`bench/failover.py` (takeover times).

Each round: find the active instance, take it out, time until the other one's `/healthz` says
it is serving (active, connected, caught up). A killed instance is started again and waits as
the standby; a frozen one is resumed a few seconds after the takeover, while the load goes on,
and must step down without acting: every line to the bot is then still answered once, and its
log says it lost the lease.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from chat import base_config, deep_merge, free_port, wait_until

from bot.devserver import DevServer
from bot.domain import State
from bot.store import Store
from bot.store.conversations import ConversationRepo
from reliability import invariants
from reliability.desk import agent_names, contact_names, desk_config, desk_seed
from reliability.load import Load
from reliability.process import BotProcess
from reliability.scripts import Answers, Person, Tally

AUTO_CLOSED = "Closed automatically after being on hold."


@dataclass
class Outcome:
    mode: str
    takeovers: list[float] = field(default_factory=list)
    #: per frozen round: seconds from SIGCONT until the woken instance said it stood by
    stepped_down: list[float] = field(default_factory=list)
    tally: Tally | None = None
    said: Answers | None = None
    found: invariants.Findings | None = None
    woken_logs: list[str] = field(default_factory=list)
    held_state: State | None = None
    held_closes: int = 0
    held_closer: str | None = None


def quiet(server: DevServer, for_seconds: float = 2.0, timeout: float = 90.0) -> None:
    """Wait until nobody has posted anything for `for_seconds`."""

    def count() -> int:
        with server.state.lock:
            return sum(len(v) for v in server.state.messages.values())

    last, since = count(), time.monotonic()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = count()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= for_seconds:
            return
    raise AssertionError("the chat never went quiet")


def run(
    tmp_path: Path,
    store_url: str,
    *,
    mode: str,
    rounds: int,
    agents: int = 8,
    contacts: int = 20,
    lease_ttl: int = 3,
    heartbeat: int = 1,
    frozen_for: float = 4.0,
    hold_close: int = 12,
    seed: int = 1911,
) -> Outcome:
    assert mode in ("kill", "stop")
    rnd = random.Random(seed)
    out = Outcome(mode)
    agent_list, contact_list = agent_names(agents), contact_names(contacts)
    server = DevServer(desk_seed(agents, contacts), port=0).start()
    procs: dict[str, BotProcess] = {}
    for name in ("a", "b"):
        home = tmp_path / name
        home.mkdir()
        config = deep_merge(
            base_config(server.url, home / "unused.db"),
            deep_merge(
                desk_config(agents),
                {
                    "store": {"url": store_url},
                    "http": {"listen": f"127.0.0.1:{free_port()}"},
                    "ha": {
                        "enabled": True,
                        "lease_ttl": f"{lease_ttl}s",
                        "heartbeat": f"{heartbeat}s",
                        "instance": name,
                    },
                    "departments": {"desk": {"agents": [*agent_list, "alice"]}},
                    "timers": {"on_hold_auto_close": f"{hold_close}s"},
                    "log": {"level": "WARNING"},
                },
            ),
        )
        path = home / "omnicat.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        procs[name] = BotProcess(path, f"http://{config['http']['listen']}/healthz", home)
    load: Load | None = None
    try:
        procs["a"].start()
        procs["a"].wait_role("active")
        procs["b"].start()
        procs["b"].wait_role("standby")

        # A chat put on hold before the first round: its auto-close must ring on whichever
        # instance is active then (the timer is re-armed from the store at the takeover).
        alice, carol = Person(server, "alice"), Person(server, "carol")
        assert alice.ask("/status available", 30) == "You are now available for chats."
        told = carol.ask("Please hold my case", 30) or ""
        assert told.startswith("Thanks! Your conversation #"), told
        held = int(told.split("#", 1)[1].split()[0])
        took = alice.ask(f"/take {held}", 30) or ""
        assert took.startswith(f"You took #{held}"), took
        room = server.room_by_name(took.split("Room: ", 1)[1].split(" ", 1)[0])
        assert room is not None
        alice.say(room["_id"], "Let me check and come back to you.")
        time.sleep(0.5)
        on_hold = alice.ask(f"/hold #{held}", 30) or ""
        assert on_hold.startswith(f"#{held} is on hold"), on_hold

        load = Load(server, agents=agent_list, contacts=contact_list, reply_timeout=90.0)
        load.start()
        for _ in range(rounds):
            time.sleep(rnd.uniform(1.5, 4.0))
            active = next(n for n, p in procs.items() if p.role() == "active")
            standby = procs["b" if active == "a" else "a"]
            victim = procs[active]
            started = time.monotonic()
            if mode == "kill":
                victim.kill9()
            else:
                victim.freeze()
            standby.wait_role("active", timeout=60)
            out.takeovers.append(time.monotonic() - started)
            if mode == "kill":
                victim.start()
                victim.wait_role("standby")
            else:
                time.sleep(frozen_for)  # the new active one serves; the old one sleeps on
                log_before = len(victim.all_logs())
                victim.thaw()
                out.stepped_down.append(victim.wait_role("standby", timeout=60))
                out.woken_logs.append(victim.all_logs()[log_before:])
        time.sleep(3.0)
        out.tally = load.finish(timeout=240.0)
        quiet(server)
        out.said = load.read_answers()
        wait_until(lambda: _held(store_url, held)[0] is State.CLOSED, 60, "the hold's auto-close")
        quiet(server)
        out.found = invariants.check(store_url, server, [*contact_list, "carol"])
        out.held_state, out.held_closes, out.held_closer = _held(store_url, held)
    finally:
        for proc in procs.values():
            proc.terminate()
        if load is not None:
            load.close()
        server.stop()
    return out


def _held(url: str, number: int) -> tuple[State | None, int, str | None]:
    store = Store(url)
    try:
        repo = ConversationRepo(store)
        conv = repo.get(number)
        closes = [e for e in repo.events(number) if e.kind == "closed"]
        return (conv.state if conv else None), len(closes), (conv.closer if conv else None)
    finally:
        store.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[k]


def summary(out: Outcome) -> list[str]:
    assert out.tally is not None and out.said is not None and out.found is not None
    said = out.said
    takeovers = ", ".join(f"{t:.1f}" for t in out.takeovers)
    lines = [
        f"[failover:{out.mode}] {len(out.takeovers)} takeovers in {takeovers} s "
        f"(p50 {percentile(out.takeovers, 0.5):.1f} s, max {max(out.takeovers):.1f} s)",
        f"[failover:{out.mode}] lines sent: {dict(out.tally.lines)}; "
        f"outcomes: {dict(out.tally.outcomes)}",
        f"[failover:{out.mode}] {said.lines} lines to the bot: {said.answered_once} answered "
        f"once, {len(said.unanswered)} unanswered, {len(said.failed)} 'went wrong', "
        f"{len(said.doubled)} answered twice or more",
        f"[failover:{out.mode}] store vs rooms: {out.found.summary()}",
    ]
    lines += [f"[failover:{out.mode}]   doubled: {line!r} -> {got}" for line, got in said.doubled]
    lines += [f"[failover:{out.mode}]   {p}" for p in out.found.problems[:20]]
    if out.stepped_down:
        lines.append(
            f"[failover:{out.mode}] woken ex-leaders stood by again after "
            + ", ".join(f"{s:.1f}" for s in out.stepped_down)
            + " s"
        )
    return lines
