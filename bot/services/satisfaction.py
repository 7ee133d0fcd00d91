"""Satisfaction (CSAT, issue 19): after a close the contact may rate the chat 1 to 5 with an
optional comment.

The ask is a close subscriber (`Transitions.on_closed`), so the reconciler's re-run after a crash
asks at most once (the row is the record). It goes to the contact's DM with the bot, with 1..5
buttons (message attachment actions, like *Take it*) and the typed form in its text, because
not every client shows buttons.

The answer is a DM line `4` or `4 great help` (also `4/5 …`) from a contact with an unanswered
ask younger than `csat.window`; the DM intake offers every contact line here first.

Livechat is Rocket.Chat's way: a visitor cannot write once the room is closed (`livechat/message`
answers `room-closed`), so the widget's survey (`POST livechat/room.survey`, allowed on a closed
room) stores the answers as the room's `surveyFeedback`, and Rocket.Chat tells nobody. So the
close records the ask and arms a `csat_survey` timer (durable, like the other timers); each
ring reads the room once: a `satisfaction` of 1..5 (with `additionalFeedback` as the comment)
is stored like a typed rating, else the next read is armed, sooner while the close is recent,
until `csat.window` has passed. A survey sent before the close is read at the first ring.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from bot.chat.errors import RocketChatError
from bot.chat.types import Action, Attachment, Message
from bot.config.schema import Config
from bot.domain import Conversation
from bot.services.posting import Posting
from bot.store.ratings import Rating, RatingRepo

log = logging.getLogger("omnicat.satisfaction")

LIVECHAT = "livechat"
#: the longest gap between two reads of a closed livechat room's survey
SURVEY_POLL_MAX = timedelta(hours=1)
#: `4`, `4/5`, `4 great help`, `4 - great help`, `4: thanks!`; the comment is optional
_ANSWER = re.compile(r"\s*([1-5])(?:\s*/\s*5)?(?:(?:\s*[-:,.!]\s*|\s+)(.*?))?\s*", re.S)
MAX_COMMENT = 1000


def parse_rating(text: str) -> tuple[int, str | None] | None:
    """(rating, comment) from a typed answer, or None when the line is not one."""
    match = _ANSWER.fullmatch(text or "")
    if match is None:
        return None
    comment = (match.group(2) or "").strip()[:MAX_COMMENT]
    return int(match.group(1)), comment or None


def survey_rating(feedback: dict[str, str]) -> tuple[int, str | None] | None:
    """(rating, comment) from a livechat room's `surveyFeedback`: its `satisfaction` (1..5,
    the survey's values) and `additionalFeedback`; None without a satisfaction answer (the
    agent items, `agentKnowledge` and the like, are not the chat's rating)."""
    value = feedback.get("satisfaction", "")
    if value not in ("1", "2", "3", "4", "5"):
        return None
    comment = (feedback.get("additionalFeedback") or "").strip()[:MAX_COMMENT]
    return int(value), comment or None


def stars(rating: int) -> str:
    return "★" * rating + "☆" * (5 - rating)


class Satisfaction:
    def __init__(
        self,
        *,
        config: Config,
        ratings: RatingRepo,
        posting: Posting,
        repo: object,
        clock: Callable[[], datetime],
        transitions: Any = None,
    ) -> None:
        #: `Transitions`: the question waits for the end of the close (after "closed")
        self.transitions = transitions
        self.config = config
        self.ratings = ratings
        self.posting = posting
        self.repo = repo
        self.clock = clock
        #: `(number, at)`: arm the `csat_survey` timer (`TimerService.survey_at`); None
        #: without timers (the survey is then read only by `read_survey`)
        self.schedule_survey: Callable[[int, datetime], None] | None = None

    # --- the ask ------------------------------------------------------------------------------
    def wanted(self, conv: Conversation) -> bool:
        return self.config.csat_for(conv.department)

    def on_closed(self, conv: Conversation, closed_by: str) -> None:
        """Close subscriber: ask the contact once, in their DM with the bot."""
        if not self.wanted(conv):
            return
        if conv.source == LIVECHAT:
            self._await_survey(conv)
            return
        if not self.ratings.ask(conv.number, conv.contact_username, self.clock()):
            return  # asked before (the reconciler re-ran the close subscribers)
        if self.transitions is not None:
            self.transitions.later(self._ask, conv)
        else:
            self._ask(conv)

    def _ask(self, conv: Conversation) -> None:
        text = self.config.messages.customer.csat_prompt.format(number=conv.number)
        buttons = Attachment(
            actions=tuple(Action(text=f"{n} {stars(n)}", msg=str(n)) for n in range(5, 0, -1))
        )
        self.posting.dm(conv.contact_username, text, attachments=(buttons,))

    def _await_survey(self, conv: Conversation) -> None:
        """Livechat: the visitor answers the widget's survey; record the ask and arm the
        first read. Armed again on the reconciler's re-run (the same job id: nothing doubles)
        unless the rating is in."""
        now = self.clock()
        self.ratings.ask(conv.number, conv.contact_username, now)
        asked = self.ratings.get(conv.number)
        if asked is None or asked.rating is not None or self.schedule_survey is None:
            return
        self.schedule_survey(conv.number, now + self._poll_floor())

    def _poll_floor(self) -> timedelta:
        return max(self.config.csat.survey_poll, timedelta(seconds=1))

    def read_survey(self, number: int, now: datetime) -> tuple[str, datetime | None]:
        """Read #number's livechat survey once: (outcome, when to read again or None).
        `rated` (stored and the agent told), `waiting`, `expired` (the window passed),
        `moot` (not asked, already rated, or gone)."""
        asked = self.ratings.get(number)
        conv = self.repo.get(number)  # type: ignore[attr-defined]
        if asked is None or asked.rating is not None or conv is None or not conv.rid:
            return "moot", None
        try:
            room = self.posting.directory.chat.livechat_room(conv.rid)
        except RocketChatError:
            log.warning("csat: cannot read the survey of #%s", number, exc_info=True)
            room = None
        answer = survey_rating(dict(room.survey_feedback)) if room is not None else None
        if answer is not None:
            rating, comment = answer
            if not self.ratings.rate(number, rating, comment, now):
                return "moot", None
            self._tell_agent(number, rating, comment)
            return "rated", None
        age = now - asked.asked_at
        if age >= self.config.csat.window:
            return "expired", None
        gap = min(max(age / 4, self._poll_floor()), SURVEY_POLL_MAX)
        return "waiting", min(now + gap, asked.asked_at + self.config.csat.window)

    # --- the answer ---------------------------------------------------------------------------
    def on_contact_line(self, message: Message) -> bool:
        """A contact's DM line: True when it was a rating (stored and thanked)."""
        answer = parse_rating(message.text)
        if answer is None:
            return False
        now = self.clock()
        pending = self.ratings.pending(message.author.username, now - self.config.csat.window)
        if pending is None:
            return False
        rating, comment = answer
        if not self.ratings.rate(pending.conversation, rating, comment, now):
            return False
        thanks = self.config.messages.customer.csat_thanks.format(
            number=pending.conversation, rating=rating
        )
        self.posting.dm(message.author.username, thanks)
        self._tell_agent(pending.conversation, rating, comment)
        return True

    def _tell_agent(self, number: int, rating: int, comment: str | None) -> None:
        conv = self.repo.get(number)  # type: ignore[attr-defined]
        if conv is None or not conv.agent:
            return
        said = f": {comment}" if comment else "."
        self.posting.tell_agents(
            conv, f"@{conv.contact_username} rated #{number} {rating}/5 {stars(rating)}{said}"
        )

    def rating_of(self, number: int) -> Rating | None:
        return self.ratings.get(number)
