"""Issue 17: `omnicat run` and `omnicat devserver` fail in one clear line when this machine is the
problem (a taken port, an unreachable database), instead of a traceback or retrying forever."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def omnicat(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT):
    # This tree's `bot` even from another directory: run from `tmp_path`, the interpreter would
    # import whatever checkout its venv installed, which may not read this tree's config.
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return subprocess.run(
        [sys.executable, "-m", "bot.runtime.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": path, **(env or {})},
    )


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port another process (here: this one) listens on."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        yield held.getsockname()[1]


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_run_whose_ops_port_is_taken_says_so_and_exits(busy_port: int, tmp_path: Path) -> None:
    # Nothing serves chat at port 9 either: the old loop took the bind error for the chat
    # server being down and retried forever (the timeout above would fire).
    done = omnicat(
        "run",
        "-c",
        str(ROOT / "config" / "omnicat.yaml"),
        env={
            "OMNICAT_SERVER_URL": "http://127.0.0.1:9",
            "OMNICAT_HTTP_LISTEN": f"127.0.0.1:{busy_port}",
        },
        cwd=tmp_path,
    )
    assert done.returncode == 1
    line = one_line(done.stderr)
    assert line == (
        f"omnicat: cannot listen on http.listen 127.0.0.1:{busy_port}: address already in use "
        "(another process has the port? pick another one, or leave http.listen empty)"
    )


def test_run_with_an_unreachable_postgresql_is_one_line(busy_port: int, tmp_path: Path) -> None:
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    done = omnicat(
        "run",
        "-c",
        str(ROOT / "config" / "omnicat.yaml"),
        env={
            "OMNICAT_SERVER_URL": "http://127.0.0.1:9",
            "OMNICAT_STORE_URL": f"postgresql+psycopg://omnicat@127.0.0.1:{port}/omnicat",
            "OMNICAT_DB_PASSWORD": "s3cret@x",
        },
        cwd=tmp_path,
    )
    assert done.returncode == 1
    line = one_line(done.stderr)
    url = f"postgresql+psycopg://omnicat:***@127.0.0.1:{port}/omnicat"
    assert line.startswith(f"omnicat: cannot open the store {url}: "), line
    assert "Connection refused" in line and "s3cret" not in line


def test_devserver_on_a_busy_port_is_one_line(busy_port: int) -> None:
    done = omnicat("devserver", "--port", str(busy_port))
    assert done.returncode == 1
    assert one_line(done.stderr) == (
        f"omnicat: the dev server cannot listen on 127.0.0.1:{busy_port}: address already in "
        "use (another server has the port? pick another with --port)"
    )
