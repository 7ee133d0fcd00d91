"""How fast is `/search` over 1,000,000 stored messages? (issue 6)

    .venv/bin/python bench/search.py                # build (or reuse) the DB, run everything
    .venv/bin/python bench/search.py --rebuild      # regenerate the DB file
    .venv/bin/python bench/search.py --no-baseline  # only the engine

The DB is a real SQLite file made by `Store` (migrations included), filled with executemany in
big transactions, and cached in the temp dir across runs (`--db` to put it elsewhere). Each
pattern is timed with the approaches side by side, all over the same 1M live messages:

- `re/row`: the naive way: fetch every row from SQLite, Python `re.search` on each;
- `re2/row`: the same with RE2 (linear time, but pays the wrapper's call + UTF-8 encode per row);
- `sql+re2`: SQLite `LIKE '%literal%'` on a literal the pattern requires, then RE2 on the rows
  left (only when such a literal can be read off the pattern);
- `engine`: `bot.services.search` warm: RE2 over each room's in-memory `\\n`-joined buffer, one
  call per room plus one per matching message; `1 room`: the same scoped to one conversation.

Baselines run in a child process with a time limit, so the hostile `(a+)+$` under Python `re`
(catastrophic backtracking) is reported as killed instead of hanging the bench.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import re
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.services.search import SearchIndex, compile_pattern
from bot.store import Store
from bot.store.messages import MessageRepo

PATTERNS: list[tuple[str, str]] = [
    ("plain word", "invoice"),
    ("regex", r"error\d{3}"),
    ("case-insensitive word", "PRINTER"),
    ("hostile", "(a+)+$"),
    ("no match", "zyzzogeton"),
]

_VOCABULARY = """
    hello hi thanks please help issue problem account password reset login email order
    refund shipping delivery payment card charge twice yesterday today tomorrow week
    update app version android iphone browser chrome firefox cache cookies screen
    error message crash slow loading page settings profile subscription plan upgrade
    cancel renew discount code coupon price support agent ticket number status still
    waiting sorry understand check moment minutes works now great perfect ok sure
    the a an to of and for in on with my your is it this that can you we i have not
    printer laptop phone network wifi router cable update restart install download
"""
WORDS = tuple(_VOCABULARY.split())
RARE = ["invoice", "Invoice", "INVOICE"]
USERS = [f"user{i}" for i in range(2000)] + [f"agent{i}" for i in range(50)]


def default_db(count: int) -> Path:
    return Path(tempfile.gettempdir()) / f"omnicat-search-bench-{count}.db"


def build(path: Path, count: int, rooms: int, seed: int = 6) -> None:
    """Fill a fresh store with `count` messages over `rooms` conversation rooms."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    Store(f"sqlite:///{path}").close()  # the real schema, via migrations
    rng = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    per_room = count // rooms
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    sql = (
        "INSERT INTO messages (id, rid, conversation_id, ts, author_id, author_username, text,"
        " type, edited_at, deleted, tmid, has_files, revision, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL, 0, NULL, 0, ?, NULL)"
    )
    batch: list[tuple[Any, ...]] = []
    made = 0
    for room in range(rooms):
        rid = f"room{room:06d}"
        contact = rng.choice(USERS[:2000])
        agent = rng.choice(USERS[2000:])
        when = start + timedelta(minutes=room * 7)
        n = per_room if room < rooms - 1 else count - made
        for _ in range(n):
            author = contact if rng.random() < 0.5 else agent
            words = rng.choices(WORDS, k=rng.randint(3, 16))
            roll = rng.random()
            if roll < 0.004:
                words.insert(rng.randrange(len(words)), f"error{rng.randint(100, 999)}")
            elif roll < 0.006:
                words.insert(rng.randrange(len(words)), rng.choice(RARE))
            elif roll < 0.0061:
                # For the hostile pattern: a run of a's that ends in something else, which
                # makes a backtracking engine try every way to split the run.
                words.append("a" * 26 + "!")
            text = " ".join(words)
            when += timedelta(seconds=rng.randint(5, 120))
            batch.append(
                (
                    f"m{made:09d}",
                    rid,
                    room,
                    when.strftime("%Y-%m-%d %H:%M:%S.%f"),
                    f"id-{author}",
                    author,
                    text.capitalize(),
                    when.timestamp(),
                )
            )
            made += 1
            if len(batch) >= 100_000:
                conn.executemany(sql, batch)
                conn.commit()
                batch.clear()
    conn.executemany(sql, batch)
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()


def _live_rows(path: Path) -> Any:
    conn = sqlite3.connect(path)
    return conn.execute(
        "SELECT id, author_username, text FROM messages WHERE deleted = 0 AND type IS NULL"
    )


def _required_literal(pattern: str) -> str | None:
    """A literal every match must contain, read off the pattern's start; None if unsure."""
    if "|" in pattern or pattern.startswith("(?"):
        return None
    literal = re.match(r"[A-Za-z0-9 ]*", pattern).group(0)  # type: ignore[union-attr]
    if literal and len(pattern) > len(literal) and pattern[len(literal)] in "?*{":
        literal = literal[:-1]  # the last character is optional
    return literal if len(literal) >= 3 else None


def baseline(kind: str, path: str, pattern: str, out: Any) -> None:
    """One baseline run (in a child process): puts (matches, seconds) on `out`."""
    began = time.perf_counter()
    found = 0
    if kind == "re/row":
        rx = re.compile(pattern, re.IGNORECASE | re.MULTILINE)
        for _, _, text in _live_rows(Path(path)):
            if rx.search(text):
                found += 1
    elif kind == "re2/row":
        rx = compile_pattern(pattern).regex
        for _, _, text in _live_rows(Path(path)):
            if rx.search(text):
                found += 1
    elif kind == "sql+re2":
        literal = _required_literal(pattern)
        if literal is None:
            out.put(None)
            return
        rx = compile_pattern(pattern).regex
        conn = sqlite3.connect(path)
        rows = conn.execute(
            "SELECT id, author_username, text FROM messages"
            " WHERE deleted = 0 AND type IS NULL AND text LIKE ?",
            (f"%{literal}%",),
        )
        for _, _, text in rows:
            if rx.search(text):
                found += 1
    out.put((found, time.perf_counter() - began))


def timed_baseline(kind: str, path: Path, pattern: str, limit: float, expected: int) -> str:
    """Seconds as a table cell; `!` flags a match count that differs from the engine's."""
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    child = ctx.Process(target=baseline, args=(kind, str(path), pattern, out))
    child.start()
    child.join(limit)
    if child.is_alive():
        child.terminate()
        child.join()
        return f">{limit:.0f} killed"
    result = out.get() if not out.empty() else None
    if result is None:
        return "n/a"
    return f"{result[1]:.3f}" + ("" if result[0] == expected else "!")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--rooms", type=int, default=20_000)
    parser.add_argument("--db", type=Path, default=None)
    parser.add_argument("--rebuild", action="store_true", help="regenerate the DB file")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--baseline-limit", type=float, default=20.0, help="seconds")
    parser.add_argument("--repeat", type=int, default=3, help="engine runs (best is shown)")
    args = parser.parse_args()
    path = args.db or default_db(args.messages)

    if args.rebuild or not path.exists():
        began = time.perf_counter()
        build(path, args.messages, args.rooms)
        print(
            f"built {path}: {args.messages:,} messages in {args.rooms:,} rooms "
            f"in {time.perf_counter() - began:.1f} s"
        )
    else:
        print(f"reusing {path} (--rebuild to regenerate)")

    store = Store(f"sqlite:///{path}")
    repo = MessageRepo(store)
    index = SearchIndex(repo)
    began = time.perf_counter()
    rids = repo.rooms()
    index.warm(rids)
    megabytes = index.memory_bytes / 1e6
    print(
        f"engine: loaded {len(rids):,} rooms from SQLite into memory in "
        f"{time.perf_counter() - began:.2f} s (~{megabytes:.0f} MB); once per process, "
        "then only rooms written since are reloaded"
    )
    one_room = rids[len(rids) // 2]

    header = ("pattern", "", "matches", "re/row", "re2/row", "sql+re2", "engine", "1 room")
    print()
    cells = " ".join(f"{h:>11}" for h in header[3:])
    print(f"{header[0]:<22} {header[1]:<12} {header[2]:>8} {cells}")
    print("-" * 100)
    for label, source in PATTERNS:
        pattern = compile_pattern(source)
        best = float("inf")
        for _ in range(args.repeat):
            began = time.perf_counter()
            result = index.search(pattern, rids=rids, limit=20)
            best = min(best, time.perf_counter() - began)
        began = time.perf_counter()
        index.search(pattern, rids=[one_room], limit=20)
        scoped = time.perf_counter() - began
        if args.no_baseline:
            cells = ["-", "-", "-"]
        else:
            cells = [
                timed_baseline(kind, path, source, args.baseline_limit, result.total)
                for kind in ("re/row", "re2/row", "sql+re2")
            ]
        print(
            f"{label:<22} {source:<12} {result.total:>8,} "
            + " ".join(f"{c:>11}" for c in cells)
            + f" {best:>11.3f} {scoped:>11.5f}"
        )
        sys.stdout.flush()
    print(
        "\nseconds per search over all rooms (1 room: one conversation); engine = best of "
        f"{args.repeat}; `!` = a baseline counted other matches; machine: {os.cpu_count()} cores"
    )
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
