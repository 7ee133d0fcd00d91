"""The `/call` records (migration 5, `omnicat_calls`): the meeting link posted in a room and who
answered it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from bot.store.schema_toolkit import calls

JOINED, DECLINED = "joined", "declined"


@dataclass(frozen=True, slots=True)
class Call:
    id: int
    conversation_id: int | None
    rid: str
    url: str
    provider: str
    started_by: str
    started_at: datetime
    answer: str | None
    joined: tuple[str, ...]


def _call(r: Any) -> Call:
    return Call(
        id=r.id,
        conversation_id=r.conversation_id,
        rid=r.rid,
        url=r.url,
        provider=r.provider,
        started_by=r.started_by,
        started_at=r.started_at,
        answer=r.answer,
        joined=tuple(u for u in (r.joined or "").split(",") if u),
    )


class CallRepo:
    def __init__(self, store: Any) -> None:
        self.store = store

    def start(
        self,
        rid: str,
        url: str,
        *,
        provider: str,
        by: str,
        at: datetime,
        conversation_id: int | None,
    ) -> Call:
        with self.store.transaction() as conn:
            new_id = conn.execute(
                calls.insert().values(
                    conversation_id=conversation_id,
                    rid=rid,
                    url=url,
                    provider=provider,
                    started_by=by,
                    started_at=at,
                    joined="",
                )
            ).inserted_primary_key[0]
        found = self.get(new_id)
        assert found is not None
        return found

    def get(self, call_id: int) -> Call | None:
        with self.store.engine.connect() as conn:
            row = conn.execute(sa.select(calls).where(calls.c.id == call_id)).first()
        return _call(row) if row else None

    def latest(self, rid: str) -> Call | None:
        with self.store.engine.connect() as conn:
            row = conn.execute(
                sa.select(calls)
                .where(calls.c.rid == rid)
                .order_by(calls.c.started_at.desc(), calls.c.id.desc())
                .limit(1)
            ).first()
        return _call(row) if row else None

    def answer(
        self, call: Call, username: str, answer: str, at: datetime, *, is_contact: bool
    ) -> tuple[Call, bool]:
        """Record a Join or Decline; returns (call, changed). A repeated click changes nothing
        (and is not noted again)."""
        values: dict[str, Any] = {}
        if answer == JOINED and username not in call.joined:
            values["joined"] = ",".join((*call.joined, username))
        if is_contact and call.answer != answer:
            values["answer"] = answer
            values["answered_at"] = at
        if not values:
            return call, False
        with self.store.transaction() as conn:
            conn.execute(calls.update().where(calls.c.id == call.id).values(**values))
        found = self.get(call.id)
        assert found is not None
        return found, True
