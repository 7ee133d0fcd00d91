"""The exported validators (tools/contracts.py) and the route templates they are keyed by."""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

#: where tools/contracts.py writes and the dev server reads, unless OMNICAT_REST_CONTRACTS says
DEFAULT_PATH = Path(__file__).resolve().parents[3] / ".cache" / "rest-contracts" / "contracts.json"
PATH_ENV = "OMNICAT_REST_CONTRACTS"


def contracts_path() -> Path:
    return Path(os.environ.get(PATH_ENV) or DEFAULT_PATH)


#: validators the package declares that Rocket.Chat's server does not apply, with the reason
NOT_APPLIED: dict[tuple[str, str], str] = {
    ("POST", "login"): "APIClass._initAuth adds `login` without validateParams: it takes `user` "
    "as a string or an object (loginCompatibility), where isLoginProps says object",
}


def requires_path_param(contract: Contract) -> bool:
    """The validator requires a parameter of its own route's path: it types the client's call
    (`GET livechat/visitor/:token` with `{token}`), not what the server checks. Rocket.Chat's router
    runs `validateParams` on the query (GET) or the body only, never on `this.urlParams`
    (APIClass.addRoute), so such a validator would refuse every request that puts the parameter
    where the route says; the server registers these routes without it and reads `urlParams`
    (app/livechat/server/api/v1/visitor.ts: `livechat/visitor/:token` GET and DELETE,
    `livechat/visitor/:token/room`)."""
    names = {part[1:] for part in contract.template.split("/") if part.startswith(":")}
    return bool(names & set(contract.schema.get("required") or ()))


@dataclass(frozen=True)
class Contract:
    template: str  # "rooms.media/:rid", without "/v1/"
    method: str
    validator: str  # the package's export, e.g. "isChatPostMessageProps"
    schema: dict[str, Any]
    query: bool  # compiled with the package's query ajv (coerceTypes: "array")


class Contracts:
    """What one rest-typings version declares: validators per (method, template), and every
    declared (template, method) even without a validator."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.package = f"{data['package']['name']} {data['package']['version']}"
        self.version = str(data["package"]["version"])
        self.declared: dict[str, set[str]] = {
            _bare(path): set(methods) for path, methods in data["declared"].items()
        }
        self.contracts: dict[tuple[str, str], Contract] = {}
        for path, methods in data["endpoints"].items():
            for method, entry in methods.items():
                t = _bare(path)
                self.contracts[(method, t)] = Contract(
                    t, method, entry["validator"], entry["schema"], bool(entry.get("query"))
                )

    @cached_property
    def _templates(self) -> dict[int, list[list[str]]]:
        out: dict[int, list[list[str]]] = {}
        for t in self.declared:
            parts = t.split("/")
            out.setdefault(len(parts), []).append(parts)
        # literal segments before parameters: `livechat/room.forward` wins over `livechat/:x`
        for group in out.values():
            group.sort(key=lambda parts: [p.startswith(":") for p in parts])
        return out

    def template_of(self, path: str) -> str | None:
        """`rooms.media/ABC` -> `rooms.media/:rid` (a path the package declares), else None."""
        parts = path.strip("/").split("/")
        for cand in self._templates.get(len(parts), []):
            if all(c.startswith(":") or c == p for c, p in zip(cand, parts, strict=True)):
                return "/".join(cand)
        return None

    def get(self, method: str, template: str) -> Contract | None:
        """The validator Rocket.Chat applies to this route and method, if any."""
        if (method.upper(), template) in NOT_APPLIED:
            return None
        contract = self.contracts.get((method.upper(), template))
        if contract is not None and requires_path_param(contract):
            return None
        return contract

    def published(self, method: str, template: str) -> Contract | None:
        """The validator the package declares, applied or not."""
        return self.contracts.get((method.upper(), template))


def _bare(path: str) -> str:
    return path.removeprefix("/v1/").strip("/")


_lock = threading.Lock()
_loaded: dict[Path, Contracts | None] = {}


def load(path: Path | None = None) -> Contracts | None:
    """The contracts at `path` (default: contracts_path()), read once; None when absent."""
    path = path or contracts_path()
    with _lock:
        if path not in _loaded:
            try:
                _loaded[path] = Contracts(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError, KeyError):
                _loaded[path] = None
        return _loaded[path]
