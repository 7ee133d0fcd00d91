"""User errors: the expected ways a command fails, each shown to the user as one line.

The domain's refusal (`bot.domain.errors.Refused`, re-exported by `bot.cmd`) is shown the same
way. Anything else raised by a handler is a bug: the dispatcher answers with a
reference and logs the traceback (see `bot.cmd.runner.run_command`).
"""

from __future__ import annotations

from collections.abc import Sequence


class UserError(Exception):
    """A failure the user caused or can fix; `reason` is shown verbatim."""

    #: argument errors are followed by the command's usage line
    show_usage = False

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BadArgument(UserError):
    """An argument was given but cannot be understood."""

    show_usage = True


class MissingArgument(BadArgument):
    """A required argument is absent."""


class TooManyArguments(BadArgument):
    """More positional words than the command takes."""


class UnknownCommand(UserError):
    """The command word matches no command or alias the user may run."""

    def __init__(self, name: str, suggestions: Sequence[str] = (), prefix: str = "/") -> None:
        self.name = name
        self.suggestions = tuple(suggestions)
        reason = f"Unknown command {prefix}{name}."
        if self.suggestions:
            choices = " or ".join(f"{prefix}{s}" for s in self.suggestions)
            reason += f" Did you mean {choices}?"
        else:
            reason += f" Type {prefix}help to see what you can use."
        super().__init__(reason)


class PermissionDenied(UserError):
    """The user lacks the permission a command (or an action inside it) needs."""


class WrongPlace(UserError):
    """The command cannot be used in this kind of room."""
