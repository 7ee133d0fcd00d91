"""Migration 20: the effect journal (issue 20), for uploads and e-mails sent exactly once.

Numbered after its issue: other branches add migrations in parallel and the runner applies
every missing number in order, so a gap costs nothing.
"""

from __future__ import annotations

import sqlalchemy

from bot.store.schema_effects import EFFECT_INDEXES, effect_journal

NAME = "effect_journal"


def upgrade(conn: sqlalchemy.Connection) -> None:
    effect_journal.create(conn, checkfirst=True)
    for index in EFFECT_INDEXES:
        index.create(conn, checkfirst=True)
