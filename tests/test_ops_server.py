"""The ops endpoint: /healthz and /metrics over a real socket."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from bot.runtime.metrics import Metrics
from bot.runtime.ops import OpsServer


def get(server: OpsServer, path: str) -> tuple[int, str, str]:
    host, port = server.address
    try:
        with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=10) as resp:
            return resp.status, resp.headers["Content-Type"], resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


def test_healthz_follows_the_health_callable():
    state = {"ok": False, "reason": "connecting"}
    metrics = Metrics()
    with OpsServer("127.0.0.1:0", lambda: (state["ok"], state["reason"]), metrics.registry) as ops:
        status, ctype, body = get(ops, "/healthz")
        assert status == 503 and ctype == "application/json"
        assert json.loads(body) == {"ok": False, "reason": "connecting"}
        state.update(ok=True, reason="connected as @omnicat")
        status, _, body = get(ops, "/healthz")
        assert status == 200 and json.loads(body)["reason"] == "connected as @omnicat"
        assert get(ops, "/nope")[0] == 404


def test_broken_health_check_is_unhealthy_not_a_crash():
    def broken() -> tuple[bool, str]:
        raise RuntimeError("oops")

    with OpsServer(("127.0.0.1", 0), broken, Metrics().registry) as ops:
        status, _, body = get(ops, "/healthz")
        assert status == 503 and "RuntimeError" in json.loads(body)["reason"]


def test_metrics_exposition_and_separate_registries():
    a, b = Metrics(), Metrics()  # two bots in one process must not collide
    a.events_received.inc(3)
    a.commands.labels(command="take", outcome="ok").inc()
    a.command_latency.observe(0.2)
    a.reconnects.inc()
    a.queue_length.labels(department="sales").set(4)
    with (
        OpsServer("127.0.0.1:0", lambda: (True, "ok"), a.registry) as ops_a,
        OpsServer("127.0.0.1:0", lambda: (True, "ok"), b.registry) as ops_b,
    ):
        status, ctype, text = get(ops_a, "/metrics")
        assert status == 200 and ctype.startswith("text/plain")
        assert "omnicat_events_received_total 3.0" in text
        assert 'omnicat_commands_total{command="take",outcome="ok"} 1.0' in text
        assert "omnicat_command_latency_seconds_bucket" in text
        assert "omnicat_reconnects_total 1.0" in text
        assert 'omnicat_queue_length{department="sales"} 4.0' in text
        _, _, other = get(ops_b, "/metrics")
        assert "omnicat_events_received_total 0.0" in other


def test_stop_releases_the_port():
    ops = OpsServer("127.0.0.1:0", lambda: (True, "ok"), Metrics().registry).start()
    host, port = ops.address
    ops.stop()
    again = OpsServer(f"{host}:{port}", lambda: (True, "ok"), Metrics().registry).start()
    assert get(again, "/healthz")[0] == 200
    again.stop()


def test_observe_command():
    m = Metrics()
    m.observe_command("take", "denied", 0.05)
    assert (
        m.registry.get_sample_value(
            "omnicat_commands_total", {"command": "take", "outcome": "denied"}
        )
        == 1.0
    )
    assert m.registry.get_sample_value("omnicat_command_latency_seconds_count") == 1.0
