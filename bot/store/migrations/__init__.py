"""Numbered migrations: `m000N_<name>.py`, each with `upgrade(conn)`, applied in order.

The runner applies each missing one in its own transaction and records it in
`schema_migrations`, so a failed migration leaves the database at the previous version.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from bot.store.schema_runtime import schema_migrations

_NAME = re.compile(r"^m(\d{4})_(\w+)$")
#: PostgreSQL advisory lock key held while migrating ("omnicat" in ASCII)
_LOCK_KEY = 0x6F6D6E69636174


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    upgrade: Callable[[sa.Connection], None]


def discover() -> list[Migration]:
    """Every `m000N_*` module of this package, ordered by number."""
    found: dict[int, Migration] = {}
    for info in pkgutil.iter_modules(__path__):
        match = _NAME.match(info.name)
        if not match:
            continue
        version = int(match.group(1))
        if version in found:
            raise RuntimeError(
                f"two migrations numbered {version}: {found[version].name}, {info.name}"
            )
        module = importlib.import_module(f"{__name__}.{info.name}")
        found[version] = Migration(version, info.name, module.upgrade)
    return [found[v] for v in sorted(found)]


def applied(engine: sa.Engine) -> set[int]:
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(schema_migrations.name):
            return set()
        return {row[0] for row in conn.execute(sa.select(schema_migrations.c.version))}


def upgrade(engine: sa.Engine, begin: Callable[[], object] | None = None) -> list[str]:
    """Apply the missing migrations in order; return the names applied.

    `begin` is the store's transaction factory (BEGIN IMMEDIATE on SQLite), so two processes
    starting at once do not both apply the same migration.
    """
    begin_tx = begin or engine.begin

    @contextmanager
    def start() -> Iterator[sa.Connection]:
        with begin_tx() as conn:  # type: ignore[attr-defined]
            if conn.dialect.name == "postgresql":
                # SQLite's BEGIN IMMEDIATE already serialises this; on PostgreSQL two instances
                # starting at once would both CREATE: one lock (held to commit) makes it one.
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
            yield conn

    with start() as conn:
        schema_migrations.create(conn, checkfirst=True)
    names = []
    for migration in discover():
        with start() as conn:
            done = {row[0] for row in conn.execute(sa.select(schema_migrations.c.version))}
            if migration.version in done:
                continue
            migration.upgrade(conn)
            conn.execute(
                schema_migrations.insert().values(
                    version=migration.version, name=migration.name, applied_at=datetime.now(UTC)
                )
            )
            names.append(migration.name)
    return names
