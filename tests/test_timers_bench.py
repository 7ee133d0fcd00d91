"""bench/ingest.py and bench/routing.py still run (tiny sizes); the numbers come from running
them by hand (see bench/README.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_ingest_bench_smoke() -> None:
    out = run("bench/ingest.py", "--messages", "300", "--conversations", "20", "--agents", "4")
    for row in ("1 txn/message", "app.process", "app (8 workers)", "batched x500"):
        assert row in out


def test_routing_bench_smoke() -> None:
    out = run("bench/routing.py", "--agents", "20,50", "--chats", "500", "--decisions", "200")
    assert "load_balancing" in out and "scan" in out
