"""Prometheus metrics of one bot instance, on its own registry (tests run several bots)."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

#: the `command` label of everything typed that is not a registered command
UNKNOWN_COMMAND = "unknown"
#: outcomes that mean "the word was no command": their word is never a label
_NOT_A_COMMAND = frozenset({"unknown", "not_a_command"})
#: distinct `command` label values at most, even before the registry is known (a backstop:
#: with `know_commands` the registry's names are the only values)
MAX_COMMAND_LABELS = 256


class CommandCounter:
    """`omnicat_commands_total` whose `command` label never takes free user input (issue 20).

    A word people type becomes a label only when it names a registered command
    (`know_commands`); any other word, and every `unknown` outcome, counts under
    `command="unknown"`. Series: (registered commands + 1) x outcomes, whatever is typed."""

    def __init__(self, counter: Counter) -> None:
        self.counter = counter
        self._known: frozenset[str] | None = None
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        #: (label, outcome) -> the counter's child: `labels()` checks and locks at every call
        self._children: dict[tuple[str, str], Any] = {}

    def know_commands(self, names: Iterable[str]) -> None:
        """The registered commands' names: the only values the label may take."""
        self._known = frozenset(names)

    def label(self, command: str | None, outcome: str) -> str:
        if not command or outcome in _NOT_A_COMMAND:
            return UNKNOWN_COMMAND
        known = self._known
        if known is not None:
            return command if command in known else UNKNOWN_COMMAND
        with self._lock:
            if command in self._seen:
                return command
            if len(self._seen) >= MAX_COMMAND_LABELS:
                return UNKNOWN_COMMAND
            self._seen.add(command)
            return command

    def labels(self, *, command: str | None, outcome: str) -> Any:
        key = (self.label(command, outcome), outcome)
        child = self._children.get(key)
        if child is None:
            # bounded as the labels are: (known commands + 1) x outcomes
            child = self._children[key] = self.counter.labels(command=key[0], outcome=outcome)
        return child

    def __getattr__(self, name: str) -> Any:  # collect(), describe() …: the counter's
        return getattr(self.counter, name)


class Metrics:
    """The bot's metrics; `registry` is what `/metrics` exposes."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.events_received = Counter(
            "omnicat_events_received",
            "Message events received from the server.",
            registry=self.registry,
        )
        self.commands = CommandCounter(
            Counter(
                "omnicat_commands",
                "Commands handled, by command and outcome (ok, user_error, denied, error); "
                'anything typed that is no registered command counts as command="unknown".',
                ["command", "outcome"],
                registry=self.registry,
            )
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
