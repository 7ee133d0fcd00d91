"""When each conversation timer is due: pure functions of the conversation and the config.

Nothing here reads a clock. The scheduler asks `due(conversation, timers)` after every event
that could change the answer and sets an alarm for the earliest time; when the alarm rings it
asks again with the current `now`, so a timer whose reason went away (a message, a take, a
close, a resume) simply finds nothing due. Tests call the same functions with any `now`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.config.schema import Timers
from bot.domain import sla
from bot.domain.conversation import CONTACT, Conversation, State

ON_HOLD = "on_hold_auto_close"
ABANDONED = "abandoned"
QUEUE_MAX_WAIT = "queue_max_wait"
UNANSWERED = "unanswered_transfer"
AGENT_OFFLINE = "agent_offline"
SLA_WARNING = "sla_warning"  # the serving agent is told the first response is nearly due
SLA_BREACH = "sla_breach"  # no first response by the SLA's due time: recorded, supervisors told
#: a closed livechat chat's survey is read (`Satisfaction.read_survey`); armed by the close,
#: not by the policy (the conversation is closed), so reconcile leaves it alone
CSAT_SURVEY = "csat_survey"

#: the per-conversation kinds, in the order `/timers` lists them
CONVERSATION_KINDS = (QUEUE_MAX_WAIT, SLA_WARNING, SLA_BREACH, UNANSWERED, ABANDONED, ON_HOLD)
KINDS = (*CONVERSATION_KINDS, AGENT_OFFLINE, CSAT_SURVEY)


@dataclass(frozen=True, slots=True)
class Due:
    """One armed timer: `kind` fires at `at` and then does `action`."""

    kind: str
    at: datetime
    action: str  # close | hold | alert | reroute | forward


def _on(after: timedelta) -> bool:
    return after > timedelta(0)


def on_hold_due(conv: Conversation, timers: Timers) -> Due | None:
    """A held chat is closed after `on_hold_auto_close` (rules §5.2)."""
    if conv.state is not State.ON_HOLD or not _on(timers.on_hold_auto_close):
        return None
    start = conv.held_at or conv.taken_at or conv.created_at
    return Due(ON_HOLD, start + timers.on_hold_auto_close, "close")


def abandoned_due(conv: Conversation, timers: Timers) -> Due | None:
    """The contact has not written for `after` while the agent is not the one who owes a
    reply (rules §11). The clock starts at the last message of either party, or at the take
    when nobody has written since, so a contact who never answers the agent's greeting is
    covered too (Rocket.Chat only starts after an agent reply to a visitor message, #22696)."""
    cfg = timers.abandoned
    if conv.state is not State.SERVING or cfg.action == "none" or not _on(cfg.after):
        return None
    m = conv.metrics
    if m.last_message_by == CONTACT:
        return None  # the agent owes the answer: not the contact's silence
    stamps = [t for t in (m.last_agent_reply_at, m.last_contact_message_at, conv.taken_at) if t]
    if not stamps:
        return None
    return Due(ABANDONED, max(stamps) + cfg.after, cfg.action)


def queue_due(conv: Conversation, timers: Timers, *, alerted: bool = False) -> Due | None:
    """Still queued `after` since it (re)entered the queue. An alert is sent once per stay
    in the queue (`alerted`), a close ends it."""
    cfg = timers.queue_max_wait
    if conv.state is not State.QUEUED or cfg.action == "none" or not _on(cfg.after):
        return None
    if cfg.action == "alert" and alerted:
        return None
    start = conv.queued_at or conv.created_at
    return Due(QUEUE_MAX_WAIT, start + cfg.after, cfg.action)


def unanswered_due(conv: Conversation, timers: Timers) -> Due | None:
    """Taken (or assigned, or forwarded) but the serving agent has not written since."""
    after = timers.unanswered_transfer.after
    if conv.state is not State.SERVING or not _on(after) or conv.taken_at is None:
        return None
    last = conv.metrics.last_agent_reply_at
    if last is not None and last >= conv.taken_at:
        return None
    return Due(UNANSWERED, conv.taken_at + after, "reroute")


def sla_warning_due(
    conv: Conversation, warn_before: timedelta, *, warned: bool = False
) -> Due | None:
    """`warn_before` the SLA's first-response due time, once, to the serving agent."""
    if warned:
        return None
    at = sla.warning_due(conv, warn_before)
    return None if at is None else Due(SLA_WARNING, at, "warn")


def sla_breach_due(conv: Conversation) -> Due | None:
    """At the SLA's due time if nobody has answered: record the breach (once)."""
    at = sla.breach_due(conv)
    return None if at is None else Due(SLA_BREACH, at, "alert")


def due(
    conv: Conversation,
    timers: Timers,
    *,
    alerted: bool = False,
    sla_warn_before: timedelta = timedelta(0),
    sla_warned: bool = False,
) -> dict[str, Due]:
    """Every timer armed for `conv`, by kind (empty for a closed conversation)."""
    found = (
        queue_due(conv, timers, alerted=alerted),
        sla_warning_due(conv, sla_warn_before, warned=sla_warned),
        sla_breach_due(conv),
        unanswered_due(conv, timers),
        abandoned_due(conv, timers),
        on_hold_due(conv, timers),
    )
    return {d.kind: d for d in found if d is not None}


def agent_offline_due(since: datetime, timers: Timers) -> Due | None:
    """An agent offline or not-available since `since`: their serving chats move on."""
    cfg = timers.agent_offline
    if cfg.action == "none" or not _on(cfg.after):
        return None
    return Due(AGENT_OFFLINE, since + cfg.after, cfg.action)


def job_id(kind: str, subject: int | str) -> str:
    """The scheduler job of one timer: re-arming replaces it, nothing doubles."""
    return f"{kind}:{subject}"


def parse_job_id(value: str) -> tuple[str, str] | None:
    kind, sep, subject = value.partition(":")
    if not sep or kind not in KINDS or not subject:
        return None
    return kind, subject
