"""Regex search over the stored conversation messages (RE2, linear time)."""

from bot.search.engine import Hit, SearchIndex, SearchResult, index_for, search
from bot.search.format import format_hit, format_result, mark_line
from bot.search.pattern import InvalidPattern, Pattern, compile_pattern

__all__ = [
    "Hit",
    "InvalidPattern",
    "Pattern",
    "SearchIndex",
    "SearchResult",
    "compile_pattern",
    "format_hit",
    "format_result",
    "index_for",
    "mark_line",
    "search",
]
