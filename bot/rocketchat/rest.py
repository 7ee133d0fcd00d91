"""REST side of the transport, on `rocketchat_API` with one shared `requests.Session`.

Every call goes through `RestSession._request` (rest_session.py), which maps the library's
exceptions to our typed errors, logs in again once on a 401 (only possible with a password), and
waits out 429s for the time the server announces (`X-RateLimit-Reset`, absolute epoch ms, or
"wait N seconds" in the body). The endpoints are grouped by what they are about: rest_rooms.py,
rest_messages.py, rest_livechat.py.
"""

from __future__ import annotations

from bot.rocketchat.rest_livechat import LivechatCalls
from bot.rocketchat.rest_messages import MessageCalls
from bot.rocketchat.rest_rooms import UserAndRoomCalls

__all__ = ["RestClient"]


class RestClient(UserAndRoomCalls, MessageCalls, LivechatCalls):
    """Typed REST calls. Thread-safe: requests' Session is shared, state changes are locked."""
