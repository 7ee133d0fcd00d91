"""`/call`: post a meeting link in the conversation with *Join* / *Decline* buttons for the
contact; `/call join` and `/call decline` (what the buttons send) are noted in the room."""

from __future__ import annotations

import dataclasses

from bot.chat.types import Action, Attachment
from bot.cmd import CONVERSATION, Arg, Choice, Context, command
from bot.cmd.runner import prefixes_of
from bot.domain import may_act
from bot.domain.errors import Refused
from bot.services.calls import meeting_url
from bot.store.calls import DECLINED, JOINED, CallRepo
from commands import kit as tk

STARTED_KIND = "jitsi_call_started"  # Rocket.Chat's system type for a started call
ANSWER_KIND = "call-answer"


@command(
    "call",
    args=[Arg("answer", Choice("join", "decline"), required=False)],
    # Only in rooms: a contact's bare "call" in my DM is a message for intake, not this.
    where=CONVERSATION,
    staff=True,
    help=(
        "Start a video call with the contact: posts a meeting link with Join and Decline "
        "buttons in the conversation room.\n"
        "The buttons send /call join or /call decline; I note the contact's answer and who "
        "joined."
    ),
    example="/call",
)
def call(ctx: Context) -> None:
    if ctx.args.answer:
        _answer(ctx, JOINED if ctx.args.answer == "join" else DECLINED)
        return
    mine = ctx.services.queue.by_room(ctx.rid)
    if mine is not None and mine.contact_username == ctx.user.username:
        raise Refused(
            "Only the support team can start a call here; when they do, you get a Join button.",
            "error-not-allowed",
        )
    conv = tk.conversation(ctx, None)
    if not may_act(conv, tk.viewer(ctx), ctx.services.directory.perms, "view-l-room"):
        raise Refused("Only the agents in this conversation can start a call.", "error-not-allowed")
    if not conv.is_open or not conv.rid:
        raise Refused(f"Conversation #{conv.number} is closed.", "error-room-closed")
    calls_cfg = getattr(ctx.config, "calls", None)
    url = meeting_url(calls_cfg, number=conv.number)
    prefix = prefixes_of(ctx.config)[0]
    card = Attachment(
        title="Video call",
        title_link=url,
        text=f"@{ctx.user.username} invites @{conv.contact_username} to a video call: {url}",
        actions=(
            Action("Join", url=url),
            Action("I'm joining", msg=f"{prefix}call join"),
            Action("Decline", msg=f"{prefix}call decline"),
        ),
    )
    text = f"@{conv.contact_username}, @{ctx.user.username} started a video call: {url}"
    sent = ctx.chat.post(conv.rid, text, attachments=[card])
    CallRepo(ctx.store).start(
        conv.rid,
        url,
        provider=str(getattr(calls_cfg, "provider", "")),
        by=ctx.user.username,
        at=ctx.clock(),
        conversation_id=conv.number,
    )
    if sent is not None:
        ctx.services.messages.upsert(dataclasses.replace(sent, type=STARTED_KIND), conv.number)


def _answer(ctx: Context, answer: str) -> None:
    conv = ctx.services.queue.by_room(ctx.rid)
    if conv is None:
        raise Refused("This room has no conversation.")
    me = ctx.user.username
    is_contact = me == conv.contact_username
    if not is_contact and not may_act(
        conv, tk.viewer(ctx), ctx.services.directory.perms, "view-l-room"
    ):
        raise Refused("Only the people in this conversation can answer its call.")
    repo = CallRepo(ctx.store)
    current = repo.latest(ctx.rid)
    if current is None:
        raise Refused("There is no call in this conversation yet.")
    if answer == DECLINED and not is_contact:
        raise Refused("Only the contact can decline the call.")
    _updated, changed = repo.answer(current, me, answer, ctx.clock(), is_contact=is_contact)
    if not changed:
        return  # a second click on the same button: already noted
    what = "joined the call" if answer == JOINED else "declined the call"
    ctx.services.posting.tell_agents(conv, f"@{me} {what}.", ANSWER_KIND)
