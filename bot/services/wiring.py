"""The conversation services wired into the dispatcher (until the composition root in
`bot.runtime` does it): `install(app)` builds them (`bot.services.build.build_services`) and
fills the dispatcher's hooks. Commands find each service on `ctx.services` (`conversations`,
`transfers`, `queue`, `presence`, `directory`, …) and all of them as `ctx.services.core`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from bot.cmd.context import WithRoles
from bot.services.build import Services, build_services
from bot.services.intake.dm import Intake
from bot.services.intake.livechat import LivechatIntake

__all__ = ["Intake", "LivechatIntake", "Services", "install"]


def install(app: Any, *, services: Services | None = None) -> Services:
    """Wire the services into `app` (a `bot.dispatch.app.App`): intake, conversation rooms,
    command context, presence, and a presence refresh + routing pass after each (re)connect."""
    from bot.dispatch.app import default_permissions

    if services is None:
        services = build_services(
            store=app.store,
            config=app.config,
            chat=lambda: app.chat,
            permissions=default_permissions(app.config),
            clock=app.clock,
            submit=app.rooms.submit,
        )
    for field in dataclasses.fields(services):
        setattr(app.services, field.name, getattr(services, field.name))
    app.services.core = services
    livechat = services.livechat
    room_messages = services.room_messages
    assert services.intake is not None and livechat is not None
    app.intake_handler = services.intake.handle
    app.conversation_handler = room_messages.on_room_message
    if livechat.enabled:
        # only with the intake on: the dm and channel intakes run exactly as without it
        app.conversation_handler = _with_livechat_close(room_messages.on_room_message, livechat)
        app.subscription_handler = livechat.on_subscription
    app.store_conversation_messages = room_messages.store_room_messages
    app.is_conversation_room = room_messages.is_conversation_room
    app.prepare_context = services.prepare_context
    # Commands' permissions see the services' roles: a YAML-listed agent is a livechat-agent
    # (issue 4) even without the server role; the app's table (YAML overrides) still decides.
    app.permissions = WithRoles(app.permissions, services.directory.roles_of)
    app.presence_handler = services.presence.on_presence
    app.connected_handlers.append(lambda first: services.presence.refresh_presence())
    # livechat: the bot available as agent, and the rooms it serves in line with the store
    if livechat.enabled:
        app.connected_handlers.append(livechat.on_connected)
    # After an unclean stop (kill -9), rooms the crashed run left behind the store are repaired.
    if services.reconciler is not None:
        app.connected_handlers.append(services.reconciler.on_connected)
        getattr(app, "stopped_handlers", []).append(services.reconciler.on_stopped)
    return services


def _with_livechat_close(handler: Any, livechat: LivechatIntake) -> Any:
    """The conversation handler, plus: a `livechat-close` message closes the conversation, and
    a visitor's first line routes a livechat chat that opened before it."""

    def handle(message: Any, kind: str = "conversation") -> None:
        handler(message, kind)
        if message.type == "livechat-close":
            livechat.on_room_system_message(message)
        elif message.from_visitor:
            livechat.first_line(message)

    return handle
