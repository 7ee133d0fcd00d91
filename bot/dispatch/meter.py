"""The dispatcher's metrics, duck-typed: `bot.runtime.metrics.Metrics`, or nothing."""

from __future__ import annotations

import logging
import time
from typing import Any

log = logging.getLogger("omnicat.app")


class Meter:
    def __init__(self, metrics: Any) -> None:
        self.metrics = metrics

    def inc(self, name: str) -> None:
        counter = getattr(self.metrics, name, None)
        if counter is not None:
            try:
                counter.inc()
            except Exception:
                log.debug("metric %s failed", name, exc_info=True)

    def command(self, name: str, outcome: str, started: float | None) -> None:
        if self.metrics is None:
            return
        try:
            self.metrics.commands.labels(command=name, outcome=outcome).inc()
            if started is not None:
                self.metrics.command_latency.observe(time.perf_counter() - started)
        except Exception:
            log.debug("command metrics failed", exc_info=True)
