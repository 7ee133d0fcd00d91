"""Migration 19: the indexes `/report`, `/monitor` and the daily digest read by (issue 19).

- `conversations.created_at` and `conversations.closed_at`: a report's period selects the
  conversations opened or closed in it (SQLite's OR optimisation uses both);
- `events.at`: the queue chart replays the last hours' transitions.

Numbered after its issue, not 10: other branches add migrations in parallel, and the runner
applies every missing number in order, so a gap costs nothing.
"""

from __future__ import annotations

import sqlalchemy

from bot.store.schema_reports import REPORT_INDEXES

NAME = "report_indexes"


def upgrade(conn: sqlalchemy.Connection) -> None:
    for index in REPORT_INDEXES:
        index.create(conn, checkfirst=True)
