"""Round-trip latency of a command, compared with a bare echo bot on the same dev server.

    python bench/latency.py [--agents 10] [--rate 2] [--duration 10] [--warmup 1]
    python bench/latency.py --sweep 50,100,250,500 [--agents 10] [--duration 5]

N simulated agents, each a realtime (DDP) client like a Rocket.Chat app, send `/help` in their DM
with the bot at a fixed rate (open loop: a slow answer does not slow the sending). The round trip
is the time from sending (`sendMessage`) to the reply arriving on the agent's own stream. Two
phases against one dev server: Omnicat (the real runtime, SQLite store in a temp dir), then an
echo bot written here (one DDP client that answers every message with its text), so the ratio
shows what the bot's own work costs over the server and the socket hops both pay.

`--sweep` takes total rates (commands/s over all agents) and, for each, runs an Omnicat phase and
then an echo phase back to back (both bots stay logged in; the server, Omnicat, the echo bot
and the agents each in their own process, as in production), printing answered, p50 and p99 side
by side with the ratio, and the highest rate at which Omnicat answered everything with p99 under
50 ms. Between phases the script waits for the stragglers, so a saturated phase's late answers
are not counted in the next one.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import websocket
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.config.load import parse_config
from bot.devserver import DevServer
from bot.runtime.root import Bot

try:  # older commits (a baseline run in the same sweep) have neither
    from bot.devserver.server import wait_freezing_heap
    from bot.runtime.heap import freeze_long_lived
except ImportError:
    freeze_long_lived = None  # type: ignore[assignment]

    def wait_freezing_heap(done: threading.Event, every: float = 1.0) -> None:
        done.wait()


BOT, ECHO = "omnicat", "echo"


class MiniDDP:
    """The least a realtime client needs: connect, log in, call methods, receive room messages."""

    def __init__(self, ws_url: str, on_message: Callable[[dict[str, Any]], None]) -> None:
        self.on_message = on_message
        # Without the pure-Python UTF-8 check: `recv()` decodes text frames in C anyway, and the
        # bot's own DDP client skips it too, so the floor pays what the bot pays.
        self.ws = websocket.create_connection(ws_url, timeout=10, skip_utf8_validation=True)
        self.ws.settimeout(None)
        self._send_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._pending: dict[str, Future[Any]] = {}
        self._connected: Future[None] = Future()
        self.user_id = ""
        self._reader = threading.Thread(target=self._read, daemon=True, name="miniddp")
        self._reader.start()
        self._send({"msg": "connect", "version": "1", "support": ["1"]})
        self._connected.result(10)

    def _send(self, frame: dict[str, Any]) -> None:
        with self._send_lock:
            self.ws.send(json.dumps(frame))

    def _read(self) -> None:
        try:
            while True:
                frame = json.loads(self.ws.recv())
                kind = frame.get("msg")
                if kind == "ping":
                    self._send({"msg": "pong", **({"id": frame["id"]} if "id" in frame else {})})
                elif kind == "connected":
                    self._connected.set_result(None)
                elif kind in ("result", "ready", "nosub"):
                    ids = frame.get("subs") or [frame.get("id")]
                    for fid in ids:
                        future = self._pending.pop(str(fid), None)
                        if future is not None:
                            if frame.get("error"):
                                future.set_exception(RuntimeError(str(frame["error"])))
                            else:
                                future.set_result(frame.get("result"))
                elif kind == "changed" and frame.get("collection") == "stream-room-messages":
                    args = frame.get("fields", {}).get("args") or []
                    if args and isinstance(args[0], dict):
                        self.on_message(args[0])
        except Exception:
            pass  # closed

    def call(self, method: str, *params: Any, wait: bool = True) -> Any:
        mid = str(next(self._ids))
        future: Future[Any] = Future()
        if wait:
            self._pending[mid] = future
        self._send({"msg": "method", "id": mid, "method": method, "params": list(params)})
        return future.result(10) if wait else None

    def subscribe(self, name: str, *params: Any) -> None:
        sid = str(next(self._ids))
        future: Future[Any] = Future()
        self._pending[sid] = future
        self._send({"msg": "sub", "id": sid, "name": name, "params": list(params)})
        future.result(10)

    def login(self, username: str, password: str) -> None:
        digest = hashlib.sha256(password.encode()).hexdigest()
        result = self.call(
            "login",
            {
                "user": {"username": username},
                "password": {"digest": digest, "algorithm": "sha-256"},
            },
        )
        self.user_id = result["id"]
        self.subscribe("stream-room-messages", "__my_messages__", False)

    def send_message(self, rid: str, text: str, wait: bool = False) -> None:
        self.call("sendMessage", {"_id": secrets.token_hex(8), "rid": rid, "msg": text}, wait=wait)

    def close(self) -> None:
        try:
            self.ws.close()
        except Exception:
            pass


class EchoBot:
    """Answers every message it sees (not its own, not system messages) with the same text."""

    def __init__(self, ws_url: str, username: str, password: str) -> None:
        self.username = username
        self.ddp = MiniDDP(ws_url, self._on_message)
        self.ddp.login(username, password)

    def _on_message(self, message: dict[str, Any]) -> None:
        if message.get("t") or (message.get("u") or {}).get("username") == self.username:
            return
        if message.get("editedAt"):
            return
        self.ddp.send_message(message["rid"], message.get("msg", ""))


class Agent:
    """Sends `text` to `target` at a fixed rate and times each reply (FIFO per room)."""

    def __init__(self, ws_url: str, username: str, password: str) -> None:
        self.username = username
        self.target = ""
        self.rid = ""
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()
        self.samples: list[tuple[float, float]] = []  # (sent at, round trip seconds)
        self.sent = 0
        self.received = 0  # any message on the agent's stream (for `settle`)
        self.ddp = MiniDDP(ws_url, self._on_message)
        self.ddp.login(username, password)

    def talk_to(self, target: str) -> None:
        with self._lock:
            self.target = target
            self.rid = self.ddp.call("createDirectMessage", target)["rid"]
            self._sent.clear()

    def _on_message(self, message: dict[str, Any]) -> None:
        now = time.perf_counter()
        self.received += 1
        if message.get("rid") != self.rid or message.get("t"):
            return
        if (message.get("u") or {}).get("username") != self.target or message.get("editedAt"):
            return
        with self._lock:
            if self._sent:
                sent_at = self._sent.popleft()
                self.samples.append((sent_at, now - sent_at))

    def run(self, text: str, rate: float, until: float, offset: float) -> None:
        interval = 1.0 / rate
        next_at = time.perf_counter() + offset
        while next_at < until:
            delay = next_at - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            with self._lock:
                self._sent.append(time.perf_counter())
            self.ddp.send_message(self.rid, text)
            self.sent += 1
            next_at += interval


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def phase(
    agents: list[Agent], target: str, text: str, rate: float, duration: float, warmup: float
) -> dict[str, Any]:
    for agent in agents:
        agent.talk_to(target)
        agent.samples.clear()
        agent.sent = 0
    start = time.perf_counter()
    until = start + warmup + duration
    threads = [
        threading.Thread(target=a.run, args=(text, rate, until, i / (rate * len(agents))))
        for i, a in enumerate(agents)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # let the last answers land (bounded)
    deadline = time.perf_counter() + 5
    while time.perf_counter() < deadline and sum(len(a.samples) for a in agents) < sum(
        a.sent for a in agents
    ):
        time.sleep(0.05)
    cut = start + warmup
    rtts = [rtt * 1000 for a in agents for sent_at, rtt in a.samples if sent_at >= cut]
    return {
        "sent": sum(a.sent for a in agents),
        "answered": sum(len(a.samples) for a in agents),
        "p50": percentile(rtts, 50),
        "p95": percentile(rtts, 95),
        "p99": percentile(rtts, 99),
        "n": len(rtts),
    }


def settle(agents: list[Agent], quiet: float = 0.5, cap: float = 15.0) -> None:
    """Wait until no agent has received anything for `quiet` s (at most `cap` s): a saturated
    phase's late answers must land before the next phase starts counting."""
    deadline = time.perf_counter() + cap
    last = -1
    still_since = time.perf_counter()
    while time.perf_counter() < deadline:
        seen = sum(a.received for a in agents)
        now = time.perf_counter()
        if seen != last:
            last, still_since = seen, now
        elif now - still_since >= quiet:
            return
        time.sleep(0.05)


def bot_config(server_url: str, tmp: str) -> Any:
    return parse_config(
        yaml.safe_dump(
            {
                "server": {"url": server_url, "username": BOT, "password": "bot-pw"},
                "store": {"url": f"sqlite:///{Path(tmp) / 'bench.db'}"},
                # `count: 0` (unlimited) is the old spelling, kept so this script also runs
                # against older commits for a baseline in the same run.
                "commands": {"rate_limit": {"count": 0}},
                "log": {"level": "WARNING"},
            }
        ),
        "<bench>",
        env={},
    )


def seed_for(names: list[str]) -> dict[str, Any]:
    return {
        "users": [
            {"username": BOT, "password": "bot-pw", "roles": ["bot"]},
            {"username": ECHO, "password": "echo-pw", "roles": ["bot"]},
        ]
        + [{"username": n, "password": "pw", "roles": ["user", "livechat-agent"]} for n in names]
    }


def _child(role: str, *params: str) -> tuple[subprocess.Popen[str], str]:
    """Start this script as `role` in its own process; its first stdout line (its address or
    "ready"). It runs until its stdin closes, so it cannot outlive this process."""
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), f"--as-{role}", *params],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line:
        proc.kill()
        raise RuntimeError(f"the {role} process did not start")
    return proc, line


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc; 0.0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _stop_child(proc: subprocess.Popen[str]) -> None:
    try:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(30)
    except Exception:
        proc.kill()


def _stdin_closed() -> threading.Event:
    """An event set when this child's stdin closes (its parent is done with it)."""
    closed = threading.Event()

    def read() -> None:
        sys.stdin.read()
        closed.set()

    threading.Thread(target=read, daemon=True).start()
    return closed


def run_role(role: str, params: list[str]) -> int:
    """The child processes of `--sweep`: the dev server, Omnicat, or the echo bot."""
    if role == "server":
        server = DevServer(json.loads(params[0]), port=0).start()
        print(f"{server.url} {server.ws_url}", flush=True)
        # as `omnicat devserver` waits: its stored messages out of the collector's reach
        wait_freezing_heap(_stdin_closed())
        server.stop()
        return 0
    if role == "omnicat":
        url, tmp = params
        bot = Bot(bot_config(url, tmp)).start()
        while not bot.ready:
            time.sleep(0.02)
        if freeze_long_lived is not None:  # as `omnicat run` does once started
            freeze_long_lived()
        print("ready", flush=True)
        sys.stdin.read()
        bot.stop()
        return 0
    echo = EchoBot(params[0], ECHO, "echo-pw")
    print("ready", flush=True)
    sys.stdin.read()
    echo.ddp.close()
    return 0


def sweep(args: argparse.Namespace, rates: list[float]) -> int:
    """Each party in its own process, as in production (the server, the bot, the agents'
    clients), so no two share a GIL: in one process the dev server and 10 agents alone use
    most of an interpreter at a few hundred messages/s, and the bot would be timed on the
    scraps. The echo bot gets its own process too."""
    names = [f"agent{i:02d}" for i in range(1, args.agents + 1)]
    children: list[subprocess.Popen[str]] = []
    agents: list[Agent] = []
    results: list[tuple[float, dict[str, Any], dict[str, Any]]] = []
    with tempfile.TemporaryDirectory(prefix="omnicat-bench-") as tmp:
        try:
            server, address = _child("server", json.dumps(seed_for(names)))
            children.append(server)
            url, ws_url = address.split()
            omnicat = _child("omnicat", url, tmp)[0]
            echo = _child("echo", ws_url)[0]
            children += [omnicat, echo]
            agents = [Agent(ws_url, n, "pw") for n in names]
            # Not counted: each bot's first command from each agent (the bot looks the agent
            # and the DM up once), as `latency_ab.py` does; else the first rate's CPU holds them.
            for target in (BOT, ECHO):
                phase(agents, target, args.text, rates[0] / len(agents), 1, 0)
                settle(agents)
            for total in rates:
                per_agent = total / len(agents)
                rows = []
                for target, proc in ((BOT, omnicat), (ECHO, echo)):
                    used = cpu_seconds(proc.pid), cpu_seconds(server.pid)
                    row = phase(agents, target, args.text, per_agent, args.duration, args.warmup)
                    settle(agents)
                    # CPU per answered message, the settling included: what each bot and the
                    # server spent, whatever the other processes on the machine were doing
                    answered = max(1, row["answered"])
                    row["cpu"] = (cpu_seconds(proc.pid) - used[0]) * 1000 / answered
                    row["server_cpu"] = (cpu_seconds(server.pid) - used[1]) * 1000 / answered
                    rows.append(row)
                results.append((total, rows[0], rows[1]))
        finally:
            for agent in agents:
                agent.ddp.close()
            for child in reversed(children):
                _stop_child(child)

    print(
        f"round trip of {args.text}, {args.agents} agents, {args.duration:g} s measured per "
        f"phase (+{args.warmup:g} s warm-up); omnicat vs echo bot at each total rate"
    )
    print(
        f"{'cmd/s':>6} | {'omnicat answered':>16} {'p50':>7} {'p99':>7} {'cpu':>5} | "
        f"{'echo answered':>13} {'p50':>7} {'p99':>7} {'cpu':>5} | {'p50 x':>6} {'p99 x':>6}"
    )
    best: float | None = None
    lost = False
    for total, ours, floor in results:
        ratio50 = ours["p50"] / floor["p50"] if floor["p50"] else float("nan")
        ratio99 = ours["p99"] / floor["p99"] if floor["p99"] else float("nan")
        print(
            f"{total:>6g} | {ours['answered']:>7}/{ours['sent']:<8} {ours['p50']:>7.1f} "
            f"{ours['p99']:>7.1f} {ours['cpu']:>5.2f} | {floor['answered']:>5}/{floor['sent']:<7} "
            f"{floor['p50']:>7.1f} {floor['p99']:>7.1f} {floor['cpu']:>5.2f} | "
            f"{ratio50:>5.2f}x {ratio99:>5.2f}x"
        )
        complete = ours["answered"] >= ours["sent"]
        lost = lost or not complete or floor["answered"] < floor["sent"]
        if complete and ours["p99"] < 50 and (best is None or total > best):
            best = total
    print(
        "(ms; answered/sent counts every phase's messages, the percentiles skip the warm-up; "
        "cpu: the bot process's CPU ms per answered command)"
    )
    if best is None:
        print("highest rate with every command answered and p99 < 50 ms: none of these")
    else:
        print(f"highest rate with every command answered and p99 < 50 ms: {best:g} cmd/s")
    if lost:
        print("unanswered messages in at least one phase", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=10, help="simulated agents (default 10)")
    parser.add_argument("--rate", type=float, default=2.0, help="commands/s per agent (default 2)")
    parser.add_argument("--duration", type=float, default=10.0, help="measured s per phase")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured s per phase")
    parser.add_argument("--text", default="/help", help="what the agents send (default /help)")
    parser.add_argument(
        "--sweep",
        default="",
        help="total commands/s to sweep, comma-separated (e.g. 50,100,250,500); "
        "each rate is split over the agents and --rate is ignored",
    )
    for role in ("server", "omnicat", "echo"):
        parser.add_argument(f"--as-{role}", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for role in ("server", "omnicat", "echo"):
        params = getattr(args, f"as_{role}")
        if params is not None:
            return run_role(role, params)
    if args.sweep:
        try:
            rates = [float(x) for x in args.sweep.split(",") if x.strip()]
        except ValueError:
            parser.error(f"--sweep expects numbers like 50,100,250; got {args.sweep!r}")
        if not rates or min(rates) <= 0:
            parser.error("--sweep expects positive rates")
        return sweep(args, rates)

    names = [f"agent{i:02d}" for i in range(1, args.agents + 1)]
    server = DevServer(seed_for(names), port=0).start()
    bot: Bot | None = None
    echo: EchoBot | None = None
    agents: list[Agent] = []
    rows: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="omnicat-bench-") as tmp:
        try:
            bot = Bot(bot_config(server.url, tmp)).start()
            while not bot.ready:
                time.sleep(0.02)
            agents = [Agent(server.ws_url, n, "pw") for n in names]
            rows[f"omnicat {args.text}"] = phase(
                agents, BOT, args.text, args.rate, args.duration, args.warmup
            )
            bot.stop()
            bot = None
            echo = EchoBot(server.ws_url, ECHO, "echo-pw")
            rows["echo bot"] = phase(agents, ECHO, args.text, args.rate, args.duration, args.warmup)
        finally:
            for agent in agents:
                agent.ddp.close()
            if echo is not None:
                echo.ddp.close()
            if bot is not None:
                bot.stop()
            server.stop()

    print(
        f"round trip, {args.agents} agents x {args.rate:g}/s, "
        f"{args.duration:g} s measured per phase (+{args.warmup:g} s warm-up)"
    )
    print(f"{'':<16} {'sent':>6} {'answered':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for name, r in rows.items():
        print(
            f"{name:<16} {r['sent']:>6} {r['answered']:>9} "
            f"{r['p50']:>8.1f} {r['p95']:>8.1f} {r['p99']:>8.1f}"
        )
    ours, echo_row = rows.get(f"omnicat {args.text}"), rows.get("echo bot")
    if ours and echo_row:
        ratio = [
            ours[k] / echo_row[k] if echo_row[k] else float("nan") for k in ("p50", "p95", "p99")
        ]
        print(f"{'ratio':<16} {'':>6} {'':>9} " + " ".join(f"{x:>7.2f}x" for x in ratio))
    lost = [name for name, r in rows.items() if r["answered"] < r["sent"]]
    if lost:
        print("unanswered messages in: " + ", ".join(lost), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
