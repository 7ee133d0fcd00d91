"""Export Rocket.Chat's published REST request validators as JSON for the dev server's strict mode.

    python tools/contracts.py            # build .cache/rest-contracts/contracts.json (npm + node)
    python tools/contracts.py --check    # exit 1 unless the cache is there and readable
    python tools/contracts.py --if-missing  # build only when absent or stale (other pin/exporter)

Installs `@rocket.chat/rest-typings` (the version pinned in tools/contracts/package.json) with npm
into the gitignored cache directory, then runs tools/contracts/export.mjs, which reads each `isX`
validator's `.schema` and maps it to the endpoints whose declared parameter type it validates.
The dev server reads the result (bot/devserver/contracts); without it, it runs lenient.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "tools" / "contracts"
SOURCES = ("package.json", "hooks.mjs", "export.mjs")
sys.path.insert(0, str(ROOT))

from bot.devserver.contracts.store import contracts_path  # noqa: E402


def build(target: Path) -> dict:
    work = target.parent / "npm"
    work.mkdir(parents=True, exist_ok=True)
    for name in SOURCES:
        shutil.copyfile(SOURCE / name, work / name)
    npm, node = shutil.which("npm"), shutil.which("node")
    if not npm or not node:
        raise SystemExit("tools/contracts.py needs node and npm (apt-get install nodejs npm)")
    subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=work,
        check=True,
        stdout=sys.stderr,
    )
    out = subprocess.run(
        [node, str(work / "export.mjs"), str(work)],
        cwd=work,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    data = json.loads(out)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, sort_keys=True), encoding="utf-8")
    os.replace(tmp, target)
    _stamp(target).write_text(source_digest(), encoding="utf-8")
    return data


def source_digest() -> str:
    """What the export was made from: a change to the exporter or the pin makes it stale."""
    digest = hashlib.sha256()
    for name in SOURCES:
        digest.update((SOURCE / name).read_bytes())
    return digest.hexdigest()


def _stamp(target: Path) -> Path:
    return target.with_suffix(".source")


def pinned_version() -> str:
    """The rest-typings version tools/contracts/package.json pins."""
    package = json.loads((SOURCE / "package.json").read_text(encoding="utf-8"))
    return package["dependencies"]["@rocket.chat/rest-typings"]


def is_current(target: Path) -> bool:
    """The export is there, readable, and made by this exporter from the pinned version."""
    try:
        data = json.loads(target.read_text(encoding="utf-8"))
        made_from = _stamp(target).read_text(encoding="utf-8").strip()
        return data["package"]["version"] == pinned_version() and made_from == source_digest()
    except (OSError, ValueError, KeyError, TypeError):
        return False


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only check that the cache exists")
    ap.add_argument("--if-missing", action="store_true", help="build only when absent or stale")
    args = ap.parse_args(argv)
    target = contracts_path()
    if args.if_missing and is_current(target):
        args.check = True
    if args.check:
        try:
            data = json.loads(target.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            print(f"no REST contracts at {target}: {exc}", file=sys.stderr)
            return 1
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        data = build(target)
    pkg = data["package"]
    count = sum(len(methods) for methods in data["endpoints"].values())
    print(f"{pkg['name']} {pkg['version']}: {count} validated endpoint methods in {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
