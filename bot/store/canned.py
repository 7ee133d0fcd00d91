"""The canned responses created in chat (migration 5, `omnicat_canned_responses`). The YAML ones
and the rules of who may see and change which are `bot/services/canned.py`'s."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from bot.store.schema_toolkit import canned_responses


class CannedRepo:
    def __init__(self, store: Any) -> None:
        self.store = store

    def rows(self) -> list[Any]:
        """Every stored response (shortcut, text, scope, department, owner, ...), by shortcut."""
        with self.store.engine.connect() as conn:
            return list(
                conn.execute(
                    sa.select(canned_responses).order_by(canned_responses.c.shortcut)
                ).all()
            )

    def insert(
        self,
        *,
        shortcut: str,
        text: str,
        scope: str,
        department: str | None,
        owner: str,
        at: datetime,
    ) -> bool:
        """Store a new response; False when the shortcut exists already."""
        try:
            with self.store.transaction() as conn:
                conn.execute(
                    canned_responses.insert().values(
                        shortcut=shortcut,
                        text=text,
                        scope=scope,
                        department=department,
                        owner=owner,
                        created_at=at,
                        updated_at=at,
                        updated_by=owner,
                    )
                )
        except sa.exc.IntegrityError:
            return False
        return True

    def update(self, shortcut: str, values: Mapping[str, Any]) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                canned_responses.update()
                .where(canned_responses.c.shortcut == shortcut)
                .values(**values)
            )

    def delete(self, shortcut: str) -> None:
        with self.store.transaction() as conn:
            conn.execute(canned_responses.delete().where(canned_responses.c.shortcut == shortcut))
