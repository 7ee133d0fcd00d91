"""Migration 7: `transcript_requests.trigger`, so deliveries planned at close are durable rows.

A store created after this column joined the table definition got it from migration 4 already
(that one creates the tables as declared): only older stores need the ALTER.
"""

from __future__ import annotations

import sqlalchemy

NAME = "transcript_requests"


def upgrade(conn: sqlalchemy.Connection) -> None:
    columns = {c["name"] for c in sqlalchemy.inspect(conn).get_columns("transcript_requests")}
    if "trigger" not in columns:
        # quoted: TRIGGER is a keyword in SQLite and PostgreSQL
        conn.execute(
            sqlalchemy.text('ALTER TABLE transcript_requests ADD COLUMN "trigger" VARCHAR(32)')
        )
