"""The chat port's message calls: send (DDP first, REST on failure, rate limits waited out),
post, edit, delete, history, and direct messages."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

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
from bot.rocketchat.wire import (
    WireFormatError,
    message_from_wire,
    to_wire_date,
)

_SEND_ATTEMPTS = 5


class MessageCalls(Connection):
    """Messages and direct messages."""

    # --- messages -------------------------------------------------------------------------
    def send(self, rid: str, text: str, *, tmid: str | None = None) -> Message | None:
        message: dict[str, Any] = {"_id": random_id(), "rid": rid, "msg": text}
        if tmid:
            message["tmid"] = tmid
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
                if isinstance(result, dict):
                    try:
                        return message_from_wire(result)
                    except WireFormatError:
                        return None
                return None
        try:
            return self.rest.send_message(message)
        except RocketChatError:
            # After a DDP timeout the message may already be stored under this `_id`.
            existing = self.rest.get_message(message["_id"])
            if existing is not None:
                return existing
            raise

    def post(
        self,
        rid: str,
        text: str,
        *,
        attachments: Sequence[Attachment] = (),
        alias: str | None = None,
        tmid: str | None = None,
    ) -> Message:
        return self.rest.post_message(rid, text, attachments=attachments, alias=alias, tmid=tmid)

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
