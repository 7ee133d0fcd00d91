"""The one e-mail address check, shared by `/close +email=`, `/transcript email` and `/contact`.

Deliberately narrower than RFC 5322: a local part without quotes, brackets, commas or spaces,
and a domain of DNS labels with at least one dot. Anything it accepts can go into an SMTP
envelope and a header as is; quoted local parts (`"a b"@x.io`) are refused rather than risked.
"""

from __future__ import annotations

import re

MAX_LENGTH = 254  # RFC 5321's path limit minus the angle brackets

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_ADDRESS = re.compile(rf"[^@\s<>(),;:\"\[\]\\]+@{_LABEL}(?:\.{_LABEL})+")


def is_email(value: str) -> bool:
    """True when `value` (already stripped) is an address we can send to."""
    return len(value) <= MAX_LENGTH and _ADDRESS.fullmatch(value) is not None
