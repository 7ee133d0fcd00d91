from __future__ import annotations

import logging
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from fakes import FakeChat

import commands.help
from bot.chat import effect_scope
from bot.chat.errors import RocketChatError
from bot.chat.gates import collecting, hold, settle_all
from bot.cmd import (
    ANYWHERE,
    CONVERSATION,
    CONVERSATION_NUMBER,
    DEPARTMENT,
    DM,
    DURATION,
    EMAIL,
    TAGS,
    TEXT,
    USER,
    AnyOf,
    Arg,
    BadArgument,
    Choice,
    Context,
    Flag,
    Refused,
    Registry,
    UserPermissions,
    parse_invocation,
    run_command,
    tokenize,
)
from bot.domain.permissions import Permissions


def config(**departments):
    return SimpleNamespace(
        departments=departments, commands=SimpleNamespace(prefixes=("/", "!omni "))
    )


def make_registry() -> Registry:
    reg = Registry()

    @reg.command(
        "close",
        aliases=("c",),
        args=[Arg("number", CONVERSATION_NUMBER, required=False), Arg("comment", TEXT, False)],
        options={"tags": TAGS},
        flags={"pdf": None, "email": Flag(EMAIL)},
        permission="close-livechat-room",
        help="Close a conversation.",
        example='/close "solved by reset" tags=billing',
    )
    def close(ctx):
        ctx.reply(f"closed {ctx.args.as_dict()}")

    @reg.command("take", args=[Arg("number", CONVERSATION_NUMBER)], help="Take a chat.")
    def take(ctx):
        ctx.reply(f"took {ctx.args.number}")

    @reg.command(
        "status",
        where=DM,
        args=[Arg("state", Choice("available", "not-available", "on", "off"))],
        help="Set your availability.",
    )
    def status(ctx):
        ctx.reply(ctx.args.state)

    @reg.command("hold", where=CONVERSATION, permission="on-hold-livechat-room", help="Hold.")
    def hold(ctx):
        raise Refused("You can place a chat on hold only after you've replied to the contact.")

    @reg.command(
        "forward",
        args=[Arg("target", AnyOf(USER, DEPARTMENT, metavar="@agent|department"))],
        permission=("transfer-livechat-guest", "manage-livechat-units"),
    )
    def forward(ctx):
        ctx.reply(f"to {ctx.args.target}")

    @reg.command("snooze", args=[Arg("for", DURATION)], where=ANYWHERE)
    def snooze(ctx):
        ctx.reply(str(ctx.args.get("for")))

    @reg.command("boom")
    def boom(ctx):
        raise RuntimeError("secret internals")

    @reg.command("secret", hidden=True)
    def secret(ctx):
        ctx.reply("shh")

    return reg


PERMS = UserPermissions(
    Permissions(
        {
            "close-livechat-room": ("livechat-agent", "admin"),
            "on-hold-livechat-room": ("livechat-agent",),
            "transfer-livechat-guest": ("livechat-manager",),
            "manage-livechat-units": ("admin",),
        }
    )
)


class Harness:
    def __init__(self, registry: Registry | None = None, **departments) -> None:
        self.chat = FakeChat()
        self.registry = registry or make_registry()
        self.config = config(**departments)

    def run(self, username: str, text: str, *, roles=("livechat-agent",), kind: str = "dm"):
        user = self.chat.users.get(username) or self.chat.add_user(username, *roles)
        rid = "conv1" if kind == "conversation" else self.chat.dm_room(username)
        msg = self.chat.say(username, rid, text)
        ctx = Context(
            user=user,
            rid=rid,
            room_kind=kind,
            message=msg,
            chat=self.chat,
            config=self.config,
            permissions=PERMS,
        )
        outcome = run_command(self.registry, ctx, text)
        return "\n".join(ctx.replies), outcome


@pytest.fixture
def h():
    return Harness(sales={}, support={})


# --- binding and converters ------------------------------------------------------------------


def test_close_with_comment_tags_and_flags_anywhere(h):
    _, outcome = h.run("alice", '/close +pdf "solved by reset" tags=billing,refund +email')
    assert outcome.status == "ok"
    args = h.registry.get("close").bind(
        tokenize('+pdf "solved by reset" tags=billing, +email=x@y.z'),
        '+pdf "solved by reset" tags=billing, +email=x@y.z',
        SimpleNamespace(config=h.config),
    )
    assert args.as_dict() == {
        "number": None,
        "comment": "solved by reset",
        "tags": ["billing"],
        "pdf": True,
        "email": "x@y.z",
    }


def bind(h, name, rest):
    return h.registry.get(name).bind(tokenize(rest), rest, SimpleNamespace(config=h.config))


def test_optional_number_is_skipped_when_the_word_is_text(h):
    assert bind(h, "close", "solved it").as_dict()["comment"] == "solved it"
    assert bind(h, "close", "#12 solved it").as_dict()["number"] == 12
    assert bind(h, "close", "").as_dict() == {
        "number": None,
        "comment": None,
        "tags": None,
        "pdf": False,
        "email": None,
    }


def test_rest_of_line_keeps_typed_whitespace_and_quoted_groups(h):
    assert bind(h, "close", 'line one\nline  two "a  b"').comment == "line one\nline  two a  b"
    assert bind(h, "close", "a tags=x b").comment == "a b"


def test_undeclared_key_value_in_free_text_is_text_but_typos_are_caught(h):
    assert bind(h, "close", "set x=1 done").comment == "set x=1 done"
    with pytest.raises(BadArgument, match=r"Unknown option tgas=\. Did you mean tags=\?"):
        bind(h, "close", "done tgas=a")
    with pytest.raises(BadArgument, match=r"Did you mean \+pdf\?"):
        bind(h, "close", "done +pfd")
    with pytest.raises(BadArgument, match=r"Unknown option x= for /take"):
        bind(h, "take", "3 x=1")


def test_flag_values(h):
    with pytest.raises(BadArgument, match=r"\+pdf takes no value"):
        bind(h, "close", "+pdf=yes")
    with pytest.raises(BadArgument, match="not an e-mail address"):
        bind(h, "close", "+email=nope")


@pytest.mark.parametrize(
    ("word", "value"),
    [("#12", 12), ("12", 12)],
)
def test_conversation_number(word, value):
    assert CONVERSATION_NUMBER.convert(word, None) == value


@pytest.mark.parametrize("word", ["#0", "0", "-3", "#x", "١٢", "#"])
def test_conversation_number_rejects(word):
    with pytest.raises(BadArgument, match="not a conversation number"):
        CONVERSATION_NUMBER.convert(word, None)


def test_duration():
    assert DURATION.convert("30m", None) == timedelta(minutes=30)
    assert DURATION.convert("1h30m", None) == timedelta(hours=1, minutes=30)
    assert DURATION.convert("2d", None) == timedelta(days=2)
    for bad in ("30", "0m", "1x", ""):
        with pytest.raises(BadArgument):
            DURATION.convert(bad, None)


def test_username():
    assert USER.convert("@alice", None) == "alice"
    assert USER.convert("bob.smith", None) == "bob.smith"
    with pytest.raises(BadArgument, match="not a username"):
        USER.convert("@a b!", None)


def test_department_did_you_mean(h):
    ctx = SimpleNamespace(config=h.config)
    assert DEPARTMENT.convert("#Sales", ctx) == "sales"
    with pytest.raises(BadArgument, match=r"Unknown department 'sals'\. Did you mean sales\?"):
        DEPARTMENT.convert("sals", ctx)
    with pytest.raises(BadArgument, match="No departments are configured"):
        DEPARTMENT.convert("sales", SimpleNamespace(config=None))


def test_choice_is_case_insensitive_and_suggests():
    choice = Choice("available", "not-available", "on", "off")
    assert choice.convert("ON", None) == "on"
    with pytest.raises(BadArgument, match="Did you mean available"):
        choice.convert("avaliable", None)


def test_any_of_user_or_department(h):
    reply, _ = h.run("mgr", "/forward @bob", roles=("livechat-manager",))
    assert reply == "to bob"


# --- usage -------------------------------------------------------------------------------------


def test_usage_generated_from_the_declaration(h):
    assert h.registry.get("close").usage() == (
        "/close [#N] [comment] [tags=a,b] [+pdf] [+email[=address]]"
    )
    assert h.registry.get("status").usage("!omni ") == (
        "!omni status <available|not-available|on|off>"
    )
    assert h.registry.get("forward").usage() == "/forward <@agent|department>"
    assert h.registry.get("take").usage() == "/take <#N>"


# --- parsing the message text --------------------------------------------------------------------


def test_prefixes_and_bare_words_in_dm(h):
    reg = h.registry
    assert parse_invocation("/take 3", ("/",), reg).word == "take"
    assert parse_invocation("!omni take 3", ("/", "!omni "), reg).rest == " 3"
    assert parse_invocation("take 3", ("/",), reg, bare=True).word == "take"
    assert parse_invocation("C 3", ("/",), reg, bare=True).word == "c"
    # a bare unknown word in the DM is a contact's message, not a command
    assert parse_invocation("hello there", ("/",), reg, bare=True) is None
    assert parse_invocation("take 3", ("/",), reg, bare=False) is None
    for text in ("/path/to/file", "/ take", ":)", "", "   "):
        assert parse_invocation(text, ("/",), reg) is None


def test_unknown_command_did_you_mean(h):
    reply, outcome = h.run("alice", "/tkae 3")
    assert reply == "Unknown command /tkae. Did you mean /take?"
    assert outcome.status == "unknown"


def test_did_you_mean_only_offers_commands_the_user_may_run(h):
    reply, _ = h.run("carol", "/clse", roles=("user",))
    assert "/close" not in reply
    reply, _ = h.run("alice", "/clse")
    assert reply == "Unknown command /clse. Did you mean /close?"


def test_unknown_command_with_other_prefix(h):
    reply, _ = h.run("alice", "!omni tkae")
    assert reply == "Unknown command !omni tkae. Did you mean !omni take?"


# --- the central error handler --------------------------------------------------------------


def test_bad_argument_gives_reason_and_usage(h):
    reply, outcome = h.run("alice", "/take abc")
    assert reply == (
        "'abc' is not a conversation number (expected #N, e.g. #12).\nUsage: /take <#N>"
    )
    assert outcome.status == "bad_argument"


def test_missing_and_too_many(h):
    assert h.run("alice", "/take")[0] == "Missing <#N>.\nUsage: /take <#N>"
    assert h.run("alice", "/take 1 2")[0] == (
        "Too many arguments: unexpected '2'.\nUsage: /take <#N>"
    )


def test_unclosed_quote_reply(h):
    reply, _ = h.run("alice", '/close "solved by')
    assert reply.startswith('Unclosed quote " in: "solved by')
    assert reply.endswith("Usage: /close [#N] [comment] [tags=a,b] [+pdf] [+email[=address]]")


def test_refused_reason_is_verbatim_without_usage(h):
    reply, outcome = h.run("alice", "/hold", kind="conversation")
    assert reply == "You can place a chat on hold only after you've replied to the contact."
    assert outcome.status == "refused"


def test_permission_denied_and_any_of_permissions(h):
    reply, outcome = h.run("carol", "/close", roles=("user",))
    assert reply == "/close is a command for support agents."
    assert outcome.status == "denied"
    assert h.run("mgr", "/forward @x", roles=("livechat-manager",))[0] == "to x"


def test_wrong_place(h):
    reply, outcome = h.run("alice", "/hold", kind="dm")
    assert reply == "/hold works only in a conversation room."
    assert outcome.status == "wrong_place"
    assert h.run("alice", "/status on", kind="conversation")[0] == (
        "/status works only in a direct message with me."
    )


def test_crash_gives_a_ref_and_logs_the_traceback_under_it(h, caplog):
    with caplog.at_level(logging.ERROR, logger="omnicat.commands"):
        reply, outcome = h.run("alice", "/boom")
    assert outcome.status == "error"
    assert reply == f"Something went wrong (ref {outcome.ref})."
    assert "secret internals" not in reply and "Traceback" not in reply
    records = [r for r in caplog.records if outcome.ref in r.getMessage()]
    assert records and records[0].exc_info is not None
    assert "secret internals" in caplog.text


def test_reply_in_the_thread_of_the_command(h):
    user = h.chat.add_user("alice", "livechat-agent")
    msg = h.chat.say("alice", "conv1", "/take 3", tmid="t1")
    ctx = Context(user=user, rid="conv1", room_kind="conversation", message=msg, chat=h.chat)
    run_command(h.registry, ctx, msg.text)
    assert h.chat.effects[-1].data["tmid"] == "t1"


def test_duplicate_command_words_are_refused():
    reg = Registry()
    reg.command("take", aliases=("t",))(lambda ctx: None)
    with pytest.raises(ValueError, match="declared twice"):
        reg.command("tag", aliases=("t",))(lambda ctx: None)


# --- /help ----------------------------------------------------------------------------------


@pytest.fixture
def hh():
    reg = make_registry()
    reg.add_module(commands.help)
    return Harness(reg, sales={})


def test_help_lists_what_this_user_may_run_here(hh):
    reply, _ = hh.run("alice", "/help")
    lines = reply.splitlines()
    assert lines[0] == "Commands you can use here:"
    assert "/close — Close a conversation." in lines
    assert "/status — Set your availability." in lines
    assert "/help — Show the commands you can use, or how to use one of them." in lines
    assert not any(line.startswith(("/forward", "/secret")) for line in lines)
    assert "In conversation rooms: /hold" in lines
    assert lines[-1] == "Type /help <command> for details."


def test_help_for_a_plain_user_hides_permissioned_commands(hh):
    reply, _ = hh.run("carol", "help", roles=("user",))
    assert "/close" not in reply and "/hold" not in reply
    assert "/take — Take a chat." in reply


def test_help_in_a_conversation_room_shows_dm_commands_apart(hh):
    reply, _ = hh.run("alice", "/help", kind="conversation")
    assert "/hold — Hold." in reply
    assert "In a direct message with me: /status" in reply


def test_help_listing_is_remembered_per_role_set_and_registry(hh, monkeypatch):
    # the same listing for the same role set, worked out once; another role set, another room
    # kind or a command added since each get their own
    written = []
    write = commands.help._write_overview
    monkeypatch.setattr(
        commands.help, "_write_overview", lambda ctx: written.append(1) or write(ctx)
    )
    first = hh.run("alice", "/help")[0]
    assert hh.run("alice", "/help")[0] == first
    assert hh.run("dave", "/help")[0] == first  # the same roles as alice: the same listing
    assert len(written) == 1
    plain = hh.run("carol", "/help", roles=("user",))[0]
    assert plain != first and "/close" not in plain
    assert hh.run("alice", "/help", kind="conversation")[0] != first
    hh.registry.command("newcmd", help="Brand new.")(lambda ctx: None)
    assert "/newcmd — Brand new." in hh.run("alice", "/help")[0]
    assert len(written) == 4


def test_help_for_one_command(hh):
    reply, _ = hh.run("alice", "/help close")
    assert reply.splitlines() == [
        "/close [#N] [comment] [tags=a,b] [+pdf] [+email[=address]]",
        "Close a conversation.",
        "Aliases: /c",
        "Where: anywhere",
        'Example: /close "solved by reset" tags=billing',
    ]
    assert hh.run("alice", "help /c")[0].startswith("/close ")
    assert "You don't have permission" in hh.run("carol", "/help close", roles=("user",))[0]


def test_help_for_unknown_or_hidden_command(hh):
    assert hh.run("alice", "/help tkae")[0] == "Unknown command /tkae. Did you mean /take?"
    assert hh.run("alice", "/help secret")[0].startswith("Unknown command /secret.")


def test_help_uses_the_prefix_typed(hh):
    reply, _ = hh.run("alice", "!omni help close")
    assert reply.splitlines()[0].startswith("!omni close [#N]")
    assert 'Example: !omni close "solved by reset" tags=billing' in reply


def test_domain_refusals_and_role_tables_plug_in():
    from bot.domain.errors import Refused as DomainRefused

    reg = Registry()

    @reg.command("close", permission="close-livechat-room")
    def close(ctx):
        raise DomainRefused("This conversation is already closed.", "error-room-closed")

    chat = FakeChat()
    agent = chat.add_user("alice", "livechat-agent")
    guest = chat.add_user("carol", "user")
    for user, expected, status in (
        (agent, "This conversation is already closed.", "refused"),
        (guest, "/close is a command for support agents.", "denied"),
    ):
        msg = chat.say(user.username, "conv1", "/close")
        ctx = Context(
            user=user,
            rid="conv1",
            room_kind="conversation",
            message=msg,
            chat=chat,
            permissions=UserPermissions(Permissions()),
        )
        outcome = run_command(reg, ctx, msg.text)
        assert (ctx.replies, outcome.status) == ([expected], status)


def test_remembering_permissions_look_each_users_roles_up_once():
    from bot.chat.types import User

    asked: list[str] = []

    def roles_of(user: User) -> frozenset[str]:
        asked.append(user.username)
        return frozenset({"livechat-agent"} if user.username == "ann" else ())

    perms = PERMS.with_roles(roles_of).remembering()
    ann, bob = User("U1", "ann"), User("U2", "bob", roles=("admin",))
    assert perms.has(ann, "close-livechat-room") and perms.has(ann, "on-hold-livechat-room")
    assert not perms.has(ann, "manage-livechat-units")
    assert perms.has(bob, "manage-livechat-units") and not perms.has(bob, "on-hold-livechat-room")
    assert asked == ["ann", "bob"]
    # the table without extra roles has nothing to remember
    assert PERMS.remembering() is PERMS


class LaterChat(FakeChat):
    """Sends answers as the real transport does inside an event: unawaited, finished when the
    event's gates settle; the server refuses any text with "too long" in it."""

    class Flight:
        def __init__(self, chat: LaterChat, rid: str, text: str, lost: Any) -> None:
            self.chat, self.rid, self.text, self.lost = chat, rid, text, lost

        def settle(self) -> None:
            if "too long" in self.text:
                self.lost(RocketChatError("Message size exceeds Message_MaxAllowedSize"))
            else:
                FakeChat.send(self.chat, self.rid, self.text)

    def send_soon(self, rid: str, text: str, *, tmid: str | None = None, lost: Any) -> None:
        hold(LaterChat.Flight(self, rid, text, lost))


def test_an_answer_lost_after_its_command_ran_is_told_in_one_short_line(h):
    """The server's refusal comes when the event's gates settle (after the handler): the
    person who waited is told under the command's own effect scope, in one line."""
    chat = LaterChat()
    user = chat.add_user("alice", "livechat-agent")
    rid = chat.dm_room("alice")
    reg = Registry()
    reg.command("long")(lambda ctx: ctx.reply("an answer that is too long"))
    msg = chat.say("alice", rid, "/long")
    ctx = Context(user=user, rid=rid, room_kind="dm", message=msg, chat=chat)
    with effect_scope.effect_scope("msg:long:0"), collecting() as started:
        run_command(reg, ctx, msg.text)
        assert chat.sent() == []  # nothing is waited for while the command runs
    settle_all(started.close())
    assert chat.sent() == [
        "I could not send my answer: the server refused it "
        "(Message size exceeds Message_MaxAllowedSize)."
    ]
