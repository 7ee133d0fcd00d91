"""APScheduler 3 as the timers' persistent alarm clock: a job store on the bot's own database
(fenced under high availability), and a scheduler that writes and removes jobs in batches."""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from apscheduler.job import Job
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_RUNNING, STATE_STOPPED
from apscheduler.triggers.date import DateTrigger
from apscheduler.util import datetime_to_utc_timestamp

log = logging.getLogger("omnicat.timers")

_CHUNK = 500  # ids per `IN (...)`: well under SQLite's bound-parameter limit


class FencedEngine:
    """The store's engine as the job store sees it under high availability: `begin()` is the
    store's fenced transaction, so an instance that lost the lease cannot remove or rewrite
    the jobs the new active instance armed (APScheduler deletes a rung job's row itself)."""

    def __init__(self, store: Any) -> None:
        self._store = store

    def begin(self) -> Any:
        return self._store.transaction()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store.engine, name)


class SharedEngineJobStore(SQLAlchemyJobStore):
    """The job store on the `Store`'s engine, which the store (not the scheduler) closes."""

    def __init__(self, *, store: Any, tablename: str) -> None:
        super().__init__(engine=store.engine, tablename=tablename)
        self._fenced_store = store if getattr(store, "fence", None) is not None else None

    def start(self, scheduler: Any, alias: str) -> None:
        super().start(scheduler, alias)  # finds the table (migration 6) on the real engine
        if self._fenced_store is not None:
            self.engine = FencedEngine(self._fenced_store)

    def shutdown(self) -> None:
        pass

    def put_jobs(self, jobs: Sequence[Job]) -> None:
        """Store many jobs, each replacing any job of its id, in one transaction: the rows
        `add_job`/`update_job` write one transaction each."""
        rows = [
            {
                "id": job.id,
                "next_run_time": datetime_to_utc_timestamp(job.next_run_time),
                "job_state": pickle.dumps(job.__getstate__(), self.pickle_protocol),
            }
            for job in jobs
        ]
        ids = [row["id"] for row in rows]
        with self.engine.begin() as conn:
            for start in range(0, len(ids), _CHUNK):
                conn.execute(
                    self.jobs_t.delete().where(self.jobs_t.c.id.in_(ids[start : start + _CHUNK]))
                )
            conn.execute(self.jobs_t.insert(), rows)

    def remove_jobs(self, ids: Sequence[str]) -> None:
        """Delete many jobs in one transaction; ids not stored (already rung) are no error."""
        with self.engine.begin() as conn:
            for start in range(0, len(ids), _CHUNK):
                conn.execute(
                    self.jobs_t.delete().where(self.jobs_t.c.id.in_(ids[start : start + _CHUNK]))
                )


class TimerScheduler(BackgroundScheduler):
    """APScheduler 3's loop runs `_process_jobs` once more after `shutdown()` has set
    STOPPED and closed the executors: due jobs then fail to submit and are *removed from the
    job store*, i.e. timers due at shutdown would be lost. Skip that last round."""

    def _process_jobs(self) -> float | None:
        if self.state == STATE_STOPPED:
            return None
        return super()._process_jobs()

    # Batched `add_job(replace_existing=True)` / `remove_job`: a flush after a burst touches
    # thousands of rooms, and one transaction per job was most of its time. Under the
    # scheduler's job store lock, as APScheduler's own, so `_process_jobs` never sees half.
    def put_date_jobs(
        self, func: Callable[..., None], jobs: Iterable[tuple[str, datetime, list[str]]]
    ) -> None:
        """(id, run time, args of `func`) → one date job each, as `add_job` builds it."""
        built = [
            Job(
                self,
                id=jid,
                name=jid,
                func=func,
                args=args,
                kwargs={},
                trigger=(trigger := DateTrigger(run_date=at)),
                executor="default",
                next_run_time=trigger.run_date,
                **self._job_defaults,
            )
            for jid, at, args in jobs
        ]
        if not built:
            return
        with self._jobstores_lock:
            store = self._lookup_jobstore("default")
            assert isinstance(store, SharedEngineJobStore)
            store.put_jobs(built)
            for job in built:
                job._jobstore_alias = "default"
        if self.state == STATE_RUNNING:
            self.wakeup()  # one of them may be due before the loop's next wake-up

    def remove_jobs(self, ids: Sequence[str]) -> None:
        if not ids:
            return
        with self._jobstores_lock:
            store = self._lookup_jobstore("default")
            assert isinstance(store, SharedEngineJobStore)
            store.remove_jobs(ids)


def utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
