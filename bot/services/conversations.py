"""The workflow service: the application layer between commands and the domain.

Commands and the dispatcher hooks call it; it loads conversations through the repository, lets
the domain decide (every transition is one compare-and-set under the roster lock, see
`ConversationRepo.transition`), and then does the chat I/O through the `ChatPort`: invites,
kicks, room notes, notifications. Chat effects happen after the commit and outside the roster
lock, so a slow server never holds up decisions about other conversations, and a failed effect
never leaves the store half-written (it is logged; the state is what the store says). Each
operation on a conversation holds that conversation's own lock (`serial`) until its effects are
posted, so its room tells the transitions in the order the store committed them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

from bot.chat.errors import RocketChatError
from bot.chat.port import ChatPort
from bot.chat.types import Message, User
from bot.cmd.context import utc_now
from bot.config.schema import Config
from bot.dispatch import ingest
from bot.domain import (
    AGENT,
    CONTACT,
    KEEP,
    Availability,
    Conversation,
    Permissions,
    Refused,
    Roster,
    Router,
    State,
    Transition,
    Viewer,
    can_access,
    can_see_queued,
    may_act,
    position,
)
from bot.services import notify
from bot.services.locks import ConversationLocks
from bot.services.rooms import LIVECHAT, GroupRooms, LivechatRooms, RoomEffectFailed
from bot.store.conversations import ConversationRepo
from bot.store.messages import MessageRepo

log = logging.getLogger("omnicat.workflow")

AGENT_ROLE = "livechat-agent"
STAFF_SEES_ALL = "view-livechat-rooms"  # managers/monitors act on chats they are not in

TransitionHook = Callable[[Conversation | None, Transition], None]
ClosedHook = Callable[[Conversation, str], None]


def not_found(number: int) -> Refused:
    """The answer for a number that does not exist, and for a chat the caller may not see:
    the same words, so another department's agent cannot tell them apart."""
    return Refused(f"There is no conversation #{number}.", "error-not-found")


P = ParamSpec("P")
R = TypeVar("R")


def one_conversation(method: Callable[P, R]) -> Callable[P, R]:
    """The conversation the method's `number` names is held for the whole call, decision and
    effects (`Workflow.serial`)."""
    signature = inspect.signature(method)

    @functools.wraps(method)
    def held(*args: P.args, **kwargs: P.kwargs) -> R:
        bound = signature.bind(*args, **kwargs)
        with bound.arguments["self"].serial(bound.arguments["number"]):
            return method(*args, **kwargs)

    return held


class Workflow:
    """One per bot. Thread-safe: room workers call it concurrently."""

    def __init__(
        self,
        *,
        store: Any,
        config: Config | None = None,
        chat: ChatPort | Callable[[], ChatPort | None] | None = None,
        permissions: Permissions | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.store = store
        self.config = config if config is not None else Config.defaults()
        self._chat = chat
        self.clock = clock
        overrides = self.config.permissions.overrides
        self.perms = permissions if permissions is not None else Permissions(overrides or None)
        self.repo = ConversationRepo(store)
        self.messages = MessageRepo(store)
        self.roster = Roster.from_config(self.config)
        self.router = Router(self.roster)
        self.repo.restore(self.roster)
        self._yaml_agents = frozenset(self.config.agents) | {
            u for d in self.config.departments.values() for u in d.agents
        }
        self._closed_hooks: list[ClosedHook] = []
        self._transition_hooks: list[TransitionHook] = []
        self._rooms: dict[str, int] = {}
        self._users: dict[str, User] = {}
        self._lock = threading.Lock()
        self._local = threading.local()
        self._presence_loaded = False
        self._presence_lock = threading.Lock()
        self._conversation_locks = ConversationLocks()
        self._group_rooms = GroupRooms(self)
        self._livechat_rooms = LivechatRooms(self)
        #: rooms whose conversation this process is opening now (livechat: the row exists, the
        #: opening note not yet): neither routable nor takeable until the intake is done
        self.opening_rooms: set[str] = set()
        #: an intake's veto on routing a queued chat (livechat: waiting for the first line)
        self.hold_routing: Callable[[Conversation], bool] = lambda conv: False
        for conv in self.repo.open_conversations():
            if conv.rid:
                self._rooms[conv.rid] = conv.number

    @property
    def conversation_locks_kept(self) -> int:
        """How many per-conversation locks are kept (held or waited for)."""
        return len(self._conversation_locks)

    # --- wiring ---------------------------------------------------------------------------------
    @property
    def chat(self) -> ChatPort:
        chat: Any = self._chat
        if chat is not None and not hasattr(chat, "send") and callable(chat):
            chat = chat()  # a provider: the runtime sets the transport after building us
        if chat is None:
            raise RuntimeError("the workflow has no chat port yet")
        return chat

    @property
    def bot_name(self) -> str:
        try:
            return self.chat.bot_user.username or "omnicat"
        except RuntimeError:
            return "omnicat"

    def command_word(self, name: str) -> str:
        """A command as users type it, with the first configured prefix ("/take")."""
        prefixes = self.config.commands.prefixes or ("/",)
        return f"{prefixes[0]}{name}"

    @property
    def take_word(self) -> str:
        return self.command_word("take")

    def on_closed(self, callback: ClosedHook) -> None:
        """`callback(conversation, closed_by_username)` after a close is committed and the
        closing note is posted, before the room is archived (so a callback may still post)."""
        self._closed_hooks.append(callback)

    def on_transition(self, callback: TransitionHook) -> None:
        """`callback(before, transition)` after every committed transition (timers)."""
        self._transition_hooks.append(callback)

    def prepare_context(self, ctx: Any) -> None:
        """`App.prepare_context`: the room's conversation, and the caller's presence."""
        ctx.services.workflow = self
        self.load_presence()
        self.remember_user(ctx.user)
        if ctx.room_kind == "conversation":
            ctx.conversation = self.repo.by_room(ctx.rid)
        if self.is_agent(ctx.user):
            self.seen_active(ctx.user)

    @contextlib.contextmanager
    def after_reply(self) -> Iterator[None]:
        """Hold back follow-up work (routing a freed slot, archiving a closed room) until the
        block ends, so a command answers first and its room or DM reads in order."""
        outer = getattr(self._local, "queue", None)
        queue: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = []
        self._local.queue = queue
        try:
            yield
        finally:
            self._local.queue = outer
            for fn, args, kwargs in queue:
                try:
                    fn(*args, **kwargs)
                except Exception:
                    log.exception("follow-up %s failed", getattr(fn, "__name__", fn))

    @contextlib.contextmanager
    def serial(self, number: int) -> Iterator[None]:
        """Hold conversation `number` for one operation: its decision and the effects that tell
        it. Follow-up work (`later`) runs after the lock is let go, so routing other chats never
        happens while one is held (no lock order between conversations to get wrong)."""
        if getattr(self._local, "queue", None) is None:
            with self.after_reply(), self._conversation_locks.hold(number):
                yield
        else:
            with self._conversation_locks.hold(number):
                yield

    def later(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Run now, or at the end of the current `after_reply` block."""
        queue = getattr(self._local, "queue", None)
        if queue is None:
            fn(*args, **kwargs)
        else:
            queue.append((fn, args, kwargs))

    # --- people ---------------------------------------------------------------------------------
    def user(self, username: str) -> User | None:
        found = self._users.get(username)
        if found is not None:
            return found
        try:
            found = self.chat.user(username=username)
        except RocketChatError:
            log.warning("cannot look up @%s", username, exc_info=True)
            return None
        if found is not None:
            self._users[username] = found
        return found

    def remember_user(self, user: User) -> None:
        if user.username and user.id:
            self._users[user.username] = user

    def is_agent(self, user: User | str) -> bool:
        """An agent: the `livechat-agent` role on the server, or listed in the YAML."""
        if isinstance(user, str):
            if user in self._yaml_agents:
                return True
            found = self.user(user)
            return found is not None and AGENT_ROLE in found.roles
        return user.username in self._yaml_agents or AGENT_ROLE in user.roles

    def viewer(self, user: User) -> Viewer:
        roles = set(user.roles)
        if self.is_agent(user):
            roles.add(AGENT_ROLE)
        return Viewer(
            username=user.username,
            roles=frozenset(roles),
            departments=self.roster.departments_of(user.username),
        )

    def may(self, user: User, permission: str) -> bool:
        return self.perms.has(self.viewer(user).roles, permission)

    def seen_active(self, user: User) -> None:
        """An agent who just typed a command is evidently online, whatever presence we missed."""
        agent = self.roster.agents.get(user.username)
        if agent is not None and agent.presence == "offline":
            self.roster.set_presence(user.username, "online")

    # --- conversations: lookup --------------------------------------------------------------------
    def get(self, number: int) -> Conversation:
        conv = self.repo.get(number)
        if conv is None:
            raise not_found(number)
        return conv

    def by_room(self, rid: str) -> Conversation | None:
        return self.repo.by_room(rid)

    def is_conversation_room(self, rid: str) -> bool:
        if rid in self._rooms:
            return True
        conv = self.repo.by_room(rid)
        if conv is not None:
            self._rooms[rid] = conv.number
            return True
        return False

    def visible_queue(self, user: User, *, all_departments: bool = False) -> list[Conversation]:
        viewer = self.viewer(user)
        if all_departments and not self.perms.has(viewer.roles, "view-livechat-manager"):
            raise Refused(
                "Only managers can see every department's queue (view-livechat-manager).",
                "error-not-allowed",
            )
        # A chat whose room is still being opened (no rid yet) is not takeable yet.
        return [
            c
            for c in self.repo.queued()
            if c.rid and can_see_queued(c, viewer, self.perms, all_departments=all_departments)
        ]

    def in_my_queue(self, conv: Conversation, viewer: Viewer) -> bool:
        """Department isolation: a chat of a department the agent is not in does not exist
        for them (managers' `/queue all` aside)."""
        return (
            conv.department is None
            or conv.department in viewer.departments
            or conv.default_agent == viewer.username
        )

    def may_see(self, user: User, conv: Conversation) -> bool:
        """Does `conv` exist for `user`? Staff (`view-livechat-rooms`), the chat's own people
        (contact, agent, invited, earlier agents), and agents of its department or of the public
        queue; for anyone else a chat of another department does not exist (department
        isolation), so commands answer for it exactly as for an unknown number."""
        viewer = self.viewer(user)
        if can_access(conv, viewer, self.perms):
            return True
        if user.username in (conv.contact_username, *conv.previous_agents):
            return True
        return self.perms.has(viewer.roles, "view-l-room") and self.in_my_queue(conv, viewer)

    def first_line(self, conv: Conversation) -> str:
        for m in self.messages.for_conversations([conv.number]):
            if m.type is None and m.author_username == conv.contact_username and m.text.strip():
                return notify.first_line(m.text)
        return ""

    def queue_position(self, conv: Conversation) -> int | None:
        return position(conv, self.repo.queued([conv.department]))

    def rooms_for(self, conv: Conversation) -> GroupRooms | LivechatRooms:
        """The room strategy of the conversation's intake (`bot.services.rooms`)."""
        return self._livechat_rooms if conv.source == LIVECHAT else self._group_rooms

    def room_link(self, conv: Conversation) -> str:
        return self.rooms_for(conv).link(conv)

    # --- transitions ----------------------------------------------------------------------------
    def _transition(
        self, number: int, decide: Callable[[Conversation], Transition]
    ) -> tuple[Conversation, Transition]:
        before: list[Conversation] = []

        def remember(conv: Conversation) -> Transition:
            before[:] = [conv]
            return decide(conv)

        try:
            result = self.repo.transition(number, remember, roster=self.roster)
        except LookupError:
            raise not_found(number) from None
        self._fire(before[0] if before else None, result)
        return before[0], result

    def _fire(self, before: Conversation | None, result: Transition) -> None:
        for hook in list(self._transition_hooks):
            try:
                hook(before, result)
            except Exception:
                log.exception("transition hook failed for #%s", result.conversation.number)

    def _ensure_mine(
        self, conv: Conversation, viewer: Viewer, own: str, others: str, verb: str
    ) -> None:
        """RC's rule: your own chats with `own`, anyone's with `others` (managers)."""
        if not may_act(conv, viewer, self.perms, own, others):
            raise Refused(
                f"You are not in conversation #{conv.number}, so you can't {verb}.",
                "error-not-authorized",
            )

    # --- chat effects (after the commit; failures are logged, never raised) ------------------
    def note(self, conv: Conversation, text: str, kind: str) -> None:
        """A workflow note in the conversation room, stored with its system type."""
        if not conv.rid:
            return
        try:
            sent = self.chat.send(conv.rid, text)
        except RocketChatError:
            log.warning("cannot post a note in #%s", conv.number, exc_info=True)
            return
        if sent is not None:
            self.messages.upsert(dataclasses.replace(sent, type=kind), conv.number)

    def _member(self, conv: Conversation, username: str, add: bool) -> None:
        if not conv.rid:
            return
        user = self.user(username)
        if user is None:
            log.warning(
                "no user @%s to %s #%s",
                username,
                "invite to" if add else "remove from",
                conv.number,
            )
            return
        try:
            if add:
                self.chat.invite(conv.rid, user.id)
            else:
                self.chat.kick(conv.rid, user.id)
        except RocketChatError:
            log.warning(
                "cannot %s @%s in #%s",
                "invite" if add else "remove",
                username,
                conv.number,
                exc_info=True,
            )

    def _seat_changes(self, before: Conversation, after: Conversation) -> str | None:
        """Invite newcomers, remove who lost their seat (the room follows the store), through
        the intake's room strategy. A refusal is logged and its reason returned, for the
        caller to undo or tell."""
        failed = self._room_refusal(before, after)
        return failed.reason if failed else None

    def _room_refusal(self, before: Conversation, after: Conversation) -> RoomEffectFailed | None:
        try:
            self.rooms_for(after).seat_changes(before, after)
        except RoomEffectFailed as failed:
            return failed
        return None

    def dm(self, username: str, text: str, **kw: Any) -> None:
        try:
            self.chat.dm(username, text, **kw)
        except RocketChatError:
            log.warning("cannot DM @%s", username, exc_info=True)

    def _notify_waiting(self, conv: Conversation, agents: Iterable[str]) -> None:
        line = self.first_line(conv)
        text, attachments = notify.new_chat(conv, line, self.take_word)
        for username in agents:
            try:
                self.chat.post(self.chat.dm_room(username), text, attachments=attachments)
            except RocketChatError:
                log.warning("cannot notify @%s of #%s", username, conv.number, exc_info=True)

    def _tell_assigned(self, conv: Conversation, why: str) -> None:
        line = self.first_line(conv)
        shown = f': "{line}"' if line else "."
        self.dm(
            conv.agent or "",
            f"{why} #{conv.number} from {notify.contact_label(conv)} in "
            f"{notify.where(conv.department)}{shown} Room: {self.room_link(conv)}",
        )

    def _after_assignment(
        self,
        before: Conversation,
        after: Conversation,
        why: str,
        *,
        actor: str | None = None,
        seated: bool = False,
        refusal: RoomEffectFailed | None = None,
    ) -> None:
        """Seats (unless the caller `seated` them, with `refusal` as the outcome), the joined
        note, the assigned agent told; a room refusal goes to the agent and the actor."""
        if seated:
            problem = refusal.reason if refusal else None
        else:
            problem = self._seat_changes(before, after)
        if after.agent:
            self.note(after, notify.joined(after.agent), notify.JOINED)
            self._tell_assigned(after, why)
            if problem:
                self.dm(after.agent, f"#{after.number}: {problem}")
        if problem and actor and actor != after.agent:
            self.dm(actor, f"#{after.number}: {problem}")

    # --- routing --------------------------------------------------------------------------------
    @one_conversation
    def route(self, number: int, *, exclude: Iterable[str] = ()) -> Conversation:
        """Route one queued chat: preferred agent, department method, fallback chain. Under
        manual routing the eligible agents are notified. Returns the conversation after."""
        exclude = tuple(exclude)
        decision_box: list[Any] = []

        def decide(conv: Conversation) -> Transition:
            # no room yet: the intake routes it once the room exists (a seat in no room is lost)
            if conv.state is not State.QUEUED or not conv.rid or conv.rid in self.opening_rooms:
                raise _NothingToDo(conv)
            if self.hold_routing(conv):
                raise _NothingToDo(conv)
            decision = self.router.route(
                conv.department, exclude=exclude, preferred=conv.default_agent
            )
            decision_box[:] = [decision]
            if decision.agent:
                dept = decision.department if decision.moved else KEEP
                return conv.assign(decision.agent, self.clock(), by=self.bot_name, department=dept)
            if decision.moved:
                return conv.move_to(decision.department, self.bot_name, self.clock())
            raise _NothingToDo(conv)

        try:
            before, (after, _event) = self._transition(number, decide)
        except _NothingToDo as nothing:
            conv = nothing.conversation
            if decision_box and conv.state is State.QUEUED:
                self._notify_waiting(conv, decision_box[0].notify)
            return conv
        decision = decision_box[0]
        if decision.moved:
            self.note(
                after,
                f"Nobody is available in {notify.where(before.department)}; moved to "
                f"{notify.where(decision.department)}.",
                notify.TRANSFER,
            )
        if after.state is State.SERVING:
            self._after_assignment(before, after, "You have been assigned")
        else:
            self._notify_waiting(after, decision.notify)
        return after

    def route_waiting(
        self, departments: Iterable[str | None] | None = None, *, skip: Iterable[int] = ()
    ) -> None:
        """Route queued chats in queue order (auto routings, and preferred agents)."""
        skipped = set(skip)
        for conv in self.repo.queued(departments):
            if conv.number in skipped:
                continue
            method = self.router.method_of(conv.department)
            if method == "manual" and not conv.default_agent:
                continue
            try:
                self.route(conv.number)
            except Refused:
                continue

    def agent_freed(
        self, username: str, *, became_available: bool = False, skip: Iterable[int] = ()
    ) -> None:
        """An agent became available or freed a slot: route what waits for them; under manual
        routing tell a newly available agent what is waiting."""
        depts: list[str | None] = [None, *sorted(self.roster.departments_of(username))]
        self.route_waiting(depts, skip=skip)
        if not became_available:
            return
        waiting = [
            c
            for c in self.repo.queued(depts)
            if self.router.method_of(c.department) == "manual"
            and self.roster.can_serve(username, c.department)
        ]
        for conv in waiting[:5]:
            self._notify_waiting(conv, [username])
        if len(waiting) > 5:
            self.dm(username, f"{len(waiting) - 5} more chats are waiting: type /queue.")

    # --- availability ---------------------------------------------------------------------------
    def set_status(self, user: User, availability: str, *, route: bool = True) -> Availability:
        """Set `/status`; becoming available routes what waits (`route=False`: the caller
        calls `agent_freed` itself, e.g. after answering first)."""
        if not self.is_agent(user):
            raise Refused("You are not an Omnichannel agent.", "error-user-is-not-agent")
        value = Availability(availability)
        self.seen_active(user)
        self.roster.set_availability(user.username, value)
        self.repo.set_availability(user.username, value.value)
        if route and value is Availability.AVAILABLE:
            self.agent_freed(user.username, became_available=True)
        return value

    def status_of(self, username: str) -> tuple[Availability, str]:
        agent = self.roster.agent(username)
        return agent.availability, agent.presence

    def on_presence(self, user_id: str, username: str, status: str) -> None:
        """Server presence (`App.on_presence`): offline agents get no chats."""
        agent = self.roster.agents.get(username)
        if agent is None:
            return
        was_offline = agent.presence == "offline"
        self.roster.set_presence(username, status)
        if status != "offline" and was_offline and agent.availability is Availability.AVAILABLE:
            self.agent_freed(username, became_available=True)

    def load_presence(self, *, force: bool = False) -> None:
        """Ask the server for every available agent's presence, once per connection.

        Called lazily before the first decision that needs it: after a restart the catch-up
        replays messages (a contact writing in a held chat) before the connected hook runs,
        and those decisions must not see every agent as offline."""
        if self._presence_loaded and not force:
            return
        with self._presence_lock:
            if self._presence_loaded and not force:
                return
            for username, agent in list(self.roster.agents.items()):
                if agent.availability is not Availability.AVAILABLE:
                    continue
                user = self.user(username)
                if user is None:
                    continue
                try:
                    self.roster.set_presence(username, self.chat.presence(user.id))
                except RocketChatError:
                    log.warning("cannot read the presence of @%s", username, exc_info=True)
            self._presence_loaded = True

    def refresh_presence(self) -> None:
        """At (re)connect: presence from the server, then route what waits."""
        self.load_presence(force=True)
        self.route_waiting()

    # --- commands -------------------------------------------------------------------------------
    @one_conversation
    def take(self, user: User, number: int) -> Conversation:
        viewer = self.viewer(user)
        self.seen_active(user)
        not_mine = Refused(f"There is no conversation #{number} in your queue.", "error-not-found")

        def decide(conv: Conversation) -> Transition:
            if not self.in_my_queue(conv, viewer):
                raise not_mine
            if conv.state is State.QUEUED:
                if not conv.rid or conv.rid in self.opening_rooms:  # still being opened
                    raise Refused(
                        f"Conversation #{number} is still being opened; try again in a moment.",
                        "error-not-ready",
                    )
                self.roster.ensure_can_take(user.username, conv.department)
            return conv.take(user.username, self.clock())

        try:
            before, (after, _e) = self._transition(number, decide)
        except Refused as refused:
            # an unknown number reads like another department's chat (as `/preview` says)
            if refused.key == "error-not-found":
                raise not_mine from None
            raise
        failed = self._room_refusal(before, after)
        if failed and before.state is State.QUEUED and failed.untouched:
            # The agent cannot get into the room (a livechat room without the grant): the
            # chat goes back where it was, and the agent is told why, not left in silence.
            self._undo_take(number, user.username, failed.reason)
            raise Refused(failed.reason, "error-room-effect")
        self.note(after, notify.joined(user.username), notify.JOINED)
        return after

    def _undo_forward(self, number: int, back_to: str, target: str, problem: str) -> None:
        def decide(conv: Conversation) -> Transition:
            if conv.state is not State.SERVING or conv.agent != target:
                raise _NothingToDo(conv)
            return conv.forward_to_agent(
                back_to, self.bot_name, self.clock(), problem, target_available=True
            )

        try:
            self._transition(number, decide)
        except (_NothingToDo, Refused):
            log.warning("cannot undo the refused forward of #%s", number, exc_info=True)

    def _undo_take(self, number: int, username: str, problem: str) -> None:
        def decide(conv: Conversation) -> Transition:
            if conv.state is not State.SERVING or conv.agent != username:
                raise _NothingToDo(conv)
            return conv.requeue(self.bot_name, self.clock(), problem)

        try:
            self._transition(number, decide)
        except (_NothingToDo, Refused):
            return
        self.later(self.agent_freed, username, skip=(number,))

    def take_next(self, user: User) -> Conversation:
        """The oldest chat this agent may see; a chat someone else wins meanwhile is skipped."""
        for conv in self.visible_queue(user):
            try:
                return self.take(user, conv.number)
            except Refused as refused:
                if refused.key == "error-inquiry-taken":
                    continue
                raise
        raise Refused("There are no chats waiting in your queue.", "error-queue-empty")

    @one_conversation
    def requeue(self, user: User, number: int, comment: str | None = None) -> Conversation:
        viewer = self.viewer(user)

        def decide(conv: Conversation) -> Transition:
            self._ensure_mine(conv, viewer, "view-l-room", STAFF_SEES_ALL, "move it")
            if conv.state is State.ON_HOLD:
                raise Refused(
                    f"Conversation #{conv.number} is on hold; resume it before you move it "
                    "back to the queue.",
                    "error-room-onHold",
                )
            return conv.requeue(user.username, self.clock(), comment)

        before, (after, _e) = self._transition(number, decide)
        self.note(
            after,
            notify.with_comment(f"Returned to the queue by @{user.username}", comment),
            notify.TRANSFER,
        )
        problem = self._seat_changes(before, after)
        if problem:
            self.dm(user.username, f"#{number}: {problem}")
        after = self.route(number, exclude=[before.agent] if before.agent else [])
        if before.agent:
            # the freed slot may take other waiting chats, never the one just handed back
            self.later(self.agent_freed, before.agent, skip=(number,))
        return after

    @one_conversation
    def forward_to_agent(
        self, user: User, number: int, target: str, comment: str | None = None
    ) -> Conversation:
        viewer = self.viewer(user)
        target_user = self.user(target)
        if target_user is None:
            raise Refused(f"There is no user @{target}.", "error-invalid-user")
        if not self.is_agent(target_user):
            raise Refused(f"@{target} is not an Omnichannel agent.", "error-user-is-not-agent")
        target = target_user.username

        def decide(conv: Conversation) -> Transition:
            self._ensure_mine(conv, viewer, "transfer-livechat-guest", STAFF_SEES_ALL, "forward it")
            agent = self.roster.agents.get(target)
            result = conv.forward_to_agent(
                target,
                user.username,
                self.clock(),
                comment,
                target_available=agent is not None and agent.is_available,
            )
            self.roster.ensure_capacity(target, conv.department, you=False)
            return result

        before, (after, _e) = self._transition(number, decide)
        failed = self._room_refusal(before, after)
        if failed and failed.untouched and before.agent and before.state is State.SERVING:
            # Rocket.Chat refused the transfer (the target is offline there, a grant is
            # missing): the room did not change, so neither does the conversation.
            self._undo_forward(number, before.agent, target, failed.reason)
            raise Refused(failed.reason, "error-room-effect")
        self.note(
            after,
            notify.with_comment(f"Forwarded to @{target} by @{user.username}", comment),
            notify.TRANSFER,
        )
        why = f"@{user.username} forwarded to you" + (f" ({comment})" if comment else "") + ":"
        self._after_assignment(before, after, why, actor=user.username, seated=True, refusal=failed)
        if before.agent:
            self.later(self.agent_freed, before.agent)
        return after

    @one_conversation
    def forward_to_department(
        self, user: User, number: int, department: str, comment: str | None = None
    ) -> Conversation:
        viewer = self.viewer(user)
        notify_box: list[tuple[str, ...]] = []

        def decide(conv: Conversation) -> Transition:
            self._ensure_mine(conv, viewer, "transfer-livechat-guest", STAFF_SEES_ALL, "forward it")
            current = self.roster.departments.get(conv.department) if conv.department else None
            exclude = (conv.agent,) if conv.agent else ()
            agent = None
            if conv.state is not State.ON_HOLD and department != conv.department:
                agent = self.router.choose(department, exclude=exclude)
                notify_box[:] = [tuple(self.router.eligible(department, exclude=exclude))]
            return conv.forward_to_department(
                department,
                user.username,
                self.clock(),
                comment,
                allowed_targets=current.forward_to if current else (),
                agent=agent,
            )

        before, (after, _e) = self._transition(number, decide)
        self.note(
            after,
            notify.with_comment(f"Forwarded to {department} by @{user.username}", comment),
            notify.TRANSFER,
        )
        if after.state is State.SERVING:
            self._after_assignment(
                before,
                after,
                f"@{user.username} forwarded to {department}"
                + (f" ({comment})" if comment else "")
                + ", assigned to you:",
                actor=user.username,
            )
        else:
            problem = self._seat_changes(before, after)
            if problem:
                self.dm(user.username, f"#{number}: {problem}")
            if self.router.method_of(department) == "manual" and notify_box:
                self._notify_waiting(after, notify_box[0])
        if before.agent:
            self.later(self.agent_freed, before.agent)
        return after

    @one_conversation
    def hold(self, user: User, number: int) -> Conversation:
        if not self.config.hold.enabled:
            raise Refused("Placing chats on hold is turned off here.", "error-hold-disabled")
        viewer = self.viewer(user)

        def decide(conv: Conversation) -> Transition:
            self._ensure_mine(
                conv,
                viewer,
                "on-hold-livechat-room",
                "on-hold-others-livechat-room",
                "place it on hold",
            )
            return conv.hold(
                user.username,
                self.clock(),
                agent_engagement_only=self.config.hold.require_agent_reply,
            )

        _before, (after, _e) = self._transition(number, decide)
        self.note(after, f"Placed on hold by @{user.username}.", notify.HELD)
        if after.agent:
            self.later(self.agent_freed, after.agent)
        return after

    @one_conversation
    def resume(self, user: User, number: int) -> Conversation:
        viewer = self.viewer(user)

        def decide(conv: Conversation) -> Transition:
            self._ensure_mine(
                conv, viewer, "view-l-room", "on-hold-others-livechat-room", "resume it"
            )
            result = conv.resume(user.username, self.clock())
            you = conv.agent == user.username
            self.roster.ensure_available(conv.agent or "", you=you)
            self.roster.ensure_capacity(conv.agent or "", conv.department, you=you)
            return result

        _before, (after, _e) = self._transition(number, decide)
        self.note(after, f"Resumed by @{user.username}.", notify.RESUMED)
        return after

    @one_conversation
    def close(
        self,
        user: User,
        number: int,
        comment: str | None = None,
        *,
        tags: Iterable[str] = (),
        pdf: bool = False,
        email: str | bool | None = None,
        archive: bool = True,
    ) -> Conversation:
        """Close; `archive=False` leaves archiving the room to the caller (`archive_room`), so
        a command typed in the room can still answer there first."""
        viewer = self.viewer(user)
        if pdf and not self.perms.has(viewer.roles, "request-pdf-transcript"):
            raise Refused(
                "You don't have permission to request a PDF transcript.", "error-not-allowed"
            )
        if email and not self.perms.has(viewer.roles, "send-omnichannel-chat-transcript"):
            raise Refused(
                "You don't have permission to send e-mail transcripts.", "error-not-allowed"
            )
        tags = tuple(tags)

        def decide(conv: Conversation) -> Transition:
            self._ensure_mine(
                conv, viewer, "close-livechat-room", "close-others-livechat-room", "close it"
            )
            address = self._transcript_address(conv, email)
            dept = self.roster.departments.get(conv.department) if conv.department else None
            now = self.clock()
            result = conv.close(
                user.username,
                now,
                comment,
                tags=tags,
                closer=AGENT,
                require_comment=self.config.close.require_comment,
                require_tags=bool(dept and dept.require_tags),
                closing_tags=dept.closing_tags if dept else (),
                pdf=pdf,
                email=address,
                command=self.command_word("close"),
            )
            closed = result.conversation
            result.event.data.update(
                queue_seconds=closed.queue_seconds(now),
                chat_seconds=closed.chat_seconds(now),
                service_seconds=closed.service_seconds(now),
            )
            return result

        before, (after, _e) = self._transition(number, decide)
        self._finish_close(after, user.username, archive=archive)
        if before.agent and before.state is State.SERVING:
            self.later(self.agent_freed, before.agent)
        return after

    def _transcript_address(self, conv: Conversation, email: str | bool | None) -> str | None:
        if not email:
            return None
        if isinstance(email, str):
            return email
        contact = self.repo.contact(conv.contact_username)
        address = contact.email if contact else None
        if not address:
            found = self.user(conv.contact_username)
            address = found.email if found else None
        if not address:
            raise Refused(
                f"I don't know @{conv.contact_username}'s e-mail address; write +email=address.",
                "error-invalid-email",
            )
        return address

    def archive_room(self, conv: Conversation, closed_by: str | None = None) -> None:
        """End the closed case's room, the intake's way (`rooms_for(conv).finish`): a group is
        archived, a livechat room closed with Rocket.Chat (which ends the visitor's chat)."""
        self.rooms_for(conv).finish(conv, closed_by or conv.closed_by or self.bot_name)

    def _finish_close(self, conv: Conversation, closed_by: str, *, archive: bool = True) -> None:
        text = f"Closed by @{closed_by}"
        if conv.comment:
            text += f": {conv.comment}"
        if conv.tags:
            text += f" (tags: {', '.join(conv.tags)})"
        self.note(conv, text if conv.comment or conv.tags else text + ".", notify.CLOSED)
        self.run_close_hooks(conv, closed_by)
        if archive:
            self.later(self.archive_room, conv, closed_by)
        self.later(self.tell_contact_closed, conv)

    def tell_contact_closed(self, conv: Conversation) -> None:
        self.rooms_for(conv).tell_closed(conv)

    def run_close_hooks(self, conv: Conversation, closed_by: str) -> None:
        """The `on_closed` hooks of a committed close. Hooks are idempotent: the reconciler
        runs them again for a close a crash interrupted (the transcripts' plan is written
        once)."""
        for hook in list(self._closed_hooks):
            try:
                hook(conv, closed_by)
            except Exception:
                log.exception("close hook failed for #%s", conv.number)

    @one_conversation
    def invite(self, user: User, number: int, target: str) -> Conversation:
        viewer = self.viewer(user)
        target_user = self.user(target)
        if target_user is None or not self.may(target_user, "view-l-room"):
            raise Refused("User is not an Omnichannel Agent", "error-user-is-not-agent")

        def decide(conv: Conversation) -> Transition:
            self._ensure_mine(conv, viewer, "view-l-room", STAFF_SEES_ALL, "invite people to it")
            return conv.invite(target_user.username, user.username, self.clock())

        before, (after, _e) = self._transition(number, decide)
        problem = self._seat_changes(before, after)
        if problem:
            self.dm(user.username, f"#{number}: {problem}")
        self.note(
            after, f"@{target_user.username} was invited by @{user.username}.", notify.INVITED
        )
        self.dm(
            target_user.username,
            f"@{user.username} invited you to conversation #{number} with "
            f"{notify.contact_label(after)}: {self.room_link(after)}",
        )
        return after

    # --- messages in conversation rooms -----------------------------------------------------------
    def on_room_message(self, message: Message, kind: str = "conversation") -> None:
        """The conversation message handler (`bot.dispatch.handlers.ConversationMessage`):
        store the message, keep the metrics, auto-resume.

        When the dispatcher stored it already (`Routes.store_conversation_messages`, a batch),
        only the auto-resume is left to do."""
        note = ingest.prestored_note(message)
        if note is ingest.NOT_STORED:
            note = self.store_room_messages([message]).get(ingest.key_of(message))
        if note is not None:
            self.auto_resume(note, message)

    def store_room_messages(self, batch: Sequence[Message]) -> dict[Any, int | None]:
        """`App.store_conversation_messages`: store messages of conversation rooms (each
        room's in order) and keep the metrics, in ONE transaction; per message
        (`bot.dispatch.ingest.key_of`) the number of the conversation to auto-resume after it
        (a contact wrote in a held chat), else None. Messages of rooms without a conversation
        get no note (nothing to store).

        The conversations are read inside the transaction, so the metrics' read-modify-write
        cannot interleave with another writer's. A message already stored (any revision) does
        not count for the metrics again, so replaying messages after a crash (stored, not yet
        marked processed) does not count a reply twice.
        """
        self.load_presence()  # before the transaction: it may ask the server
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
                raise _NothingToDo(conv)
            if conv.agent and self.roster.can_serve(conv.agent, conv.department):
                return conv.resume(self.bot_name, self.clock(), automatic=True)
            exclude = (conv.agent,) if conv.agent else ()
            agent = self.router.choose(conv.department, exclude=exclude)
            return conv.resume_elsewhere(self.bot_name, self.clock(), agent)

        try:
            before, (after, _e) = self._transition(number, decide)
        except _NothingToDo:
            return None
        who = f"@{message.author.username} wrote" if message else "the contact wrote"
        if after.agent == before.agent:
            self.note(after, f"Resumed automatically: {who}.", notify.RESUMED)
            line = notify.first_line(message.text) if message else ""
            self.dm(
                after.agent or "",
                f"#{number} is back from hold: {notify.contact_label(after)} wrote"
                + (f': "{line}"' if line else ".")
                + f" Room: {self.room_link(after)}",
            )
        elif after.state is State.SERVING:
            self.note(
                after,
                f"Resumed automatically: {who}; @{before.agent} is not available, "
                f"so @{after.agent} takes over.",
                notify.RESUMED,
            )
            self._after_assignment(before, after, "A held chat came back to you:")
        else:
            self.note(
                after,
                f"Resumed automatically: {who}; @{before.agent} is not available, "
                "so it is back in the queue.",
                notify.RESUMED,
            )
            self._seat_changes(before, after)
            self.route(number, exclude=[before.agent] if before.agent else [])
        return after

    # --- public names for the timers and other services ----------------------------------------
    @one_conversation
    def transition(
        self, number: int, decide: Callable[[Conversation], Transition]
    ) -> tuple[Conversation, Transition]:
        """Apply one transition (compare-and-set under the roster lock, hooks fired):
        (before, transition). `Refused` from `decide` propagates."""
        return self._transition(number, decide)

    def seat_changes(self, before: Conversation, after: Conversation) -> str | None:
        """Invite / remove people so the room matches the conversation's seats; the reason
        when the server refused."""
        return self._seat_changes(before, after)

    def finish_close(self, conv: Conversation, closed_by: str, *, archive: bool = True) -> None:
        """The effects of a committed close: note, close hooks, archive, tell the contact."""
        self._finish_close(conv, closed_by, archive=archive)


class _NothingToDo(Exception):
    """Internal: a routing/auto-resume decision that changes nothing."""

    def __init__(self, conversation: Conversation) -> None:
        super().__init__(conversation.number)
        self.conversation = conversation


ROOM_NAME_SAFE = re.compile(r"[^0-9A-Za-z_.\-]+")
