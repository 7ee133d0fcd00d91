"""The omnichannel workflow as an application service: intake, commands' effects, routing.

`install(app)` builds the `Workflow` on the app's store and config and fills the dispatcher's
hooks; commands find it as `ctx.services.workflow`.
"""

from __future__ import annotations

from typing import Any

from bot.services.conversations import Workflow
from bot.services.intake.dm import Intake
from bot.services.intake.livechat import LivechatIntake

__all__ = ["Intake", "LivechatIntake", "Workflow", "install"]


def install(app: Any, *, workflow: Workflow | None = None) -> Workflow:
    """Wire a workflow into `app` (a `bot.dispatch.app.App`): intake, conversation rooms, command
    context, presence, and a presence refresh + routing pass after each (re)connect."""
    if workflow is None:
        workflow = Workflow(
            store=app.store,
            config=app.config,
            chat=lambda: app.chat,
            permissions=app.permissions.table,  # the app's table: built once
            clock=app.clock,
        )
    intake = Intake(workflow)
    workflow.intake = intake  # type: ignore[attr-defined]
    livechat = LivechatIntake(workflow, submit=app.rooms.submit)
    intake.livechat = livechat
    workflow.livechat = livechat  # type: ignore[attr-defined]
    app.services.workflow = workflow
    app.intake_handler = intake.handle
    app.conversation_handler = workflow.on_room_message
    if livechat.enabled:
        # only with the intake on: the dm and channel intakes run exactly as without it
        app.conversation_handler = _with_livechat_close(workflow.on_room_message, livechat)
        app.subscription_handler = livechat.on_subscription
        workflow.hold_routing = livechat.waits_for_first_line
    app.store_conversation_messages = workflow.store_room_messages
    app.is_conversation_room = workflow.is_conversation_room
    app.prepare_context = workflow.prepare_context
    # Commands' permissions see the workflow's roles: a YAML-listed agent is a livechat-agent
    # (issue 4) even without the server role; the app's table (YAML overrides) still decides.
    app.permissions = app.permissions.with_roles(lambda user: workflow.viewer(user).roles)
    app.presence_handler = workflow.on_presence
    app.connected_handlers.append(lambda first: workflow.refresh_presence())
    # livechat: the bot available as agent, and the rooms it serves in line with the store
    if livechat.enabled:
        app.connected_handlers.append(livechat.on_connected)
    # After an unclean stop (kill -9), rooms the crashed run left behind the store are repaired.
    from bot.services.reconcile import Reconciler

    reconciler = Reconciler(workflow, submit=app.rooms.submit)
    workflow.reconciler = reconciler  # type: ignore[attr-defined]
    app.connected_handlers.append(reconciler.on_connected)
    getattr(app, "stopped_handlers", []).append(reconciler.on_stopped)
    return workflow


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
