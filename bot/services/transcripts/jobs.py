"""One transcript delivery on the slow pool, and what every part of `TranscriptService` holds.

A job is queued once per process, runs in its effect scope (a planned request is its own
event: whichever run delivers it sends the same message ids and journal keys), and ends in
exactly one of: delivered, or a line to the requester saying what failed. A staff requester
reads both in their console thread for the conversation (`requester_place`), anyone else at the
top level of their DM with the bot.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.chat import effect_scope
from bot.chat.errors import RocketChatError
from bot.chat.port import ChatPort
from bot.domain import Conversation
from bot.domain.bounded import BoundedCache
from bot.services.transcripts.email import chat_reason, mask_address
from bot.store.console import ConsoleThread
from bot.store.effects import EffectJournal
from bot.store.transcripts import Job, TranscriptRepo

log = logging.getLogger("omnicat.transcripts")

#: conversations whose render lock is kept
RENDER_LOCKS = 4_096


def run_inline(fn: Callable[..., Any], *args: Any) -> Future[Any]:
    """`run_slow` without a pool: the job runs now, on the caller's thread (tests, tools)."""
    future: Future[Any] = Future()
    try:
        future.set_result(fn(*args))
    except BaseException as exc:  # handed to the caller through the future
        future.set_exception(exc)
    return future


@dataclass
class TranscriptJobs:
    """The state of `TranscriptService` (declared once for the parts it is made of), the slow
    pool's side of a job, where its requester reads about it, and the line that tells them
    what failed."""

    services: Any  # bot.services.build.Core
    run_slow: Callable[..., Future[Any]] = run_inline
    repo: TranscriptRepo = field(init=False)
    journal: EffectJournal = field(init=False)
    # bounded (issue 20): one render lock per conversation recently exported, at most
    # RENDER_LOCKS (an evicted lock is long released: renders take seconds, not thousands)
    _locks: BoundedCache[int, threading.Lock] = field(
        init=False, default_factory=lambda: BoundedCache(RENDER_LOCKS)
    )
    _locks_guard: threading.Lock = field(init=False, default_factory=threading.Lock)
    #: planned request ids queued or running in this process (never queued twice)
    _queued: set[int] = field(init=False, default_factory=set)

    if TYPE_CHECKING:  # the delivery paths (`pdf_delivery.py`, `email_delivery.py`)

        def _deliver_pdf(self, job: Job) -> bool: ...

        def _deliver_email(self, job: Job) -> bool: ...

    def __post_init__(self) -> None:
        self.repo = TranscriptRepo(self.services.store)
        self.journal = EffectJournal(self.services.store)

    @property
    def config(self) -> Any:
        return self.services.config

    @property
    def chat(self) -> ChatPort:
        chat: ChatPort = self.services.directory.chat
        return chat

    # --- the slow pool ------------------------------------------------------------------------
    def submit(self, job: Job) -> Future[Any]:
        if job.request_id is not None:
            with self._locks_guard:
                self._queued.add(job.request_id)
        return self.run_slow(self.deliver, job)

    def deliver(self, job: Job) -> bool:
        """Do one job (slow pool). True when delivered; on failure the requester was told."""
        try:
            if job.request_id is not None and self.repo.is_done(job.request_id):
                return True  # answered already (by an earlier run or another queue entry)
            # A planned request is its own event: whichever run delivers it (this one, or the
            # next after a crash) sends the same message ids and journal keys. A command's job
            # runs in the command's scope, carried into the slow pool.
            with self._request_scope(job):
                if job.kind == "pdf":
                    return self._deliver_pdf(job)
                return self._deliver_email(job)
        except Exception as exc:  # a bug still ends in a line to the requester, never in silence
            log.exception("transcript job failed: %s", job)
            self._failed(job, f"an internal error ({type(exc).__name__})")
            return False
        finally:
            if job.request_id is not None:
                with self._locks_guard:
                    self._queued.discard(job.request_id)

    @staticmethod
    def _request_scope(job: Job) -> Any:
        if job.request_id is None:
            return contextlib.nullcontext()
        return effect_scope.effect_scope(f"transcript-request:{job.request_id}")

    def _sent_before(self, key: str | None) -> str | None:
        """The journal's reference when the effect `key` went out before (a replay)."""
        if key is None:
            return None
        ref = self.journal.sent(key)
        if ref is not None:
            log.info("transcript effect %s went out before: not again", key)
        return ref

    def _conversation(self, number: int) -> Conversation:
        conv = self.services.repo.get(number)
        if conv is None:
            raise LookupError(f"no conversation #{number}")
        return conv

    def _lock(self, number: int) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(number, threading.Lock())

    # --- telling people -----------------------------------------------------------------------
    def _failed(self, job: Job, reason: str) -> bool:
        what = "PDF transcript" if job.kind == "pdf" else "transcript e-mail"
        # The address is masked on every line the bot writes, as in the command's answer.
        masked = mask_address(job.address) if job.address else None
        target = f" to {masked}" if job.kind == "email" and masked else ""
        reason = chat_reason(reason, job.address, masked)
        try:
            self.repo.log(
                job.number,
                job.kind,
                job.requester,
                ok=False,
                trigger=job.trigger,
                target=masked,
                reason=reason,
                request_id=job.request_id,
            )
        except Exception:  # the line below is what matters to the person
            log.exception("cannot log a failed transcript delivery of #%s", job.number)
        self._tell_requester(
            job, f"I couldn't deliver the {what} of #{job.number}{target}: {reason}."
        )
        return False

    def requester_thread(self, job: Job) -> ConsoleThread | None:
        """Where a staff requester reads about their delivery: their console thread for the
        conversation (issue 16: one thread per conversation, opened on first use). None for
        anyone else (a contact asking for their own transcript), who reads at the top level
        of their DM with the bot, and when the thread cannot be opened."""
        conv = self.services.repo.get(job.number)
        if conv is None:
            return None
        thread: ConsoleThread | None = self.services.posting.agent_thread(conv, job.requester)
        return thread

    def requester_place(self, job: Job) -> tuple[str, str | None]:
        """(room, thread) of `requester_thread`, else the top level of the requester's DM."""
        thread = self.requester_thread(job)
        if thread is not None:
            return thread.dm_rid, thread.root_id
        return self.chat.dm_room(job.requester), None

    def _tell_requester(self, job: Job, text: str) -> None:
        try:
            thread = self.requester_thread(job)
            if thread is not None:
                self.chat.send(thread.dm_rid, text, tmid=thread.root_id)
            else:
                self.chat.dm(job.requester, text)
        except RocketChatError:
            log.warning("cannot tell @%s: %s", job.requester, text, exc_info=True)
