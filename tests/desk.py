"""The shared in-process desk: the bot built by the composition root on a test chat.

`build(...)` is `bot.runtime.compose.compose` with what the in-process tests need: a fake chat
(`fakes.FakeChat`), a live dispatcher without transport (`App.process` is called directly),
and the parts a test leaves out. Every in-process desk builds the bot here, so the tests run
the wiring the runtime runs.
"""

from __future__ import annotations

from typing import Any

from bot.runtime.compose import Composed, compose


def build(
    *,
    store: Any,
    config: Any,
    chat: Any,
    transcripts: bool = False,
    timers: bool = False,
    reports: bool = False,
    shortcuts: bool = False,
    live: bool = True,
    **options: Any,
) -> Composed:
    """The bot on `store` and `chat`; by default the conversation services only (the parts are
    opt-in, as each desk tests its own), live at once (no transport, no catch-up)."""
    return compose(
        store=store,
        config=config,
        chat=chat,
        transcripts=transcripts,
        timers=timers,
        reports=reports,
        shortcuts=shortcuts,
        live=live,
        **options,
    )
