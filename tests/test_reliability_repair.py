"""The half states a kill -9 can leave, made on purpose, and what the next start does about them
(the kill -9 test finds them by chance; these make each one certain).

A crash is simulated by writing the store as the dead process left it and marking its run
unclean, then starting the bot: `Reconciler` (rooms behind the store) and the intake (a
conversation whose opening was interrupted) must bring everything in line.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from chat import Chat, wait_until
from reliability import invariants

from bot.domain import State
from bot.services.reconcile import RUN_KEY
from bot.store import Store
from bot.store.conversations import ConversationRepo

CONFIG = {
    "departments": {"support": {"agents": ["bob", "erin"]}},
    "intake": {"dm": {"department": "support"}},
    "commands": {"rate_limit": {"count": 0}},
}


def crashed(chat: Chat, edit: Any) -> None:
    """Stop the bot, let `edit(repo)` write what the dying process had committed, and mark the
    run unclean (as a SIGKILL leaves it), then start again."""
    url = chat.config_data["store"]["url"]
    chat.stop_bot()
    store = Store(url)
    try:
        edit(ConversationRepo(store))
        started = datetime.now(UTC) - timedelta(minutes=5)
        store.kv_set(
            RUN_KEY,
            json.dumps({"started_at": started.isoformat(), "clean": False}),
        )
    finally:
        store.close()
    chat.start_bot()


def served(chat: Chat, contact: str = "carol") -> Any:
    bob = chat.user("bob")
    assert bob.dm_bot("/status on") == "You are now available for chats."
    told = chat.user(contact).dm_bot("My modem is sad")
    assert "Your conversation #" in told, told
    conv = chat.bot.services.repo.open_for_contact(contact)
    assert bob.dm_bot(f"/take {conv.number}").startswith(f"You took #{conv.number}")
    chat.idle()
    return chat.bot.services.repo.get(conv.number)


def members(chat: Chat, rid: str) -> set[str]:
    return {u.username for u in chat.server.state.members(rid)}


def test_forward_committed_but_not_carried_out_is_repaired(make_chat: Any) -> None:
    chat = make_chat(config=CONFIG)
    conv = served(chat)
    chat.user("erin").dm_bot("/status on")

    def forward_without_effects(repo: ConversationRepo) -> None:
        def decide(c: Any) -> Any:
            return c.forward_to_agent(
                "erin", "bob", datetime.now(UTC), "crash test", target_available=True
            )

        repo.transition(conv.number, decide)

    crashed(chat, forward_without_effects)
    wait_until(lambda: members(chat, conv.rid) >= {"erin"}, what="erin invited")
    wait_until(lambda: "bob" not in members(chat, conv.rid), what="bob removed")
    wait_until(lambda: "@erin joined" in chat.console("erin", conv.number), what="the joined note")
    chat.idle()
    found = invariants.check(chat.config_data["store"]["url"], chat.server, ["carol"])
    assert not found.problems, found.problems


def test_close_committed_but_room_not_archived_is_repaired(make_chat: Any) -> None:
    chat = make_chat(config=CONFIG)
    conv = served(chat)

    def close_without_effects(repo: ConversationRepo) -> None:
        repo.transition(
            conv.number, lambda c: c.close("bob", datetime.now(UTC), "fixed it", closer="agent")
        )

    crashed(chat, close_without_effects)
    room_name = chat.server.state.room(conv.rid)["name"]
    wait_until(lambda: chat.server.room_by_name(room_name).get("archived"), what="archived")
    assert "Closed by @bob: fixed it" in chat.console("bob", conv.number)
    assert not any("fixed it" in t for t in chat.bot_messages(conv.rid))
    found = invariants.check(chat.config_data["store"]["url"], chat.server, ["carol"])
    assert not found.problems, found.problems


def test_close_with_pdf_killed_before_its_hooks_still_delivers(make_chat: Any) -> None:
    """Killed after the close committed and before its hooks planned the transcript: the next
    start runs the close hooks again, so bob still gets the PDF he asked for, and carol the
    word that her conversation is closed."""
    chat = make_chat(config=CONFIG)
    conv = served(chat)
    chat.user("bob").in_conversation(conv.number).say("Unplug it for ten seconds, please")

    def close_with_pdf_without_effects(repo: ConversationRepo) -> None:
        repo.transition(
            conv.number,
            lambda c: c.close("bob", datetime.now(UTC), "fixed it", closer="agent", pdf=True),
        )

    crashed(chat, close_with_pdf_without_effects)
    bob, carol = chat.user("bob"), chat.user("carol")
    pdf = wait_until(
        lambda: [m for m in chat.messages(bob.bot_dm) if m.get("file")], 30, "the PDF in bob's DM"
    )
    assert pdf[0]["file"]["name"] == f"transcript-{conv.number}.pdf"
    wait_until(
        lambda: (
            f"Your conversation #{conv.number} is closed. Write to me again any time."
            in chat.bot_messages(carol.bot_dm)
        ),
        what="carol told",
    )
    chat.restart_bot()  # a clean restart: nothing planned twice, nothing sent again
    chat.idle()
    assert len([m for m in chat.messages(bob.bot_dm) if m.get("file")]) == 1
    found = invariants.check(chat.config_data["store"]["url"], chat.server, ["carol"])
    assert not found.problems, found.problems


def test_a_clean_stop_repairs_nothing(make_chat: Any) -> None:
    chat = make_chat(config=CONFIG)
    conv = served(chat)
    before = len(chat.server.messages(conv.rid))
    chat.restart_bot()
    chat.idle()
    assert chat.bot.services.reconciler.repair_from is None
    assert len(chat.server.messages(conv.rid)) == before


def test_conversation_created_but_room_never_made_is_finished(make_chat: Any) -> None:
    chat = make_chat(config=CONFIG)
    carol = chat.user("carol")
    chat.stop_bot()
    # The dead process had stored the row for carol's message, then died before the room.
    first = carol.say(carol.bot_dm, "Nothing works")
    store = Store(chat.config_data["store"]["url"])
    try:
        conv, created = ConversationRepo(store).create(
            "carol", datetime.now(UTC), by="carol", department="support"
        )
        assert created and conv.rid is None
    finally:
        store.close()
    chat.start_bot()
    told = carol.wait_reply(carol.bot_dm, first.id, timeout=15)
    assert told.startswith(f"Thanks! Your conversation #{conv.number} is in the private room"), told
    repo = chat.bot.services.repo
    wait_until(lambda: repo.get(conv.number).rid, what="the room attached")
    chat.idle()
    assert repo.get(conv.number).state is State.QUEUED
    found = invariants.check(chat.config_data["store"]["url"], chat.server, ["carol"])
    assert not found.problems, found.problems


def test_room_made_but_not_attached_is_reused_not_orphaned(make_chat: Any) -> None:
    chat = make_chat(config=CONFIG)
    carol = chat.user("carol")
    bot_rest = chat.bot.client.rest
    chat.stop_bot()
    first = carol.say(carol.bot_dm, "Still nothing")
    store = Store(chat.config_data["store"]["url"])
    try:
        conv, _ = ConversationRepo(store).create(
            "carol", datetime.now(UTC), by="carol", department="support"
        )
    finally:
        store.close()
    # ... and it had made the room (as the bot) before dying
    made = bot_rest.create_group(f"omni-{conv.number}-carol", ["carol"])
    chat.start_bot()
    carol.wait_reply(carol.bot_dm, first.id, timeout=15)
    chat.idle()
    assert chat.bot.services.repo.get(conv.number).rid == made.id
    found = invariants.check(chat.config_data["store"]["url"], chat.server, ["carol"])
    assert not found.problems, found.problems
