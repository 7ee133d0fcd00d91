"""The real Rocket.Chat livechat widget, unchanged, in headless Chromium, against the dev server
and the bot: a visitor registers and writes, an agent takes and replies, the socket drops and
comes back, the visitor answers, the agent closes with the transcript prompt on.

The widget is the `build/` folder of the npm package `@rocket.chat/livechat` (README, "The
livechat widget"; `.ci/run` fetches it into `.cache/livechat-widget/`, or set
`OMNICAT_LIVECHAT_WIDGET` to another build). The browser is Debian's `chromium` driven by
Playwright's Python package (`executable_path`: nothing downloads a browser). Screenshots of
every step go to `tests/artifacts/widget/` (gitignored).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chat import Chat, wait_until
from test_e2e_livechat import CONFIG, available, conversation_of, livechat_seed

from bot.devserver import DevServer

ROOT = Path(__file__).resolve().parent.parent
WIDGET = Path(
    os.environ.get("OMNICAT_LIVECHAT_WIDGET") or ROOT / ".cache/livechat-widget/package/build"
)
CHROMIUM = os.environ.get("OMNICAT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "tests/artifacts/widget"
#: how long the page may take to show what the server sent (ms, Playwright's unit)
SHOWN = 10_000

playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")

pytestmark = [
    pytest.mark.skipif(
        not (WIDGET / "index.html").is_file(),
        reason=f"no livechat widget build at {WIDGET} (npm pack @rocket.chat/livechat)",
    ),
    pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason="Debian's chromium not installed"),
]


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Chat]:
    server = DevServer(livechat_seed(), widget_dir=WIDGET).start()
    # RC's widget asks for a transcript after the chat when the admin switched transcripts on.
    server.set_setting("Livechat_enable_transcript", True)
    chat = Chat(tmp_path, config=CONFIG, server=server)
    try:
        chat.start_bot()
        wait_until(lambda: server.livechat_status("omnicat") == "available", 10, "bot available")
        yield chat
    finally:
        chat.close()
        server.stop()


@pytest.fixture
def page(desk: Chat) -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield browser.new_page(viewport={"width": 420, "height": 720})
        finally:
            browser.close()


class Steps:
    """Screenshots numbered by step, kept for whoever reads a failure."""

    def __init__(self, page: Any) -> None:
        self.page, self.n = page, 0
        shutil.rmtree(ARTIFACTS, ignore_errors=True)
        ARTIFACTS.mkdir(parents=True)

    def shot(self, label: str) -> None:
        self.n += 1
        self.page.screenshot(path=str(ARTIFACTS / f"{self.n:02d}-{label}.png"))


def test_the_real_widget_chats_through_a_dropped_socket_to_the_transcript(
    desk: Chat, page: Any
) -> None:
    expect = playwright_api.expect
    server, steps = desk.server, Steps(page)
    bob = desk.user("bob")
    available(bob)

    page.goto(f"{server.url}/livechat")
    steps.shot("loaded")
    # minimized, the widget is its launcher button; opened, the registration form
    page.locator("body").click(position={"x": 395, "y": 695})
    expect(page.locator("body")).to_contain_text(
        "Please, tell us some information to start the chat", timeout=SHOWN
    )
    steps.shot("registration-form")
    page.fill("input[name=name]", "Vera Visitor")
    page.fill("input[name=email]", "vera@example.test")
    page.select_option("select[name=department]", label="Support")
    page.get_by_role("button", name="Start chat").click()
    composer = page.locator("[contenteditable=true]").first
    expect(composer).to_be_visible(timeout=SHOWN)

    composer.click()
    composer.type("My router blinks red")
    page.keyboard.press("Enter")
    token = wait_until(
        lambda: next(
            (v.token for v in server.livechat.visitors.values() if v.email == "vera@example.test"),
            None,
        ),
        10,
        "the registered visitor",
    )
    rid = wait_until(lambda: (server.visitor_room(token) or {}).get("_id"), 10, "the room")
    # RC's isWidget(): the widget's cookies, not the caller, make the room's source
    assert server.room(rid)["source"]["type"] == "widget"
    conv = conversation_of(desk, rid)
    body = page.locator("body")
    expect(body).to_contain_text("My router blinks red", timeout=SHOWN)
    expect(body).to_contain_text(re.compile(r"number 1 in the queue"), timeout=SHOWN)
    steps.shot("written-and-queued")

    assert f"#{conv.number}" in bob.dm_bot(f"/take {conv.number}")
    bob.say(rid, "Hello, I am Bob. Please restart it.")
    expect(body).to_contain_text("Hello, I am Bob. Please restart it.", timeout=SHOWN)
    steps.shot("agent-replied")

    # The socket drops (every socket: the bot's too); the widget reconnects, sets its visitor
    # connection up again and re-subscribes, so the agent's next line arrives live.
    assert server.drop_all_sockets() >= 2
    wait_until(lambda: server.visitor_listening(rid), 15, "the widget back on its room")
    bob.say(rid, "Is it green now?")
    expect(body).to_contain_text("Is it green now?", timeout=SHOWN)
    steps.shot("after-the-drop")

    composer = page.locator("[contenteditable=true]").first
    composer.click()
    composer.type("Yes, green now, thanks")
    page.keyboard.press("Enter")
    wait_until(
        lambda: any(m.get("msg") == "Yes, green now, thanks" for m in desk.messages(rid)),
        10,
        "the visitor's answer in the room",
    )
    expect(body).to_contain_text("Yes, green now, thanks", timeout=SHOWN)
    steps.shot("visitor-answered")

    assert "closed" in bob.dm_bot(f'/close #{conv.number} "fixed by a restart"')
    expect(body).to_contain_text("Would you like a copy of this chat emailed?", timeout=SHOWN)
    steps.shot("closed-transcript-prompt")
    page.get_by_role("button", name="Yes").click()
    expect(body).to_contain_text("Transcript sent", timeout=SHOWN)
    expect(body).to_contain_text("Chat Finished", timeout=SHOWN)
    steps.shot("transcript-sent")
    assert server.livechat.outbox == [
        {"kind": "transcript", "rid": rid, "email": "vera@example.test", "token": token}
    ]
    assert not server.room(rid).get("open")
