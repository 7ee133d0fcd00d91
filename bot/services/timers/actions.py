"""What a timer does when it is due, through the workflow's own transition path.

Every action is one compare-and-set transition (`Transitions.transition`, the path the commands
use) whose `decide` first asks the policy again on the conversation as it is *now*: if the
reason went away meanwhile (the contact wrote, someone took the chat, it was closed or resumed)
the decision is `Moot` and nothing is written. The chat effects follow the commit, exactly as
after the matching command: a close goes through the workflow's close path (closing note,
"closed" hooks such as transcripts, archive, the contact's DM).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from bot.domain import Conversation, Refused, State, Transition
from bot.services import notify

log = logging.getLogger("omnicat.timers")

BOT = "bot"  # the `closer` of an automatic close (agent | contact | bot)

Check = Callable[[Conversation], bool]


class Moot(Exception):
    """The timer's reason is gone: nothing to do."""


def _apply(services: Any, number: int, check: Check, make: Callable[[Conversation], Transition]):
    """(before, after) of the transition, or None when moot or refused."""

    def decide(conv: Conversation) -> Transition:
        if not check(conv):
            raise Moot
        return make(conv)

    try:
        before, (after, _event) = services.transitions.transition(number, decide)
    except Moot:
        return None
    except Refused as refused:
        log.info("timer on #%s refused: %s", number, refused)
        return None
    return before, after


def close(
    services: Any,
    number: int,
    now: datetime,
    comment: str,
    check: Check,
    *,
    to_contact: str | None = None,
) -> Conversation | None:
    """Close by the bot, with `comment`; `to_contact` is said in the room first."""

    def make(conv: Conversation) -> Transition:
        result = conv.close(services.directory.bot_name, now, comment, closer=BOT)
        closed = result.conversation
        result.event.data.update(
            automatic=True,
            queue_seconds=closed.queue_seconds(now),
            chat_seconds=closed.chat_seconds(now),
            service_seconds=closed.service_seconds(now),
        )
        return result

    with services.transitions.serial(
        number
    ):  # the notes follow the close before anything else happens to it
        done = _apply(services, number, check, make)
        if done is None:
            return None
        before, after = done
        if to_contact and after.rid:
            # the department's own words for the contact (`timers.*.message`)
            services.posting.tell_customer(after, "closed", template=to_contact)
        services.effects.finish_close(after, services.directory.bot_name)
        if before.state is State.SERVING and before.agent:
            services.transitions.later(services.routing.agent_freed, before.agent)
    return after


def hold(
    services: Any, number: int, now: datetime, reason: str, check: Check
) -> Conversation | None:
    with services.transitions.serial(number):
        done = _apply(
            services,
            number,
            check,
            lambda conv: conv.hold(services.directory.bot_name, now, agent_engagement_only=False),
        )
        if done is None:
            return None
        before, after = done
        services.posting.tell_agents(
            after, f"Placed on hold automatically: {reason}.", notify.HELD, to=[before.agent or ""]
        )
        services.posting.tell_customer(after, "on_hold")
        if before.agent:
            services.transitions.later(services.routing.agent_freed, before.agent)
    return after


def reroute(
    services: Any, number: int, now: datetime, reason: str, check: Check
) -> Conversation | None:
    """Back to routing without the serving agent (under manual routing: back to the queue,
    eligible agents notified). The agent is told why, in their console thread for it."""
    with services.transitions.serial(number):
        done = _apply(
            services,
            number,
            check,
            lambda conv: conv.requeue(services.directory.bot_name, now, reason),
        )
        if done is None:
            return None
        before, after = done
        services.posting.tell_agents(
            after, f"{reason}: back to routing.", notify.TRANSFER, to=[before.agent or ""]
        )
        services.effects.seat_changes(before, after)
        # Not `agent_freed(before.agent)`: it would route this very chat straight back to them.
        after = services.routing.route(number, exclude=[before.agent] if before.agent else [])
    return after


def alert(services: Any, room: str | None, text: str) -> bool:
    """Post `text` in the supervisors' room (a room name, a rid, or @user for a DM)."""
    if not room:
        log.warning(
            "alert with no departments.*.supervisor_room nor timers.supervisor_room: %s", text
        )
        return False
    try:
        if room.startswith("@"):
            services.directory.chat.dm(room[1:], text)
            return True
        rid = _room_id(services, room.lstrip("#"))
        services.directory.chat.send(rid, text)
        return True
    except Exception:
        log.warning("cannot alert in %s", room, exc_info=True)
        return False


def _room_id(services: Any, room: str) -> str:
    for sub in services.directory.chat.subscriptions():
        if room in (sub.name, sub.rid):
            return sub.rid
    return room  # perhaps a rid the bot can still post to
