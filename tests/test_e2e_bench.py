"""bench/latency.py still runs (two agents, one second per phase); the numbers come from running
it by hand (bench/README.md)."""

from __future__ import annotations

import subprocess
import sys

from chat import ROOT


def test_latency_bench_smoke() -> None:
    args = [sys.executable, str(ROOT / "bench" / "latency.py"), "--agents", "2"]
    args += ["--rate", "4", "--duration", "1", "--warmup", "0.2"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[2].split()[:2] == ["omnicat", "/help"]
    assert lines[3].split()[:2] == ["echo", "bot"]
    assert lines[4].startswith("ratio")
