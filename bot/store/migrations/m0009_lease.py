"""Migration 9: the high-availability lease row (`omnicat_lease`, see `bot/runtime/lease.py`).

Numbered 9, not 8, to leave room for a migration another branch adds in parallel.
"""

from __future__ import annotations

import sqlalchemy

from bot.store.schema_lease import lease

NAME = "lease"


def upgrade(conn: sqlalchemy.Connection) -> None:
    lease.create(conn, checkfirst=True)
