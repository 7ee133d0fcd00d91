"""`+csv`: the rows behind a report's numbers, one conversation a line (Excel reads UTF-8 with
a BOM as UTF-8, so names with accents survive a double-click)."""

from __future__ import annotations

import csv
import io
from datetime import datetime, tzinfo

from bot.domain.reports import Report, csv_rows


def csv_bytes(report: Report, now: datetime, tz: tzinfo) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerows(csv_rows(report, now, tz))
    return ("\ufeff" + buf.getvalue()).encode("utf-8")
