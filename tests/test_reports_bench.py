"""bench/report.py still runs (a small store, one run each); the numbers come from running it by
hand (bench/README.md). It checks itself that the indexed and the naive answers agree."""

from __future__ import annotations

import subprocess
import sys

from chat import ROOT


def test_report_bench_smoke() -> None:
    args = [sys.executable, str(ROOT / "bench" / "report.py"), "--sizes", "300", "--repeat", "1"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = [ln for ln in done.stdout.splitlines() if ln.strip().startswith("300 ")]
    assert len(rows) == 2, done.stdout  # wall and CPU
    charts = [ln for ln in done.stdout.splitlines() if ln.startswith("chart ")]
    assert len(charts) == 3 and all("KB" in ln for ln in charts), done.stdout
