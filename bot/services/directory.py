"""Who is who: the chat port, the users the bot has met, agents, a user's roles as the
workflow sees them (`viewer`) and their permissions."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from bot.chat.errors import RocketChatError
from bot.chat.port import ChatPort
from bot.chat.sending import SizedChat
from bot.chat.types import User
from bot.config.schema import Config
from bot.domain import Permissions, Roster, Viewer
from bot.domain.bounded import BoundedCache

log = logging.getLogger("omnicat.workflow")

AGENT_ROLE = "livechat-agent"
STAFF_SEES_ALL = "view-livechat-rooms"
#: roles whose holders may read agent-only texts
STAFF_ROLES = frozenset(
    {"admin", "bot", "livechat-agent", "livechat-manager", "livechat-monitor"}
)  # managers/monitors act on chats they are not in

#: the chat port, or a provider of it (the runtime sets the transport after building us)
ChatSource = ChatPort | Callable[[], ChatPort | None] | None

#: users the directory keeps (every contact is looked up once per hour at most)
USERS_CACHED = 10_000


class Directory:
    """One per bot. The user cache is a plain dict: a lost race only costs a second lookup."""

    def __init__(
        self, config: Config, chat: ChatSource, perms: Permissions, roster: Roster
    ) -> None:
        self.config = config
        self._chat = chat
        self.perms = perms
        self.roster = roster
        # bounded (issue 20): the last USERS_CACHED users looked up, re-read after an hour
        self._users: BoundedCache[str, User] = BoundedCache(USERS_CACHED, ttl=3600.0)
        self._sized: SizedChat | None = None
        self._yaml_agents = frozenset(config.agents) | {
            u for d in config.departments.values() for u in d.agents
        }

    @property
    def chat(self) -> ChatPort:
        chat: Any = self._chat
        if chat is not None and not hasattr(chat, "send") and callable(chat):
            chat = chat()
        if chat is None:
            raise RuntimeError("the services have no chat port yet")
        if isinstance(chat, SizedChat):
            return chat  # type: ignore[return-value]
        # every service sends through the size-aware layer (bot/chat/sending.py)
        sized = self._sized
        if sized is None or sized.chat is not chat:
            sized = self._sized = SizedChat(chat)
        return sized  # type: ignore[return-value]

    @property
    def bot_name(self) -> str:
        try:
            return self.chat.bot_user.username or "omnicat"
        except RuntimeError:
            return "omnicat"

    def command_word(self, name: str) -> str:
        """A command as users type it, with the first configured prefix ("/take")."""
        prefixes = self.config.commands.prefixes or ("/",)
        return f"{prefixes[0]}{name}"

    @property
    def take_word(self) -> str:
        return self.command_word("take")

    # --- people ---------------------------------------------------------------------------------
    def user(self, username: str) -> User | None:
        found = self._users.get(username)
        if found is not None:
            return found
        try:
            found = self.chat.user(username=username)
        except RocketChatError:
            log.warning("cannot look up @%s", username, exc_info=True)
            return None
        if found is not None:
            self._users[username] = found
        return found

    def remember_user(self, user: User) -> None:
        if user.username and user.id:
            self._users[user.username] = user

    def is_agent(self, user: User | str) -> bool:
        """An agent: the `livechat-agent` role on the server, or listed in the YAML."""
        if isinstance(user, str):
            if user in self._yaml_agents:
                return True
            found = self.user(user)
            return found is not None and AGENT_ROLE in found.roles
        return user.username in self._yaml_agents or AGENT_ROLE in user.roles

    def is_staff(self, username: str) -> bool:
        """Someone who may read agent-only texts: the bot, an agent, a manager, a monitor, an
        admin (DESIGN "Two audiences"). Unknown users are not."""
        if username == self.bot_name or self.is_agent(username):
            return True
        user = self.user(username)
        return user is not None and bool(STAFF_ROLES & set(user.roles))

    def viewer(self, user: User) -> Viewer:
        roles = set(user.roles)
        if self.is_agent(user):
            roles.add(AGENT_ROLE)
        return Viewer(
            username=user.username,
            roles=frozenset(roles),
            departments=self.roster.departments_of(user.username),
        )

    def roles_of(self, user: User) -> frozenset[str]:
        """The roles commands' permissions see: a YAML-listed agent is a livechat-agent."""
        return self.viewer(user).roles

    def may(self, user: User, permission: str) -> bool:
        return self.perms.has(self.viewer(user).roles, permission)

    def seen_active(self, user: User) -> None:
        """An agent who just typed a command is evidently online, whatever presence we missed."""
        agent = self.roster.agents.get(user.username)
        if agent is not None and agent.presence == "offline":
            self.roster.set_presence(user.username, "online")
