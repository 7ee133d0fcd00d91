"""The bot's long-lived heap, kept out of the cyclic garbage collector's reach.

A started bot holds some 140,000 objects that live as long as the process: the modules it
imported (SQLAlchemy, APScheduler, fpdf2, the plotting library), its configuration, its command
registry and compiled statements. In the collector's oldest generation every full collection
walks all of them: 50–80 ms with the whole interpreter stopped, a pause that reached the
answers as a p99 of 100 ms and more at 500 commands/s (`bench/latency.py --sweep`). Moved
to the permanent generation once the bot has started, they are no longer walked; what the bot
makes afterwards (caches, messages in flight) is collected as before.

Only for a process that is the bot (`omnicat run`): `gc.freeze()` is process-wide, and a
frozen object that is part of a reference cycle is never freed, so a test or an embedding
program that starts many bots must not call it.
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)


def freeze_long_lived() -> int:
    """Collect what is garbage now, then move every live object to the permanent generation;
    the number of objects frozen so far."""
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.debug("%d long-lived objects moved out of the collector's reach", frozen)
    return frozen
