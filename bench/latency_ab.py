"""CPU per command of two (or more) trees of the bot, measured side by side on one dev server.

    python bench/latency_ab.py /path/to/base-tree [--rates 50,100,250,500] [--reps 4]
                               [--duration 3] [--also /other/tree ...]

`bench/latency.py --sweep` runs one tree; on a small VM a run's numbers drift by a quarter from
one run to the next, more than most changes move them. Here every tree's bot (this checkout and
the base tree given, e.g. a `git worktree` of the commit before a change) and the echo bot of
`latency.py` stay logged in to one dev server as different users, and their phases alternate
(base, this, echo; `--reps` times per rate), so drift hits all of them alike. CPU is read from
`/proc/<pid>/task/*/schedstat` (nanoseconds), not from clock ticks. The table gives medians:
CPU ms per answered command, the ratio to the echo bot's, and p50/p99 round trips.

A tree's bot runs from that tree's own `bench/latency.py` (its `run_role`), so the base can be
any commit whose bench has one.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

L: Any = None  # this tree's `bench/latency.py`, imported by `main` (a bot child imports its own)
HERE = Path(__file__).resolve().parent


def cpu_ns(pid: int) -> int:
    """CPU time of all a process's threads so far, in ns (Linux; 0 elsewhere)."""
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0
    for tid in tasks:
        try:
            total += int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def run_bot(root: str, name: str, url: str, tmp: str) -> int:
    """A child: the bot of tree `root` logged in as `name` (run by that tree's bench)."""
    sys.path[:0] = [str(Path(root) / "bench"), root]
    import latency as theirs

    theirs.BOT = name
    return int(theirs.run_role("omnicat", [url, tmp]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base", nargs="?", help="the tree to compare this checkout with")
    parser.add_argument("--also", action="append", default=[], help="another tree to compare")
    parser.add_argument("--rates", default="50,100,250,500", help="total commands/s")
    parser.add_argument("--reps", type=int, default=4, help="phases per tree and rate")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per phase")
    parser.add_argument("--agents", type=int, default=10)
    parser.add_argument("--as-bot", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.as_bot:
        return run_bot(*args.as_bot)
    sys.path[:0] = [str(HERE), str(HERE.parent)]
    global L
    import latency as L  # this tree's: the server, the echo bot, the agents

    if not args.base:
        parser.error("give the base tree (a checkout of the commit to compare with)")
    try:
        rates = [float(x) for x in args.rates.split(",") if x.strip()]
    except ValueError:
        parser.error(f"--rates expects numbers like 50,100; got {args.rates!r}")
    trees = [str(Path(t).resolve()) for t in (args.base, *args.also)] + [str(HERE.parent)]
    labels = ["base", *(f"also{i + 1}" for i in range(len(args.also))), "this"]
    names = [f"agent{i:02d}" for i in range(1, args.agents + 1)]
    bots = [f"omnicat{i}" for i in range(len(trees))]
    seed = L.seed_for(names)
    seed["users"] += [{"username": b, "password": "bot-pw", "roles": ["bot"]} for b in bots]

    children: list[subprocess.Popen[str]] = []
    agents: list[Any] = []
    cpu: dict[str, dict[float, list[float]]] = {}
    rtt: dict[str, dict[float, list[tuple[float, float]]]] = {}
    with tempfile.TemporaryDirectory(prefix="omnicat-ab-") as tmp:
        try:
            server, address = L._child("server", json.dumps(seed))
            children.append(server)
            url, ws_url = address.split()
            targets: list[tuple[str, subprocess.Popen[str]]] = []
            for tree, bot in zip(trees, bots, strict=True):
                home = Path(tmp) / bot
                home.mkdir()
                proc = subprocess.Popen(
                    [sys.executable, __file__, "--as-bot", tree, bot, url, str(home)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
                children.append(proc)
                assert proc.stdout is not None
                if proc.stdout.readline().strip() != "ready":
                    raise RuntimeError(f"the bot of {tree} did not start")
                targets.append((bot, proc))
            echo = L._child("echo", ws_url)[0]
            children.append(echo)
            targets.append((L.ECHO, echo))
            agents = [L.Agent(ws_url, n, "pw") for n in names]
            for target, _ in targets:  # warm-up: caches, first lookups
                L.phase(agents, target, "/help", rates[0] / len(agents), 1, 0)
                L.settle(agents)
            for rate in rates:
                for _ in range(args.reps):
                    for target, proc in targets:
                        used = cpu_ns(proc.pid)
                        row = L.phase(agents, target, "/help", rate / len(agents), args.duration, 0)
                        L.settle(agents, quiet=0.3)
                        spent = (cpu_ns(proc.pid) - used) / 1e6 / max(1, row["answered"])
                        cpu.setdefault(target, {}).setdefault(rate, []).append(spent)
                        rtt.setdefault(target, {}).setdefault(rate, []).append(
                            (row["p50"], row["p99"])
                        )
        finally:
            for agent in agents:
                agent.ddp.close()
            for child in reversed(children):
                L._stop_child(child)

    print(
        f"/help, {args.agents} agents, {args.reps} x {args.duration:g} s per tree and rate, "
        "phases interleaved on one dev server; medians"
    )
    print(f"{'cmd/s':>6} | {'tree':<6} {'cpu ms':>7} {'x echo':>7} {'p50 ms':>7} {'p99 ms':>7}")
    for rate in rates:
        floor = statistics.median(cpu[L.ECHO][rate])
        rows = [*zip(labels, bots, strict=True), ("echo", L.ECHO)]
        for label, target in rows:
            spent = statistics.median(cpu[target][rate])
            p50 = statistics.median(r[0] for r in rtt[target][rate])
            p99 = statistics.median(r[1] for r in rtt[target][rate])
            print(
                f"{rate:>6g} | {label:<6} {spent:>7.3f} {spent / floor:>6.2f}x "
                f"{p50:>7.1f} {p99:>7.1f}"
            )
    for label, tree in zip(labels, trees, strict=True):
        print(f"{label}: {tree}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
