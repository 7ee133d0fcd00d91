"""A chat in one line: the dev server, the real bot in-process, and users who talk to it.

    def test_help(chat):
        alice = chat.user("alice")
        assert "/help" in alice.dm_bot("/help")
        room = alice.in_room(rid)                      # or alice.in_conversation(3)
        assert room.command("/take 3") == "…"          # first reply
        assert room.exchange("/hold", 2) == ["Placed on hold by @alice.", "…"]

Users post over REST as themselves (the bot sees them exactly as in production: through the
server's realtime stream). Waiting for the bot reads the dev server's own message log every 50 ms
rather than polling REST history: polling would spend the rate-limit budget that the 429 tests
measure, and the log is the same data the REST history serves.
"""

from __future__ import annotations

import copy
import socket
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import requests
import yaml

from bot.chat.types import Message
from bot.config.load import parse_config
from bot.devserver import DevServer
from bot.rocketchat.rest import RestClient
from bot.runtime.root import Bot

ROOT = Path(__file__).resolve().parent.parent
SEED_FILE = ROOT / "config" / "devserver-seed.yaml"
BOT_USERNAME = "omnicat"

#: extra users the tests may need beyond the documented seed (password: `<name>-dev`)
EXTRA_USERS = [
    {"username": "erin", "name": "Erin Agent", "roles": ["user", "livechat-agent"]},
    {"username": "zoe", "name": "Zoe Contact", "roles": ["user"]},
]

# Fast reconnects and pings so drops heal in well under a second.
CLIENT_OPTIONS = {"ping_interval": 1.0, "call_timeout": 10.0, "backoff_cap": 1.0}

T = TypeVar("T")


def wait_until(cond: Callable[[], T], timeout: float = 10.0, what: str = "condition") -> T:
    """Poll `cond` every 50 ms until it returns something truthy; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def default_seed() -> dict[str, Any]:
    seed = yaml.safe_load(SEED_FILE.read_text(encoding="utf-8"))
    for extra in EXTRA_USERS:
        name = extra["username"]
        seed["users"].append({"password": f"{name}-dev", "email": f"{name}@example.test", **extra})
    return seed


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(base))
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def config_from_dict(data: Mapping[str, Any], source: str = "<test config>") -> Any:
    """A `Config` from a Python dict, through the real YAML validator (errors name `source`)."""
    return parse_config(yaml.safe_dump(dict(data), sort_keys=False), source, env={})


def base_config(server_url: str, db_path: Path, *, http: bool = True) -> dict[str, Any]:
    return {
        "server": {"url": server_url, "username": BOT_USERNAME, "password": "omnicat-dev"},
        "store": {"url": f"sqlite:///{db_path}"},
        "http": {"listen": f"127.0.0.1:{free_port()}" if http else None},
    }


class Chat:
    """The dev server plus a bot, and the users talking to it."""

    def __init__(
        self,
        tmp_path: Path,
        *,
        seed: dict[str, Any] | None = None,
        config: Mapping[str, Any] | None = None,
        server: DevServer | None = None,
        registry: Any = None,
    ) -> None:
        self.tmp_path = tmp_path
        self.server = server or DevServer(seed or default_seed(), port=0).start()
        self._own_server = server is None
        self.config_data = deep_merge(
            base_config(self.server.url, tmp_path / "omnicat.db"), config or {}
        )
        self.config = config_from_dict(self.config_data)
        #: the command registry the bot runs (None: every module in `commands/`)
        self.registry = registry
        self.bot: Bot | None = None
        self._users: dict[str, ChatUser] = {}

    # --- the bot --------------------------------------------------------------------------
    def start_bot(self, **config_overrides: Any) -> Bot:
        """Start the bot (in-process, on threads) and wait until it is caught up and live."""
        assert self.bot is None, "the bot is already running"
        if config_overrides:
            self.config_data = deep_merge(self.config_data, config_overrides)
            self.config = config_from_dict(self.config_data)
        bot = Bot(self.config, registry=self.registry, client_options=CLIENT_OPTIONS)
        bot.start()
        self.bot = bot
        wait_until(lambda: bot.ready, 15, "the bot to be connected and caught up")
        return bot

    def stop_bot(self, timeout: float = 15.0) -> bool:
        bot, self.bot = self.bot, None
        return bot.stop(timeout) if bot is not None else True

    def restart_bot(self) -> Bot:
        self.stop_bot()
        return self.start_bot()

    @property
    def store(self) -> Any:
        assert self.bot is not None, "the bot is not running"
        return self.bot.store

    def idle(self, timeout: float = 15.0) -> None:
        """Wait until the bot is live and has handled everything queued so far."""
        assert self.bot is not None and self.bot.app is not None
        bot, app = self.bot, self.bot.app
        wait_until(lambda: bot.ready, timeout, "the bot to be live")
        assert app.wait_idle(timeout), "the bot's room queues did not drain"

    @property
    def bot_username(self) -> str:
        # a token login's config names no user; the seed's bot is `omnicat`
        return str(self.config.server.username or BOT_USERNAME)

    # --- people -----------------------------------------------------------------------------
    def user(self, username: str, password: str | None = None) -> ChatUser:
        if username not in self._users:
            self._users[username] = ChatUser(self, username, password or f"{username}-dev")
        return self._users[username]

    def visitor(
        self,
        name: str = "Vera Visitor",
        *,
        token: str | None = None,
        email: str | None = None,
        department: str | None = None,
    ) -> ChatVisitor:
        """A livechat visitor (the website widget): visitor REST only, no user account."""
        self._visitors = getattr(self, "_visitors", 0) + 1
        return ChatVisitor(
            self,
            token or f"tok-{self._visitors}-{time.monotonic_ns()}",
            name,
            email=email,
            department=department,
        )

    # --- reading the room -------------------------------------------------------------------
    def messages(self, rid: str) -> list[dict[str, Any]]:
        """Every message of the room, oldest first, as the server stored it (wire dicts)."""
        return self.server.messages(rid)

    def bot_messages(
        self, rid: str, after: str | None = None, *, answers: bool = False
    ) -> list[str]:
        """Texts the bot posted in `rid` (after message id `after`, if given), oldest first.
        `answers`: only the answers to the message `after`, where it was typed (its thread, or
        the top level), not the console threads' roots and notes the command caused."""
        msgs = self.messages(rid)
        tmid = None
        if after:
            ids = [m.get("_id") for m in msgs]
            if after not in ids:
                return []
            tmid = msgs[ids.index(after)].get("tmid")
            msgs = msgs[ids.index(after) + 1 :]
        if answers:
            # where it was typed: its thread, or a thread the bot starts on it
            roots = self.console_roots()
            places = {tmid, after} if after else {tmid}
            msgs = [m for m in msgs if m.get("tmid") in places and m.get("_id") not in roots]
        return [
            str(m.get("msg", ""))
            for m in msgs
            if (m.get("u") or {}).get("username") == self.bot_username and not m.get("t")
        ]

    def console_roots(self) -> set[str]:
        """The message ids of every console thread's root (issue 16)."""
        if self.bot is None or self.bot.services is None:
            return set()
        import sqlalchemy as sa

        from bot.store.schema_console import console_threads

        with self.store.engine.connect() as conn:
            return set(conn.execute(sa.select(console_threads.c.root_id)).scalars())

    def wait_bot_messages(
        self,
        rid: str,
        count: int,
        *,
        after: str | None = None,
        timeout: float = 10.0,
        answers: bool = False,
    ) -> list[str]:
        """Wait until the bot has posted at least `count` messages after `after`; return all."""
        return wait_until(
            lambda: (lambda got: got if len(got) >= count else None)(
                self.bot_messages(rid, after, answers=answers)
            ),
            timeout,
            f"{count} bot message(s) in {rid}",
        )

    def console(self, username: str, number: int | None = None) -> list[str]:
        """Texts the bot posted in `username`'s console threads (the DM with the bot), oldest
        first: every thread's, or conversation `number`'s only (its root excluded)."""
        assert self.bot is not None, "the bot is not running"
        threads = self.bot.services.console.repo.of_conversation
        roots = None
        if number is not None:
            roots = {t.root_id for t in threads(number) if t.agent == username}
        dm = self.user(username).bot_dm
        return [
            str(m.get("msg", ""))
            for m in self.messages(dm)
            if (m.get("u") or {}).get("username") == self.bot_username
            and not m.get("t")
            and m.get("tmid")
            and (roots is None or m.get("tmid") in roots)
        ]

    def close(self) -> None:
        self.stop_bot()
        for user in self._users.values():
            user.rest.session.close()
        if self._own_server:
            self.server.stop()


class ChatUser:
    """A person logged in over REST."""

    def __init__(self, chat: Chat, username: str, password: str) -> None:
        self.chat = chat
        self.username = username
        self.rest = RestClient(chat.server.url, username=username, password=password)
        self.me = self.rest.login()
        self.id = self.me.id
        self._dms: dict[str, str] = {}

    def dm_with(self, username: str) -> str:
        """The rid of this user's direct message with `username` (created on first use)."""
        if username not in self._dms:
            self._dms[username] = self.rest.dm_create(username).id
        return self._dms[username]

    @property
    def bot_dm(self) -> str:
        return self.dm_with(self.chat.bot_username)

    def say(self, rid: str, text: str) -> Message:
        return self.rest.post_message(rid, text)

    def wait_reply(self, rid: str, after_msg_id: str, timeout: float = 10.0) -> str:
        """The bot's first message in `rid` after message `after_msg_id`, once the bot has
        finished with it: a command that answers twice (a room note and a reply) has posted
        both, so the next command's reply is not one of them."""
        first = self.chat.wait_bot_messages(
            rid, 1, after=after_msg_id, timeout=timeout, answers=True
        )[0]
        bot = self.chat.bot
        if bot is not None and bot.app is not None:
            bot.app.wait_idle(min(timeout, 5.0))
            # a console thread's root is known as one once its row is written: read again
            first = self.chat.wait_bot_messages(
                rid, 1, after=after_msg_id, timeout=timeout, answers=True
            )[0]
        return first

    def replies(self, rid: str, after_msg_id: str | None = None) -> list[str]:
        """Everything the bot has said in `rid` so far (after a message, if given)."""
        return self.chat.bot_messages(rid, after_msg_id)

    def dm_bot(self, text: str, timeout: float = 10.0) -> str:
        """Post `text` in the DM with the bot; return the bot's next reply there."""
        return self.in_room(self.bot_dm).command(text, timeout)

    def in_room(self, rid: str) -> RoomView:
        return RoomView(self, rid)

    def in_conversation(self, number: int) -> RoomView:
        """This user in the private room of conversation #`number`."""
        assert self.chat.bot is not None, "the bot is not running"
        conversation = self.chat.bot.services.repo.get(number)
        assert conversation is not None, f"no conversation #{number}"
        return RoomView(self, conversation.rid)


class RoomView:
    """One user in one room: `alice.in_room(rid).command("/take 3")`."""

    def __init__(self, user: ChatUser, rid: str) -> None:
        self.user = user
        self.rid = rid

    def say(self, text: str) -> Message:
        return self.user.say(self.rid, text)

    def answered_in_console(self) -> bool:
        """Whether the bot answers this user's commands here in their console instead: a
        conversation room (the contact reads it) and a user who is not its contact."""
        bot = self.user.chat.bot
        if bot is None or self.rid == self.user.bot_dm:
            return False
        conv = bot.services.repo.by_room(self.rid)
        return conv is not None and conv.contact_username != self.user.username

    def answered_in_dm(self) -> bool:
        """Whether the bot answers commands typed here in the user's DM with it: a room that
        is not a conversation's and has members who are not staff (a public channel)."""
        bot = self.user.chat.bot
        if bot is None or self.rid == self.user.bot_dm:
            return False
        if bot.services.repo.by_room(self.rid) is not None:
            return False  # a conversation room: the console (agents), or here (its contact)
        return not bot.services.replies.all_staff(self.rid)

    def command(self, text: str, timeout: float = 10.0) -> str:
        """Post `text`; the bot's first answer: here, or (typed in a conversation room by an
        agent) in the agent's console thread, or (in a public channel) in the agent's DM."""
        if self.answered_in_console():
            return self.exchange(text, 1, timeout)[0]
        if self.answered_in_dm():
            dm = self.user.bot_dm
            last = self.user.chat.messages(dm)
            self.say(text)
            return self.user.wait_reply(dm, last[-1]["_id"] if last else "", timeout)
        sent = self.say(text)
        return self.user.wait_reply(self.rid, sent.id, timeout)

    def exchange(self, text: str, count: int, timeout: float = 10.0) -> list[str]:
        """Post `text`; the bot's next `count` messages here (e.g. a room note and a reply),
        or in the console threads when `answered_in_console`."""
        chat = self.user.chat
        if not self.answered_in_console():
            sent = self.say(text)
            return chat.wait_bot_messages(self.rid, count, after=sent.id, timeout=timeout)
        before = len(chat.console(self.user.username))
        self.say(text)
        got = wait_until(
            lambda: (lambda all_: all_[before:] if len(all_) - before >= count else None)(
                chat.console(self.user.username)
            ),
            timeout,
            f"{count} answer(s) in @{self.user.username}'s console",
        )
        if chat.bot is not None and chat.bot.app is not None:
            chat.bot.app.wait_idle(min(timeout, 5.0))
        return got

    def replies(self, after_msg_id: str | None = None) -> list[str]:
        return self.user.replies(self.rid, after_msg_id)


class ChatVisitor:
    """A livechat visitor, as the widget talks: `POST livechat/visitor`, `GET livechat/room`,
    `POST livechat/message`, `GET livechat/messages.history/:rid`, `POST livechat/room.close`;
    no auth headers, the visitor's token is their only credential."""

    def __init__(
        self,
        chat: Chat,
        token: str,
        name: str,
        *,
        email: str | None = None,
        department: str | None = None,
    ) -> None:
        self.chat = chat
        self.token = token
        self.name = name
        self.base = chat.server.url.rstrip("/") + "/api/v1/"
        self.session = requests.Session()
        visitor: dict[str, Any] = {"token": token, "name": name}
        if email:
            visitor["email"] = email
        if department:
            visitor["department"] = department
        self.visitor = self._ok(
            self.session.post(self.base + "livechat/visitor", json={"visitor": visitor})
        )["visitor"]
        self.username = str(self.visitor["username"])
        self.rid: str | None = None

    @staticmethod
    def _ok(response: requests.Response) -> dict[str, Any]:
        body = response.json()
        assert response.status_code == 200 and body.get("success", True), body
        return body

    def open(self) -> str:
        """The visitor's open room (created, and assigned to the bot, on first call)."""
        room = self._ok(self.session.get(self.base + "livechat/room", params={"token": self.token}))
        self.rid = str(room["room"]["_id"])
        return self.rid

    def say(self, text: str) -> dict[str, Any]:
        rid = self.rid or self.open()
        body = {"token": self.token, "rid": rid, "msg": text}
        return self._ok(self.session.post(self.base + "livechat/message", json=body))["message"]

    def history(self) -> list[dict[str, Any]]:
        """What the visitor's widget shows, oldest first."""
        assert self.rid
        answer = self._ok(
            self.session.get(
                self.base + f"livechat/messages.history/{self.rid}",
                params={"token": self.token, "limit": 200},
            )
        )
        return sorted(answer["messages"], key=lambda m: str(m.get("ts", "")))

    def texts(self) -> list[str]:
        return [str(m.get("msg", "")) for m in self.history()]

    def agent(self) -> dict[str, Any]:
        """Who the widget's header names (`livechat/agent.info/:rid/:token`)."""
        assert self.rid
        answer = self.session.get(self.base + f"livechat/agent.info/{self.rid}/{self.token}")
        return dict(self._ok(answer)["agent"])

    def survey(self, **answers: str) -> dict[str, Any]:
        """The widget's satisfaction survey (the SDK's `chatSurvey`: `POST livechat/room.survey`
        with `{name, value}` items), allowed once the room is closed too."""
        assert self.rid
        data = [{"name": name, "value": value} for name, value in answers.items()]
        body = {"rid": self.rid, "token": self.token, "data": data}
        return self._ok(self.session.post(self.base + "livechat/room.survey", json=body))

    def close(self) -> dict[str, Any]:
        assert self.rid
        return self._ok(
            self.session.post(
                self.base + "livechat/room.close", json={"rid": self.rid, "token": self.token}
            )
        )

    def wait_for(self, needle: str, timeout: float = 10.0) -> str:
        """The first line the visitor sees that contains `needle`."""
        return wait_until(
            lambda: next((t for t in self.texts() if needle in t), None),
            timeout,
            f"{needle!r} in the visitor's chat",
        )
