"""Persistence: SQLAlchemy Core schema, numbered migrations and the `Store`."""

from bot.store.store import Cursor, Store, create_engine

__all__ = ["Cursor", "Store", "create_engine"]
