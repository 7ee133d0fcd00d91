"""REST calls about messages and files."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from rocketchat_API.APIExceptions.RocketExceptions import (
    RocketBadStatusCodeException,
)

from bot.chat.errors import (
    NotFound,
    ServerError,
)
from bot.chat.types import (
    Attachment,
    Message,
)
from bot.rocketchat.rest_session import (
    RestSession,
    log,
    parse_all,
    parse_one,
    q,
)
from bot.rocketchat.wire import (
    attachment_to_wire,
    message_from_wire,
)


class MessageCalls(RestSession):
    """History, post/send/update/delete/get a message, upload and download files."""

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
        params: dict[str, Any] = {"room_id": q(rid), "count": max(1, count)}
        if oldest is not None:
            params["oldest"] = q(oldest)
            params["inclusive"] = q(True)
        if latest is not None:
            params["latest"] = q(latest)
        items = self._paged("history", fn, **params)
        # The server pages newest first. Reverse before the (stable) sort so messages sharing a
        # millisecond keep the server's order instead of coming out backwards.
        seen: dict[str, Message] = {}
        for message in reversed(parse_all(message_from_wire, items)):
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
        return parse_one(message_from_wire, answer.get("message"), "chat.postMessage")

    def send_message(self, message: dict[str, Any]) -> Message:
        answer = self._request(lambda: self.api.chat_send_message(message), "chat.sendMessage")
        return parse_one(message_from_wire, self._dict(answer).get("message"), "chat.sendMessage")

    def update_message(self, rid: str, msg_id: str, text: str) -> Message:
        answer = self.post("chat.update", roomId=rid, msgId=msg_id, text=text)
        return parse_one(message_from_wire, answer.get("message"), "chat.update")

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
        return parse_one(message_from_wire, answer.get("message"), "chat.getMessage")

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
            return parse_one(message_from_wire, self._dict(answer).get("message"), "rooms.upload")
        file_id = (self._dict(media).get("file") or {}).get("_id")
        if not isinstance(file_id, str):
            raise ServerError("rooms.media answered without a file id")
        answer = self._request(
            lambda: self.api.rooms_media_confirm(rid, file_id, **extra), "rooms.mediaConfirm"
        )
        return parse_one(message_from_wire, self._dict(answer).get("message"), "rooms.mediaConfirm")

    def download(self, url: str) -> bytes:
        """A file URL (absolute or server-relative), fetched with our auth headers."""
        full = url if url.startswith(("http://", "https://")) else self.url + "/" + url.lstrip("/")

        def fetch() -> bytes:
            response = self.session.get(full, headers=self.api.headers, timeout=self.api.timeout)
            if response.status_code >= 400:
                raise RocketBadStatusCodeException(response.status_code, response.text[:500])
            return response.content

        return self._request(fetch, "download")
