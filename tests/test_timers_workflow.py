"""Each timer on the real dispatcher, workflow and SQLite store, with a controllable clock.

The scheduler runs paused: arming stores real APScheduler jobs in the database, and the test
rings them with `fire_due(now=...)` instead of waiting. Effects are asserted in the store and in
the rooms (the FakeChat chat port).
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from desk import build
from fakes import Clock, FakeChat

from bot.config.load import parse_config
from bot.domain import State
from bot.store import Store

MIN = timedelta(minutes=1)
TIMERS = {
    "on_hold_auto_close": "1h",
    "abandoned": {"after": "30m", "action": "close"},
    "queue_max_wait": {"after": "10m", "action": "alert"},
    "unanswered_transfer": {"after": "5m"},
    "agent_offline": {"after": "2m", "action": "forward"},
    "supervisor_room": "supervisors",
}


class Desk:
    """The bot (App + the services + TimerService + real SQLite store) on a FakeChat."""

    def __init__(self, tmp_path: Path, timers: dict[str, Any] | None = None, **extra: Any):
        data: dict[str, Any] = {
            "server": {"url": "http://127.0.0.1:9", "username": "omnicat", "password": "x"},
            "departments": {
                "support": {"agents": ["alice", "bob"]},
                "sales": {"agents": ["carl"], "routing": "auto"},
            },
            "commands": {"rate_limit": {"count": 0}},
            "intake": {"dm": {"department": "support"}},
            "timers": TIMERS if timers is None else timers,
        }
        data.update(extra)
        self.config = parse_config(yaml.safe_dump(data, sort_keys=False), "<test>", env={})
        self.tmp_path = tmp_path
        self.chat = FakeChat()
        for name in ("alice", "bob", "carl", "dave"):
            self.chat.add_user(name, "user", "livechat-agent")
        self.chat.add_user("maria", "user", "livechat-manager")
        self.chat.add_user("carol", "user", name="Carol Contact")
        self.chat.add_user("zoe", "user")
        self.chat.add_room("r-sup", "c", "supervisors")
        self.clock = Clock()
        self.closed: list[tuple[int, str]] = []
        self.start()

    def start(self, *, paused: bool = True, reconcile: bool = True) -> None:
        self.store = Store(f"sqlite:///{self.tmp_path / 'omnicat.db'}")
        parts = build(
            store=self.store, config=self.config, chat=self.chat, clock=self.clock, timers=True
        )
        self.app, self.wf, self.timers = parts.app, parts.services, parts.timers
        assert self.timers is not None
        self.wf.transitions.on_closed(lambda conv, by: self.closed.append((conv.number, by)))
        self.timers.start(paused=paused, reconcile=reconcile)

    def stop(self) -> None:
        self.timers.stop()
        self.app.stop(5)
        self.store.close()

    def restart(self, **kw: Any) -> None:
        self.stop()
        self.start(**kw)

    def say(self, username: str, rid: str, text: str) -> list[str]:
        self.clock.tick()
        before = len(self.chat.sent(rid))
        self.app.process(self.chat.say(username, rid, text, ts=self.clock.now))
        return self.chat.sent(rid)[before:]

    def dm(self, username: str, text: str) -> str:
        out = self.say(username, self.chat.dm_room(username), text)
        assert out, f"no answer to {text!r}"
        return out[-1]

    def cmd(self, username: str, number: int, text: str) -> str:
        """Typed in the conversation room: answered in the agent's console thread."""
        before = len(self.notes(number, username))
        in_room = self.say(username, self.conv(number).rid, text)
        out = self.notes(number, username)[before:]
        assert out, f"no answer to {text!r}"
        assert out[-1] not in in_room
        return out[-1]

    def notes(self, number: int, agent: str | None = None) -> list[str]:
        """The agent-only notes about #number, in its console threads."""
        return self.chat.console(self.wf, number, agent)

    def conv(self, number: int):
        return self.wf.repo.get(number)

    def ask(self, contact: str = "carol", text: str = "my printer is on fire") -> int:
        self.dm(contact, text)
        return self.wf.repo.open_for_contact(contact).number

    def served(self, agent: str = "alice", *, reply: bool = True) -> int:
        """A conversation taken by `agent` (who greets the contact when `reply`)."""
        self.dm(agent, "/status available")
        n = self.ask()
        self.dm(agent, f"/take {n}")
        if reply:
            self.say(agent, self.conv(n).rid, "Hello Carol, let me look.")
        return n

    def later(self, minutes: float) -> list[tuple[str, str, str]]:
        """Move the clock and ring what is due."""
        self.clock.tick(minutes * 60)
        return self.timers.fire_due(self.clock.now)

    def jobs(self) -> set[str]:
        return set(self.timers.jobs())


@pytest.fixture
def desk(tmp_path: Path):
    d = Desk(tmp_path)
    yield d
    d.stop()


# --- on hold ------------------------------------------------------------------------------------
def test_hold_auto_close_closes_through_the_close_path(desk: Desk) -> None:
    n = desk.served()
    desk.cmd("alice", n, "/hold")
    held_at = desk.conv(n).held_at
    assert desk.timers.jobs()[f"on_hold_auto_close:{n}"] == held_at + 60 * MIN
    assert desk.later(59) == []
    assert desk.later(2) == [("on_hold_auto_close", str(n), "closed")]
    conv = desk.conv(n)
    assert conv.state is State.CLOSED and conv.closer == "bot" and conv.closed_by == "omnicat"
    assert conv.comment == "Closed automatically after being on hold."
    assert "Closed by @omnicat: Closed automatically after being on hold." in desk.notes(n)
    assert not any("Closed by" in t for t in desk.chat.sent(conv.rid))
    assert desk.closed == [(n, "omnicat")]  # the "closed" hook ran (transcripts hang there)
    assert any(e.kind == "archive" and e.rid == conv.rid for e in desk.chat.effects)
    assert desk.jobs() == set()


def test_resume_cancels_the_hold_timer(desk: Desk) -> None:
    n = desk.served()
    desk.cmd("alice", n, "/hold")
    assert f"on_hold_auto_close:{n}" in desk.jobs()
    desk.say("carol", desk.conv(n).rid, "I'm back")  # auto-resume
    assert desk.conv(n).state is State.SERVING
    assert f"on_hold_auto_close:{n}" not in desk.jobs()
    assert desk.later(120) == []
    assert desk.conv(n).state is State.SERVING


def test_department_override_applies(tmp_path: Path) -> None:
    d = Desk(
        tmp_path,
        departments={
            "support": {
                "agents": ["alice", "bob"],
                "timers": {"on_hold_auto_close": "5m"},
            }
        },
    )
    try:
        n = d.served()
        d.cmd("alice", n, "/hold")
        assert d.later(6) == [("on_hold_auto_close", str(n), "closed")]
    finally:
        d.stop()


# --- abandoned ----------------------------------------------------------------------------------
def test_abandoned_close_after_the_agents_reply(desk: Desk) -> None:
    n = desk.served()
    assert desk.later(29) == []
    assert desk.later(2) == [("abandoned", str(n), "closed")]
    conv = desk.conv(n)
    assert conv.state is State.CLOSED
    assert conv.comment == "Closed automatically: the contact did not reply."


def test_a_contact_message_makes_abandoned_moot_and_a_new_reply_re_arms(desk: Desk) -> None:
    n = desk.served()
    rid = desk.conv(n).rid
    desk.later(20)
    desk.say("carol", rid, "still broken")
    assert f"abandoned:{n}" not in desk.jobs()
    assert desk.later(11) == []
    assert desk.conv(n).state is State.SERVING
    desk.say("alice", rid, "try the reset button")
    replied = desk.conv(n).metrics.last_agent_reply_at
    assert desk.timers.jobs()[f"abandoned:{n}"] == replied + 30 * MIN
    assert desk.later(29) == []
    assert desk.later(2) == [("abandoned", str(n), "closed")]


def test_later_reply_pushes_the_alarm_back(desk: Desk) -> None:
    n = desk.served()
    rid = desk.conv(n).rid
    desk.later(10)
    desk.say("alice", rid, "anything else?")
    # the message path re-arms lazily: the old alarm rings, finds it is not due yet, moves
    assert desk.later(21) == [("abandoned", str(n), "later")]
    assert desk.conv(n).state is State.SERVING
    assert desk.later(10) == [("abandoned", str(n), "closed")]


def test_abandoned_hold(tmp_path: Path) -> None:
    d = Desk(tmp_path, {"abandoned": {"after": "30m", "action": "hold"}})
    try:
        n = d.served()
        assert d.later(31) == [("abandoned", str(n), "held")]
        conv = d.conv(n)
        assert conv.state is State.ON_HOLD
        assert any(
            "Placed on hold automatically: @carol did not reply" in t for t in d.notes(n, "alice")
        )
        assert not any("automatically" in t for t in d.chat.sent(conv.rid))
    finally:
        d.stop()


def test_contact_silent_after_the_greeting_of_a_chat_they_never_answered(desk: Desk) -> None:
    n = desk.served(reply=False)
    desk.later(1)
    desk.say("alice", desk.conv(n).rid, "Hi! How can I help?")
    assert desk.later(31) == [("abandoned", str(n), "closed")]


# --- queue --------------------------------------------------------------------------------------
def test_queue_alert_goes_to_the_supervisors_once(desk: Desk) -> None:
    n = desk.ask()
    assert desk.timers.jobs()[f"queue_max_wait:{n}"] == desk.conv(n).queued_at + 10 * MIN
    assert desk.later(11) == [("queue_max_wait", str(n), "alerted")]
    alerts = desk.chat.sent("r-sup")
    assert len(alerts) == 1
    assert f"#{n} from @carol (Carol Contact) in support has waited 11m" in alerts[0]
    assert desk.conv(n).state is State.QUEUED
    assert f"queue_max_wait:{n}" not in desk.jobs()
    # a restart does not alert again for the same stay in the queue
    desk.restart()
    assert desk.later(30) == []
    assert len(desk.chat.sent("r-sup")) == 1


def test_queue_max_wait_close_tells_the_contact(tmp_path: Path) -> None:
    d = Desk(tmp_path, {"queue_max_wait": {"after": "10m", "action": "close"}})
    try:
        n = d.ask()
        assert d.later(11) == [("queue_max_wait", str(n), "closed")]
        conv = d.conv(n)
        assert conv.state is State.CLOSED and conv.closer == "bot"
        # closed: the contact reads the department's words in their DM (the room is archived)
        told = d.chat.sent(d.chat.dm_room("carol"))
        assert any("no agent could take your conversation in time" in t for t in told)
        assert any(
            f"conversation #{n} is closed" in t for t in d.chat.sent(d.chat.dm_room("carol"))
        )
    finally:
        d.stop()


def test_take_cancels_the_queue_timer(desk: Desk) -> None:
    desk.dm("alice", "/status available")
    n = desk.ask()
    assert f"queue_max_wait:{n}" in desk.jobs()
    desk.dm("alice", f"/take {n}")
    assert f"queue_max_wait:{n}" not in desk.jobs()
    assert f"unanswered_transfer:{n}" in desk.jobs()
    # firing a stale alarm by hand changes nothing
    assert desk.timers.fire("queue_max_wait", str(n), now=desk.clock.now + 60 * MIN) == "moot"
    assert desk.conv(n).state is State.SERVING


# --- unanswered transfer ------------------------------------------------------------------------
def test_unanswered_take_goes_back_to_the_queue_under_manual_routing(desk: Desk) -> None:
    desk.dm("bob", "/status available")
    n = desk.served(reply=False)
    assert desk.later(6) == [("unanswered_transfer", str(n), "rerouted")]
    conv = desk.conv(n)
    assert conv.state is State.QUEUED and conv.agent is None
    assert "@alice did not answer within 5m: back to routing." in desk.notes(n, "alice")
    kicked = [e for e in desk.chat.effects if e.kind == "kick" and e.rid == conv.rid]
    assert kicked, "alice leaves the room"
    assert any(f"New chat #{n}" in t for t in desk.chat.sent(desk.chat.dm_room("bob")))
    # told once, in the console thread (issue 16), not again at the top level of her DM
    alice_dm = desk.chat.dm_room("alice")
    top = [e.text or "" for e in desk.chat.effects if e.rid == alice_dm and not e.data.get("tmid")]
    assert not any("back to routing" in t for t in top), top


def test_unanswered_take_is_routed_to_another_agent_under_auto_routing(tmp_path: Path) -> None:
    d = Desk(
        tmp_path,
        departments={"support": {"agents": ["alice", "bob"], "routing": "auto"}},
    )
    try:
        d.dm("alice", "/status available")
        n = d.ask()
        first = d.conv(n).agent
        other = "bob" if first == "alice" else "alice"
        d.dm(other, "/status available")
        assert d.later(6) == [("unanswered_transfer", str(n), "rerouted")]
        assert d.conv(n).agent == other and d.conv(n).state is State.SERVING
    finally:
        d.stop()


def test_agent_writing_makes_unanswered_moot(desk: Desk) -> None:
    n = desk.served(reply=False)
    desk.say("alice", desk.conv(n).rid, "on it")
    assert f"unanswered_transfer:{n}" not in desk.jobs()
    assert desk.later(6) == []
    assert desk.conv(n).agent == "alice"


# --- agent offline ------------------------------------------------------------------------------
def test_agent_offline_forwards_their_chats(desk: Desk) -> None:
    desk.dm("bob", "/status available")
    n = desk.served()
    desk.chat.presences["u-alice"] = "offline"
    desk.app.handle_presence("u-alice", "alice", "offline")
    assert "agent_offline:alice" in desk.jobs()
    assert desk.later(3) == [("agent_offline", "alice", "forwarded")]
    conv = desk.conv(n)
    assert conv.agent != "alice"
    assert "@alice went offline: back to routing." in desk.notes(n, "alice")


def test_agent_back_online_cancels(desk: Desk) -> None:
    n = desk.served()
    desk.app.handle_presence("u-alice", "alice", "offline")
    desk.app.handle_presence("u-alice", "alice", "online")
    assert "agent_offline:alice" not in desk.jobs()
    assert desk.later(3) == []
    assert desk.conv(n).agent == "alice"


def test_not_available_status_arms_and_close_action(tmp_path: Path) -> None:
    d = Desk(tmp_path, {"agent_offline": {"after": "2m", "action": "close"}})
    try:
        n = d.served()
        d.dm("alice", "/status not-available")
        assert "agent_offline:alice" in d.jobs()
        assert d.later(3) == [("agent_offline", "alice", "closed")]
        assert d.conv(n).state is State.CLOSED
        assert d.conv(n).comment == "Closed automatically: @alice went offline."
    finally:
        d.stop()


# --- staleness, restart -------------------------------------------------------------------------
def test_close_cancels_everything(desk: Desk) -> None:
    n = desk.served(reply=False)
    assert desk.jobs() == {f"unanswered_transfer:{n}"}
    desk.cmd("alice", n, "/close fixed")
    assert desk.jobs() == set()
    assert desk.timers.fire("unanswered_transfer", str(n), now=desk.clock.now + 60 * MIN) == "moot"


def test_a_stale_timer_that_lost_the_race_changes_nothing(desk: Desk) -> None:
    """The timer decided, then someone else's transition won the compare-and-set: the
    timer re-decides on the new state and finds nothing due."""
    n = desk.served()
    desk.cmd("alice", n, "/hold")
    real = desk.wf.repo.get
    raced: list[bool] = []

    def get(number: int):
        conv = real(number)
        if not raced and conv is not None and conv.state is State.ON_HOLD:
            raced.append(True)
            desk.wf.conversations.resume(
                desk.chat.users["alice"], n
            )  # lands between the load and the CAS
        return conv

    desk.wf.repo.get = get  # type: ignore[method-assign]
    try:
        outcome = desk.timers.fire("on_hold_auto_close", str(n), now=desk.clock.now + 2 * 60 * MIN)
    finally:
        desk.wf.repo.get = real  # type: ignore[method-assign]
    assert raced and outcome == "moot"
    assert desk.conv(n).state is State.SERVING
    kinds = [e.kind for e in desk.store.events(n)]
    assert kinds.count("closed") == 0 and kinds.count("resumed") == 1


def test_jobs_survive_a_restart(desk: Desk) -> None:
    n = desk.served()
    desk.cmd("alice", n, "/hold")
    before = desk.timers.jobs()
    desk.restart(reconcile=False)
    assert desk.timers.jobs() == before  # read back from the job store table
    assert desk.later(61) == [("on_hold_auto_close", str(n), "closed")]


def test_missed_alarm_fires_once_at_start(desk: Desk) -> None:
    """Stopped before the alarm; started (not paused) long after: APScheduler fires it by
    itself once (misfire_grace_time=None, coalesce)."""
    n = desk.served()
    desk.cmd("alice", n, "/hold")
    desk.stop()
    desk.clock.tick(3 * 3600)  # the fake clock is in the past of the real one anyway
    desk.start(paused=False, reconcile=False)
    deadline = time.monotonic() + 20
    while desk.conv(n).state is not State.CLOSED and time.monotonic() < deadline:
        time.sleep(0.05)
    assert desk.conv(n).state is State.CLOSED
    time.sleep(0.3)
    assert [e.kind for e in desk.store.events(n)].count("closed") == 1
    assert desk.jobs() == set()


def test_reconcile_re_arms_after_a_config_change(tmp_path: Path) -> None:
    d = Desk(tmp_path)
    n = d.served()
    d.cmd("alice", n, "/hold")
    d.stop()
    d.config = parse_config(
        yaml.safe_dump(
            {
                "server": {"url": "http://127.0.0.1:9", "username": "omnicat", "password": "x"},
                "departments": {"support": {"agents": ["alice", "bob"]}},
                "intake": {"dm": {"department": "support"}},
                "timers": {"on_hold_auto_close": "10m"},
            }
        ),
        "<test>",
        env={},
    )
    d.start()
    try:
        assert d.timers.jobs()[f"on_hold_auto_close:{n}"] == d.conv(n).held_at + 10 * MIN
    finally:
        d.stop()


# --- /timers ------------------------------------------------------------------------------------
def test_timers_command_shows_what_is_armed(desk: Desk) -> None:
    n = desk.served(reply=False)
    answer = desk.cmd("alice", n, "/timers")
    assert answer.startswith(f"Timers for #{n} (serving):")
    assert "unanswered_transfer: sends it back to routing at" in answer
    assert "(in 5m)" in answer or "(in 4m)" in answer
    desk.say("alice", desk.conv(n).rid, "hello")
    answer = desk.dm("alice", f"/timers #{n}")
    assert "abandoned: closes it at" in answer and "unanswered" not in answer


def test_timers_command_permissions(desk: Desk) -> None:
    n = desk.served()
    assert desk.dm("maria", f"/timers #{n}").startswith(f"Timers for #{n}")
    # An agent of no department: refused, or (once chats are per department) not shown at all.
    dave = desk.dm("dave", f"/timers #{n}")
    assert "only of a conversation you are in" in dave or dave == f"There is no conversation #{n}."
    zoe = desk.dm("zoe", f"/timers #{n}")
    assert "Timers for" not in zoe
    desk.cmd("alice", n, "/close done")
    assert desk.dm("alice", f"/timers #{n}") == f"No timers are armed for #{n} (closed)."


def test_agent_gone_while_disconnected_is_armed_at_reconnect(desk: Desk) -> None:
    n = desk.served()
    desk.wf.roster.set_presence("alice", "offline")  # what a presence refresh would find
    desk.timers.check_agents()
    assert "agent_offline:alice" in desk.jobs()
    desk.chat.presences["u-alice"] = "offline"
    assert desk.later(3) == [("agent_offline", "alice", "forwarded")]
    assert desk.conv(n).state is State.QUEUED


def test_agent_offline_that_came_back_by_the_servers_word_is_moot(desk: Desk) -> None:
    n = desk.served()
    desk.app.handle_presence("u-alice", "alice", "offline")
    # the bot restarted meanwhile: the roster lost presences, the server says online
    desk.restart()
    assert "agent_offline:alice" in desk.jobs()
    assert desk.later(3) == [("agent_offline", "alice", "moot")]
    assert desk.conv(n).agent == "alice"
