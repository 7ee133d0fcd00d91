"""Which REST endpoints the bot uses, and which of them Rocket.Chat publishes a validator for.

    python tools/contract_coverage.py --write         # record the e2e tests, write the doc
    python tools/contract_coverage.py --record FILE   # keep/reuse the recording, to stdout

The endpoints come from two places: a recorded run (the end-to-end tests against the strict dev
server with OMNICAT_CONTRACTS_RECORD set: every request the bot's user made, and whether the
validator refused it) and the bot's source (endpoint names it spells out, rocketchat_API methods
it calls), for those the run did not reach. Each is then matched against the export of
tools/contracts.py: validated, declared without a validator, or no longer declared.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.devserver.contracts.store import Contracts, contracts_path, load  # noqa: E402

DOC = ROOT / "docs" / "rest-contracts.md"
BOT_USER = "omnicat"
# Tests that send refused shapes on purpose (to show the refusal) are left out of the recording.
DELIBERATE = ["tests/test_checkserver.py::test_the_settings_read_rocket_chat_refuses"]


def record_run(record: Path) -> None:
    tests = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("test_e2e_*.py"))
    tests.append("tests/test_checkserver.py")
    env = {**os.environ, "OMNICAT_CONTRACTS_RECORD": str(record)}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests]
    for nodeid in DELIBERATE:
        cmd += ["--deselect", nodeid]
    done = subprocess.run(cmd, cwd=ROOT, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the recorded test run failed ({done.returncode})")


def recorded(record: Path, user: str) -> dict[tuple[str, str], list[int]]:
    """(method, route) -> [requests, refused]"""
    out: dict[tuple[str, str], list[int]] = collections.defaultdict(lambda: [0, 0])
    for line in record.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        if r["user"] != user:
            continue
        counts = out[(r["method"], r["route"])]
        counts[0] += 1
        counts[1] += bool(r.get("refused"))
    return dict(out)


_LITERAL = re.compile(r"""f?["']([a-z][A-Za-z]*(?:[./][A-Za-z{}_.]+)+)["']""")
_API_METHOD = re.compile(r"\bapi\.([a-z]+_[a-z_]+)\b")


def _camel(name: str) -> str:
    """rocketchat_API's method name -> its endpoint: rooms_media_confirm -> rooms.mediaConfirm"""
    head, _, rest = name.partition("_")
    parts = rest.split("_")
    return f"{head}.{parts[0]}{''.join(p.title() for p in parts[1:])}"


def in_source(contracts: Contracts, served: dict[str, set[str]]) -> set[str]:
    """Routes (templates) named in the bot's code, outside the dev server."""
    found: set[str] = set()
    for path in (ROOT / "bot").rglob("*.py"):
        # the dev server serves these; the demo plays the website visitor, not the bot
        if "devserver" in path.parts or path.name == "demo.py":
            continue
        text = path.read_text(encoding="utf-8")
        names = {m.group(1) for m in _LITERAL.finditer(text)}
        names |= {_camel(m.group(1)) for m in _API_METHOD.finditer(text)}
        for name in names:
            concrete = re.sub(r"\{[^}]*\}", "x", name)
            template = contracts.template_of(concrete)
            if template is None:
                longer = [t for t in contracts.declared if t.startswith(f"{name}/:")]
                template = min(longer, key=len) if longer else None
            if template is None and name.split("/")[0] in served:
                template = re.sub(r"\{[^}]*\}", ":param", name)
            if template is not None:
                found.add(template)
    return found


def served_routes() -> dict[str, set[str]]:
    """The dev server's routes (first path part) and their methods."""
    from bot.devserver import DevServer

    out: dict[str, set[str]] = collections.defaultdict(set)
    for method, name in DevServer({}, strict=False).rest.routes:
        if not name.startswith("dev."):
            out[name].add(method)
    return dict(out)


def table(
    contracts: Contracts,
    run: dict[tuple[str, str], list[int]],
    code: set[str],
    served: dict[str, set[str]],
) -> str:
    rows = []
    seen_routes = {route for _, route in run}
    entries = dict(run)
    for route in sorted(code - seen_routes):
        methods = contracts.declared.get(route) or served.get(route.split("/")[0]) or {"?"}
        for method in sorted(methods):
            entries.setdefault((method, route), [0, 0])
    counts = collections.Counter()
    for (method, route), (n, refused) in sorted(entries.items(), key=lambda e: (e[0][1], e[0][0])):
        contract = contracts.get(method, route)
        if contract is not None:
            state, validator = "validated", f"`{contract.validator}`"
        elif (published := contracts.published(method, route)) is not None:
            state, validator = "published, not applied by the server", f"`{published.validator}`"
        elif route in contracts.declared:
            state, validator = "no published validator", "—"
        else:
            state, validator = f"not declared by {contracts.version}", "—"
        counts[state] += 1
        used = str(n) if n else "code only"
        rows.append(f"| `{method} {route}` | {used} | {refused or ''} | {state} | {validator} |")
    summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    head = [
        f"Against `{contracts.package}`: {len(entries)} endpoint methods ({summary}).",
        "",
        "| endpoint | bot requests in the run | refused | contract | validator |",
        "| --- | --- | --- | --- | --- |",
    ]
    return "\n".join(head + rows) + "\n"


PREAMBLE = """# REST contracts: what the bot sends, and what Rocket.Chat validates

Rocket.Chat publishes the validators its REST API applies to requests in
`@rocket.chat/rest-typings`. `python tools/contracts.py` exports them (into `.cache/`, not kept
in git); the dev server then runs **strict**: every request is checked against the validator
declared for its endpoint and method (GET: the query, parsed as Rocket.Chat's router parses it;
otherwise the body) and refused as Rocket.Chat refuses it, e.g. 400
`{"success": false, "error": "must NOT have additional properties [invalid-params]",
"errorType": "invalid-params"}`. The test suite runs it strict (CI fails without the export);
`omnicat devserver` without the export runs lenient and says so once in its log. DDP methods
the bot calls (`sendMessage`, `loadHistory`, `addUsersToRoom`) are held to their `check()`s.

The table below is printed by `python tools/contract_coverage.py --write`, which records the
end-to-end tests' requests as the bot's user (`omnicat`) and adds the endpoints the bot's code
names that the run did not reach ("code only"). "No published validator": the package declares
the endpoint but no validator for it, so any shape passes here (a real server may still check in
its handler). "Published, not applied": the package has a validator the server does not run
(see `NOT_APPLIED` and `requires_path_param` in bot/devserver/contracts/store.py). "Not
declared": the package no longer knows the endpoint (moved into the server,
or gone in 8.x; the bot uses those only as fallbacks for older servers or checks them first).

"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--record", type=Path, help="a recording to read (made by running the tests if absent)"
    )
    ap.add_argument("--user", default=BOT_USER, help="whose requests count (default: the bot)")
    ap.add_argument("--write", action="store_true", help=f"write {DOC.relative_to(ROOT)}")
    args = ap.parse_args(argv)
    contracts = load()
    if contracts is None:
        print(f"no REST contracts at {contracts_path()}: run tools/contracts.py", file=sys.stderr)
        return 1
    if args.record:
        if not args.record.exists():
            args.record.touch()
            record_run(args.record)
        run = recorded(args.record, args.user)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            record = Path(tmp) / "record.jsonl"
            record.touch()
            record_run(record)
            run = recorded(record, args.user)
    served = served_routes()
    text = table(contracts, run, in_source(contracts, served), served)
    if args.write:
        DOC.write_text(PREAMBLE + text, encoding="utf-8")
    print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
