"""Transcripts delivered by the bot: PDF by direct message, e-mail to an address.

Who asks and when:
- `/transcript pdf [#N]` on a closed conversation, `/transcript email <address>` (now when the
  conversation is closed, at close when it is open);
- `/close … +pdf +email[=address]` (the flags the workflow stores on the conversation);
- the serving agent's preferences (`/prefs transcript-pdf on`, `transcript-email on`), applied at
  every close, whoever or whatever closed the chat (agent, contact, manager, timer).

The close hook and the commands only decide and queue: rendering, uploading and SMTP run in the
app's slow pool (`App.run_slow`), so a 10,000-message transcript never holds up a command. Each
attempt ends in exactly one of: the PDF in the requester's DM (or the mail handed to the SMTP
server, confirmed by DM and noted in the room), or a DM to the requester saying what failed.
Nothing claims a success that did not happen. Every attempt is a row in
`transcript_deliveries` and a line in the conversation's events.

At least once: the close hook first writes its plan (one `transcript_requests` row per delivery:
the close's flags, wishes recorded while open, the serving agent's preferences), and a row is
marked done in the same transaction that writes its delivery row. A kill -9 before that leaves it
pending; the first connect of the next run (`TranscriptService.resume`) queues it again. A PDF
is stored once, so a repeat re-sends the same bytes.

One PDF per conversation: the first request renders and stores it; every later request (any
requester, PDF or e-mail) re-delivers the same bytes.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.chat import effect_scope
from bot.chat.errors import RocketChatError
from bot.chat.port import ChatPort
from bot.chat.types import User
from bot.domain import Conversation, Refused, State
from bot.domain.bounded import BoundedCache
from bot.domain.emailaddr import is_email
from bot.domain.text import inline
from bot.services.transcripts.collect import Collector, contact_email, requester_timezone
from bot.services.transcripts.email import (
    TranscriptDeliveryError,
    build_transcript_email,
    chat_reason,
    one_line,
    pdf_filename,
    send_email,
    subject_problem,
)
from bot.services.transcripts.model import TranscriptData
from bot.services.transcripts.pdf import TranscriptRenderError, options_from_config, render_pdf
from bot.store.effects import EffectJournal
from bot.store.transcripts import (
    Job,
    Request,
    StoredPdf,
    TranscriptRepo,
    _Raced,
)

log = logging.getLogger("omnicat.transcripts")

PDF_PERMISSION = "request-pdf-transcript"
EMAIL_PERMISSION = "send-omnichannel-chat-transcript"
SEE_CLOSED_SAME_DEPARTMENT = "view-livechat-room-closed-same-department"
MANAGER = "view-livechat-manager"

NOT_CLOSED = (
    "Close the conversation first; a transcript of an unfinished conversation can't be exported"
)
#: the event kinds of the conversation log
#: message type the room note is stored with (the transcript renders it as a workflow note)
EMAILED_NOTE = "livechat_transcript_history"


#: conversations whose render lock is kept
RENDER_LOCKS = 4_096


def _now() -> datetime:
    return datetime.now(UTC)


def mask_address(address: str) -> str:
    """`maria@example.com` → `m***a@example.com`: the room sees that mail went out, not where."""
    local, at, domain = address.partition("@")
    if not at:
        return "***"
    shown = local[:1] + "***" if len(local) <= 2 else f"{local[0]}***{local[-1]}"
    return f"{shown}@{domain}"


def valid_address(address: str) -> bool:
    return is_email(address)


def closed_line(conv: Conversation, data: TranscriptData) -> str:
    """ "Transcript of #42 with Maria Ivanova, closed 14 Mar 2025 17:20" (requester's time)."""
    who = inline(conv.contact_name, 80) or f"@{conv.contact_username}"
    text = f"Transcript of #{conv.number} with {who}"
    if conv.closed_at is not None:
        local = data.local(conv.closed_at)
        text += f", closed {local.day} {local:%b %Y %H:%M}"
    return text


class _Missing(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


# ---------------------------------------------------------------------------------------------
# The service


def run_inline(fn: Callable[..., Any], *args: Any) -> Future[Any]:
    """`run_slow` without a pool: the job runs now, on the caller's thread (tests, tools)."""
    future: Future[Any] = Future()
    try:
        future.set_result(fn(*args))
    except BaseException as exc:  # handed to the caller through the future
        future.set_exception(exc)
    return future


@dataclass
class TranscriptService:
    """Decides who gets what, queues it on the slow pool, and delivers it."""

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

    # --- who may ----------------------------------------------------------------------------
    def check_access(self, user: User, conv: Conversation) -> None:
        """Served it, or a manager, or allowed to see closed chats of its department."""
        services = self.services
        served = {*conv.previous_agents, *conv.invited, conv.agent, conv.closed_by} - {None}
        if user.username in served or services.directory.may(user, MANAGER):
            return
        if services.directory.may(user, SEE_CLOSED_SAME_DEPARTMENT):
            depts = services.roster.departments_of(user.username)
            if conv.department is None or conv.department in depts:
                return
        raise Refused(
            f"You didn't serve conversation #{conv.number} and it isn't in your department, "
            "so you can't have its transcript.",
            "error-not-authorized",
        )

    def _need(self, user: User, permission: str, what: str) -> None:
        if not self.services.directory.may(user, permission):
            raise Refused(
                f"You don't have permission to {what} ({permission}).", "error-not-allowed"
            )

    # --- commands ---------------------------------------------------------------------------
    def prepare_pdf(self, user: User, number: int) -> Job:
        """`/transcript pdf`: the job, or `Refused` (not closed, no permission, not theirs).
        The command answers first and then `submit`s, so its answer never trails the PDF."""
        self._need(user, PDF_PERMISSION, "request a PDF transcript")
        conv = self.services.queue.get(number)
        # access first: the state of another department's chat is none of the caller's business
        self.check_access(user, conv)
        if conv.state is not State.CLOSED:
            raise Refused(NOT_CLOSED, "error-room-not-closed")
        self.services.directory.remember_user(user)
        return Job("pdf", number, user.username, "command")

    def prepare_email(
        self, user: User, number: int, address: str, subject: str | None = None
    ) -> Job | None:
        """`/transcript email`: a job to submit now (closed conversation), or None when it was
        recorded for the close (open conversation). `Refused` when not allowed."""
        self._need(user, EMAIL_PERMISSION, "send e-mail transcripts")
        if not valid_address(address):
            raise Refused(f"'{address}' is not an e-mail address.", "error-invalid-email")
        problem = subject_problem(subject) if subject else None
        if problem:
            raise Refused(problem, "error-invalid-subject")
        if not self.config.transcripts.email.host:
            raise Refused(
                "E-mail transcripts are not set up here (transcripts.email.host).",
                "error-email-not-configured",
            )
        services = self.services
        conv = services.queue.get(number)
        self.check_access(user, conv)
        job = Job("email", number, user.username, "command", address, subject)
        if conv.state is State.CLOSED:
            return job
        # The request row first: a close that lands between the two steps then finds it
        # (and sends it); the domain's event and flag follow.
        request_id = self.repo.add_request(number, "email", user.username, address, subject)

        def decide(current: Conversation) -> Any:
            if current.state is State.CLOSED:
                raise _ClosedMeanwhile
            return current.request_transcript(user.username, services.clock(), email=address)

        try:
            services.transitions.transition(number, decide)  # hooks see it like any transition
        except _ClosedMeanwhile:
            # Closed meanwhile: whoever takes the row sends it (the close hook, or us now).
            return job if self.repo.take_request(request_id) else None
        except BaseException:
            self.repo.take_request(request_id)
            raise
        return None

    # --- the close hook ---------------------------------------------------------------------
    def on_closed(self, conv: Conversation, closed_by: str) -> None:
        """A closed subscriber (`Transitions.on_closed`): plan what the close asked for, the
        recorded wishes and the serving agent's preferences (durable rows), and queue them.
        Quick (a few reads and one write); the work goes to the slow pool."""
        self.jobs_for_close(conv, closed_by)
        self.requeue(conv.number)

    def jobs_for_close(self, conv: Conversation, closed_by: str) -> list[Job]:
        """Plan the close's deliveries and record them as pending requests; the jobs of the
        plan (with their `request_id`). [] when #N was planned already (a second hook)."""
        with self._lock(conv.number):
            for _attempt in range(5):
                wishes = self.repo.wishes(conv.number)
                jobs = self._plan(conv, closed_by, wishes)
                try:
                    planned = self.repo.record_plan(conv.number, jobs, wishes)
                except _Raced:  # `/transcript email` took its wish back meanwhile
                    continue
                return planned or []
        raise RuntimeError(f"cannot plan the transcripts of #{conv.number}")

    def _plan(self, conv: Conversation, closed_by: str, wishes: list[Request]) -> list[Job]:
        jobs: list[Job] = []
        pdf_for: list[tuple[str, str]] = []
        mails: list[Job] = []
        events = self._events(conv.number)
        closing = next((e for e in reversed(events) if e.kind == "closed"), None)
        if closing is not None and (closing.data or {}).get("pdf"):
            pdf_for.append((closing.actor or closed_by, "close"))
        for e in events:
            if e.kind == "transcript-requested" and (e.data or {}).get("pdf"):
                pdf_for.append((e.actor or closed_by, "command"))
        for req in wishes:
            if req.kind == "pdf":
                pdf_for.append((req.requester, "command"))
            elif req.address:
                mails.append(
                    Job("email", conv.number, req.requester, "command", req.address, req.subject)
                )
        close_mail = (closing.data or {}).get("email") if closing is not None else None
        if close_mail:
            mails.append(Job("email", conv.number, closing.actor or closed_by, "close", close_mail))
        if conv.transcript_pdf and not pdf_for:
            pdf_for.append((conv.agent or closed_by, "close"))
        agent = conv.agent
        if agent:
            prefs = self.repo.prefs(agent)
            if prefs.pdf:
                pdf_for.append((agent, "preference"))
            if prefs.email:
                address = contact_email(self.services, conv)
                mails.append(Job("email", conv.number, agent, "preference", address or ""))
        seen: set[str] = set()
        for who, trigger in pdf_for:
            if who and who not in seen and who != self.services.directory.bot_name:
                seen.add(who)
                jobs.append(Job("pdf", conv.number, who, trigger))
        sent_to: set[str] = set()
        for mail in mails:
            key = (mail.address or "").casefold()
            if key and key in sent_to:
                continue
            sent_to.add(key)
            jobs.append(mail)
        return jobs

    def requeue(self, number: int | None = None) -> int:
        """Queue the planned deliveries still pending (of #number, or all) that this process
        has not queued yet; how many were queued."""
        count = 0
        for req in self.repo.planned_pending(number):
            job = Job(
                req.kind,
                req.number,
                req.requester,
                req.trigger or "command",
                req.address,
                req.subject,
                request_id=req.id,
            )
            with self._locks_guard:
                if req.id in self._queued:
                    continue
            self.submit(job)
            count += 1
        return count

    def resume(self) -> int:
        """At the first connect of a run: what a crashed run left undelivered. Closed
        conversations with recorded wishes but no plan (the crash came before the close
        hook) are planned now; then every pending planned delivery is queued."""
        for number in self.repo.pending_numbers():
            conv = self.services.repo.get(number)
            if conv is None or conv.state is not State.CLOSED:
                continue  # wishes of an open conversation wait for its close
            if self.repo.wishes(number):
                try:
                    self.jobs_for_close(conv, conv.closed_by or "")
                except Exception:
                    log.exception("cannot plan the transcripts of #%s", number)
        queued = self.requeue()
        if queued:
            log.info("queued %d transcript deliveries a previous run left pending", queued)
        return queued

    def _events(self, number: int) -> list[Any]:
        try:
            return list(self.services.repo.events(number))
        except Exception:  # a broken log must not cost the transcripts
            log.exception("cannot read the events of #%s", number)
            return []

    # --- the slow pool ------------------------------------------------------------------------
    def submit(self, job: Job) -> Future[Any]:
        if job.request_id is not None:
            with self._locks_guard:
                self._queued.add(job.request_id)
        return self.run_slow(self.deliver, job)

    def deliver(self, job: Job) -> bool:
        """Do one job (slow pool). True when delivered; on failure the requester got a DM."""
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
        except Exception as exc:  # a bug still ends in a DM, never in silence
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

    def _data(self, conv: Conversation, requester: str) -> TranscriptData:
        services = self.services
        cfg = self.config
        collector = Collector(
            self.chat,
            services.messages,
            site_name=cfg.site_name,
            prefixes=tuple(cfg.commands.prefixes or ("/",)),
        )
        return collector.collect(
            conv,
            timezone=requester_timezone(
                services.directory.user(requester), cfg.transcripts.timezone
            ),
            contact_email=contact_email(services, conv),
            events=services.repo.events(conv.number),
        )

    def _lock(self, number: int) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(number, threading.Lock())

    def pdf_of(
        self, conv: Conversation, requester: str, data: TranscriptData | None = None
    ) -> tuple[StoredPdf, TranscriptData | None]:
        """The conversation's one PDF: stored, or rendered now (in the requester's time) and
        stored. Two jobs for the same conversation never render twice."""
        with self._lock(conv.number):
            stored = self.repo.pdf(conv.number)
            if stored is not None:
                return stored, data
            data = data or self._data(conv, requester)
            rendered = render_pdf(data, options_from_config(self.config.transcripts))
            stored = self.repo.save_pdf(
                conv.number, rendered, pdf_filename(data), data.tz_label, requester
            )
            return stored, data

    def _deliver_pdf(self, job: Job) -> bool:
        conv = self._conversation(job.number)
        try:
            stored, _ = self.pdf_of(conv, job.requester)
        except TranscriptRenderError as exc:
            return self._failed(job, f"the PDF could not be made ({exc})")
        # The line states the close time in the requester's own time.
        user = self.services.directory.user(job.requester)
        when = TranscriptData(
            number=conv.number,
            timezone=requester_timezone(user, self.config.transcripts.timezone),
        )
        text = closed_line(conv, when)
        key = effect_scope.next_effect_key("upload")
        try:
            rid = self.chat.dm_room(job.requester)
            before = self._sent_before(key)
            if before is not None:
                if job.request_id is not None:  # the run that uploaded it died before this
                    self.repo.log(
                        conv.number,
                        "pdf",
                        job.requester,
                        ok=True,
                        trigger=job.trigger,
                        target=rid,
                        message_id=before or None,
                        request_id=job.request_id,
                    )
                return True
            if key is not None:
                self.journal.begin(key, "upload")
            sent = self.chat.upload(
                rid, stored.data, stored.filename, "application/pdf", message=text
            )
            if key is not None:
                self.journal.mark_sent(key, "upload", sent.id)
        except RocketChatError as exc:
            return self._failed(job, f"uploading it to our direct messages failed ({exc})")
        self.repo.log(
            conv.number,
            "pdf",
            job.requester,
            ok=True,
            trigger=job.trigger,
            target=rid,
            message_id=sent.id,
            request_id=job.request_id,
        )
        return True

    def _deliver_email(self, job: Job) -> bool:
        conv = self._conversation(job.number)
        if not job.address:
            return self._failed(job, f"I don't know @{conv.contact_username}'s e-mail address")
        email_cfg = self.config.transcripts.email
        if not email_cfg.from_:
            return self._failed(job, "no sender address is configured (transcripts.email.from)")
        data = self._data(conv, job.requester)
        # The e-mail holds what the contact saw: no case events, tags or topic (the agents'
        # PDF, stored, keeps them), so its PDF is rendered from the contact's view.
        seen = data.for_contact()
        try:
            self.pdf_of(conv, job.requester, data)
            attached = render_pdf(seen, options_from_config(self.config.transcripts))
        except TranscriptRenderError as exc:
            return self._failed(job, f"the PDF could not be made ({exc})")
        subject = job.subject or self.default_subject(conv, data)
        message = build_transcript_email(
            seen, attached, sender=email_cfg.from_, recipient=job.address, subject=subject
        )
        key = effect_scope.next_effect_key("email")
        before = self._sent_before(key)
        if before is None:
            if key is not None:
                self.journal.begin(key, "email")
            try:
                send_email(message, email_cfg)
            except TranscriptDeliveryError as exc:
                return self._failed(job, exc.reason)
            if key is not None:
                self.journal.mark_sent(key, "email", message.get("Message-ID"))
        # a replay past the mail: the log, the note and the DM again (the note and the DM
        # carry their first ids: the server keeps one copy)
        masked = mask_address(job.address)
        if before is None or job.request_id is not None:
            self.repo.log(
                conv.number,
                "email",
                job.requester,
                ok=True,
                trigger=job.trigger,
                target=masked,
                request_id=job.request_id,
            )
        self._tell_sent(conv, masked, job.requester)
        self._dm(job.requester, f"E-mailed the transcript of #{conv.number} to {masked}.")
        return True

    def default_subject(self, conv: Conversation, data: TranscriptData) -> str:
        closed = data.local(conv.closed_at).strftime("%Y-%m-%d %H:%M") if conv.closed_at else ""
        values = _Missing(
            number=str(conv.number),
            contact=conv.contact_name or f"@{conv.contact_username}",
            department=conv.department or "",
            closed=closed,
        )
        return one_line(self.config.transcripts.email.subject.format_map(values))

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
        except Exception:  # the DM below is what matters to the person
            log.exception("cannot log a failed transcript delivery of #%s", job.number)
        self._dm(
            job.requester, f"I couldn't deliver the {what} of #{job.number}{target}: {reason}."
        )
        return False

    def _dm(self, username: str, text: str) -> None:
        try:
            self.chat.dm(username, text)
        except RocketChatError:
            log.warning("cannot DM @%s: %s", username, text, exc_info=True)

    def _tell_sent(self, conv: Conversation, masked: str, requester: str | None) -> None:
        """The contact reads the catalogue's `transcript_sent` where they read (a closed case's
        DM, the livechat room); the agents read theirs in the console."""
        posting = self.services.posting
        posting.tell_customer(conv, "transcript_sent", email=masked)
        posting.tell_agents(
            conv,
            f"A transcript of #{conv.number} was e-mailed to {masked}.",
            EMAILED_NOTE,
            to=[requester] if requester else (),
        )


class _ClosedMeanwhile(Exception):
    pass
