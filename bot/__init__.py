"""Omnicat: the omnichannel agent workflow for Rocket.Chat, as chat commands."""

__version__ = "0.1.0"
