"""`omnicat run` as a child process, to be killed with SIGKILL and started again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[2]


class BotProcess:
    """`python -m bot.runtime.cli run -c <config>`; each start logs to its own file in `log_dir`."""

    def __init__(self, config_path: Path, health_url: str, log_dir: Path) -> None:
        self.config_path = config_path
        self.health_url = health_url
        self.log_dir = log_dir
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self._log: IO[bytes] | None = None

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.starts += 1
        self._log = open(self.log_dir / f"run{self.starts}.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot.runtime.cli", "run", "-c", str(self.config_path)],
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.health_url, timeout=2) as response:
                return response.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def wait_healthy(self, timeout: float = 60.0) -> float:
        """Seconds until `/healthz` said 200 (connected and caught up)."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(
                    f"omnicat run exited with {self.proc.returncode}: {self.log()}"
                )
            if self.healthy():
                return time.monotonic() - started
            time.sleep(0.1)
        raise AssertionError(f"omnicat run not healthy after {timeout:.0f} s: {self.log()}")

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self._close_log()

    def freeze(self) -> None:
        """SIGSTOP: the process keeps its sockets and sessions but does nothing (a VM pause,
        a stuck host) until `thaw()`."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)

    def health(self) -> dict[str, object] | None:
        """`/healthz`'s JSON plus its `status`, or None when it does not answer."""
        try:
            with urllib.request.urlopen(self.health_url, timeout=2) as response:
                return {**json.loads(response.read()), "status": response.status}
        except urllib.error.HTTPError as exc:
            try:
                return {**json.loads(exc.read()), "status": exc.code}
            except ValueError:
                return {"status": exc.code}
        except (OSError, ValueError):
            return None

    def role(self) -> str | None:
        """ "active" only when serving (200); else the role `/healthz` names, or None."""
        found = self.health()
        if found is None:
            return None
        role = str(found.get("role"))
        return role if role != "active" or found["status"] == 200 else "starting"

    def wait_role(self, role: str, timeout: float = 60.0) -> float:
        """Seconds until `/healthz` says `role` (active = serving)."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(
                    f"omnicat run exited with {self.proc.returncode}: {self.log()}"
                )
            if self.role() == role:
                return time.monotonic() - started
            time.sleep(0.05)
        raise AssertionError(f"omnicat run not {role} after {timeout:.0f} s: {self.log()}")

    def terminate(self, timeout: float = 30.0) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        os.kill(self.proc.pid, signal.SIGCONT)  # a frozen process would never see the TERM
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(10)
        self._close_log()
        return code

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def log(self, run: int | None = None) -> str:
        path = self.log_dir / f"run{run or self.starts}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return text[-3000:]

    def all_logs(self) -> str:
        return "".join(
            (self.log_dir / f"run{i}.log").read_text(errors="replace")
            for i in range(1, self.starts + 1)
            if (self.log_dir / f"run{i}.log").exists()
        )
