"""Prometheus metrics of one bot instance, on its own registry (tests run several bots)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    """The bot's metrics; `registry` is what `/metrics` exposes."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.events_received = Counter(
            "omnicat_events_received",
            "Message events received from the server.",
            registry=self.registry,
        )
        self.commands = Counter(
            "omnicat_commands",
            "Commands handled, by command and outcome (ok, user_error, denied, error).",
            ["command", "outcome"],
            registry=self.registry,
        )
        self.command_latency = Histogram(
            "omnicat_command_latency_seconds",
            "Time from receiving a command to finishing its handler.",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.reconnects = Counter(
            "omnicat_reconnects",
            "Reconnections to the server after a drop.",
            registry=self.registry,
        )
        self.queue_length = Gauge(
            "omnicat_queue_length",
            "Conversations waiting in the queue, by department ('' = public queue).",
            ["department"],
            registry=self.registry,
        )

    def observe_command(self, command: str, outcome: str, seconds: float) -> None:
        """Count one handled command and its latency (outcome: ok, user_error, denied, error)."""
        self.commands.labels(command=command, outcome=outcome).inc()
        self.command_latency.observe(seconds)
