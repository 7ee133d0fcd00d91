"""Failover (issue 11): two `omnicat run` instances on one PostgreSQL under the storm test's
load; the active one is SIGKILLed (first test) or frozen with SIGSTOP and resumed after the
standby took over (second test). See `reliability/failover.py` for the scenario.

What must hold:

- the standby takes over every time (the takeover times are printed; `bench/failover.py`
  measures them over more rounds, no timed assertions here);
- every line a person wrote to the bot is answered, none with "went wrong"; the store, the
  rooms and the events log agree (`reliability/invariants.py`); an on-hold auto-close armed
  before the first round rings once, after the takeovers;
- a frozen ex-leader does nothing when it wakes: it reports the lost lease, stands by again,
  and nothing it had queued is answered twice.

Answered *exactly* once: a SIGKILL (or a freeze) between a reply going out and its message
being marked processed makes the new instance handle that message again, but its replies carry
the ids the old instance's did (derived from the message, `bot.chat.effect_scope`) and the
server keeps one copy (issue 20): no repeats, never a doubled transition (the events chain
says so). A frozen instance that posted after waking would add its whole backlog instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from reliability import failover

from bot.domain import State

AGENTS = 8
CONTACTS = 20


def _check(out: failover.Outcome, rounds: int) -> None:
    for line in failover.summary(out):
        print(line)
    assert out.tally is not None and out.said is not None and out.found is not None
    assert len(out.takeovers) == rounds
    assert not out.tally.errors, out.tally.errors[:5]
    assert not out.tally.timeouts, out.tally.timeouts[:5]
    assert out.tally.outcomes["closed"] > 0 and out.tally.outcomes["took"] > 0
    assert not out.said.unanswered, out.said.unanswered[:5]
    assert not out.said.failed, out.said.failed[:5]
    assert out.said.lines == sum(out.tally.lines.values())
    assert not out.said.doubled, out.said.doubled  # exactly once (issue 20)
    assert not out.found.problems, out.found.problems[:10]
    assert out.held_state is State.CLOSED and out.held_closer == "bot"
    assert out.held_closes == 1


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_sigkill_the_active_instance_the_standby_takes_over(
    tmp_path: Path, pg_database: Any
) -> None:
    rounds = 3
    out = failover.run(
        tmp_path, pg_database(), mode="kill", rounds=rounds, agents=AGENTS, contacts=CONTACTS
    )
    _check(out, rounds)


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_sigstop_the_active_instance_it_wakes_fenced_and_stands_by(
    tmp_path: Path, pg_database: Any
) -> None:
    rounds = 2
    out = failover.run(
        tmp_path, pg_database(), mode="stop", rounds=rounds, agents=AGENTS, contacts=CONTACTS
    )
    _check(out, rounds)
    assert len(out.stepped_down) == rounds
    for log in out.woken_logs:
        assert "lost the lease" in log, log[-2000:]
        assert "stepping_down" in log, log[-2000:]
