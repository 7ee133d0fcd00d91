"""kill -9 in issue 16's crash window: an agent's `/hold` typed in the case room (the contact
reads it), the bot SIGKILLed as the hold is about to be written. The command must survive: it
stays in the room until its work has committed, so the restarted bot's catch-up finds it in the
room's history, holds the chat, answers in the agent's console thread and only then deletes it.
(Deleted when its answer's destination was chosen, as before, it was gone from the history and
the hold was lost for good.)

`omnicat run` is a child process on the dev server (real sockets, SQLite); the first run carries
a hook that kills the process at its first conversation transition once the test arms it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from chat import BOT_USERNAME, base_config, deep_merge, default_seed, wait_until
from reliability.desk import desk_config
from reliability.process import ROOT, BotProcess
from reliability.scripts import Person

from bot.devserver import DevServer
from bot.domain import State
from bot.store import Store
from bot.store.conversations import ConversationRepo

#: `omnicat run` that SIGKILLs itself as a conversation transition is about to be written,
#: once the marker file exists (argv: marker, config)
KILLING_RUN = """
import os, signal, sys
from pathlib import Path
from bot.store.conversations import ConversationRepo
marker = Path(sys.argv[1])
real = ConversationRepo.transition
def transition(self, *args, **kwargs):
    if marker.exists():
        os.kill(os.getpid(), signal.SIGKILL)
    return real(self, *args, **kwargs)
ConversationRepo.transition = transition
from bot.runtime.cli import main
sys.exit(main(["run", "-c", sys.argv[2]]))
"""


def conversation(store_url: str, number: int):
    store = Store(store_url)
    try:
        return ConversationRepo(store).get(number)
    finally:
        store.close()


def in_room(server: DevServer, rid: str, msg_id: str) -> bool:
    with server.state.lock:
        return any(m["_id"] == msg_id for m in server.state.messages.get(rid, []))


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_command_killed_before_its_work_committed_is_carried_out_after_restart(
    tmp_path: Path,
) -> None:
    server = DevServer(default_seed(), port=0).start()
    store_url = f"sqlite:///{tmp_path / 'omnicat.db'}"
    config = deep_merge(
        base_config(server.url, tmp_path / "omnicat.db"),
        deep_merge(
            desk_config(0),
            {"departments": {"desk": {"agents": ["alice"]}}, "log": {"level": "WARNING"}},
        ),
    )
    config_path = tmp_path / "omnicat.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    health = f"http://{config['http']['listen']}/healthz"
    marker = tmp_path / "kill-at-next-transition"
    first_log = (tmp_path / "killed-run.log").open("wb")
    killing = subprocess.Popen(
        [sys.executable, "-c", KILLING_RUN, str(marker), str(config_path)],
        cwd=ROOT,
        stdout=first_log,
        stderr=subprocess.STDOUT,
    )
    bot = BotProcess(config_path, health, tmp_path)
    try:
        wait_until(bot.healthy, 60, "the first run healthy")
        alice, carol = Person(server, "alice"), Person(server, "carol")
        assert alice.ask("/status available", 30) == "You are now available for chats."
        told = carol.ask("My order never came", 30) or ""
        assert told.startswith("Thanks! Your conversation #"), told
        n = int(told.split("#", 1)[1].split()[0])
        took = alice.ask(f"/take {n}", 30) or ""
        assert took.startswith(f"You took #{n}"), took
        room = server.room_by_name(took.split("Room: ", 1)[1].split(" ", 1)[0])
        assert room is not None
        rid = room["_id"]
        alice.say(rid, "Let me check with the warehouse.")  # a hold needs a reply first
        wait_until(
            lambda: conversation(store_url, n).metrics.last_agent_reply_at is not None,
            30,
            "alice's reply recorded",
        )

        marker.touch()  # the next transition (the hold's) dies before it is written
        hold = alice.say(rid, "/hold")
        assert killing.wait(30) == -9, "the first run was SIGKILLed at the hold"
        assert conversation(store_url, n).state is State.SERVING  # nothing committed
        assert in_room(server, rid, hold), "the command is still in the room for catch-up"

        marker.unlink()
        bot.start()  # no hook: catch-up replays the room's history
        bot.wait_healthy()
        wait_until(lambda: conversation(store_url, n).state is State.ON_HOLD, 30, "the hold")
        # carried out, answered in alice's console thread for it, then taken out of the room
        wait_until(lambda: not in_room(server, rid, hold), 30, "the command deleted")
        with server.state.lock:
            notes = [
                str(m.get("msg", ""))
                for m in server.state.messages.get(alice.bot_dm, [])
                if m["u"].get("username") == BOT_USERNAME and m.get("tmid")
            ]
        assert any(t.startswith(f"#{n} is on hold.") for t in notes), notes
        assert bot.terminate() == 0, bot.log()
    finally:
        if killing.poll() is None:
            killing.kill()
        first_log.close()
        bot.terminate()
        server.stop()
