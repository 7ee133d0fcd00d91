"""The timers' job table: APScheduler's `SQLAlchemyJobStore` layout, created by migration 6.

APScheduler would create it itself on start, but on SQLite that CREATE could meet a busy
writer in a deferred transaction and fail at once ("database is locked"); created here it is
part of the store's own migrations (BEGIN IMMEDIATE), and APScheduler only finds it present.
The columns must stay exactly APScheduler 3's (`apscheduler/jobstores/sqlalchemy.py`).
"""

from __future__ import annotations

import sqlalchemy as sa

from bot.store.schema import metadata

TIMER_JOBS = "omnicat_timer_jobs"

timer_jobs = sa.Table(
    TIMER_JOBS,
    metadata,
    sa.Column("id", sa.Unicode(191), primary_key=True),
    sa.Column("next_run_time", sa.Float(25), index=True),
    sa.Column("job_state", sa.LargeBinary, nullable=False),
)
