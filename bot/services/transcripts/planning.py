"""Planning a close's deliveries, at least once.

The close hook writes its plan first (one `transcript_requests` row per delivery: the close's
flags, wishes recorded while open, the serving agent's preferences), and a row is marked done
in the same transaction that writes its delivery row. A kill -9 before that leaves it pending;
the first connect of the next run (`resume`) queues it again.
"""

from __future__ import annotations

import logging
from typing import Any

from bot.domain import Conversation, State
from bot.services.transcripts.collect import contact_email
from bot.services.transcripts.jobs import TranscriptJobs
from bot.store.transcripts import Job, Request, _Raced

log = logging.getLogger("omnicat.transcripts")


class DeliveryPlanning(TranscriptJobs):
    """`on_closed` (the close hook), the plan, and queueing what is pending (`resume`)."""

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
