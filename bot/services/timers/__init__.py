"""Conversation timers: when they are due (`policy`, pure) and what they do (`actions`).
The scheduler that rings them is `bot.services.timers.scheduler`."""
