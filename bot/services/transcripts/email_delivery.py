"""The e-mail path of a transcript job: the contact's view rendered and attached, sent over
SMTP once (the effect journal remembers a mail that went out), then the log row, the contact's
catalogue line and the agents' note (a staff requester's too, in their console thread; anyone
else is told at the top level of their DM); every line the bot writes shows the address masked."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.chat import effect_scope
from bot.domain import Conversation
from bot.services.transcripts.email import (
    TranscriptDeliveryError,
    build_transcript_email,
    mask_address,
    one_line,
    send_email,
)
from bot.services.transcripts.jobs import TranscriptJobs
from bot.services.transcripts.model import TranscriptData
from bot.services.transcripts.pdf import TranscriptRenderError, options_from_config, render_pdf
from bot.store.transcripts import Job, StoredPdf

#: message type the room note is stored with (the transcript renders it as a workflow note)
EMAILED_NOTE = "livechat_transcript_history"


class _Missing(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


class EmailDelivery(TranscriptJobs):
    """The sending of an `email` job, and the subject it gets by default."""

    if TYPE_CHECKING:  # the stored PDF (`pdf_delivery.py`)

        def _data(self, conv: Conversation, requester: str) -> TranscriptData: ...

        def pdf_of(
            self, conv: Conversation, requester: str, data: TranscriptData | None = None
        ) -> tuple[StoredPdf, TranscriptData | None]: ...

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
        # a replay past the mail: the log and the lines again (they carry their first ids:
        # the server keeps one copy)
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
        if not self.services.posting.reads_console(conv, job.requester):
            # staff read the note above in their console thread; anyone else, here
            self._tell_requester(job, f"E-mailed the transcript of #{conv.number} to {masked}.")
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
