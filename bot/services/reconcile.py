"""Repair after a crash: bring the rooms in line with the store.

A transition commits first and does its chat effects after (invite, kick, room note, archive), so
a kill -9 in between leaves the store right and the room behind — and the replayed command cannot
redo them, because its compare-and-set now refuses ("already on hold"). So at the first connect
after an unclean stop, every conversation the crashed run changed is checked, on its room's
serial queue (never concurrently with that room's messages):

- open: the serving agent and invited users are members; previous agents who lost their seat
  are not;
- closed: the room is archived, or a livechat room closed with Rocket.Chat (after the closing
  note, if that is missing too); rooms follow the intake's strategy (`bot.services.rooms`);
- the last state-bearing note in the room (known by the kind the workflow stored it with, see
  `room_notes`) names the store's state; if not, the note of the last transition is posted.

A clean stop records itself (`Routes.stopped`, given by `bot.runtime.compose`), so a normal
restart repairs nothing and costs no request.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.chat.errors import RocketChatError
from bot.domain import Conversation, State
from bot.services import notify
from bot.services.rooms import RoomEffectFailed
from bot.store.messages import MessageRepo

log = logging.getLogger("omnicat.workflow.reconcile")

RUN_KEY = "workflow:run"
#: transitions that may keep the state but change who serves (serving → serving)
AGENT_CHANGES = frozenset({"taken", "assigned", "forwarded"})
#: a transition's note is posted right after its commit: it is looked for in the room from
#: this long before the event (clocks of bot and server may differ a little)
NOTE_MARGIN = timedelta(seconds=2)


#: the stored kinds of the room notes that announce a state (`Posting.note` stores each note
#: under its Rocket.Chat system type); `notify.INVITED` and plain replies announce none
STATE_KINDS = frozenset(
    {notify.STARTED, notify.JOINED, notify.TRANSFER, notify.HELD, notify.RESUMED, notify.CLOSED}
)


def note_state(kind: str | None, text: str) -> str | None:
    """The state a workflow room note of this stored `kind` announces (None: none).

    Decided by the kind, not the wording: the bot's replies in a room (`/info` output
    "Conversation #12 — …", refusals "Conversation #12 is already on hold.", canned answers)
    are plain messages with no stored kind, however they read. Only a resume needs its text:
    it goes back to the agent or, when nobody can serve, back to the queue.
    """
    if kind == notify.STARTED:
        return State.QUEUED.value
    if kind == notify.JOINED:
        return State.SERVING.value
    if kind == notify.HELD:
        return State.ON_HOLD.value
    if kind == notify.RESUMED:
        return State.QUEUED.value if "back in the queue" in text else State.SERVING.value
    if kind == notify.TRANSFER:
        # Handed over (returned, forwarded, moved, rerouted): whoever gets it next has their
        # "@x joined" note after this one, so until then the room says "in the queue".
        return State.QUEUED.value
    if kind == notify.CLOSED:
        return State.CLOSED.value
    return None


def room_notes(repo: MessageRepo, bot_messages: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """(state, text) of the state-bearing notes among the bot's messages of a room, given as
    (message id, text) oldest first — the room says what was posted, the store what it was."""
    posted = list(bot_messages)
    stored = repo.by_ids([msg_id for msg_id, _ in posted])
    notes = []
    for msg_id, text in posted:
        found = stored.get(msg_id)
        state = note_state(found.type if found else None, text)
        if state is not None:
            notes.append((state, text))
    return notes


class Reconciler:
    def __init__(self, services: Any, submit: Callable[..., Any] | None = None) -> None:
        """`services`: a `bot.services.build.Core`."""
        self.services = services
        #: `App.rooms.submit(key, fn, *args)`: run a repair on the room's serial queue
        self.submit = submit or (lambda _key, fn, *args: fn(*args))
        # Recorded before any event can arrive: catch-up commits transitions before the
        # connected hooks run, and a kill in that window must still be repaired next time.
        self.started_at = datetime.now(UTC)
        previous = self._read_run()
        #: changes since here may be behind in their rooms. A chain of crashes (killed again
        #: before the repair ran) keeps the oldest point until a run stops cleanly.
        self.repair_from: datetime | None = None
        if previous is not None and not previous.get("clean", True):
            self.repair_from = datetime.fromisoformat(
                previous.get("since") or previous["started_at"]
            )
        self._write_run(clean=False)

    # --- run bookkeeping ------------------------------------------------------------------------
    def on_connected(self, first: bool) -> None:
        since, self.repair_from = self.repair_from, None
        if not first or since is None:
            return
        numbers = self.changed_since(since)
        log.warning(
            "the last run did not stop cleanly: checking %d conversation(s) changed since %s",
            len(numbers),
            since.isoformat(),
        )
        for number in numbers:
            conv = self.services.repo.get(number)
            if conv is not None and conv.rid:
                self.submit(conv.rid, self.repair, number)

    def on_stopped(self) -> None:
        self._write_run(clean=True)

    def _read_run(self) -> dict[str, Any] | None:
        raw = self.services.store.kv_get(RUN_KEY)
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return None

    def _write_run(self, *, clean: bool) -> None:
        since = self.repair_from or self.started_at
        value = {"started_at": self.started_at.isoformat(), "clean": clean}
        if not clean:
            value["since"] = since.isoformat()
        self.services.store.kv_set(RUN_KEY, json.dumps(value))

    def changed_since(self, since: datetime) -> list[int]:
        return self.services.repo.numbers_changed_since(since)

    # --- one conversation -----------------------------------------------------------------------
    def repair(self, number: int) -> list[str]:
        """Make the room of conversation `number` match the store; what was done."""
        done: list[str] = []
        try:
            self._repair(number, done)
        except RocketChatError:
            log.warning("cannot repair the room of #%s", number, exc_info=True)
        if done:
            log.warning("repaired #%s after the crash: %s", number, "; ".join(done))
        return done

    def _repair(self, number: int, done: list[str]) -> None:
        services = self.services
        conv: Conversation | None = services.repo.get(number)
        if conv is None or not conv.rid:
            return  # no room yet: the intake finishes it when the first message is replayed
        rooms = services.effects.rooms_for(conv)
        room = services.directory.chat.room_info(conv.rid)
        if room is None or rooms.finished(room):
            # gone, or finished: nothing can be fixed in an archived (or closed livechat)
            # room; a livechat room closed while the bot was away is the intake's to follow
            return
        # Read first (REST, slow), then act holding the conversation only if nothing changed
        # meanwhile: a live command for this chat (typed in a DM, so not on this room's queue)
        # that committed since has told its own story, and a repair note posted after it
        # would tell the wrong one.
        note = None
        last = self._last_transition(number)
        if last is not None and not self._noted(conv, last):
            note = self._note_for(conv, last)
        invite: list[str] = []
        remove: list[str] = []
        if conv.state is not State.CLOSED:
            try:
                members = {u.username for u in services.directory.chat.members(conv.rid)}
            except RocketChatError:
                # the seats cannot be checked now; the note still can
                log.warning("cannot list the members of #%s", number, exc_info=True)
                members = set(conv.members())
            seats = set(conv.members())
            invite = sorted(seats - members)
            remove = sorted((members & set(conv.previous_agents)) - seats)
        elif note is None:
            note = ("", "")  # closed with its note: only the archive is missing
        if note is None and not invite and not remove:
            return
        with services.transitions.serial(number):
            now = services.repo.get(number)
            if now is None or now.revision != conv.revision:
                done.append("skipped: it changed meanwhile")
                return
            if note and note[0]:
                services.posting.tell_agents(conv, note[0], note[1], to=[last.actor or ""])
                done.append(f"posted {note[0]!r}")
            if invite or remove:
                try:
                    done += rooms.sync(conv, invite, remove)
                except RoomEffectFailed as failed:
                    done.append(f"could not fix the seats: {failed.reason}")
            if conv.state is State.CLOSED:
                # Killed between the close and its archive: the close hooks may not have run
                # (the transcripts it asked for are planned there). They plan once, so a
                # second run after one that got through does nothing.
                services.transitions.run_close_hooks(
                    conv, conv.closed_by or services.directory.bot_name
                )
                services.effects.archive_room(conv)
                services.effects.tell_contact_closed(
                    conv
                )  # sent after the archive, so not sent yet
                done.append("ran the close hooks, archived the room, told the contact")

    def _last_transition(self, number: int) -> Any:
        chain = [
            e
            for e in self.services.repo.events(number)
            if e.to_state is not None and (e.to_state != e.from_state or e.kind in AGENT_CHANGES)
        ]
        return chain[-1] if chain else None

    def _noted(self, conv: Conversation, event: Any) -> bool:
        """Whether the agents were told the last transition: the last state-bearing note in
        the conversation's console threads since the event names the store's state and, while
        served, the serving agent (a forward keeps the state, so the state alone proves
        nothing). With no agent and no thread there is nobody to tell."""
        chat = self.services.directory.chat
        bot = chat.bot_user.username
        threads = self.services.console.repo.of_conversation(conv.number)
        if not threads and not conv.agent and not event.actor:
            return True
        posted = []
        for thread in threads:
            history = chat.history(thread.dm_rid, oldest=event.at - NOTE_MARGIN)
            posted += [m for m in history if m.author.username == bot and m.tmid == thread.root_id]
        posted.sort(key=lambda m: m.ts)
        notes = room_notes(self.services.messages, [(m.id, m.text) for m in posted])
        if not notes or notes[-1][0] != conv.state.value:
            return False
        if conv.state is State.SERVING and event.kind != "resumed":
            return f"@{conv.agent}" in notes[-1][1]
        return True

    def _note_for(self, conv: Conversation, event: Any) -> tuple[str, str]:
        actor = event.actor or self.services.directory.bot_name
        state = conv.state
        if state is State.CLOSED:
            return notify.closed_note(conv, conv.closed_by or actor), notify.CLOSED
        if state is State.ON_HOLD:
            return f"Placed on hold by @{actor}.", notify.HELD
        if state is State.SERVING and conv.agent:
            if event.kind == "resumed":
                return f"Resumed by @{actor}.", notify.RESUMED
            return notify.joined(conv.agent), notify.JOINED
        if state is State.QUEUED:
            return (
                notify.with_comment(f"Returned to the queue by @{actor}", event.comment),
                notify.TRANSFER,
            )
        return "", ""
