"""The configuration schema: frozen dataclasses, one per YAML section.

The loader in `bot/config/load.py` derives validation from these type hints, so a key exists in
exactly one place: here (and documented in `config/omnicat.yaml`). Field metadata carries what
type hints cannot say: the YAML key when it differs (`from`), lower bounds and extra checks.
"""

# ruff: noqa: RUF009  (`opt` returns a dataclasses.field, which ruff cannot see)
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from types import MappingProxyType
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

Routing = Literal["manual", "auto", "load_balancing", "load_rotation"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


def opt(default: Any = None, *, key: str | None = None, min: int | None = None, check: str = ""):
    """A field with schema metadata; `check` names an extra validator in `bot.config.load`."""
    meta = {"key": key, "min": min, "check": check}
    if isinstance(default, list | dict) or callable(default):
        factory = default if callable(default) else (lambda d=default: _freeze(d))
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def _freeze(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(value)
    if isinstance(value, dict):
        return MappingProxyType(dict(value))
    return value


def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True)
class Server:
    url: str = opt("http://127.0.0.1:3000", check="http_url")
    username: str | None = None
    password: str | None = None
    user_id: str | None = None
    token: str | None = None


@dataclass(frozen=True)
class StoreConfig:
    url: str = "sqlite:///omnicat.db"
    # The database password apart from the URL, any characters (`@`, `:`, `/` too): the loader
    # puts it into `url` escaped. Empty = the URL's own (or none).
    password: str | None = None


@dataclass(frozen=True)
class Ha:
    """High availability (issue 11): instances on one PostgreSQL, one active by lease."""

    enabled: bool = False
    lease_ttl: timedelta = timedelta(seconds=6)  # a dead active instance is replaced after this
    heartbeat: timedelta = timedelta(seconds=2)  # the active instance renews this often
    instance: str | None = None  # a name for /healthz and the logs; default host:pid:random


@dataclass(frozen=True)
class RateLimit:
    """A token bucket per user (`bot.dispatch.ratelimit`); `count`/`per` is the older spelling
    (a window), still read: `settings_of` turns it into the same-sized bucket."""

    burst: int = opt(20, min=0)  # commands a user may send at once; 0 = unlimited
    per_second: float = opt(2.0, check="positive")  # then this many per second, sustained
    count: int | None = opt(None, min=0)  # older: at most `count` per `per`; 0 = unlimited
    per: timedelta | None = None


@dataclass(frozen=True)
class Commands:
    prefixes: tuple[str, ...] = opt(["/"], check="prefixes")
    rate_limit: RateLimit = opt(RateLimit)
    #: a command typed in a room a customer reads: `run` it (answer in the console, delete the
    #: command where allowed) or `refuse` it (the refusal in the console)
    in_customer_rooms: Literal["run", "refuse"] = "run"


@dataclass(frozen=True)
class Log:
    level: LogLevel = "INFO"
    format: Literal["text", "json"] = "text"


@dataclass(frozen=True)
class Http:
    listen: str | None = opt(None, check="listen")

    @property
    def address(self) -> tuple[str, int] | None:
        if not self.listen:
            return None
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)


@dataclass(frozen=True)
class AbandonedTimer:
    after: timedelta = timedelta(0)  # 0 = off
    action: Literal["close", "hold", "none"] = "close"
    comment: str = "Closed automatically: the contact did not reply."


@dataclass(frozen=True)
class QueueMaxWaitTimer:
    after: timedelta = timedelta(0)
    action: Literal["close", "alert", "none"] = "alert"
    message: str = "Sorry, no agent could take your conversation in time. Please write again later."


@dataclass(frozen=True)
class UnansweredTransferTimer:
    after: timedelta = timedelta(0)


@dataclass(frozen=True)
class AgentOfflineTimer:
    after: timedelta = timedelta(0)
    action: Literal["none", "forward", "close"] = "none"


@dataclass(frozen=True)
class Timers:
    on_hold_auto_close: timedelta = timedelta(hours=1)
    on_hold_close_comment: str = "Closed automatically after being on hold."
    abandoned: AbandonedTimer = opt(AbandonedTimer)
    queue_max_wait: QueueMaxWaitTimer = opt(QueueMaxWaitTimer)
    unanswered_transfer: UnansweredTransferTimer = opt(UnansweredTransferTimer)
    agent_offline: AgentOfflineTimer = opt(AgentOfflineTimer)
    supervisor_room: str | None = None


@dataclass(frozen=True)
class AbandonedOverride:
    after: timedelta | None = None
    action: Literal["close", "hold", "none"] | None = None
    comment: str | None = None


@dataclass(frozen=True)
class QueueMaxWaitOverride:
    after: timedelta | None = None
    action: Literal["close", "alert", "none"] | None = None
    message: str | None = None


@dataclass(frozen=True)
class UnansweredTransferOverride:
    after: timedelta | None = None


@dataclass(frozen=True)
class DepartmentTimers:
    """Per-department timer overrides; an unset key inherits from the global `timers`."""

    on_hold_auto_close: timedelta | None = None
    on_hold_close_comment: str | None = None
    abandoned: AbandonedOverride = opt(AbandonedOverride)
    queue_max_wait: QueueMaxWaitOverride = opt(QueueMaxWaitOverride)
    unanswered_transfer: UnansweredTransferOverride = opt(UnansweredTransferOverride)


@dataclass(frozen=True)
class Department:
    agents: tuple[str, ...] = ()
    routing: Routing = "manual"
    max_chats: int = opt(0, min=0)  # 0 = no department limit
    closing_tags: tuple[str, ...] = ()
    require_tags: bool = False
    forward_to: tuple[str, ...] = ()  # empty = any department
    fallback: str | None = None
    offer_to_contacts: bool = True
    hide_when_offline: bool = False
    waiting_message: str = (
        "All our agents are busy right now. You are number {position} in the queue."
    )
    timers: DepartmentTimers = opt(DepartmentTimers)
    # Supervisors (issue 19): who sees this department in /monitor and /report without being
    # routed its chats, and the room for its daily digest (else timers.supervisor_room).
    monitors: tuple[str, ...] = ()
    supervisor_room: str | None = None
    # Issue 19: the default SLA policy of this department's chats (an `sla.policies` name), and
    # whether its contacts are asked to rate a closed chat (unset = `csat.enabled`).
    sla: str | None = None
    csat: bool | None = None


@dataclass(frozen=True)
class Agent:
    max_chats: int = opt(0, min=0)  # 0 = use routing.max_chats_per_agent


@dataclass(frozen=True)
class RoutingConfig:
    max_chats_per_agent: int = opt(0, min=0)  # 0 = unlimited
    # Omnichannel_sorting_mechanism: timestamp (arrival), priority (then SLA due, then
    # arrival) or sla (SLA due, then priority, then arrival)
    sorting: Literal["timestamp", "priority", "sla"] = "priority"


@dataclass(frozen=True)
class DmIntake:
    enabled: bool = True
    department: str | None = None
    sla: str | None = None  # default SLA policy of this intake's chats (before the department's)


@dataclass(frozen=True)
class ChannelIntake:
    room: str = opt(check="required")
    department: str | None = None


@dataclass(frozen=True)
class LivechatIntake:
    """Rocket.Chat's own omnichannel rooms (`t: 'l'`), the bot being their bot agent."""

    enabled: bool = False
    #: Rocket.Chat department id or name → Omnicat department
    departments: Mapping[str, str] = opt(_empty)
    #: for a room with no department, or one the map does not name (unset = public queue)
    department: str | None = None
    #: set the bot `available` (`livechat/agent.status`) at every (re)connect
    set_available: bool = True
    sla: str | None = None


@dataclass(frozen=True)
class Intake:
    dm: DmIntake = opt(DmIntake)
    channels: tuple[ChannelIntake, ...] = ()
    livechat: LivechatIntake = opt(LivechatIntake)
    room_name: str = opt("omni-{number}-{contact}", check="room_name")


@dataclass(frozen=True)
class Close:
    require_comment: bool = True
    # Rocket.Chat's Omnichannel_allow_visitors_to_close_conversation: the contact may /close.
    allow_contacts: bool = True


@dataclass(frozen=True)
class Hold:
    enabled: bool = True
    # Rocket.Chat's "on hold only after the agent engaged": refuse while the contact wrote last.
    require_agent_reply: bool = True


@dataclass(frozen=True)
class Fonts:
    paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class Email:
    host: str | None = None  # unset = e-mail transcripts off
    port: int = opt(587, min=1)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    password: str | None = None
    from_: str | None = opt(None, key="from")
    subject: str = "Transcript of #{number} with {contact}"


@dataclass(frozen=True)
class Transcripts:
    timezone: str = opt("UTC", check="timezone")
    system_messages_italic: bool = True
    fonts: Fonts = opt(Fonts)
    email: Email = opt(Email)


@dataclass(frozen=True)
class Canned:
    shortcut: str = opt(check="shortcut")
    text: str = opt(check="required")
    scope: str = opt("global", check="scope")  # global | department:<name>


@dataclass(frozen=True)
class ContactField:
    label: str | None = None
    regex: str | None = opt(None, check="regex")


@dataclass(frozen=True)
class Contacts:
    fields: Mapping[str, ContactField] = opt(_empty)


@dataclass(frozen=True)
class Calls:
    provider: Literal["jitsi", "template"] | None = None  # unset = /call explains what to set
    base_url: str = opt("https://meet.jit.si", check="http_url")
    url_template: str | None = None


@dataclass(frozen=True)
class Reports:
    """`/monitor`, `/report` and the daily digest (issue 19)."""

    # the reader's zone when the server gives no utcOffset; the digest's zone
    timezone: str = opt("UTC", check="timezone")
    digest_at: str | None = opt(None, check="clock_time")  # "08:00"; unset = no digest
    monitor_hours: int = opt(6, min=1)  # how far back /monitor's chart goes


@dataclass(frozen=True)
class SlaPolicyConfig:
    """Rocket.Chat's SLA policy: {name (the key), description, dueTimeInMinutes}."""

    due_minutes: int = opt(None, min=1, check="required")
    description: str = ""


@dataclass(frozen=True)
class Sla:
    policies: Mapping[str, SlaPolicyConfig] = opt(_empty)
    # the serving agent is warned this long before a first response is due; 0 = no warning
    warn_before: timedelta = timedelta(minutes=5)


@dataclass(frozen=True)
class Csat:
    """Satisfaction ratings after a close (issue 19); per department with `departments.*.csat`."""

    enabled: bool = False  # the default for chats of departments that do not say
    window: timedelta = timedelta(hours=24)  # how long after the ask a typed `1`..`5` counts
    # livechat (the widget's survey): the first read of the closed room's `surveyFeedback`
    # after the close, and the shortest time between two reads
    survey_poll: timedelta = timedelta(minutes=1)


@dataclass(frozen=True)
class CustomerMessages:
    """The customer-facing catalogue: the only texts the bot posts where a customer reads
    (DESIGN "Two audiences"). Placeholders in braces; unknown ones are left as typed."""

    #: the case room's first line (dm and channel intakes): the contact's question, quoted
    opened: str = "Conversation #{number}. You wrote:\n{question}"
    received: str = (
        "Thanks! You are number {position} in the queue; an agent will be with you soon."
    )
    agent_joined: str = "{agent_name} is now helping you."
    transferred: str = "You are being transferred to another agent. Please stay with us."
    on_hold: str = "Your conversation is on hold; we will be back with you shortly."
    resumed: str = "{agent_name} is back with you."
    closed: str = "Your conversation #{number} is closed. Write to me again any time."
    transcript_sent: str = "A transcript of this conversation was e-mailed to {email}."
    # satisfaction (issue 19): asked after a close where `csat` is on
    csat_prompt: str = (
        "How did we do on conversation #{number}? Reply with a number from 1 (poor) to "
        "5 (excellent), optionally followed by a comment, e.g. `5 quick and friendly`."
    )
    csat_thanks: str = "Thank you for rating conversation #{number}: {rating}/5."


@dataclass(frozen=True)
class Messages:
    customer: CustomerMessages = opt(CustomerMessages)


@dataclass(frozen=True)
class PermissionOverrides:
    """The YAML `permissions:` section; the table itself is `bot.domain.permissions.Permissions`."""

    overrides: Mapping[str, tuple[str, ...]] = opt(_empty)


@dataclass(frozen=True)
class Config:
    server: Server = opt(Server)
    store: StoreConfig = opt(StoreConfig)
    ha: Ha = opt(Ha)
    commands: Commands = opt(Commands)
    log: Log = opt(Log)
    http: Http = opt(Http)
    site_name: str = "Omnicat"
    departments: Mapping[str, Department] = opt(_empty)
    agents: Mapping[str, Agent] = opt(_empty)
    routing: RoutingConfig = opt(RoutingConfig)
    intake: Intake = opt(Intake)
    close: Close = opt(Close)
    hold: Hold = opt(Hold)
    transcripts: Transcripts = opt(Transcripts)
    canned: tuple[Canned, ...] = ()
    contacts: Contacts = opt(Contacts)
    calls: Calls = opt(Calls)
    timers: Timers = opt(Timers)
    reports: Reports = opt(Reports)
    sla: Sla = opt(Sla)
    csat: Csat = opt(Csat)
    messages: Messages = opt(Messages)
    permissions: PermissionOverrides = opt(PermissionOverrides)
    # Where this config came from (not a YAML key).
    source: str = field(default="<defaults>", compare=False, metadata={"internal": True})

    @classmethod
    def defaults(cls) -> Config:
        """Embedded defaults (no server credentials): the base of `omnicat demo`."""
        return cls()

    def secrets(self) -> list[str]:
        """Values the log must never show. The store URL's password in both its forms: as
        escaped into the URL (`p%40ss`: how a logged URL or driver error shows it) and plain
        (`p@ss`), whether it was written in `store.url` or given as `store.password`."""
        values = [
            self.server.password,
            self.server.token,
            self.transcripts.email.password,
            self.store.password,
            *url_password_forms(self.store.url),
        ]
        return list(dict.fromkeys(v for v in values if v))

    def supervisor_room_for(self, department: str | None) -> str | None:
        """Where a department's alerts and digest go: its own room, else the global one."""
        dept = self.departments.get(department) if department else None
        return (dept.supervisor_room if dept else None) or self.timers.supervisor_room

    def csat_for(self, department: str | None) -> bool:
        dept = self.departments.get(department) if department else None
        return _pick(dept.csat if dept else None, self.csat.enabled)

    def timers_for(self, department: str | None) -> Timers:
        """Global timers with the department's overrides applied."""
        base = self.timers
        dept = self.departments.get(department) if department else None
        if dept is None:
            return base
        over = dept.timers

        def merge(section: Any, override: Any) -> Any:
            changes = {
                k: v for k, v in vars(override).items() if v is not None and hasattr(section, k)
            }
            return replace(section, **changes)

        return replace(
            base,
            on_hold_auto_close=_pick(over.on_hold_auto_close, base.on_hold_auto_close),
            on_hold_close_comment=_pick(over.on_hold_close_comment, base.on_hold_close_comment),
            abandoned=merge(base.abandoned, over.abandoned),
            queue_max_wait=merge(base.queue_max_wait, over.queue_max_wait),
            unanswered_transfer=merge(base.unanswered_transfer, over.unanswered_transfer),
        )


def url_password_forms(url: str) -> list[str]:
    """The password of `url` as written in it (percent-escaped) and decoded; none if it has
    none (or is not a URL)."""
    try:
        written = urlsplit(url).password
    except ValueError:
        return []
    return [written, unquote(written)] if written else []


def _pick(value: Any, default: Any) -> Any:
    return default if value is None else value
