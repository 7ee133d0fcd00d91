"""The supervisor's desk end to end (issue 19): a scripted morning of chats on one clock shared by
the dev server and the bot, then `/monitor`, `/report 7d +csv` and the daily digest, every number
checked against the script, the charts decoded as images.

Support has bob and erin, sales has alice; maria is a livechat-manager (sees everything, no
utcOffset: the config's zone, UTC); mona is a livechat-monitor listed as sales' monitor, with
utcOffset +2. The script (seconds after t0, tomorrow 09:00 UTC):

  #1 carol → support    0   bob takes 60, replies 90 (FRT 90), carol 200, bob 230 (30),
                            bob closes 600 tags=hardware (handle 540, queue 60, response avg 60)
  #2 dave  → support 1000   erin takes 1120, replies 1300 (FRT 300), closes 1900 tags=billing
                            (handle 780, queue 120)
  #3 zoe   → sales   2000   zoe closes it herself at 2300 while queued: abandoned (queue 300)
  #4 carol → sales   3000   still waiting at 3600 (queue 600)
  #5 frank → support 3100   bob takes 3160 (queue 60), no reply yet
  erin sets /status off at 3500; the reports run at 3600.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from typing import Any

import pytest
from chat import Chat, ChatUser, wait_until
from PIL import Image
from scripted_day import closes, opens, says, scripted_desk, takes

SEED_USERS = [
    {
        "username": "mona",
        "name": "Mona Monitor",
        "roles": ["user", "livechat-monitor"],
        "utcOffset": 2,
        "password": "mona-dev",
        "email": "mona@example.test",
    },
    {
        "username": "frank",
        "name": "Frank Contact",
        "roles": ["user"],
        "password": "frank-dev",
        "email": "frank@example.test",
    },
]
SEED_ROOMS = [
    {"name": "support-leads", "members": ["omnicat", "maria"]},
    {"name": "desk-leads", "members": ["omnicat", "maria"]},
]
CONFIG = {
    "departments": {
        "support": {"agents": ["bob", "erin"], "supervisor_room": "support-leads"},
        "sales": {"agents": ["alice"], "monitors": ["mona"]},
    },
    "routing": {"max_chats_per_agent": 2},
    "timers": {"supervisor_room": "desk-leads"},
    "reports": {"timezone": "UTC", "digest_at": "08:00"},
    "commands": {"rate_limit": {"count": 0}},
}


@pytest.fixture
def desk(make_chat: Any, monkeypatch: Any) -> Any:
    """The chat, and `at(seconds)` that moves the shared clock to t0 + seconds."""
    return scripted_desk(
        make_chat, monkeypatch, config=CONFIG, seed_users=SEED_USERS, seed_rooms=SEED_ROOMS
    )


# --- the script -------------------------------------------------------------------------------
def play_the_morning(chat: Any) -> None:
    at = chat.at
    for agent in ("bob", "erin", "alice"):
        assert chat.user(agent).dm_bot("/status available") == "You are now available for chats."
    at(0)
    assert opens(chat, "carol", "support", "My router blinks red") == 1
    at(60)
    takes(chat, "bob", 1)
    at(90)
    says(chat, "bob", 1, "Hi Carol, let me look")
    at(200)
    says(chat, "carol", 1, "it is still red")
    at(230)
    says(chat, "bob", 1, "Unplug it for ten seconds")
    at(600)
    closes(chat, "bob", 1, "/close fixed tags=hardware")
    at(1000)
    assert opens(chat, "dave", "support", "Invoice question") == 2
    at(1120)
    takes(chat, "erin", 2)
    at(1300)
    says(chat, "erin", 2, "Hello Dave")
    at(1900)
    closes(chat, "erin", 2, "/close explained tags=billing")
    at(2000)
    assert opens(chat, "zoe", "sales", "Do you ship to Mars?") == 3
    at(2300)
    closes(chat, "zoe", 3, "/close")
    at(3000)
    assert opens(chat, "carol", "sales", "A quote please") == 4
    at(3100)
    assert opens(chat, "frank", "support", "My modem is dead") == 5
    at(3160)
    takes(chat, "bob", 5)
    at(3500)
    assert chat.user("erin").dm_bot("/status off") == (
        "You are now not available: no new chats will be routed to you."
    )
    at(3600)


# --- reading the answers ------------------------------------------------------------------------
def files_in(chat: Chat, user: ChatUser) -> list[dict[str, Any]]:
    return [
        m
        for m in chat.messages(user.bot_dm)
        if (m.get("u") or {}).get("username") == chat.bot_username and m.get("file")
    ]


def new_files(chat: Chat, user: ChatUser, before: int, count: int) -> list[tuple[str, bytes]]:
    got = wait_until(
        lambda: (lambda fs: fs if len(fs) >= before + count else None)(files_in(chat, user)),
        what=f"{count} file(s) in @{user.username}'s DM",
    )
    out = []
    for m in got[before : before + count]:
        att = m["attachments"][0]
        out.append((m["file"]["name"], user.rest.download(att["title_link"])))
    return out


def png(data: bytes) -> tuple[tuple[int, int], str]:
    """Decodes the chart (fully: `load`), its size and the title written into it."""
    image = Image.open(io.BytesIO(data))
    image.load()
    assert image.format == "PNG"
    return image.size, image.info["Title"]


def ask(chat: Chat, user: ChatUser, line: str, files: int) -> tuple[str, list[tuple[str, bytes]]]:
    before = len(files_in(chat, user))
    text = user.dm_bot(line)
    return text, new_files(chat, user, before, files)


# --- the tests --------------------------------------------------------------------------------
def test_manager_monitor_report_and_digest(desk: Any) -> None:
    play_the_morning(desk)
    maria = desk.user("maria")

    text, files = ask(desk, maria, "/monitor", 1)
    lines = text.splitlines()
    assert lines[0] == f"Desk at {desk.t0:%Y-%m-%d} 10:00 UTC (all departments)"
    assert lines[1:] == [
        "sales: 1 waiting (longest 10m) · 0 serving · 0 on hold",
        "  agents: 1 available · 0 busy · 0 away · 0 offline",
        "  @alice available 0/2",
        "support: 0 waiting · 1 serving · 0 on hold",
        "  agents: 1 available · 0 busy · 1 away · 0 offline",
        "  @bob available 1/2 · @erin away 0/2",
        "Waiting now: 1 · arrivals in the last 6h: 5",
    ]
    ((name, chart),) = files
    assert name.startswith("desk-") and name.endswith(".png")
    assert png(chart) == ((800, 400), lines[-1])

    text, files = ask(desk, maria, "/report 7d +csv", 3)
    lines = text.splitlines()
    assert lines[0] == "Report for the last 7 days: all departments"
    assert lines[2:9] == [
        "Opened 5 · served 3 · abandoned 1 · closed 3",
        "First response: p50 3m 15s · p90 4m 39s (2 chats)",  # 90 s, 300 s
        "Response time: p50 3m 00s · p90 4m 36s (2 chats)",  # averages 60 s, 300 s
        "Time in queue: p50 2m 00s · p90 8m 00s (5 chats)",  # 60, 60, 120, 300, 600
        "Handle time: p50 11m 00s · p90 12m 36s (2 chats)",  # 540 s, 780 s
        "Satisfaction: not collected yet",
        "By department:",
    ]
    assert lines[9] == (
        "  support: opened 3 · served 3 · closed 2 · first response p50 3m 15s · handle p50 11m 00s"
    )
    assert lines[10] == "  sales: opened 2 · served 0 · closed 1"
    assert (
        "  @bob: opened 2 · served 2 · closed 1 · first response p50 1m 30s · handle p50 9m 00s"
        in lines
    )
    assert "  (unserved): opened 2 · served 0 · closed 1" in lines
    assert (
        "  hardware: opened 1 · served 1 · closed 1 · first response p50 1m 30s · handle p50 9m 00s"
        in lines
    )
    assert lines[-1] == "Opened by hour of day (UTC): 09h 5"
    charts = {n.split("-")[1]: data for n, data in files if n.endswith(".png")}
    assert png(charts["volume"]) == ((800, 400), lines[2])
    assert png(charts["times"]) == ((800, 400), lines[3])
    ((_name, data),) = [(n, d) for n, d in files if n.endswith(".csv")]
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert [int(r["number"]) for r in rows] == [1, 2, 3, 4, 5]
    assert [r["abandoned"] for r in rows] == ["0", "0", "1", "0", "0"]
    assert [r["queue_seconds"] for r in rows] == ["60", "120", "300", "600", "60"]
    assert [r["first_response_seconds"] for r in rows] == ["90", "300", "", "", ""]
    assert [r["handle_seconds"] for r in rows] == ["540", "780", "", "", ""]
    assert rows[0]["tags"] == "hardware" and rows[0]["agent"] == "bob"

    # the digest: a daily job of the timer service, fired on the shared clock the next morning
    timers = desk.bot.timers
    job = timers.jobs()["daily:digest"]
    assert (job.hour, job.minute) == (8, 0)
    next_morning = desk.t0 + timedelta(hours=23)  # 08:00 UTC the day after the script
    assert ("daily", "digest", "ran") in timers.fire_due(now=next_morning)
    assert timers.jobs()["daily:digest"] == next_morning + timedelta(days=1)
    day = f"{desk.t0:%Y-%m-%d}"
    support = desk.server.room_by_name("support-leads")["_id"]
    leads = desk.server.room_by_name("desk-leads")["_id"]
    assert desk.wait_bot_messages(support, 1) == [
        f"Daily digest for yesterday ({day}), UTC\n"
        "support: Opened 3 · served 3 · abandoned 0 · closed 2\n"
        "  First response: p50 3m 15s · p90 4m 39s (2 chats)\n"
        "  Handle time: p50 11m 00s · p90 12m 36s (2 chats)"
    ]
    assert desk.wait_bot_messages(leads, 1) == [
        f"Daily digest for yesterday ({day}), UTC\n"
        "sales: Opened 2 · served 0 · abandoned 1 · closed 1\n"
        "  First response: —\n"
        "  Handle time: —"
    ]  # no public queue line: nobody used it


def test_monitor_sees_only_their_departments_in_their_zone(desk: Any) -> None:
    play_the_morning(desk)
    mona = desk.user("mona")
    text, files = ask(desk, mona, "/monitor", 1)
    assert text.splitlines() == [
        f"Desk at {desk.t0:%Y-%m-%d} 12:00 UTC+2 (sales)",
        "sales: 1 waiting (longest 10m) · 0 serving · 0 on hold",
        "  agents: 1 available · 0 busy · 0 away · 0 offline",
        "  @alice available 0/2",
        "Waiting now: 1 · arrivals in the last 6h: 2",
    ]
    assert png(files[0][1])[1] == "Waiting now: 1 · arrivals in the last 6h: 2"

    text, _files = ask(desk, mona, "/report 7d", 2)
    lines = text.splitlines()
    assert lines[0] == "Report for the last 7 days: sales"
    assert lines[2] == "Opened 2 · served 0 · abandoned 1 · closed 1"
    assert "support" not in text and "@bob" not in text
    assert lines[-1] == "Opened by hour of day (UTC+2): 11h 2"

    assert mona.dm_bot("/report 7d support") == "You don't monitor support."
    # an agent has neither permission
    assert desk.user("bob").dm_bot("/monitor") == "You don't have permission to use /monitor."


def test_answered_only_in_the_callers_dm(desk: Any) -> None:
    maria = desk.user("maria")
    general = desk.server.room_by_name("general")["_id"]
    sent = maria.say(general, "/report 7d")
    wait_until(
        lambda: (
            "/report works only in our direct messages, where nobody else reads: type it here."
            in maria.replies(maria.bot_dm)
        ),
        what="the refusal in maria's DM",
    )
    desk.idle()
    assert desk.bot_messages(general, after=sent.id) == []
    assert not re.search(r"Opened \d", "\n".join(maria.replies(maria.bot_dm)))


def test_bad_report_input_gets_a_reason_and_the_usage(desk: Any) -> None:
    maria = desk.user("maria")
    usage = "Usage: /report [today|yesterday|7d|30d|from..to] [department] [@agent] [+csv]"
    assert maria.dm_bot("/report lastweek") == (
        f"'lastweek' is not a period, a department or an @agent.\n{usage}"
    )
    assert maria.dm_bot("/report 2026-02-30..2026-03-01") == (
        f"'2026-02-30..2026-03-01' has a date that does not exist.\n{usage}"
    )
    assert maria.dm_bot("/report 400d") == f"Pick between 1d and 366d.\n{usage}"
    assert maria.dm_bot("/report 7d +cvs") == f"Unknown option +cvs. Did you mean +csv?\n{usage}"
