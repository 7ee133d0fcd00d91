"""Regex search over the stored conversation messages (RE2, linear time)."""

from bot.services.search.engine import Hit, SearchIndex, SearchResult, index_for, search
from bot.services.search.files import KINDS, file_kind, filter_files, human_size, is_file_type
from bot.services.search.format import format_hit, format_result, mark_line
from bot.services.search.pattern import InvalidPattern, Pattern, compile_pattern

__all__ = [
    "KINDS",
    "Hit",
    "InvalidPattern",
    "Pattern",
    "SearchIndex",
    "SearchResult",
    "compile_pattern",
    "file_kind",
    "filter_files",
    "format_hit",
    "format_result",
    "human_size",
    "index_for",
    "is_file_type",
    "mark_line",
    "search",
]
