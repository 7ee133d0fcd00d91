"""The lease row's SQL (`omnicat_lease`, migration 9; PostgreSQL only): read, take over, renew,
release and the fence. The lease's logic (local clock, heartbeat, loss) is `bot/runtime/lease.py`;
these functions run on the connection it passes, in its transaction."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from bot.store.engine import normalize_url

#: how long a takeover waits for the deposed holder's last transactions before trying again
TAKEOVER_LOCK_TIMEOUT = "2s"

_PEEK = sa.text(
    "SELECT holder, epoch, EXTRACT(EPOCH FROM expires_at - clock_timestamp()) AS remaining"
    " FROM omnicat_lease WHERE name = :name"
)
_LOCK_ROW = sa.text(
    "SELECT epoch, expires_at <= clock_timestamp() AS expired"
    " FROM omnicat_lease WHERE name = :name FOR UPDATE"
)
_DELETE = sa.text("DELETE FROM omnicat_lease WHERE name = :name")
_INSERT = sa.text(
    "INSERT INTO omnicat_lease (name, holder, epoch, acquired_at, expires_at)"
    " VALUES (:name, :holder, :epoch, clock_timestamp(),"
    " clock_timestamp() + make_interval(secs => :ttl))"
)
_RENEW = sa.text(
    "UPDATE omnicat_lease SET expires_at = clock_timestamp() + make_interval(secs => :ttl)"
    " WHERE name = :name AND holder = :holder AND epoch = :epoch"
)
_RELEASE = sa.text(
    "UPDATE omnicat_lease SET expires_at = clock_timestamp()"
    " WHERE name = :name AND holder = :holder AND epoch = :epoch"
)
_FENCE = sa.text(
    "SELECT 1 FROM omnicat_lease WHERE name = :name AND holder = :holder AND epoch = :epoch"
    " FOR KEY SHARE"
)


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds the lease, as the database says."""

    holder: str
    epoch: int
    remaining: float  # seconds until it expires (negative: expired)


def lease_engine(url: str, ttl: float) -> sa.Engine:
    """The lease's own small pool, never behind the store's write lock; no statement (or
    connect) of the lease may take longer than the lease itself, or a hung database would
    stall the heartbeat instead of letting the lease lapse."""
    return sa.create_engine(
        normalize_url(url),
        pool_pre_ping=True,
        pool_size=2,
        max_overflow=2,
        connect_args={
            "connect_timeout": max(1, int(ttl)),
            "options": f"-c statement_timeout={max(500, int(ttl * 1000))} -c timezone=UTC",
        },
    )


def current(conn: sa.Connection, name: str) -> Holder | None:
    """The row as the database has it now (None: nobody ever held it)."""
    row = conn.execute(_PEEK, {"name": name}).first()
    return Holder(row.holder, int(row.epoch), float(row.remaining)) if row else None


def take_over(conn: sa.Connection, name: str, holder: str, ttl: float) -> int | None:
    """In a transaction: take an expired (or never held) lease; the new epoch, or None when it
    was renewed meanwhile. Raises `IntegrityError` when another standby inserted it first."""
    conn.execute(sa.text(f"SET LOCAL lock_timeout = '{TAKEOVER_LOCK_TIMEOUT}'"))
    row = conn.execute(_LOCK_ROW, {"name": name}).first()
    if row is not None and not row.expired:
        return None
    epoch = (int(row.epoch) if row is not None else 0) + 1
    if row is not None:
        # a key change: waits for the old holder's transactions (their KEY SHARE)
        conn.execute(_DELETE, {"name": name})
    conn.execute(_INSERT, {"name": name, "holder": holder, "epoch": epoch, "ttl": ttl})
    return epoch


def renew(conn: sa.Connection, name: str, holder: str, epoch: int | None, ttl: float) -> bool:
    """Extend the lease by `ttl` from now; False when the row is not ours any more."""
    params = {"name": name, "holder": holder, "epoch": epoch, "ttl": ttl}
    return conn.execute(_RENEW, params).rowcount == 1


def release(conn: sa.Connection, name: str, holder: str, epoch: int) -> None:
    """Let the lease expire now."""
    conn.execute(_RELEASE, {"name": name, "holder": holder, "epoch": epoch})


def fenced_row(conn: sa.Connection, name: str, holder: str, epoch: int | None) -> bool:
    """Share-lock our row (key share) for the rest of the transaction; False when it is gone."""
    params = {"name": name, "holder": holder, "epoch": epoch}
    return conn.execute(_FENCE, params).first() is not None
