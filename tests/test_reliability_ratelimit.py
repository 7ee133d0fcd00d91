"""Rate limits (issue 7): the dev server limits everyone, the bot included (`exempt_bots=False`),
at a load that trips the limits again and again; nothing may be lost: every line answered
exactly once, every transition applied, store and rooms in agreement.

Limits as Rocket.Chat applies them: REST per endpoint and client address (the bot and the people
share 127.0.0.1 here, so they compete for one `chat.postMessage` budget), DDP `sendMessage` per
user per second.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest
from chat import wait_until
from reliability import invariants
from reliability.desk import agent_names, contact_names, desk_config, desk_seed
from reliability.load import Load

AGENTS = 5
CONTACTS = 15
SECONDS = 20.0
REST_CALLS_PER_SECOND = 8  # per endpoint, for everyone on 127.0.0.1 together
SEND_PER_SECOND = 3


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_rate_limits_lose_nothing(make_chat: Any) -> None:
    chat = make_chat(config=desk_config(AGENTS), seed=desk_seed(AGENTS, CONTACTS))
    agents, contacts = agent_names(AGENTS), contact_names(CONTACTS)
    load = Load(chat.server, agents=agents, contacts=contacts, reply_timeout=120.0)
    chat.server.clear_calls()
    chat.server.set_rate_limits(
        True,
        rest_calls=REST_CALLS_PER_SECOND,
        rest_window_ms=1000,
        send_message_per_sec=SEND_PER_SECOND,
        exempt_bots=False,
    )
    try:
        load.start()
        time.sleep(SECONDS)
        tally = load.finish(timeout=240.0)
        bot = chat.bot
        wait_until(lambda: bot.ready, 30, "the bot to be live")
        chat.idle(120)
        time.sleep(1.0)
        chat.idle(120)
        chat.server.set_rate_limits(False)
        said = load.read_answers()
        found = invariants.check(chat.config_data["store"]["url"], chat.server, contacts)
    finally:
        chat.server.set_rate_limits(False)
        load.close()

    limited = Counter(
        ("bot" if c.user == "omnicat" else "people", f"{c.kind}:{c.name}")
        for c in list(chat.server.calls)
        if c.status in (429, "too-many-requests")
    )
    calls = len(chat.server.calls)
    by_bot = sum(n for (who, _), n in limited.items() if who == "bot")
    print(
        f"\n[rate-limits] {AGENTS} agents, {CONTACTS} contacts, {SECONDS:.0f} s; limits "
        f"{REST_CALLS_PER_SECOND} REST calls/s per endpoint, {SEND_PER_SECOND} sendMessage/s "
        f"per user, bots not exempt: {sum(limited.values())} of {calls} calls refused "
        f"({by_bot} of the bot's)"
    )
    print(f"[rate-limits] refused: {dict(limited.most_common(8))}")
    print(f"[rate-limits] lines sent: {dict(tally.lines)}; outcomes: {dict(tally.outcomes)}")
    print(
        f"[rate-limits] {said.lines} lines to the bot: {said.answered_once} answered exactly "
        f"once, {len(said.unanswered)} unanswered, {len(said.failed)} 'went wrong', "
        f"{len(said.doubled)} answered more than once"
    )
    print(f"[rate-limits] store vs rooms: {found.summary()}")
    for problem in found.problems[:20]:
        print(f"[rate-limits]   {problem}")

    assert by_bot > 0, "the load never tripped the bot's limits"
    assert not tally.errors, tally.errors[:5]
    assert not tally.timeouts, tally.timeouts[:5]
    assert not said.unanswered, said.unanswered[:5]
    assert not said.failed, said.failed[:5]
    assert not said.doubled, said.doubled[:5]
    assert said.answered_once == said.lines == sum(tally.lines.values())
    assert not found.problems, found.problems[:10]
    assert found.events["held"] == tally.outcomes["held"]
    assert found.events["closed"] == tally.outcomes["closed"]
