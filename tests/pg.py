"""A throwaway PostgreSQL for the tests: found by `OMNICAT_TEST_PG_URL`, else started here.

`PgCluster.start()` runs Debian's (or any) `initdb` + `postgres` in a temporary directory on a
free loopback port, as a non-root user (PostgreSQL refuses to run as root: under root the
directory is handed to the `postgres` user and the server runs through `runuser`). Durability
is switched off (`fsync`, `synchronous_commit`): the cluster lives for one test session, and a
crashed *client* (the kill -9 tests) loses nothing with these settings, only a crashed server.

Each test gets its own database (`fresh_database()`), dropped at the end, so tests never see
each other's rows or leases. Also a script: `python tests/pg.py` starts a cluster, prints its
URL and waits (for trying the bot by hand or pointing `OMNICAT_TEST_PG_URL` at it).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

URL_ENV = "OMNICAT_TEST_PG_URL"


def find_bindir() -> Path | None:
    """Where `initdb` and `postgres` live: PATH, `pg_config --bindir`, then Debian's
    versioned /usr/lib/postgresql/<n>/bin (newest first)."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=10
            ).stdout.strip()
            if (Path(out) / "initdb").exists():
                return Path(out)
        except (OSError, subprocess.SubprocessError):
            pass
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgCluster:
    """One PostgreSQL server in a temporary directory; `url` is a SQLAlchemy URL (psycopg 3)."""

    def __init__(self, bindir: Path, *, durable: bool = False) -> None:
        self.bindir = bindir
        #: fsync and synchronous commits on (benchmarks); off by default (tests)
        self.durable = durable
        self.dir = Path(tempfile.mkdtemp(prefix="omnicat-pg-"))
        self.port = _free_port()
        self.user = "omnicat"
        self._run_as: list[str] = []
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/postgres"

    def _cmd(self, *args: str) -> list[str]:
        return [*self._run_as, *args]

    def start(self) -> PgCluster:
        if os.geteuid() == 0:
            # PostgreSQL will not run as root: hand the directory to its own user.
            owner = "postgres"
            try:
                entry = pwd.getpwnam(owner)
            except KeyError:
                raise RuntimeError("running as root and there is no 'postgres' user") from None
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
            os.chmod(self.dir, 0o700)
            self._run_as = ["runuser", "-u", owner, "--"]
        data = self.dir / "data"
        subprocess.run(
            self._cmd(
                str(self.bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                self.user,
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ),
            check=True,
            capture_output=True,
            timeout=120,
        )
        log = open(self.dir / "server.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            self._cmd(
                str(self.bindir / "postgres"),
                "-D",
                str(data),
                "-p",
                str(self.port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"unix_socket_directories={self.dir}",
                *self._durability(),
                "-c",
                "max_connections=400",
                "-c",
                "shared_buffers=64MB",
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self._wait_ready()
        return self

    def _durability(self) -> list[str]:
        if self.durable:
            return []
        return ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]

    def _wait_ready(self, timeout: float = 60.0) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited: {self.server_log()}")
            try:
                with psycopg.connect(self.dsn("postgres"), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"postgres not ready: {self.server_log()}") from None
                time.sleep(0.1)

    def server_log(self) -> str:
        path = self.dir / "server.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def dsn(self, database: str) -> str:
        return f"host=127.0.0.1 port={self.port} user={self.user} dbname={database}"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM = "smart" shutdown; SIGINT would be "fast"
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


class PgServer:
    """A reachable server (ours or `OMNICAT_TEST_PG_URL`'s) that hands out fresh databases."""

    def __init__(self, url: str) -> None:
        import sqlalchemy as sa

        parsed = sa.engine.make_url(url)
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        self.base = parsed
        self._made: list[str] = []

    def _admin(self) -> object:
        import psycopg

        params = {
            "host": self.base.host or "127.0.0.1",
            "port": self.base.port or 5432,
            "user": self.base.username,
            "password": self.base.password,
            "dbname": self.base.database or "postgres",
        }
        return psycopg.connect(**{k: v for k, v in params.items() if v}, autocommit=True)

    def fresh_database(self) -> str:
        """A new empty database; its SQLAlchemy URL (rendered with the password, if any)."""
        name = f"omnicat_t_{uuid.uuid4().hex[:12]}"
        with self._admin() as conn:  # type: ignore[attr-defined]
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        self._made.append(name)
        return self.base.set(database=name).render_as_string(hide_password=False)

    def drop(self, url: str) -> None:
        import sqlalchemy as sa

        name = sa.engine.make_url(url).database
        with self._admin() as conn:  # type: ignore[attr-defined]
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in self._made:
            self._made.remove(name)


def main() -> int:
    bindir = find_bindir()
    if bindir is None:
        print("no initdb found (apt-get install postgresql)", file=sys.stderr)
        return 1
    cluster = PgCluster(bindir).start()
    print(cluster.url, flush=True)
    try:
        while cluster.proc is not None and cluster.proc.poll() is None:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
