"""Messages in conversation rooms: stored with the response metrics, and a contact writing in a
held chat resumes it (auto-resume). Also which rooms hold a conversation."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from bot.chat import ingest
from bot.chat.types import Message
from bot.domain import AGENT, CONTACT, Conversation, Roster, Router, State, Transition
from bot.domain.bounded import BoundedCache
from bot.services import notify
from bot.services.directory import Directory
from bot.services.effects import Effects
from bot.services.posting import Posting
from bot.services.presence import Presence
from bot.services.routing import Routing
from bot.services.transitions import NothingToDo, Transitions, one_conversation
from bot.store.conversations import ConversationRepo
from bot.store.messages import MessageRepo

#: conversation rooms remembered (room id -> number); older ones are looked up again
ROOMS_CACHED = 10_000


class RoomMessages:
    def __init__(
        self,
        *,
        store: Any,
        clock: Callable[[], datetime],
        directory: Directory,
        presence: Presence,
        transitions: Transitions,
        posting: Posting,
        effects: Effects,
        routing: Routing,
        repo: ConversationRepo,
        messages: MessageRepo,
        roster: Roster,
        router: Router,
    ) -> None:
        self.store = store
        self.clock = clock
        self.directory = directory
        self.presence = presence
        self.transitions = transitions
        self.posting = posting
        self.effects = effects
        self.routing = routing
        self.repo = repo
        self.messages = messages
        self.roster = roster
        self.router = router
        # bounded (issue 20): the conversation rooms seen last (a miss asks the store)
        self._rooms: BoundedCache[str, int] = BoundedCache(ROOMS_CACHED)
        for conv in repo.open_conversations():
            if conv.rid:
                self._rooms[conv.rid] = conv.number

    # --- which rooms hold a conversation --------------------------------------------------------
    def is_conversation_room(self, rid: str) -> bool:
        if rid in self._rooms:
            return True
        conv = self.repo.by_room(rid)
        if conv is not None:
            self._rooms[rid] = conv.number
            return True
        return False

    def remember_room(self, rid: str, number: int) -> None:
        """An intake opened conversation `number` in room `rid`."""
        self._rooms[rid] = number

    # --- the messages ---------------------------------------------------------------------------
    def on_room_message(self, message: Message, kind: str = "conversation") -> None:
        """`App.conversation_handler`: store the message, keep the metrics, auto-resume.

        When the dispatcher stored it already (`App.store_conversation_messages`, a batch),
        only the auto-resume is left to do."""
        note = ingest.prestored_note(message)
        if note is ingest.NOT_STORED:
            note = self.store_room_messages([message]).get(ingest.key_of(message))
        if note is not None:
            self.auto_resume(note, message)

    def store_room_messages(self, batch: Sequence[Message]) -> dict[Any, int | None]:
        """`App.store_conversation_messages`: store messages of conversation rooms (each
        room's in order) and keep the metrics, in ONE transaction; per message
        (`bot.chat.ingest.key_of`) the number of the conversation to auto-resume after it
        (a contact wrote in a held chat), else None. Messages of rooms without a conversation
        get no note (nothing to store).

        The conversations are read inside the transaction, so the metrics' read-modify-write
        cannot interleave with another writer's. A message already stored (any revision) does
        not count for the metrics again, so replaying messages after a crash (stored, not yet
        marked processed) does not count a reply twice.
        """
        self.presence.load_presence()  # before the transaction: it may ask the server
        notes: dict[Any, int | None] = {}
        with self.store.transaction() as conn:
            convs = self.repo.by_rooms({m.rid for m in batch}, conn=conn)
            ours = [m for m in batch if m.rid in convs]
            if not ours:
                return notes
            seen = self.messages.existing([m.id for m in ours], conn=conn)
            self.messages.upsert_many([(m, convs[m.rid].number) for m in ours], conn=conn)
            before = dict(convs)
            for message in ours:
                conv = convs[message.rid]
                resume = None
                if message.type is None and not message.is_edit and conv.is_open:
                    contact = message.author.username == conv.contact_username
                    if message.id not in seen:
                        seen.add(message.id)
                        conv = convs[message.rid] = conv.note_message(
                            CONTACT if contact else AGENT, message.ts
                        )
                    # a replay still resumes: that effect may be what the crash cut off, and
                    # `auto_resume` is a compare-and-set that does nothing unless still held
                    if contact and conv.state is State.ON_HOLD:
                        resume = conv.number
                notes[ingest.key_of(message)] = resume
            self.repo.save_metrics_many(
                [c for rid, c in convs.items() if c.metrics != before[rid].metrics], conn=conn
            )
        self.messages.written(convs)
        return notes

    @one_conversation
    def auto_resume(self, number: int, message: Message | None = None) -> Conversation | None:
        """A contact wrote in a held chat (rules §5.3): back to the same agent if available with
        capacity, else to routing, else to the queue."""

        def decide(conv: Conversation) -> Transition:
            if conv.state is not State.ON_HOLD:
                raise NothingToDo(conv)
            if conv.agent and self.roster.can_serve(conv.agent, conv.department):
                return conv.resume(self.directory.bot_name, self.clock(), automatic=True)
            exclude = (conv.agent,) if conv.agent else ()
            agent = self.router.choose(conv.department, exclude=exclude)
            return conv.resume_elsewhere(self.directory.bot_name, self.clock(), agent)

        try:
            before, (after, _e) = self.transitions.transition(number, decide)
        except NothingToDo:
            return None
        who = f"@{message.author.username} wrote" if message else "the contact wrote"
        if after.agent == before.agent:
            line = notify.first_line(message.text) if message else ""
            self.posting.tell_agents(
                after,
                f"Resumed automatically: {who}" + (f": {notify.quote(line, 300)}" if line else "."),
                notify.RESUMED,
            )
        elif after.state is State.SERVING:
            self.posting.tell_agents(
                after,
                f"Resumed automatically: {who}; @{before.agent} is not available, "
                f"so @{after.agent} takes over.",
                notify.RESUMED,
                to=[before.agent or ""],
            )
            self.effects.after_assignment(before, after, "A held chat came back to you:")
        else:
            self.posting.tell_agents(
                after,
                f"Resumed automatically: {who}; @{before.agent} is not available, "
                "so it is back in the queue.",
                notify.RESUMED,
                to=[before.agent or ""],
            )
            self.effects.seat_changes(before, after)
            self.routing.route(number, exclude=[before.agent] if before.agent else [])
        return after
