"""The use cases, by purpose: conversations, rooms (room strategies), intake, reconcile, notify,
canned, contacts, calls, search, transcripts, timers."""
