"""The demo's two scripted support sessions: a DM contact (take, hold, resume, forward, close with
a PDF), and a website visitor through livechat (assigned to the bot, taken, forwarded, closed)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.runtime.demo_stage import BOT, PDF_WAIT, WAIT, DemoFailed, Session, wait_for


def play(s: Session, note: Callable[[str], None], pdf_dir: Path | None = None) -> Path | None:
    """The script. Returns where the PDF transcript was saved, if the bot sent one."""
    note("Alice, an agent, asks what she can do, then how one command works.")
    s.dm("alice", "/help")
    s.dm("alice", "/help take")

    note("Bob (support) and Alice (sales) say they are ready for chats.")
    s.dm("bob", "/status available")
    s.dm("alice", "/status available")

    note("Carol, a contact, writes to the bot. A conversation opens and bob is notified.")
    s.dm("carol", "Hi! My router blinks red since this morning.")
    services = s.bot.services
    conv = wait_for(lambda: services.repo.open_for_contact("carol"), WAIT)
    if conv is None:
        raise DemoFailed("the bot opened no conversation for carol")
    n = conv.number
    if not wait_for(lambda: _bot_said(s, s.dm_rid("bob"), f"New chat #{n}"), WAIT):
        raise DemoFailed("bob was not notified of the new chat")
    s.printer.flush()

    note(
        "Bob looks at the queue and takes the chat; he joins its private room, and a thread "
        "for it opens in his DM with the bot: his console for this chat."
    )
    s.dm("bob", "/queue")
    s.dm("bob", f"/take {n}")
    room = wait_for(lambda: services.repo.get(n).rid, WAIT)
    s.bot.app.wait_idle(WAIT)
    s.printer.flush()

    note(
        "They talk in the conversation room (carol reads only that). Bob puts the chat on hold "
        "from his console thread: no #N needed there, and carol sees only a short notice."
    )
    s.say("bob", room, "Hi Carol, I'm Bob. Could you unplug it for 30 seconds?", replies=0)
    s.say("carol", room, "Done, it's still red.", replies=0)
    s.say("bob", room, "Thanks, let me check the line on our side.", replies=0)
    s.console("bob", n, "/hold", replies=2)

    note("Carol writes again: the chat resumes by itself; bob is told in his thread.")
    s.say("carol", room, "It just turned green!", replies=0)
    wait_for(lambda: services.repo.get(n).state.value == "serving", WAIT)
    s.bot.app.wait_idle(WAIT)
    s.printer.flush()

    note(
        "Carol would like a faster router: bob forwards the chat to sales, where alice takes over."
    )
    s.say("bob", room, "Great! For a faster model I'll pass you to sales.", replies=0)
    s.console("bob", n, "/forward sales wants a faster router", replies=2)

    note(
        "Alice answers, then closes the chat from her console thread with a comment and a tag "
        "and asks for a PDF transcript (its last page lists the case's events)."
    )
    s.say("alice", room, "Hi Carol, Alice from sales: I'll email you an offer.", replies=0)
    s.console("alice", n, '/close "offer sent for a faster router" tags=hardware +pdf', replies=2)
    return _save_pdf(s, n, pdf_dir, "alice")


class Visitor:
    """A website visitor on Rocket.Chat's visitor REST API (no account, a token), as the
    livechat widget talks."""

    def __init__(self, server: Any, token: str, name: str, department: str) -> None:
        import requests

        self.base = server.url.rstrip("/") + "/api/v1/"
        self.token = token
        self.http = requests.Session()
        body = {"visitor": {"token": token, "name": name, "department": department}}
        self._ok(self.http.post(self.base + "livechat/visitor", json=body, timeout=WAIT))
        room = self._ok(
            self.http.get(self.base + "livechat/room", params={"token": token}, timeout=WAIT)
        )
        self.rid = str(room["room"]["_id"])

    @staticmethod
    def _ok(response: Any) -> dict[str, Any]:
        body: dict[str, Any] = response.json()
        if response.status_code != 200:
            raise DemoFailed(f"the visitor API refused: {body.get('error')}")
        return body

    def say(self, text: str) -> None:
        body = {"token": self.token, "rid": self.rid, "msg": text}
        self._ok(self.http.post(self.base + "livechat/message", json=body, timeout=WAIT))

    def close(self) -> None:
        self.http.close()


def play_livechat(s: Session, note: Callable[[str], None], pdf_dir: Path | None) -> Path | None:
    """The livechat case: a visitor of the website writes, bob takes, forwards to alice, who
    closes with a PDF."""
    services = s.bot.services
    note(
        "Now Vera visits the website and writes in the livechat widget: Rocket.Chat assigns the "
        "room to the bot, which queues it for support like any other chat."
    )
    # As on a real server with the agents' web clients open: Rocket.Chat transfers a livechat
    # room only to a present agent. (The seed grants the bot `view-livechat-rooms`, which it
    # needs to get back into a room it forwarded to a human.)
    for agent in ("bob", "alice"):
        s.server.set_presence(agent, "online")
    vera = Visitor(s.server, "demo-vera", "Vera Visitor", "dep-support")
    try:
        vera.say("Hello, does the X200 router support Wi-Fi 6?")
        conv = wait_for(lambda: services.queue.by_room(vera.rid), WAIT)
        if conv is None:
            raise DemoFailed("the bot opened no conversation for the livechat room")
        n = conv.number
        if not wait_for(lambda: _bot_said(s, s.dm_rid("bob"), f"New chat #{n}"), WAIT):
            raise DemoFailed("bob was not notified of the livechat chat")
        s.bot.app.wait_idle(WAIT)
        s.printer.flush()

        note(
            "Bob takes it: Rocket.Chat makes him the serving agent (the widget names him), a "
            "console thread opens in his DM, and he answers the visitor in the livechat room."
        )
        s.dm("bob", f"/take {n}")
        s.say("bob", vera.rid, "Hi Vera, yes it does. Anything else?", replies=0)
        vera.say("Great, I'd like a quote for 20 of them.")
        s.bot.app.wait_idle(WAIT)
        s.printer.flush()

        note("A quote is sales' job: bob forwards the chat to alice, which moves him out.")
        s.dm("bob", f"/forward #{n} @alice quote for 20 X200")
        s.say("alice", vera.rid, "Hi Vera, Alice from sales: quote on its way.", replies=0)

        note("Alice closes it with a comment and a tag (the widget ends the chat) and a PDF.")
        s.dm("alice", f'/close #{n} "quote sent for 20 X200" tags=hardware +pdf')
        if not wait_for(lambda: services.repo.get(n).state.value == "closed", WAIT):
            raise DemoFailed("the livechat chat did not close")
        return _save_pdf(s, n, pdf_dir, "alice")
    finally:
        vera.close()


def _bot_said(s: Session, rid: str, start: str) -> bool:
    return any(
        (m.get("u") or {}).get("username") == BOT and str(m.get("msg", "")).startswith(start)
        for m in s.server.messages(rid)
    )


def _save_pdf(s: Session, number: int, folder: Path | None, agent: str) -> Path | None:
    """Wait for the bot's PDF in the closing agent's DM and save it where the reader can
    open it."""
    rid = s.dm_rid(agent)

    def pdf() -> dict[str, Any] | None:
        for m in reversed(s.server.messages(rid)):
            f = m.get("file") or {}
            if str(f.get("name", "")).endswith(f"-{number}.pdf"):  # this chat's, not an older
                return m
        return None

    message = wait_for(pdf, PDF_WAIT)
    s.bot.app.wait_idle(WAIT)
    s.printer.flush()
    if message is None:
        return None
    url = next(
        (a.get("title_link") for a in message.get("attachments") or [] if a.get("title_link")),
        None,
    )
    if not url:
        return None
    data = s.person(agent).download(url)
    folder = folder or Path(tempfile.mkdtemp(prefix="omnicat-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / message["file"]["name"]
    path.write_bytes(data)
    return path


def pdf_folder(pdf: Path | None) -> Path | None:
    return pdf.parent if pdf is not None else None
