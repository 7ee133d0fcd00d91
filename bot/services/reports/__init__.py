"""The supervisor's desk (issue 19): `/monitor`, `/report` and the daily digest.

`install(app, services, timers)` builds the `ReportService` (commands find it as
`ctx.services.reports`) and registers the digest with the timer service.
"""

from __future__ import annotations

from typing import Any

from bot.services.reports.service import Desk, File, ReportService, zone_of

__all__ = ["Desk", "File", "ReportService", "install", "zone_of"]


def install(app: Any, services: Any, timers: Any = None) -> ReportService:
    service = ReportService(
        store=services.store,
        config=services.config,
        roster=services.roster,
        chat=lambda: app.chat,
        clock=app.clock,
    )
    app.services.reports = service
    if timers is not None:
        service.schedule_digest(timers)
    return service
