"""`omnicat demo`: finishes by itself, exits 0 and prints the chat."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

from chat import ROOT, SEED_FILE

from bot.runtime.demo import run_demo, seed


def test_demo_prints_the_session(tmp_path: Path) -> None:
    out = io.StringIO()
    code = run_demo(out, pause=0, pdf_dir=tmp_path)
    text = out.getvalue()
    assert code == 0, text[-3000:]  # the demo says where it stopped
    assert "[#dm alice] alice: /help\n[#dm alice] omnicat: Commands you can use here:" in text
    assert "[#dm alice] alice: /help take\n[#dm alice] omnicat: /take [#N]" in text
    # continuation lines of a multi-line reply line up under its first line
    indent = " " * len("[#dm alice] omnicat: ")
    assert f"\n{indent}Type /help <command> for details." in text
    # the support session, in the order it happened
    order = [
        "[#dm carol] carol: Hi! My router blinks red",
        "[#dm bob] omnicat: New chat #1 from @carol",
        "[#dm bob] bob: /take 1",
        # the console thread's root in bob's DM names the chat; the notes go into the thread
        "[#dm bob] omnicat: #1 · @carol (Carol Contact) · support",
        "[#dm bob › thread] omnicat: @bob joined. You took it.",
        "[#omni-1-carol] omnicat: Bob Agent is now helping you.",
        "[#dm bob › thread] bob: /hold",
        "[#dm bob › thread] omnicat: Placed on hold by @bob.",
        "[#omni-1-carol] omnicat: Your conversation is on hold",
        "[#omni-1-carol] carol: It just turned green!",
        "[#dm bob › thread] omnicat: Resumed automatically: @carol wrote: > It just turned green!",
        "[#dm bob › thread] bob: /forward sales wants a faster router",
        "[#dm bob › thread] omnicat: Forwarded to sales by @bob: wants a faster router",
        "[#dm alice › thread] omnicat: @alice joined.",
        "[#omni-1-carol] omnicat: Alice Agent is now helping you.",
        "[#dm bob › thread] omnicat: Forwarded #1 to sales: @alice has it now.",
        '[#dm alice › thread] alice: /close "offer sent for a faster router" tags=hardware +pdf',
        "[#dm alice › thread] omnicat: Closed by @alice: offer sent for a faster router (tags:",
    ]
    positions = [text.find(line) for line in order]
    assert -1 not in positions, [line for line, p in zip(order, positions, strict=True) if p < 0]
    assert positions == sorted(positions)
    # the contact's room holds no command and no agents' note
    assert "[#omni-1-carol] bob: /" not in text and "[#omni-1-carol] alice: /" not in text
    assert "[#omni-1-carol] omnicat: Placed on hold" not in text
    assert "[#omni-1-carol] omnicat: Closed by" not in text
    assert text.rstrip().endswith("try it live.")
    pdf = tmp_path / "transcript-1.pdf"
    assert f"The PDF transcript is saved at {pdf}" in text
    assert pdf.read_bytes().startswith(b"%PDF")
    if shutil.which("pdftotext"):
        pages = subprocess.run(
            ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
        ).stdout
        assert "Case events" in pages and "Closed by @alice: offer sent" in pages
        assert "Placed on hold by @bob" in pages
        assert "/hold" not in pages and "/close" not in pages and "/forward" not in pages
    # the livechat case: a visitor through the visitor API, taken, forwarded, closed with a PDF
    live = [
        "[#livechat Vera Visitor] guest-1: Hello, does the X200 router support Wi-Fi 6?",
        "[#dm bob] omnicat: New chat #2 from @guest-1 (Vera Visitor) in support",
        "[#dm bob] bob: /take 2",
        # Rocket.Chat makes bob the serving agent (the widget names him)
        "[#livechat Vera Visitor] omnicat: Bob Agent is now helping you.",
        "[#livechat Vera Visitor] bob: Hi Vera, yes it does.",
        "[#dm bob] bob: /forward #2 @alice quote for 20 X200",
        "[#livechat Vera Visitor] * bob left",
        "[#livechat Vera Visitor] omnicat: Alice Agent is now helping you.",
        '[#dm alice] alice: /close #2 "quote sent for 20 X200" tags=hardware +pdf',
        "[#livechat Vera Visitor] * (livechat-close)",
    ]
    positions = [text.find(line) for line in live]
    assert -1 not in positions, [line for line, p in zip(live, positions, strict=True) if p < 0]
    assert positions == sorted(positions)
    live_pdf = tmp_path / "transcript-2.pdf"
    assert f"The livechat PDF transcript is saved at {live_pdf}" in text
    assert live_pdf.read_bytes().startswith(b"%PDF")


def test_omnicat_demo_as_a_command(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot.runtime.cli", "demo"],
        cwd=ROOT,
        env={**os.environ, "TMPDIR": str(tmp_path)},
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
