"""`omnicat check-server`: is this Rocket.Chat server set up for Omnicat's livechat intake?

Logs in as the bot (the same `server` settings as `omnicat run`) and reads, without changing
anything, what the README's livechat section asks an admin to set: the bot's roles, the routing
settings, the permission grants and the bot's departments. One line per check:

    OK       Livechat_assign_new_conversation_to_bot is on
    MISSING  add-user-to-joined-room is not granted to the bot — fix: Administration > …
    UNKNOWN  Livechat_agent_leave_action: could not read (needs view-privileged-setting) — …

Settings are read the way Rocket.Chat's validators allow: the public ones with
`GET settings.public?_id=A,B` (any caller; `GET settings` takes no `_id` and answers 400), the
others one by one with `GET settings/:_id`, which needs `view-privileged-setting`; a refusal there
is reported UNKNOWN with that reason, never as a crash. Permissions
come from `permissions.listAll` (any logged-in user), departments from `livechat/department` and
`livechat/agents/:id/departments` (`view-l-room`). See research `livechat-intake.md` §1, §6, §7.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.chat.errors import NotAllowed, RocketChatError

OK, MISSING, UNKNOWN, WARN = "OK", "MISSING", "UNKNOWN", "WARN"

ROUTING = "Administration > Omnichannel > Routing"
SESSIONS = "Administration > Omnichannel > Sessions"
PERMISSIONS = "Administration > Workspace > Permissions"


@dataclass(frozen=True)
class Check:
    status: str  # OK | MISSING | UNKNOWN | WARN
    text: str
    fix: str = ""
    required: bool = True

    def line(self) -> str:
        tail = f" — fix: {self.fix}" if self.fix and self.status != OK else ""
        return f"{self.status:<8} {self.text}{tail}"


# setting id -> (wanted value, where an admin sets it, required)
SETTINGS: dict[str, tuple[Any, str, bool]] = {
    "Livechat_enabled": (True, "Administration > Omnichannel > Omnichannel enabled: on", True),
    "Livechat_assign_new_conversation_to_bot": (
        True,
        f'{ROUTING} > "Assign new conversations to bot agent": on',
        True,
    ),
    "Livechat_Routing_Method": (
        "Auto_Selection",
        f"{ROUTING} > Routing method: Auto Selection (Manual Selection works too)",
        True,
    ),
    "Livechat_agent_leave_action": (
        "none",
        f'{SESSIONS} > "How to handle open sessions when agent goes offline": None',
        True,
    ),
    "Livechat_enable_business_hours": (
        False,
        "Administration > Omnichannel > Business Hours: off, or make them cover the bot "
        "(closing hours set every agent, the bot too, not-available)",
        False,
    ),
    "Message_AllowUnrecognizedSlashCommand": (
        True,
        'Administration > Workspace > Settings > Message > "Allow unrecognized slash commands": '
        "on (or use another prefix in commands.prefixes)",
        True,
    ),
}

# permission -> (why the bot needs it, required)
GRANTS: dict[str, tuple[str, bool]] = {
    "view-l-room": ("to see livechat rooms and set itself available", True),
    "add-user-to-joined-room": ("to bring the agent who runs /take into the room", True),
    "transfer-livechat-guest": ("for /forward and /requeue (livechat/room.forward)", True),
    "close-livechat-room": ("for /close (livechat/room.closeByUser)", True),
    "view-livechat-rooms": (
        "optional: to keep reading a room after forwarding it to a human, and a closed "
        "room's satisfaction survey (livechat CSAT)",
        False,
    ),
    "close-others-livechat-room": (
        "recommended: to close a livechat room a human serves (the bot forwards it on /take)",
        False,
    ),
    "delete-message": (
        "recommended: to delete a command an agent typed in a room the customer reads "
        "(its answer goes to the agent's console)",
        False,
    ),
}


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return repr(value) if isinstance(value, str) else str(value)


class ServerCheck:
    """Runs every check through a `RestClient`-like object (`get(method, **params)`, `me()`)."""

    def __init__(
        self, rest: Any, *, prefixes: Sequence[str] = ("/",), departments: Iterable[str] = ()
    ) -> None:
        self.rest = rest
        self.prefixes = list(prefixes)
        self.departments = [str(d) for d in departments]

    def run(self) -> list[Check]:
        try:
            me = self.rest.login()
        except RocketChatError as exc:
            return [Check(MISSING, f"log in as the bot: {exc.reason}", "check the server section")]
        checks = [Check(OK, f"logged in as @{me.username}")]
        roles = set(me.roles)
        checks += self._roles(roles)
        checks += self._settings()
        checks += self._grants(roles)
        checks += self._departments(me.id)
        return checks

    # ---- roles -------------------------------------------------------------------------------

    def _roles(self, roles: set[str]) -> list[Check]:
        fix = "Administration > Workspace > Users > the bot > Roles"
        out = []
        for role, why in (
            ("bot", "Rocket.Chat routes new livechat rooms only to a user with bot"),
            ("livechat-agent", "and livechat-agent"),
        ):
            if role in roles:
                out.append(Check(OK, f"the bot has the role {role}"))
            else:
                out.append(
                    Check(MISSING, f"the bot lacks the role {role} ({why})", f"{fix}: add {role}")
                )
        if "livechat-manager" in roles:
            out.append(Check(OK, "the bot has the role livechat-manager", required=False))
        else:
            out.append(
                Check(
                    WARN,
                    "the bot is not livechat-manager (optional: it covers the grants below and "
                    "keeps the bot's view of rooms it forwarded)",
                    f"{fix}: add livechat-manager, or make the grants below",
                    required=False,
                )
            )
        return out

    # ---- settings ----------------------------------------------------------------------------

    def _read_settings(self, ids: list[str]) -> tuple[dict[str, Any], dict[str, str]]:
        """(what the bot may read, why it could not read each other one)."""
        values: dict[str, Any] = {}
        unread: dict[str, str] = {}
        try:
            answer = self.rest.get("settings.public", _id=",".join(ids), count=len(ids))
            for s in answer.get("settings") or []:
                if isinstance(s, dict) and s.get("_id") in ids:
                    values[s["_id"]] = s.get("value")
        except RocketChatError:
            pass
        for sid in ids:
            if sid in values:
                continue
            # Not public: only `settings/:_id` shows it, to a holder of view-privileged-setting.
            try:
                answer = self.rest.get(f"settings/{sid}")
            except NotAllowed:
                unread[sid] = "the bot may not read it: a privileged setting needs "
                unread[sid] += "view-privileged-setting"
                continue
            except RocketChatError as exc:
                unread[sid] = f"could not read it ({exc.reason})"
                continue
            if "value" in answer:
                values[sid] = answer["value"]
            else:
                unread[sid] = "could not read it (no value in the answer)"
        return values, unread

    def _settings(self) -> list[Check]:
        wanted = dict(SETTINGS)
        if "/" not in self.prefixes:
            wanted.pop("Message_AllowUnrecognizedSlashCommand")
        values, unread = self._read_settings(list(wanted))
        out = []
        for sid, (want, fix, required) in wanted.items():
            if sid not in values:
                out.append(
                    Check(
                        UNKNOWN,
                        f"{sid}: {unread.get(sid, 'could not read it')}; check it by hand, or "
                        "grant view-privileged-setting to the bot while you run this",
                        fix,
                        required=False,
                    )
                )
                continue
            value = values[sid]
            good = (
                value in ("Auto_Selection", "Manual_Selection")
                if sid == ("Livechat_Routing_Method")
                else value == want
            )
            status = OK if good else (MISSING if required else WARN)
            out.append(Check(status, f"{sid} is {_shown(value)}", fix, required=required))
        if "/" not in self.prefixes:
            out.append(
                Check(
                    OK,
                    "Message_AllowUnrecognizedSlashCommand: not needed (commands.prefixes "
                    f"{self.prefixes})",
                    required=False,
                )
            )
        return out

    # ---- permissions -------------------------------------------------------------------------

    def _grants(self, roles: set[str]) -> list[Check]:
        try:
            answer = self.rest.get("permissions.listAll")
        except RocketChatError as exc:
            return [
                Check(
                    UNKNOWN,
                    f"permissions: could not read permissions.listAll ({exc.reason})",
                    PERMISSIONS,
                    required=False,
                )
            ]
        table = {
            p["_id"]: set(p.get("roles") or [])
            for p in answer.get("update") or []
            if isinstance(p, dict) and isinstance(p.get("_id"), str)
        }
        out = []
        for perm, (why, required) in GRANTS.items():
            holders = table.get(perm, set()) & roles
            if holders:
                via = ", ".join(sorted(holders))
                out.append(
                    Check(OK, f"{perm} is granted to the bot (via {via})", required=required)
                )
                continue
            fix = f"{PERMISSIONS} > {perm}: tick the bot role"
            if perm == "transfer-livechat-guest":
                fix += " (or give the bot the livechat-manager role)"
            out.append(
                Check(
                    MISSING if required else WARN,
                    f"{perm} is not granted to any of the bot's roles ({why})",
                    fix,
                    required=required,
                )
            )
        return out

    # ---- departments -------------------------------------------------------------------------

    def _departments(self, bot_id: str) -> list[Check]:
        try:
            listed = self.rest.get("livechat/department", count=100).get("departments") or []
            mine = self.rest.get(f"livechat/agents/{bot_id}/departments").get("departments") or []
        except NotAllowed:
            return [
                Check(
                    UNKNOWN,
                    "departments: could not read (needs view-l-room or view-livechat-departments)",
                    "Administration > Omnichannel > Departments: add the bot as an agent of each",
                    required=False,
                )
            ]
        except RocketChatError as exc:
            return [Check(UNKNOWN, f"departments: could not read ({exc.reason})", required=False)]
        names = {d["_id"]: d.get("name", d["_id"]) for d in listed if isinstance(d, dict)}
        member = {d.get("departmentId") for d in mine if isinstance(d, dict)}
        fix = "Administration > Omnichannel > Departments > {name} > Agents: add the bot"
        out = []
        for key in self.departments:
            dep_id = key if key in names else next((i for i, n in names.items() if n == key), None)
            if dep_id is None:
                out.append(
                    Check(
                        MISSING,
                        f"department {key!r} (intake.livechat.departments) does not exist",
                        "fix the key: a Rocket.Chat department id or name",
                    )
                )
            elif dep_id in member:
                out.append(Check(OK, f"the bot is an agent of department {names[dep_id]!r}"))
            else:
                out.append(
                    Check(
                        MISSING,
                        f"the bot is not an agent of department {names[dep_id]!r}: its chats "
                        "go to its human agents, not to Omnicat",
                        fix.format(name=names[dep_id]),
                    )
                )
        mapped = {k for k in self.departments} | {
            i for i, n in names.items() if n in self.departments
        }
        for dep_id, name in names.items():
            if dep_id in mapped:
                continue
            if dep_id in member:
                out.append(Check(OK, f"the bot is an agent of department {name!r}", required=False))
            else:
                out.append(
                    Check(
                        WARN,
                        f"the bot is not an agent of department {name!r}: its chats go to "
                        "its human agents, not to Omnicat",
                        fix.format(name=name),
                        required=False,
                    )
                )
        if not names:
            out.append(Check(OK, "no departments on the server", required=False))
        return out


def report(checks: list[Check]) -> tuple[str, int]:
    """The text to print and the exit status: 1 when a required check is MISSING."""
    failed = [c for c in checks if c.required and c.status == MISSING]
    lines = [c.line() for c in checks]
    if failed:
        lines.append(f"{len(failed)} required item{'s' if len(failed) != 1 else ''} missing")
    else:
        lines.append("The server is ready for Omnicat's livechat intake.")
    return "\n".join(lines) + "\n", 1 if failed else 0


def livechat_departments(config: Any) -> list[str]:
    """The Rocket.Chat departments the config maps (`intake.livechat.departments`), if any."""
    livechat = getattr(getattr(config, "intake", None), "livechat", None)
    mapping = getattr(livechat, "departments", None) or {}
    try:
        return [str(k) for k in dict(mapping)]
    except (TypeError, ValueError):
        return []


def check_server(config: Any) -> tuple[str, int]:
    """Build the bot's REST client from `config.server` (as `omnicat run` does) and check."""
    from bot.rocketchat.rest import RestClient

    server = config.server
    rest = RestClient(
        server.url,
        username=getattr(server, "username", None) or None,
        password=getattr(server, "password", None) or None,
        user_id=getattr(server, "user_id", None) or None,
        token=getattr(server, "token", None) or None,
        max_attempts=2,
        max_wait=5.0,
    )
    prefixes = getattr(getattr(config, "commands", None), "prefixes", ("/",))
    checks = ServerCheck(rest, prefixes=prefixes, departments=livechat_departments(config)).run()
    return report(checks)
