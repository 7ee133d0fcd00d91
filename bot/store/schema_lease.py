"""The high-availability lease (issue 11): one row per lease name, `bot/runtime/lease.py` owns it.

`epoch` grows by one at every takeover and is the fencing token: a store transaction of the
active instance checks that the row still carries its epoch (`Lease.fence`). A takeover
deletes the old row and inserts the next one (a key change), so it waits for the old holder's
transactions still in flight, while heartbeats only update `expires_at` and never wait for them.
"""

from __future__ import annotations

import sqlalchemy as sa

from bot.store.schema import UTCDateTime, metadata

lease = sa.Table(
    "omnicat_lease",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("holder", sa.String(200), nullable=False),
    sa.Column("epoch", sa.BigInteger, nullable=False),
    sa.Column("acquired_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
)
