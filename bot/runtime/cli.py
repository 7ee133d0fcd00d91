"""The `omnicat` console script.

Subcommands import their heavy parts lazily: `check-config` must work on a machine where the
transport or the dev server's extras are missing, and `--help` must be instant.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import socket
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from bot import __version__

DEFAULT_CONFIG = "config/omnicat.yaml"


class CliError(Exception):
    """A problem to show the user in one or a few lines, then exit 1."""


def _load(path: str) -> Any:
    from bot.config.load import load_config

    return load_config(path)


def _lazy(module: str, name: str, what: str) -> Any:
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and (exc.name == module or module.startswith(exc.name + ".")):
            raise CliError(f"{what} is not available in this build ({module} is missing)")
        raise
    func = getattr(mod, name, None)
    if func is None:
        raise CliError(f"{what} is not available in this build ({module}.{name} is missing)")
    return func


# --- subcommands ----------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace, out: TextIO) -> int:
    config = _load(args.config)
    # What only this machine can get wrong is refused in one line before anything starts: the
    # run loop would take a taken ops port for an unreachable chat server and retry forever.
    _check_listen_free(config.http.listen)
    if not config.ha.enabled:  # under HA a missing database is waited for (ha.py retries)
        _check_store_reachable(config.store.url)
    from bot.runtime.logsetup import setup_from_config

    setup_from_config(config)
    run_bot = _lazy("bot.runtime.root", "run_bot", "the bot runtime")
    result = run_bot(config)
    return result if isinstance(result, int) else 0


def _check_listen_free(listen: str | None) -> None:
    """Refuse a `http.listen` address another process holds (or this host does not have)."""
    if not listen:
        return
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # As the ops server binds (allow_reuse_address): a port in TIME_WAIT is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, int(port)))
        except OSError as exc:
            raise CliError(
                f"cannot listen on http.listen {listen}: {_os_reason(exc)} "
                "(another process has the port? pick another one, or leave http.listen empty)"
            ) from None


def _check_store_reachable(url: str) -> None:
    """Open one connection to the store: an unreachable database is one line, not a traceback."""
    import sqlalchemy.exc

    from bot.store import create_engine

    engine = None
    try:
        engine = create_engine(url)
        with engine.connect():
            pass
    except (sqlalchemy.exc.SQLAlchemyError, OSError) as exc:
        reason = getattr(exc, "orig", None) or exc
        first = str(reason).strip().splitlines()[0] if str(reason).strip() else type(exc).__name__
        raise CliError(f"cannot open the store {_mask_url(url)}: {first}") from None
    finally:
        if engine is not None:
            engine.dispose()


def _os_reason(exc: OSError) -> str:
    # asyncio's bind error repeats the address in strerror; the errno's own words suffice.
    return os.strerror(exc.errno).lower() if exc.errno else str(exc)


def cmd_check_config(args: argparse.Namespace, out: TextIO) -> int:
    config = _load(args.config)
    out.write(summarize(config))
    return 0


def summarize(config: Any) -> str:
    """What an admin wants to confirm after editing the file."""
    lines = [f"{config.source}: OK"]
    server = config.server
    auth = "personal access token" if server.token else f"password of @{server.username}"
    lines.append(f"server: {server.url} (login by {auth})")
    lines.append(f"store: {_mask_url(config.store.url)}")
    ha = config.ha
    if ha.enabled:
        lease, beat = int(ha.lease_ttl.total_seconds()), int(ha.heartbeat.total_seconds())
        name = ha.instance or "hostname:pid"
        lines.append(f"ha: on (instance {name}; lease {lease} s, heartbeat {beat} s)")
    lines.append(f"commands: prefixes {' '.join(config.commands.prefixes)}")
    lines.append(f"http: {config.http.listen or 'off'}")
    if config.departments:
        lines.append(f"departments ({len(config.departments)}):")
        for name, dept in config.departments.items():
            agents = ", ".join(f"@{a}" for a in dept.agents) or "(server agents only)"
            extra = []
            if dept.max_chats:
                extra.append(f"max {dept.max_chats} chats")
            if dept.fallback:
                extra.append(f"fallback {dept.fallback}")
            tail = f"; {', '.join(extra)}" if extra else ""
            lines.append(f"  {name}: routing {dept.routing}; agents {agents}{tail}")
    else:
        lines.append("departments: none (one public queue)")
    global_max = config.routing.max_chats_per_agent
    lines.append(f"routing: max chats per agent {global_max or 'unlimited'}")
    for username, agent in config.agents.items():
        lines.append(f"  @{username}: max chats {agent.max_chats or 'global'}")
    intake = config.intake
    dm = "off"
    if intake.dm.enabled:
        dm = f"on (department {intake.dm.department})" if intake.dm.department else "on"
    lines.append(f"intake: dm {dm}; room name {intake.room_name}")
    for channel in intake.channels:
        lines.append(f"  channel #{channel.room} -> {channel.department or 'public queue'}")
    return "\n".join(lines) + "\n"


def _mask_url(url: str) -> str:
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


def cmd_db_upgrade(args: argparse.Namespace, out: TextIO) -> int:
    config = _load(args.config)
    from bot.store import Store

    store = Store(config.store.url, migrate=False)
    try:
        applied = store.upgrade()
    finally:
        store.close()
    if applied:
        out.write("applied: " + ", ".join(applied) + "\n")
    else:
        out.write("database is up to date\n")
    return 0


def cmd_check_server(args: argparse.Namespace, out: TextIO) -> int:
    config = _load(args.config)
    check_server = _lazy("bot.runtime.checkserver", "check_server", "check-server")
    text, status = check_server(config)
    out.write(text)
    return int(status)


def cmd_devserver(args: argparse.Namespace, out: TextIO) -> int:
    serve = _lazy("bot.devserver.server", "serve", "the dev server")
    widget = {"widget_dir": args.widget} if args.widget else {}
    try:
        result = serve(args.host, args.port, args.seed, args.state, args.rc_version, **widget)
    except OSError as exc:
        if exc.errno not in (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES):
            raise
        raise CliError(
            f"the dev server cannot listen on {args.host}:{args.port}: {_os_reason(exc)} "
            "(another server has the port? pick another with --port)"
        ) from None
    return result if isinstance(result, int) else 0


def cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    run_demo = _lazy("bot.runtime.demo", "run_demo", "the demo")
    result = run_demo()
    return result if isinstance(result, int) else 0


# --- parser ---------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="omnicat",
        description="Omnichannel agent workflow for Rocket.Chat, as chat commands.",
    )
    parser.add_argument("--version", action="version", version=f"omnicat {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def config_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "-c",
            "--config",
            default=DEFAULT_CONFIG,
            metavar="FILE",
            help=f"YAML configuration file (default: {DEFAULT_CONFIG})",
        )

    p = sub.add_parser(
        "run",
        help="connect to the server and serve until stopped",
        description=(
            "Connect to the Rocket.Chat server and serve until SIGTERM or SIGINT, then stop "
            "cleanly."
        ),
    )
    config_arg(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "check-config",
        help="validate a configuration file and print a summary",
        description="Validate the configuration; print a summary, or every error and exit 1.",
    )
    config_arg(p)
    p.set_defaults(func=cmd_check_config)

    p = sub.add_parser(
        "check-server",
        help="check the Rocket.Chat server's livechat settings and grants for the bot",
        description=(
            "Log in as the bot (the config's server section) and report, one line per check, "
            "the roles, settings, permission grants and departments Omnicat's livechat intake "
            "needs; exit 1 when a required one is missing. Changes nothing."
        ),
    )
    config_arg(p)
    p.set_defaults(func=cmd_check_server)

    p = sub.add_parser("db", help="database maintenance", description="Database maintenance.")
    db = p.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    up = db.add_parser(
        "upgrade",
        help="apply missing database migrations",
        description="Apply the missing migrations to the store.url database (also done at run).",
    )
    config_arg(up)
    up.set_defaults(func=cmd_db_upgrade)

    p = sub.add_parser(
        "devserver",
        help="run the Rocket.Chat-compatible dev server",
        description="Run a small Rocket.Chat-compatible server (REST + realtime) for local trials.",
    )
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=3000, help="port (default: 3000)")
    p.add_argument("--seed", default=None, metavar="FILE", help="YAML with users and rooms")
    p.add_argument("--state", default=None, metavar="FILE", help="persist state to this file")
    p.add_argument(
        "--rc-version", default=None, metavar="X.Y.Z", help="Rocket.Chat version to imitate"
    )
    p.add_argument(
        "--widget",
        default=None,
        metavar="DIR",
        help="serve the livechat widget at /livechat from DIR (the build/ folder of the npm "
        "package @rocket.chat/livechat)",
    )
    p.set_defaults(func=cmd_devserver)

    p = sub.add_parser(
        "demo",
        help="watch Omnicat work: dev server + bot + a scripted session",
        description=(
            "Start the dev server and the bot on loopback with a temporary store and play a short "
            "scripted support session, printing the chat as it happens."
        ),
    )
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(out)
        return 2
    from bot.config.load import ConfigError

    try:
        return args.func(args, out)
    except ConfigError as exc:
        for line in exc.errors:
            print(line, file=sys.stderr)
        count = len(exc.errors)
        print(f"{count} error{'s' if count != 1 else ''} in the configuration", file=sys.stderr)
        return 1
    except CliError as exc:
        print(f"omnicat: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
