"""bench/search.py still runs (tiny size, no baselines); the numbers come from running it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_smoke(tmp_path: Path) -> None:
    db = tmp_path / "bench.db"
    args = [sys.executable, str(ROOT / "bench" / "search.py"), "--messages", "3000"]
    args += ["--rooms", "30", "--db", str(db), "--repeat", "1", "--no-baseline"]
    first = subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert first.returncode == 0, first.stderr
    assert "built" in first.stdout and "(a+)+$" in first.stdout
    again = subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert again.returncode == 0, again.stderr
    assert "reusing" in again.stdout
