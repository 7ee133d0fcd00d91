"""Checks across keys, after every value parsed: a department named but not configured, the
server's credentials given in two ways or half, HA on SQLite, two canned answers with one
shortcut. Each problem points at the line of the key to fix (`Problems.at_key`)."""

from __future__ import annotations

import difflib

from bot.config.problems import Problems
from bot.config.schema import Config
from bot.config.usability import check_usable


def cross_check(cfg: Config, problems: Problems, server_node: bool) -> None:
    """Record what is wrong between keys; `server_node`: the file has a `server` section (its
    absence is reported already)."""
    err = problems.at_key

    if server_node:
        s = cfg.server
        by_password = bool(s.username or s.password)
        by_token = bool(s.user_id or s.token)
        if by_password and by_token:
            err("server", "give either username + password or user_id + token, not both")
        elif not by_password and not by_token:
            err("server", "expected username + password or user_id + token")
        elif by_password and not (s.username and s.password):
            missing = "password" if s.username else "username"
            err(
                f"server.{missing}",
                "required with " + ("username" if s.username else "password"),
                "server",
            )
        elif by_token and not (s.user_id and s.token):
            missing = "token" if s.user_id else "user_id"
            err(
                f"server.{missing}",
                "required with " + ("user_id" if s.user_id else "token"),
                "server",
            )

    if cfg.ha.enabled:
        if not cfg.store.url.startswith(("postgresql", "postgres:")):
            err(
                "ha.enabled",
                "needs a PostgreSQL store.url (postgresql+psycopg://…): instances on "
                "several machines cannot share one SQLite file",
                "ha",
            )
        ttl, beat = cfg.ha.lease_ttl.total_seconds(), cfg.ha.heartbeat.total_seconds()
        if beat <= 0 or beat * 2 > ttl:
            err("ha.heartbeat", "must be positive and at most half of ha.lease_ttl", "ha")

    _check_rate_limit(cfg, problems)

    names = set(cfg.departments)

    def known(path: str, value: str | None) -> None:
        if value is not None and value not in names:
            hint = difflib.get_close_matches(value, sorted(names), n=1)
            more = (
                f"; did you mean '{hint[0]}'?"
                if hint
                else (
                    f"; known departments: {', '.join(sorted(names))}"
                    if names
                    else "; no departments are configured"
                )
            )
            err(path, f"unknown department {value!r}{more}")

    for name, dept in cfg.departments.items():
        known(f"departments.{name}.fallback", dept.fallback)
        if dept.fallback == name:
            err(f"departments.{name}.fallback", "a department cannot fall back to itself")
        for i, target in enumerate(dept.forward_to):
            known(f"departments.{name}.forward_to[{i}]", target)
        if dept.require_tags and not dept.closing_tags:
            err(f"departments.{name}.require_tags", "requires closing_tags to list the tags")
    policies = set(cfg.sla.policies)

    def known_sla(path: str, value: str | None) -> None:
        if value is not None and value not in policies:
            have = ", ".join(sorted(policies)) if policies else "none are configured"
            err(path, f"unknown SLA policy {value!r} (sla.policies: {have})")

    for name, dept in cfg.departments.items():
        known_sla(f"departments.{name}.sla", dept.sla)
    known_sla("intake.dm.sla", cfg.intake.dm.sla)
    known_sla("intake.livechat.sla", cfg.intake.livechat.sla)
    known("intake.dm.department", cfg.intake.dm.department)
    for i, channel in enumerate(cfg.intake.channels):
        known(f"intake.channels[{i}].department", channel.department)
    known("intake.livechat.department", cfg.intake.livechat.department)
    for rc_department, target in cfg.intake.livechat.departments.items():
        known(f"intake.livechat.departments.{rc_department}", target)
    shortcuts: dict[str, int] = {}
    for i, canned in enumerate(cfg.canned):
        if canned.scope.startswith("department:"):
            known(f"canned[{i}].scope", canned.scope.partition(":")[2])
        if not canned.shortcut:  # already reported as invalid or missing
            continue
        key = canned.shortcut.lstrip("!").lower()
        if key in shortcuts:
            err(f"canned[{i}].shortcut", f"duplicate shortcut (also canned[{shortcuts[key]}])")
        shortcuts[key] = i
    check_usable(cfg, err)
    if cfg.calls.provider == "template" and not cfg.calls.url_template:
        err("calls.url_template", "required when calls.provider is template", "calls")
    email = cfg.transcripts.email
    if email.host and not email.from_:
        err(
            "transcripts.email.from",
            "required when transcripts.email.host is set",
            "transcripts.email",
        )


def _check_rate_limit(cfg: Config, problems: Problems) -> None:
    """`commands.rate_limit` in one spelling: burst + per_second, or the older count + per."""
    err = problems.at_key
    path = "commands.rate_limit"
    if any(f" {path}." in error for error in problems.errors):
        return  # one problem at a time: a key that did not parse is reported already
    given = {
        key for key in ("burst", "per_second", "count", "per") if f"{path}.{key}" in problems.lines
    }
    if given & {"count", "per"} and given & {"burst", "per_second"}:
        err(
            f"{path}.count" if "count" in given else f"{path}.per",
            "give burst + per_second, or the older count + per, not both",
            path,
        )
    elif "per" in given and "count" not in given:
        err(f"{path}.per", "goes with count; better: burst (at once) + per_second", path)
    elif "count" in given:
        limit = cfg.commands.rate_limit
        if limit.count and limit.per is not None and limit.per.total_seconds() <= 0:
            err(f"{path}.per", "expected more than 0s with a count above 0", path)
