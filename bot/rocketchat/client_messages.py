"""The chat port's message calls: send (DDP first, REST on failure, rate limits waited out),
post, edit, delete, history, and direct messages."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from bot.chat import effect_scope, gates
from bot.chat.errors import (
    CallTimeout,
    ConnectionLost,
    RateLimited,
    RocketChatError,
)
from bot.chat.types import (
    Attachment,
    Message,
)
from bot.rocketchat.client_connection import RATE_LIMIT_BUDGET, Connection, log, random_id
from bot.rocketchat.in_flight import InFlightSend
from bot.rocketchat.wire import (
    WireFormatError,
    attachment_to_wire,
    message_from_wire,
    to_wire_date,
)

_SEND_ATTEMPTS = 5


def _message_id(rid: str, tmid: str | None = None) -> str:
    """The effect scope's id for the next message to `rid` (in thread `tmid`), else a random
    one."""
    return effect_scope.next_message_id(rid, tmid) or random_id()


class MessageCalls(Connection):
    """Messages and direct messages."""

    # --- messages -------------------------------------------------------------------------
    def send(self, rid: str, text: str, *, tmid: str | None = None) -> Message | None:
        """Plain text over DDP (REST when the socket is down). Inside an effect scope the
        `_id` is derived from the event (`bot.chat.effect_scope`): sending it again after a
        crash or a takeover stores nothing new, and that counts as delivered."""
        message: dict[str, Any] = {"_id": _message_id(rid, tmid), "rid": rid, "msg": text}
        if tmid:
            message["tmid"] = tmid
        return self._send_retrying(message)

    def send_soon(
        self,
        rid: str,
        text: str,
        *,
        tmid: str | None = None,
        lost: Callable[[RocketChatError], None],
    ) -> None:
        """`send` without waiting for the server (`bot.rocketchat.in_flight`), inside an
        event's handling (`bot.chat.gates`); `lost(error)` when it cannot be delivered. Where
        nothing collects gates, or DDP is down, this is `send`."""
        message: dict[str, Any] = {"_id": _message_id(rid, tmid), "rid": rid, "msg": text}
        if tmid:
            message["tmid"] = tmid
        ddp = self._ddp
        if gates.collecting_now() and ddp is not None and self.connected:
            self._in_flight.settle(rid)
            self.note_sent(message["_id"])
            try:
                answer = ddp.call_soon("sendMessage", message, brief=True)
            except ConnectionLost:
                pass  # sent as `send` does below
            else:
                flight = InFlightSend(
                    message, answer, self._finish_soon, lost, self._in_flight.done
                )
                self._in_flight.start(flight)
                gates.hold(flight)
                return
        try:
            self._send_retrying(message)
        except RocketChatError as exc:
            lost(exc)

    @property
    def answers_in_flight(self) -> int:
        """Answers sent with `send_soon` and not settled yet."""
        return len(self._in_flight)

    def _finish_soon(self, message: dict[str, Any], answer: Callable[[float], Any]) -> Any:
        """A `send_soon` finished from its DDP answer, as `_send_retrying` finishes one."""
        try:
            result = answer(self.call_timeout)
        except RateLimited as exc:
            time.sleep(min(exc.retry_after, 60.0) + 0.05)
            return self._send_retrying(message, in_flight=True)
        except (ConnectionLost, CallTimeout) as exc:
            log.info("send over DDP failed (%s), using REST", exc.reason)
            return self._rest_send(message)
        if isinstance(result, dict):
            return None  # stored; nobody reads it back
        return self._after_ddp(message, result)

    def _send_retrying(self, message: dict[str, Any], *, in_flight: bool = False) -> Message | None:
        """`message` sent (`in_flight`: it is the room's send in flight, being settled)."""
        if not in_flight:
            self._in_flight.settle(message["rid"])  # after the room's message in flight
        self.note_sent(message["_id"])
        waited = 0.0
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._send_once(message)
            except RateLimited as exc:
                # A little margin: waking exactly at the reset can land in the old window.
                wait = min(exc.retry_after, 60.0) + 0.05
                if attempt >= _SEND_ATTEMPTS and waited + wait > RATE_LIMIT_BUDGET:
                    raise
                log.info("send rate limited, retrying in %.2fs", wait)
                time.sleep(wait)
                waited += wait

    def _send_once(self, message: dict[str, Any]) -> Message | None:
        ddp = self._ddp
        if ddp is not None and self.connected:
            try:
                result = ddp.call("sendMessage", message, timeout=self.call_timeout)
            except (ConnectionLost, CallTimeout) as exc:
                log.info("send over DDP failed (%s), using REST", exc.reason)
            else:
                return self._after_ddp(message, result)
        return self._rest_send(message)

    def _after_ddp(self, message: dict[str, Any], result: Any) -> Message | None:
        # No result: RC stored nothing. With an `_id` that already exists that is the
        # duplicate refusal (current RC returns early; older RC swallows the duplicate
        # key error and says so in an ephemeral): the message is there, delivered.
        if isinstance(result, dict):
            try:
                return message_from_wire(result)
            except WireFormatError:
                return None
        if (stored := self._stored(message["_id"])) is not None:
            return stored  # a replayed `_id`: delivered once
        # Rocket.Chat's `sendMessage` swallows a refusal (too long, a filtered word,
        # a read-only room…) and explains it only to the sender in an ephemeral
        # message: no message came back. REST says why (or finds it stored).
        log.info("sendMessage over DDP stored nothing in %s; trying REST", message["rid"])
        return self._rest_send(message)

    def _stored(self, msg_id: str) -> Message | None:
        """The message stored under `msg_id`, if the server can tell now (best effort)."""
        try:
            return self.rest.get_message(msg_id)
        except RocketChatError as exc:
            log.debug("cannot look up message %s: %s", msg_id, exc)
            return None

    def _rest_send(self, message: dict[str, Any]) -> Message:
        try:
            return self.rest.send_message(message)
        except RateLimited:
            raise
        except RocketChatError:
            # `chat.sendMessage` with an `_id` that exists fails (a 400: older RC's duplicate
            # key error, current RC's failure to normalise the nothing it stored); after a DDP
            # timeout or a replay the message is there already: delivered, once.
            existing = self.rest.get_message(message["_id"])
            if existing is not None:
                log.debug("message %s exists already: delivered once", message["_id"])
                return existing
            raise

    def max_message_size(self) -> int | None:
        """Rocket.Chat's `Message_MaxAllowedSize` (a public setting), None when unreadable."""
        answer = self.rest.get("settings.public", _id="Message_MaxAllowedSize")
        for item in answer.get("settings") or []:
            if isinstance(item, dict) and item.get("_id") == "Message_MaxAllowedSize":
                value = item.get("value")
                return value if isinstance(value, int) and not isinstance(value, bool) else None
        return None

    def post(
        self,
        rid: str,
        text: str,
        *,
        attachments: Sequence[Attachment] = (),
        alias: str | None = None,
        tmid: str | None = None,
    ) -> Message:
        """`chat.postMessage` takes no `_id`: inside an effect scope the same message goes
        through `chat.sendMessage` (which takes `alias` and `attachments` too) under the
        derived id, so a replay stores it once."""
        self._in_flight.settle(rid)  # after the room's message in flight
        mid = effect_scope.next_message_id(rid, tmid)
        if mid is None:
            return self.rest.post_message(
                rid, text, attachments=attachments, alias=alias, tmid=tmid
            )
        message: dict[str, Any] = {"_id": mid, "rid": rid, "msg": text}
        if attachments:
            message["attachments"] = [attachment_to_wire(a) for a in attachments]
        if alias:
            message["alias"] = alias
        if tmid:
            message["tmid"] = tmid
        self.note_sent(mid)
        return self._rest_send(message)

    def update_message(self, rid: str, msg_id: str, text: str) -> Message:
        return self.rest.update_message(rid, msg_id, text)

    def delete_message(self, rid: str, msg_id: str) -> None:
        self.rest.delete_message(rid, msg_id)

    def get_message(self, msg_id: str) -> Message | None:
        return self.rest.get_message(msg_id)

    def history(
        self,
        rid: str,
        *,
        oldest: datetime | None = None,
        latest: datetime | None = None,
        count: int = 100,
    ) -> list[Message]:
        room_type = self._room_type(rid)
        if room_type == "l":
            return self._livechat_history(rid, oldest=oldest, latest=latest, count=count)
        return self.rest.history(rid, room_type, oldest=oldest, latest=latest, count=count)

    def _livechat_history(
        self, rid: str, *, oldest: datetime | None, latest: datetime | None, count: int
    ) -> list[Message]:
        """A livechat room's history: `channels/groups.history` do not serve `l` rooms. DDP
        `loadHistory` pages back from `latest` and includes system messages (the catch-up
        needs `livechat-close`, the reconciler the bot's notes); without DDP,
        `livechat/:rid/messages` (user messages and `livechat-close` only)."""
        ddp = self._ddp
        if ddp is None or not self.connected:
            found = self.rest.livechat_messages(rid)
            return [
                m
                for m in found
                if (oldest is None or m.ts >= oldest) and (latest is None or m.ts <= latest)
            ]
        seen: dict[str, Message] = {}
        end: datetime | None = latest
        while True:
            answer = ddp.call(
                "loadHistory",
                rid,
                to_wire_date(end) if end is not None else None,
                max(1, count),
                None,
                timeout=self.call_timeout,
            )
            items = answer.get("messages") if isinstance(answer, dict) else None
            batch = []
            for item in items if isinstance(items, list) else []:
                try:
                    batch.append(message_from_wire(item, {"roomType": "l"}))
                except WireFormatError as exc:
                    log.warning("dropping an unusable history message: %s", exc)
            fresh = [m for m in batch if m.id not in seen]
            for message in fresh:
                seen[message.id] = message
            if not fresh:
                break
            earliest = min(m.ts for m in fresh)
            if (oldest is not None and earliest < oldest) or len(batch) < count:
                break
            end = earliest
        return sorted(
            (m for m in seen.values() if oldest is None or m.ts >= oldest), key=lambda m: m.ts
        )

    # --- direct messages ------------------------------------------------------------------
    def dm_room(self, username: str) -> str:
        with self._lock:
            rid = self._dm_rids.get(username)
        if rid is None:
            room = self.rest.dm_create(username)
            rid = room.id
            with self._lock:
                self._dm_rids[username] = rid
                self._rooms.setdefault(rid, room)
        return rid

    def dm(self, username: str, text: str, *, attachments: Sequence[Attachment] = ()) -> Message:
        return self.post(self.dm_room(username), text, attachments=attachments)
