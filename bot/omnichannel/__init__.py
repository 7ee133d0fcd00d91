"""The omnichannel domain: conversation state machine, routing, capacity, permissions.

Pure Python, no I/O: it decides, the command handlers translate and the store persists.
"""

from bot.omnichannel.agents import (
    Agent,
    Availability,
    Department,
    Roster,
    agent_limit,
    within_limits,
)
from bot.omnichannel.conversation import (
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
from bot.omnichannel.errors import Refused
from bot.omnichannel.events import Event
from bot.omnichannel.permissions import (
    Permissions,
    Viewer,
    can_access,
    can_see_queued,
    may_act,
    viewer_for,
)
from bot.omnichannel.queue import ordered, position
from bot.omnichannel.routing import Decision, Router

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
