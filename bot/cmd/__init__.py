"""The command framework: declarations, tokenizer, converters, context and the error handler.

A command family is one module in `commands/` (loaded automatically by `commands.load_commands`):

    from bot.cmd import CONVERSATION_NUMBER, EMAIL, TAGS, TEXT, Arg, Flag, Refused, command

    @command(
        "close",
        aliases=("c",),
        args=[Arg("number", CONVERSATION_NUMBER, required=False),
              Arg("comment", TEXT, required=False)],
        options={"tags": TAGS},                        # tags=a,b  -> ["a", "b"]
        flags={"pdf": None, "email": Flag(EMAIL)},     # +pdf -> True; +email / +email=x@y.z
        permission=("close-livechat-room", "close-others-livechat-room"),  # any of
        help="Close a conversation with a comment and tags.",
        example='/close "solved by reset" tags=billing +pdf',
    )
    def close(ctx):
        ...                      # ctx.args.number, ctx.args.comment, ctx.args.tags, ctx.args.pdf
        raise Refused("This conversation is already closed.")   # shown verbatim, one line

Usage line generated: `/close [#N] [comment] [tags=a,b] [+pdf] [+email[=address]]`.
Raise `BadArgument` for input the handler itself rejects (the usage line follows), `Refused` (the
domain's one, `bot.domain.errors.Refused`, re-exported here) for a refusal, `PermissionDenied`
for a check inside the handler. Any other exception is a bug: the user gets a reference, the log
the traceback.
"""

from bot.cmd.context import Context, UserPermissions, utc_now
from bot.cmd.converters import (
    CONVERSATION as CONVERSATION_NUMBER,
)
from bot.cmd.converters import (
    DEPARTMENT,
    DURATION,
    EMAIL,
    TAGS,
    TEXT,
    USER,
    WORD,
    AnyOf,
    Choice,
    ConversationNumber,
    Converter,
    Department,
    Duration,
    Email,
    Func,
    Integer,
    ListOf,
    Text,
    Username,
    Word,
    did_you_mean,
)
from bot.cmd.errors import (
    BadArgument,
    MissingArgument,
    PermissionDenied,
    TooManyArguments,
    UnknownCommand,
    UserError,
    WrongPlace,
)
from bot.cmd.registry import (
    ANYWHERE,
    CONVERSATION,
    DM,
    Arg,
    Args,
    Command,
    Flag,
    Option,
    Registry,
    command,
    make_command,
)
from bot.cmd.runner import Invocation, Outcome, parse_invocation, prefixes_of, run_command
from bot.cmd.tokenizer import Token, tokenize
from bot.domain.errors import Refused

__all__ = [
    "ANYWHERE",
    "CONVERSATION",
    "CONVERSATION_NUMBER",
    "DEPARTMENT",
    "DM",
    "DURATION",
    "EMAIL",
    "TAGS",
    "TEXT",
    "USER",
    "WORD",
    "AnyOf",
    "Arg",
    "Args",
    "BadArgument",
    "Choice",
    "Command",
    "Context",
    "ConversationNumber",
    "Converter",
    "Department",
    "Duration",
    "Email",
    "Flag",
    "Func",
    "Integer",
    "Invocation",
    "ListOf",
    "MissingArgument",
    "Option",
    "Outcome",
    "PermissionDenied",
    "Refused",
    "Registry",
    "Text",
    "Token",
    "TooManyArguments",
    "UnknownCommand",
    "UserError",
    "UserPermissions",
    "Username",
    "Word",
    "WrongPlace",
    "command",
    "did_you_mean",
    "make_command",
    "parse_invocation",
    "prefixes_of",
    "run_command",
    "tokenize",
    "utc_now",
]
