"""The PDF by direct message: the conversation's one PDF (rendered by the first request and
stored; every later request, PDF or e-mail, re-delivers the same bytes), uploaded to the
requester's DM with a line saying what it is: into their console thread for the conversation
when they are staff, else at the DM's top level (`requester_place`)."""

from __future__ import annotations

from bot.chat import effect_scope
from bot.chat.errors import RocketChatError
from bot.domain import Conversation
from bot.domain.text import inline
from bot.services.transcripts.collect import Collector, contact_email, requester_timezone
from bot.services.transcripts.email import pdf_filename
from bot.services.transcripts.jobs import TranscriptJobs
from bot.services.transcripts.model import TranscriptData
from bot.services.transcripts.pdf import TranscriptRenderError, options_from_config, render_pdf
from bot.store.transcripts import Job, StoredPdf


def closed_line(conv: Conversation, data: TranscriptData) -> str:
    """ "Transcript of #42 with Maria Ivanova, closed 14 Mar 2025 17:20" (requester's time)."""
    who = inline(conv.contact_name, 80) or f"@{conv.contact_username}"
    text = f"Transcript of #{conv.number} with {who}"
    if conv.closed_at is not None:
        local = data.local(conv.closed_at)
        text += f", closed {local.day} {local:%b %Y %H:%M}"
    return text


class PdfDelivery(TranscriptJobs):
    """`pdf_of` (the one PDF) and the upload of a `pdf` job."""

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
            rid, tmid = self.requester_place(job)
            before = self._sent_before(key)
            if before is not None:
                if job.request_id is None:
                    return True
                # the run that uploaded it died before logging it: log what it sent
                message_id = before or None
            else:
                if key is not None:
                    self.journal.begin(key, "upload")
                sent = self.chat.upload(
                    rid, stored.data, stored.filename, "application/pdf", message=text, tmid=tmid
                )
                if key is not None:
                    self.journal.mark_sent(key, "upload", sent.id)
                message_id = sent.id
        except RocketChatError as exc:
            return self._failed(job, f"uploading it to our direct messages failed ({exc})")
        self.repo.log(
            conv.number,
            "pdf",
            job.requester,
            ok=True,
            trigger=job.trigger,
            target=rid,
            message_id=message_id,
            request_id=job.request_id,
        )
        return True
