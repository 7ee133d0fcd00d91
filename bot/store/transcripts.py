"""The transcript tables (migrations 4 and 7): stored PDFs, agent preferences, requests and
the delivery log. `bot.services.transcripts.delivery` decides and delivers; this module only
stores."""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from bot.store.schema_transcripts import (
    transcript_deliveries,
    transcript_files,
    transcript_prefs,
    transcript_requests,
)

#: event kinds of a delivery attempt in the conversation's events log
DELIVERED, FAILED = "transcript-delivered", "transcript-failed"


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Job:
    """One delivery: a PDF to `requester`'s DM, or an e-mail to `address` reported to them."""

    kind: str  # pdf | email
    number: int
    requester: str
    trigger: str  # command | close | preference
    address: str | None = None
    subject: str | None = None
    #: the planned `transcript_requests` row this job answers (None: a command's, not durable)
    request_id: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class StoredPdf:
    number: int
    filename: str
    data: bytes
    sha256: str
    timezone: str
    created_at: datetime


@dataclass(frozen=True)
class Prefs:
    pdf: bool = False
    email: bool = False


@dataclass(frozen=True)
class Request:
    id: int
    number: int
    kind: str
    requester: str
    address: str | None
    subject: str | None
    trigger: str | None = None  # None: a wish recorded while open; else planned at close


def _request(r: Any) -> Request:
    return Request(
        r.id, r.conversation_number, r.kind, r.requester, r.address, r.subject, r.trigger
    )


class _Raced(Exception):
    """A recorded wish was taken while the plan was being made: make it again."""


class TranscriptRepo:
    """The transcript tables (migration 4)."""

    def __init__(self, store: Any) -> None:
        self.store = store

    # --- stored PDFs ------------------------------------------------------------------------
    def pdf(self, number: int) -> StoredPdf | None:
        with self.store.engine.connect() as conn:
            row = conn.execute(
                sa.select(transcript_files).where(transcript_files.c.conversation_number == number)
            ).first()
        if row is None:
            return None
        r = row._mapping
        created = r["created_at"]
        return StoredPdf(
            number=number,
            filename=r["filename"],
            data=bytes(r["data"]),
            sha256=r["sha256"],
            timezone=r["timezone"],
            created_at=created if created.tzinfo else created.replace(tzinfo=UTC),
        )

    def save_pdf(
        self, number: int, data: bytes, filename: str, timezone: str, rendered_for: str
    ) -> StoredPdf:
        """Keep the first PDF of a conversation; a second writer gets the stored one back."""
        with self.store.transaction() as conn:
            exists = conn.execute(
                sa.select(transcript_files.c.conversation_number).where(
                    transcript_files.c.conversation_number == number
                )
            ).first()
            if exists is None:
                conn.execute(
                    transcript_files.insert().values(
                        conversation_number=number,
                        filename=filename,
                        mime="application/pdf",
                        size=len(data),
                        sha256=hashlib.sha256(data).hexdigest(),
                        data=data,
                        timezone=timezone,
                        rendered_for=rendered_for,
                        created_at=_now(),
                    )
                )
        stored = self.pdf(number)
        assert stored is not None
        return stored

    # --- preferences ------------------------------------------------------------------------
    def prefs(self, username: str) -> Prefs:
        with self.store.engine.connect() as conn:
            row = conn.execute(
                sa.select(transcript_prefs).where(transcript_prefs.c.username == username)
            ).first()
        return Prefs(pdf=bool(row.pdf), email=bool(row.email)) if row else Prefs()

    def set_prefs(
        self, username: str, *, pdf: bool | None = None, email: bool | None = None
    ) -> Prefs:
        with self.store.transaction() as conn:
            row = conn.execute(
                sa.select(transcript_prefs).where(transcript_prefs.c.username == username)
            ).first()
            now_pdf = bool(row.pdf) if row else False
            now_email = bool(row.email) if row else False
            values = {
                "pdf": now_pdf if pdf is None else pdf,
                "email": now_email if email is None else email,
                "updated_at": _now(),
            }
            if row is None:
                conn.execute(transcript_prefs.insert().values(username=username, **values))
            else:
                conn.execute(
                    transcript_prefs.update()
                    .where(transcript_prefs.c.username == username)
                    .values(**values)
                )
        return Prefs(pdf=bool(values["pdf"]), email=bool(values["email"]))

    # --- requests recorded for the close ----------------------------------------------------
    def add_request(
        self,
        number: int,
        kind: str,
        requester: str,
        address: str | None = None,
        subject: str | None = None,
    ) -> int:
        with self.store.transaction() as conn:
            return int(
                conn.execute(
                    transcript_requests.insert().values(
                        conversation_number=number,
                        kind=kind,
                        requester=requester,
                        address=address,
                        subject=subject,
                        created_at=_now(),
                    )
                ).inserted_primary_key[0]
            )

    def take_request(self, request_id: int) -> bool:
        """Mark one request done; False when someone (the close hook) took it first."""
        with self.store.transaction() as conn:
            done = conn.execute(
                transcript_requests.update()
                .where(
                    transcript_requests.c.id == request_id,
                    transcript_requests.c.done_at.is_(None),
                )
                .values(done_at=_now())
            )
        return done.rowcount == 1

    def wishes(self, number: int) -> list[Request]:
        """The wishes recorded while #number was open and not yet planned or taken."""
        with self.store.engine.connect() as conn:
            return self._wishes(conn, number)

    @staticmethod
    def _wishes(conn: sa.Connection, number: int) -> list[Request]:
        r = transcript_requests.c
        rows = conn.execute(
            sa.select(transcript_requests)
            .where(r.conversation_number == number, r.done_at.is_(None), r.trigger.is_(None))
            .order_by(r.id)
        ).all()
        return [_request(row) for row in rows]

    def record_plan(self, number: int, jobs: list[Job], wishes: list[Request]) -> list[Job] | None:
        """Write the close's plan in one transaction: `wishes` (folded into `jobs`) done, one
        pending row per job. None when #number has a plan already (a second close hook).
        Raises `_Raced` when one of the wishes was taken meanwhile (`take_request`)."""
        r = transcript_requests.c
        with self.store.transaction() as conn:
            planned = conn.execute(
                sa.select(r.id).where(r.conversation_number == number, r.trigger.is_not(None))
            ).first()
            if planned is not None:
                return None
            now = _now()
            if wishes:
                taken = conn.execute(
                    transcript_requests.update()
                    .where(r.id.in_([w.id for w in wishes]), r.done_at.is_(None))
                    .values(done_at=now)
                )
                if taken.rowcount != len(wishes):
                    raise _Raced
            out = []
            for job in jobs:
                request_id = conn.execute(
                    transcript_requests.insert().values(
                        conversation_number=number,
                        kind=job.kind,
                        requester=job.requester,
                        address=job.address,
                        subject=job.subject,
                        trigger=job.trigger,
                        created_at=now,
                    )
                ).inserted_primary_key[0]
                out.append(dataclasses.replace(job, request_id=int(request_id)))
        return out

    def planned_pending(self, number: int | None = None) -> list[Request]:
        """Planned deliveries not done yet (of #number, or of every conversation)."""
        r = transcript_requests.c
        query = sa.select(transcript_requests).where(r.done_at.is_(None), r.trigger.is_not(None))
        if number is not None:
            query = query.where(r.conversation_number == number)
        with self.store.engine.connect() as conn:
            rows = conn.execute(query.order_by(r.id)).all()
        return [_request(row) for row in rows]

    def pending_numbers(self) -> list[int]:
        """Conversations with anything pending: planned deliveries or recorded wishes."""
        r = transcript_requests.c
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(r.conversation_number)
                .where(r.done_at.is_(None))
                .distinct()
                .order_by(r.conversation_number)
            ).all()
        return [int(row[0]) for row in rows]

    def is_done(self, request_id: int) -> bool:
        with self.store.engine.connect() as conn:
            done = conn.execute(
                sa.select(transcript_requests.c.done_at).where(
                    transcript_requests.c.id == request_id
                )
            ).first()
        return done is None or done[0] is not None

    # --- the delivery log -------------------------------------------------------------------
    def log(
        self,
        number: int,
        kind: str,
        requester: str,
        *,
        ok: bool,
        trigger: str,
        target: str | None = None,
        reason: str | None = None,
        message_id: str | None = None,
        request_id: int | None = None,
    ) -> None:
        """One delivery row (and event); the planned request it answers is done with it."""
        at = _now()
        with self.store.transaction() as conn:
            if request_id is not None:
                conn.execute(
                    transcript_requests.update()
                    .where(
                        transcript_requests.c.id == request_id,
                        transcript_requests.c.done_at.is_(None),
                    )
                    .values(done_at=at)
                )
            conn.execute(
                transcript_deliveries.insert().values(
                    conversation_number=number,
                    kind=kind,
                    requester=requester,
                    target=target,
                    trigger=trigger,
                    ok=ok,
                    reason=reason,
                    message_id=message_id,
                    at=at,
                )
            )
            self.store.append_event(
                DELIVERED if ok else FAILED,
                actor=requester,
                conversation_id=number,
                data={"kind": kind, "target": target, "trigger": trigger, "reason": reason},
                at=at,
                conn=conn,
            )

    def deliveries(self, number: int) -> list[dict[str, Any]]:
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(transcript_deliveries)
                .where(transcript_deliveries.c.conversation_number == number)
                .order_by(transcript_deliveries.c.id)
            ).all()
        return [dict(r._mapping) for r in rows]
