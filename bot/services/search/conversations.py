"""Searching *conversations* rather than rooms.

A conversation's messages live in its own room, except its opening message, which the contact
wrote in the bot's DM (or an intake channel) and the workflow stores under the conversation's
number. Those shared rooms also hold other conversations' openings, so their hits are kept only
when they belong to the conversations asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.domain import Conversation
from bot.services.search import Hit, Pattern, search
from bot.store.messages import MessageRepo

#: shared rooms only hold openings: a few per contact, so reading them all is cheap
_SHARED_LIMIT = 500


@dataclass(frozen=True, slots=True)
class ConversationHits:
    hits: tuple[tuple[int, Hit], ...]  # (conversation number, hit), newest first
    total: int
    by_conversation: dict[int, int]

    @property
    def more(self) -> int:
        return self.total - len(self.hits)


def search_conversations(
    repo: MessageRepo,
    pattern: Pattern,
    conversations: Sequence[Conversation],
    *,
    author: str | None = None,
    limit: int = 20,
) -> ConversationHits:
    own = {c.rid: c.number for c in conversations if c.rid}
    numbers = {c.number for c in conversations}
    shared = [r for r in repo.rooms_of_conversations(sorted(numbers)) if r not in own]
    main = search(repo, pattern, rids=list(own), author=author, limit=limit)
    found: list[tuple[int, Hit]] = [(own[h.rid], h) for h in main.hits]
    by_conv = {own[rid]: n for rid, n in main.by_room.items()}
    total = main.total
    if shared:
        extra = search(repo, pattern, rids=shared, author=author, limit=_SHARED_LIMIT)
        stored = repo.by_ids([h.msg_id for h in extra.hits])
        for hit in extra.hits:
            number = stored[hit.msg_id].conversation_id if hit.msg_id in stored else None
            if number in numbers:
                assert number is not None
                found.append((number, hit))
                by_conv[number] = by_conv.get(number, 0) + 1
                total += 1
    found.sort(key=lambda item: item[1].ts, reverse=True)
    return ConversationHits(tuple(found[: max(limit, 0)]), total, by_conv)


def last_message(store: Any, number: int) -> tuple[str, str] | None:
    """(author, text) of the conversation's newest live, ordinary message."""
    return MessageRepo(store).last_line(number)
