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
server, and the contact and the agents told), or a line to the requester saying what failed. A
staff requester reads these in their console thread for the conversation, anyone else at the
top level of their DM with the bot.
Nothing claims a success that did not happen. Every attempt is a row in
`transcript_deliveries` and a line in the conversation's events.

At least once: the close hook first writes its plan (one `transcript_requests` row per delivery:
the close's flags, wishes recorded while open, the serving agent's preferences), and a row is
marked done in the same transaction that writes its delivery row. A kill -9 before that leaves it
pending; the first connect of the next run (`TranscriptService.resume`) queues it again. A PDF
is stored once, so a repeat re-sends the same bytes.

One PDF per conversation: the first request renders and stores it; every later request (any
requester, PDF or e-mail) re-delivers the same bytes.

The parts: `requesting.py` (who may, the commands' jobs), `planning.py` (the close's plan,
`resume`), `jobs.py` (the slow pool, the failure DM, the state they share), `pdf_delivery.py`
(the one PDF, uploaded by DM), `email_delivery.py` (the e-mail path).
"""

from __future__ import annotations

from bot.services.transcripts.email_delivery import EmailDelivery
from bot.services.transcripts.pdf_delivery import PdfDelivery
from bot.services.transcripts.planning import DeliveryPlanning
from bot.services.transcripts.requesting import TranscriptRequests


class TranscriptService(TranscriptRequests, DeliveryPlanning, PdfDelivery, EmailDelivery):
    """Decides who gets what, queues it on the slow pool, and delivers it."""
