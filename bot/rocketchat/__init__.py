"""Transport: DDP + REST to a Rocket.Chat server, typed models and errors."""

from bot.rocketchat.client import RocketChatClient
from bot.rocketchat.ddp import DDPClient
from bot.rocketchat.rest import RestClient

__all__ = ["DDPClient", "RestClient", "RocketChatClient"]
