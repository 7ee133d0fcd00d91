"""Shared fixtures. The end-to-end ones (`chat`, `make_chat`) live in `tests/chat.py`; they are
imported lazily so a broken runtime cannot stop unrelated unit tests from being collected."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from audience_guard import guard_audiences  # noqa: F401  (autouse: every test is guarded)

# --- the store under test: SQLite, and PostgreSQL where a module asks for both -----------------

BACKENDS = ("sqlite", "postgresql")


def _make_caches(config: pytest.Config) -> None:
    """The README's bare `pytest` does what .ci/run does first: `tools/test_caches.py` builds
    Rocket.Chat's REST contracts and fetches the livechat widget when they are missing and node
    and npm are there (without them it says so, and the session runs lenient, the widget test
    skipped). Run here, in pytest_configure, and only in the main process: the strict decision
    below needs the contracts, and xdist's workers start after this and find them made."""
    if hasattr(config, "workerinput"):
        return
    script = Path(__file__).resolve().parent.parent / "tools" / "test_caches.py"
    subprocess.run([sys.executable, str(script), "--optional"], check=False)


def _strict_devserver() -> None:
    """Every dev server of the session, in this process or a child, holds the bot to Rocket.Chat's
    published request validators (issue 21). Without the export (no node/npm for _make_caches) the
    suite runs lenient, except under CI, where a missing one is a failure."""
    from bot.devserver.contracts import STRICT_ENV, available, contracts_path

    if available() is not None:
        os.environ.setdefault(STRICT_ENV, "1")
    elif os.environ.get("CI"):
        pytest.exit(
            f"CI runs the dev server strict, but there are no REST contracts at "
            f"{contracts_path()}: install node and npm, or run `python tools/test_caches.py`",
            returncode=1,
        )


def pytest_configure(config: pytest.Config) -> None:
    _make_caches(config)
    _strict_devserver()
    config.addinivalue_line(
        "markers",
        "both_stores: run the module's store-backed tests on SQLite and on PostgreSQL "
        "(parametrizes the `store_backend` fixture)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "store_backend" in metafunc.fixturenames and metafunc.definition.get_closest_marker(
        "both_stores"
    ):
        metafunc.parametrize("store_backend", BACKENDS, indirect=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Any]:
    """A PostgreSQL server for the session: `OMNICAT_TEST_PG_URL`, else a throwaway cluster
    started here when `initdb` is installed, else None (the tests that need it skip; under CI
    a skip is a failure)."""
    from pg import URL_ENV, PgCluster, PgServer, find_bindir

    url = os.environ.get(URL_ENV)
    if url:
        yield PgServer(url)
        return
    bindir = find_bindir()
    if bindir is None:
        yield None
        return
    cluster = PgCluster(bindir).start()
    try:
        yield PgServer(cluster.url)
    finally:
        cluster.stop()


@pytest.fixture
def store_backend(request: pytest.FixtureRequest) -> str:
    """ "sqlite" unless the module is marked `both_stores` (then each test runs on both)."""
    return getattr(request, "param", "sqlite")


@pytest.fixture
def pg_database(request: pytest.FixtureRequest) -> Iterator[Callable[[], str]]:
    """`pg_database()` → the URL of a new empty PostgreSQL database, dropped after the test."""
    server = request.getfixturevalue("pg_server")
    if server is None:
        pytest.skip(
            "PostgreSQL tests need OMNICAT_TEST_PG_URL or an installed initdb "
            "(apt-get install postgresql)"
        )
    made: list[str] = []

    def make() -> str:
        made.append(server.fresh_database())
        return made[-1]

    yield make
    for url in made:
        server.drop(url)


@pytest.fixture
def store_url(store_backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A fresh, empty store's URL on the backend under test."""
    if store_backend == "postgresql":
        return request.getfixturevalue("pg_database")()
    return f"sqlite:///{tmp_path / 'omnicat.db'}"


@pytest.fixture
def make_chat(
    tmp_path: Path, store_backend: str, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Any]]:
    """`make_chat(config={...}, seed={...}, registry=None, start=True)` → a `Chat`, closed after
    the test.

    `config` is merged over the harness's base config (server, store in tmp_path, http on a
    free port); `start=False` leaves the bot stopped so the test can prepare the server first.
    """
    from chat import Chat

    made: list[Any] = []
    # Set up before the chats (so dropped after them): a database dropped under a running bot
    # would turn its last writes into errors.
    databases = request.getfixturevalue("pg_database") if store_backend == "postgresql" else None

    def factory(
        *,
        config: dict[str, Any] | None = None,
        seed: dict[str, Any] | None = None,
        start: bool = True,
        registry: Any = None,
    ) -> Any:
        home = tmp_path / f"chat{len(made)}"
        home.mkdir(exist_ok=True)
        if databases is not None:
            url = databases()
            config = {**(config or {}), "store": {"url": url, **(config or {}).get("store", {})}}
        chat = Chat(home, seed=seed, config=config, registry=registry)
        made.append(chat)
        if start:
            chat.start_bot()
        return chat

    yield factory
    for chat in reversed(made):
        chat.close()


@pytest.fixture
def chat(make_chat: Callable[..., Any]) -> Any:
    """The dev server (documented seed + a few test users) with the bot running on it."""
    return make_chat()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """In CI (`CI` set) a skip is a failure: every skip here means a missing install (fonts,
    poppler), and a skipped check must not pass for a green run."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"skipped in CI (a missing install?): {reason}"
