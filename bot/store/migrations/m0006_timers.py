"""Migration 6: the timers' persistent job store (`omnicat_timer_jobs`)."""

from __future__ import annotations

import sqlalchemy

from bot.store.schema_timers import timer_jobs

NAME = "timers"


def upgrade(conn: sqlalchemy.Connection) -> None:
    timer_jobs.create(conn, checkfirst=True)
