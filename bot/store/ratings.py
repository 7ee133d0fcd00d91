"""`RatingRepo`: satisfaction asks and answers (CSAT, issue 19)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from bot.store.engine import insert_ignore
from bot.store.schema_satisfaction import conversation_ratings as ratings
from bot.store.store import Store


@dataclass(frozen=True, slots=True)
class Rating:
    conversation: int
    contact_username: str
    asked_at: datetime
    rating: int | None = None
    comment: str | None = None
    rated_at: datetime | None = None


def _rating(row: sa.Row) -> Rating:
    r = row._mapping
    return Rating(
        conversation=r["conversation_number"],
        contact_username=r["contact_username"],
        asked_at=r["asked_at"],
        rating=r["rating"],
        comment=r["comment"],
        rated_at=r["rated_at"],
    )


class RatingRepo:
    def __init__(self, store: Store) -> None:
        self.store = store

    def ask(self, number: int, contact_username: str, at: datetime) -> bool:
        """Record that the contact was asked to rate #number; False if asked before."""
        with self.store.transaction() as conn:
            return insert_ignore(
                conn,
                ratings,
                {
                    "conversation_number": number,
                    "contact_username": contact_username,
                    "asked_at": at,
                },
                ["conversation_number"],
            )

    def pending(self, contact_username: str, since: datetime) -> Rating | None:
        """The contact's latest unanswered ask made at or after `since`."""
        query = (
            sa.select(ratings)
            .where(
                ratings.c.contact_username == contact_username,
                ratings.c.rating.is_(None),
                ratings.c.asked_at >= since,
            )
            .order_by(ratings.c.asked_at.desc())
            .limit(1)
        )
        with self.store.reading() as conn:
            row = conn.execute(query).first()
        return _rating(row) if row else None

    def rate(self, number: int, rating: int, comment: str | None, at: datetime) -> bool:
        """Store the contact's answer once; False if #number was not asked or already rated."""
        with self.store.transaction() as conn:
            result = conn.execute(
                ratings.update()
                .where(ratings.c.conversation_number == number, ratings.c.rating.is_(None))
                .values(rating=rating, comment=comment, rated_at=at)
            )
            return bool(result.rowcount)

    def get(self, number: int) -> Rating | None:
        with self.store.reading() as conn:
            row = conn.execute(
                sa.select(ratings).where(ratings.c.conversation_number == number)
            ).first()
        return _rating(row) if row else None

    def for_conversations(self, numbers: list[int]) -> dict[int, Rating]:
        if not numbers:
            return {}
        with self.store.reading() as conn:
            rows = conn.execute(
                sa.select(ratings).where(ratings.c.conversation_number.in_(numbers))
            ).all()
        return {r.conversation: r for r in map(_rating, rows)}
