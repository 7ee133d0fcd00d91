"""Disconnect storm (issue 7): the dev server drops every socket every 2 s while scripted agents
and contacts run whole conversations (ask → take → greet → hold → resume → close, over and
over). Nothing may be lost or doubled: every line answered exactly once, every transition in the
events log once, and the store and the rooms agree at the end.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
from chat import wait_until
from reliability import invariants
from reliability.desk import agent_names, contact_names, desk_config, desk_seed, livechat_ready
from reliability.load import Every, Load

AGENTS = 10
CONTACTS = 30
#: the issue's 60 s (the whole reliability set stays near 3 minutes on 2 cores); set
#: OMNICAT_STORM_SECONDS=30 to shorten it
SECONDS = float(os.environ.get("OMNICAT_STORM_SECONDS", "60"))
#: on PostgreSQL half as long: the same paths, and the suite's time stays modest
PG_SHARE = 0.5
DROP_EVERY = 2.0
STALL_EVERY = 3.1  # out of step with the drops
STALL = 0.7


@pytest.mark.slow
@pytest.mark.timeout(300)
# The livechat desk runs on SQLite only (see test_reliability_kill.py).
@pytest.mark.parametrize(
    ("store_backend", "intake"),
    [("sqlite", "dm"), ("sqlite", "livechat"), ("postgresql", "dm")],
    indirect=["store_backend"],
)
def test_disconnect_storm_loses_and_doubles_nothing(
    make_chat: Any, store_backend: str, intake: str
) -> None:
    """`livechat`: the contacts are livechat visitors (visitor REST) instead of DM users."""
    # The DM desk on SQLite runs the full storm; the other desks half of it (suite time).
    full = store_backend == "sqlite" and intake == "dm"
    seconds = SECONDS * (1.0 if full else PG_SHARE)
    routing = os.environ.get("OMNICAT_STORM_ROUTING", "manual")
    chat = make_chat(
        config=desk_config(AGENTS, routing=routing, intake=intake),
        seed=desk_seed(AGENTS, CONTACTS),
    )
    agents, contacts = agent_names(AGENTS), contact_names(CONTACTS)
    if intake == "livechat":
        livechat_ready(chat.server, agents)
    load = Load(chat.server, agents=agents, contacts=contacts, reply_timeout=60.0, intake=intake)
    storm = Every(DROP_EVERY, chat.server.drop_all_sockets, name="storm")

    def stall() -> None:
        # and between drops, the realtime stream stalls for a moment, then bursts
        chat.server.pause_delivery()
        time.sleep(STALL)
        chat.server.resume_delivery()

    stalls = Every(STALL_EVERY, stall, name="stalls")
    try:
        load.start()
        storm.start()
        stalls.start()
        time.sleep(seconds)
        drops = storm.stop()
        stalled = stalls.stop()
        chat.server.resume_delivery()
        tally = load.finish(timeout=180.0)
        elapsed = time.monotonic() - load.started_at
        bot = chat.bot
        wait_until(lambda: bot.ready, 30, "the bot to be live again")
        chat.idle(60)
        time.sleep(1.0)  # anything still on the wire lands
        chat.idle(60)
        said = load.read_answers()
        found = invariants.check(
            chat.config_data["store"]["url"], chat.server, load.contact_usernames(contacts)
        )
    finally:
        storm.stop()
        stalls.stop()
        chat.server.resume_delivery()
        load.close()

    reconnects = bot.client.reconnects if bot and bot.client else -1
    print(
        f"\n[storm] {store_backend}: {AGENTS} agents, {CONTACTS} contacts, {seconds:.0f} s of load "
        f"({elapsed:.0f} s until every round finished), sockets dropped {drops} times "
        f"(every {DROP_EVERY:.0f} s), bot reconnected {reconnects} times; delivery stalled "
        f"{stalled} times ({STALL:.1f} s every {STALL_EVERY:.1f} s)"
    )
    print(f"[storm] lines sent: {dict(tally.lines)}; outcomes: {dict(tally.outcomes)}")
    print(
        f"[storm] {said.lines} lines to the bot: {said.answered_once} answered exactly once, "
        f"{len(said.unanswered)} unanswered, {len(said.failed)} 'went wrong', "
        f"{len(said.doubled)} answered more than once"
    )
    print(f"[storm] store vs rooms: {found.summary()}")
    for problem in found.problems[:20]:
        print(f"[storm]   {problem}")

    assert not tally.errors, tally.errors[:5]
    assert not tally.timeouts, tally.timeouts[:5]
    assert drops >= max(1, int(seconds / DROP_EVERY) - 2)
    assert tally.outcomes["closed"] > 0 and tally.outcomes["held"] > 0
    assert not said.unanswered, said.unanswered[:5]
    assert not said.failed, said.failed[:5]
    assert not said.doubled, said.doubled[:5]
    assert said.answered_once == said.lines == sum(tally.lines.values())
    assert not found.problems, found.problems[:10]
    # every successful command's transition is in the log exactly once
    assert found.events["taken"] == tally.outcomes["took"]
    assert found.events["held"] == tally.outcomes["held"]
    assert found.events["closed"] == tally.outcomes["closed"]
    assert found.events["requeued"] == tally.outcomes["requeued"]
