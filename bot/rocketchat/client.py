"""`RocketChatClient`: DDP for events and fast replies, REST for everything else.

The connection (log in, subscribe, reconnect, stream frames) is `Connection` in
client_connection.py; the chat-port calls are grouped by what they act on: client_messages.py,
client_rooms.py, client_livechat.py.
"""

from __future__ import annotations

from bot.rocketchat.client_connection import RATE_LIMIT_BUDGET, Listener, random_id
from bot.rocketchat.client_livechat import LivechatCalls
from bot.rocketchat.client_messages import MessageCalls
from bot.rocketchat.client_rooms import RoomCalls

__all__ = ["RATE_LIMIT_BUDGET", "Listener", "RocketChatClient", "random_id"]


class RocketChatClient(MessageCalls, RoomCalls, LivechatCalls):
    """Implements `bot.chat.port.ChatPort` plus the transport → app listener contract."""
