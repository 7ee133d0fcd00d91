"""How long do `/report 30d` and `/monitor` take at 10k and 100k closed conversations? (issue 19)

    .venv/bin/python bench/report.py                      # 10k and 100k
    .venv/bin/python bench/report.py --sizes 1000 --repeat 3

A SQLite store (WAL, as the bot runs it) is filled with N closed conversations spread over the
last `--days` days (default 365), each with its events (created, taken, closed), plus 50 open
ones (queued, serving, on hold) of the last hours; rows are inserted in bulk, as they would be
after months of use. Then, median of `--repeat` runs each:

- `/report 30d`: `ReportService.report` (the indexed window read of migration 19 + the domain's
  breakdowns), the data behind the answer, not the chat round trip;
- `/monitor`: `ReportService.desk` (the queue index's open counts + the last 6 hours' events);
- naive: the same answers from a full scan (every conversation and every event read and
  filtered in Python, then the same domain code), what the store would cost without the
  indexed queries;
- charts: the three PNGs (queue, volume, times) drawn with matplotlib on the Agg canvas, warm
  (the one-time import of matplotlib is printed apart).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa

from bot.config.schema import Config
from bot.domain import Roster
from bot.domain.desk import QueueEvent, queue_series, scope_of
from bot.domain.permissions import MANAGER, Viewer
from bot.domain.reports import Facts, build_report, parse_period
from bot.services.reports import ReportService
from bot.services.reports.service import STEP
from bot.store import Store
from bot.store.schema_conversations import conversations
from bot.store.schema_runtime import events
from bot.store.schema_satisfaction import conversation_ratings

NOW = datetime.now(UTC).replace(microsecond=0)
DEPARTMENTS = ("support", "sales", "billing", None)
AGENTS = [f"agent{i:02d}" for i in range(40)]
TAGS = ("hardware", "billing", "refund", "shipping", "login")


def fill(store: Store, closed: int, days: int, seed: int = 19) -> None:
    rng = random.Random(seed)
    # SLA and ratings from their own generator: the rest of the data stays what it was
    extra = random.Random(seed + 1)
    convs: list[dict[str, Any]] = []
    evs: list[dict[str, Any]] = []
    rates: list[dict[str, Any]] = []

    def event(number: int, at: datetime, kind: str, src: str | None, dst: str | None) -> None:
        evs.append(
            {
                "at": at,
                "actor": "bench",
                "kind": kind,
                "conversation_id": str(number),
                "from_state": src,
                "to_state": dst,
                "comment": None,
                "data": json.dumps({"source": "dm"}),
            }
        )

    for number in range(1, closed + 51):
        is_open = number > closed
        if is_open:
            created = NOW - timedelta(minutes=rng.randrange(1, 360))
        else:
            created = NOW - timedelta(seconds=rng.randrange(3600, days * 86400))
        queued = rng.randrange(5, 900)
        served = (number % 3 != 0) if is_open else rng.random() > 0.1
        taken = created + timedelta(seconds=queued) if served else None
        frt = rng.randrange(10, 600) if served else None
        closed_at = (
            None if is_open else (taken or created) + timedelta(seconds=rng.randrange(60, 5400))
        )
        # half the chats have a 10-minute SLA; a first response after it is a breach
        due = created + timedelta(minutes=10) if extra.random() < 0.5 else None
        answered = taken + timedelta(seconds=frt) if taken and frt else None
        breached = due if due and (answered is None or answered > due) and due < NOW else None
        if closed_at and extra.random() < 0.4:  # 40% of closed chats rated
            rates.append(
                {
                    "conversation_number": number,
                    "contact_username": f"contact{number}",
                    "asked_at": closed_at,
                    "rating": extra.randrange(1, 6),
                    "rated_at": closed_at + timedelta(minutes=2),
                }
            )
        state = "closed" if not is_open else ("serving" if served else "queued")
        if is_open and served and number % 5 == 0:
            state = "on_hold"
        convs.append(
            {
                "number": number,
                "contact_username": f"contact{number}",
                "department": rng.choice(DEPARTMENTS),
                "state": state,
                "rid": f"room{number}",
                "source": "dm",
                "agent": rng.choice(AGENTS) if served else None,
                "previous_agents": "[]",
                "invited": "[]",
                "created_at": created,
                "queued_at": created,
                "taken_at": taken,
                "closed_at": closed_at,
                "closed_by": "bench" if closed_at else None,
                "closer": "agent" if closed_at else None,
                "tags": json.dumps(rng.sample(TAGS, rng.randrange(0, 3))),
                "m_first_response_seconds": frt,
                "m_first_response_at": answered,
                "sla": "standard" if due else None,
                "sla_due_at": due,
                "sla_breached_at": breached,
                "m_response_count": 3 if served else 0,
                "m_response_total_seconds": 3.0 * rng.randrange(10, 400) if served else 0.0,
                "revision": 3,
                "updated_at": closed_at or taken or created,
            }
        )
        event(number, created, "created", None, "queued")
        if taken:
            event(number, taken, "taken", "queued", "serving")
        if closed_at:
            event(number, closed_at, "closed", "serving" if taken else "queued", "closed")
    with store.transaction() as conn:
        for start in range(0, len(convs), 5000):
            conn.execute(conversations.insert(), convs[start : start + 5000])
        for start in range(0, len(evs), 5000):
            conn.execute(events.insert(), evs[start : start + 5000])
        for start in range(0, len(rates), 5000):
            conn.execute(conversation_ratings.insert(), rates[start : start + 5000])
    with store.engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")


# --- the naive answers: read everything, filter in Python, the same domain code -----------------
def naive_report(store: Store, period: Any) -> Any:
    with store.reading() as conn:
        rows = conn.execute(sa.select(conversations)).all()
        ratings = dict(
            conn.execute(
                sa.select(conversation_ratings.c.conversation_number, conversation_ratings.c.rating)
            ).all()
        )
    facts = []
    for r in rows:
        m = r._mapping
        if not (period.contains(m["created_at"]) or period.contains(m["closed_at"])):
            continue
        facts.append(
            Facts(
                number=m["number"],
                created_at=m["created_at"],
                department=m["department"],
                agent=m["agent"],
                state=m["state"],
                queued_at=m["queued_at"],
                taken_at=m["taken_at"],
                closed_at=m["closed_at"],
                served=bool(m["agent"]) or m["previous_agents"] != "[]",
                tags=tuple(json.loads(m["tags"])),
                first_response_seconds=m["m_first_response_seconds"],
                response_count=m["m_response_count"],
                response_total_seconds=m["m_response_total_seconds"],
                satisfaction=(
                    None if ratings.get(m["number"]) is None else float(ratings[m["number"]])
                ),
                sla=m["sla"],
                sla_breached=m["sla_breached_at"] is not None,
            )
        )
    return build_report(facts, period, NOW, UTC)


def naive_desk(store: Store, scope: Any, hours: int) -> Any:
    since = NOW - timedelta(hours=hours)
    with store.reading() as conn:
        convs = conn.execute(sa.select(conversations)).all()
        evs = conn.execute(sa.select(events).order_by(events.c.id)).all()
    dept = {r.number: r.department for r in convs}
    counts: dict[tuple[str | None, str], int] = {}
    for r in convs:
        if r.state != "closed":
            counts[r.department, r.state] = counts.get((r.department, r.state), 0) + 1
    recent = [
        QueueEvent.from_row(
            (
                int(e.conversation_id),
                e.at,
                e.kind,
                e.from_state,
                e.to_state,
                e.data,
                dept.get(int(e.conversation_id)),
            )
        )
        for e in evs
        if e.at >= since
    ]
    waiting = sum(n for (_d, state), n in counts.items() if state == "queued")
    return counts, queue_series(recent, waiting, NOW, hours, STEP, scope)


def timed(fn: Any, repeat: int) -> tuple[float, Any]:
    """Median wall time in ms (and the last result)."""
    ms, _cpu, result = timed_cpu(fn, repeat)
    return ms, result


def timed_cpu(fn: Any, repeat: int) -> tuple[float, float, Any]:
    """Median wall and CPU (this thread's) time in ms: on a shared machine the CPU time says
    what the work costs, the wall time what a reader waited."""
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.thread_time()
        result = fn()
        walls.append((time.perf_counter() - wall) * 1000)
        cpus.append((time.thread_time() - cpu) * 1000)
    return statistics.median(walls), statistics.median(cpus), result


def run(size: int, days: int, repeat: int, workdir: Path) -> dict[str, Any]:
    path = workdir / f"report-{size}.db"
    path.unlink(missing_ok=True)
    store = Store(f"sqlite:///{path}")
    started = time.perf_counter()
    fill(store, size, days)
    filled = time.perf_counter() - started
    config = Config()
    service = ReportService(store, config, Roster.from_config(config), lambda: None, lambda: NOW)
    scope = scope_of(Viewer("maria", frozenset({MANAGER})))
    period = parse_period("30d", NOW, UTC)
    report_ms, report_cpu, report = timed_cpu(
        lambda: service.report(scope, period, UTC, now=NOW), repeat
    )
    naive_report_ms, naive_report_cpu, naive = timed_cpu(
        lambda: naive_report(store, period), repeat
    )
    assert (report.total.opened, report.total.closed) == (naive.total.opened, naive.total.closed)
    assert report.total.scores == naive.total.scores  # satisfaction through the rating join
    assert report.total.sla_breached == naive.total.sla_breached
    hours = config.reports.monitor_hours
    desk_ms, desk_cpu, desk = timed_cpu(lambda: service.desk(scope, NOW), repeat)
    naive_desk_ms, naive_desk_cpu, (_counts, series) = timed_cpu(
        lambda: naive_desk(store, scope, hours), repeat
    )
    assert desk.series.length == series.length and desk.series.arrivals == series.arrivals
    store.close()
    return {
        "size": size,
        "rows": len(report.rows),
        "fill": filled,
        "report": report_ms,
        "naive_report": naive_report_ms,
        "desk": desk_ms,
        "naive_desk": naive_desk_ms,
        "cpu": (report_cpu, naive_report_cpu, desk_cpu, naive_desk_cpu),
        "service": service,
        "report_obj": report,
        "desk_obj": desk,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            results.append(run(size, args.days, args.repeat, Path(tmp)))
            print(
                f"filled {size:,} closed conversations in {results[-1]['fill']:.1f} s", flush=True
            )

    print()
    print(f"closed convs over {args.days} days, median of {args.repeat} runs, wall ms")
    header = (
        f"{'closed':>8} {'rows 30d':>9} | {'/report 30d':>11} {'naive':>8} {'x':>6} | "
        f"{'/monitor':>9} {'naive':>8} {'x':>6}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r['size']:>8,} {r['rows']:>9,} | {r['report']:>11.1f} {r['naive_report']:>8.1f} "
            f"{r['naive_report'] / r['report']:>5.1f}x | {r['desk']:>9.1f} "
            f"{r['naive_desk']:>8.1f} {r['naive_desk'] / r['desk']:>5.1f}x"
        )
    print("the same, CPU ms of this thread (what the work costs on a busy machine)")
    for r in results:
        rc, nrc, dc, ndc = r["cpu"]
        print(
            f"{r['size']:>8,} {r['rows']:>9,} | {rc:>11.1f} {nrc:>8.1f} {nrc / rc:>5.1f}x | "
            f"{dc:>9.1f} {ndc:>8.1f} {ndc / dc:>5.1f}x"
        )

    from bot.services.reports import charts

    started = time.perf_counter()
    import matplotlib.figure  # noqa: F401

    print(
        f"\nmatplotlib import (once per process): {(time.perf_counter() - started) * 1000:.0f} ms"
    )
    last = results[-1]
    service, report, desk = last["service"], last["report_obj"], last["desk_obj"]
    for name, draw in (
        ("queue (/monitor)", lambda: charts.queue_chart(desk.series, UTC, "Waiting now")),
        ("volume (/report)", lambda: charts.volume_chart(report, "UTC", "Opened")),
        ("times (/report)", lambda: charts.times_chart(report, "First response")),
    ):
        draw()  # warm: fonts and caches
        ms, cpu, png = timed_cpu(draw, args.repeat)
        print(f"chart {name:<18} {ms:7.1f} ms wall {cpu:7.1f} ms CPU  {len(png) / 1024:5.1f} KB")
    ms, cpu, _ = timed_cpu(
        lambda: service.report_answer(report, UTC, "all", with_csv=True), args.repeat
    )
    print(
        f"/report 30d answer (text + 2 charts + CSV of {len(report.rows):,} rows): "
        f"{ms:.1f} ms wall, {cpu:.1f} ms CPU"
    )


if __name__ == "__main__":
    main()
