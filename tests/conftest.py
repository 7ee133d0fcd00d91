"""Shared fixtures. The end-to-end ones (`chat`, `make_chat`) live in `tests/chat.py`; they are
imported lazily so a broken runtime cannot stop unrelated unit tests from being collected."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def make_chat(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """`make_chat(config={...}, seed={...}, registry=None, start=True)` → a `Chat`, closed after
    the test.

    `config` is merged over the harness's base config (server, store in tmp_path, http on a
    free port); `start=False` leaves the bot stopped so the test can prepare the server first.
    """
    from chat import Chat

    made: list[Any] = []

    def factory(
        *,
        config: dict[str, Any] | None = None,
        seed: dict[str, Any] | None = None,
        start: bool = True,
        registry: Any = None,
    ) -> Any:
        home = tmp_path / f"chat{len(made)}"
        home.mkdir(exist_ok=True)
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
