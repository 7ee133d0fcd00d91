"""The omnichannel domain: conversation state machine, routing, capacity, permissions.

Pure Python, no I/O: it decides, the command handlers translate and the store persists.
"""

from bot.domain.agents import (
    Agent,
    Availability,
    Department,
    Roster,
    agent_limit,
    within_limits,
)
from bot.domain.conversation import (
    AGENT,
    CONTACT,
    KEEP,
    OPEN_STATES,
    Conversation,
    Metrics,
    State,
    Transition,
    new_conversation,
)
from bot.domain.errors import Refused
from bot.domain.events import Event
from bot.domain.permissions import (
    Permissions,
    Viewer,
    can_access,
    can_see_queued,
    may_act,
    viewer_for,
)
from bot.domain.queue import ordered, position
from bot.domain.routing import Decision, Router

__all__ = [
    "AGENT",
    "CONTACT",
    "KEEP",
    "OPEN_STATES",
    "Agent",
    "Availability",
    "Conversation",
    "Decision",
    "Department",
    "Event",
    "Metrics",
    "Permissions",
    "Refused",
    "Roster",
    "Router",
    "State",
    "Transition",
    "Viewer",
    "agent_limit",
    "can_access",
    "can_see_queued",
    "may_act",
    "new_conversation",
    "ordered",
    "position",
    "viewer_for",
    "within_limits",
]
