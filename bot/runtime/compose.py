"""The composition root: every piece of the bot built explicitly, in one readable order.

`compose(...)` builds the dispatcher (`bot.dispatch.app.App`), the conversation services on the
store and the chat port (`bot.services.build.build_services`: the services, their intakes and
the reconciler), transcripts, timers, the supervisor's reports and canned shortcuts, and gives
the dispatcher its handler groups and hooks in one `App.register` call. Nothing assigns a hook
afterwards: what runs for an event, and in which order, is read here.

`bot.runtime.root.Bot` calls it with the real store and, once connected, binds the transport as
`app.chat`; the tests' desk (`tests/desk.py`) calls it with a fake chat.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from bot.chat.types import Message
from bot.dispatch.app import App
from bot.dispatch.handlers import (
    CannedShortcut,
    ConversationMessage,
    Handler,
    Intake,
    MessageHandler,
    Routes,
)
from bot.services.build import Services, build_services
from bot.services.intake.livechat import LivechatIntake
from bot.services.reports import ReportService
from bot.services.shortcut import CannedExpander
from bot.services.timers.scheduler import TimerService
from bot.services.transcripts.delivery import TranscriptService


@dataclass
class Composed:
    """What `compose` built (the runtime and the tests reach the pieces through it)."""

    app: App
    #: the conversation services, their intakes and the reconciler
    services: Services
    transcripts: TranscriptService | None
    timers: TimerService | None
    reports: ReportService | None
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
    reports: bool = True,
    shortcuts: bool = True,
    timer_options: dict[str, Any] | None = None,
    observers: Sequence[Handler] = (),
    live: bool = False,
    **app_options: Any,
) -> Composed:
    """Build the bot on `store` (open, migrated) and `chat` (None: bound later as `app.chat`).

    `transcripts`, `timers`, `reports`, `shortcuts` leave out a part (tests of one part);
    `observers` see every message before the handlers (tests); `live` lets messages flow
    without a transport."""
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
    services = build_services(
        store=app.store,
        config=app.config,
        chat=lambda: app.chat,
        permissions=app.permissions.table,  # the app's table (YAML overrides): built once
        clock=app.clock,
        submit=app.rooms.submit,
    )
    livechat = services.livechat
    intake = services.intake
    assert livechat is not None and intake is not None  # build_services builds both

    # Transcripts: PDF/e-mail at close, on the slow pool; undelivered ones resume once connected.
    transcript_service = None
    if transcripts:
        transcript_service = TranscriptService(services, app.run_slow)
        services.transitions.on_closed(transcript_service.on_closed)
    # Timers: every transition re-arms; started by the caller once connected (a missed alarm
    # then fires with the chat port up).
    timer_service = None
    if timers:
        timer_service = TimerService(services, **(timer_options or {}))
        services.transitions.on_transition(timer_service.on_transition)
        # a `/status` change re-arms the agent's offline timer
        services.presence.on_status(timer_service.agent_changed)
        # a closed livechat chat's survey is read on a timer (issue 19)
        services.satisfaction.schedule_survey = timer_service.survey_at
    # The supervisor's desk (issue 19): `/monitor`, `/report`, the digest as a daily timer
    # (registered before the caller starts the timers).
    report_service = None
    if reports:
        report_service = ReportService(
            store=services.store,
            config=services.config,
            roster=services.roster,
            chat=lambda: app.chat,
            clock=app.clock,
        )
        if timer_service is not None:
            report_service.schedule_digest(timer_service)
    expander = CannedExpander(app, services) if shortcuts else None

    conversation_followers: list[MessageHandler] = []
    intake_followers: list[MessageHandler] = []
    presence: list[Callable[[str, str, str], None]] = [services.presence.on_presence]
    connected: list[Callable[[bool], None]] = [lambda first: services.presence.refresh_presence()]
    if livechat.enabled:
        # only with the intake on: the dm and channel intakes run exactly as without it
        conversation_followers.append(_livechat_follower(livechat))
        # the bot available as agent, and the rooms it serves in line with the store
        connected.append(livechat.on_connected)
    stopped: list[Callable[[], None]] = []
    if services.reconciler is not None:
        # After an unclean stop (kill -9), rooms the crashed run left behind the store are
        # repaired; a clean stop records itself.
        connected.append(services.reconciler.on_connected)
        stopped.append(services.reconciler.on_stopped)
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
        # after the services refreshed presences: an agent who went away while we were
        # disconnected sent no presence event we could see
        connected.append(lambda first: ts.check_agents())

    room_messages = services.room_messages
    groups: list[list[Handler]] = [list(observers)] if observers else []
    groups.append([ConversationMessage(room_messages.on_room_message, conversation_followers)])
    # `!x`: in a conversation room after the message was recorded (it counts as the agent's
    # reply); elsewhere instead of intake (intake never sees an agent's `!word`)
    last: list[Handler] = [CannedShortcut(expander)] if expander is not None else []
    last.append(Intake(intake.handle, intake_followers))
    groups.append(last)
    app.register(
        Routes(
            groups=groups,
            is_conversation_room=room_messages.is_conversation_room,
            store_conversation_messages=room_messages.store_room_messages,
            prepare_context=services.prepare_context,
            refused_command=services.replies.refused_command,
            # commands' permissions see the services' roles: a YAML-listed agent is a
            # livechat-agent (issue 4) even without the server role
            roles=services.directory.roles_of,
            services=command_services(
                services,
                transcripts=transcript_service,
                timers=timer_service,
                reports=report_service,
            ),
            presence=presence,
            subscription=livechat.on_subscription if livechat.enabled else None,
            connected=connected,
            stopped=stopped,
        )
    )
    if live:
        app.go_live()
    return Composed(
        app=app,
        services=services,
        transcripts=transcript_service,
        timers=timer_service,
        reports=report_service,
        shortcuts=expander,
    )


def command_services(services: Services, **parts: Any) -> SimpleNamespace:
    """What commands find as `ctx.services.<name>`: each conversation service by its field name
    (`conversations`, `transfers`, `queue`, `presence`, `directory`, `repo`, ...), all of them
    as `core`, and the optional parts that were built (`transcripts`, `timers`, `reports`)."""
    fields = {f.name: getattr(services, f.name) for f in dataclasses.fields(services)}
    present = {name: part for name, part in parts.items() if part is not None}
    return SimpleNamespace(**fields, core=services, **present)


def _livechat_follower(livechat: LivechatIntake) -> MessageHandler:
    """After the conversation record: a `livechat-close` message closes the conversation, and
    a visitor's first line routes a livechat chat that opened before it."""

    def follow(message: Message, kind: str) -> None:
        if message.type == "livechat-close":
            livechat.on_room_system_message(message)
        elif message.from_visitor:
            livechat.first_line(message)

    return follow
