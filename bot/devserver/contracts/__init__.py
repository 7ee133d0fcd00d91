"""Rocket.Chat's own request contracts, for the dev server's strict mode.

Two entry points, each hooked in one place of the request path:

- `check_rest(method, route_template, query, body)`: the 400 body Rocket.Chat answers when the
  request fails the validator `@rocket.chat/rest-typings` publishes for that endpoint and method
  (GET: the query, as `parse_query` parses it; otherwise the body), else None. Needs the export
  of tools/contracts.py; without it every request passes (`available()` is False).
- `check_ddp(method_name, params)`: the Meteor error Rocket.Chat's `check()` gives a DDP method's
  parameters ({"error", "reason", "details"?}), else None. Always on: written from the source.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from typing import Any

from .ddp import CHECKS, Refusal
from .query import parse_query
from .store import PATH_ENV, Contracts, contracts_path, load
from .validate import first_error

__all__ = [
    "PATH_ENV",
    "STRICT_ENV",
    "available",
    "check_ddp",
    "check_rest",
    "contracts_path",
    "invalid_params",
    "note",
    "parse_query",
    "route_template",
    "strict_mode",
]


def available() -> Contracts | None:
    return load()


STRICT_ENV = "OMNICAT_DEVSERVER_STRICT"
_said_lenient = False


def strict_mode(log: logging.Logger, wanted: bool | None) -> bool:
    """Strict (every REST request held to Rocket.Chat's published validators) when the exported
    contracts are there; `strict=True` or OMNICAT_DEVSERVER_STRICT=1 makes them required."""
    global _said_lenient
    if wanted is None and os.environ.get(STRICT_ENV, "") not in ("", "0"):
        wanted = True
    if wanted is False:
        return False
    found = available()
    if found is not None:
        return True
    if wanted:
        raise RuntimeError(
            f"strict mode needs Rocket.Chat's REST contracts at {contracts_path()}: "
            "build them with `python tools/contracts.py`"
        )
    if not _said_lenient:
        _said_lenient = True
        log.info(
            "strict mode off: no REST contracts at %s (`python tools/contracts.py` builds them)",
            contracts_path(),
        )
    return False


def invalid_params(message: str) -> dict[str, Any]:
    """Rocket.Chat's answer to a failed validator (APIClass: Meteor.Error('invalid-params', …)
    through API.v1.failure), sent with status 400."""
    return {"success": False, "error": f"{message} [invalid-params]", "errorType": "invalid-params"}


def route_template(path: str) -> str | None:
    """The declared template a concrete path falls under (`settings/Site_Name` ->
    `settings/:_id`), or None when the package does not declare it or is not loaded."""
    contracts = load()
    return contracts.template_of(path) if contracts else None


def check_rest(
    method: str, route_template: str, query: dict[str, Any], body: dict[str, Any] | None
) -> dict[str, Any] | None:
    contracts = load()
    contract = contracts.get(method, route_template) if contracts else None
    if contract is None:
        return None
    data = query if method.upper() == "GET" else (body or {})
    error = first_error(contract.schema, data, arrays=contract.query)
    return None if error is None else invalid_params(error)


RECORD_ENV = "OMNICAT_CONTRACTS_RECORD"
_record_lock = threading.Lock()


def note(method: str, template: str, username: str | None, refusal: dict[str, Any] | None) -> None:
    """With OMNICAT_CONTRACTS_RECORD=FILE, append the request's route, caller and refusal to FILE
    (JSON lines) for tools/contract_coverage.py; otherwise nothing."""
    path = os.environ.get(RECORD_ENV)
    if not path:
        return
    line = json.dumps(
        {
            "method": method.upper(),
            "route": template,
            "user": username,
            "refused": refusal["error"] if refusal else None,
        }
    )
    with _record_lock, open(path, "a", encoding="utf-8") as f:
        f.write(line + "\n")


def check_ddp(method_name: str, params: list) -> Refusal | None:
    check = CHECKS.get(method_name)
    return check(params) if check else None
