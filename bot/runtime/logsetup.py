"""Logging: text or JSON lines, with secrets redacted from every record.

Redaction sits on the handler, not on our loggers, so records from libraries (urllib3, requests,
websocket-client, SQLAlchemy) that print headers or frames at DEBUG are covered too. It is applied
to the fully formatted line, so it also reaches exception tracebacks and `%`-arguments.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import IO, Any

REDACTED = "***"

# Header-like and JSON-like places a credential shows up on the wire, whatever its value.
_PATTERNS = [
    # X-Auth-Token: abc / 'X-Auth-Token': 'abc' / "X-Auth-Token": "abc"
    re.compile(r"""(?i)(x-auth-token['"]?\s*[:=]\s*['"]?)([^'",\s}]+)"""),
    # Authorization: Bearer abc
    re.compile(r"""(?i)(authorization['"]?\s*[:=]\s*['"]?(?:bearer|basic)?\s*)([^'",\s}]+)"""),
    # DDP login params and REST login bodies: "password": "...", "resume": "...", "authToken": ...
    re.compile(
        r"""(?i)(["']?(?:password|authToken|resume|token|digest)["']?\s*[:=]\s*["'])([^"']+)"""
    ),
    # Unquoted `password=…`, `token: …` in messages and exception texts.
    re.compile(r"""(?i)(\b(?:password|passwd|authToken|token|secret)\s*[:=]\s*)([^\s"',&}]+)"""),
    # URL query strings: ?password=… or &token=…
    re.compile(r"""(?i)([?&](?:password|token|authToken)=)([^&\s'"]+)"""),
]


class Redactor:
    """Replaces known secret values and credential-shaped fields with `***`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: list[str] = []
        self.add(*secrets)

    def add(self, *secrets: str | None) -> None:
        # Very short values would redact random words; no real credential is that short.
        for secret in secrets:
            if secret and len(secret) >= 4 and secret not in self._secrets:
                self._secrets.append(secret)
        self._secrets.sort(key=len, reverse=True)  # longest first: no partial leftovers

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        for pattern in _PATTERNS:
            text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
        return text


class RedactingFormatter(logging.Formatter):
    """Wraps another formatter and redacts its complete output (message + traceback)."""

    def __init__(self, inner: logging.Formatter, redactor: Redactor) -> None:
        super().__init__()
        self.inner = inner
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        return self.redactor(self.inner.format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message (+ exc, + extra `ctx_*` fields).

    Redacts each field before encoding: JSON escaping would hide `"password": "…"` shapes from
    a pass over the encoded line.
    """

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self.redactor = redactor or Redactor()

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "thread": record.threadName,
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        for key, value in record.__dict__.items():
            if key.startswith("ctx_"):
                entry[key[4:]] = value
        clean = {k: self.redactor(v) if isinstance(v, str) else v for k, v in entry.items()}
        return json.dumps(clean, default=str, ensure_ascii=False)


TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s [%(threadName)s] %(message)s"


def setup_logging(
    level: str = "INFO",
    fmt: str = "text",
    secrets: Iterable[str] = (),
    stream: IO[str] | None = None,
) -> Redactor:
    """Configure the root logger once; return the redactor so more secrets can be added later."""
    redactor = Redactor(secrets)
    inner = JsonFormatter(redactor) if fmt == "json" else logging.Formatter(TEXT_FORMAT)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(RedactingFormatter(inner, redactor))
    handler.set_name("omnicat")
    root = logging.getLogger()
    for old in list(root.handlers):
        if old.get_name() == "omnicat":
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.captureWarnings(True)
    return redactor


def setup_from_config(config: Any, stream: IO[str] | None = None) -> Redactor:
    """`setup_logging` from a `Config` (log level, format and its secrets)."""
    return setup_logging(config.log.level, config.log.format, config.secrets(), stream)
