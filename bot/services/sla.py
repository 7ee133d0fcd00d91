"""SLA policies from the config (issue 19, rules §11): which policy a new chat gets, and the
policy an agent names in `/info set sla=…`."""

from __future__ import annotations

from datetime import datetime

from bot.config.schema import Config
from bot.domain import Conversation, Refused
from bot.domain.sla import SlaPolicy, sla_start

NONE = "none"  # `/info set sla=none` removes the SLA (RC: an empty slaId)


class SlaPolicies:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.policies = {
            name: SlaPolicy(name, p.due_minutes, p.description)
            for name, p in config.sla.policies.items()
        }

    def default_for(self, department: str | None, source: str) -> SlaPolicy | None:
        """The intake's policy (`intake.dm.sla`, `intake.livechat.sla`), else the
        department's, else none."""
        intake = self.config.intake
        name = {"dm": intake.dm.sla, "livechat": intake.livechat.sla}.get(source)
        dept = self.config.departments.get(department) if department else None
        name = name or (dept.sla if dept else None)
        return self.policies.get(name) if name else None

    def after_forward(self, conv: Conversation, department: str) -> tuple[str, datetime] | None:
        """The SLA `conv` takes when forwarded to `department` (name, due time), or None to
        keep its own. It follows the target's default (`default_for`) when it differs and the
        chat runs on its current department's default; an SLA an agent set with `/info set
        sla=…` stays, as does one already breached (that breach is history). A target with no
        SLA keeps the promise made. The due time counts from the chat's arrival in the queue,
        as `/info set sla=` counts it."""
        if conv.sla_breached_at is not None:
            return None
        target = self.default_for(department, conv.source)
        current = self.default_for(conv.department, conv.source)
        if target is None or target.name == conv.sla:
            return None
        if conv.sla is not None and (current is None or conv.sla != current.name):
            return None  # set by hand: an agent's decision outranks the department's default
        return target.name, target.due_at(sla_start(conv))

    def change(self, conv: Conversation, name: str) -> tuple[str, datetime] | None:
        """What `update_info(sla=…)` takes for `/info set sla=<name>`: (name, due time counted
        from the chat's arrival in the queue), or None for `none`."""
        if name.casefold() == NONE:
            return None
        policy = self.policies.get(name)
        if policy is None:
            known = ", ".join(sorted(self.policies)) or "none are configured"
            raise Refused(
                f"Unknown SLA policy {name!r} (known: {known}; or none).", "error-invalid-sla"
            )
        return policy.name, policy.due_at(sla_start(conv))
