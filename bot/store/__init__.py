"""Persistence: SQLAlchemy Core schema, numbered migrations and the `Store`."""

from bot.store.engine import create_engine
from bot.store.store import Cursor, Store

__all__ = ["Cursor", "Store", "create_engine"]
