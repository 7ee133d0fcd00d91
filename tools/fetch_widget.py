"""Fetch Rocket.Chat's livechat widget (npm `@rocket.chat/livechat`, its build/ folder) for the dev
server's `--widget` and tests/test_e2e_widget_browser.py.

    python tools/fetch_widget.py            # into .cache/livechat-widget/ unless already there
    python tools/fetch_widget.py --check    # exit 1 unless the pinned version is there

`npm pack` downloads the published tarball (no install, no scripts run); it is unpacked into
.cache/livechat-widget/package/ (gitignored), with the version in .cache/livechat-widget/version.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VERSION = "1.13.3"
TARGET = ROOT / ".cache" / "livechat-widget"


def build_dir(target: Path = TARGET) -> Path:
    """The widget's build/ folder, what `omnicat devserver --widget` takes."""
    return target / "package" / "build"


def is_current(target: Path = TARGET) -> bool:
    try:
        version = (target / "version").read_text(encoding="utf-8").strip()
    except OSError:
        return False
    return version == VERSION and (build_dir(target) / "index.html").is_file()


def fetch(target: Path = TARGET) -> Path:
    npm = shutil.which("npm")
    if not npm:
        raise SystemExit("tools/fetch_widget.py needs npm (apt-get install npm)")
    target.parent.mkdir(parents=True, exist_ok=True)
    # Unpacked beside the target, then swapped in: an interrupted fetch leaves no half widget.
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".widget-") as tmp:
        work = Path(tmp)
        subprocess.run(
            [npm, "pack", "--silent", f"@rocket.chat/livechat@{VERSION}"],
            cwd=work,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        (tgz,) = work.glob("rocket.chat-livechat-*.tgz")
        fresh = work / "widget"
        fresh.mkdir()
        with tarfile.open(tgz) as tar:
            if hasattr(tarfile, "data_filter"):  # Python 3.11.4+: refuse links out of `fresh`
                tar.extractall(fresh, filter="data")
            else:
                tar.extractall(fresh)  # npm's own tarball of a pinned version
        (fresh / "version").write_text(VERSION + "\n", encoding="utf-8")
        shutil.rmtree(target, ignore_errors=True)
        fresh.rename(target)
    return build_dir(target)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only check that it is there")
    args = ap.parse_args(argv)
    if is_current():
        print(f"@rocket.chat/livechat {VERSION} in {build_dir()}")
        return 0
    if args.check:
        print(f"no @rocket.chat/livechat {VERSION} build at {build_dir()}", file=sys.stderr)
        return 1
    print(f"@rocket.chat/livechat {VERSION} fetched into {fetch()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
