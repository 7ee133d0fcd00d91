"""Soak: a long flood of distinct people through the dev server, and the bot's memory meanwhile.

    python bench/soak.py [--users 4000] [--visitors 800] [--minutes 20] [--every 250]
                         [--cap N] [--trace FRAMES] [--png /tmp/soak.png]

Issue 20: nothing a user sends may grow the bot without limit. Each of `--users` distinct users
(seeded on the dev server) logs in over REST, opens a DM with the bot and sends, in turn, a
known command (`/help`), an unknown `/word` of their own (`/zz<n>qq`: a new word every time),
`/contact @<someone>` (a contact lookup by a non-agent: refused, with a user lookup behind it)
or a first "hello" (a DM intake: a new conversation and a new private room); every few users a
new livechat visitor opens a room and writes. Every `--every` users the script samples the
bot's resident memory (VmRSS of its process, from /proc) and its `/metrics` page (bytes and
series), then prints them as a table and plots them (PNG, matplotlib's Agg backend).

`--cap N` sets every per-person cache bound of the bot (`CAPS`: 10,000 in production) to N for
the run, so a flood of a few times N people shows what happens past the caps in minutes.
`--trace FRAMES` (> 0) runs the bot under `tracemalloc` with that many frames: each sample also
has the bot's Python heap (traced bytes after a `gc.collect()`), and the end prints the biggest
heap growths between the first sample past the caps and the last, by traceback. The table ends
with one line per phase (below the caps, past them): how much RSS and heap grew per person.

Bounded: at most `--users` (<= 50,000) users and `--visitors`, at most `--minutes`; the dev
server, the bot and this script talk over loopback only (the server and the bot are child
processes of this one and end with it). Memory "flat after warm-up" means the last samples'
RSS stays within a few MB of the middle ones while the users keep coming.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BOT = "omnicat"
BOT_PASSWORD = "omnicat-dev"
MAX_USERS = 50_000

#: every bound on per-person state the bot keeps in memory (module, constant): `--cap` sets them
CAPS = (
    ("bot.dispatch.ratelimit", "BUCKETS_KEPT"),
    ("bot.dispatch.rooms", "ROOM_CURSORS_KEPT"),
    ("bot.dispatch.rooms", "ROOM_TYPES_KEPT"),
    ("bot.dispatch.users", "USER_CACHE_SIZE"),
    ("bot.rocketchat.client_connection", "CACHE_SIZE"),
    ("bot.services.directory", "USERS_CACHED"),
    ("bot.services.intake.dm", "POINTED_KEPT"),
    ("bot.services.room_messages", "ROOMS_CACHED"),
    ("bot.store.messages", "ROOMS_COUNTED"),
)


def seed(users: int) -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "config" / "devserver-seed.yaml").read_text(encoding="utf-8"))
    data["users"] += [
        {"username": f"s{n:05d}", "password": "pw", "name": f"Soak {n}", "roles": ["user"]}
        for n in range(users)
    ]
    return data


def bot_config(server_url: str, tmp: str, http_port: int) -> dict[str, Any]:
    return {
        "server": {"url": server_url, "username": BOT, "password": BOT_PASSWORD},
        "store": {"url": f"sqlite:///{Path(tmp) / 'soak.db'}"},
        "http": {"listen": f"127.0.0.1:{http_port}"},
        "log": {"level": "WARNING"},
        "departments": {"support": {"agents": ["bob"]}, "sales": {"agents": ["alice"]}},
        "intake": {
            "livechat": {
                "enabled": True,
                "departments": {"dep-support": "support", "dep-sales": "sales"},
            }
        },
    }


# --- child processes ------------------------------------------------------------------------
def run_server(users: int) -> int:
    from bot.devserver import DevServer

    server = DevServer(seed(users), port=0).start()
    print(server.url, flush=True)
    sys.stdin.read()  # until the parent closes our stdin (or dies)
    server.stop()
    return 0


def set_caps(cap: int) -> None:
    """Every bound in `CAPS` to `cap`, before the bot is built (they are read when it is)."""
    import importlib

    for module_name, constant in CAPS:
        module = importlib.import_module(module_name)
        if not isinstance(getattr(module, constant, None), int):
            raise SystemExit(f"soak: {module_name}.{constant} is gone: update CAPS")
        setattr(module, constant, cap)


def sqlite_memory() -> int:
    """Bytes SQLite holds (page caches, statements: outside the Python heap), -1 if unknown.
    `sqlite3_memory_used` of the shared library the `sqlite3` module is linked against."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("sqlite3")
    if name is None:
        return -1
    used = ctypes.CDLL(name).sqlite3_memory_used
    used.restype = ctypes.c_int64
    return int(used())


def malloc_in_use() -> int:
    """Bytes glibc's malloc has handed out and not had back (`mallinfo2`: small blocks plus
    mmapped ones), -1 elsewhere. RSS above it is memory freed but kept by the allocator."""
    import ctypes

    class MallInfo2(ctypes.Structure):
        _fields_ = [
            (name, ctypes.c_size_t)
            for name in (
                "arena",
                "ordblks",
                "smblks",
                "hblks",
                "hblkhd",
                "usmblks",
                "fsmblks",
                "uordblks",
                "fordblks",
                "keepcost",
            )
        ]

    try:
        mallinfo2 = ctypes.CDLL(None).mallinfo2
    except (AttributeError, OSError):
        return -1
    mallinfo2.restype = MallInfo2
    info = mallinfo2()
    return int(info.uordblks + info.hblkhd)


def run_bot(config_path: str, cap: int | None, frames: int) -> int:
    """The bot, then a line protocol on stdin until it ends: `heap` prints the traced heap,
    SQLite's memory and malloc's bytes in use (after a collection), `snapshot PATH` dumps a
    tracemalloc snapshot there."""
    import gc
    import tracemalloc

    if frames > 0:
        tracemalloc.start(frames)
    if cap is not None:
        set_caps(cap)
    from bot.config.load import parse_config
    from bot.runtime.root import Bot

    config = parse_config(Path(config_path).read_text(encoding="utf-8"), config_path, env={})
    bot = Bot(config).start()
    while not bot.ready:
        time.sleep(0.05)
    print("ready", flush=True)
    for line in sys.stdin:
        order, _, arg = line.strip().partition(" ")
        gc.collect()
        if order == "heap":
            traced = tracemalloc.get_traced_memory()[0] if tracemalloc.is_tracing() else -1
            print(traced, sqlite_memory(), malloc_in_use(), flush=True)
        elif order == "snapshot" and tracemalloc.is_tracing():
            tracemalloc.take_snapshot().dump(arg)
            print("ok", flush=True)
        else:
            print("?", flush=True)
    bot.stop()
    return 0


def child(*params: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), *params],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line:
        proc.kill()
        raise RuntimeError(f"{params[0]} did not start")
    return proc, line


def stop(proc: subprocess.Popen[str]) -> None:
    try:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(60)
    except Exception:
        proc.kill()
        proc.wait(10)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- the flood --------------------------------------------------------------------------------
class Flood:
    def __init__(self, url: str) -> None:
        self.api = url.rstrip("/") + "/api/v1/"
        self.sent = 0
        self.failed = 0
        self._lock = threading.Lock()

    def _count(self, ok: bool) -> None:
        with self._lock:
            if ok:
                self.sent += 1
            else:
                self.failed += 1

    def user(self, n: int) -> None:
        session = requests.Session()
        try:
            login = session.post(
                self.api + "login", json={"user": f"s{n:05d}", "password": "pw"}, timeout=30
            ).json()["data"]
            session.headers.update(
                {"X-Auth-Token": login["authToken"], "X-User-Id": login["userId"]}
            )
            room = session.post(self.api + "im.create", json={"username": BOT}, timeout=30)
            rid = room.json()["room"]["_id"]
            text = [
                "/help",
                f"/zz{n}qq",
                f"/contact @s{(n * 7919) % (n + 1):05d}",
                f"hello, I am soak user {n}",
            ][n % 4]
            answer = session.post(
                self.api + "chat.sendMessage",
                json={"message": {"rid": rid, "msg": text}},
                timeout=30,
            )
            self._count(answer.status_code == 200)
        except Exception:
            self._count(False)
        finally:
            session.close()

    def visitor(self, n: int) -> None:
        session = requests.Session()
        token = f"soak-visitor-{n}"
        try:
            session.post(
                self.api + "livechat/visitor",
                json={"visitor": {"token": token, "name": f"Visitor {n}"}},
                timeout=30,
            )
            room = session.get(self.api + "livechat/room", params={"token": token}, timeout=30)
            rid = room.json()["room"]["_id"]
            answer = session.post(
                self.api + "livechat/message",
                json={"token": token, "rid": rid, "msg": f"hi from visitor {n}"},
                timeout=30,
            )
            self._count(answer.status_code == 200)
        except Exception:
            self._count(False)
        finally:
            session.close()


def ask(proc: subprocess.Popen[str], order: str) -> str:
    """One line of the bot child's stdin protocol (see `run_bot`), and its answer."""
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(order + "\n")
    proc.stdin.flush()
    return proc.stdout.readline().strip()


def memory_mb(proc: subprocess.Popen[str]) -> dict[str, float]:
    """The bot's traced Python heap, SQLite's memory and malloc's in use, in MB (-1: not
    known)."""
    traced, sqlite, malloc = (int(n) for n in ask(proc, "heap").split())
    return {
        "heap_mb": traced / 2**20 if traced >= 0 else -1.0,
        "sqlite_mb": sqlite / 2**20 if sqlite >= 0 else -1.0,
        "malloc_mb": malloc / 2**20 if malloc >= 0 else -1.0,
    }


def growth(before: str, after: str, top: int = 15) -> list[str]:
    """The biggest heap growths from one tracemalloc snapshot file to another, by traceback."""
    import tracemalloc

    ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
    old = tracemalloc.Snapshot.load(before).filter_traces(ignore)
    new = tracemalloc.Snapshot.load(after).filter_traces(ignore)
    lines = []
    grown = [stat for stat in new.compare_to(old, "traceback") if stat.size_diff > 0]
    for stat in sorted(grown, key=lambda stat: -stat.size_diff)[:top]:
        lines.append(f"{stat.size_diff / 1024:+9.1f} KB {stat.count_diff:+7d} blocks")
        lines += [f"      {frame}" for frame in stat.traceback.format(most_recent_first=True)]
    return lines


def phases(samples: list[dict[str, float]], cap: int) -> list[str]:
    """RSS and heap growth per person below the caps and past them (from the first sample at
    1.2 x cap, when every cache has filled, rooms being more than people)."""
    if len(samples) < 2:
        return []
    first, last = samples[0], samples[-1]
    past = next((s for s in samples if s["people"] >= cap * 1.2), None)
    spans = [("below/at the caps", first, past or last)]
    if past is not None and past is not last:
        spans.append(("past the caps", past, last))
    lines = []
    for name, a, b in spans:
        people = b["people"] - a["people"]
        if people <= 0:
            continue
        grew = [
            f"{what} {b[key] - a[key]:+.1f} MB ({(b[key] - a[key]) * 1024 / people:+.2f} KB/person)"
            for what, key in (
                ("RSS", "rss_mb"),
                ("malloc", "malloc_mb"),
                ("heap", "heap_mb"),
                ("SQLite", "sqlite_mb"),
            )
            if a[key] >= 0
        ]
        lines.append(
            f"{name:>18}: {a['people']:.0f} -> {b['people']:.0f} people: " + ", ".join(grew)
        )
    return lines


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def metrics_size(port: int) -> tuple[int, int, float]:
    """(bytes, series, events received) of the bot's `/metrics` page."""
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    events = next(
        (
            float(line.split()[-1])
            for line in lines
            if line.startswith("omnicat_events_received_total")
        ),
        0.0,
    )
    return len(text.encode()), len(lines), events


def plot(samples: list[dict[str, float]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    people = [s["people"] for s in samples]
    fig, left = plt.subplots(figsize=(8, 4.5))
    left.plot(people, [s["rss_mb"] for s in samples], "o-", color="tab:blue", label="RSS")
    if samples[0]["heap_mb"] >= 0:
        heap = [s["heap_mb"] for s in samples]
        left.plot(people, heap, "^:", color="tab:green", label="Python heap")
        left.legend(loc="upper left")
    left.set_xlabel("distinct users + visitors so far")
    left.set_ylabel("bot memory (MB)", color="tab:blue")
    left.set_ylim(bottom=0)
    right = left.twinx()
    right.plot(people, [s["series"] for s in samples], "s--", color="tab:red")
    right.set_ylabel("/metrics series", color="tab:red")
    right.set_ylim(bottom=0)
    left.set_title("Omnicat soak: memory and /metrics under a flood of distinct people")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=4000)
    parser.add_argument("--visitors", type=int, default=800)
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--every", type=int, default=250, help="sample every N people")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument(
        "--cap", type=int, help="set every per-person cache bound (CAPS) to this for the run"
    )
    parser.add_argument(
        "--trace", type=int, default=0, help="tracemalloc frames in the bot (0: no heap column)"
    )
    parser.add_argument("--png", default=str(Path(tempfile.gettempdir()) / "soak.png"))
    parser.add_argument("--as-server", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--as-bot", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.as_server is not None:
        return run_server(args.as_server)
    if args.as_bot is not None:
        return run_bot(args.as_bot, args.cap, args.trace)
    cap = args.cap if args.cap is not None else 10_000
    users = max(1, min(args.users, MAX_USERS))
    visitors = max(0, min(args.visitors, users))
    deadline = time.monotonic() + args.minutes * 60

    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        server, url = child("--as-server", str(users))
        http_port = free_port()
        config_path = Path(tmp) / "omnicat.yaml"
        config_path.write_text(yaml.safe_dump(bot_config(url, tmp, http_port)), "utf-8")
        bot_args = ["--as-bot", str(config_path), "--trace", str(args.trace)]
        bot, _ = child(*bot_args, *(["--cap", str(args.cap)] if args.cap is not None else []))
        snapshots: list[str] = []
        samples: list[dict[str, float]] = []
        flood = Flood(url)
        started = time.monotonic()
        try:
            # one visitor per `users // visitors` users, interleaved
            step = users // visitors if visitors else 0
            plan: list[tuple[str, int]] = []
            for n in range(users):
                plan.append(("user", n))
                if step and n % step == 0 and n // step < visitors:
                    plan.append(("visitor", n // step))
            with ThreadPoolExecutor(max_workers=args.workers) as pool:
                for start in range(0, len(plan), args.every):
                    if time.monotonic() > deadline:
                        print(f"time is up after {start} people", flush=True)
                        break
                    batch = plan[start : start + args.every]
                    list(
                        pool.map(
                            lambda item: getattr(flood, item[0])(item[1]),
                            batch,
                        )
                    )
                    time.sleep(1.0)  # the bot's replies of this batch, mostly
                    people = start + len(batch)
                    if args.trace > 0 and not snapshots and people >= cap * 1.2:
                        # before this sample: a snapshot's own memory stays in the RSS after
                        snapshots.append(str(Path(tmp) / "heap0.snapshot"))
                        ask(bot, f"snapshot {snapshots[-1]}")
                    size, series, events = metrics_size(http_port)
                    sample = {
                        "people": float(people),
                        "seconds": time.monotonic() - started,
                        "rss_mb": rss_mb(bot.pid),
                        **memory_mb(bot),
                        "metrics_kb": size / 1024,
                        "series": float(series),
                        "events": events,
                        "sent": float(flood.sent),
                        "failed": float(flood.failed),
                    }
                    samples.append(sample)
                    print(json.dumps({k: round(v, 1) for k, v in sample.items()}), flush=True)
            if args.trace > 0 and len(snapshots) == 1 and samples[-1]["people"] > cap * 1.2:
                snapshots.append(str(Path(tmp) / "heap1.snapshot"))
                ask(bot, f"snapshot {snapshots[-1]}")
            heap_growth = growth(*snapshots) if len(snapshots) == 2 else []
        finally:
            stop(bot)
            stop(server)

    print()
    print(
        f"{'people':>8}{'seconds':>9}{'events':>8}{'RSS MB':>9}{'malloc MB':>11}{'heap MB':>9}"
        f"{'SQLite MB':>11}{'/metrics KB':>13}{'series':>8}{'failed':>8}"
    )
    for s in samples:
        print(
            f"{s['people']:>8.0f}{s['seconds']:>9.0f}{s['events']:>8.0f}{s['rss_mb']:>9.1f}"
            f"{s['malloc_mb']:>11.1f}{s['heap_mb']:>9.1f}{s['sqlite_mb']:>11.1f}"
            f"{s['metrics_kb']:>13.1f}{s['series']:>8.0f}{s['failed']:>8.0f}"
        )
    print(f"caps (CAPS): {cap:,}")
    for line in phases(samples, cap):
        print(line)
    if len(samples) >= 4:
        half = samples[len(samples) // 2]
        last = samples[-1]
        print(
            f"after warm-up (from {half['people']:.0f} to {last['people']:.0f} people): RSS "
            f"{last['rss_mb'] - half['rss_mb']:+.1f} MB, /metrics series "
            f"{last['series'] - half['series']:+.0f}"
        )
    if heap_growth:
        print("biggest heap growths past the caps (tracemalloc, by traceback):")
        print("\n".join(heap_growth))
    if samples:
        plot(samples, args.png)
        print(f"plot: {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
