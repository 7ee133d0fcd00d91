"""The runtime: the bot's assembly and run loop (`root`), HA and the lease, health and metrics,
logging, the CLI, the demo and check-server."""
