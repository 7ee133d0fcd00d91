"""Transport: DDP + REST to a Rocket.Chat server; implements `bot.chat.port.ChatPort`, maps the
wire JSON to `bot.chat.types` (`wire.py`) and raises `bot.chat.errors`."""

from bot.rocketchat.client import RocketChatClient
from bot.rocketchat.ddp import DDPClient
from bot.rocketchat.rest import RestClient

__all__ = ["DDPClient", "RestClient", "RocketChatClient"]
