"""Make the two npm-fetched caches the test suite uses, where missing or of another version.

    python tools/test_caches.py             # both; fails without node and npm
    python tools/test_caches.py --optional  # without node/npm: say what is missing, exit 0

- `.cache/rest-contracts/`: Rocket.Chat's REST validators (tools/contracts.py), which make the
  test session run the dev server strict;
- `.cache/livechat-widget/`: the livechat widget (tools/fetch_widget.py) for
  tests/test_e2e_widget_browser.py.

`.ci/run` runs it plainly; tests/conftest.py runs it with --optional at the start of a session,
so the README's bare `pytest` does the same steps. A lock file keeps two sessions started at once
from fetching into the same place together.
"""

from __future__ import annotations

import argparse
import fcntl
import shutil
import subprocess
import sys
from pathlib import Path

TOOLS = Path(__file__).resolve().parent
sys.path.insert(0, str(TOOLS))

import contracts  # noqa: E402 - tools/contracts.py
import fetch_widget  # noqa: E402

LOCK = TOOLS.parent / ".cache" / "test-caches.lock"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--optional", action="store_true", help="without node and npm, skip instead of failing"
    )
    args = ap.parse_args(argv)
    target = contracts.contracts_path()
    if contracts.is_current(target) and fetch_widget.is_current():
        return 0
    missing = [tool for tool in ("node", "npm") if not shutil.which(tool)]
    if missing:
        print(
            f"tools/test_caches.py: no {' or '.join(missing)}, so no REST contracts (the dev "
            "server runs lenient) and no livechat widget (its browser test skips); "
            "apt-get install nodejs npm",
            file=sys.stderr,
        )
        return 0 if args.optional else 1
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    with open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        # Checked again under the lock: another session may have just made them.
        steps = [
            ("REST contracts", lambda: contracts.is_current(target), lambda: contracts.main([])),
            ("livechat widget", fetch_widget.is_current, lambda: fetch_widget.main([])),
        ]
        failed = []
        for name, current, make in steps:
            if current():
                continue
            try:
                make()
            except (subprocess.CalledProcessError, OSError, ValueError) as exc:
                print(f"tools/test_caches.py: could not make the {name}: {exc}", file=sys.stderr)
                failed.append(name)
    return 1 if failed and not args.optional else 0


if __name__ == "__main__":
    raise SystemExit(main())
