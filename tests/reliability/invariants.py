"""What "nothing lost, nothing doubled, nothing half way" means, checked against the store and the
server's rooms once the bot is idle.

For every conversation of the given contacts:

- **has a room**: a store row without a room is a half-made conversation (the bot died between
  creating the row and the room) — unless it was closed by the bot because the room could not be
  made;
- **the room has the contact**, and its agents are exactly the store's seats (serving agent +
  invited) while open; a closed conversation's room is archived;
- **the notes tell the same story**: the last state-bearing note the bot posted in the room
  ("@x joined", "Placed on hold", "Resumed…", "Closed by…", "Returned to the queue…") names the
  store's state — notes are known by the kind the workflow stored them with, as the reconciler
  knows them (`bot.services.reconcile.room_notes`), so a reply such as `/info` output is none;
- **the events chain**: `created` first, each transition's `from_state` is the previous
  `to_state`, the last one is the current state — so no transition is missing or applied twice.

And for the server as a whole: at most one open conversation per contact, and no orphan room (a
conversation room the bot created that no store row points to, or an open livechat room with no
conversation). A livechat room (intake `livechat`) has its visitor instead of the contact as a
member, and ends closed in Rocket.Chat instead of archived.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from bot.devserver import DevServer
from bot.domain import State
from bot.services.intake.opening import opened
from bot.services.reconcile import room_notes
from bot.store import Store
from bot.store.console import ConsoleRepo
from bot.store.conversations import ConversationRepo
from bot.store.messages import MessageRepo

BOT = "omnicat"
ROOM_FAILED = "The room could not be created."


@dataclass
class Findings:
    conversations: int = 0
    states: Counter[str] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        states = ", ".join(f"{k} {v}" for k, v in sorted(self.states.items()))
        events = ", ".join(f"{k} {v}" for k, v in sorted(self.events.items()))
        return (
            f"{self.conversations} conversations ({states}); events: {events}; "
            f"{len(self.problems)} problem(s)"
        )


def check(store_url: str, server: DevServer, contacts: list[str]) -> Findings:
    store = Store(store_url)
    try:
        return _check(store, server, contacts)
    finally:
        store.close()


def _check(store: Store, server: DevServer, contacts: list[str]) -> Findings:
    repo = ConversationRepo(store)
    found = Findings()
    our_rids: set[str] = set()
    for contact in contacts:
        convs = repo.for_contact(contact)
        open_ones = [c.number for c in convs if c.is_open]
        if len(open_ones) > 1:
            found.problems.append(f"@{contact} has {len(open_ones)} open conversations {open_ones}")
        for conv in convs:
            found.conversations += 1
            found.states[conv.state.value] += 1
            if conv.rid:
                our_rids.add(conv.rid)
            _check_conversation(store, repo, server, conv, found)
    found.problems += orphan_rooms(server, our_rids)
    return found


def _check_conversation(
    store: Store, repo: ConversationRepo, server: DevServer, conv: Any, found: Findings
) -> None:
    label = f"#{conv.number} (@{conv.contact_username}, {conv.state.value})"
    _check_events(repo, conv, label, found)
    if not conv.rid:
        if not (conv.state is State.CLOSED and conv.comment == ROOM_FAILED):
            found.problems.append(f"{label}: in the store but has no room")
        return
    state = server.state
    with state.lock:
        room = state.room(conv.rid)
        members = {u.username for u in state.members(conv.rid)} if room else set()
        msgs = list(state.messages.get(conv.rid, []))
        livechat = bool(room and room.get("t") == "l")
        # a livechat room "ends" closed (Rocket.Chat's close), a group archived
        archived = bool(room and (not room.get("open") if livechat else room.get("archived")))
    if room is None:
        found.problems.append(f"{label}: its room {conv.rid} does not exist")
        return
    if livechat:
        visitor = (room.get("v") or {}).get("username")
        if visitor != conv.contact_username:
            found.problems.append(f"{label}: the livechat room's visitor is @{visitor}")
    elif conv.contact_username not in members:
        found.problems.append(f"{label}: the contact is not in the room")
    staff = {m for m in members if m not in (BOT, conv.contact_username)}
    if conv.is_open:
        seats = set(conv.members())
        if staff != seats:
            found.problems.append(f"{label}: room has {sorted(staff)}, store seats {sorted(seats)}")
        if archived:
            found.problems.append(f"{label}: open but its room is archived")
    elif not archived:
        found.problems.append(f"{label}: closed but its room is not archived (or not closed)")
    # the customer's room holds no agents' note (issue 16): they are in the console threads
    in_room = room_notes(
        MessageRepo(store),
        [(m["_id"], str(m.get("msg", ""))) for m in msgs if m["u"].get("username") == BOT],
    )
    if in_room:
        found.problems.append(f"{label}: an agents' note in the customer's room: {in_room[-1][1]}")
    threads = ConsoleRepo(store).of_conversation(conv.number)
    with state.lock:
        posted = [
            m
            for t in threads
            for m in state.messages.get(t.dm_rid, [])
            if m.get("tmid") == t.root_id and m["u"].get("username") == BOT
        ]
    posted.sort(key=lambda m: str(m.get("ts")))
    notes = room_notes(MessageRepo(store), [(m["_id"], str(m.get("msg", ""))) for m in posted])
    served = any(e.kind in ("taken", "assigned") for e in repo.events(conv.number))
    if not served:
        if not threads and not opened_in(store, conv.number):
            found.problems.append(f"{label}: its opening never finished")
    elif not notes:
        found.problems.append(f"{label}: no workflow note in the agents' console")
    elif notes[-1][0] != conv.state.value:
        tail = " | ".join(text for _state, text in notes[-3:])
        found.problems.append(f"{label}: the console's last note says {notes[-1][0]} ({tail})")


def opened_in(store: Store, number: int) -> bool:
    return opened(SimpleNamespace(store=store, messages=MessageRepo(store)), number)


def _check_events(repo: ConversationRepo, conv: Any, label: str, found: Findings) -> None:
    chain = [e for e in repo.events(conv.number) if e.to_state is not None]
    for e in chain:
        found.events[e.kind] += 1
    if not chain or chain[0].kind != "created":
        found.problems.append(f"{label}: events do not start with 'created'")
        return
    for prev, nxt in itertools.pairwise(chain):
        if nxt.from_state != prev.to_state:
            found.problems.append(
                f"{label}: event {nxt.kind} from {nxt.from_state} follows {prev.kind} "
                f"to {prev.to_state} (missing or doubled transition)"
            )
    if chain[-1].to_state != conv.state.value:
        found.problems.append(f"{label}: last event ends in {chain[-1].to_state}")


def orphan_rooms(server: DevServer, our_rids: set[str]) -> list[str]:
    """Private rooms the bot owns that look like conversation rooms but no store row names."""
    out = []
    with server.state.lock:
        rooms = list(server.state.rooms.values())
    for room in rooms:
        served = (room.get("servedBy") or {}).get("username")
        if room.get("t") == "l" and room.get("open") and room["_id"] not in our_rids:
            # every open livechat room is a conversation (the bot serves it, or an agent it
            # forwarded to): a missing one is a visitor nobody will answer
            out.append(f"livechat room {room['_id']} (served by @{served}) has no conversation")
            continue
        if room.get("t") != "p" or (room.get("u") or {}).get("username") != BOT:
            continue
        if str(room.get("name", "")).startswith("omni-") and room["_id"] not in our_rids:
            out.append(f"orphan room {room['name']} ({room['_id']}): no conversation points to it")
    return out
