"""The dispatcher: from transport events to handlers, in order per room.

`App` is the listener `RocketChatClient` calls (see docs/internals.md). Its methods return at once;
the work runs on a bounded pool where each room has its own FIFO queue. For every message, in
order:

1. ignore the bot's own messages and system messages nobody uses (`system_types` are kept);
2. de-duplicate by (message id, revision) in the store, so catch-up and re-delivery are harmless
   (the mark is written after the handler ran, with the room's cursor in one transaction:
   at-least-once across crashes, see `_route`);
3. route: a command (rate-limited per user; catch-up replays exempt) → `bot.cmd.run_command`;
   otherwise a conversation room's message → `conversation_handler`; anything else →
   `intake_handler`.

A burst of plain messages in conversation rooms (no command, no edit) is handled as a batch:
stored in one transaction, handlers called in order, marked in one transaction (see
`bot.dispatch.ingest` and `process_many`); the guarantees are the per-message ones.

Edits never run commands. An edit or deletion of a message already seen goes to
`conversation_handler` (the conversation store records it); the first sight of an edited
non-command message (sent and edited while the bot was away) counts as a new message.

Catch-up after (re)connecting: messages that arrive before catch-up is planned are held back, then
each room gets one job, queued ahead of them, that replays `chat.history` since its cursor. On the
very first start (an empty store) nothing old is replayed: "now" becomes every room's cursor and
only messages after it matter.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from bot.chat.port import ChatPort
from bot.chat.types import Message, Subscription
from bot.cmd import Context, Invocation, Registry, UserPermissions, did_you_mean, parse_invocation
from bot.cmd import run_command as _run_command
from bot.cmd.context import utc_now
from bot.cmd.runner import prefixes_of
from bot.dispatch.ingest import prestored
from bot.dispatch.ordering import KeyedSerialExecutor
from bot.dispatch.ratelimit import CommandLimit, describe, settings_of
from bot.dispatch.users import UserCache
from bot.domain.permissions import Permissions

log = logging.getLogger("omnicat.app")

#: system message types the workflow uses: deletions and membership changes
#: `livechat-close`: a visitor (or a person in Rocket.Chat's UI) ended a livechat room
DEFAULT_SYSTEM_TYPES = frozenset({"rm", "uj", "ul", "au", "ru", "ujt", "ult", "livechat-close"})

ROOM_DM, ROOM_CONVERSATION, ROOM_OTHER = "dm", "conversation", "other"

#: how far out of order a message may arrive and still count as new (see `App._is_stale`)
STALE_GRACE = timedelta(minutes=1)
#: processed marks are kept this long behind their room's cursor (see `App.prune_processed`)
PRUNE_MARGIN = timedelta(days=1)
#: kv key: when the last run first connected (catch-up of rooms that have no cursor yet)
RUN_STARTED_KEY = "app.run_started_at"
#: seconds between two prunes of the processed marks (0: never)
PRUNE_EVERY = 600.0


def cursor_ts(ts: datetime) -> datetime:
    """A message time fit to be a room's cursor: never beyond the wall clock.

    One message stamped in the future (a server clock that jumped, a garbage frame) would
    otherwise carry the cursor there, and from then on every real message of the room would
    look stale and be ignored, and catch-up would ask for history after that future time: the
    room would go silent for good. Clamped to "now", not a little later: messages written after
    it (also while the bot is down) are then newer and caught up. A server clock ahead of ours
    only makes catch-up replay a few seconds twice (deduplicated). The wall clock, not
    `App.clock`: tests fake the latter.
    """
    now = datetime.now(UTC)
    return ts if ts <= now else now


def revision_of(message: Message) -> str:
    """The content revision of a message, for de-duplication.

    Not `Message.version`: reactions, pins and read receipts bump `_updatedAt` and re-emit the
    message, and those must not look like a new revision (a reacted-to `/take 3` must not run
    again). Only an edit or a deletion makes a new revision.
    """
    if message.is_deleted:
        return "rm"
    if message.edited_at is not None:
        return f"e{message.edited_at.timestamp():.3f}"
    return "0"


def _check_declared_permissions(registry: Registry, table: Permissions) -> None:
    """A typo in a command's `permission=` would deny it to everyone (or crash): fail at start."""
    known = set(table.names())
    for cmd in registry:
        for permission in cmd.permission:
            if permission not in known:
                close = did_you_mean(permission, sorted(known))
                hint = f" (did you mean {close[0]}?)" if close else ""
                raise ValueError(f"/{cmd.name} declares unknown permission {permission!r}{hint}")


class App:
    def __init__(
        self,
        *,
        store: Any,
        config: Any = None,
        registry: Registry | None = None,
        chat: ChatPort | None = None,
        clock: Callable[[], datetime] = utc_now,
        permissions: Permissions | None = None,
        metrics: Any = None,
        services: Any = None,
        workers: int = 8,
        slow_workers: int = 2,
        system_types: frozenset[str] = DEFAULT_SYSTEM_TYPES,
        user_ttl: float = 300.0,
        monotonic: Callable[[], float] = time.monotonic,
        prune_every: float = PRUNE_EVERY,
        prune_margin: timedelta = PRUNE_MARGIN,
    ) -> None:
        if prune_margin <= STALE_GRACE:
            # a re-emitted message younger than that still counts as new: its mark must stay
            raise ValueError(f"prune_margin must be more than {STALE_GRACE}")
        if registry is None:
            from commands import load_commands

            registry = load_commands()
        self.store = store
        self.config = config
        self.registry = registry
        self.chat: ChatPort | None = chat
        self.clock = clock
        table = permissions if permissions is not None else Permissions.from_config(config)
        _check_declared_permissions(registry, table)
        self.permissions = UserPermissions(table)
        self.metrics = metrics
        self.services = services if services is not None else SimpleNamespace()
        self.system_types = frozenset(system_types)
        self.prefixes = prefixes_of(config)
        rate = getattr(getattr(config, "commands", None), "rate_limit", None)
        burst, per_second = settings_of(rate)
        if getattr(rate, "count", None):
            log.warning(
                "commands.rate_limit: count/per is the older spelling; it means %s "
                "(write burst and per_second instead, see config/omnicat.yaml)",
                describe(burst, per_second),
            )
        self.limit = CommandLimit(
            burst, per_second, deliver=self._deliver_refusals, clock=monotonic
        )
        self.users = UserCache(lambda: self.chat, ttl=user_ttl, clock=monotonic)

        # Hooks the workflow fills in. Each runs on the room's worker, in the room's order.
        self.intake_handler: Callable[[Message, str], None] | None = None
        self.conversation_handler: Callable[[Message, str], None] | None = None
        #: stores plain messages of conversation rooms (metrics included) in one transaction
        #: before `conversation_handler` sees them; returns the notes the handler finds through
        #: `bot.dispatch.ingest.prestored_note` (see that module). None: the handler stores.
        self.store_conversation_messages: (
            Callable[[Sequence[Message]], Mapping[Any, Any]] | None
        ) = None
        self.is_conversation_room: Callable[[str], bool] = lambda rid: False
        #: sets `ctx.conversation` and friends before a command's handler runs
        self.prepare_context: Callable[[Context], None] | None = None
        self.presence_handler: Callable[[str, str, str], None] | None = None
        self.subscription_handler: Callable[[str, Subscription | None, str], None] | None = None
        self.connected_handlers: list[Callable[[bool], None]] = []
        #: run at the end of a clean `stop()` (the store is still open): e.g. "we stopped
        #: cleanly, nothing to repair at the next start"
        self.stopped_handlers: list[Callable[[], None]] = []

        self.rooms = KeyedSerialExecutor(max_workers=workers, name="room")
        self._slow = ThreadPoolExecutor(max_workers=slow_workers, thread_name_prefix="slow")
        self._slow_jobs: set[Future[Any]] = set()
        self._lock = threading.Lock()
        self._live = False  # False: hold messages back until catch-up is planned
        self._generation = 0  # bumped on every (dis)connect: a stale planner must not go live
        self._held: list[Message] = []
        #: set once catch-up is planned and live messages flow (cleared on disconnect)
        self.ready = threading.Event()
        self._room_types: dict[str, str] = {}
        self._cursor_ts: dict[str, datetime] = {}
        self.started_at: datetime | None = None
        #: set on a room worker's thread while it replays history (see `_admit`)
        self._replaying = threading.local()
        self.prune_every, self.prune_margin = prune_every, prune_margin
        self._stopping = threading.Event()
        self._pruner: threading.Thread | None = None

    # --- transport listener ---------------------------------------------------------------
    def on_message(self, message: Message) -> None:
        self._metric_inc("events_received")
        with self._lock:
            if not self._live:
                self._held.append(message)
                return
            if self._is_own(message):
                # Our own messages (every reply comes back on our stream) need no routing
                # (`_route` ignores them first thing): not queueing them spares a room worker a
                # hand-off per reply, between this room's commands.
                return
            # submitted under the lock: the room's FIFO gets messages in arrival order
            self.rooms.submit_batch(message.rid, self.process_many, message)

    def on_connected(self, first: bool) -> None:
        if not first:
            self._metric_inc("reconnects")
        with self._lock:
            self._generation += 1
            generation = self._generation
        # Planning needs REST and the store: off the transport's thread.
        threading.Thread(
            target=self._plan_catch_up, args=(first, generation), name="catch-up", daemon=True
        ).start()

    def on_disconnected(self, reason: str) -> None:
        log.info("disconnected (%s); holding messages until caught up", reason)
        with self._lock:
            self._generation += 1
            self._live = False
            self.ready.clear()

    def on_presence(self, user_id: str, username: str, status: str) -> None:
        if self.presence_handler is not None:
            handler = self.presence_handler
            self.rooms.submit(f"presence:{user_id}", handler, user_id, username, status)

    def on_subscription(self, action: str, subscription: Subscription | None, rid: str) -> None:
        with self._lock:
            if action == "removed":
                self._room_types.pop(rid, None)
            elif subscription is not None:
                self._room_types[rid] = subscription.type
        if self.subscription_handler is not None:
            self.rooms.submit(rid, self.subscription_handler, action, subscription, rid)

    # --- catch-up ---------------------------------------------------------------------------
    def _plan_catch_up(self, first: bool, generation: int) -> None:
        try:
            self.catch_up(first)
        except Exception:
            log.exception("catch-up planning failed; processing live messages only")
        with self._lock:
            if generation != self._generation:
                return  # disconnected (or reconnected) meanwhile: the next planner goes live
            held, self._held = self._held, []
            self._live = True
            # queued under the lock so a newer live message cannot overtake them
            for message in held:
                self.rooms.submit_batch(message.rid, self.process_many, message)
            self._start_pruner()
        self.ready.set()
        for handler in self.connected_handlers:
            try:
                handler(first)
            except Exception:
                log.exception("connected handler failed")

    def catch_up(self, first: bool) -> None:
        """Queue one history replay per room (cursors ∪ subscriptions); see the module doc."""
        now = self.clock()
        if self.started_at is None:
            self.started_at = now
        subscriptions = self._subscriptions()
        with self._lock:
            for sub in subscriptions:
                self._room_types[sub.rid] = sub.type
        cursors = {c.rid: cursor_ts(c.last_ts) for c in self.store.cursors()}
        rids = sorted({s.rid for s in subscriptions} | set(cursors))
        last_run = self._last_run_start(first, now)
        if first and not cursors:
            # First start ever: old history is not ours to answer. Record where we began.
            log.info("empty store: starting fresh at %s, no catch-up", now.isoformat())
            for rid in rids:
                self.store.advance_cursor(rid, now, None)
                self._note_cursor(rid, now)
            return
        for rid, ts in cursors.items():
            self._note_cursor(rid, ts)
        # A room with no cursor was joined while we were away: replay it since we went away,
        # or since the last run began if that is earlier. A run killed while a burst of new
        # rooms (first DMs) waited, with other rooms' cursors already past them, would
        # otherwise leave those first messages unanswered for good (found by the failover test).
        since_away = max(cursors.values(), default=self.started_at)
        uncursored = min(since_away, last_run) if last_run else since_away
        for rid in rids:
            self.rooms.submit(rid, self._catch_up_room, rid, cursors.get(rid, uncursored))
        log.info("catching up %d room(s) (first=%s)", len(rids), first)

    def _last_run_start(self, first: bool, now: datetime) -> datetime | None:
        """When the previous run (first connect) or this one (a reconnect) began; the store
        keeps it (kv `app.run_started_at`) for the next run."""
        if not first:
            return self.started_at
        try:
            raw = self.store.kv_get(RUN_STARTED_KEY)
            self.store.kv_set(RUN_STARTED_KEY, now.isoformat())
            return datetime.fromisoformat(raw) if raw else None
        except Exception:
            log.warning("cannot read or record the run's start", exc_info=True)
            return None

    def _subscriptions(self) -> list[Subscription]:
        if self.chat is None:
            return []
        try:
            return list(self.chat.subscriptions())
        except Exception:
            log.warning("cannot list subscriptions for catch-up", exc_info=True)
            return []

    def _catch_up_room(self, rid: str, oldest: datetime) -> None:
        assert self.chat is not None
        try:
            messages = self.chat.history(rid, oldest=oldest)
        except Exception:
            log.warning("catch-up of %s failed", rid, exc_info=True)
            return
        self._replaying.active = True
        try:
            self.process_many(sorted(messages, key=lambda m: m.ts))
        finally:
            self._replaying.active = False

    # --- the per-message path (runs on the room's worker) -------------------------------------
    def process(self, message: Message) -> str:
        """Handle one message synchronously; returns what happened (for logs and tests)."""
        return self.process_many([message])[0]

    def process_many(self, messages: Sequence[Message]) -> list[str]:
        """Handle messages in order, synchronously; what happened to each.

        Plain messages of conversation rooms (any rooms) are gathered and go through
        `_process_run` together (a few transactions for all of them); any other message first
        finishes those, then goes through `_process_one`: each room's order is kept.
        """
        results: list[str] = []
        run: list[Message] = []
        for message in messages:
            in_conversation = self._in_conversation(message)
            if self._batchable(message, in_conversation):
                run.append(message)
                # what `_process_one` notes after the message: the next one's staleness
                self._note_cursor(message.rid, message.ts)
                continue
            if run:
                results += self._process_run(run)
                run = []
                in_conversation = None  # the run may have changed it: ask again
            results.append(self._process_one(message, in_conversation))
        if run:
            results += self._process_run(run)
        return results

    def _in_conversation(self, message: Message) -> bool | None:
        """Whether the message's room is a conversation room; None when nobody can tell (the
        workflow is not installed, or the bot's own message, which needs no routing).

        Asked once per message (it is a query for a room that is not one). A direct message
        room never is one: conversations live in private groups (or livechat rooms)."""
        if self.conversation_handler is None or self._is_own(message):
            return None
        if message.room_type == "d":
            return False
        return self.is_conversation_room(message.rid)

    def _batchable(self, message: Message, in_conversation: bool | None) -> bool:
        """Whether `_route` would take this message straight to `conversation_handler`: not
        ours, not a system message or an edit, not stale, in a conversation room, no command."""
        if self.conversation_handler is None or message.type is not None or message.is_edit:
            return False
        if not in_conversation or self._is_own(message) or self._is_stale(message):
            return False
        invocation = parse_invocation(message.text, self.prefixes, self.registry, bare=False)
        return invocation is None or self._is_stray_word(invocation, ROOM_CONVERSATION)

    def _process_run(self, run: list[Message]) -> list[str]:
        """Plain messages of conversation rooms, each room's in order (see
        `bot.dispatch.ingest`): de-duplicate with one read, store with one transaction, run
        the handlers, then mark them processed and advance the cursors with one transaction:
        marks after effects, as in `_route`."""
        keys = [(m.id, revision_of(m)) for m in run]
        try:
            done = self._processed_among(keys)
        except Exception:
            log.warning("cannot check %d message(s) as a batch", len(run), exc_info=True)
            return [self._process_one(m) for m in run]
        results: list[str] = []
        fresh: list[tuple[Message, str]] = []
        taken: set[tuple[str, str]] = set()
        for message, key in zip(run, keys, strict=True):
            if key in done or key in taken:
                results.append("duplicate")
                continue
            taken.add(key)
            fresh.append((message, key[1]))
            results.append("conversation")
        notes: Mapping[Any, Any] = {}
        if fresh and self.store_conversation_messages is not None:
            try:
                notes = self.store_conversation_messages([m for m, _ in fresh])
            except Exception:
                # the handlers store them one by one instead
                log.exception("storing %d message(s) as a batch failed", len(fresh))
        handler = self.conversation_handler
        assert handler is not None
        with prestored(notes):
            for index, message in enumerate(run):
                if results[index] == "duplicate":
                    continue
                try:
                    handler(message, ROOM_CONVERSATION)
                except Exception:
                    log.exception("handling message %s in %s failed", message.id, message.rid)
                    results[index] = "error"
        newest: dict[str, Message] = {}  # per room the first of the newest, as one-by-one
        for message in run:
            self._note_cursor(message.rid, message.ts)
            known = newest.get(message.rid)
            if known is None or message.ts > known.ts:
                newest[message.rid] = message
        try:
            self._record_processed(
                [(m.id, rev, m.rid) for m, rev in fresh],
                [(rid, cursor_ts(m.ts), m.id) for rid, m in newest.items()],
            )
        except Exception:
            log.warning("cannot mark %d message(s) processed", len(fresh), exc_info=True)
        if log.isEnabledFor(logging.DEBUG):
            for message, result in zip(run, results, strict=True):
                log.debug("message %s in %s: %s", message.id, message.rid, result)
        return results

    def _processed_among(self, keys: list[tuple[str, str]]) -> set[tuple[str, str]]:
        among = getattr(self.store, "processed_among", None)
        if among is not None:
            return set(among(keys))
        return {key for key in keys if self.store.is_processed(*key)}

    def _record_processed(
        self, marks: list[tuple[str, str, str]], cursors: list[tuple[str, datetime, str]]
    ) -> None:
        record = getattr(self.store, "record_processed", None)
        if record is not None:
            record(marks, cursors)
            return
        for mark in marks:
            self.store.mark_processed(*mark)
        for cursor in cursors:
            self.store.advance_cursor(*cursor)

    def _process_one(self, message: Message, in_conversation: bool | None = None) -> str:
        marks: list[tuple[str, str, str]] = []
        try:
            result = self._route(message, marks, in_conversation)
        except Exception:
            log.exception("handling message %s in %s failed", message.id, message.rid)
            result = "error"
        self._note_cursor(message.rid, message.ts)
        # The bot's own messages move only the cursor in memory: catch-up from the last
        # message we acted on replays our own replies, which are ignored, and a command's
        # reply would otherwise cost a write transaction of its own.
        cursors = [] if result == "own" else [(message.rid, cursor_ts(message.ts), message.id)]
        if marks or cursors:
            try:
                self._record_processed(marks, cursors)  # one transaction for both
            except Exception:
                log.warning(
                    "cannot mark %s in %s processed", message.id, message.rid, exc_info=True
                )
        log.debug("message %s in %s: %s", message.id, message.rid, result)
        return result

    def _route(
        self,
        message: Message,
        marks: list[tuple[str, str, str]],
        in_conversation: bool | None = None,
    ) -> str:
        """Where a message goes; what happened. Its processed mark is appended to `marks` for
        the caller to write after the effects, also when the handler raises.

        After, not before: a crash (kill -9) in between replays the message from history on
        the next start, where marking first would lose it for good (a command never answered,
        a contact's first message never opening a conversation). At-least-once is safe because
        every transition is a compare-and-set: a replay repeats at most a reply. Within one
        process the room's serial queue means no two copies of a message are ever handled at
        once."""
        if self._is_own(message):
            return "own"
        if message.type is not None and message.type not in self.system_types:
            return "system"
        seen_before = self._seen_before(message)
        stale = self._is_stale(message)
        revision = revision_of(message)
        if self.store.is_processed(message.id, revision):
            return "duplicate"
        marks.append((message.id, revision, message.rid))
        return self._handle(
            message, seen_before=seen_before, stale=stale, in_conversation=in_conversation
        )

    def _handle(
        self, message: Message, *, seen_before: bool, stale: bool, in_conversation: bool | None
    ) -> str:
        kind = self.room_kind(message, in_conversation)
        if message.type is not None:  # deletions and membership changes
            return self._to_conversation(message, kind)
        invocation = parse_invocation(
            message.text, self.prefixes, self.registry, bare=kind == ROOM_DM
        )
        if message.is_edit and (seen_before or stale or invocation is not None):
            # an edit never (re)runs a command; the conversation record follows edits
            return "edited-command" if invocation else self._to_conversation(message, kind)
        if stale:
            return "stale"
        if invocation is not None and not self._is_stray_word(invocation, kind):
            result = self._command(message, invocation, kind)
            if result != "command:not_a_command":
                return result
        if kind == ROOM_CONVERSATION:
            return self._to_conversation(message, kind)
        if self.intake_handler is not None:
            self.intake_handler(message, kind)
            return "intake"
        return "ignored"

    def _to_conversation(self, message: Message, kind: str) -> str:
        if kind == ROOM_CONVERSATION and self.conversation_handler is not None:
            self.conversation_handler(message, kind)
            return "conversation"
        return "ignored"

    def _admit(self, message: Message) -> bool:
        """The per-user command rate limit (`bot.dispatch.ratelimit`): a refused command is
        answered with what did not run and when to send it again, at once or in a summary.

        Commands replayed by catch-up are exempt and not counted: they were sent while the bot
        was away, so counting them by when we get to them would see a burst nobody sent now,
        and a refused replay is marked processed, so it would never be answered. The limit is
        there to stop a live flood of replies; a live message is never a replay (it arrives
        through `on_message`, after the room's catch-up job). Only commands come here: a
        contact's messages (and a bare DM word that is no command) never do.
        """
        if getattr(self._replaying, "active", False):
            return True
        who = message.author.id or message.author.username
        verdict = self.limit.admit(who, message.text, (message.rid, message.tmid))
        if verdict.notice is not None and self.chat is not None:
            self._send_notice(message.rid, message.tmid, verdict.notice)
        return verdict.allowed

    def _send_notice(self, rid: str, tmid: str | None, text: str) -> None:
        assert self.chat is not None
        try:
            if tmid:
                self.chat.send(rid, text, tmid=tmid)
            else:
                self.chat.send(rid, text)
        except Exception:
            log.warning("cannot tell %s that commands were refused", rid, exc_info=True)

    def _deliver_refusals(self, rid: str, tmid: str | None, text: str) -> None:
        """A summary of refused commands (from the limit's timer): behind the room's work."""
        if self.chat is None or not self.rooms.submit(rid, self._send_notice, rid, tmid, text):
            log.warning("stopped before telling %s which commands were refused", rid)

    def _command(self, message: Message, invocation: Invocation, kind: str) -> str:
        started = time.perf_counter()
        # A prefixed line counts even when it fails (no reply floods); a bare DM word counts only
        # once it turns out to be a command, so a chatty contact is never rate-limited.
        bare = invocation.prefix == ""
        if not bare and not self._admit(message):
            self._count_command(invocation.word, "rate_limited", None)
            return "command:rate_limited"
        assert self.chat is not None, "App.chat must be set before messages arrive"
        ctx = Context(
            user=self.users.get(message.author),
            rid=message.rid,
            room_kind=kind,
            message=message,
            chat=self.chat,
            store=self.store,
            config=self.config,
            clock=self.clock,
            services=self.services,
            permissions=self.permissions,
            registry=self.registry,
        )
        outcome = _run_command(
            self.registry,
            ctx,
            message.text,
            invocation,
            prepare=self.prepare_context,
            admit=(lambda _ctx: self._admit(message)) if bare else None,
        )
        self._count_command(outcome.command or invocation.word, outcome.status, started)
        return f"command:{outcome.status}"

    def _is_stray_word(self, invocation: Invocation, kind: str) -> bool:
        """An unknown `/word` outside the DM that looks like no command (a contact's `/shrug`):
        text for the conversation, not an "Unknown command" reply in someone's room."""
        if kind == ROOM_DM or invocation.word in self.registry:
            return False
        words = [w for c in self.registry if not c.hidden for w in (c.name, *c.aliases)]
        return not did_you_mean(invocation.word, words)

    # --- rooms and users ----------------------------------------------------------------------
    def room_kind(self, message: Message, in_conversation: bool | None = None) -> str:
        """`dm`, `conversation` or `other`; `in_conversation` when the caller asked already."""
        if in_conversation is None:
            in_conversation = self.is_conversation_room(message.rid)
        if in_conversation:
            return ROOM_CONVERSATION
        with self._lock:
            known = self._room_types.get(message.rid)
            if message.room_type:
                self._room_types[message.rid] = message.room_type
        room_type = message.room_type or known
        if room_type == "d":
            return ROOM_DM
        if room_type is None and self.chat is not None:
            # history messages lack the room type; a 1:1 DM's rid holds both user ids
            bot_id = self.chat.bot_user.id
            if bot_id and bot_id in message.rid and len(message.rid) > len(bot_id):
                return ROOM_DM
        return ROOM_OTHER

    def _is_own(self, message: Message) -> bool:
        if self.chat is None:
            return False
        me = self.chat.bot_user
        if me.id and message.author.id:
            return me.id == message.author.id
        return bool(me.username) and me.username == message.author.username

    def _note_cursor(self, rid: str, ts: datetime) -> None:
        ts = cursor_ts(ts)
        with self._lock:
            known = self._cursor_ts.get(rid)
            if known is None or ts > known:
                self._cursor_ts[rid] = ts

    def _is_stale(self, message: Message) -> bool:
        """A message from well before this room's cursor that we never processed.

        Reactions, pins and thread replies re-emit the parent message unchanged; for a message
        older than our records (before the first start, or pruned) that would look new, and a
        reacted-to `/take 3` from last month must not run. The grace covers messages delivered
        slightly out of order.
        """
        with self._lock:
            cursor = self._cursor_ts.get(message.rid)
        return cursor is not None and message.ts < cursor - STALE_GRACE

    def _seen_before(self, message: Message) -> bool:
        """Whether any revision of this message was processed (edits of unseen messages count
        as new messages)."""
        if message.edited_at is None:
            return False
        is_processed = getattr(self.store, "is_processed", None)
        if is_processed is None:
            return True
        return bool(is_processed(message.id))

    # --- housekeeping ----------------------------------------------------------------------
    def prune_processed(self) -> int:
        """Forget processed marks far behind their room's cursor (`Store.prune_processed`);
        how many. Without it `processed_messages` grows by a row per message forever.

        Safe at any time, also while catch-up replays: catch-up needs the marks since the
        cursor, and a re-emitted message older than the cursor minus `STALE_GRACE` is ignored
        as stale whether marked or not; the margin covers that and clock skew."""
        prune = getattr(self.store, "prune_processed", None)
        if prune is None:
            return 0
        forgotten = int(prune(self.prune_margin))
        if forgotten:
            log.info("forgot %d processed message mark(s)", forgotten)
        return forgotten

    def _start_pruner(self) -> None:
        """Prune now (after catch-up is planned) and every `prune_every` seconds until `stop()`.
        Called under `_lock`: one pruner per App, whatever the reconnects."""
        if self._pruner is not None or self.prune_every <= 0 or self._stopping.is_set():
            return
        self._pruner = threading.Thread(target=self._prune_loop, name="prune", daemon=True)
        self._pruner.start()

    def _prune_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self.prune_processed()
            except Exception:
                log.warning("pruning processed messages failed", exc_info=True)
            if self._stopping.wait(self.prune_every):
                return

    # --- slow jobs and lifecycle ----------------------------------------------------------
    def run_slow(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future[Any]:
        """Run PDF/e-mail work off the event path; failures are logged."""
        future = self._slow.submit(fn, *args, **kwargs)
        with self._lock:
            self._slow_jobs.add(future)
        future.add_done_callback(self._slow_done)
        return future

    def _slow_done(self, future: Future[Any]) -> None:
        with self._lock:
            self._slow_jobs.discard(future)
        if not future.cancelled() and future.exception() is not None:
            log.error("slow job failed", exc_info=future.exception())

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until every queued room job has run (tests, shutdown)."""
        return self.rooms.wait_idle(timeout)

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop taking work, finish in-flight room jobs and slow jobs; False if time ran out."""
        deadline = time.monotonic() + timeout
        self._stopping.set()
        self.limit.close()  # pending refusal summaries go out before the rooms stop
        done = self.rooms.stop(timeout)
        with self._lock:
            jobs = set(self._slow_jobs)
        _, pending = wait_futures(jobs, timeout=max(0.0, deadline - time.monotonic()))
        self._slow.shutdown(wait=not pending, cancel_futures=bool(pending))
        with self._lock:
            pruner = self._pruner
        if pruner is not None:  # a prune in progress finishes before the store closes
            pruner.join(max(0.0, deadline - time.monotonic()))
        for handler in self.stopped_handlers:
            try:
                handler()
            except Exception:
                log.exception("stopped handler failed")
        return done and not pending

    # --- metrics (duck-typed: bot.runtime.metrics.Metrics, or nothing) -----------------------
    def _metric_inc(self, name: str) -> None:
        counter = getattr(self.metrics, name, None)
        if counter is not None:
            try:
                counter.inc()
            except Exception:
                log.debug("metric %s failed", name, exc_info=True)

    def _count_command(self, name: str, outcome: str, started: float | None) -> None:
        if self.metrics is None:
            return
        try:
            self.metrics.commands.labels(command=name, outcome=outcome).inc()
            if started is not None:
                self.metrics.command_latency.observe(time.perf_counter() - started)
        except Exception:
            log.debug("command metrics failed", exc_info=True)
