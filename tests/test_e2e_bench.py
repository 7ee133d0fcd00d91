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


def test_side_by_side_bench_smoke() -> None:
    # this tree against itself: both bots answer, the table has a row per tree and the echo
    args = [sys.executable, str(ROOT / "bench" / "latency_ab.py"), str(ROOT), "--agents", "2"]
    args += ["--rates", "20", "--reps", "1", "--duration", "0.5"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = [line.split() for line in done.stdout.splitlines() if line.lstrip().startswith("20 |")]
    assert [row[2] for row in rows] == ["base", "this", "echo"]
    assert all(float(row[3]) > 0 for row in rows)  # CPU was spent and counted for each
