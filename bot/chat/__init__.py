"""The chat port the services speak through, the chat-level types and the errors it raises.
No wire JSON here: `bot.rocketchat` maps the server's frames to these types."""
