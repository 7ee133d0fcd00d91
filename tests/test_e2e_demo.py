"""`omnicat demo`: finishes by itself, exits 0 and prints the chat."""

from __future__ import annotations

import io
import subprocess
import sys

from chat import ROOT, SEED_FILE

from bot.demo import run_demo, seed


def test_demo_prints_the_session() -> None:
    out = io.StringIO()
    assert run_demo(out, pause=0) == 0
    text = out.getvalue()
    assert "[#dm alice] alice: /help\n[#dm alice] omnicat: Commands you can use here:" in text
    assert "[#dm alice] alice: /help help\n[#dm alice] omnicat: /help [command]" in text
    assert "[#dm carol] carol: hello" in text
    # continuation lines of a multi-line reply line up under its first line
    indent = " " * len("[#dm alice] omnicat: ")
    assert f"\n{indent}Type /help <command> for details." in text


def test_omnicat_demo_as_a_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "demo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "[#dm alice] omnicat: Commands you can use here:" in done.stdout
    assert "Traceback" not in done.stderr


def test_packaged_seed_matches_the_documented_one() -> None:
    import yaml

    assert seed() == yaml.safe_load(SEED_FILE.read_text(encoding="utf-8"))
