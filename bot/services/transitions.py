"""Every transition of a conversation goes through here: one compare-and-set under the roster
lock (`ConversationRepo.transition`), then its subscribers.

Each operation on a conversation holds that conversation's own lock (`serial`) until its effects
are posted, so its room tells the transitions in the order the store committed them. Follow-up
work (routing a freed slot, archiving a closed room) waits for the end of the operation
(`later`), so routing other chats never happens while one is held.

Subscribers are registered by whoever builds the services (`bot.services.build`): transition
subscribers (timers) after every committed transition, closed subscribers (transcripts) after a
committed close.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any, ParamSpec, TypeVar

from bot.domain import Conversation, Permissions, Refused, Roster, Transition, Viewer, may_act
from bot.services.locks import ConversationLocks
from bot.store.conversations import ConversationRepo

log = logging.getLogger("omnicat.workflow")

TransitionHook = Callable[[Conversation | None, Transition], None]
ClosedHook = Callable[[Conversation, str], None]

P = ParamSpec("P")
R = TypeVar("R")


def not_found(number: int) -> Refused:
    """The answer for a number that does not exist, and for a chat the caller may not see:
    the same words, so another department's agent cannot tell them apart."""
    return Refused(f"There is no conversation #{number}.", "error-not-found")


class NothingToDo(Exception):
    """A routing/auto-resume decision that changes nothing."""

    def __init__(self, conversation: Conversation) -> None:
        super().__init__(conversation.number)
        self.conversation = conversation


def ensure_mine(
    conv: Conversation, viewer: Viewer, perms: Permissions, own: str, others: str, verb: str
) -> None:
    """RC's rule: your own chats with `own`, anyone's with `others` (managers)."""
    if not may_act(conv, viewer, perms, own, others):
        raise Refused(
            f"You are not in conversation #{conv.number}, so you can't {verb}.",
            "error-not-authorized",
        )


def one_conversation(method: Callable[P, R]) -> Callable[P, R]:
    """The conversation the method's `number` names is held for the whole call, decision and
    effects (`Transitions.serial`); the method's object has a `transitions`."""
    signature = inspect.signature(method)

    @functools.wraps(method)
    def held(*args: P.args, **kwargs: P.kwargs) -> R:
        bound = signature.bind(*args, **kwargs)
        with bound.arguments["self"].transitions.serial(bound.arguments["number"]):
            return method(*args, **kwargs)

    return held


class Transitions:
    """One per bot. Thread-safe: room workers call it concurrently."""

    def __init__(self, repo: ConversationRepo, roster: Roster) -> None:
        self.repo = repo
        self.roster = roster
        self._closed_hooks: list[ClosedHook] = []
        self._transition_hooks: list[TransitionHook] = []
        self._local = threading.local()
        self._locks = ConversationLocks()

    # --- subscribers ----------------------------------------------------------------------------
    def on_closed(self, callback: ClosedHook) -> None:
        """`callback(conversation, closed_by_username)` after a close is committed and the
        closing note is posted, before the room is archived (so a callback may still post)."""
        self._closed_hooks.append(callback)

    def on_transition(self, callback: TransitionHook) -> None:
        """`callback(before, transition)` after every committed transition (timers)."""
        self._transition_hooks.append(callback)

    def run_close_hooks(self, conv: Conversation, closed_by: str) -> None:
        """The `on_closed` subscribers of a committed close. They are idempotent: the
        reconciler runs them again for a close a crash interrupted (the transcripts' plan is
        written once)."""
        for hook in list(self._closed_hooks):
            try:
                hook(conv, closed_by)
            except Exception:
                log.exception("close hook failed for #%s", conv.number)

    # --- the compare-and-set ----------------------------------------------------------------------
    def transition(
        self, number: int, decide: Callable[[Conversation], Transition]
    ) -> tuple[Conversation, Transition]:
        """Apply one transition (compare-and-set under the roster lock, subscribers told):
        (before, transition). Holds the conversation (`serial`); `Refused` from `decide`
        propagates, an unknown number is `not_found`."""
        before: list[Conversation] = []

        def remember(conv: Conversation) -> Transition:
            before[:] = [conv]
            return decide(conv)

        with self.serial(number):
            try:
                result = self.repo.transition(number, remember, roster=self.roster)
            except LookupError:
                raise not_found(number) from None
            self._fire(before[0] if before else None, result)
        return before[0], result

    def _fire(self, before: Conversation | None, result: Transition) -> None:
        for hook in list(self._transition_hooks):
            try:
                hook(before, result)
            except Exception:
                log.exception("transition hook failed for #%s", result.conversation.number)

    # --- holding a conversation, and what waits for the end of the operation --------------------
    @contextlib.contextmanager
    def after_reply(self) -> Iterator[None]:
        """Hold back follow-up work (routing a freed slot, archiving a closed room) until the
        block ends, so a command answers first and its room or DM reads in order."""
        outer = getattr(self._local, "queue", None)
        queue: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = []
        self._local.queue = queue
        try:
            yield
        finally:
            self._local.queue = outer
            for fn, args, kwargs in queue:
                try:
                    fn(*args, **kwargs)
                except Exception:
                    log.exception("follow-up %s failed", getattr(fn, "__name__", fn))

    @contextlib.contextmanager
    def serial(self, number: int) -> Iterator[None]:
        """Hold conversation `number` for one operation: its decision and the effects that tell
        it. Follow-up work (`later`) runs after the lock is let go, so routing other chats never
        happens while one is held (no lock order between conversations to get wrong)."""
        if getattr(self._local, "queue", None) is None:
            with self.after_reply(), self._locks.hold(number):
                yield
        else:
            with self._locks.hold(number):
                yield

    def later(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Run now, or at the end of the current `after_reply` block."""
        queue = getattr(self._local, "queue", None)
        if queue is None:
            fn(*args, **kwargs)
        else:
            queue.append((fn, args, kwargs))

    @property
    def held_locks(self) -> int:
        """How many conversation locks exist now (none once every operation is done)."""
        return len(self._locks)
