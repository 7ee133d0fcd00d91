"""Moved to `bot.chat.ingest` (the conversation services need it, and they sit below the
dispatcher); kept as a name for the dispatcher's import until the composition root lands."""

from bot.chat.ingest import NOT_STORED, key_of, prestored, prestored_note

__all__ = ["NOT_STORED", "key_of", "prestored", "prestored_note"]
