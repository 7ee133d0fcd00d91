"""Persistence: SQLAlchemy Core schema, numbered migrations and the `Store`."""

from bot.store.store import Cursor, Event, Store, create_engine

__all__ = ["Cursor", "Event", "Store", "create_engine"]
