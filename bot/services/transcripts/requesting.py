"""Asking for a transcript: who may have one, and the jobs of `/transcript pdf|email`.

A command answers first and then `submit`s the job, so its answer never trails the PDF. An
e-mail asked for while the conversation is open is a wish recorded for the close.
"""

from __future__ import annotations

from typing import Any

from bot.chat.types import User
from bot.domain import Conversation, Refused, State
from bot.services.transcripts.email import subject_problem, valid_address
from bot.services.transcripts.jobs import TranscriptJobs
from bot.store.transcripts import Job

PDF_PERMISSION = "request-pdf-transcript"
EMAIL_PERMISSION = "send-omnichannel-chat-transcript"
SEE_CLOSED_SAME_DEPARTMENT = "view-livechat-room-closed-same-department"
MANAGER = "view-livechat-manager"

NOT_CLOSED = (
    "Close the conversation first; a transcript of an unfinished conversation can't be exported"
)


class TranscriptRequests(TranscriptJobs):
    """`check_access`, `prepare_pdf`, `prepare_email`."""

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


class _ClosedMeanwhile(Exception):
    pass
