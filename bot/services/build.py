"""Building the conversation services, in one place: every collaborator is passed to its
constructor, every subscriber registered here.

`build_services` returns a `Services` (one field per service); the dispatcher's hooks are filled
from it by the composition root (`bot.runtime.compose`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime
from typing import Any

from bot.config.schema import Config
from bot.domain import Permissions, Roster, Router
from bot.domain.clock import utc_now
from bot.domain.errors import Refused
from bot.services.console import Console
from bot.services.conversations import Conversations
from bot.services.directory import ChatSource, Directory
from bot.services.effects import Effects
from bot.services.intake.dm import Intake
from bot.services.intake.livechat import LivechatIntake
from bot.services.posting import Posting
from bot.services.presence import Presence
from bot.services.queue import QueueView
from bot.services.reconcile import Reconciler
from bot.services.replies import Replies
from bot.services.room_messages import RoomMessages
from bot.services.routing import Routing
from bot.services.satisfaction import Satisfaction
from bot.services.sla import SlaPolicies
from bot.services.transfers import Transfers
from bot.services.transitions import Transitions
from bot.store.console import ConsoleRepo
from bot.store.conversations import ConversationRepo
from bot.store.messages import MessageRepo
from bot.store.ratings import RatingRepo


@dataclasses.dataclass(frozen=True)
class Core:
    """The conversation services and the state they share (what the intakes, the reconciler,
    timers and transcripts are built on)."""

    config: Config
    store: Any
    clock: Callable[[], datetime]
    repo: ConversationRepo
    messages: MessageRepo
    roster: Roster
    router: Router
    directory: Directory
    transitions: Transitions
    queue: QueueView
    posting: Posting
    console: Console
    replies: Replies
    effects: Effects
    routing: Routing
    presence: Presence
    conversations: Conversations
    transfers: Transfers
    room_messages: RoomMessages
    sla: SlaPolicies
    satisfaction: Satisfaction

    def prepare_context(self, ctx: Any) -> None:
        """`App.prepare_context`: the room's conversation (a console thread's, in the DM), the
        caller's presence; a command typed in a customer room is answered in the console and
        deleted there, or refused (`commands.in_customer_rooms`)."""
        self.presence.load_presence()
        self.directory.remember_user(ctx.user)
        if ctx.room_kind == "conversation":
            ctx.conversation = self.repo.by_room(ctx.rid)
        elif ctx.room_kind == "dm":
            number = self.console.conversation_of(ctx.rid, ctx.message.tmid)
            if number is not None:
                ctx.conversation = self.repo.get(number)
        self.replies.where(ctx)
        if self.replies.refuses(ctx):
            raise Refused(
                "Commands typed in a room the customer reads are turned off here "
                "(commands.in_customer_rooms: refuse); type them in this thread.",
                "error-not-allowed",
            )
        if self.directory.is_agent(ctx.user):
            self.directory.seen_active(ctx.user)


@dataclasses.dataclass(frozen=True)
class Services(Core):
    """`Core` plus the intakes and the crash repair."""

    intake: Intake | None = None
    livechat: LivechatIntake | None = None
    reconciler: Reconciler | None = None


def build_core(
    *,
    store: Any,
    config: Config | None = None,
    chat: ChatSource = None,
    permissions: Permissions | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> Core:
    """The conversation services on `store` (no intake): what tests of one use case need."""
    config = config if config is not None else Config.defaults()
    if permissions is None:
        permissions = Permissions(config.permissions.overrides or None)
    repo = ConversationRepo(store)
    messages = MessageRepo(store)
    roster = Roster.from_config(config)
    router = Router(roster)
    repo.restore(roster)
    directory = Directory(config, chat, permissions, roster)
    transitions = Transitions(repo, roster)
    sorting = config.routing.sorting
    queue = QueueView(directory, repo, messages, sorting=sorting)
    console = Console(directory, ConsoleRepo(store), messages, queue)
    posting = Posting(directory, console)
    effects = Effects(directory, posting, queue, transitions)
    console.room_link = effects.room_link
    routing = Routing(
        directory=directory,
        transitions=transitions,
        effects=effects,
        posting=posting,
        repo=repo,
        roster=roster,
        router=router,
        clock=clock,
        sorting=sorting,
    )
    presence = Presence(directory, routing, repo, roster)
    shared = dict(
        config=config,
        clock=clock,
        directory=directory,
        transitions=transitions,
        queue=queue,
        posting=posting,
        effects=effects,
        routing=routing,
        repo=repo,
        roster=roster,
        router=router,
    )
    room_messages = RoomMessages(
        store=store,
        clock=clock,
        directory=directory,
        presence=presence,
        transitions=transitions,
        posting=posting,
        effects=effects,
        routing=routing,
        repo=repo,
        messages=messages,
        roster=roster,
        router=router,
    )
    satisfaction = Satisfaction(
        config=config,
        ratings=RatingRepo(store),
        posting=posting,
        repo=repo,
        clock=clock,
        transitions=transitions,
    )
    transitions.on_closed(satisfaction.on_closed)
    return Core(
        config=config,
        store=store,
        clock=clock,
        repo=repo,
        messages=messages,
        roster=roster,
        router=router,
        directory=directory,
        transitions=transitions,
        queue=queue,
        posting=posting,
        console=console,
        replies=Replies(directory, console, repo),
        effects=effects,
        routing=routing,
        presence=presence,
        conversations=Conversations(**shared),  # type: ignore[arg-type]
        transfers=Transfers(**shared),  # type: ignore[arg-type]
        room_messages=room_messages,
        sla=SlaPolicies(config),
        satisfaction=satisfaction,
    )


def build_services(
    *,
    store: Any,
    config: Config | None = None,
    chat: ChatSource = None,
    permissions: Permissions | None = None,
    clock: Callable[[], datetime] = utc_now,
    submit: Callable[..., Any] | None = None,
    reconcile: bool = True,
) -> Services:
    """Everything: the core, the `dm`/`channel` and `livechat` intakes (the livechat intake's
    routing veto registered when it is on), and the reconciler (`reconcile=False`: none, for
    tests that build services on a store without a run to repair). `submit(key, fn, *args)`
    runs work on a room's serial queue (`App.rooms.submit`)."""
    core = build_core(store=store, config=config, chat=chat, permissions=permissions, clock=clock)
    livechat = LivechatIntake(core, submit=submit)
    if livechat.enabled:
        core.routing.add_veto(livechat.waits_for_first_line)
    intake = Intake(core, livechat=livechat)
    reconciler = Reconciler(core, submit=submit) if reconcile else None
    fields = {f.name: getattr(core, f.name) for f in dataclasses.fields(Core)}
    return Services(**fields, intake=intake, livechat=livechat, reconciler=reconciler)
