"""The composition root: every piece of the bot built explicitly, in one readable order.

`compose(...)` builds the dispatcher (`bot.dispatch.app.App`), the services on the store and the
chat port (the workflow and its intakes, the reconciler, transcripts, timers, canned shortcuts),
and gives the dispatcher its handler groups and hooks in one `App.register` call. Nothing assigns
a hook afterwards: what runs for an event, and in which order, is read here.

`bot.runtime.root.Bot` calls it with the real store and, once connected, binds the transport as
`app.chat`; the tests' desk (`tests/desk.py`) calls it with a fake chat.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from bot.chat.types import Message
from bot.dispatch.app import App, default_permissions
from bot.dispatch.handlers import (
    CannedShortcut,
    ConversationMessage,
    Handler,
    Intake,
    MessageHandler,
    Routes,
)
from bot.services.conversations import Workflow
from bot.services.intake.dm import Intake as DmIntake
from bot.services.intake.livechat import LivechatIntake
from bot.services.reconcile import Reconciler
from bot.services.shortcut import CannedExpander
from bot.services.timers.scheduler import TimerService
from bot.services.transcripts.delivery import TranscriptService


@dataclass
class Composed:
    """What `compose` built (the runtime and the tests reach the pieces through it)."""

    app: App
    workflow: Workflow
    intake: DmIntake
    livechat: LivechatIntake
    reconciler: Reconciler
    transcripts: TranscriptService | None
    timers: TimerService | None
    shortcuts: CannedExpander | None


def compose(
    *,
    store: Any,
    config: Any,
    chat: Any = None,
    registry: Any = None,
    clock: Callable[[], datetime] | None = None,
    permissions: Any = None,
    metrics: Any = None,
    transcripts: bool = True,
    timers: bool = True,
    shortcuts: bool = True,
    timer_options: dict[str, Any] | None = None,
    observers: Sequence[Handler] = (),
    live: bool = False,
    **app_options: Any,
) -> Composed:
    """Build the bot on `store` (open, migrated) and `chat` (None: bound later as `app.chat`).

    `transcripts`, `timers`, `shortcuts` leave out a part (tests of one part); `observers` see
    every message before the handlers (tests); `live` lets messages flow without a transport."""
    if clock is not None:
        app_options["clock"] = clock
    app = App(
        store=store,
        config=config,
        registry=registry,
        chat=chat,
        permissions=permissions,
        metrics=metrics,
        **app_options,
    )
    services = _build_services(app)
    wf: Workflow = services.workflow
    livechat: LivechatIntake = services.livechat

    # Transcripts: PDF/e-mail at close, on the slow pool; undelivered ones resume once connected.
    transcript_service = None
    if transcripts:
        transcript_service = TranscriptService(wf, app.run_slow)
        wf.on_closed(transcript_service.on_closed)
        services.transcripts = transcript_service
    # Timers: every transition re-arms; started by the caller once connected (a missed alarm
    # then fires with the chat port up).
    timer_service = None
    if timers:
        timer_service = TimerService(wf, **(timer_options or {}))
        _hook_timers(timer_service, wf)
        services.timers = timer_service
    expander = CannedExpander(app) if shortcuts else None

    conversation_followers: list[MessageHandler] = []
    intake_followers: list[MessageHandler] = []
    presence: list[Callable[[str, str, str], None]] = [wf.on_presence]
    connected: list[Callable[[bool], None]] = [lambda first: wf.refresh_presence()]
    if livechat.enabled:
        # only with the intake on: the dm and channel intakes run exactly as without it
        conversation_followers.append(_livechat_follower(livechat))
        # the bot available as agent, and the rooms it serves in line with the store
        connected.append(livechat.on_connected)
    # After an unclean stop (kill -9), rooms the crashed run left behind the store are repaired.
    connected.append(services.reconciler.on_connected)
    if transcript_service is not None:
        service = transcript_service
        # after connecting (the chat is there to deliver with), once per run
        connected.append(lambda first: service.resume() if first else None)
    if timer_service is not None:
        ts = timer_service
        conversation_followers.append(lambda message, kind: ts.on_message(message))
        # a new conversation is created, not transitioned: no hook fires for it
        intake_followers.append(lambda message, kind: ts.on_contact(message.author.username))
        presence.append(lambda user_id, username, status: ts.agent_changed(username))
        # after the workflow refreshed presences: an agent who went away while we were
        # disconnected sent no presence event we could see
        connected.append(lambda first: ts.check_agents())

    groups: list[list[Handler]] = [list(observers)] if observers else []
    groups.append([ConversationMessage(wf.on_room_message, conversation_followers)])
    # `!x`: in a conversation room after the message was recorded (it counts as the agent's
    # reply); elsewhere instead of intake (intake never sees an agent's `!word`)
    last: list[Handler] = [CannedShortcut(expander)] if expander is not None else []
    last.append(Intake(services.intake.handle, intake_followers))
    groups.append(last)
    app.register(
        Routes(
            groups=groups,
            is_conversation_room=wf.is_conversation_room,
            store_conversation_messages=wf.store_room_messages,
            prepare_context=wf.prepare_context,
            roles=lambda user: wf.viewer(user).roles,
            services=SimpleNamespace(
                **{k: v for k, v in vars(services).items() if k in _COMMAND_SERVICES}
            ),
            presence=presence,
            subscription=livechat.on_subscription if livechat.enabled else None,
            connected=connected,
            stopped=[services.reconciler.on_stopped],
        )
    )
    if live:
        app.go_live()
    return Composed(
        app=app,
        workflow=wf,
        intake=services.intake,
        livechat=livechat,
        reconciler=services.reconciler,
        transcripts=transcript_service,
        timers=timer_service,
        shortcuts=expander,
    )


#: what commands find as `ctx.services.<name>`
_COMMAND_SERVICES = ("workflow", "transcripts", "timers")


def _build_services(app: App) -> SimpleNamespace:
    """The workflow-side services on the app's store, config, clock, room queues and chat.

    (The one function to swap for `bot.services.build_services` once the Workflow is split.)"""
    workflow = Workflow(
        store=app.store,
        config=app.config,
        chat=lambda: app.chat,
        permissions=default_permissions(app.config),
        clock=app.clock,
    )
    intake = DmIntake(workflow)
    workflow.intake = intake  # type: ignore[attr-defined]
    livechat = LivechatIntake(workflow, submit=app.rooms.submit)
    intake.livechat = livechat
    workflow.livechat = livechat  # type: ignore[attr-defined]
    if livechat.enabled:
        workflow.hold_routing = livechat.waits_for_first_line
    reconciler = Reconciler(workflow, submit=app.rooms.submit)
    workflow.reconciler = reconciler  # type: ignore[attr-defined]
    return SimpleNamespace(
        workflow=workflow, intake=intake, livechat=livechat, reconciler=reconciler
    )


def _hook_timers(timers: TimerService, wf: Workflow) -> None:
    """Every transition re-arms; a `/status` change re-arms the agent's offline timer."""
    wf.on_transition(timers.on_transition)
    set_status = wf.set_status

    def status_and_timer(user: Any, availability: str, **kw: Any) -> Any:
        value = set_status(user, availability, **kw)
        timers.agent_changed(user.username)
        return value

    wf.set_status = status_and_timer  # type: ignore[method-assign]


def _livechat_follower(livechat: LivechatIntake) -> MessageHandler:
    """After the conversation record: a `livechat-close` message closes the conversation, and
    a visitor's first line routes a livechat chat that opened before it."""

    def follow(message: Message, kind: str) -> None:
        if message.type == "livechat-close":
            livechat.on_room_system_message(message)
        elif message.from_visitor:
            livechat.first_line(message)

    return follow
