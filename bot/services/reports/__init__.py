"""The supervisor's desk (issue 19): `/monitor`, `/report` and the daily digest.

The composition root (`bot.runtime.compose`) builds the `ReportService` (commands find it as
`ctx.services.reports`) and registers the digest with the timer service
(`ReportService.schedule_digest`).
"""

from __future__ import annotations

from bot.services.reports.service import Desk, File, ReportService, zone_of

__all__ = ["Desk", "File", "ReportService", "zone_of"]
