"""`EffectJournal`: sent, or not yet, for the effects that carry no id of their own.

The protocol around one upload or e-mail:

    if journal.sent(key):          # a replay: it went out before the crash
        ...count it as delivered...
    else:
        ref = do_it()
        journal.mark_sent(key, kind, ref)

What remains is the window between the server accepting it and the `mark_sent` commit (a few
milliseconds, not a handler's run); a `pending` row says a try began, for the logs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from bot.store.schema_effects import effect_journal


def _now() -> datetime:
    return datetime.now(UTC)


class EffectJournal:
    def __init__(self, store: Any) -> None:
        self.store = store

    def sent(self, key: str) -> str | None:
        """The server's reference of the effect `key` when it was sent ("" without one);
        None when it was not (yet)."""
        with self.store.engine.connect() as conn:
            row = conn.execute(
                sa.select(effect_journal.c.state, effect_journal.c.ref).where(
                    effect_journal.c.key == key
                )
            ).first()
        if row is None or row.state != "sent":
            return None
        return row.ref or ""

    def begin(self, key: str, kind: str) -> None:
        """Note that an attempt starts (a `pending` row, unless one exists)."""
        with self.store.transaction() as conn:
            found = conn.execute(
                sa.select(effect_journal.c.key).where(effect_journal.c.key == key)
            ).first()
            if found is None:
                conn.execute(
                    effect_journal.insert().values(
                        key=key, kind=kind, state="pending", created_at=_now()
                    )
                )

    def mark_sent(self, key: str, kind: str, ref: str | None = None) -> None:
        at = _now()
        with self.store.transaction() as conn:
            updated = conn.execute(
                effect_journal.update()
                .where(effect_journal.c.key == key)
                .values(state="sent", ref=ref, sent_at=at)
            ).rowcount
            if not updated:
                conn.execute(
                    effect_journal.insert().values(
                        key=key, kind=kind, state="sent", ref=ref, created_at=at, sent_at=at
                    )
                )

    def prune(self, older_than: timedelta) -> int:
        """Forget entries older than `older_than` (no replay reaches that far back)."""
        with self.store.transaction() as conn:
            return conn.execute(
                effect_journal.delete().where(effect_journal.c.created_at < _now() - older_than)
            ).rowcount
