"""Runtime tables: processed messages, room cursors, users cache, events, kv."""

from __future__ import annotations

import sqlalchemy as sa

from bot.store.schema_runtime import events, kv, processed_messages, room_cursors, users_cache


def upgrade(conn: sa.Connection) -> None:
    # schema_migrations itself is created by the runner before any migration runs.
    for table in (processed_messages, room_cursors, users_cache, events, kv):
        table.create(conn)  # creates the table's indexes too
