"""REST side of the transport, on `rocketchat_API` with one shared `requests.Session`.

Every call goes through `_request`, which maps the library's exceptions to our typed errors,
logs in again once on a 401 (only possible with a password), and waits out 429s for the time the
server announces (`X-RateLimit-Reset`, absolute epoch ms, or "wait N seconds" in the body).

rocketchat_API builds GET query strings by hand without percent-encoding, so `&`, `#` and `+` in a
value would corrupt the query. Every GET value passes through `_q()` first; `requests` leaves the
resulting `%XX` escapes alone.
"""

from __future__ import annotations

import io
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import quote

import requests
from rocketchat_API.APIExceptions.RocketExceptions import (
    RocketApiException,
    RocketAuthenticationException,
    RocketBadStatusCodeException,
    RocketConnectionException,
    RocketMissingParamException,
)
from rocketchat_API.rocketchat import RocketChat

from bot.chat.errors import (
    AuthenticationFailed,
    ConnectionLost,
    NotAllowed,
    NotFound,
    RateLimited,
    RocketChatError,
    ServerError,
)
from bot.chat.types import (
    Attachment,
    FileInfo,
    Message,
    Room,
    Subscription,
    User,
    Visitor,
)
from bot.rocketchat.wire import (
    WireFormatError,
    attachment_to_wire,
    file_info_from_wire,
    message_from_wire,
    room_from_wire,
    subscription_from_wire,
    to_iso,
    user_from_wire,
    visitor_from_wire,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

_RESET_MARGIN = 0.05
_WAIT_RE = re.compile(r"wait (\d+(?:\.\d+)?) seconds?", re.IGNORECASE)
_NOT_FOUND_TYPES = {
    "error-room-not-found",
    "error-invalid-room",
    "error-invalid-user",
    "error-message-not-found",
}
_NOT_ALLOWED_TYPES = {"error-not-allowed", "error-action-not-allowed", "error-forbidden"}

# `(prefix, key in *.info answer)` per room type for the type-specific endpoints.
_ROOM_API = {"c": "channels", "p": "groups", "d": "dm", "l": "channels"}


def _q(value: Any) -> str:
    """A GET value, percent-encoded (the library does not) with JSON-style booleans."""
    if isinstance(value, bool):
        value = "true" if value else "false"
    elif isinstance(value, datetime):
        value = to_iso(value)
    return quote(str(value), safe="")


class RestClient:
    """Typed REST calls. Thread-safe: requests' Session is shared, state changes are locked."""

    def __init__(
        self,
        url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        user_id: str | None = None,
        token: str | None = None,
        session: requests.Session | None = None,
        timeout: float = 30.0,
        max_attempts: int = 5,
        max_wait: float = 60.0,
        rate_limit_budget: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not ((username and password) or (user_id and token)):
            raise ValueError("RestClient needs username+password or user_id+token")
        self.url = url.rstrip("/")
        self._username = username
        self._password = password
        self._max_attempts = max(1, max_attempts)
        self._max_wait = max_wait
        # Under contention (many workers sharing one limit) a few attempts can all land in
        # full windows; with a budget, 429s keep being waited out until this many seconds
        # were spent waiting, whatever the attempt count. 0 = attempts only.
        self._rate_limit_budget = rate_limit_budget
        self._sleep = sleep
        self._login_lock = threading.Lock()
        self._last = threading.local()
        self.session = session or requests.Session()
        # The library's exceptions carry no headers; remember the last response per thread so
        # a 429 can read `X-RateLimit-Reset`.
        self.session.hooks["response"].append(self._remember_response)
        self.api = RocketChat(
            server_url=self.url,
            session=self.session,
            timeout=timeout,
            auth_token=token,
            user_id=user_id,
        )

    # --- auth -----------------------------------------------------------------------------
    @property
    def user_id(self) -> str | None:
        return self.api.headers.get("X-User-Id")

    @property
    def token(self) -> str | None:
        return self.api.headers.get("X-Auth-Token")

    @property
    def can_relogin(self) -> bool:
        return bool(self._username and self._password)

    def login(self) -> User:
        """Log in (password) or check the token (PAT); returns the logged-in user."""
        if self.can_relogin:
            self._password_login()
        return self.me()

    def _password_login(self) -> None:
        assert self._username and self._password
        with self._login_lock:
            try:
                self.api.login(self._username, self._password)
            except RocketAuthenticationException:
                raise AuthenticationFailed(
                    "REST login refused: incorrect login or password"
                ) from None
            except RocketConnectionException:
                raise ServerError("REST login: unexpected answer from the server") from None
            except requests.RequestException as exc:
                raise ConnectionLost(f"REST login failed: {type(exc).__name__}") from exc

    def _remember_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self._last.headers = response.headers

    # --- the one way every call goes ------------------------------------------------------
    def _request(self, fn: Callable[[], T], what: str) -> T:
        relogged = False
        attempt = 0
        waited = 0.0
        while True:
            attempt += 1
            self._last.headers = None
            try:
                return fn()
            except RateLimited as exc:  # raised by our own helpers
                error: RocketChatError = exc
            except (RocketApiException, RocketBadStatusCodeException) as exc:
                error = self._map_status(exc, what)
            except RocketMissingParamException as exc:
                raise ServerError(f"{what}: {exc}") from exc
            except requests.RequestException as exc:
                raise ConnectionLost(f"{what}: {type(exc).__name__}") from exc
            except (TypeError, AttributeError, KeyError, IndexError, ValueError) as exc:
                # The library walks the body assuming RC's shape (its pager calls `.get` on
                # whatever came back): an HTML page, an empty or a wrongly typed body ends here.
                raise ServerError(f"{what}: unexpected answer ({type(exc).__name__})") from exc
            if isinstance(error, AuthenticationFailed) and self.can_relogin and not relogged:
                relogged = True
                log.info("rest: %s got 401, logging in again", what)
                self._password_login()
                continue
            if isinstance(error, RateLimited) and (
                attempt < self._max_attempts
                or waited + error.retry_after <= self._rate_limit_budget
            ):
                log.info("rest: %s rate limited, retrying in %.2fs", what, error.retry_after)
                self._sleep(error.retry_after)
                waited += error.retry_after
                continue
            raise error

    def _map_status(
        self, exc: RocketApiException | RocketBadStatusCodeException, what: str
    ) -> RocketChatError:
        status = exc.status_code
        body = exc.response_json if isinstance(exc.response_json, dict) else {}
        text = body.get("error") if isinstance(body.get("error"), str) else None
        error_type = body.get("errorType") if isinstance(body.get("errorType"), str) else None
        reason = f"{what}: {text or f'HTTP {status}'}"
        kw: dict[str, Any] = {"error": error_type or status, "details": body.get("details")}
        if (
            status == 429
            or error_type in {"too-many-requests", "error-too-many-requests"}
            or (text and "[error-too-many-requests]" in text)
        ):
            return RateLimited(reason, retry_after=self._retry_after(text), **kw)
        if status == 401:
            return AuthenticationFailed(reason, **kw)
        if status == 403 or error_type in _NOT_ALLOWED_TYPES:
            return NotAllowed(reason, **kw)
        if status == 404 or error_type in _NOT_FOUND_TYPES:
            return NotFound(reason, **kw)
        return ServerError(reason, **kw)

    def _retry_after(self, text: str | None) -> float:
        headers = getattr(self._last, "headers", None)
        reset = headers.get("X-RateLimit-Reset") if headers is not None else None
        wait: float | None = None
        if reset:
            try:
                wait = float(reset) / 1000 - time.time()
            except ValueError:
                wait = None
        # A reset already past (clock skew) says nothing; the body's "wait N seconds" may.
        if (wait is None or wait <= 0) and text:
            match = _WAIT_RE.search(text)
            if match:
                wait = float(match.group(1))
        if wait is None:
            wait = 1.0
        # A little margin: waking exactly at the reset can land in the old window again.
        return min(max(wait, 0.0) + _RESET_MARGIN, self._max_wait)

    # --- generic helpers (endpoints the library lacks) ------------------------------------
    def get(self, method: str, **params: Any) -> dict[str, Any]:
        encoded = {k: _q(v) for k, v in params.items() if v is not None}
        return self._dict(self._request(lambda: self.api.call_api_get(method, **encoded), method))

    def post(self, method: str, **body: Any) -> dict[str, Any]:
        return self._dict(self._request(lambda: self.api.call_api_post(method, **body), method))

    @staticmethod
    def _dict(answer: Any) -> dict[str, Any]:
        if not isinstance(answer, dict):
            raise ServerError("the server answered with something that is not JSON")
        return answer

    def _paged(self, what: str, fn: Callable[..., Iterable[Any]], **kwargs: Any) -> list[Any]:
        """Drain one of the library's paginated generators; errors mid-way are mapped too."""
        return self._request(lambda: list(fn(**kwargs)), what)

    # --- users ----------------------------------------------------------------------------
    def me(self) -> User:
        return _parse(user_from_wire, self._request(self.api.me, "me"), "me")

    def user_info(self, *, username: str | None = None, user_id: str | None = None) -> User | None:
        params = {"username": username} if username else {"userId": user_id}
        try:
            answer = self.get("users.info", **params)
        except NotFound:
            return None
        except ServerError as exc:
            # 8.x answers an unknown user with 400 `error-invalid-user` or a plain failure.
            log.debug("rest: users.info failed: %s", exc.reason)
            return None
        return _parse(user_from_wire, answer.get("user"), "users.info")

    def presence(self, user_id: str) -> str:
        answer = self.get("users.getPresence", userId=user_id)
        status = answer.get("presence")
        return status if isinstance(status, str) else "offline"

    # --- rooms ----------------------------------------------------------------------------
    def dm_create(self, username: str) -> Room:
        answer = self._request(lambda: self.api.dm_create(username), "dm.create")
        return _parse(room_from_wire, self._dict(answer).get("room"), "dm.create")

    def room_info(self, rid: str) -> Room | None:
        try:
            answer = self.get("rooms.info", roomId=rid)
        except NotFound:
            return None
        return _parse(room_from_wire, answer.get("room"), "rooms.info")

    def create_group(self, name: str, members: Sequence[str] = ()) -> Room:
        answer = self._request(
            lambda: self.api.groups_create(name, members=list(members)), "groups.create"
        )
        return _parse(room_from_wire, self._dict(answer).get("group"), "groups.create")

    def invite(self, rid: str, user_id: str, room_type: str = "p") -> None:
        api = _ROOM_API.get(room_type, "groups")
        self.post(f"{api}.invite", roomId=rid, userId=user_id)

    def kick(self, rid: str, user_id: str, room_type: str = "p") -> None:
        api = _ROOM_API.get(room_type, "groups")
        self.post(f"{api}.kick", roomId=rid, userId=user_id)

    def archive(self, rid: str, room_type: str = "p") -> None:
        api = _ROOM_API.get(room_type, "groups")
        self.post(f"{api}.archive", roomId=rid)

    def unarchive(self, rid: str, room_type: str = "p") -> None:
        api = _ROOM_API.get(room_type, "groups")
        self.post(f"{api}.unarchive", roomId=rid)

    def set_topic(self, rid: str, topic: str, room_type: str = "p") -> None:
        api = _ROOM_API.get(room_type, "groups")
        self.post(f"{api}.setTopic", roomId=rid, topic=topic)

    def members(self, rid: str, room_type: str = "p") -> list[User]:
        fn = {"c": self.api.channels_members, "d": self.api.dm_members}.get(
            room_type, self.api.groups_members
        )
        items = self._paged("members", fn, room_id=_q(rid))
        return _parse_all(user_from_wire, items)

    def files(self, rid: str, room_type: str = "p") -> list[FileInfo]:
        fn = {"c": self.api.channels_files, "d": self.api.dm_files}.get(
            room_type, self.api.groups_files
        )
        items = self._paged("files", fn, room_id=_q(rid))
        return _parse_all(file_info_from_wire, items)

    def subscriptions(self) -> list[Subscription]:
        answer = self.get("subscriptions.get")
        return _parse_all(subscription_from_wire, answer.get("update") or [])

    # --- messages -------------------------------------------------------------------------
    def history(
        self,
        rid: str,
        room_type: str = "p",
        *,
        oldest: datetime | None = None,
        latest: datetime | None = None,
        count: int = 100,
    ) -> list[Message]:
        """All pages of a room's history, oldest first, de-duplicated by id."""
        fn = {"c": self.api.channels_history, "d": self.api.dm_history}.get(
            room_type, self.api.groups_history
        )
        params: dict[str, Any] = {"room_id": _q(rid), "count": max(1, count)}
        if oldest is not None:
            params["oldest"] = _q(oldest)
            params["inclusive"] = _q(True)
        if latest is not None:
            params["latest"] = _q(latest)
        items = self._paged("history", fn, **params)
        # The server pages newest first. Reverse before the (stable) sort so messages sharing a
        # millisecond keep the server's order instead of coming out backwards.
        seen: dict[str, Message] = {}
        for message in reversed(_parse_all(message_from_wire, items)):
            seen.setdefault(message.id, message)
        return sorted(seen.values(), key=lambda m: m.ts)

    def post_message(
        self,
        rid: str,
        text: str,
        *,
        attachments: Sequence[Attachment] = (),
        alias: str | None = None,
        tmid: str | None = None,
    ) -> Message:
        body: dict[str, Any] = {"roomId": rid, "text": text}
        if attachments:
            body["attachments"] = [attachment_to_wire(a) for a in attachments]
        if alias:
            body["alias"] = alias
        if tmid:
            body["tmid"] = tmid
        answer = self.post("chat.postMessage", **body)
        return _parse(message_from_wire, answer.get("message"), "chat.postMessage")

    def send_message(self, message: dict[str, Any]) -> Message:
        answer = self._request(lambda: self.api.chat_send_message(message), "chat.sendMessage")
        return _parse(message_from_wire, self._dict(answer).get("message"), "chat.sendMessage")

    def update_message(self, rid: str, msg_id: str, text: str) -> Message:
        answer = self.post("chat.update", roomId=rid, msgId=msg_id, text=text)
        return _parse(message_from_wire, answer.get("message"), "chat.update")

    def delete_message(self, rid: str, msg_id: str) -> None:
        self.post("chat.delete", roomId=rid, msgId=msg_id)

    def get_message(self, msg_id: str) -> Message | None:
        try:
            answer = self.get("chat.getMessage", msgId=msg_id)
        except NotFound:
            return None
        except ServerError as exc:
            log.debug("rest: chat.getMessage failed: %s", exc.reason)
            return None
        if not answer.get("message"):
            return None
        return _parse(message_from_wire, answer.get("message"), "chat.getMessage")

    # --- livechat (the bot as the rooms' bot agent; research: livechat-intake.md) ----------
    def livechat_agent_status(self, status: str = "available") -> str:
        """`POST livechat/agent.status` (`view-l-room`); the status the server now holds."""
        answer = self.post("livechat/agent.status", status=status)
        value = answer.get("status")
        return value if isinstance(value, str) else status

    def livechat_rooms(
        self, agent_id: str, *, open_only: bool = True, page: int = 50
    ) -> list[Room]:
        """Every livechat room served by `agent_id` (`GET livechat/rooms?agents[]=`, all
        pages); `view-l-room` is enough when the agent asked about is the caller."""
        rooms: dict[str, Room] = {}
        offset = 0
        while True:
            params: dict[str, Any] = {"agents[]": agent_id, "offset": offset, "count": page}
            if open_only:
                params["open"] = True
            answer = self.get("livechat/rooms", **params)
            items = answer.get("rooms") if isinstance(answer.get("rooms"), list) else []
            for room in _parse_all(room_from_wire, items):
                rooms.setdefault(room.id, room)
            total = answer.get("total")
            offset += len(items)
            if not items or not isinstance(total, int) or offset >= total:
                return list(rooms.values())

    def livechat_forward(self, rid: str, user_id: str, comment: str | None = None) -> None:
        """`POST livechat/room.forward`: the target becomes `servedBy`; every other member
        (the bot included) loses their subscription."""
        body: dict[str, Any] = {"roomId": rid, "userId": user_id}
        if comment:
            body["comment"] = comment
        self.post("livechat/room.forward", **body)

    def livechat_forward_department(self, rid: str, department_id: str) -> None:
        """`POST livechat/room.forward` to a department: every member leaves, the department's
        bot agent takes the room back (`Livechat_assign_new_conversation_to_bot`)."""
        self.post("livechat/room.forward", roomId=rid, departmentId=department_id)

    def livechat_join(self, rid: str) -> None:
        """`GET livechat/room.join`: the bot subscribes again after a forward took it out."""
        self.get("livechat/room.join", roomId=rid)

    def livechat_close(self, rid: str, comment: str, tags: Sequence[str] = ()) -> None:
        """`POST livechat/room.closeByUser`; the visitor is not e-mailed Rocket.Chat's own
        transcript (Omnicat delivers its own)."""
        body: dict[str, Any] = {
            "rid": rid,
            "comment": comment,
            "transcriptEmail": {"sendToVisitor": False},
        }
        if tags:
            body["tags"] = list(tags)
        self.post("livechat/room.closeByUser", **body)

    def livechat_messages(self, rid: str, *, page: int = 100) -> list[Message]:
        """`GET livechat/:rid/messages`, all pages, oldest first (user messages and
        `livechat-close` only: the server leaves out the other system messages)."""
        found: dict[str, Message] = {}
        offset = 0
        while True:
            answer = self.get(
                f"livechat/{quote(rid, safe='')}/messages",
                offset=offset,
                count=page,
                sort='{"ts":1}',
            )
            items = answer.get("messages") if isinstance(answer.get("messages"), list) else []
            for message in _parse_all(message_from_wire, items):
                found.setdefault(message.id, message)
            total = answer.get("total")
            offset += len(items)
            if not items or not isinstance(total, int) or offset >= total:
                return sorted(found.values(), key=lambda m: m.ts)

    def livechat_department_name(self, department_id: str) -> str | None:
        """`GET livechat/department/:id` → the department's name (None when unknown)."""
        try:
            answer = self.get(f"livechat/department/{quote(department_id, safe='')}")
        except (NotFound, ServerError, NotAllowed) as exc:
            log.debug("rest: livechat/department failed: %s", exc.reason)
            return None
        department = answer.get("department")
        name = department.get("name") if isinstance(department, dict) else None
        return name if isinstance(name, str) else None

    def visitor_info(self, visitor_id: str) -> Visitor | None:
        try:
            answer = self.get("livechat/visitors.info", visitorId=visitor_id)
        except (NotFound, ServerError, NotAllowed) as exc:
            log.debug("rest: livechat/visitors.info failed: %s", exc.reason)
            return None
        return _parse(visitor_from_wire, answer.get("visitor"), "livechat/visitors.info")

    def method_call(self, method: str, *params: Any, call_id: str = "1") -> Any:
        """`POST method.call/<method>`: a DDP method over REST; the method's result, or its
        Meteor error raised typed (as over DDP)."""
        from bot.rocketchat.ddp import map_meteor_error

        message = json.dumps({"msg": "method", "id": call_id, "method": method, "params": params})
        answer = self.post(f"method.call/{method}", message=message)
        raw = answer.get("message")
        try:
            inner = json.loads(raw) if isinstance(raw, str) else {}
        except ValueError:
            raise ServerError(f"method.call/{method}: unusable answer") from None
        if isinstance(inner, dict) and inner.get("error") is not None:
            raise map_meteor_error(inner["error"])
        return inner.get("result") if isinstance(inner, dict) else None

    def run_command(self, command: str, params: str, rid: str) -> None:
        """`POST commands.run`: a slash command as the bot (errors come back as ephemeral
        messages, not here: callers verify the effect)."""
        self.post("commands.run", command=command, params=params, roomId=rid)

    # --- files ----------------------------------------------------------------------------
    def upload(
        self,
        rid: str,
        data: bytes,
        filename: str,
        mime: str,
        *,
        message: str = "",
        tmid: str | None = None,
    ) -> Message:
        """`rooms.media` + `rooms.mediaConfirm`; `rooms.upload` when the server lacks them."""

        def file_part() -> tuple[str, io.BytesIO, str]:
            return (filename, io.BytesIO(data), mime)  # fresh per attempt: a retry rereads it

        extra: dict[str, Any] = {"msg": message} if message else {}
        if tmid:
            extra["tmid"] = tmid
        try:
            media = self._request(lambda: self.api.rooms_media(rid, file_part()), "rooms.media")
        except NotFound:
            log.info("rest: rooms.media not found, falling back to rooms.upload")
            answer = self._request(
                lambda: self.api.call_api_post(
                    "rooms.upload/" + rid, files={"file": file_part()}, use_json=False, **extra
                ),
                "rooms.upload",
            )
            return _parse(message_from_wire, self._dict(answer).get("message"), "rooms.upload")
        file_id = (self._dict(media).get("file") or {}).get("_id")
        if not isinstance(file_id, str):
            raise ServerError("rooms.media answered without a file id")
        answer = self._request(
            lambda: self.api.rooms_media_confirm(rid, file_id, **extra), "rooms.mediaConfirm"
        )
        return _parse(message_from_wire, self._dict(answer).get("message"), "rooms.mediaConfirm")

    def download(self, url: str) -> bytes:
        """A file URL (absolute or server-relative), fetched with our auth headers."""
        full = url if url.startswith(("http://", "https://")) else self.url + "/" + url.lstrip("/")

        def fetch() -> bytes:
            response = self.session.get(full, headers=self.api.headers, timeout=self.api.timeout)
            if response.status_code >= 400:
                raise RocketBadStatusCodeException(response.status_code, response.text[:500])
            return response.content

        return self._request(fetch, "download")


def _parse(parse: Callable[[Any], T], data: Any, what: str) -> T:
    try:
        return parse(data)
    except WireFormatError as exc:
        raise ServerError(f"{what}: unusable answer ({exc})") from exc


def _parse_all(parse: Callable[[Any], T], items: Iterable[Any]) -> list[T]:
    parsed = []
    for item in items:
        try:
            parsed.append(parse(item))
        except WireFormatError as exc:
            log.warning("rest: dropping an unusable item: %s", exc)
    return parsed
