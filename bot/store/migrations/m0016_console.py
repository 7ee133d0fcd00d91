"""Migration 16: the agent console's threads (`console_threads`, issue 16).

Numbered after its issue: other branches add migrations in parallel, and the runner applies
every missing number in order.
"""

from __future__ import annotations

import sqlalchemy

from bot.store.schema_console import console_threads

NAME = "console"


def upgrade(conn: sqlalchemy.Connection) -> None:
    console_threads.create(conn, checkfirst=True)
